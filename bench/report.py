"""The Markdown table: node and python side by side, python/node per figure."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field

from figures import (
    CPU_PER_DELIVERY,
    HIGHER_IS_BETTER,
    LOADGEN_LIMIT,
    NOT_A_RATIO,
    Value,
    figures,
    notes,
)
from loadgen import LoadRun
from plan import Case
from servers import CLUSTER, NODE, PYTHON


@dataclass
class CaseResult:
    case: Case
    runs: dict[str, list[LoadRun]] = field(default_factory=dict)

    def figures(self, server: str) -> dict[str, Value]:
        """Each figure over the rounds: the median, or the distinct texts."""
        per_round = [figures(self.case, run) for run in self.runs.get(server, [])]
        out: dict[str, Value] = {}
        for name in per_round[0] if per_round else {}:
            values = [f[name] for f in per_round if f.get(name) is not None]
            numbers = [float(v) for v in values if isinstance(v, int | float)]
            if numbers and len(numbers) == len(values):
                out[name] = statistics.median(numbers)
            else:
                out[name] = " / ".join(dict.fromkeys(str(v) for v in values)) or None
        return out

    def loadgen_cpu(self, server: str) -> float | None:
        """The highest load generator CPU % over the rounds."""
        cpus = [
            (r.result or {}).get("loadgen_cpu_pct") for r in self.runs.get(server, [])
        ]
        return max((c for c in cpus if c is not None), default=None)

    def notes(self, server: str) -> list[str]:
        out = [n for run in self.runs.get(server, []) for n in notes(run)]
        return list(dict.fromkeys(out))


def fmt(value: Value) -> str:
    if value is None:
        return "–"
    if isinstance(value, str):
        return value
    if float(value).is_integer() and abs(value) < 1e9:
        return f"{int(value):,}"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.1f}" if abs(value) >= 10 else f"{value:.2f}"


def ratio(name: str, node: Value, python: Value) -> str:
    if (
        name in NOT_A_RATIO
        or not isinstance(node, float | int)
        or not isinstance(python, float | int)
    ):
        return "–"
    if node == 0:
        return "–"
    return f"**{python / node:.2f}**"


def _cell(value: Value, cpu: float | None) -> str:
    flag = (
        " ⚠" if cpu is not None and cpu >= LOADGEN_LIMIT and value is not None else ""
    )
    return fmt(value) + flag


def _pct(cpu: float | None) -> str:
    return "–" if cpu is None else f"{cpu:.0f}%"


def scaleout(results: list[CaseResult]) -> str:
    """Two processes over Redis against one, per delivery (issue: <= 1.25x)."""
    lines = []
    for res in results:
        if res.case.group != "scaleout":
            continue
        one = res.figures(PYTHON).get(CPU_PER_DELIVERY)
        two = res.figures(CLUSTER).get(CPU_PER_DELIVERY)
        if isinstance(one, int | float) and isinstance(two, int | float) and one:
            lines.append(
                f"{res.case.label}: two processes over Redis (both app processes "
                f"and redis-server) cost **{two / one:.2f}×** one process's server "
                f"CPU per delivery ({fmt(two)} vs {fmt(one)} µs)."
            )
    return "\n".join(lines)


def table(results: list[CaseResult]) -> str:
    head = (
        "| case | figure | node | python | python/node | load gen CPU node / python |"
    )
    lines = [head + " notes |", "|---|---|---|---|---|---|---|"]
    for res in results:
        node = res.figures(NODE)
        node_cpu = res.loadgen_cpu(NODE)
        for server in res.case.servers:
            if server == NODE:
                continue
            mine = res.figures(server)
            cpu = res.loadgen_cpu(server)
            label = (
                res.case.label if server == PYTHON else f"{res.case.label} [{server}]"
            )
            remarks = (
                [f"{NODE}: {n}" for n in res.notes(NODE)] if server == PYTHON else []
            )
            remarks += [f"{server}: {n}" for n in res.notes(server)]
            for i, name in enumerate(dict.fromkeys([*node, *mine])):
                arrow = " ↑" if name in HIGHER_IS_BETTER else ""
                lines.append(
                    f"| {label if i == 0 else ''} | {name}{arrow} "
                    f"| {_cell(node.get(name), node_cpu)} "
                    f"| {_cell(mine.get(name), cpu)} "
                    f"| {ratio(name, node.get(name), mine.get(name))} "
                    f"| {f'{_pct(node_cpu)} / {_pct(cpu)}' if i == 0 else ''} "
                    f"| {'; '.join(remarks) if i == 0 else ''} |"
                )
    return "\n".join(lines)
