"""Text people really type, which every door must carry unchanged.

Written with escapes so that what each string holds is plain to see.
"""

from __future__ import annotations

ZWJ = "\u200d"
ZWNJ = "\u200c"

TECHNOLOGIST = f"\U0001f469{ZWJ}\U0001f4bb"  # 👩‍💻
FAMILY = f"\U0001f468{ZWJ}\U0001f469{ZWJ}\U0001f467"  # 👨‍👩‍👧
RAINBOW_FLAG = f"\U0001f3f3\ufe0f{ZWJ}\U0001f308"  # 🏳️‍🌈
PERSIAN = f"\u0645\u06cc{ZWNJ}\u062e\u0648\u0627\u0647\u0645"  # می‌خواهم
HINDI = f"\u0915\u094d{ZWJ}\u0937"  # क्‍ष: half KA by ZWJ
ENGLAND_FLAG = "\U0001f3f4\U000e0067\U000e0062\U000e0065\U000e006e\U000e0067\U000e007f"
KISS = (  # 👨🏻‍❤️‍💋‍👨🏼: ten code points, the longest emoji sequence
    f"\U0001f468\U0001f3fb{ZWJ}\u2764\ufe0f{ZWJ}\U0001f48b{ZWJ}\U0001f468\U0001f3fc"
)
KANJI_VARIANT = "\u845b\U000e0100"  # 葛󠄀: ideographic variation sequence
SOFT_HYPHENATED = "Donau\u00addampf\u00adschiff"

NAMES = [
    TECHNOLOGIST,
    FAMILY,
    RAINBOW_FLAG,
    PERSIAN,
    HINDI,
    ENGLAND_FLAG,
    KISS,
    KANJI_VARIANT,
    SOFT_HYPHENATED,
]
"""Accepted as nicknames and as messages, and kept exactly as they are."""

TEXTS = [
    *NAMES,
    f"{PERSIAN} \u0628\u0627\u0634\u0645",  # joiner inside a sentence
    "\u05e9\u05dc\u05d5\u05dd!\u200f",  # שלום! with RLM to keep "!" at its end
    "Price: \u200e100 \u20aa",  # LRM
    "\u0627\u0644\u0639\u062f\u062f \u061c123",  # ALM
    "a\u202eb\u202c",  # RLO ... PDF: in a message it is the writer's business
    "\u2067\u05e9\u05dc\u05d5\u05dd\u2069 said hi",  # RLI ... PDI
    "two\u2028lines",  # LINE SEPARATOR
    "word\u200bbreak",  # zero width space
]
"""Accepted as messages and kept exactly as they are."""

COMPOSED = "Jos\u00e9"
DECOMPOSED = "Jose\u0301"
