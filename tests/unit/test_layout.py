"""The layout's rules (operations/README.md), checked on the source: the shared base
imports no component, no import cycle, no module over 650 lines, and no test module
edits sys.path (pytest.ini's pythonpath has the repository and tests/)."""

from __future__ import annotations

import ast
from pathlib import Path

from operations import stack

REPO = Path(__file__).resolve().parents[2]
OPERATIONS = REPO / "operations"
MAX_LINES = 650


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in OPERATIONS.rglob("*.py")}


def imports_of(path: Path) -> set[str]:
    """The operations modules `path` imports, at its top or inside a function."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            assert node.level == 0, f"{path}: relative import of {node.module}"
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                found.add(full if full in MODULES else node.module)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
    return {m for m in found if m in MODULES}


GRAPH = {name: imports_of(path) for name, path in MODULES.items()}


def test_the_shared_base_imports_no_component():
    reaching_up = {name: sorted(m for m in deps if not m.startswith("operations.base"))
                   for name, deps in GRAPH.items() if name.startswith("operations.base")}
    assert {k: v for k, v in reaching_up.items() if v} == {}


def test_no_import_cycle():
    cycles = []

    def visit(name, path):
        for dep in GRAPH[name]:
            if dep in path:
                cycles.append(path[path.index(dep):] + [dep])
            elif dep not in seen:
                seen.add(dep)
                visit(dep, path + [dep])

    for start in GRAPH:
        seen = {start}
        visit(start, [start])
    assert cycles == []


def test_no_module_is_over_650_lines():
    long = {str(p.relative_to(REPO)): n for p in OPERATIONS.rglob("*.py")
            if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert long == {}


def test_every_component_lives_under_components():
    for component, installer in stack.INSTALLERS.items():
        module = getattr(installer, "__name__", type(installer).__module__)
        assert module.startswith("operations.components."), (component, module)


def test_no_test_module_edits_sys_path():
    edits = [str(p.relative_to(REPO)) for p in (REPO / "tests").rglob("test_*.py")
             if any(isinstance(n, ast.Call) and ast.unparse(n.func) == "sys.path.insert"
                    for n in ast.walk(ast.parse(p.read_text())))]
    assert edits == []


def test_a_component_imported_on_its_own_finds_the_catalogue():
    """A user's own deploy imports one component (README: "Using a component from your
    own deploy"): the catalogue is defined all the same."""
    import subprocess
    import sys
    res = subprocess.run(
        [sys.executable, "-c", "from operations.components import node_exporter; "
         "from operations.base import catalogue; print(len(catalogue.components()))"],
        cwd=REPO, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert int(res.stdout) == len(stack.COMPONENTS)


def test_each_template_folder_is_a_component_room():
    """templates/<component>/ holds a component's config templates, alert rule sets and
    dashboards (systemd/ is the shared unit template, backup/ the shared backup script,
    its units and its rule set): a folder of another name is a component's files that no
    component owns."""
    rooms = {p.name for p in (REPO / "templates").iterdir() if p.is_dir()}
    assert rooms - {"systemd", "backup"} <= set(stack.COMPONENTS), rooms - set(stack.COMPONENTS)


def test_rule_sets_and_dashboards_are_found_in_their_rooms():
    from operations.base.templates import shipped_dashboards, shipped_rule_sets
    sets = shipped_rule_sets()
    assert {"host": "node_exporter", "redis": "redis_exporter", "containers": "cadvisor",
            "watchdog": "prometheus"}.items() <= {n: p.parent.name for n, p in sets.items()}.items()
    assert stack.BY_NAME["prometheus_shipped_rules"].default == list(sets)
    owners = {p.name: p.parent.name for p in shipped_dashboards()}
    assert owners["monstack-hosts.dashboard.json"] == "node_exporter"
    assert owners["monstack-logs.dashboard.json"] == "loki"
