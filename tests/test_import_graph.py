"""The library's import graph has no cycle, and its layers point one way.

Every import statement counts, those inside functions included: a deferred import (kept to spare
a job start-up time) is still a dependency of the module that makes it, and a cycle through one
is a cycle of the design. The graph is read from the source (ast), so nothing is imported here.
"""

import ast
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).resolve().parents[1] / "workflow_scripts"


def module_names() -> dict[str, Path]:
    """Dotted name -> file, for every module under workflow_scripts/ (the scripts included)."""
    names = {}
    for path in SCRIPTS.rglob("*.py"):
        parts = list(path.relative_to(SCRIPTS).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        names[".".join(parts)] = path
    return names


def _target(name: str, modules: dict) -> str | None:
    """The module of ours that `name` (a module or a name in one) resolves to, if any."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def import_graph() -> dict[str, set[str]]:
    """Module -> the modules of ours it imports (anywhere in its source)."""
    modules = module_names()
    graph = {name: set() for name in modules}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                wanted = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(parent + ([base] if base else []))
                wanted = [f"{base}.{alias.name}" for alias in node.names]
            else:
                continue
            graph[name] |= {target for target in (_target(w, modules) for w in wanted)
                            if target and target != name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_graph_is_read():
    graph = import_graph()
    assert "odesdegap.evaluation.distances" in graph["odesdegap.evaluation.sampler_metrics"]
    assert "odesdegap.devices" in graph["odesdegap.runtime"]  # a deferred import counts
    assert "odesdegap.evaluation.studies" in graph["nfe_sweep"]  # a script's imports count


def test_cycles_are_found():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle_in_workflow_scripts():
    assert cycles(import_graph()) == []


@pytest.mark.parametrize("lower, upper", [
    ("odesdegap.evaluation", "odesdegap.reporting"),
    ("odesdegap.diffusion", "odesdegap.evaluation"),
    ("odesdegap.settings", "odesdegap.config"),
])
def test_a_lower_layer_imports_nothing_from_a_higher_one(lower, upper):
    graph = import_graph()
    crossing = {module: sorted(target for target in targets if target.startswith(upper))
                for module, targets in graph.items() if module.startswith(lower)}
    assert {module: targets for module, targets in crossing.items() if targets} == {}


# What config may import: the settings objects, below it, and nothing of the domain (data sets,
# models, solvers, the published files), whose checks register themselves into config instead.
CONFIG_MAY_IMPORT = {"odesdegap.settings"}


def test_config_imports_no_domain_module():
    assert import_graph()["odesdegap.config"] <= CONFIG_MAY_IMPORT


def _registering_modules() -> set[str]:
    """The modules that register a config check or a list of choices (a call or a decorator
    naming config.register_check or config.register_choices)."""
    found = set()
    for name, path in module_names().items():
        if name == "odesdegap.config":
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            target = node.func if isinstance(node, ast.Call) else node
            if isinstance(target, ast.Name) and target.id in ("register_check",
                                                              "register_choices"):
                found.add(name)
    return found


def test_every_module_that_registers_a_config_check_is_imported_by_config_checks():
    registering = _registering_modules()
    assert {"odesdegap.data.datasets", "odesdegap.diffusion.samplers",
            "odesdegap.published.config_rules", "odesdegap.models"} <= registering
    assert registering - import_graph()["odesdegap.config_checks"] == set()
