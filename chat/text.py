"""What a string looks like on screen: the Unicode facts the rules rely on.

``unicodedata`` gives general categories but not the properties that say
which characters draw nothing, so the few :mod:`chat.rules` needs are here,
copied from the Unicode Character Database. They are listed rather than
derived from categories so that the answer does not drift with the Unicode
version of the Python that runs the server.
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_right

# Default_Ignorable_Code_Point (DerivedCoreProperties.txt; the same from
# Unicode 14 to 16): drawn as nothing unless they shape their neighbours.
# Inclusive ranges, sorted.
_IGNORABLE = (
    (0x00AD, 0x00AD),  # soft hyphen
    (0x034F, 0x034F),  # combining grapheme joiner
    (0x061C, 0x061C),  # Arabic letter mark
    (0x115F, 0x1160),  # Hangul choseong and jungseong fillers
    (0x17B4, 0x17B5),  # Khmer inherent vowels
    (0x180B, 0x180F),  # Mongolian variation selectors and vowel separator
    (0x200B, 0x200F),  # zero width space, ZWNJ, ZWJ, LRM, RLM
    (0x202A, 0x202E),  # bidi embeddings and overrides
    (0x2060, 0x206F),  # word joiner, invisible operators, bidi isolates, ...
    (0x3164, 0x3164),  # Hangul filler
    (0xFE00, 0xFE0F),  # variation selectors
    (0xFEFF, 0xFEFF),  # zero width no-break space (byte order mark)
    (0xFFA0, 0xFFA0),  # halfwidth Hangul filler
    (0xFFF0, 0xFFF8),  # unassigned
    (0x1BCA0, 0x1BCA3),  # shorthand format controls
    (0x1D173, 0x1D17A),  # musical symbol format controls
    (0xE0000, 0xE0FFF),  # tags, variation selectors 17-256, unassigned
)
_STARTS = tuple(start for start, _ in _IGNORABLE)

BLANK_GLYPHS = frozenset("\u2800\U0001d159")
"""Neither whitespace nor ignorable, yet drawn as an empty cell (braille
pattern blank, musical null notehead): favourites for blank-looking names."""

# Unpaired surrogates cannot be encoded as UTF-8, so they cannot be stored or
# sent on; noncharacters are reserved for a program's internal use.
_NONCHARACTERS = "".join(
    chr(plane + 0xFFFE) + chr(plane + 0xFFFF) for plane in range(0, 0x110000, 0x10000)
)
NOT_TEXT = re.compile(f"[\ud800-\udfff\ufdd0-\ufdef{_NONCHARACTERS}]")


def is_ignorable(ch: str) -> bool:
    """Default_Ignorable_Code_Point: ZWJ, ZWNJ, variation selectors, bidi
    controls, soft hyphen, Hangul fillers, tags and their like."""
    cp = ord(ch)
    i = bisect_right(_STARTS, cp) - 1
    return i >= 0 and cp <= _IGNORABLE[i][1]


def is_blank(ch: str) -> bool:
    """Draws as empty space or as nothing at all."""
    return ch.isspace() or ch in BLANK_GLYPHS or is_ignorable(ch)


def is_visible(ch: str) -> bool:
    """Draws something of its own: a letter, number, punctuation or symbol.

    Private-use and unassigned code points count (an unassigned one is most
    likely an emoji newer than this Python's Unicode tables). Combining marks
    do not: they only decorate the character before them.
    """
    category = unicodedata.category(ch)
    return (category[0] in "LNPS" or category in ("Co", "Cn")) and not (
        is_blank(ch) or NOT_TEXT.match(ch)
    )
