"""The package's layers as folders, and imports that run one way (docs/architecture.md).

Every import in the package is read from its source (top-level, inside functions and under
``TYPE_CHECKING`` alike: a lazy import is still a dependency), and each module is placed in
its layer by its folder. A module may import its own layer and the layers below it, never one
above; and no modules import each other in a circle.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "mobilestatus_pandas"

#: Lowest first. A module may import modules of its own rank or below.
LAYER_RANKS: dict[str, int] = {
    "errors": 0,
    "service": 1,
    "stores": 1,
    "analysis": 2,
    "engine": 3,
    "views": 4,
    # the faces on top, and the sandbox beside them
    "accessor": 5,
    "client": 5,
    "dask": 5,
    "_dask_hook": 5,
    "_dask_worker": 5,
    "cli": 5,
    "demo": 5,
    "datasets": 5,
    "sandbox": 5,
    "__init__": 6,
}

#: Upward imports not mended yet, each with the step that removes it (empty when done).
KNOWN_UPWARD: set[str] = set()

#: Layers that must not import each other although they share a rank.
APART = {("service", "stores"), ("stores", "service")}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
    if parts[-1] == "__init__" and len(parts) > 1:
        parts = parts[:-1]
    return ".".join(parts)


def layer_of(module: str) -> str:
    return module.split(".")[0]


def imports_of(path: Path) -> set[str]:
    """The package's modules that ``path`` imports, as dotted names under the package."""
    package = list(path.relative_to(PACKAGE).parent.parts)  # the package the file sits in
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)]
            elif node.module and node.module.split(".")[0] == "mobilestatus_pandas":
                base = []
                node_module = node.module.split(".")[1:]
                target = ".".join(base + node_module)
                found.update(_with_names(target, node.names))
                continue
            else:
                continue
            target = ".".join(base + (node.module.split(".") if node.module else []))
            found.update(_with_names(target, node.names))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("mobilestatus_pandas."):
                    found.add(alias.name.split(".", 1)[1])
    return {name for name in found if name and name != module_name(path)}


def _with_names(target: str, names: list[ast.alias]) -> set[str]:
    """``from X import a`` imports X, or X.a when a is a module of the package."""
    out = {target} if target else set()
    for alias in names:
        candidate = f"{target}.{alias.name}" if target else alias.name
        as_path = PACKAGE.joinpath(*candidate.split("."))
        if as_path.with_suffix(".py").is_file() or (as_path / "__init__.py").is_file():
            out.add(candidate)
    return out


def graph() -> dict[str, set[str]]:
    return {module_name(p): imports_of(p) for p in sorted(PACKAGE.rglob("*.py"))}


def test_every_module_sits_in_a_known_layer() -> None:
    unknown = sorted({layer_of(m) for m in graph()} - set(LAYER_RANKS))
    assert unknown == [], f"give {unknown} a rank in LAYER_RANKS and a row in the notes"


def test_no_import_runs_up_a_layer() -> None:
    upward = []
    for module, targets in graph().items():
        mine = layer_of(module)
        for target in targets:
            theirs = layer_of(target)
            if theirs == mine:
                continue
            if LAYER_RANKS[theirs] > LAYER_RANKS[mine] or (mine, theirs) in APART:
                upward.append(f"{module} -> {target}")
    upward = sorted(set(upward) - KNOWN_UPWARD)
    assert upward == [], "imports that run up a layer: " + ", ".join(upward)


def test_no_modules_import_each_other_in_a_circle() -> None:
    edges = graph()
    # a package's __init__ re-exporting its own modules is not a circle of behaviour
    for module in edges:
        edges[module] = {t for t in edges[module] if not t.startswith(module + ".")}
    state: dict[str, int] = {}
    circles: list[str] = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(edges.get(node, ())):
            if nxt not in edges:
                continue
            if state.get(nxt) == 1:
                circles.append(" -> ".join([*path[path.index(nxt) :], nxt]))
            elif nxt not in state:
                visit(nxt, [*path, nxt])
        state[node] = 2

    for start in sorted(edges):
        if start not in state:
            visit(start, [start])
    assert circles == []


@pytest.mark.parametrize("module", ["plots", "numbers", "sampling", "stats", "codes"])
def test_documented_module_attributes_still_resolve(module: str) -> None:
    import mobilestatus_pandas as msp

    assert getattr(msp, module).__name__.startswith("mobilestatus_pandas.")


def test_a_moved_module_warns_where_it_lives_now() -> None:
    import mobilestatus_pandas as msp

    with pytest.warns(DeprecationWarning, match=r"engine\.run"):
        assert msp.run.start is not None
