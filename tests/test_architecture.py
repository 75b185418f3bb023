"""The layers import one way (docs/architecture.md), with no import cycles, and storage engines stay
behind the index package. Every import counts: module level, inside functions, under TYPE_CHECKING."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("clir", "indexer", "app", "eval", "cli")

# Group -> rank. A module may import its own group and any group of a lower rank, nothing else:
# indexer, app and eval share a rank, so none of them imports another.
LAYERS = {
    "clir": 0,  # errors, records, files
    "clir.text": 1,
    "clir.encoders": 2,
    "clir.corpus": 3,
    "clir.index": 4,
    "clir.search": 5,
    "clir.settings": 6,  # every CLIR_* variable
    "clir.facade": 6,  # clir.Index
    "indexer": 7,
    "app": 7,
    "eval": 7,
    "cli": 8,
}
# The package's front door: `clir.Index` (imported when first used) is the facade, above the rest of the core.
REEXPORTS = {"clir": {"clir.facade"}}
# Storage engines: only these groups (or modules) may import them.
# (The analyzers read bm25s's stopword lists, data rather than an index; the embedding cache is a SQLite file.)
ENGINES = {"faiss": ("clir.index",), "bm25s": ("clir.index", "clir.text.analyzers"),
           "sqlite3": ("clir.index", "clir.encoders.cache"), "qdrant_client": ("clir.index",)}


def module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def group_of(module: str) -> str:
    return max((g for g in LAYERS if module == g or module.startswith(g + ".")), key=len)


def imports_of(source: str, module: str, is_package: bool, known: set[str]) -> set[str]:
    """Project modules (and top-level external packages, prefixed with '!') imported anywhere in the source."""
    found: set[str] = set()
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(source)):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            names = [f"{base}.{alias.name}" for alias in node.names] + [base]
        for name in names:
            top = name.split(".")[0]
            if top not in PACKAGES:
                found.add("!" + top)
                continue
            while name and name not in known:
                name = name.rpartition(".")[0]
            if name:
                found.add(name)
    return found


def import_graph(root: Path) -> dict[str, set[str]]:
    files = {module_name(root, p): p for pkg in PACKAGES for p in (root / pkg).rglob("*.py")}
    known = set(files)
    return {m: imports_of(p.read_text(encoding="utf-8"), m, p.name == "__init__.py", known) - {m}
            for m, p in files.items()}


def layer_violations(graph: dict[str, set[str]]) -> list[str]:
    out = []
    for module, deps in sorted(graph.items()):
        own = group_of(module)
        for dep in sorted(deps):
            if dep.startswith("!"):
                allowed = ENGINES.get(dep[1:])
                if allowed is not None and not any(module == a or module.startswith(a + ".") for a in allowed):
                    out.append(f"{module} imports the storage engine {dep[1:]} (only {', '.join(allowed)} may)")
                continue
            other = group_of(dep)
            if dep in REEXPORTS.get(module, ()):
                continue
            if other != own and LAYERS[other] >= LAYERS[own]:
                out.append(f"{module} ({own}) imports {dep} ({other})")
    return out


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w.startswith("!") or w not in graph:
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_layers_import_one_way():
    assert layer_violations(import_graph(ROOT)) == []


def test_no_import_cycles():
    assert cycles(import_graph(ROOT)) == []


def test_every_module_belongs_to_a_layer():
    assert all(group_of(m) in LAYERS for m in import_graph(ROOT))


def _tree(tmp_path: Path, files: dict[str, str]) -> dict[str, set[str]]:
    for rel, text in files.items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    for pkg in PACKAGES:
        (tmp_path / pkg).mkdir(exist_ok=True)
        (tmp_path / pkg / "__init__.py").touch()
    return import_graph(tmp_path)


@pytest.mark.parametrize(("files", "expected"), [
    # an upward import hidden in a function
    ({"clir/index/store.py": "def f():\n    from clir.search.retriever import Retriever\n",
      "clir/search/retriever.py": "Retriever = 1\n"},
     ["clir.index.store (clir.index) imports clir.search.retriever (clir.search)"]),
    # siblings at one rank
    ({"app/x.py": "import eval.runner\n", "eval/runner.py": ""}, ["app.x (app) imports eval.runner (eval)"]),
    # the core importing the command line
    ({"clir/records.py": "from cli import main\n", "cli/main.py": ""},
     ["clir.records (clir) imports cli (cli)", "clir.records (clir) imports cli.main (cli)"]),
    # a storage engine above the index package
    ({"clir/search/retriever.py": "import faiss\n"},
     ["clir.search.retriever imports the storage engine faiss (only clir.index may)"]),
])
def test_the_check_catches_violations(tmp_path: Path, files: dict[str, str], expected: list[str]):
    assert layer_violations(_tree(tmp_path, files)) == expected


def test_the_check_catches_cycles(tmp_path: Path):
    graph = _tree(tmp_path, {"indexer/a.py": "from indexer import b\n",
                             "indexer/b.py": "def f():\n    import indexer.a\n"})
    assert cycles(graph) == [["indexer.a", "indexer.b"]]
    assert layer_violations(graph) == []
