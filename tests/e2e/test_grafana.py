"""An operator adds Grafana to the monitoring host: installed from the release archive,
then its data sources, folder and dashboards provisioned over its HTTP API.

The archive on the mirror is upstream-shaped, but its bin/grafana starts the GRAFANA API
TEST DOUBLE (tests/harness/doubles/grafana_double.py, see harness/doubles/grafana_archive.py): it is not
Grafana. The archive is published at the pinned grafana_version (13.x: bin/grafana alone),
so the deploy takes that version's code paths. What is tested is the deploy: archive install, hardened unit, readiness on
/api/health, provisioning, --dry equal to the real run, a second run changing nothing.
The double keeps its objects in <data>/grafana.db, as Grafana does: a restart (for a plugin,
a changed grafana.ini) loses nothing.
"""

import base64
import json
import tomllib
from pathlib import Path
import urllib.error
import urllib.request

import pytest

from conftest import hosts_fixture, write_inventory
from harness.dashboards import uid_of
from harness.doubles import community_dashboard, grafana_archive, grafana_test_plugin
from harness.first_runs import first_runs  # noqa: F401
from harness.pyinfra_cli import assert_preview_was_exact, preview_then_run, run_pyinfra
from harness.stack import service_pids
from harness.removal import inventory_with, switch_off_and_purge
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
    settings = grafana_archive.monitoring_host_settings(mirror, tmp_path_factory)
    # the synthetic grafana.com-shaped recording, pinned (used only where a test names it)
    settings["artifact_checksums"].update(community_dashboard.publish(mirror))
    settings.update({f"{c}_enabled": False for c in COMPONENTS if c not in RUNS})
    inventory = write_inventory(tmp_path_factory.mktemp("inventory") / "inventory.py", fleet,
                                {"monitoring": [mon]}, group_data={"all": settings})
    return {"inventory": inventory, "mon": mon, "version": settings["grafana_version"],
            "mirror": mirror,
            "token_file": Path(settings["grafana_token_dir"]) / f"{mon.ip}.token"}


def deploy(stack, **kw):
    return run_pyinfra(stack["inventory"], env=ENV, **kw)


def api(mon, path: str, body=None, method: str | None = None):
    token = base64.b64encode(f"admin:{PASSWORD}".encode()).decode()
    req = urllib.request.Request(f"http://{mon.ip}:3000{path}", method=method,
                                 data=None if body is None else json.dumps(body).encode(),
                                 headers={"Authorization": f"Basic {token}",
                                          "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read())


def status(mon, path: str) -> int:
    try:
        api(mon, path)
    except urllib.error.HTTPError as err:
        return err.code
    return 200


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
    # the deploy's marker (api.py) next to its own jsonData
    assert am["type"] == "alertmanager" and am["jsonData"] == {
        "implementation": "prometheus", "monstackManaged": "alertmanager"}
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
    # the folder setting dropped: the dashboard the deploy made goes, one change again
    dry, real = preview_then_run(stack["inventory"], env=ENV)
    assert_preview_was_exact(dry, real)
    assert real.changed_ops() == {"Provision Grafana: 1 objects to create, update or delete": 1}
    assert "will delete dashboard e2e-team" in dry.output
    assert status(mon, "/api/dashboards/uid/e2e-team") == 404


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

    # dropped from the settings: the deploy made both, so both go, the dashboard first
    dry, real = preview_then_run(stack["inventory"], env=ENV)
    assert_preview_was_exact(dry, real)
    assert real.changed_ops() == {"Provision Grafana: 2 objects to create, update or delete": 1}
    assert f"will delete dashboard {rec.UID}, delete folder {folder}" in dry.output
    assert status(mon, f"/api/dashboards/uid/{rec.UID}") == 404
    assert status(mon, f"/api/folders/{folder}") == 404
    assert deploy(stack).check().changed_ops() == {}


# -- pruning and Grafana-managed alerting (after the tests above: the same Grafana) ----------
def test_removals_are_named_by_dry_and_done_exactly_by_the_run(stack, first_runs, tmp_path):
    """A dashboard folder emptied and an extra data source dropped: the next --dry names
    both removals, the run removes exactly those; what was made by hand stays, even a
    dashboard tagged "monstack" in the deploy's folder."""
    mon = stack["mon"]
    (tmp_path / "team.json").write_text(json.dumps({"uid": "e2e-team", "title": "E2E team"}))
    extra = [{"uid": "e2e-extra", "name": "E2E extra", "type": "prometheus",
              "url": f"http://{mon.ip}:9090", "access": "proxy"}]
    deploy(stack, data={"grafana_dashboards_dir": str(tmp_path),
                        "grafana_extra_datasources": json.dumps(extra)}).check()
    assert api(mon, "/api/datasources/uid/e2e-extra")["jsonData"]["monstackManaged"] \
        == "e2e-extra"
    api(mon, "/api/datasources", {"uid": "e2e-by-hand", "name": "By hand", "type": "loki",
                                  "url": "http://127.0.0.1:3100", "access": "proxy"})
    api(mon, "/api/dashboards/db", {"dashboard": {"uid": "e2e-by-hand", "title": "By hand",
                                                  "tags": ["monstack"]},
                                    "folderUid": "monstack", "overwrite": False})

    (tmp_path / "team.json").unlink()
    data = {"grafana_dashboards_dir": str(tmp_path)}
    dry = deploy(stack, dry=True, data=data).check()
    real = deploy(stack, data=data).check()
    assert_preview_was_exact(dry, real)
    assert real.changed_ops() == {
        "Provision Grafana: 2 objects to create, update or delete": 1}
    assert "will delete dashboard e2e-team, delete datasource e2e-extra" in dry.output
    assert status(mon, "/api/dashboards/uid/e2e-team") == 404
    assert status(mon, "/api/datasources/uid/e2e-extra") == 404
    assert status(mon, "/api/dashboards/uid/e2e-by-hand") == 200
    assert status(mon, "/api/datasources/uid/e2e-by-hand") == 200
    assert deploy(stack, data=data).check().changed_ops() == {}


HOOK_URL = "http://127.0.0.1:9/e2e-hook"
HOOK_PASSWORD = "e2e-hook-Pw#5"
ALERTING = {
    "grafana_alerting_enabled": "true",
    "grafana_alertmanager_external": "true",
    "grafana_contact_points": json.dumps([
        {"name": "e2e-ops", "type": "webhook", "settings": {"url": HOOK_URL, "username": "e2e",
                                                "password_secret": "E2E_HOOK_PW"}}]),
    "grafana_notification_policy": json.dumps(
        {"receiver": "e2e-ops", "group_by": ["alertname"], "repeat_interval": "240m"}),
    "grafana_message_templates": json.dumps(
        {"e2e": '{{ define "e2e.title" }}{{ .Status }}{{ end }}'}),
}


def test_grafana_alerting_is_provisioned_exactly_once(stack, first_runs):
    mon, env = stack["mon"], {**ENV, "E2E_HOOK_PW": HOOK_PASSWORD}
    dry = run_pyinfra(stack["inventory"], dry=True, env=env, data=ALERTING).check()
    real = run_pyinfra(stack["inventory"], env=env, data=ALERTING).check()
    assert_preview_was_exact(dry, real)
    # the template, the contact point, the tree, the Alertmanager data source
    assert real.changed_ops() == {"Provision Grafana: 4 objects to create or update": 1}
    for words in ("create template e2e", "create contact_point monstack-e2e-ops",
                  "update notification_policy root", "update datasource alertmanager"):
        assert words in dry.output, words
    (cp,) = [c for c in api(mon, "/api/v1/provisioning/contact-points")
             if c["uid"] == "monstack-e2e-ops"]
    # Grafana keeps a webhook's password secret, not its url
    assert (cp["settings"]["password"], cp["settings"]["url"], cp["provenance"]) == (
        "[REDACTED]", HOOK_URL, "api")
    tree = api(mon, "/api/v1/provisioning/policies")
    assert (tree["receiver"], tree["repeat_interval"]) == ("e2e-ops", "4h")
    assert "{{ define" in api(mon, "/api/v1/provisioning/templates/e2e")["template"]
    assert api(mon, "/api/datasources/uid/alertmanager")["jsonData"][
        "handleGrafanaManagedAlerts"] is True
    again_dry = run_pyinfra(stack["inventory"], dry=True, env=env, data=ALERTING).check()
    again = run_pyinfra(stack["inventory"], env=env, data=ALERTING).check()
    assert again_dry.changed_ops() == again.changed_ops() == {}
    for run in (dry, real, again_dry, again):
        assert HOOK_PASSWORD not in run.output

    # switched off again: --dry names what that changes, the run does it, then quiet
    off_dry, off = preview_then_run(stack["inventory"], env=ENV)
    assert_preview_was_exact(off_dry, off)
    assert deploy(stack).check().changed_ops() == {}


# -- plugins: installing or removing one restarts Grafana, which keeps its objects --------
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
    # the restart kept what was provisioned (Grafana's database; the double's grafana.db)
    assert api(mon, "/api/datasources/uid/prometheus")["type"] == "prometheus"


def test_with_the_plugin_a_second_run_changes_and_restarts_nothing(stack, plugin,
                                                                   plugin_runs):
    data = {"grafana_plugins": json.dumps([plugin])}
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
    assert deploy(stack, data=data).check().changed_ops() == {}


# -- mail and login: [smtp], LDAP (ldap.toml) and generic OAuth ----------------------------------
# The double speaks neither SMTP, LDAP nor OAuth: what is tested is the files the deploy
# puts on the host, the secrets kept out of its output, --dry and idempotence.
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
    dry = login_deploy(stack, LOGIN, dry=True)
    real = login_deploy(stack, LOGIN)
    assert dry.changed_ops() == {} and real.changed_ops() == {}, (dry.changes, real.changes)
    assert_no_secret(dry, real)


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


def test_switching_everything_off_removes_it_cleanly(stack, first_runs, tmp_path):
    """Last: every component this module ran is switched off with its data purged; --dry
    lists each removal, the run does exactly that, nothing of them is left on the hosts
    and the next --dry and run change nothing (tests/harness/removal.py)."""
    switch_off_and_purge(inventory_with(stack["inventory"], tmp_path),
                         [(stack["mon"], sorted(RUNS))], env=ENV)
