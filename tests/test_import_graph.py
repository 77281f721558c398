"""No import circle among ``alsafe``'s modules, and the tool's core imports without torch.

A circle hidden by an import inside a function still couples the two modules; the graph below counts
imports wherever they stand.
"""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from pathlib import Path

import alsafe

PACKAGE = Path(alsafe.__file__).resolve().parent


def _module_name(path: Path, package: Path) -> str:
    parts = path.relative_to(package.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules(package: Path) -> dict[str, Path]:
    return {_module_name(path, package): path for path in sorted(package.rglob("*.py"))}


def _resolve(name: str, known) -> str | None:
    """The longest prefix of ``name`` that is a module of the package (``a.b.func`` -> ``a.b``)."""
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        if ".".join(parts[:end]) in known:
            return ".".join(parts[:end])
    return None


def _imports(path: Path, name: str, known) -> set[str]:
    """The package's modules that ``path`` imports, at module level or in a function, relative imports resolved.

    ``from a import b`` imports the module ``a.b`` when there is one, else ``a``; the implicit import of
    a module's parent packages is not counted (Python runs them first, whoever asks).
    """
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = ".".join(package[: len(package) - node.level + 1] + ([node.module] if node.module else [])) \
                if node.level else node.module
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names]
        else:
            continue
        found |= {target for target in map(lambda t: _resolve(t, known), targets) if target and target != name}
    return found


def import_graph(package: Path = PACKAGE) -> dict[str, set[str]]:
    """Module name -> the package's modules it imports."""
    modules = _modules(package)
    return {name: _imports(path, name, modules) for name, path in modules.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle as a path ``[a, b, ..., a]``, or None (depth-first search, three colours)."""
    state: dict[str, str] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = "open"
        stack.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == "open":
                return stack[stack.index(target):] + [target]
            if target not in state:
                cycle = visit(target)
                if cycle:
                    return cycle
        stack.pop()
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state:
            cycle = visit(node)
            if cycle:
                return cycle
    return None


def test_no_import_circle_among_the_packages_modules():
    graph = import_graph()
    assert len(graph) > 40 and "alsafe.learn.learners" in graph["alsafe.loop"]
    cycle = find_cycle(graph)
    assert cycle is None, "import circle: " + " -> ".join(cycle)


def test_a_planted_circle_is_found(tmp_path):
    """Planted in a tiny fake package under a temporary folder: tests never write inside ``alsafe``."""
    package = tmp_path / "fake"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "sub" / "__init__.py").write_text("")
    (package / "a.py").write_text("from fake.sub import b\n")
    (package / "sub" / "b.py").write_text("import fake.c\n")
    (package / "c.py").write_text("def later():\n    from . import a\n    from .sub.b import anything\n")
    (package / "d.py").write_text("from fake import a, c\n")  # on the way in, not part of the circle
    graph = import_graph(package)
    assert graph["fake.d"] == {"fake.a", "fake.c"} and graph["fake.c"] == {"fake.a", "fake.sub.b"}
    assert find_cycle(graph) == ["fake.a", "fake.sub.b", "fake.c", "fake.a"]
    (package / "c.py").write_text("def later():\n    pass\n")
    assert find_cycle(import_graph(package)) is None


def _loaded_after(code: str) -> list[str]:
    probe = textwrap.dedent(code) + "\nimport sys\nprint(sorted(m for m in ('torch', 'transformers', 'setfit') if m in sys.modules))\n"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=300, check=True)
    return result.stdout.strip().splitlines()[-1]


def test_the_loop_and_the_learner_factory_import_without_torch():
    assert _loaded_after("import alsafe.learn.strategies, alsafe.learn.learners, alsafe.learn.tfidf, "
                         "alsafe.learn.vectorize, alsafe.learn.few_label, alsafe.loop") == "[]"


def test_the_tfidf_learner_fits_and_predicts_without_torch():
    loaded = _loaded_after("""
        from alsafe.learn.learners import make_learner
        learner = make_learner("tfidf-lr").fit(["fire in the kitchen", "a calm day", "smoke and flames", "sunny walk"],
                                               ["danger", "safe", "danger", "safe"])
        assert list(learner.predict(["flames in the hall"])) == ["danger"], learner.predict(["flames in the hall"])
    """)
    assert loaded == "[]"
