"""The package's import graph: no cycle among module-level imports, and no module importing from a layer above it
(imports inside functions count too: a lazy import is still a dependency)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "sentimentkit"

# Lowest first. A module may import from its own layer or any layer below it. training and inference are two
# consumers of the tasks, side by side: neither imports the other.
LAYERS = [
    {"types", "labels", "registry", "config", "hub", "metrics", "pretrained"},
    {"data", "multimodal"},  # multimodal: clip data, SynMOSI, its metrics and corruptions (no models)
    {"encoders"},
    {"models"},
    {"tasks"},
    {"training", "inference", "io", "explain"},
    {"store"},
    {"serve", "monitor", "batch"},
    {"cli", "__init__", "__main__"},
]
SIBLINGS_APART = {("training", "inference"), ("inference", "training")}


def _modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        name = ".".join(("sentimentkit", *parts)).removesuffix(".__init__")
        out[name] = path
    return out


def _imports(name: str, path: Path, top_level_only: bool) -> set[str]:
    """Modules of the package that `name` imports (resolved to module names, not symbols)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    is_package = path.name == "__init__.py"
    base = name.split(".") if is_package else name.split(".")[:-1]
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    found = set()
    for node in nodes:
        if top_level_only and isinstance(node, ast.If):  # `if TYPE_CHECKING:` blocks import nothing at run time
            continue
        if isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = base[: len(base) - node.level + 1]
                target = ".".join([*anchor, *(node.module.split(".") if node.module else [])])
            else:
                target = node.module or ""
            if target.startswith("sentimentkit"):
                found.add(target)
                found.update(f"{target}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("sentimentkit"))
    return found


def _layer(module: str) -> tuple[int, str]:
    parts = module.split(".")
    top = parts[1] if len(parts) > 1 else "__init__"
    for i, layer in enumerate(LAYERS):
        if top in layer:
            return i, top
    raise AssertionError(f"{module}: its top-level name {top!r} is in no layer; add it to LAYERS")


def test_no_module_imports_from_a_layer_above_it():
    modules = _modules()
    wrong = []
    for name, path in modules.items():
        if name.endswith("__main__"):
            continue
        here, top = _layer(name)
        for target in _imports(name, path, top_level_only=False):
            if target not in modules:
                continue  # a symbol, already covered by its module
            there, other = _layer(target)
            if there > here or (top, other) in SIBLINGS_APART:
                wrong.append(f"{name} (layer {here}) imports {target} (layer {there})")
    assert not wrong, "\n".join(sorted(wrong))


def test_module_level_imports_have_no_cycle():
    modules = _modules()
    graph = {n: {t for t in _imports(n, p, top_level_only=True) if t in modules and t != n} for n, p in modules.items()}
    state: dict[str, int] = {}  # 1: on the stack, 2: done
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycle = [*stack[stack.index(nxt) :], nxt]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)


def test_the_checker_sees_an_upward_import(tmp_path):
    """The layer check can fail: a data module importing from models is reported."""
    fake = tmp_path / "sentimentkit" / "data" / "bad.py"
    fake.parent.mkdir(parents=True)
    fake.write_text("from ..models.base import MODELS\n")
    targets = _imports("sentimentkit.data.bad", fake, top_level_only=False)
    assert "sentimentkit.models.base" in targets
    assert _layer("sentimentkit.models.base")[0] > _layer("sentimentkit.data.bad")[0]
