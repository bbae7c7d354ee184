"""The import graph of eqnas, read from the source (every import statement, function-level ones
included): no cycle, and each engine enters through one door. And what importing costs: the
light modules import no torch, NNI, Opacus, matplotlib or fvcore, and `eqnas --help` imports
no subcommand."""
from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "eqnas"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def imported_names(name: str) -> set[str]:
    """Every module name an import statement anywhere in module `name` refers to, relative
    imports resolved; ``from a import b`` counts as ``a.b`` when that is a module, else as ``a``."""
    path = MODULES[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([node.module] if node.module else []))
            for alias in node.names:
                found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base)
    return found


def import_graph() -> dict[str, set[str]]:
    """eqnas module -> the eqnas modules it imports."""
    return {name: {m for m in imported_names(name) if m in MODULES and m != name} for name in MODULES}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of `graph` as a path that ends where it starts, or None (depth-first search)."""
    state: dict[str, str] = {}  # "open" while on the current path, "done" after
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = "open"
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        state[node] = "done"
        path.pop()
        return None

    return next((cycle for node in sorted(graph) if node not in state and (cycle := visit(node))), None)


def test_the_cycle_finder_finds_a_cycle_and_only_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_the_import_graph_reads_function_level_and_relative_imports(tmp_path, monkeypatch):
    package = tmp_path / "eqnas"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "sub" / "__init__.py").write_text("from . import a\n")
    (package / "sub" / "a.py").write_text("def f():\n    from ..b import g\n")
    (package / "b.py").write_text("from eqnas.sub import a\n")
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", package)
    monkeypatch.setattr(sys.modules[__name__], "MODULES", {module_name(p): p for p in package.rglob("*.py")})
    assert import_graph()["eqnas.sub.a"] == {"eqnas.b"}
    assert import_graph()["eqnas.sub"] == {"eqnas.sub.a"}
    assert find_cycle(import_graph()) is not None


def test_no_import_cycle_in_eqnas():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def importers_of(package: str) -> set[str]:
    return {name for name in MODULES
            if any(m == package or m.startswith(package + ".") for m in imported_names(name))}


def test_each_engine_enters_through_its_one_door():
    """What the doors' docstrings say: NNI, escnn, Opacus and fvcore are each imported in one place."""
    assert importers_of("nni") == {"eqnas.search.nni_api"}
    assert importers_of("escnn") == {"eqnas.nn.basis"}
    assert importers_of("fvcore") == {"eqnas.profiling.flops"}
    assert {m for m in importers_of("opacus") if not m.startswith("eqnas.train.grad_samplers.")} == \
        {"eqnas.train.privacy"}


HEAVY = ("torch", "nni", "opacus", "matplotlib", "fvcore")


@pytest.mark.parametrize("module", ["eqnas", "eqnas.groups", "eqnas.train.hooks", "eqnas.search.strategies",
                                    "eqnas.cli"])
def test_light_modules_import_no_heavy_engine(module):
    """`import eqnas` (and the modules whose docstrings promise it) import none of HEAVY."""
    script = f"import sys, {module}; print(' '.join(m for m in {HEAVY!r} if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=PACKAGE.parent, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [], f"import {module} imported {result.stdout}"


def test_help_lists_every_subcommand_without_importing_one():
    from eqnas.cli import SUBCOMMANDS

    script = ("import sys\nfrom eqnas.cli import main\nmain(['--help'])\n"
              "print('IMPORTED', *sorted(m for m in sys.modules if m.endswith('_cmd') or m in %r))" % (HEAVY,))
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=PACKAGE.parent, timeout=120)
    assert result.returncode == 0, result.stderr
    help_text, imported = result.stdout.split("IMPORTED")
    assert imported.split() == []
    for name, (_, summary) in SUBCOMMANDS.items():
        assert f"{name}  " in help_text and summary in " ".join(help_text.split())


def test_every_subcommand_module_defines_its_command():
    import click

    from eqnas.cli import SUBCOMMANDS

    for name, (module, _) in SUBCOMMANDS.items():
        command = importlib.import_module(module).command
        assert isinstance(command, click.Command) and command.name == name
