"""Grafana's deploy: settings, grafana.ini, the APT source, the package per architecture,
and the plan-time provisioning decision against the GRAFANA API TEST DOUBLE on 127.0.0.1.

The planning functions run as deploy.py would call them, with the pyinfra host and the
inventory replaced by small fakes (as in test_prometheus.py).
"""

from __future__ import annotations

import configparser
import json
import shutil
from pathlib import Path

import pytest


from operations.base import files as base_files, grafana_repository as grafana_apt
from operations.components.grafana import provisioning as gp, server as grafana
from operations.components.grafana.api import GrafanaClient, GrafanaError
from operations.base.schema import SettingsError
from operations.stack import COMPONENTS, validate
from harness.dashboards import uid_of
from harness.fake_host import FakeHost
from harness.grafana_planning import PASSWORD, fake_inventory, running_double, grafana_settings
from harness.http_files import CountingFiles, Mirror
from harness.net import free_port
from operations.base.templates import shipped_dashboards

NEW_PASSWORD = "n3w-Grafana-admin"
SHIPPED = sorted(uid_of(p) for p in shipped_dashboards())


@pytest.fixture
def host_settings(monkeypatch, tmp_path):
    """Settings of Grafana host mon1 (validate()d) that context.secret() also sees."""
    for var in ("GRAFANA_ADMIN_PASSWORD", "GRAFANA_OLD_PASSWORD", "T_DS_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    return grafana_settings(monkeypatch, tmp_path, grafana_token_dir=str(tmp_path / "tokens"))


@pytest.fixture
def inventory(monkeypatch):
    """One monitoring host running Prometheus and Alertmanager; `running` can be edited."""
    return fake_inventory(monkeypatch)


@pytest.fixture
def double(monkeypatch):
    with running_double(monkeypatch) as d:
        yield d


# -- settings ----------------------------------------------------------------------------------
def test_grafana_is_a_component_after_prometheus():
    names = list(COMPONENTS)
    assert names.index("grafana") > names.index("prometheus")
    s = validate("mon1", {})
    assert (s.grafana_port, s.grafana_group, s.grafana_enabled) == (3000, "monitoring", True)
    assert s.grafana_admin_password_secret == "GRAFANA_ADMIN_PASSWORD"
    assert s.grafana_folder == "Monitoring" and s.grafana_data_dir == "/var/lib/grafana"
    assert s.grafana_allow_sign_up is False and s.grafana_anonymous_access is False


def test_grafana_settings_coerce_and_reject():
    s = validate("mon1", {"grafana_allow_sign_up": "yes", "grafana_port": "3001",
                          "grafana_extra_datasources": '[{uid: x, name: X, type: loki}]',
                          "grafana_url": "", "grafana_install_method": "package"})
    assert s.grafana_allow_sign_up is True and s.grafana_port == 3001
    assert s.grafana_extra_datasources == [{"uid": "x", "name": "X", "type": "loki"}]
    assert s.grafana_url is None
    with pytest.raises(SettingsError) as exc:
        validate("mon1", {"grafana_anonymous_access": "maybe", "grafana_admin_pasword": "x"})
    msg = str(exc.value)
    assert "grafana_anonymous_access" in msg and "'maybe'" in msg
    assert "unknown setting 'grafana_admin_pasword'" in msg


def test_missing_admin_password_is_refused_naming_the_secret(host_settings):
    s = host_settings()
    with pytest.raises(SettingsError, match="GRAFANA_ADMIN_PASSWORD"):
        grafana.config_content(s)


def test_admin_password_from_another_secret_name(host_settings, monkeypatch, tmp_path):
    (tmp_path / "secrets.yml").write_text(f"MY_GRAFANA_PW: {PASSWORD}\n")
    s = host_settings({"grafana_admin_password_secret": "MY_GRAFANA_PW"})
    assert f'admin_password = """{PASSWORD}"""' in grafana.config_content(s)


# -- grafana.ini -------------------------------------------------------------------------------
def parse_ini(text: str) -> configparser.ConfigParser:
    ini = configparser.ConfigParser(interpolation=None, comment_prefixes=("#", ";"))
    ini.read_string(text)
    return ini


def test_grafana_ini(host_settings, monkeypatch):
    monkeypatch.setenv("GRAFANA_ADMIN_PASSWORD", PASSWORD)
    s = host_settings({"grafana_port": 3001, "grafana_listen_address": "10.0.0.5"})
    text = grafana.config_content(s)
    ini = parse_ini(text)
    assert ini["server"]["http_addr"] == "10.0.0.5"
    assert ini["server"]["http_port"] == "3001"
    assert "root_url" not in ini["server"]
    assert dict(ini["paths"]) == {"data": "/var/lib/grafana", "logs": "/var/lib/grafana/log",
                                  "plugins": "/var/lib/grafana/plugins"}
    security = ini["security"]
    assert security["admin_user"] == "admin"
    assert security["admin_password"] == f'"""{PASSWORD}"""'   # Grafana's quoting
    assert security["disable_gravatar"] == "true"
    assert security["cookie_secure"] == "false"
    assert ini["users"]["allow_sign_up"] == "false"
    assert ini["auth.anonymous"]["enabled"] == "false"
    assert dict(ini["analytics"]) == {"reporting_enabled": "false", "check_for_updates": "false",
                                      "check_for_plugin_updates": "false"}
    assert text.count(PASSWORD) == 1


def test_grafana_ini_behind_https_with_sign_up_and_anonymous(host_settings, monkeypatch):
    monkeypatch.setenv("GRAFANA_ADMIN_PASSWORD", PASSWORD)
    s = host_settings({"grafana_root_url": "https://grafana.example.org/",
                       "grafana_allow_sign_up": True, "grafana_anonymous_access": "true",
                       "grafana_data_dir": "/srv/grafana/"})
    ini = parse_ini(grafana.config_content(s))
    assert ini["server"]["root_url"] == "https://grafana.example.org/"
    assert ini["security"]["cookie_secure"] == "true"
    assert ini["users"]["allow_sign_up"] == "true"
    assert ini["auth.anonymous"]["enabled"] == "true"
    assert ini["paths"]["plugins"] == "/srv/grafana/plugins"


@pytest.mark.parametrize("password", ['ends"', 'a"""b', "two\nlines", "x${HOME}", "$__file{/x}",
                                      "%(protocol)s"])
def test_passwords_grafana_ini_would_change_are_refused(host_settings, monkeypatch, password):
    monkeypatch.setenv("GRAFANA_ADMIN_PASSWORD", password)
    with pytest.raises(SettingsError, match="GRAFANA_ADMIN_PASSWORD") as exc:
        grafana.config_content(host_settings())
    assert password not in str(exc.value)


def test_bad_root_url_is_a_settings_error(host_settings, monkeypatch):
    monkeypatch.setenv("GRAFANA_ADMIN_PASSWORD", PASSWORD)
    with pytest.raises(SettingsError, match="grafana_root_url"):
        grafana.config_content(host_settings({"grafana_root_url": "grafana.example.org"}))


def test_the_password_is_only_in_grafana_ini(host_settings, monkeypatch, inventory, double):
    s = host_settings({"grafana_url": double.url})
    assert PASSWORD in grafana.config_content(s)
    unit = grafana.Unit(name="grafana", user="grafana", description="Grafana",
                        exec_start=["/usr/share/grafana/bin/grafana", "server"])
    g, _ = gp.pending(s, FakeHost("mon1"))
    for text in (unit.content(), grafana_apt.apt_source(s.grafana_apt_repo_url), repr(g)):
        assert PASSWORD not in text
    assert "MemoryDenyWriteExecute=no" in grafana.Unit(
        name="grafana", user="grafana", description="Grafana", exec_start=["/bin/true"],
        memory_deny_write_execute=False).content()


# -- package method ------------------------------------------------------------------------------
def test_apt_source_is_deb822_signed_by_the_keyring():
    text = grafana_apt.apt_source("https://apt.grafana.com")
    fields = dict(line.split(": ", 1) for line in text.splitlines() if not line.startswith("#"))
    assert fields == {"Types": "deb", "URIs": "https://apt.grafana.com", "Suites": "stable",
                      "Components": "main", "Signed-By": "/etc/apt/keyrings/grafana.asc"}


@pytest.mark.parametrize("machine,package", [("armv6l", "grafana-rpi"), ("armv7l", "grafana"),
                                             ("aarch64", "grafana"), ("x86_64", "grafana")])
def test_package_per_architecture(machine, package):
    assert grafana.package_name(machine) == package


KEY = "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nmQINBGTnhmkBEADUfake\n-----END PGP PUBLIC KEY BLOCK-----\n"


def test_apt_key_from_a_local_file(host_settings, tmp_path):
    key = tmp_path / "grafana.asc"
    key.write_text(KEY)
    assert grafana_apt.apt_key(host_settings({"grafana_apt_key_file": str(key)})) == KEY
    key.write_text("<html>not a key</html>")
    with pytest.raises(SettingsError, match="not an ASCII-armored PGP public key"):
        grafana_apt.apt_key(host_settings({"grafana_apt_key_file": str(key)}))
    with pytest.raises(SettingsError, match="grafana_apt_key_file"):
        grafana_apt.apt_key(host_settings({"grafana_apt_key_file": str(tmp_path / "missing")}))


def test_apt_key_is_downloaded_once_on_the_controller(host_settings, tmp_path):
    files = CountingFiles({"gpg.key": KEY.encode()})
    server = Mirror(files)
    try:
        s = host_settings({"grafana_apt_key_url": f"{server.url}/gpg.key",
                           "artifact_cache_dir": str(tmp_path / "cache")})
        assert grafana_apt.apt_key(s) == KEY
        assert grafana_apt.apt_key(s) == KEY
    finally:
        server.close()
    assert files.asked == ["gpg.key"]
    assert list((tmp_path / "cache").glob("grafana-apt-key-*.asc"))


# -- archive method ------------------------------------------------------------------------------
def test_the_archive_tree_is_unpacked_once(monkeypatch, tmp_path):
    """unpacked_tree's commands, run here in a shell: a second plan finds the marker."""
    import hashlib
    import subprocess

    from harness.doubles import grafana_archive

    archive = grafana_archive.build(tmp_path / "work")
    sha = hashlib.sha256(archive.read_bytes()).hexdigest()

    class Host:
        def get_fact(self, cls, path):
            marker = Path(path)
            return hashlib.sha1(marker.read_bytes()).hexdigest() if marker.is_file() else None

        def get_temp_filename(self, name):
            return str(tmp_path / "upload.tmp")

    for module in (grafana, base_files):   # base_files: the upload's temporary name
        monkeypatch.setattr(module, "host", Host())
    dest = tmp_path / "share" / "grafana-0.0.1-testdouble"
    dest.parent.mkdir()
    args = dict(archive=str(archive), sha256=sha, dest=str(dest), strip=1)
    upload, unpack = grafana.unpacked_tree._inner(**args)
    shutil.copyfile(upload.src, upload.dest)   # what pyinfra's upload does
    res = subprocess.run(["sh", "-c", unpack.get_raw_value()], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert (dest / "bin/grafana").stat().st_mode & 0o777 == 0o755
    assert (dest / "grafana_double.py").is_file() and (dest / "public").is_dir()
    assert not Path(upload.dest).exists()
    assert list(grafana.unpacked_tree._inner(**args)) == []
    assert list(grafana.unpacked_tree._inner(**{**args, "sha256": "0" * 64}))  # a new build


def test_the_release_archive_needs_only_the_one_grafana_binary(monkeypatch, tmp_path):
    """Grafana 13 builds bin/grafana alone (`grafana server`, `grafana cli`): the test
    archive is laid out so, it installs, and the unit starts that binary."""
    import tarfile

    from harness.doubles import grafana_archive
    from operations.base import artifacts
    from operations.stack import RELEASES

    archive = grafana_archive.build(tmp_path / "work", version="13.2.3")
    with tarfile.open(archive) as tar:
        in_bin = sorted(m.name.split("/", 1)[1] for m in tar.getmembers()
                        if m.name.split("/", 1)[-1].startswith("bin/"))
    assert in_bin == ["bin/grafana"]
    artifact = artifacts.Artifact("grafana", "13.2.3", "x86_64", archive.name, "file:",
                                  hashlib_sha256(archive))
    folder = artifacts.unpack(artifact, archive)
    paths = artifacts.binary_paths(artifact, folder)
    assert {n: p.relative_to(folder).as_posix() for n, p in paths.items()} == \
        {"grafana": "bin/grafana"}
    assert set(RELEASES["grafana"]["binaries"].values()) == {"bin/grafana"}


def hashlib_sha256(path: Path) -> str:
    import hashlib
    return hashlib.sha256(path.read_bytes()).hexdigest()


# -- what Grafana should hold ------------------------------------------------------------------
def test_datasources_of_the_inventory(host_settings, inventory, monkeypatch):
    monkeypatch.setenv("T_DS_TOKEN", "token-value")
    s = host_settings({"prometheus_web_external_url": "https://mon.example.org/prometheus/",
                       "grafana_extra_datasources": [
                           {"uid": "tempo", "name": "Tempo", "type": "tempo",
                            "url": "http://tempo:3200",
                            "secureJsonData": {"httpHeaderValue1_secret": "T_DS_TOKEN"}}]})
    prom, am, tempo = gp.datasources(s)
    assert prom == {"uid": "prometheus", "name": "Prometheus", "type": "prometheus",
                    "url": "http://mon1:9090/prometheus", "access": "proxy", "isDefault": True}
    assert am["uid"] == "alertmanager" and am["type"] == "alertmanager"
    assert am["jsonData"] == {"implementation": "prometheus"} and am["url"] == "http://mon1:9093"
    assert tempo["secureJsonData"] == {"httpHeaderValue1": "token-value"}
    assert "loki" not in [d["uid"] for d in gp.datasources(s)]


def test_loki_data_source_and_logs_dashboard_only_with_a_loki_host(host_settings, inventory):
    s = host_settings()
    without = gp.wanted(s)
    assert [d["model"]["uid"] for d in without["dashboards"]] == [
        uid for uid in SHIPPED if uid != "monstack-logs"]
    if "loki" not in COMPONENTS:
        return
    inventory["running"]["loki"] = [FakeHost("logs1")]
    with_loki = gp.wanted(s)
    assert with_loki["datasources"][-1]["url"] == "http://logs1:3100"
    assert [d["model"]["uid"] for d in with_loki["dashboards"]] == SHIPPED


@pytest.mark.parametrize("extra", [[{"uid": "prometheus", "name": "P2", "type": "prometheus"}],
                                   [{"name": "no uid", "type": "loki"}], ["loki"]])
def test_bad_extra_datasources(host_settings, inventory, extra):
    with pytest.raises(SettingsError, match="grafana_extra_datasources"):
        gp.datasources(host_settings({"grafana_extra_datasources": extra}))


def test_user_dashboards(host_settings, inventory, tmp_path):
    (tmp_path / "mine.json").write_text(json.dumps({"uid": "mine", "title": "Mine"}))
    s = host_settings({"grafana_dashboards_dir": str(tmp_path)})
    plan = gp.wanted(s)
    assert plan["dashboards"][-1] == {"model": {"uid": "mine", "title": "Mine"},
                                      "folder_uid": "monstack"}
    assert plan["folders"] == [{"uid": "monstack", "title": "Monitoring"}]
    (tmp_path / "clash.json").write_text(json.dumps({"uid": "monstack-hosts", "title": "X"}))
    with pytest.raises(SettingsError, match="uid 'monstack-hosts' is taken"):
        gp.wanted(s)
    (tmp_path / "clash.json").write_text("{not json")
    with pytest.raises(SettingsError, match="clash.json"):
        gp.wanted(s)


# -- planning against the double -----------------------------------------------------------------
def count_objects(plan: dict) -> int:
    return (len(plan["folders"]) + len(plan["datasources"]) + len(plan["dashboards"])
            + len(plan["service_accounts"]))


def test_first_run_plans_one_operation_creating_everything(host_settings, inventory, double):
    s = host_settings({"grafana_url": double.url})
    g, actions = gp.pending(s, FakeHost("mon1"))
    assert g.state == gp.READY
    assert {a for _, _, a in actions} == {"created"} and len(actions) == count_objects(g.plan)
    assert actions[:3] == [("folder", "monstack", "created"),
                           ("datasource", "prometheus", "created"),
                           ("datasource", "alertmanager", "created")]
    assert double.writes() == []   # planning only reads

    gp.install()
    (call,) = inventory["python"].calls
    assert call["name"] == f"Provision Grafana: {len(actions)} objects to create or update"
    assert call["function"] is gp.provision and call["grafana"] is g
    log = "\n".join(inventory["host"].messages)
    assert "create dashboard monstack-hosts" in log and PASSWORD not in log


def test_grafana_not_answering_plans_create_all(host_settings, inventory, monkeypatch):
    monkeypatch.setenv("GRAFANA_ADMIN_PASSWORD", PASSWORD)
    s = host_settings({"grafana_url": f"http://127.0.0.1:{free_port()}"})
    g, actions = gp.pending(s, FakeHost("mon1"))
    assert g.state == gp.DOWN
    assert len(actions) == count_objects(g.plan) and {a for _, _, a in actions} == {"created"}


def test_after_provisioning_nothing_is_planned(host_settings, inventory, double):
    s = host_settings({"grafana_url": double.url})
    g, actions = gp.pending(s, FakeHost("mon1"))
    runner = FakeHost("mon1")
    assert gp.provision(None, runner, g) is True
    assert "create dashboard monstack-hosts" in runner.messages[-1]
    assert double.state.dashboards["monstack-hosts"]["folderUid"] == "monstack"
    assert double.state.datasources["prometheus"]["url"] == "http://mon1:9090"

    gp._found.clear()
    double.clear_log()
    g, actions = gp.pending(s, FakeHost("mon1"))
    assert actions == []
    assert double.writes() == []
    gp.install()
    assert inventory["python"].calls == []
    assert "up to date" in inventory["host"].messages[-1]


def test_a_changed_dashboard_is_exactly_one_update(host_settings, inventory, double, tmp_path,
                                                   monkeypatch):
    shipped = tmp_path / "dashboards"
    shipped.mkdir()
    for path in shipped_dashboards():
        shutil.copy(path, shipped)
    monkeypatch.setattr(gp, "shipped_dashboards", lambda: sorted(shipped.iterdir()))
    s = host_settings({"grafana_url": double.url})
    g, _ = gp.pending(s, FakeHost("mon1"))
    assert gp.provision(None, FakeHost("mon1"), g)

    model = json.loads((shipped / "monstack-redis.dashboard.json").read_text())
    model["refresh"] = "1m" if model.get("refresh") != "1m" else "5m"
    (shipped / "monstack-redis.dashboard.json").write_text(json.dumps(model))
    gp._found.clear()
    g, actions = gp.pending(s, FakeHost("mon1"))
    assert actions == [("dashboard", "monstack-redis", "updated")]
    gp.install()
    (call,) = inventory["python"].calls
    assert call["name"].startswith("Provision Grafana: 1 objects")
    assert gp.provision(None, FakeHost("mon1"), call["grafana"])
    assert double.state.dashboards["monstack-redis"]["model"]["refresh"] == model["refresh"]


def test_a_refused_password_without_the_previous_one_stops_the_plan(host_settings, inventory,
                                                                    double, monkeypatch):
    monkeypatch.setenv("GRAFANA_ADMIN_PASSWORD", NEW_PASSWORD)
    s = host_settings({"grafana_url": double.url})
    with pytest.raises(SettingsError) as exc:
        gp.pending(s, FakeHost("mon1"))
    msg = str(exc.value)
    assert "grafana_admin_password_previous_secret" in msg
    assert "reset-admin-password" in msg and "GRAFANA_ADMIN_PASSWORD" in msg
    assert NEW_PASSWORD not in msg and PASSWORD not in msg


def test_a_wrong_previous_password_stops_the_plan_too(host_settings, inventory, double,
                                                     monkeypatch):
    monkeypatch.setenv("GRAFANA_ADMIN_PASSWORD", NEW_PASSWORD)
    monkeypatch.setenv("GRAFANA_OLD_PASSWORD", "not-it-either")
    s = host_settings({"grafana_url": double.url,
                       "grafana_admin_password_previous_secret": "GRAFANA_OLD_PASSWORD"})
    with pytest.raises(SettingsError, match="GRAFANA_ADMIN_PASSWORD .nor the one in "
                                            "GRAFANA_OLD_PASSWORD."):
        gp.pending(s, FakeHost("mon1"))
    assert double.writes() == []


def test_a_changed_password_is_changed_over_the_api(host_settings, inventory, double,
                                                    monkeypatch):
    monkeypatch.setenv("GRAFANA_ADMIN_PASSWORD", NEW_PASSWORD)
    monkeypatch.setenv("GRAFANA_OLD_PASSWORD", PASSWORD)
    s = host_settings({"grafana_url": double.url,
                       "grafana_admin_password_previous_secret": "GRAFANA_OLD_PASSWORD"})
    g, actions = gp.pending(s, FakeHost("mon1"))   # reads with the previous password
    assert g.state == gp.ROTATE and len(actions) == count_objects(g.plan)
    assert NEW_PASSWORD not in repr(g) and PASSWORD not in repr(g)
    assert gp.change_admin_password(None, FakeHost("mon1"), g) is True
    assert gp.provision(None, FakeHost("mon1"), g) is True   # with the new password

    gp._found.clear()
    g, actions = gp.pending(s, FakeHost("mon1"))
    assert g.state == gp.READY and actions == []


def test_provisioning_fails_the_operation_when_grafana_is_down(host_settings, inventory,
                                                               monkeypatch):
    monkeypatch.setenv("GRAFANA_ADMIN_PASSWORD", PASSWORD)
    monkeypatch.setattr(gp, "HEALTHY_SECONDS", 1)
    s = host_settings({"grafana_url": f"http://127.0.0.1:{free_port()}"})
    g, _ = gp.pending(s, FakeHost("mon1"))
    runner = FakeHost("mon1")
    assert gp.provision(None, runner, g) is False
    assert "did not become healthy" in runner.messages[-1]
    assert PASSWORD not in runner.messages[-1]


def test_provisioning_fails_the_operation_on_a_refused_login(host_settings, inventory, double):
    s = host_settings({"grafana_url": double.url})
    g, _ = gp.pending(s, FakeHost("mon1"))
    double.state.user_by_login("admin")["password"] = "changed-by-someone-else"
    runner = FakeHost("mon1")
    assert gp.provision(None, runner, g) is False
    assert "HTTP 401" in runner.messages[-1] and PASSWORD not in runner.messages[-1]
    assert double.writes() == []


def test_the_automation_token_is_created_once_kept_0600_and_replaced_when_lost(
        host_settings, inventory, double, tmp_path):
    s = host_settings({"grafana_url": double.url})
    h = FakeHost("mon1")
    g, actions = gp.pending(s, h)
    assert ("service_account", "monstack", "created") in actions
    assert gp.provision(None, h, g)
    token = gp.token_file(s, h)
    assert oct(token.stat().st_mode & 0o777) == "0o600"
    assert oct(token.parent.stat().st_mode & 0o777) == "0o700"
    key = token.read_text().strip()
    # the token works against the API, and a second run plans nothing for it
    with GrafanaClient(double.url, token=key) as client:
        assert client.find_service_account("monstack")["name"] == "monstack"
    assert gp.pending(s, h)[1] == []
    # the controller lost the file: the token is replaced (its key cannot be read back)
    token.unlink()
    g, actions = gp.pending(s, h)
    assert actions == [("service_account", "monstack", "updated")]
    assert gp.provision(None, h, g)
    new_key = token.read_text().strip()
    assert new_key != key
    with pytest.raises(GrafanaError):
        with GrafanaClient(double.url, token=key, retries=0) as client:
            client.find_service_account("monstack")


def test_no_service_account_when_unset(host_settings, inventory, double):
    s = host_settings({"grafana_url": double.url, "grafana_service_account": ""})
    g, actions = gp.pending(s, FakeHost("mon1"))
    assert not any(kind == "service_account" for kind, _, _ in actions)


def test_a_prometheus_ha_pair_gives_one_data_source_per_replica(host_settings, inventory):
    inventory["running"]["prometheus"] = [FakeHost("mon2"), FakeHost("mon1")]
    s = host_settings()
    sources = {d["uid"]: d for d in gp.datasources(s) if d["type"] == "prometheus"}
    assert list(sources) == ["prometheus", "prometheus-2"]
    # the dashboards' data source is the first replica; the other is there to switch to
    assert (sources["prometheus"]["url"], sources["prometheus"]["isDefault"]) == (
        "http://mon1:9090", True)
    assert sources["prometheus-2"] == {"uid": "prometheus-2", "name": "Prometheus (mon2)",
                                       "type": "prometheus", "url": "http://mon2:9090",
                                       "access": "proxy", "isDefault": False}
