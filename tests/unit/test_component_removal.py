"""Removing a component a host no longer runs (operations/base/removal.py): what each
component leaves is declared and matches what its install writes; the plan is made from
one fact only (so --dry is exact), names no per-host detail, removes only what the fact
found, keeps data unless <name>_purge_data; scrape targets and Grafana's data source
follow the inventory."""

from __future__ import annotations

import ast
import inspect
import re
import subprocess
from pathlib import Path

import pytest

from harness.doubles.grafana_double import GrafanaDouble
from harness.fake_host import FakeHost
from operations import stack
from operations.base import inventory as context, removal
from operations.base.component import Leaves
from operations.base.facts import DeployedLeftovers, program_stamp
from operations.components.grafana import provisioning as gp
from operations.components.grafana.api import GrafanaClient
from operations.base.services import Unit
from operations.components.prometheus import federation, targets
from operations.stack import validate

REPO = Path(__file__).resolve().parents[2]

# -- what each component leaves ----------------------------------------------------------
# With default settings: (config removed with it, data removed only with _purge_data). The
# base adds its unit, its release's programs in /usr/local/bin, its package, its user.
LEFTOVERS = {
    "node_exporter": (["/etc/node_exporter"],
                      ["/var/lib/node_exporter", "/var/lib/node_exporter/textfile_collector"]),
    "process_exporter": (["/etc/process_exporter"], []),
    "systemd_exporter": (["/etc/systemd_exporter"], []),
    "redis_exporter": (["/etc/redis_exporter"], []),
    "postgres_exporter": (["/etc/postgres_exporter"], []),
    "mysqld_exporter": (["/etc/mysqld_exporter"], []),
    "nginx_exporter": (["/etc/nginx_exporter", "/etc/nginx/conf.d/monstack-stub-status.conf"],
                       []),
    "cadvisor": ([], []),
    "pushgateway": (["/etc/pushgateway"], ["/var/lib/pushgateway"]),
    "blackbox_exporter": (["/etc/blackbox_exporter"], []),
    "snmp_exporter": (["/etc/snmp_exporter"], []),
    "alertmanager": (["/etc/alertmanager"], ["/var/lib/alertmanager"]),
    "victoriametrics": ([], ["/var/lib/victoriametrics"]),
    "vmstorage": ([], ["/var/lib/vmstorage"]),
    "vminsert": ([], []),
    "vmselect": ([], []),
    "prometheus": (["/etc/prometheus"], ["/var/lib/prometheus"]),
    "loki": (["/etc/loki"], ["/var/lib/loki"]),
    "jaeger": (["/etc/jaeger"], ["/var/lib/jaeger"]),
    "pyroscope": (["/etc/pyroscope"], ["/var/lib/pyroscope"]),
    "alloy": (["/etc/alloy"], ["/var/lib/alloy"]),
    "grafana": (["/etc/grafana"], ["/var/lib/grafana", "/var/lib/grafana/plugins"]),
}
PROGRAMS = {"alertmanager": ["alertmanager", "amtool"], "prometheus": ["prometheus", "promtool"],
            "victoriametrics": ["victoria-metrics"]}
# absolute paths named in a component's modules that are not the deploy's to remove: the
# package's own files, what it reads, the controller's, folders it only reads or shares
NOT_LEFT_BY_IT = {
    "/usr/bin/", "/usr/local/bin/", "/usr/share/grafana", "/var/run/docker.sock",
    "/var/log/", "/etc/systemd/system/", "/etc/nginx/nginx.conf", "/etc/nginx/conf.d/",
    "/etc/nginx/", "/run/", "/proc/", "/sys/", "/dev/", "/var/lib/docker", "/etc/monstack/",
    "/etc/os-release", "/usr/share/snmp", "/var/lib/mysql", "/var/run/", "/nonexistent",
    "/usr/lib/", "/etc/apt/", "/var/lib/postgresql", "/usr/local/share", "/etc/loki/config.yml",
    "/var/lib/monstack/", "/tmp/", "/",
    # the folder of Alertmanager's support files (program_files): Debian's package's
    "/usr/share/prometheus/alertmanager",
    "/etc/prometheus/snmp.yml",   # Debian's package's file, named in release notes
}


def module_files(name: str) -> list[Path]:
    module = inspect.getmodule(stack.INSTALLERS[name].install) or stack.INSTALLERS[name]
    path = Path(module.__file__)
    if path.parent.name in ("grafana", "alertmanager", "prometheus"):
        return sorted(path.parent.glob("*.py"))
    return [path]


def literal_paths(path: Path) -> set[str]:
    """The absolute paths a module spells out: string constants and the constant start of
    f-strings (up to their first placeholder)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            text = node.value
        elif isinstance(node, ast.JoinedStr) and node.values and isinstance(
                node.values[0], ast.Constant):
            text = node.values[0].value
        else:
            continue
        for m in re.finditer(r"(?<![\w.:/])(/(?:etc|var/lib|usr/local|usr/share)/[\w.@/-]*)",
                             text):
            found.add(m.group(1))
    return found


def default_leftovers(name: str) -> removal.Candidate:
    s = validate("h1", {})
    return removal.candidate(name, stack.INSTALLERS[name].home(s), s)


def test_every_installed_component_declares_what_it_leaves_and_a_purge_setting():
    assert set(LEFTOVERS) == set(stack.INSTALLED)
    for name, c in stack.INSTALLED.items():
        assert isinstance(c.leaves, Leaves) or callable(c.leaves), name
        assert f"{name}_purge_data" in stack.BY_NAME, name
        assert stack.BY_NAME[f"{name}_purge_data"].default is False
    for name, c in stack.COMPONENTS.items():
        if c.scrape_only:
            assert f"{name}_purge_data" not in stack.BY_NAME


@pytest.mark.parametrize("name", sorted(LEFTOVERS))
def test_the_table_of_leftovers(name):
    c = default_leftovers(name)
    config, data = LEFTOVERS[name]
    assert list(c.leaves.config) == config
    assert c.data == data
    assert c.programs == [f"/usr/local/bin/{b}" for b in PROGRAMS.get(name, [name])]


@pytest.mark.parametrize("name", sorted(LEFTOVERS))
def test_every_path_its_install_writes_has_a_removal_entry(name):
    """A new file or folder an install writes (spelled in its module) that no removal
    entry covers fails here: add it to the component's Leaves, or, when it is not the
    deploy's to remove, to NOT_LEFT_BY_IT."""
    # the rows one module installs (vmcluster's three) cover its paths together
    rows = [n for n in LEFTOVERS if module_files(n) == module_files(name)]
    covered = []
    for c in map(default_leftovers, rows):
        covered += [*c.leaves.config, *c.data, *c.leaves.program_files, *c.programs,
                    *(link for link, _ in c.leaves.links), *(t[0] for t in c.leaves.trees),
                    *c.leaves.diversions]
    missing = []
    for path in module_files(name):
        for p in literal_paths(path):
            if any(removal.under(p, k) for k in covered) or p in NOT_LEFT_BY_IT:
                continue
            if any(p.startswith(prefix) and prefix.endswith("/") and prefix != "/"
                   for prefix in NOT_LEFT_BY_IT):
                continue
            missing.append(f"{path.name}: {p}")
    assert not missing, missing


def test_cluster_rows_leave_only_their_own_program():
    assert default_leftovers("vminsert").programs == ["/usr/local/bin/vminsert"]
    assert default_leftovers("vmstorage").programs == ["/usr/local/bin/vmstorage"]
    assert default_leftovers("vminsert").user == "vminsert"


def test_packages_and_their_units():
    node = default_leftovers("node_exporter")
    assert (node.packages, node.packaged_units) == (["prometheus-node-exporter"],
                                                   ["prometheus-node-exporter"])
    prom = default_leftovers("prometheus")
    assert (prom.packages, prom.packaged_units) == (["prometheus"], [])  # same unit name
    loki = default_leftovers("loki")
    assert loki.leaves.diversions == ("/etc/systemd/system/loki.service",)
    grafana = default_leftovers("grafana")
    assert grafana.packaged_units == ["grafana-server"]
    assert "grafana" in grafana.packages
    assert default_leftovers("cadvisor").user is None   # runs as root: no service user


# -- the plan ------------------------------------------------------------------------------
class LeftoversHost:
    """Answers the one fact the removal asks with `present` (kind -> items); records the
    fact's arguments; any other fact fails the test."""

    name = "web1"

    def __init__(self, **present):
        self.present = present
        self.asked = []

    def get_fact(self, cls, **kwargs):
        assert cls is DeployedLeftovers, cls
        self.asked.append(kwargs)
        return {kind: list(self.present.get(kind, [])) for kind in DeployedLeftovers.KINDS}


@pytest.fixture
def plan(monkeypatch):
    """plan(present, data, running) -> [(name, command)] planned on host web1."""

    def run(present: dict, data: dict | None = None, running=("node_exporter",)):
        s = validate("web1", data or {})
        fake = LeftoversHost(**present)
        planned = []
        monkeypatch.setattr(removal, "host", fake)
        monkeypatch.setattr(removal, "settings", lambda: s)
        monkeypatch.setattr(removal.server, "shell", lambda name, commands: planned.append(
            (name, commands[0])))
        found = removal.plan({c: m.home for c, m in stack.INSTALLERS.items()}, list(running))
        for name in stack.COMPONENTS:
            if name in found:
                removal.remove(found[name])
        return planned, fake

    return run


REDIS = {"units": ["redis_exporter"], "started": ["redis_exporter"],
         "programs": ["/usr/local/bin/redis_exporter"],
         "stamps": ["/usr/local/bin/redis_exporter"], "paths": ["/etc/redis_exporter"]}


def test_an_archive_exporter_is_stopped_and_its_unit_programs_and_config_go(plan):
    planned, fake = plan(REDIS)
    assert len(fake.asked) == 1   # one fact for every component
    assert [n for n, _ in planned] == [
        "Remove redis_exporter (disabled here): stop, disable, unit, programs",
        "Remove redis_exporter's config and started stamp (disabled here)"]
    stop, config = (c for _, c in planned)
    assert stop == ("systemctl disable --now redis_exporter.service && "
                    "rm -f /etc/systemd/system/redis_exporter.service && "
                    "systemctl daemon-reload && rm -f /usr/local/bin/redis_exporter "
                    f"{program_stamp('/usr/local/bin/redis_exporter')}")
    assert config == ("rm -rf /etc/redis_exporter && "
                      "rm -f /var/lib/monstack/started/redis_exporter.service")


def test_nothing_found_plans_nothing(plan):
    planned, fake = plan({})
    assert planned == [] and len(fake.asked) == 1


def test_what_the_host_runs_is_never_a_candidate(plan):
    _, fake = plan({}, running=("node_exporter", "prometheus"))
    asked = fake.asked[0]
    assert "node_exporter" not in asked["units"] and "prometheus" not in asked["units"]
    assert "/usr/local/bin/promtool" not in asked["programs"]
    assert "/etc/prometheus" not in asked["paths"]
    assert "redis_exporter" in asked["units"]


def test_data_and_user_are_kept_unless_purged(plan):
    present = {**REDIS, "units": ["pushgateway"], "started": [], "programs": [], "stamps": [],
               "paths": ["/etc/pushgateway", "/var/lib/pushgateway"],
               "users": ["pushgateway"], "groups": ["pushgateway"]}
    planned, fake = plan(present)
    assert "/var/lib/pushgateway" not in fake.asked[0]["paths"]   # not even asked
    assert "pushgateway" not in fake.asked[0]["users"]
    assert not any("data" in n for n, _ in planned)
    planned, _ = plan(present, {"pushgateway_purge_data": True})
    name, command = planned[-1]
    assert name == ("Remove pushgateway's data and service user (disabled here, "
                    "pushgateway_purge_data)")
    assert command == ("rm -rf /var/lib/pushgateway && userdel pushgateway && "
                       "if getent group pushgateway >/dev/null; then groupdel pushgateway; fi")


def test_a_run_cut_short_after_the_unit_went_converges(plan):
    """Only the started stamp and config are left: the stop may find no unit (|| true)."""
    planned, _ = plan({"started": ["redis_exporter"], "paths": ["/etc/redis_exporter"]})
    assert planned[0][1] == ("{ systemctl disable --now redis_exporter.service 2>/dev/null "
                             "|| true; } && systemctl daemon-reload")
    assert planned[1][1].endswith("rm -f /var/lib/monstack/started/redis_exporter.service")


def test_the_package_method_removes_the_package_and_unmasks_its_unit(plan):
    present = {"units": ["node_exporter"], "started": ["node_exporter"],
               "packages": ["prometheus-node-exporter"], "masked": ["prometheus-node-exporter"],
               "paths": ["/etc/node_exporter"]}
    planned, _ = plan(present, {"node_exporter_install_method": "package"}, running=())
    names = [n for n, _ in planned]
    assert names[1] == "Remove node_exporter's package (disabled here)"
    command = planned[1][1]
    assert "apt-get remove -y -q prometheus-node-exporter" in command
    assert command.endswith("rm -f /etc/systemd/system/prometheus-node-exporter.service && "
                            "systemctl daemon-reload")


def test_a_package_the_deploy_did_not_install_is_left(plan):
    """Installed, but no unit, stamp or mask of ours: the operator's."""
    planned, _ = plan({"packages": ["prometheus-node-exporter"]},
                      {"node_exporter_install_method": "package"}, running=())
    assert planned == []


def test_a_package_someone_else_masked_is_left(plan):
    """Installed and its unit masked, but the deploy never ran it here (no unit of ours,
    no started stamp): someone else's (a host running victoria-metrics' binary itself)."""
    planned, _ = plan({"packages": ["victoria-metrics"], "masked": ["victoria-metrics"]},
                      {}, running=())
    assert planned == []


def test_lokis_package_and_diversion(plan):
    present = {"units": ["loki"], "started": ["loki"], "packages": ["loki"],
               "diversions": ["/etc/systemd/system/loki.service"]}
    planned, _ = plan(present, {"loki_install_method": "package"})
    command = dict(planned)["Remove loki's package (disabled here)"]
    assert "apt-get remove -y -q loki" in command
    assert ("dpkg-divert --package monstack --remove /etc/systemd/system/loki.service && "
            "rm -f /etc/systemd/system/loki.service.monstack-packaged") in command


def test_nginx_is_checked_and_reloaded_after_its_status_server_goes(plan):
    status = "/etc/nginx/conf.d/monstack-stub-status.conf"
    planned, _ = plan({"paths": ["/etc/nginx_exporter", status]})
    assert planned == [("Remove nginx_exporter's config and started stamp (disabled here)",
                        f"rm -rf /etc/nginx_exporter {status} && nginx -t -q && "
                        "systemctl try-reload-or-restart nginx")]
    planned, _ = plan({"paths": ["/etc/nginx_exporter"]})
    assert "nginx" not in planned[0][1].replace("nginx_exporter", "")


def test_grafanas_archive_tree_and_link_and_plugins_only_on_purge(plan):
    present = {"units": ["grafana"], "trees": ["/usr/local/share/grafana-12.0.0"],
               "links": ["/usr/local/bin/grafana"],
               "paths": ["/etc/grafana", "/var/lib/grafana", "/var/lib/grafana/plugins"]}
    planned, fake = plan(present)
    stop = planned[0][1]
    assert "rm -f /usr/local/bin/grafana" in stop
    assert "rm -rf /usr/local/share/grafana-12.0.0" in stop
    assert ["/usr/local/share", "grafana-*", ".monstack-archive-sha256"] in fake.asked[0]["trees"]
    assert not any("/var/lib/grafana" in c for _, c in planned)
    planned, fake = plan(present, {"grafana_purge_data": True})
    assert "/var/lib/grafana/plugins" in fake.asked[0]["paths"]
    assert planned[-1][1].startswith("rm -rf /var/lib/grafana /var/lib/grafana/plugins")


def test_alertmanagers_support_files_go_only_with_its_stamped_programs(plan):
    tmpl = "/usr/share/prometheus/alertmanager/default.tmpl"
    planned, _ = plan({"paths": [tmpl]})   # the package's file: no stamp of ours
    assert planned == []
    planned, _ = plan({"paths": [tmpl], "stamps": ["/usr/local/bin/alertmanager"],
                       "programs": ["/usr/local/bin/alertmanager"]})
    assert tmpl in planned[0][1]


def test_names_carry_no_per_host_detail(plan):
    first, _ = plan(REDIS)
    other, _ = plan({"started": ["redis_exporter"], "paths": ["/etc/redis_exporter"]})
    assert [n for n, _ in first] == [n for n, _ in other]
    for name, _ in first:
        assert "web1" not in name and "/" not in name


@pytest.mark.parametrize("path, kept, ok", [
    ("/etc", [], False), ("/var/lib", [], False), ("/nonexistent", [], False),
    ("/var/lib/foo", [], True), ("/var/lib/foo", ["/var/lib/foo/bar"], False),
    ("/var/lib/foo/bar", ["/var/lib/foo"], False), ("/var/lib/foo", ["/var/lib/foo"], False),
    ("/var/lib/foo", ["/var/lib/foobar"], True), ("relative/x", [], False)])
def test_what_may_be_removed(path, kept, ok):
    assert removal.removable(path, kept) is ok


def test_a_shared_data_folder_of_a_running_component_is_kept(plan):
    """vmstorage's data set to Prometheus' folder: Prometheus runs, it is never purged."""
    _, fake = plan({}, {"vmstorage_data_dir": "/var/lib/prometheus",
                        "vmstorage_purge_data": True}, running=("prometheus",))
    assert "/var/lib/prometheus" not in fake.asked[0]["paths"]


# -- the fact, on this machine -------------------------------------------------------------
def test_the_fact_finds_paths_links_and_marked_trees(tmp_path):
    (tmp_path / "etc-x").mkdir()
    (tmp_path / "share").mkdir()
    tree = tmp_path / "share/grafana-1.0"
    tree.mkdir()
    (tree / ".marker").write_text("x")
    (tmp_path / "share/grafana-2.0").mkdir()   # no marker: not ours
    (tmp_path / "link").symlink_to(tree)
    (tmp_path / "other-link").symlink_to("/elsewhere")
    fact = DeployedLeftovers()
    command = fact.command(
        removal.unit_header(), units=["monstack-test-no-such-unit"],
        programs=["/usr/local/bin/monstack-test-none"],
        paths=[str(tmp_path / "etc-x"), str(tmp_path / "missing")],
        links=[[str(tmp_path / "link"), str(tmp_path / "share/grafana-")],
               [str(tmp_path / "other-link"), str(tmp_path / "share/grafana-")]],
        trees=[[str(tmp_path / "share"), "grafana-*", ".marker"]],
        users=["root", "monstack-test-no-such-user"],
        packages=["bash", "monstack-test-no-such-package", "dpkg"])
    res = subprocess.run(["sh", "-c", command], capture_output=True, text=True)
    assert res.returncode == 0
    found = fact.process(res.stdout.splitlines())
    assert found["paths"] == [str(tmp_path / "etc-x")]
    assert found["links"] == [str(tmp_path / "link")]
    assert found["trees"] == [str(tree)]
    assert found["users"] == ["root"] and found["groups"] == ["root"]
    assert found["packages"] == ["bash", "dpkg"]   # one dpkg-query for all
    assert found["units"] == found["programs"] == found["stamps"] == []


def test_every_word_the_fact_script_echoes_is_read_back_as_its_kind():
    """Each line the script prints starts with a word naming its kind: every such word
    of the script is read back, none dropped (a masked unit's "masked" once was)."""
    fact = DeployedLeftovers()
    command = fact.command(
        removal.unit_header(), units=["u"], programs=["/p"], paths=["/x"],
        links=[["/l", "/t-"]], trees=[["/t", "t-*", ".m"]], packages=["pkg"],
        masked=["m"], diversions=["/d"], diverted_by="monstack", users=["s"])
    words = set(re.findall(r'"(\w+) \$\w', command))   # printf ... "unit $n"
    assert len(words) == len(DeployedLeftovers.KINDS), words
    found = fact.process(["leftovers:", *(f"{word} x" for word in sorted(words))])
    assert sorted(kind for kind, values in found.items() if values) == sorted(
        DeployedLeftovers.KINDS), (words, found)


def test_the_unit_header_is_the_templates_first_line():
    assert removal.unit_header().startswith("# Managed by monstack")
    assert Unit(name="x", description="x", exec_start=["/bin/true"], user="x").content(
        ).splitlines()[0] == removal.unit_header()


# -- scrape targets and Grafana's data source follow the inventory ---------------------------
@pytest.fixture
def fleet(monkeypatch):
    """fleet(per_host) -> the hosts, each with its settings (mon1 in monitoring)."""

    def make(per_host: dict[str, dict]):
        hosts = [FakeHost(n, groups=("monitoring",) if n == "mon1" else ())
                 for n in per_host]
        known = {h.name: validate(h.name, per_host[h.name]) for h in hosts}
        lookup = lambda h=None: known[(h or hosts[0]).name]  # noqa: E731
        monkeypatch.setattr(context, "inventory", hosts)
        monkeypatch.setattr(context, "current_host", hosts[0])   # Prometheus' host
        for module in (context, federation, gp):
            monkeypatch.setattr(module, "settings", lookup)
        return hosts, known

    return make


def test_prometheus_drops_the_targets_of_a_disabled_exporter(fleet):
    fleet({"mon1": {}, "web1": {}})
    with_it = [g["labels"]["host"] for g in targets.file_sd_groups("node_exporter")]
    assert with_it == ["mon1", "web1"]
    fleet({"mon1": {}, "web1": {"node_exporter_enabled": False}})
    assert [g["labels"]["host"] for g in targets.file_sd_groups("node_exporter")] == ["mon1"]
    fleet({"mon1": {"node_exporter_enabled": False}, "web1": {"node_exporter_enabled": False}})
    # the job stays, empty: a later host shows up without a reload of the config
    assert {"name": "node", "comment": "host metrics", "component": "node_exporter",
            "honor_labels": False, "groups": []} in targets.inventory_jobs()


def test_a_disabled_lokis_data_source_is_pruned_from_grafana(fleet, monkeypatch):
    password = "s3cret-Grafana-admin"
    monkeypatch.setenv("GRAFANA_ADMIN_PASSWORD", password)
    _, known = fleet({"mon1": {"loki_enabled": True}})
    with_loki = gp.datasources(known["mon1"])
    assert "loki" in [d["uid"] for d in with_loki]
    _, known = fleet({"mon1": {"loki_enabled": False}})
    without = gp.datasources(known["mon1"])
    assert "loki" not in [d["uid"] for d in without]

    def plan(datasources):
        return {"folders": [], "datasources": datasources, "dashboards": [],
                "contact_points": [], "prune": True, "legacy": {}}

    with GrafanaDouble(admin_password=password) as double, GrafanaClient(
            double.url, basic_auth=("admin", password), timeout=2, retries=0) as client:
        client.provision(plan(with_loki))
        assert "loki" in double.state.datasources
        removed = [r for r in client.provision(plan(without)) if r[2] != "unchanged"]
        assert ("datasource", "loki") in [r[:2] for r in removed]
        assert "loki" not in double.state.datasources
        assert "prometheus" in double.state.datasources
