"""The import graph of eqnas, read from the source (every import statement, function-level ones
included): NNI enters through one module."""
from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "eqnas"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def imported_names(name: str) -> set[str]:
    """Every module name an import statement anywhere in module `name` refers to, relative
    imports resolved; ``from a import b`` counts as ``a`` and, when it is a module, ``a.b``."""
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
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def test_nni_is_imported_by_exactly_one_module():
    importers = [name for name in MODULES
                 if any(m == "nni" or m.startswith("nni.") for m in imported_names(name))]
    assert importers == ["eqnas.search.nni_api"]
