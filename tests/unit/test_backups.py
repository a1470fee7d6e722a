"""Backups: the settings and their checks, what a host's timers run, and the backup script
itself (templates/backup/monstack-backup) run here for real: files, a SQLite copy of the
Grafana double's database with its dashboards as JSON, a tar of folders, and a TSDB
snapshot of Debian's real Prometheus (2.42 and 3.5) restored and queried.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path
from types import SimpleNamespace

import pytest

from harness import debian
from harness.doubles.grafana_double import GrafanaState
from harness.net import free_port
from harness.units import directives
from operations.base import backups, restore, tls_auth
from operations.base.schema import SettingsError
from operations.base.templates import REPO
from operations.components.prometheus import server as prometheus, snapshots
from operations.stack import BY_NAME, validate

SCRIPT = REPO / "templates/backup/monstack-backup"


# -- settings --------------------------------------------------------------------------------
def test_backups_are_off_by_default_and_grafana_is_weekly():
    s = validate("mon1", {})
    assert (s.backup_enabled, s.backup_dir, s.backup_keep) == (
        False, "/var/backups/monstack", 7)
    schedules = {n: BY_NAME[n].default for n in BY_NAME if re.fullmatch(r"backup_.*_schedule", n)}
    assert schedules == {"backup_configs_schedule": "daily",
                         "backup_prometheus_schedule": "daily",
                         "backup_alertmanager_schedule": "daily",
                         "backup_grafana_schedule": "weekly",
                         "backup_loki_schedule": "daily"}


@pytest.mark.parametrize("schedule", ["daily", "weekly", "Sun *-*-* 03:00", "Mon..Fri 22:30",
                                      "*-*-* 02:30:00 UTC", "Sat,Sun 04:00 Europe/Berlin",
                                      "*-*-01 01:00"])
def test_a_calendar_event_is_taken_and_systemd_agrees(schedule):
    assert validate("mon1", {"backup_grafana_schedule": schedule}).backup_grafana_schedule == schedule
    res = subprocess.run(["systemd-analyze", "calendar", schedule], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr


@pytest.mark.parametrize("schedule", ["every day", "Mon", "minutely", "03:00; rm -rf /",
                                      "1 2 3 4 5", "{path}"])
def test_what_is_no_calendar_event_is_refused_on_the_controller(schedule):
    with pytest.raises(SettingsError, match="backup_loki_schedule .* is not a systemd calendar"):
        validate("mon1", {"backup_loki_schedule": schedule})


def test_the_admin_api_is_refused_where_anyone_could_use_it(inventory):
    with pytest.raises(SettingsError) as refused:
        inventory({"monitoring": ["mon1"], "web": ["web1"]}, {"backup_enabled": True})
    (error,) = str(refused.value).split("\n  ")[1:]
    assert error.startswith("host mon1: backup_enabled takes Prometheus snapshots through its "
                            "admin API")
    assert "basic_auth_enabled = True" in error and "127.0.0.1" in error
    assert "backup_prometheus_schedule = None" in error


@pytest.mark.parametrize("data", [{"prometheus_listen_address": "127.0.0.1"},
                                  {"basic_auth_enabled": True},
                                  {"backup_prometheus_schedule": None},
                                  {"backup_enabled": False}])
def test_the_admin_api_is_on_only_with_backups_on_loopback_or_behind_a_login(inventory, data):
    use = inventory({"monitoring": ["mon1"]}, {"backup_enabled": True, **data})
    s = use("mon1")
    on = prometheus.flags(s, "/usr/local/bin/prometheus").count("--web.enable-admin-api")
    assert on == (s.backup_enabled and s.backup_prometheus_schedule is not None)


# -- what each host runs ---------------------------------------------------------------------
ON_LOOPBACK = {"backup_enabled": True, "prometheus_listen_address": "127.0.0.1",
               "loki_enabled": True}


def test_each_host_backs_up_what_it_runs(inventory):
    use = inventory({"monitoring": ["mon1"], "web": ["web1"], "logs": ["mon1"]}, ON_LOOPBACK)
    mon = {k.kind: k for k in backups.kinds(use("mon1"))}
    assert list(mon) == ["alertmanager", "prometheus", "loki", "grafana", "configs"]
    assert (mon["prometheus"].backup.method, mon["alertmanager"].backup.method,
            mon["grafana"].backup.method, mon["loki"].backup.method) == (
        "tsdb-snapshot", "files", "sqlite", "tar")
    assert mon["grafana"].schedule == "weekly" and mon["prometheus"].schedule == "daily"
    assert mon["loki"].backup.paths == ("rules", "tsdb-shipper-active", "chunks/index")
    assert mon["loki"].data_dir == "/var/lib/loki"
    assert mon["configs"].backup.paths == (
        "/etc/node_exporter", "/etc/alertmanager", "/etc/prometheus", "/etc/loki",
        "/etc/alloy", "/etc/grafana", "/etc/monstack")
    web = [k.kind for k in backups.kinds(use("web1"))]
    assert web == ["configs"]


def test_a_kind_whose_schedule_is_unset_is_not_backed_up(inventory):
    use = inventory({"monitoring": ["mon1"]}, {**ON_LOOPBACK, "backup_grafana_schedule": None,
                                               "backup_configs_schedule": None})
    assert [k.kind for k in backups.kinds(use("mon1"))] == ["alertmanager", "prometheus",
                                                            "loki"]


def test_the_backup_service_is_hardened_and_names_its_inputs(inventory):
    use = inventory({"monitoring": ["mon1"]}, ON_LOOPBACK)
    s = use("mon1")
    found = {k.kind: k for k in backups.kinds(s)}
    prom = directives(backups.service_content(s, found["prometheus"], "/var/lib/tf"))
    assert "Type=oneshot" in prom
    assert f"ExecStart={backups.SCRIPT} run prometheus tsdb-snapshot" in prom
    assert 'Environment="SNAPSHOT_URL=http://127.0.0.1:9090/api/v1/admin/tsdb/snapshot"' in prom
    assert 'Environment="PROMTOOL=/usr/local/bin/promtool"' in prom
    assert 'Environment="KEEP=7"' in prom and 'Environment="SCHEDULE=daily"' in prom
    assert "ReadWritePaths=/var/backups/monstack /var/lib/tf -/var/lib/prometheus" in prom
    assert "PrivateNetwork=yes" not in prom and "ProtectSystem=strict" in prom
    am = directives(backups.service_content(s, found["alertmanager"], "/var/lib/tf"))
    assert "PrivateNetwork=yes" in am and "RestrictAddressFamilies=AF_UNIX" in am
    assert "ReadWritePaths=/var/backups/monstack /var/lib/tf" in am
    assert 'Environment="PATHS=silences nflog"' in am
    for unit in (prom, am):
        assert "NoNewPrivileges=yes" in unit and "ProtectHome=yes" in unit
        assert ("CapabilityBoundingSet=CAP_DAC_READ_SEARCH CAP_DAC_OVERRIDE CAP_CHOWN "
                "CAP_FOWNER") in unit
    timer = directives(backups.timer_content(found["grafana"]))
    assert "OnCalendar=weekly" in timer and "Persistent=true" in timer


def test_systemd_reads_every_kinds_service_and_timer(inventory, tmp_path):
    use = inventory({"monitoring": ["mon1"]}, ON_LOOPBACK)
    s = use("mon1")
    for k in backups.kinds(s):
        name = backups.unit_name(k.kind)
        service = backups.service_content(s, k, "/var/lib/node_exporter/textfile_collector")
        # the script where systemd can see it: verify checks that ExecStart exists
        (tmp_path / f"{name}.service").write_text(service.replace(backups.SCRIPT, str(SCRIPT)))
        (tmp_path / f"{name}.timer").write_text(backups.timer_content(k))
        for unit in (f"{name}.service", f"{name}.timer"):
            res = subprocess.run(["systemd-analyze", "verify", str(tmp_path / unit)],
                                 capture_output=True, text=True)
            assert res.returncode == 0 and res.stderr == "", (unit, res.stderr)


def test_behind_basic_auth_the_snapshot_logs_in_from_the_curl_config(inventory, monkeypatch):
    monkeypatch.setenv("MONSTACK_BASIC_AUTH_PASSWORD", "a-long-pass-word")
    monkeypatch.setattr(tls_auth, "_protection", {})
    use = inventory({"monitoring": ["mon1"]}, {"backup_enabled": True, "basic_auth_enabled": True})
    env = snapshots.environment(use("mon1"))
    assert env["CURL_ARGS"] == "-K /etc/monstack/wait-ready.curlrc"
    assert "a-long-pass-word" not in json.dumps(env)


# -- the script, run here --------------------------------------------------------------------
def run(command: list[str], env: dict, ok: bool = True) -> subprocess.CompletedProcess:
    res = subprocess.run(["bash", str(SCRIPT), *command], capture_output=True, text=True,
                         env={**os.environ, **env}, timeout=300)
    assert (res.returncode == 0) == ok, res.stdout + res.stderr
    return res


def environment(tmp_path: Path, data_dir: Path, paths: str, **extra) -> dict:
    (tmp_path / "textfile").mkdir(exist_ok=True)
    return {"BACKUP_DIR": str(tmp_path / "backups"), "KEEP": "2",
            "TEXTFILE_DIR": str(tmp_path / "textfile"), "SCHEDULE": "daily",
            "DATA_DIR": str(data_dir), "PATHS": paths, **extra}


def metrics(tmp_path: Path, kind: str) -> dict[str, float]:
    text = (tmp_path / "textfile" / f"monstack_backup_{kind}.prom").read_text()
    found = {}
    for line in text.splitlines():
        if not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            assert name.endswith(f'{{kind="{kind}"}}'), line
            found[name.split("{")[0]] = float(value)
    return found


def kept(tmp_path: Path, kind: str) -> list[Path]:
    return sorted((tmp_path / "backups" / kind).iterdir())


def test_files_are_copied_checked_kept_and_reported(tmp_path):
    data = tmp_path / "alertmanager"
    data.mkdir()
    (data / "silences").write_bytes(b"\x0a\x03abc")
    (data / "nflog").write_bytes(b"\x0a\x04nflg")
    env = environment(tmp_path, data, "silences nflog")
    before = time.time()
    for _ in range(3):
        run(["run", "alertmanager", "files"], env)
    backups_kept = kept(tmp_path, "alertmanager")
    assert len(backups_kept) == 2   # backup_keep
    latest = backups_kept[-1]
    assert (latest / "silences").read_bytes() == b"\x0a\x03abc"
    m = metrics(tmp_path, "alertmanager")
    assert before - 1 <= m["monstack_backup_last_success_timestamp_seconds"] <= time.time()
    assert m["monstack_backup_size_bytes"] > 9 and m["monstack_backup_count"] == 2
    assert m["monstack_backup_failures_total"] == 0
    assert m["monstack_backup_last_failure_timestamp_seconds"] == 0
    assert m["monstack_backup_interval_seconds"] == 86400
    run(["verify", "files", str(latest)], env)
    (latest / "nflog").write_bytes(b"changed")
    assert "a file differs" in run(["verify", "files", str(latest)], env, ok=False).stderr

    # restore: the live files moved aside, the backup's in place
    (data / "silences").write_bytes(b"newer")
    good = backups_kept[0]
    run(["restore", "files", str(good), str(data), "root", "STAMP"], env)
    assert (data / "silences").read_bytes() == b"\x0a\x03abc"
    assert (tmp_path / "alertmanager.before-restore-STAMP" / "silences").read_bytes() == b"newer"


def test_a_failed_backup_counts_keeps_the_last_success_and_leaves_nothing(tmp_path):
    data = tmp_path / "grafana"
    data.mkdir()
    state = GrafanaState("admin", "pw")
    state.save(str(data / "grafana.db"))
    env = environment(tmp_path, data, "grafana.db")
    run(["run", "grafana", "sqlite"], env)
    success = metrics(tmp_path, "grafana")["monstack_backup_last_success_timestamp_seconds"]
    (data / "grafana.db").unlink()
    for _ in range(2):
        assert "no database" in run(["run", "grafana", "sqlite"], env, ok=False).stderr
    m = metrics(tmp_path, "grafana")
    assert m["monstack_backup_last_success_timestamp_seconds"] == success
    assert m["monstack_backup_failures_total"] == 2
    assert m["monstack_backup_last_failure_timestamp_seconds"] >= success
    assert [p.name.startswith(".partial") for p in kept(tmp_path, "grafana")] == [False]


def test_grafanas_database_is_copied_consistently_with_every_dashboard_as_json(tmp_path):
    data = tmp_path / "grafana"
    data.mkdir()
    state = GrafanaState("admin", "pw")
    admin = SimpleNamespace(login="admin")
    state.create_folder({"uid": "monstack", "title": "Monitoring"}, admin)
    for uid in ("monstack-hosts", "my-own"):
        state.save_dashboard({"dashboard": {"uid": uid, "title": uid.title(), "panels": []},
                              "folderUid": "monstack" if uid != "my-own" else ""})
    state.save(str(data / "grafana.db"))
    env = environment(tmp_path, data, "grafana.db", SCHEDULE="weekly")
    run(["run", "grafana", "sqlite"], env)
    (backup,) = kept(tmp_path, "grafana")
    exported = {p.name: json.loads(p.read_text())
                for p in (backup / "dashboards/org-1").iterdir()}
    assert sorted(exported) == ["monstack-hosts.json", "my-own.json"]   # not the folder
    assert exported["my-own.json"] == state.dashboards["my-own"]["model"]
    assert metrics(tmp_path, "grafana")["monstack_backup_interval_seconds"] == 7 * 86400
    (backup / "dashboards/org-1/my-own.json").unlink()
    assert "1 dashboard files, the database holds 2" in run(
        ["verify", "sqlite", str(backup)], env, ok=False).stderr
    (backup / "grafana.db").write_bytes(b"SQLite format 3\x00" + b"\x00" * 200)
    run(["verify", "sqlite", str(backup)], env, ok=False)


def test_folders_are_archived_by_name_and_glob(tmp_path):
    data = tmp_path / "loki"
    for folder in ("rules/fake", "tsdb-shipper-active/t1", "chunks/index/index_1",
                   "chunks/ZmFrZQ"):
        (data / folder).mkdir(parents=True)
        (data / folder / "f").write_text(folder)
    env = environment(tmp_path, data, "rules tsdb-shipper-active chunks/ind*")
    run(["run", "loki", "tar"], env)
    (backup,) = kept(tmp_path, "loki")
    names = subprocess.run(["tar", "-tzf", str(backup / "data.tar.gz")], capture_output=True,
                           text=True, check=True).stdout.split()
    assert {"chunks/index/index_1/f", "rules/fake/f", "tsdb-shipper-active/t1/f"} <= set(names)
    assert not any(n.startswith("chunks/ZmFrZQ") for n in names)
    (data / "rules/fake/f").write_text("changed")
    run(["restore", "tar", str(backup), str(data), "root", "S"], env)
    assert (data / "rules/fake/f").read_text() == "rules/fake"
    assert (tmp_path / "loki.before-restore-S/rules/fake/f").read_text() == "changed"
    assert (data / "chunks/ZmFrZQ/f").exists()   # what the backup does not hold stays


def get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=5) as resp:
        return json.loads(resp.read())


def start_prometheus(tmp_path: Path, suite: str, data: Path, port: int) -> subprocess.Popen:
    config = tmp_path / "prometheus.yml"
    config.write_text("global: {scrape_interval: 1s}\nscrape_configs:\n"
                      f"  - job_name: self\n    static_configs: [{{targets: ['127.0.0.1:{port}']}}]\n")
    proc = subprocess.Popen([str(debian.program("prometheus", suite)), f"--config.file={config}",
                             f"--storage.tsdb.path={data}", f"--web.listen-address=127.0.0.1:{port}",
                             "--web.enable-admin-api"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(300):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/-/ready", timeout=1)
            return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise AssertionError("prometheus did not become ready")


def samples_at(port: int, at: float) -> list:
    query = urllib.parse.urlencode({"query": 'up{job="self"}', "time": at})
    return get(f"http://127.0.0.1:{port}/api/v1/query?{query}")["data"]["result"]


@pytest.mark.parametrize("suite", ["bookworm", "sid"])
def test_a_prometheus_snapshot_is_backed_up_verified_and_restored(tmp_path, suite):
    data, port = tmp_path / "prometheus", free_port()
    proc = start_prometheus(tmp_path, suite, data, port)
    try:
        for _ in range(100):   # a few scrapes
            if samples_at(port, time.time()):
                break
            time.sleep(0.1)
        scraped_at = time.time()
        assert samples_at(port, scraped_at)
        env = environment(tmp_path, data, "", SNAPSHOT_URL=(
            f"http://127.0.0.1:{port}{snapshots.SNAPSHOT_PATH}"), CURL_ARGS="",
            PROMTOOL=str(debian.tool("promtool", suite)))
        run(["run", "prometheus", "tsdb-snapshot"], env)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    (backup,) = kept(tmp_path, "prometheus")
    assert list((data / "snapshots").iterdir()) == []   # moved out of the data folder
    assert metrics(tmp_path, "prometheus")["monstack_backup_size_bytes"] > 0

    # the data folder lost, restored from the backup: the samples are there again
    subprocess.run(["rm", "-rf", str(data)], check=True)
    run(["restore", "tsdb-snapshot", str(backup), str(data), "root", "S"], env)
    proc = start_prometheus(tmp_path, suite, data, port)
    try:
        (series,) = samples_at(port, scraped_at)
        assert series["value"][1] == "1"
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    (backup / "tsdb").rename(backup / "elsewhere")
    run(["verify", "tsdb-snapshot", str(backup)], env, ok=False)


# -- restore.py's plan -----------------------------------------------------------------------
class RestoreHost:
    """The host restore.py plans for: the backups it keeps and what the script's check
    answers, as facts; what it logs."""

    def __init__(self, kept: list[str], verifies: str = "ok"):
        self.name, self.kept, self.verifies, self.asked = "mon1", kept, verifies, []
        self.messages = []

    def get_fact(self, fact, **arguments):
        self.asked.append((fact.__name__, arguments))
        return self.kept if fact is restore.BackupsKept else self.verifies

    def log(self, message, *args):
        self.messages.append(message)


@pytest.fixture
def planned(inventory, monkeypatch):
    """plan(kept, verifies, **data) -> the commands restore.py runs (or SettingsError)."""
    commands = []
    monkeypatch.setattr(restore.server, "shell",
                        lambda name, commands_=None, **kw: commands.append((name, kw["commands"])))
    monkeypatch.setattr(restore, "wait_ready_helper", lambda: None)

    def plan(kept, verifies="ok", **data):
        use = inventory({"monitoring": ["mon1"]}, {**ON_LOOPBACK, **data})
        use("mon1")
        fake = RestoreHost(kept, verifies)
        monkeypatch.setattr(restore, "host", fake)
        monkeypatch.setattr(backups, "runs", lambda name, h=None: name in {
            "prometheus", "alertmanager", "grafana", "node_exporter"})
        restore.plan()
        return commands
    return plan


def test_restore_stops_the_service_only_after_checking_the_latest_backup(planned):
    names = ["prometheus-20261201T000000Z", "prometheus-20261202T000000Z"]
    ((name, (command,)),) = planned(names, restore_kind="prometheus")
    steps = command.split(" && ")
    path = "/var/backups/monstack/prometheus/prometheus-20261202T000000Z"
    assert steps[0] == (f"PATHS='' PROMTOOL=/usr/local/bin/promtool {backups.SCRIPT} verify "
                        f"tsdb-snapshot {path}")
    assert steps[1] == "systemctl stop prometheus.service"
    assert re.fullmatch(rf"PATHS='' PROMTOOL=\S+ {backups.SCRIPT} restore tsdb-snapshot {path} "
                        r"/var/lib/prometheus prometheus \d{8}T\d{6}Z", steps[2])
    assert steps[3] == "systemctl start prometheus.service"
    assert steps[4].startswith("/usr/local/lib/monstack/wait-ready prometheus "
                               "http://127.0.0.1:9090/-/ready 300")


def test_restore_takes_a_named_backup_and_grafanas_readiness(planned):
    ((_, (command,)),) = planned(["grafana-1", "grafana-2"], restore_kind="grafana",
                                 restore_backup="grafana-1")
    assert "restore sqlite /var/backups/monstack/grafana/grafana-1 /var/lib/grafana grafana" \
        in command
    assert "http://127.0.0.1:3000/api/health" in command


@pytest.mark.parametrize("kept, verifies, data, refusal", [
    ([], "ok", {"restore_kind": "prometheus"},
     "no backup 'latest' in /var/backups/monstack/prometheus (there: none); nothing was stopped"),
    (["alertmanager-1"], "ok", {"restore_kind": "alertmanager", "restore_backup": "alertmanager-9"},
     "no backup 'alertmanager-9' in /var/backups/monstack/alertmanager (there: alertmanager-1)"),
    (["prometheus-1"], "monstack-backup: promtool tsdb list refuses x",
     {"restore_kind": "prometheus"}, "does not verify (monstack-backup: promtool tsdb list "
                                     "refuses x); nothing was stopped"),
    ([], "ok", {"restore_kind": "loki"}, "takes no loki backups (kinds there: alertmanager, "
                                         "prometheus, grafana, configs)"),
    ([], "ok", {"restore_kind": "configs"}, "restored by running the deploy again"),
    ([], "ok", {}, "give --data restore_kind="),
])
def test_restore_refuses_before_stopping_anything(planned, kept, verifies, data, refusal):
    with pytest.raises(SettingsError, match=re.escape(refusal)):
        planned(kept, verifies, **data)


# -- the deploy's plan: what a first run, a second run and a turned-off kind do ---------------
class PlanHost:
    """The host backups.install() plans for: its timers and packages as facts."""

    def __init__(self, timers: dict, packages: dict):
        self.name, self.timers, self.packages = "mon1", timers, packages

    def get_fact(self, fact, **arguments):
        return self.timers if fact is backups.BackupTimers else self.packages

    def loop(self, items):
        return iter(items)


@pytest.fixture
def plan_install(inventory, monkeypatch):
    """plan(timers, packages, files_change, **data) -> [(operation, detail)] planned."""
    def plan(timers, packages, files_change, **data):
        planned = []
        use = inventory({"monitoring": ["mon1"]}, {**ON_LOOPBACK, "loki_enabled": False,
                                                   **data})
        use("mon1")
        monkeypatch.setattr(backups, "host", PlanHost(timers, packages))
        monkeypatch.setattr(backups, "runs", lambda name, h=None: name in {
            "prometheus", "alertmanager", "grafana", "node_exporter"})
        monkeypatch.setattr(backups, "first_plan", lambda step: True)
        monkeypatch.setattr(backups, "stages_beside", lambda *paths: None)
        monkeypatch.setattr(backups, "put_files", lambda name, files, mode: planned.append(
            (name, sorted(files))))
        monkeypatch.setattr(backups, "directory", lambda path, *a: planned.append(
            ("directory", path)))
        monkeypatch.setattr(backups.server, "shell", lambda name, commands: planned.append(
            (name, commands[0])))

        def validated_file(name, dest, content, **kw):
            planned.append((name, dest))
            return SimpleNamespace(will_change=files_change)
        monkeypatch.setattr(backups, "validated_file", validated_file)
        backups.install("/var/lib/node_exporter/textfile_collector", textfile_dir_made=True)
        return planned
    return plan


WAITING = {"enabled": True, "active": True}
ALL_TIMERS = {f"monstack-backup-{k}.timer": WAITING
              for k in ("alertmanager", "prometheus", "grafana", "configs")}


def test_a_first_run_installs_and_starts_a_timer_per_kind(plan_install):
    planned = plan_install({}, {}, True)
    starts = [detail for name, detail in planned if name == "Enable and start a backup timer"]
    assert starts == [f"systemctl daemon-reload && systemctl enable --now monstack-backup-{k}.timer"
                      for k in ("alertmanager", "prometheus", "grafana", "configs")]
    assert ("Install what the backups need (Debian packages)" in [n for n, _ in planned])
    assert ("directory", "/var/backups/monstack") in planned
    assert ("Install the backup script", [backups.SCRIPT]) in planned


def test_a_second_run_plans_no_command(plan_install):
    planned = plan_install(ALL_TIMERS, {"sqlite3": {"3.40.1-2"}}, False)
    assert [n for n, _ in planned if n not in (
        "Install a backup service",
        "Install a backup timer (its schedule checked by systemd-analyze)",
        "Install the backup script", "directory")] == []


def test_a_changed_schedule_reloads_that_timer(plan_install):
    planned = plan_install(ALL_TIMERS, {"sqlite3": {"3.40.1-2"}}, True)
    assert [d for n, d in planned if n == "Reload a changed backup timer"][0] == (
        "systemctl daemon-reload && systemctl restart monstack-backup-alertmanager.timer")


def test_a_kind_turned_off_loses_its_timer_but_keeps_its_backups(plan_install):
    planned = plan_install(ALL_TIMERS, {"sqlite3": {"3.40.1-2"}}, False,
                           backup_grafana_schedule=None)
    (removal,) = [d for n, d in planned
                  if n == "Remove the backup timers no longer wanted (backups kept)"]
    assert removal == ("systemctl disable --now monstack-backup-grafana.timer && rm -f "
                       "/etc/systemd/system/monstack-backup-grafana.timer "
                       "/etc/systemd/system/monstack-backup-grafana.service "
                       "&& systemctl daemon-reload")
    assert "backups" not in removal
    off = plan_install(ALL_TIMERS, {}, False, backup_enabled=False)
    assert [n for n, _ in off] == ["Remove the backup timers no longer wanted (backups kept)"]
