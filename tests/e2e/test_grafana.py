"""An operator adds Grafana to the monitoring host: installed from the release archive,
then its data sources, folder and dashboards provisioned over its HTTP API.

The archive on the mirror is upstream-shaped, but its bin/grafana starts the GRAFANA API
TEST DOUBLE (tests/harness/doubles/grafana_double.py, see harness/doubles/grafana_archive.py): it is not
Grafana. The archive is published at the pinned grafana_version (13.x: bin/grafana alone),
so the deploy takes that version's code paths. What is tested is the deploy: archive install, hardened unit, readiness on
/api/health, provisioning, --dry equal to the real run, a second run changing nothing.
The double keeps its objects in memory, so these tests never restart it on purpose.
"""

import base64
import json
import tomllib
from pathlib import Path
import urllib.request

import pytest

from conftest import hosts_fixture, write_inventory
from harness.dashboards import uid_of
from harness.doubles import community_dashboard, grafana_archive, grafana_test_plugin
from harness.pyinfra_cli import assert_preview_was_exact, preview_then_run, run_pyinfra
from harness.stack import mirror_settings, service_pids
from operations.base.templates import shipped_dashboards
from operations.components.grafana import community
from operations.stack import COMPONENTS, RELEASES

pytestmark = pytest.mark.fleet

hosts = hosts_fixture(1)
PASSWORD = "e2e-Grafana-admin-pw#1"
ENV = {"GRAFANA_ADMIN_PASSWORD": PASSWORD}
RUNS = {"prometheus", "alertmanager", "node_exporter", "grafana"}
# no Loki in this inventory: the Logs dashboard is left out
DASHBOARDS = sorted(uid_of(p) for p in shipped_dashboards() if uid_of(p) != "monstack-logs")
# folder, 2 data sources, the dashboards and the automation service account
PROVISION_ALL = f"Provision Grafana: {1 + 2 + len(DASHBOARDS) + 1} objects to create or update"


@pytest.fixture(scope="module")
def stack(hosts, fleet, mirror, tmp_path_factory):
    (mon,) = hosts
    settings = mirror_settings(mirror, ["prometheus", "alertmanager", "node_exporter"])
    grafana = grafana_archive.publish(mirror, tmp_path_factory.mktemp("grafana-archive"))
    settings["artifact_checksums"].update(grafana.pop("artifact_checksums"))
    # the synthetic grafana.com-shaped recording, pinned (used only where a test names it)
    settings["artifact_checksums"].update(community_dashboard.publish(mirror))
    settings.update(grafana)
    settings["artifact_cache_dir"] = str(tmp_path_factory.mktemp("artifact-cache"))
    settings["grafana_token_dir"] = str(tmp_path_factory.mktemp("grafana-tokens"))
    settings.update({f"{c}_enabled": False for c in COMPONENTS if c not in RUNS})
    inventory = write_inventory(tmp_path_factory.mktemp("inventory") / "inventory.py", fleet,
                                {"monitoring": [mon]}, group_data={"all": settings})
    return {"inventory": inventory, "mon": mon, "version": settings["grafana_version"],
            "mirror": mirror,
            "token_file": Path(settings["grafana_token_dir"]) / f"{mon.ip}.token"}


def deploy(stack, **kw):
    return run_pyinfra(stack["inventory"], env=ENV, **kw)


@pytest.fixture(scope="module")
def first_runs(stack):
    return preview_then_run(stack["inventory"], env=ENV)


def api(mon, path: str):
    token = base64.b64encode(f"admin:{PASSWORD}".encode()).decode()
    req = urllib.request.Request(f"http://{mon.ip}:3000{path}",
                                 headers={"Authorization": f"Basic {token}"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read())


def test_dry_run_lists_exactly_what_the_first_run_does(first_runs):
    dry, real = first_runs
    assert_preview_was_exact(dry, real)
    assert real.changes[PROVISION_ALL] == 1
    assert real.changes["Grafana | Restart grafana and wait until ready"] == 1
    for run in first_runs:
        assert PASSWORD not in run.output


def test_grafana_is_provisioned(stack, first_runs):
    mon = stack["mon"]
    health = api(mon, "/api/health")
    assert health["database"] == "ok" and health["commit"] == "test-double"
    assert stack["version"] == RELEASES["grafana"]["version"]   # what a real deploy installs
    prom = api(mon, "/api/datasources/uid/prometheus")
    assert (prom["type"], prom["url"], prom["isDefault"]) == (
        "prometheus", f"http://{mon.ip}:9090", True)
    am = api(mon, "/api/datasources/uid/alertmanager")
    assert am["type"] == "alertmanager" and am["jsonData"] == {"implementation": "prometheus"}
    assert api(mon, "/api/folders/monstack")["title"] == "Monitoring"
    for uid in DASHBOARDS:
        assert api(mon, f"/api/dashboards/uid/{uid}")["meta"]["folderUid"] == "monstack", uid


def test_the_service_is_hardened_and_its_config_private(stack, first_runs):
    mon, tree = stack["mon"], f"/usr/local/share/grafana-{stack['version']}"
    unit = mon.ssh("systemctl cat grafana").stdout
    for line in ("User=grafana", "ProtectSystem=strict", "NoNewPrivileges=yes",
                 "ReadWritePaths=/var/lib/grafana", f"ExecStart={tree}/bin/grafana \\",
                 "    --config=/etc/grafana/grafana.ini \\", f"    --homepath={tree}"):
        assert line in unit.splitlines(), line
    pid = mon.ssh("systemctl show -p MainPID --value grafana").stdout.strip()
    assert mon.ssh(f"ps -o user= -p {pid}").stdout.strip() == "grafana"
    assert mon.ssh("stat -c '%a %U:%G' /etc/grafana/grafana.ini").stdout.strip() == \
        "640 root:grafana"
    assert mon.ssh("stat -c '%a %U:%G' /etc/grafana /var/lib/grafana").stdout.split("\n")[:2] \
        == ["750 root:grafana", "750 grafana:grafana"]
    assert mon.ssh(f"cat {tree}/.monstack-archive-sha256").stdout.strip()
    assert mon.ssh(f"{tree}/bin/grafana --version").stdout.startswith(
        "grafana TEST DOUBLE (NOT Grafana)")
    # the package's unit name is never used by the archive install
    assert mon.ssh("systemctl cat grafana-server", check=False).returncode != 0


def test_a_second_run_changes_nothing(stack, first_runs):
    mon = stack["mon"]
    before = service_pids(mon, ["grafana", "prometheus"])
    dry = deploy(stack, dry=True).check()
    again = deploy(stack).check()
    assert dry.changed_ops() == {} and again.changed_ops() == {}, (dry.changes, again.changes)
    assert "data sources, folder and dashboards are up to date" in again.output
    assert service_pids(mon, ["grafana", "prometheus"]) == before


def test_a_new_dashboard_is_one_change_in_dry_and_real_run(stack, first_runs, tmp_path):
    mon = stack["mon"]
    (tmp_path / "team.json").write_text(json.dumps({"uid": "e2e-team", "title": "E2E team"}))
    data = {"grafana_dashboards_dir": str(tmp_path)}
    dry = deploy(stack, dry=True, data=data).check()
    real = deploy(stack, data=data).check()
    expected = {"Provision Grafana: 1 objects to create or update": 1}
    assert dry.changed_ops() == real.changed_ops() == expected
    assert api(mon, "/api/dashboards/uid/e2e-team")["meta"]["folderUid"] == "monstack"
    assert deploy(stack, data=data).check().changed_ops() == {}


def test_the_automation_token_is_kept_on_the_controller_and_works(stack, first_runs):
    token_file = stack["token_file"]
    assert oct(token_file.stat().st_mode & 0o777) == "0o600"
    key = token_file.read_text().strip()
    req = urllib.request.Request(f"http://{stack['mon'].ip}:3000/api/folders/monstack",
                                 headers={"Authorization": f"Bearer {key}"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        assert json.loads(resp.read())["uid"] == "monstack"
    for run in first_runs:
        assert key not in run.output


def test_a_community_dashboard_from_the_mirror_lands_in_its_folder(stack, first_runs):
    """grafana_community_dashboards: the recording (SYNTHETIC, grafana.com's export shape)
    is read from <mirror>/grafana-dashboards/ once, its ${DS_PROMETHEUS} and constant
    replaced, and provisioned into the folder it names: --dry lists exactly that, a second
    run changes nothing."""
    mon, rec = stack["mon"], community_dashboard
    folder = community.folder_uid("Community")
    data = {"grafana_community_dashboards": json.dumps(
        [{"id": rec.ID, "revision": rec.REVISION, "folder": "Community"}])}
    dry = deploy(stack, dry=True, data=data).check()
    real = deploy(stack, data=data).check()
    expected = {"Provision Grafana: 2 objects to create or update": 1}
    assert dry.changed_ops() == real.changed_ops() == expected
    assert f"will create folder {folder}, create dashboard {rec.UID}" in dry.output
    assert f"create folder {folder}, create dashboard {rec.UID}" in real.output
    # downloaded once into the controller's cache: the real run read it from there
    assert stack["mirror"].requests.count(f"grafana-dashboards/{rec.file_name()}") == 1
    assert api(mon, f"/api/folders/{folder}")["title"] == "Community"
    got = api(mon, f"/api/dashboards/uid/{rec.UID}")
    assert got["meta"]["folderUid"] == folder
    model = got["dashboard"]
    text = json.dumps(model)
    assert "${DS_" not in text and "${VAR_" not in text
    assert not {"__inputs", "__requires", "__elements"} & set(model)
    assert model["gnetId"] == rec.ID and model["title"] == rec.TITLE
    assert [p["datasource"] for p in model["panels"]] == [
        {"type": "prometheus", "uid": "prometheus"}] * 2
    assert model["templating"]["list"][0]["query"] == "node"
    assert deploy(stack, dry=True, data=data).check().changed_ops() == {}
    again = deploy(stack, data=data).check()
    assert again.changed_ops() == {}
    assert "data sources, folder and dashboards are up to date" in again.output


# -- plugins: these run last. Installing or removing a plugin restarts Grafana, and the
# double keeps its objects in memory (a real Grafana keeps them in its database): the run
# after such a restart provisions everything again, which these tests assert as such.
PLUGIN = grafana_test_plugin.PLUGIN_ID
PLUGINS = "/var/lib/grafana/plugins"
RESTART = "Grafana | Restart grafana and wait until ready"


@pytest.fixture(scope="module")
def plugin(mirror, tmp_path_factory):
    """The test plugin's grafana_plugins entry, its zip on the mirror (grafana-plugins/)."""
    return grafana_test_plugin.publish(mirror, tmp_path_factory.mktemp("plugin"), "1.0.0")


@pytest.fixture(scope="module")
def plugin_runs(stack, first_runs, plugin):
    return preview_then_run(stack["inventory"], env=ENV,
                            data={"grafana_plugins": json.dumps([plugin])})


def test_a_plugin_from_the_mirror_is_installed_and_grafana_restarted_once(stack, plugin,
                                                                          plugin_runs):
    dry, real = plugin_runs
    assert_preview_was_exact(dry, real)
    assert real.changed_ops() == {
        f"Grafana | Install Grafana plugin {PLUGIN} 1.0.0": 1, RESTART: 1}, real.changes
    mon = stack["mon"]
    assert mon.ssh(f"cat {PLUGINS}/{PLUGIN}/.monstack-plugin-sha256").stdout.strip() == \
        plugin["sha256"]
    assert mon.ssh(f"stat -c '%a %U' {PLUGINS}/{PLUGIN} {PLUGINS}/{PLUGIN}/plugin.json"
                   ).stdout.split("\n")[:2] == ["755 root", "644 root"]
    assert mon.ssh(f"ls -A {PLUGINS}").stdout.split() == [PLUGIN]   # nothing left staged
    [listed] = api(mon, "/api/plugins")
    assert (listed["id"], listed["type"], listed["info"]["version"]) == (PLUGIN, "panel",
                                                                        "1.0.0")
    assert api(mon, f"/api/plugins/{PLUGIN}/settings")["info"]["version"] == "1.0.0"


def test_with_the_plugin_a_second_run_changes_and_restarts_nothing(stack, plugin,
                                                                   plugin_runs):
    data = {"grafana_plugins": json.dumps([plugin])}
    # the double forgot its objects in that restart: provisioned again, plugin untouched
    assert deploy(stack, data=data).check().changed_ops() == {PROVISION_ALL: 1}
    before = service_pids(stack["mon"], ["grafana"])
    dry = deploy(stack, dry=True, data=data).check()
    again = deploy(stack, data=data).check()
    assert dry.changed_ops() == {} and again.changed_ops() == {}, (dry.changes, again.changes)
    assert service_pids(stack["mon"], ["grafana"]) == before


def test_a_dropped_plugin_is_removed_and_a_hand_placed_one_stays(stack, plugin_runs):
    mon = stack["mon"]
    hand = f"{PLUGINS}/hand-placed-panel"
    mon.ssh(f"mkdir -p {hand} && echo '{{\"id\": \"hand-placed-panel\", \"type\": "
            f"\"panel\"}}' > {hand}/plugin.json")
    data = {"grafana_plugins": "[]"}
    dry, real = preview_then_run(stack["inventory"], env=ENV, data=data)
    assert_preview_was_exact(dry, real)
    assert real.changed_ops() == {
        f"Grafana | Remove Grafana plugin {PLUGIN} (installed by the deploy, no longer in "
        "grafana_plugins)": 1, RESTART: 1}, real.changes
    assert mon.ssh(f"ls -A {PLUGINS}").stdout.split() == ["hand-placed-panel"]
    assert mon.ssh(f"cat {hand}/plugin.json").stdout.strip() == \
        '{"id": "hand-placed-panel", "type": "panel"}'
    assert api(mon, "/api/plugins") == []   # unsigned: Grafana (and the double) skip it
    assert deploy(stack, data=data).check().changed_ops() == {PROVISION_ALL: 1}   # as above
    assert deploy(stack, data=data).check().changed_ops() == {}


# -- mail and login: [smtp], LDAP (ldap.toml) and generic OAuth ----------------------------------
# Last in this module: writing them restarts Grafana, and the double (unlike Grafana, whose
# database is on disk) then forgets the objects it was given, so the run after it provisions
# them again. The double speaks neither SMTP, LDAP nor OAuth: what is tested is the files the
# deploy puts on the host, the secrets kept out of its output, --dry and idempotence.
SMTP_PW, LDAP_PW, OAUTH_SECRET = "e2e-smtp-Pw#2;x", 'e2e-ldap-"bind"-Pw3', "e2e-oauth-secret-4"
LOGIN_SECRETS = (PASSWORD, SMTP_PW, LDAP_PW, OAUTH_SECRET)
LOGIN_ENV = {**ENV, "E2E_SMTP_PW": SMTP_PW, "E2E_LDAP_PW": LDAP_PW,
             "E2E_OAUTH_SECRET": OAUTH_SECRET}
LOGIN = {
    "grafana_smtp_enabled": "true", "grafana_smtp_host": "smtp.example.org:587",
    "grafana_smtp_user": "grafana@example.org", "grafana_smtp_password_secret": "E2E_SMTP_PW",
    "grafana_smtp_from_address": "grafana@example.org",
    "grafana_ldap_enabled": "true", "grafana_ldap_host": "ldap.example.org",
    "grafana_ldap_bind_dn": "cn=grafana,ou=services,dc=example,dc=org",
    "grafana_ldap_bind_password_secret": "E2E_LDAP_PW",
    "grafana_ldap_search_base_dns": "['ou=people,dc=example,dc=org']",
    "grafana_ldap_group_mappings": "[{group_dn: '*', org_role: Editor}]",
    "grafana_oauth_enabled": "true", "grafana_oauth_client_id": "grafana",
    "grafana_oauth_client_secret_secret": "E2E_OAUTH_SECRET",
    "grafana_oauth_auth_url": "https://sso.example.org/auth",
    "grafana_oauth_token_url": "https://sso.example.org/token",
    "grafana_oauth_api_url": "https://sso.example.org/userinfo",
}
WRITE_INI = "Grafana | Write grafana.ini (Grafana has no config checker)"
WRITE_LDAP = ("Grafana | Write ldap.toml (Grafana's LDAP servers; no checker: parsed as TOML on "
              "the controller)")
REMOVE_LDAP = "Grafana | Remove ldap.toml (LDAP is off)"
RESTART = "Grafana | Restart grafana and wait until ready"


def login_deploy(stack, data, **kw):
    return run_pyinfra(stack["inventory"], env=LOGIN_ENV, data=data, **kw).check()


def assert_no_secret(*runs):
    for run in runs:
        assert not [s for s in LOGIN_SECRETS if s in run.output]


@pytest.fixture(scope="module")
def login_runs(stack, first_runs):
    dry = login_deploy(stack, LOGIN, dry=True, extra=["--diff"])
    real = login_deploy(stack, LOGIN, extra=["-vvv", "--diff"])
    return dry, real


def test_login_dry_run_is_exact_and_no_secret_is_shown(login_runs):
    dry, real = login_runs
    assert_preview_was_exact(dry, real)
    assert real.changed_ops() == {WRITE_INI: 1, WRITE_LDAP: 1, RESTART: 1}
    assert "Will create" in dry.output and "ldap.toml" in dry.output   # the diff was shown
    assert_no_secret(dry, real)


def test_login_files_on_the_host(stack, login_runs):
    mon = stack["mon"]
    for path in ("/etc/grafana/grafana.ini", "/etc/grafana/ldap.toml"):
        assert mon.ssh(f"stat -c '%a %U:%G' {path}").stdout.strip() == "640 root:grafana"
    ini = mon.ssh("cat /etc/grafana/grafana.ini").stdout
    for line in ("[smtp]", "enabled = true", 'host = """smtp.example.org:587"""',
                 f'password = """{SMTP_PW}"""', "startTLS_policy = MandatoryStartTLS",
                 "[auth.ldap]", "config_file = /etc/grafana/ldap.toml",
                 "[auth.generic_oauth]", f'client_secret = """{OAUTH_SECRET}"""',
                 "use_pkce = true"):
        assert line in ini.splitlines(), line
    ldap = tomllib.loads(mon.ssh("cat /etc/grafana/ldap.toml").stdout)
    (server,) = ldap["servers"]
    assert (server["host"], server["port"], server["start_tls"], server["bind_password"]) == (
        "ldap.example.org", 389, True, LDAP_PW)
    assert server["group_mappings"] == [{"group_dn": "*", "org_role": "Editor",
                                         "grafana_admin": False}]


def test_login_second_run_changes_nothing(stack, login_runs):
    # the double forgot its objects at the restart: this run gives them back, nothing else
    again = login_deploy(stack, LOGIN)
    assert again.changed_ops() and all("Provision Grafana" in op for op in again.changed_ops())
    dry = login_deploy(stack, LOGIN, dry=True)
    real = login_deploy(stack, LOGIN)
    assert dry.changed_ops() == {} and real.changed_ops() == {}, (dry.changes, real.changes)
    assert_no_secret(again, dry, real)


def test_switching_ldap_off_removes_ldap_toml(stack, login_runs):
    mon = stack["mon"]
    data = {**LOGIN, "grafana_ldap_enabled": "false"}
    dry = login_deploy(stack, data, dry=True)
    real = login_deploy(stack, data)
    assert_preview_was_exact(dry, real)
    assert real.changed_ops() == {WRITE_INI: 1, REMOVE_LDAP: 1, RESTART: 1}
    assert mon.ssh("test -e /etc/grafana/ldap.toml", check=False).returncode != 0
    ini = mon.ssh("cat /etc/grafana/grafana.ini").stdout
    assert "config_file = /etc/grafana/ldap.toml" not in ini
    assert_no_secret(dry, real)
