"""The house plan: every module imports only from its own layer or lower, with no cycle.

The table is the README's Layout map. A module's layer is its folder's (the longest prefix that
names one); `portal` itself, the top, holds the app factory, the command line and /healthz.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Mapping
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
README = Path(__file__).resolve().parents[1] / "README.md"

LAYERS: dict[str, int] = {
    "portal.base": 0,
    "portal.security": 1,
    "portal.domain": 2,
    "portal.web": 3,
    "portal.middleware": 4,
    "portal.flows": 5,
    "portal.phone": 5,
    "portal.tabs": 6,
    "portal.dev": 7,
    "portal": 8,
}
MAX_LINES = 400
MAX_ROUTE_LINES = 200


def layer_of(module: str) -> int:
    """The layer of `module`: that of the longest entry of LAYERS it lies in."""
    for prefix in sorted(LAYERS, key=len, reverse=True):
        if module == prefix or module.startswith(prefix + "."):
            return LAYERS[prefix]
    raise LookupError(f"{module} is in no layer: add its folder to LAYERS and the README")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports(module: str, source: str, known: Iterable[str]) -> set[str]:
    """The portal modules `source` (the text of `module`) imports, anywhere in it."""
    known = set(known)
    package = module if module in _packages(known) else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            names = [f"{base}.{alias.name}" for alias in node.names]
            names = [name if name in known else base for name in names]
        else:
            continue
        for name in names:
            while name and name not in known:  # `import portal.base.db` names a module
                name = name.rpartition(".")[0]
            if name and name != module:
                found.add(name)
    return found


def _packages(modules: Iterable[str]) -> set[str]:
    modules = set(modules)
    return {name for name in modules if any(other.startswith(name + ".") for other in modules)}


def graph(sources: Mapping[str, str]) -> dict[str, set[str]]:
    return {module: imports(module, text, sources) for module, text in sources.items()}


def upward(edges: Mapping[str, set[str]]) -> list[str]:
    """Every import that runs back up a layer, as `importer (layer) -> imported (layer)`."""
    return sorted(
        f"{source} ({layer_of(source)}) -> {target} ({layer_of(target)})"
        for source, targets in edges.items()
        for target in targets
        if layer_of(target) > layer_of(source)
    )


def cycles(edges: Mapping[str, set[str]]) -> list[list[str]]:
    """The groups of modules that import each other, round and round (Tarjan's SCCs)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in sorted(edges.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def portal_sources() -> dict[str, str]:
    return {module_name(path): path.read_text() for path in sorted((SRC / "portal").rglob("*.py"))}


def test_no_import_runs_back_up_a_layer() -> None:
    assert upward(graph(portal_sources())) == []


def test_no_import_cycle() -> None:
    assert cycles(graph(portal_sources())) == []


def test_every_module_is_in_a_layer() -> None:
    for module in portal_sources():
        layer_of(module)


def test_the_checks_catch_an_upward_import_and_a_cycle() -> None:
    planted = {
        "portal.base.settings": "from portal.web import csrf\n",
        "portal.web.csrf": "from portal.base.settings import Settings\n",
        "portal.web.htmx": "import portal.web.templating\n",
        "portal.web.templating": "def f():\n    from . import htmx\n",
    }
    edges = graph(planted)
    assert upward(edges) == ["portal.base.settings (0) -> portal.web.csrf (3)"]
    assert cycles(edges) == [
        ["portal.base.settings", "portal.web.csrf"],
        ["portal.web.htmx", "portal.web.templating"],
    ]
    assert upward(graph({"portal.web.csrf": "from portal.base import settings\n"})) == []


def test_modules_stay_small_and_route_modules_smaller() -> None:
    too_long = []
    for path in (SRC / "portal").rglob("*.py"):
        lines = len(path.read_text().splitlines())
        routes = re.search(r"^routes = \[", path.read_text(), re.M) is not None
        if lines > (MAX_ROUTE_LINES if routes else MAX_LINES):
            too_long.append(f"{module_name(path)}: {lines} lines")
    assert too_long == []


def test_the_readme_layout_map_names_every_layer_folder() -> None:
    """The README's Layout section has one line per folder of the table, in layer order."""
    layout = README.read_text().split("## Layout", 1)[1]
    folders = [
        match.group(1).removesuffix("/").replace("/", ".")
        for match in re.finditer(r"^- `src/(portal(?:/\w+)?)/?`", layout, re.M)
    ]
    assert folders == sorted(LAYERS, key=lambda name: (LAYERS[name], name))
