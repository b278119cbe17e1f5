"""The project's own modules import each other without a circle, counting imports inside functions too.

A circle that only closes through a lazy (function-level) import still couples the modules: each one
needs the other to work, and whichever is imported first decides what the other sees. The graph is
read from the source with ``ast`` (nothing is imported), so the test also covers modules that need a
GPU or verl's trainers to import.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: The shipped top-level packages (tests import them; they never import tests).
PACKAGES: tuple[str, ...] = ("fgrpo_verl", "reward_fns", "data_prep", "recipe", "benchmarks")


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def project_modules(root: Path = ROOT) -> dict[str, Path]:
    """Dotted name -> file of every Python module of :data:`PACKAGES` under ``root``."""
    modules = {}
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            modules[_module_name(path, root)] = path
    return modules


def _resolve(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    """The absolute module an ``ImportFrom`` names (relative imports resolved against ``module``)."""
    if not node.level:
        return node.module or ""
    base = module.split(".")
    # In a package's __init__, level 1 is the package itself; in a plain module it is the parent.
    keep = len(base) - node.level + (1 if is_package else 0)
    prefix = base[:keep]
    return ".".join(prefix + ([node.module] if node.module else []))


def imports_of(module: str, path: Path, known: set[str]) -> set[str]:
    """The project modules ``module`` imports anywhere in its body (top level, functions, branches).

    ``from pkg import name`` counts as importing ``pkg.name`` when that is a module, else ``pkg``.
    """
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(module, path.name == "__init__.py", node)
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names]
        else:
            continue
        found.update(target for target in targets if target in known and target != module)
    return found


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle of ``graph`` as ``[a, b, …, a]``, or None (iterative depth-first search)."""
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    for start in sorted(graph):
        if start in state:
            continue
        path = [start]
        stack = [iter(sorted(graph[start]))]
        state[start] = 1
        while stack:
            nxt = next(stack[-1], None)
            if nxt is None:
                state[path.pop()] = 2
                stack.pop()
            elif state.get(nxt) == 1:
                return path[path.index(nxt) :] + [nxt]
            elif nxt not in state:
                state[nxt] = 1
                path.append(nxt)
                stack.append(iter(sorted(graph.get(nxt, ()))))
    return None


def import_graph(root: Path = ROOT) -> dict[str, set[str]]:
    modules = project_modules(root)
    known = set(modules)
    return {name: imports_of(name, path, known) for name, path in modules.items()}


def test_the_project_has_no_import_circle():
    graph = import_graph()
    assert "fgrpo_verl.trainer" in graph and graph["fgrpo_verl.trainer"], "the walk found no imports"
    cycle = find_cycle(graph)
    assert cycle is None, "import circle: " + " -> ".join(cycle)


def _write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        # The circle this test was written for closes through an import inside a function.
        (
            {
                "fgrpo_verl/__init__.py": "",
                "fgrpo_verl/plugin.py": "def f():\n    from fgrpo_verl.trainer_selector import S\n",
                "fgrpo_verl/trainer_selector.py": "def g():\n    import fgrpo_verl.trainer\n",
                "fgrpo_verl/trainer.py": "from fgrpo_verl.preflight import check\n",
                "fgrpo_verl/preflight.py": "if True:\n    from fgrpo_verl import plugin\n",
            },
            ["fgrpo_verl.plugin", "fgrpo_verl.trainer_selector", "fgrpo_verl.trainer", "fgrpo_verl.preflight"],
        ),
        # Relative imports resolve against the package.
        (
            {
                "reward_fns/__init__.py": "from .tags import x\n",
                "reward_fns/tags.py": "from . import boxes\n",
                "reward_fns/boxes.py": "from reward_fns import y\n",
            },
            ["reward_fns", "reward_fns.tags", "reward_fns.boxes"],
        ),
        ({"data_prep/__init__.py": "", "data_prep/a.py": "import data_prep.b\n", "data_prep/b.py": "import os\n"}, None),
    ],
)
def test_the_walk_sees_lazy_and_relative_imports(tmp_path, files, expected):
    _write(tmp_path, files)
    cycle = find_cycle(import_graph(tmp_path))
    if expected is None:
        assert cycle is None
    else:
        assert cycle is not None and cycle[0] == cycle[-1]
        assert set(cycle) == set(expected)
