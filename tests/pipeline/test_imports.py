"""The import graph: pipeline/ has no cycle, and the packages below it import one way (DESIGN.md).

Every module's imports are read from its source (module level and inside functions alike) and
resolved to arc_pipeline modules. An edge is what importing runs: `from P import name` runs P (or
the submodule P.name when there is one), `import P.Q.m` runs P.Q.m, and both first run the
`__init__` of every package on the way (P, P.Q) unless it is a package the importer itself sits in
(that one is already running). A cycle through a package's `__init__` counts like any other.
"""

import ast
from pathlib import Path

import arc_pipeline

ROOT = "arc_pipeline"
# DESIGN.md: pipeline -> submissions, solver, augment, arc; solver -> augment, arc; augment -> arc;
# submissions -> arc; arc imports none of the others
BELOW = {"solver": {"augment", "arc"}, "augment": {"arc"}, "submissions": {"arc"}, "arc": set()}


def modules() -> dict[str, Path]:
    """Every module of the installed root: dotted name -> source file."""
    out = {}
    for name, folder in [(ROOT, Path(arc_pipeline.__file__).parent)] + [
            (f"{ROOT}.{sub}", Path(__import__(f"{ROOT}.{sub}", fromlist=["_"]).__file__).parent) for sub in BELOW]:
        for path in folder.rglob("*.py"):
            parts = path.relative_to(folder).with_suffix("").parts
            parts = parts[:-1] if parts[-1] == "__init__" else parts
            out[".".join((name, *parts))] = path
    return out


def packages_of(name: str) -> list[str]:
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def imports(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The arc_pipeline modules that importing `name` runs (see the module docstring)."""
    is_package = path.name == "__init__.py"
    here = name if is_package else name.rpartition(".")[0]
    mine = set(packages_of(name)) | ({name} if is_package else set())
    targets: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from the importer's package
                anchor = here.split(".")[: len(here.split(".")) - node.level + 1]
                base = ".".join(anchor + ([node.module] if node.module else []))
            for a in node.names:
                sub = f"{base}.{a.name}"
                targets.add(sub if sub in known else base)
    out = set()
    for t in targets:
        if t == ROOT or t.startswith(ROOT + "."):
            assert t in known, f"{path}: imports {t}, which is no module of {ROOT}"
            out |= {t} | {p for p in packages_of(t) if p not in mine}
    return out - {name}


def graph() -> dict[str, set[str]]:
    known = modules()
    return {name: imports(name, path, known) for name, path in known.items()}


def layer(name: str) -> str:
    """'pipeline' for a module of pipeline/, else the package below it ('solver', ...)."""
    parts = name.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in BELOW else "pipeline"


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each sorted."""
    index, low, stack, on, found = {}, {}, [], set(), []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(edges[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            part = []
            while not part or part[-1] != v:
                part.append(stack.pop())
                on.discard(part[-1])
            if len(part) > 1:
                found.append(sorted(part))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def test_pipeline_has_no_import_cycle():
    edges = graph()
    inside = {m: {t for t in ts if layer(t) == "pipeline"} for m, ts in edges.items() if layer(m) == "pipeline"}
    assert len(inside) > 50 and sum(map(len, inside.values())) > 100  # the graph was read, not empty
    found = cycles(inside)
    assert found == [], "import cycles in pipeline/: " + "; ".join(
        " ".join(f"{m} -> {sorted(t for t in inside[m] if t in c)}" for m in c) for c in found)


def test_packages_below_pipeline_import_one_way():
    wrong = sorted(f"{m} imports {t}" for m, ts in graph().items() if layer(m) != "pipeline"
                   for t in ts if layer(t) != layer(m) and layer(t) not in BELOW[layer(m)])
    assert wrong == []


def test_the_graph_sees_function_level_imports_and_package_inits():
    edges = graph()
    # pipeline/stages/train.py imports solver.train inside run(): the edge is there, with solver's __init__
    assert {f"{ROOT}.solver.train", f"{ROOT}.solver"} <= edges[f"{ROOT}.stages.train"]
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
