"""The layers of docs/architecture.md, checked over every module's imports.

Doors (events/, web/) -> core (chat/) <- backends (store/, cluster/); the
plumbing both doors share sits below both; config.py depends on nothing of
ours; app.py and factory.py wire it all. No module imports itself back.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
PACKAGES = ("chat", "cluster", "events", "plumbing", "store", "web")
TOP = ("app", "config", "factory")
ALLOWED: dict[str, set[str]] = {
    "config": set(),
    "chat": {"chat"},
    "plumbing": {"plumbing", "config"},
    "store": {"store", "chat", "config"},
    "cluster": {"cluster", "chat", "config"},
    "events": {"events", "chat", "plumbing", "config"},
    "web": {"web", "chat", "plumbing", "config"},
    "factory": {"chat", "cluster", "store", "config"},
    "app": {*PACKAGES, *TOP},
}
MAX_LINES = 400


def _modules() -> dict[str, Path]:
    found = {name: ROOT / f"{name}.py" for name in TOP}
    for package in PACKAGES:
        for path in sorted((ROOT / package).glob("*.py")):
            name = package if path.stem == "__init__" else f"{package}.{path.stem}"
            found[name] = path
    return found


MODULES = _modules()


def _imports(path: Path) -> set[str]:
    """Our modules that ``path`` imports, wherever the import statement is
    (inside a function, or under ``if TYPE_CHECKING``, too)."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            # ``from events import handshake`` imports events.handshake
            names = [
                full if (full := f"{node.module}.{a.name}") in MODULES else node.module
                for a in node.names
            ]
        else:
            continue
        for name in names:
            if name in MODULES:
                out.add(name)
    return out


GRAPH = {name: _imports(path) for name, path in MODULES.items()}


def test_imports_point_one_way() -> None:
    wrong = [
        f"{module} imports {target}"
        for module, targets in GRAPH.items()
        for target in targets
        if target.split(".")[0] not in ALLOWED[module.split(".")[0]]
    ]
    assert wrong == []


def test_no_module_imports_itself_back() -> None:
    cycles: list[list[str]] = []
    done: set[str] = set()

    def visit(module: str, path: list[str]) -> None:
        if module in path:
            cycles.append(path[path.index(module) :] + [module])
            return
        if module in done:
            return
        for target in sorted(GRAPH[module]):
            visit(target, [*path, module])
        done.add(module)

    for module in sorted(GRAPH):
        visit(module, [])
    assert cycles == []


def test_no_module_named_like_the_standard_library() -> None:
    clashes = [m for m in MODULES if m.rsplit(".", 1)[-1] in sys.stdlib_module_names]
    assert clashes == []


def test_modules_stay_small() -> None:
    big = {
        name: lines
        for name, path in MODULES.items()
        if (lines := len(path.read_text().splitlines())) > MAX_LINES
    }
    assert big == {}
