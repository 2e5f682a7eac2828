"""The package's layers import only downward: no circle, counting every import statement
(module level, inside functions, under ``TYPE_CHECKING``), and only ``plugin.py`` imports
pytest. Read from the source with :mod:`ast`, so nothing is hidden by import order."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import pytest_socks5

PACKAGE = Path(pytest_socks5.__file__).resolve().parent
NAME = "pytest_socks5"

#: Lowest first. A module may import modules of its own layer or of a layer below it.
LAYERS: tuple[tuple[str, ...], ...] = (
    # the sans-I/O core and leaf helpers
    ("_public", "_protocol", "_escape", "_url", "_checks", "_field_values", "_user_code"),
    # pure policy and values: no sockets, no event loop
    (
        "_fault_checks",
        "_hosts",
        "_auth",
        "_rules",
        "_dial_errors",
        "_udp_faults",
        "_fault_types",
        "_splits",
        "_fault_set",
        "_fault_spec",
        "faults",
        "_outcome",
        "_criteria",
        "_records",
        "_record_view",
        "_transcript",
        "_live_record",
        "_recorder",
        "_option_model",
        "_option_parsers",
        "_options_pytest",
        "_options",
        "_option_types",
        "_plugin_inputs",
        "_config",
        "_record_files",
        "_pcap",
        "_chaos_settings",
        "_chaos",
        "_policy",
        "_dry_run",
        "_custom_faults",
        "_answer_plan",
        "_http",
        "_http_messages",
        "_replies",
        "_environ",
        "_leaks",
        "_leak_queries",
    ),
    # the I/O pipeline
    (
        "rawclient",
        "_leak_hook",
        "_guard",
        "_deadline",
        "_inline_task",
        "_udp_endpoint",
        "_sockets",
        "_side_reset",
        "_shaping",
        "_read_buffer",
        "_selector_paths",
        "_relay",
        "_idle_watch",
        "_splice",
        "_virtual",
        "_dialler",
        "_async_wait",
        "_checkpoints",
        "_registry",
        "_conversation",
        "_context",
        "_connection",
        "_answers",
        "_tunnel",
        "_requests",
        "_bind",
        "_udp",
        "_frontend_socks5",
        "_frontend_socks4",
        "_http_reading",
        "_forward_wire",
        "_forward_flow",
        "_http_forward",
        "_frontend_http",
        "_frontends",
        "_engine",
    ),
    # the public server and the public package
    (
        "_assertions",
        "_runner",
        "_server_checkpoints",
        "_server_faults",
        "_server_addresses",
        "_server",
        "_leak_watch",
        "testing",
        "__init__",
    ),
    # entry points
    ("_plugin_state",),
    ("plugin", "__main__"),
)

#: Layers (by index) that must not run an event loop or do I/O (``socket`` is allowed
#: for its constants and exception types, which the dial-error table maps).
PURE_LAYERS = (0, 1)
IO_MODULES = {"asyncio", "selectors", "ssl"}


def module_name(path: Path) -> str:
    """``_protocol`` for the ``_protocol`` package, ``_engine`` for ``_engine.py``."""
    relative = path.relative_to(PACKAGE)
    return relative.parts[0] if len(relative.parts) > 1 else relative.stem


def imports_of(source: str, depth: int = 0) -> set[str]:
    """Every module (of the package, by its first name below the package; or a top-level
    one) that ``source`` imports anywhere in its text; ``depth`` is how far below the
    package's top the file is (0 for a module at the top)."""
    tree = ast.parse(source)
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                found.add(parts[1] if parts[0] == NAME and len(parts) > 1 else parts[0])
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                parts = (node.module or "").split(".")
                if parts[0] != NAME:
                    found.add(parts[0])
                    continue
                below = parts[1:]
            elif node.level - 1 == depth:  # relative to the package's top
                below = (node.module or "").split(".") if node.module else []
            else:
                continue  # inside a subpackage, relative to itself
            if below and below[0]:
                found.add(below[0])
            else:  # from . import x, y
                found.update(alias.name for alias in node.names)
    return found


def package_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        depth = len(path.relative_to(PACKAGE).parts) - 1
        source = path.read_text(encoding="utf-8")
        graph.setdefault(module_name(path), set()).update(imports_of(source, depth))
    return graph


GRAPH = package_graph()
OWN = set(GRAPH)


def test_every_module_has_a_layer() -> None:
    placed = {name for layer in LAYERS for name in layer}
    assert sorted(OWN - placed) == [], "put each new module in a layer of LAYERS"
    assert sorted(placed - OWN) == [], "LAYERS names modules that no longer exist"


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for target in sorted(graph.get(node, set()) & OWN):
            if target == node:
                continue
            if state.get(target) == 1:
                return [*stack[stack.index(target) :], target]
            if target not in state and (cycle := visit(target)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_no_import_circle() -> None:
    cycle = find_cycle(GRAPH)
    assert cycle is None, "import circle: " + " -> ".join(cycle or [])


@pytest.mark.parametrize("module", sorted(OWN))
def test_imports_run_downward(module: str) -> None:
    rank = {name: i for i, layer in enumerate(LAYERS) for name in layer}
    upward = sorted(
        f"{target} (layer {rank[target]})"
        for target in GRAPH[module] & OWN
        if target in rank and module in rank and rank[target] > rank[module]
    )
    assert upward == [], f"{module} (layer {rank.get(module)}) imports upward: {upward}"


@pytest.mark.parametrize("module", sorted(n for i in PURE_LAYERS for n in LAYERS[i]))
def test_pure_layers_do_no_io(module: str) -> None:
    assert sorted(GRAPH.get(module, set()) & IO_MODULES) == []


def test_only_the_plugin_imports_pytest() -> None:
    importers = sorted(m for m, targets in GRAPH.items() if {"pytest", "_pytest"} & targets)
    assert importers == ["plugin"]


def test_the_checker_sees_every_kind_of_import() -> None:
    """A function-level import and one under TYPE_CHECKING both count."""
    source = (
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from ._engine import Engine\n"
        "def f():\n    from . import _relay\n    import pytest_socks5._udp\n"
    )
    assert {"_engine", "_relay", "_udp", "typing"} <= imports_of(source)
    assert find_cycle({"_engine": {"_relay"}, "_relay": {"_engine"}}) is not None
