"""make chaos: from what the clients saw and the rooms' history, a verdict.

Failures, each counted once per line and client:

- **missing**: a reader that was in its room for the whole run (it may
  have been dropped: it rejoined with ``after``) and was connected at the
  end never got a line that was acked (or, unanswered, was stored anyway);
- **duplicated**: a reader got a line more than once (by its text: two ids
  for one text count too);
- **refused_seen** / **stored_but_refused**: a line its sender was told was
  refused reached a reader / is in history;
- history: **acked_missing** (an acked id not there), **acked_mismatch**
  (that id holds another line), **stored_twice** (a text under two ids);
- **stuck**: a reader not in its room at the end (it could not rejoin);
- **epoch_changes**: Redis kept its files over the restart, so a new epoch
  means the history was lost;
- **harness errors**: a client task crashed, a fault could not be made.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from chaos_clients import Client, Ledger
from chaos_doors import DOORS
from chaos_faults import Fault, near

EXAMPLES = 8


def check_rooms(
    ledger: Ledger, histories: dict[str, list[dict[str, Any]]]
) -> tuple[dict[str, dict[str, int]], dict[str, set[str]], list[dict[str, Any]]]:
    """Per room, the history checks; the texts each room has stored; and
    one problem record per failing line."""
    rooms: dict[str, dict[str, int]] = {}
    stored: dict[str, set[str]] = {}
    problems: list[dict[str, Any]] = []
    for room, history in histories.items():
        by_id = {int(m["id"]): str(m["text"]) for m in history}
        texts = Counter(str(m["text"]) for m in history)
        stored[room] = set(texts)
        counts: Counter[str] = Counter(messages=len(history))
        for text, times in texts.items():
            if times > 1:
                counts["stored_twice"] += times - 1
                problems.append({"kind": "stored_twice", "text": text, "room": room})
            if text not in ledger.lines:
                counts["foreign"] += 1
        for line in ledger.lines.values():
            if line.room != room or line.outcome is None:
                continue
            kind = line.outcome.kind
            counts[kind] += 1
            problem = ""
            if kind == "acked" and line.outcome.id not in by_id:
                problem = "acked_missing"
            elif kind == "acked" and by_id[line.outcome.id] != line.text:
                problem = "acked_mismatch"
            elif kind == "refused" and line.text in texts:
                problem = "stored_but_refused"
            elif kind == "unknown":
                counts[
                    "unknown_stored" if line.text in texts else "unknown_absent"
                ] += 1
            if problem:
                counts[problem] += 1
                problems.append({"kind": problem, "text": line.text, "room": room})
        rooms[room] = dict(counts)
    return rooms, stored, problems


def check_reader(
    reader: Client, ledger: Ledger, stored: set[str]
) -> tuple[dict[str, int], list[dict[str, Any]]]:
    """What one reader should have had against what it got."""
    expected = {
        line.text
        for line in ledger.lines.values()
        if line.room == reader.room
        and line.outcome is not None
        and (
            line.outcome.kind == "acked"
            or (line.outcome.kind == "unknown" and line.text in stored)
        )
    }
    got = set(reader.received)
    problems: list[dict[str, Any]] = []
    row = {"expected": len(expected), "delivered": len(expected & got)}
    row["missing"] = 0
    if reader.connected:
        for text in sorted(expected - got):
            problems.append({"kind": "missing", "text": text, "client": reader.name})
        row["missing"] = len(expected - got)
    else:
        row["stuck"] = 1
    row["duplicated"] = 0
    row["refused_seen"] = 0
    for text, times in reader.received.items():
        if times > 1:
            row["duplicated"] += times - 1
            problems.append({"kind": "duplicated", "text": text, "client": reader.name})
        line = ledger.lines.get(text)
        if line is not None and line.outcome is not None:
            if line.outcome.kind == "refused":
                row["refused_seen"] += 1
                problems.append(
                    {"kind": "refused_seen", "text": text, "client": reader.name}
                )
    return row, problems


FAILURES = (
    "missing",
    "duplicated",
    "refused_seen",
    "stored_but_refused",
    "acked_missing",
    "acked_mismatch",
    "stored_twice",
    "stuck",
    "epoch_changes",
    "harness_errors",
)


def analyse(
    ledger: Ledger,
    clients: list[Client],
    histories: dict[str, list[dict[str, Any]]],
    faults: list[Fault],
    process_timeout: float,
) -> dict[str, Any]:
    rooms, stored, problems = check_rooms(ledger, histories)
    rows = []
    for client in clients:
        row: dict[str, Any] = client.as_dict()
        if client.role == "reader":
            counts, found = check_reader(client, ledger, stored.get(client.room, set()))
            row |= counts
            problems += found
        rows.append(row)
    totals: Counter[str] = Counter()
    for row in rows:
        for key in ("missing", "duplicated", "refused_seen", "stuck"):
            totals[key] += row.get(key, 0)
        totals["epoch_changes"] += max(0, len(row["epochs"]) - 1)
        totals["harness_errors"] += len(row["errors"])
    for counts in rooms.values():
        for key in ("stored_but_refused", "acked_missing", "acked_mismatch"):
            totals[key] += counts.get(key, 0)
        totals["stored_twice"] += counts.get("stored_twice", 0)
    totals["harness_errors"] += sum(1 for f in faults if f.error)
    findings: Counter[str] = Counter()
    for problem in problems:
        line = ledger.lines.get(problem["text"])
        when = near(faults, line.sent_s, process_timeout) if line else "?"
        problem["near"] = when
        problem["sent_s"] = line.sent_s if line else None
        if line is not None and line.outcome is not None:
            problem["id"] = line.outcome.id
        findings[f"{problem['kind']} near {when}"] += 1
    examples: dict[str, list[dict[str, Any]]] = {}
    for problem in problems:
        examples.setdefault(problem["kind"], [])
        if len(examples[problem["kind"]]) < EXAMPLES:
            examples[problem["kind"]].append(problem)
    acked = sum(
        1 for x in ledger.lines.values() if x.outcome and x.outcome.kind == "acked"
    )
    return {
        "clients": rows,
        "rooms": rooms,
        "faults": [f.as_dict() for f in faults],
        "failures": {k: totals[k] for k in FAILURES},
        "findings": dict(findings.most_common()),
        "examples": examples,
        "lines": len(ledger.lines),
        "acked": acked,
        "ok": acked > 0 and not any(totals[k] for k in FAILURES),
    }


def _cells(row: dict[str, Any]) -> list[str]:
    o = row["outcomes"]
    sent = sum(o.values())
    reads = row["role"] == "reader"
    return [
        str(sent or "–"),
        str(o.get("acked", "–") if sent else "–"),
        str(o.get("refused", "–") if sent else "–"),
        str(o.get("unknown", "–") if sent else "–"),
        str(row["joins"]),
        str(row["drops"]),
        str(row["blips"]),
        str(row.get("expected", "–")),
        str(row.get("delivered", "–")),
        ("stuck" if row.get("stuck") else str(row["missing"])) if reads else "–",
        str(row.get("duplicated", "–")),
        str(row.get("refused_seen", "–")),
    ]


HEAD = (
    "| client | door | proc | room | sent | acked | refused | unknown | joins "
    "| drops | blips | expected | delivered | missing | duplicated | refused seen |"
)


def table(result: dict[str, Any]) -> str:
    lines = [HEAD, "|" + "---|" * 16]
    rows = sorted(result["clients"], key=lambda r: (r["role"], DOORS.index(r["door"])))
    for row in rows:
        room = row["room"] if row["role"] != "churner" else "all"
        head = [row["name"], row["door"], str(row["process"]), room]
        lines.append("| " + " | ".join(head + _cells(row)) + " |")
    lines += [
        "",
        "| door | role | clients | sent | acked | refused | unknown "
        "| drops | blips | missing | duplicated | refused seen |",
        "|" + "---|" * 12,
    ]
    for door in DOORS:
        for role in ("poster", "reader", "churner"):
            group = [r for r in rows if r["door"] == door and r["role"] == role]
            if not group:
                continue
            o: Counter[str] = Counter()
            for r in group:
                o.update(r["outcomes"])
            sums = [
                sum(r.get(k, 0) for r in group)
                for k in ("drops", "blips", "missing", "duplicated", "refused_seen")
            ]
            cells = [
                door,
                role,
                str(len(group)),
                str(sum(o.values())),
                str(o["acked"]),
                str(o["refused"]),
                str(o["unknown"]),
            ]
            lines.append("| " + " | ".join(cells + [str(s) for s in sums]) + " |")
    return "\n".join(lines)


def report(result: dict[str, Any]) -> str:
    out = [table(result), "", "Faults (seconds into the traffic):"]
    for f in result["faults"]:
        ready = "never" if f["ready_s"] is None else f"{f['ready_s']:.1f}"
        error = f" ERROR {f['error']}" if f["error"] else ""
        out.append(
            f"- {f['label']}: {f['started_s']:.1f}–{f['ended_s']:.1f}, "
            f"both processes ready again at {ready}{error}"
        )
    out.append("")
    out.append("History per room:")
    for room, counts in result["rooms"].items():
        out.append(f"- {room}: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    if result["findings"]:
        out += ["", "Findings (kind near fault: count):"]
        out += [f"- {k}: {v}" for k, v in result["findings"].items()]
    return "\n".join(out)


def verdict(result: dict[str, Any]) -> str:
    failures = {k: v for k, v in result["failures"].items() if v}
    head = f"{result['lines']} lines sent, {result['acked']} acked"
    if result["ok"]:
        return f"chaos: PASS: {head}; every reader got each once, history exact"
    if not result["acked"]:
        failures["nothing_acked"] = 1
    return f"chaos: FAIL: {head}; " + ", ".join(f"{k} {v}" for k, v in failures.items())
