"""The package's two wings: the tool (``alsafe``) never imports the paper's reproduction (``alsafe.paper``)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import alsafe

PACKAGE = Path(alsafe.__file__).resolve().parent
# The command line and the pipeline runner are the front doors to both wings.
FRONT_DOORS = {"cli.py", "reproduce.py", "__main__.py"}


def _tool_modules(package: Path = PACKAGE) -> list[Path]:
    return [path for path in sorted(package.rglob("*.py"))
            if "paper" not in path.relative_to(package).parts[:1] and path.name not in FRONT_DOORS]


def _module_name(path: Path, package: Path = PACKAGE) -> str:
    parts = path.relative_to(package.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, package_root: Path = PACKAGE) -> set[str]:
    """Every module ``path`` imports, relative imports resolved, wherever the import statement stands."""
    package = _module_name(path, package_root).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join(base + ([node.module] if node.module else []))
            found.add(module)
            found |= {f"{module}.{alias.name}" for alias in node.names}
    return found


def test_the_tool_never_imports_the_paper_wing():
    modules = _tool_modules()
    assert len(modules) > 25 and any(p.parent.name == "generate" for p in modules)
    offenders = {_module_name(p): sorted(m for m in _imports(p) if m == "alsafe.paper" or m.startswith("alsafe.paper."))
                 for p in modules}
    assert {name: found for name, found in offenders.items() if found} == {}


def test_the_import_check_sees_a_planted_import(tmp_path):
    """Planted in a copy of the package's shape under a temporary folder: tests never write inside the package."""
    package = tmp_path / "alsafe"
    planted = package / "generate" / "_planted_for_test.py"
    planted.parent.mkdir(parents=True)
    planted.write_text("def f():\n    from ..paper import reference\n    return reference\n", encoding="utf-8")
    assert "alsafe.paper.reference" in _imports(planted, package)
    assert planted in _tool_modules(package)


def test_importing_every_tool_module_loads_nothing_of_the_paper():
    names = [_module_name(p) for p in _tool_modules()]
    code = ("import importlib, sys\n"
            f"for name in {names!r}:\n    importlib.import_module(name)\n"
            "print(sorted(m for m in sys.modules if m.startswith('alsafe.paper')))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True)
    assert result.stdout.strip() == "[]"


def test_no_tool_default_is_the_papers_taxonomy():
    for path in _tool_modules():
        assert "PAPER_TAXONOMY" not in path.read_text(encoding="utf-8"), path
