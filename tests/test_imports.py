"""`import edgeprep` and the deploy side (verify, run) never import TensorFlow or Keras; no import cycles."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

BLOCK = "import sys; sys.modules['tensorflow'] = None; sys.modules['keras'] = None; sys.modules['tf2onnx'] = None; "


def _python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", BLOCK + code], capture_output=True, text=True, timeout=300)


def test_import_edgeprep_does_not_import_tensorflow():
    result = subprocess.run(
        [sys.executable, "-c", "import sys, edgeprep, edgeprep.cli; print('tensorflow' in sys.modules, 'keras' in sys.modules)"],
        capture_output=True, text=True,
    )
    assert result.stdout.strip() == "False False", result.stderr


def test_verify_and_run_work_without_tensorflow(zoo_exports, tmp_path):
    out = zoo_exports("seed_cnn").out_dir
    np.savez(tmp_path / "in.npz", image=np.zeros((2, 28, 28, 1), np.float32))
    result = _python(
        "import edgeprep; from edgeprep.deploy import run_directory; from edgeprep.config import Target; "
        f"assert edgeprep.verify({str(out)!r}).passed; "
        f"import numpy as np; y = run_directory({str(out)!r}, Target.ONNX, dict(np.load({str(tmp_path / 'in.npz')!r}))); "
        "print(next(iter(y.values())).shape)"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "(2, 10)"


def test_import_edgeprep_stays_free_of_build_dependencies():
    code = "import sys, edgeprep, edgeprep.cli; print(sorted(m for m in ('tensorflow', 'keras', 'pyarrow', 'apache_beam') if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.strip() == "[]", result.stderr
    assert callable(__import__("edgeprep").build)


def test_host_code_of_every_family_imports_without_tensorflow():
    result = _python(
        "import importlib; from edgeprep.families import FAMILIES; from edgeprep.runtime.host.steps import KINDS; "
        "[importlib.import_module(f'edgeprep.families.{f.name}.host') for f in FAMILIES if f.host is not None]; print(len(KINDS))"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "7"  # glue (issue 16, item 4) joined the six family kinds


# --- import cycles -----------------------------------------------------------------------------
#
# The import graph is read statically (ast) from edgeprep/, converters/ and scripts/ (whose modules
# import each other by bare name, as bench.py puts scripts/ on sys.path). Two definitions are
# checked: imports at module level (what runs on import), and every import including those inside
# functions (a lazy import still couples the two modules both ways).

REPO = Path(__file__).resolve().parents[1]

# Function-level edges that close a cycle and are being removed by work in flight; each entry
# names the import. Delete an entry when its edge is gone.
PENDING: set[tuple[str, str]] = set()


def _modules() -> dict[str, Path]:
    modules = {}
    for package in ("edgeprep", "converters"):
        for file in (REPO / package).rglob("*.py"):
            parts = file.relative_to(REPO).with_suffix("").parts
            modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = file
    for file in (REPO / "scripts").glob("*.py"):
        modules[file.stem] = file
    return modules


def _imported(node: ast.AST, module: str, file: Path) -> list[str]:
    """The dotted names an import statement may refer to (``from a import b``: ``a.b`` and ``a``)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if node.level:
        base = module.split(".")[: len(module.split(".")) - (node.level - (file.name == "__init__.py"))]
        origin = ".".join(base + ([node.module] if node.module else []))
    else:
        origin = node.module or ""
    return [f"{origin}.{alias.name}" for alias in node.names] + [origin]


def _type_checking(node: ast.AST) -> bool:
    """``if TYPE_CHECKING:`` (or ``typing.TYPE_CHECKING``): imports that never run."""
    test = getattr(node, "test", None)
    return isinstance(node, ast.If) and (getattr(test, "id", None) == "TYPE_CHECKING" or getattr(test, "attr", None) == "TYPE_CHECKING")


def _statements(tree: ast.Module, top_level_only: bool):
    """The statements that run on import (module level, under if/try/with) or, with
    ``top_level_only=False``, anywhere; never the body of an ``if TYPE_CHECKING:``."""
    todo = list(tree.body)
    while todo:
        node = todo.pop()
        yield node
        if _type_checking(node):
            todo.extend(node.orelse)
        elif not top_level_only or isinstance(node, (ast.If, ast.Try, ast.With)):
            todo.extend(child for child in ast.iter_child_nodes(node) if not top_level_only or isinstance(child, ast.stmt))


def import_graph(top_level_only: bool) -> dict[str, set[str]]:
    """Module name -> the repository modules it imports."""
    modules = _modules()

    def resolve(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph = {}
    for module, file in modules.items():
        tree = ast.parse(file.read_text(encoding="utf-8"))
        edges = set()
        for node in _statements(tree, top_level_only):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names = _imported(node, module, file)
                targets = [resolve(name) for name in names]
                edges.add(max((t for t in targets if t), key=len, default=None))
        graph[module] = edges - {None, module}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), each sorted."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for successor in sorted(graph.get(node, ())):
            if successor not in index:
                visit(successor)
                low[node] = min(low[node], low[successor])
            elif successor in on_stack:
                low[node] = min(low[node], index[successor])
        if low[node] == index[node]:
            component = []
            while not component or component[-1] != node:
                component.append(stack.pop())
                on_stack.discard(component[-1])
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_cycle_finder_sees_a_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_import_graph_reads_lazy_and_relative_imports():
    relative = ast.parse("from .sources import read_source").body[0]
    assert _imported(relative, "edgeprep.compose.adapt", Path("adapt.py"))[0] == "edgeprep.compose.sources.read_source"
    assert _imported(relative, "edgeprep.compose", Path("__init__.py"))[0] == "edgeprep.compose.sources.read_source"
    lazy = import_graph(top_level_only=False)
    eager = import_graph(top_level_only=True)
    assert "edgeprep.legacy" in lazy["edgeprep.load"] and "edgeprep.errors" in eager["edgeprep.load"]
    assert "edgeprep.compose.adapt" in lazy["edgeprep.compose.builder"]
    assert "edgeprep.compose.adapt" not in eager["edgeprep.compose.builder"]
    assert "bench_report" in eager["bench"]


@pytest.mark.parametrize("top_level_only", [True, False], ids=["module-level", "with-function-level"])
def test_no_import_cycles(top_level_only):
    graph = import_graph(top_level_only)
    if not top_level_only:
        graph = {module: {t for t in edges if (module, t) not in PENDING} for module, edges in graph.items()}
    assert cycles(graph) == []
