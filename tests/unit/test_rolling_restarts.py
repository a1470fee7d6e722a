"""An operator upgrades an HA pair of Prometheus or an Alertmanager cluster: service()
(operations/base/services.py) restarts its running members one host at a time (pyinfra's
`_serial`), an Alertmanager only once its cluster is whole and until it has rejoined it;
a lone service, a stopped member and a reload are planned as before."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from harness.fake_host import FakeHost as Host
from harness.peers import inventory  # noqa: F401
from operations.base import catalogue, services, tls_auth
from operations.base.services import Unit
from operations.components.alertmanager import server as alertmanager
from pyinfra.facts.files import FileContents

REPO = Path(__file__).resolve().parents[2]
RESTART_ROLLING = "Restart {} one host at a time and wait until ready"


class Op:
    def __init__(self, will_change: bool):
        self.will_change = will_change


class UnitHost:
    """The host service() plans on: its UnitState answer."""

    def __init__(self, name: str, running: bool):
        self.name = name
        self.state = {"enabled": True, "running": running, "daemon_reload": False,
                      "binary_replaced": False, "newer": []}
        self.messages: list[str] = []

    def get_fact(self, fact, **kwargs):
        return self.state

    def log(self, message, log_func=None):
        self.messages.append(message)


@pytest.fixture
def plan(monkeypatch, inventory):  # noqa: F811
    """plan(component, this, hosts, running=, restart=, reload=, data=, per_host=) -> the operations
    service() planned on `this` (name, commands, global arguments, line of the call)."""

    def run(component: str, this: Host, hosts: list[Host], running: bool = True,
            restart: bool = False, reload: bool = False, data: dict | None = None,
            per_host: dict | None = None, together: bool = False):
        s = inventory(this, hosts, data=data, per_host=per_host)
        monkeypatch.setattr(services, "settings", lambda h=None: s)
        monkeypatch.setattr(services, "host", UnitHost(this.name, running))
        monkeypatch.setattr(tls_auth, "host", this)
        monkeypatch.setattr(tls_auth, "_protection", {})
        monkeypatch.setattr(services, "wait_ready_helper", lambda: None)
        monkeypatch.setattr(services, "validated_file", lambda **kw: Op(False))
        planned = []

        class Server:
            @staticmethod
            def shell(name, commands, **arguments):
                planned.append({"name": name, "commands": commands, "arguments": arguments,
                                "line": sys._getframe(1).f_lineno})

        monkeypatch.setattr(services, "server", Server)
        unit = Unit(name=component, description=component, exec_start=["/bin/true"],
                    user=component, reloadable=True)
        services.service(unit, "http://127.0.0.1:1/-/ready",
                         restart_on=[Op(restart or together)], reload_on=[Op(reload)],
                         together=together)
        return planned

    return run


A, B, C = Host("10.0.0.11"), Host("10.0.0.12"), Host("10.0.0.13")


def test_only_prometheus_and_alertmanager_say_they_form_ha_groups():
    assert {n for n, c in catalogue.components().items() if c.ha_group} == {
        "prometheus", "alertmanager"}
    assert {n for n, c in catalogue.components().items() if c.rejoined} == {"alertmanager"}


def test_a_changed_alertmanager_of_a_cluster_of_three_restarts_alone_and_rejoins(plan):
    (op,) = plan("alertmanager", B, [A, B, C], restart=True)
    assert op["name"] == RESTART_ROLLING.format("alertmanager")
    assert op["arguments"] == {"_serial": True}
    (command,) = op["commands"]
    whole, rest = command.split(" && systemctl restart alertmanager.service && ", 1)
    # before it goes down: its cluster of three is whole, or it runs in none yet
    assert shlex.split(whole) == [
        "WAIT_READY_MATCH=\"status\":\"ready\"", "WAIT_READY_COUNT=3 \"address\":",
        "WAIT_READY_WHAT=find its group of 3 whole before its restart",
        "WAIT_READY_UNLESS=\"status\":\"disabled\"",
        services.WAIT_READY, "alertmanager", "http://127.0.0.1:9093/api/v2/status", "60"]
    # after: ready, then back in its cluster with all three, then the deploy's stamp
    ready, rejoined, stamp = rest.split(" && ", 2)
    assert ready == f"{services.WAIT_READY} alertmanager http://127.0.0.1:1/-/ready 60"
    assert shlex.split(rejoined) == [
        "WAIT_READY_MATCH=\"status\":\"ready\"", "WAIT_READY_COUNT=3 \"address\":",
        "WAIT_READY_WHAT=rejoin its group of 3",
        services.WAIT_READY, "alertmanager", "http://127.0.0.1:9093/api/v2/status", "60"]
    assert stamp.startswith("mkdir -p ")


def test_the_replicas_of_a_prometheus_ha_pair_restart_one_at_a_time(plan):
    (op,) = plan("prometheus", A, [A, B], restart=True)
    assert op["name"] == RESTART_ROLLING.format("prometheus")
    assert op["arguments"] == {"_serial": True}
    # its readiness (TSDB loaded) is all there is to wait for: no group view to ask
    assert op["commands"] == [
        f"systemctl restart prometheus.service && {services.WAIT_READY} prometheus "
        f"http://127.0.0.1:1/-/ready 60 && mkdir -p /var/lib/monstack/started && "
        f"touch /var/lib/monstack/started/prometheus.service"]


def test_prometheus_of_two_sites_are_no_pair_and_restart_as_before(plan):
    sites = {"10.0.0.11": {"site": "berlin"}, "10.0.0.12": {"site": "paris"}}
    (op,) = plan("prometheus", A, [A, B], restart=True, per_host=sites)
    assert (op["name"], op["arguments"]) == ("Restart prometheus and wait until ready", {})
    # a third host in Berlin makes a pair there
    sites["10.0.0.13"] = {"site": "berlin"}
    (op,) = plan("prometheus", A, [A, B, C], restart=True, per_host=sites)
    assert (op["name"], op["arguments"]) == (RESTART_ROLLING.format("prometheus"),
                                             {"_serial": True})


def test_a_lone_alertmanager_restarts_as_before(plan):
    (op,) = plan("alertmanager", A, [A], restart=True)
    assert op["name"] == "Restart alertmanager and wait until ready"
    assert op["arguments"] == {}
    assert "WAIT_READY" not in op["commands"][0]


def test_a_stopped_member_is_started_with_the_others_and_before_them(plan):
    (start,) = plan("alertmanager", A, [A, B, C], running=False)
    assert start["name"] == "Restart alertmanager and wait until ready"
    assert start["arguments"] == {}
    (rolling,) = plan("alertmanager", B, [A, B, C], restart=True)
    # pyinfra orders the operations of all hosts by the lines that planned them: a new
    # member is up before a running one waits for its cluster to be whole
    assert start["line"] < rolling["line"]


def test_a_cluster_changing_itself_restarts_together(plan):
    # a member restarted alone could not talk to the others: it could never rejoin
    (op,) = plan("alertmanager", B, [A, B, C], together=True)
    assert op["name"] == "Restart alertmanager and wait until ready"
    assert op["arguments"] == {}


class UnitFileHost:
    """A host whose installed Alertmanager unit is `unit` (None: not installed)."""

    def __init__(self, unit: Unit | None):
        self.unit = unit

    def get_fact(self, fact, path):
        assert fact is FileContents and path == "/etc/systemd/system/alertmanager.service"
        return self.unit.content().splitlines() if self.unit else None


def alertmanager_unit(s) -> Unit:
    return Unit(name="alertmanager", description="Prometheus Alertmanager", user="alertmanager",
                exec_start=alertmanager.flags(s, "/usr/local/bin/alertmanager"))


def test_a_run_that_changes_the_cluster_itself_restarts_it_together(inventory, monkeypatch):  # noqa: F811
    old = alertmanager_unit(inventory(B, [A, B, C]))
    for unit, data, hosts in [
            (None, {}, [A, B, C]),                                   # a new install
            (old, {"alertmanager_extra_flags": ["--log.level=debug"]}, [A, B, C])]:
        new = alertmanager_unit(inventory(B, hosts, data=data))
        monkeypatch.setattr(alertmanager, "host", UnitFileHost(unit))
        assert not alertmanager.cluster_changes(new), data
    # members, gossip port, timing: a member restarted alone would not find the others
    for data, hosts in [({}, [A, B]), ({}, [A, B, C, Host("10.0.0.14")]),
                        ({"alertmanager_cluster_port": 9095}, [A, B, C]),
                        ({"alertmanager_cluster_peer_timeout": "5s"}, [A, B, C]),
                        ({"alertmanager_extra_flags": ["--cluster.gossip-interval=1s"]},
                         [A, B, C])]:
        new = alertmanager_unit(inventory(B, hosts, data=data))
        monkeypatch.setattr(alertmanager, "host", UnitFileHost(old))
        assert alertmanager.cluster_changes(new), (data, hosts)


def test_a_reload_keeps_the_group_serving_and_is_not_serial(plan):
    (op,) = plan("alertmanager", A, [A, B, C], reload=True)
    assert op["name"] == "Reload alertmanager and wait until ready"
    assert op["arguments"] == {}


def test_nothing_changed_plans_nothing_in_a_group_too(plan):
    assert plan("alertmanager", A, [A, B, C]) == []
    assert plan("prometheus", A, [A, B]) == []


def test_an_exporter_on_every_host_of_a_cluster_restarts_as_before(plan):
    (op,) = plan("node_exporter", A, [A, B, C], restart=True)
    assert op["arguments"] == {}


# -- the checks on the host: files/wait-ready with the answers Alertmanager gives ------------
def status(state: str, members: int) -> dict:
    """/api/v2/status as Alertmanager marshals it (api/v2/models: cluster_status.go,
    peer_status.go at v0.25.0 and v0.34.0), its config quoting what looks like keys."""
    return {"cluster": {"name": "01HX", "peers": [
        {"address": f"10.0.0.{11 + i}:9094", "name": f"01H{i}"} for i in range(members)],
        "status": state},
        "config": {"original": 'route:\n  receiver: "address":\n'},
        "uptime": "2026-12-06T00:00:00.000Z",
        "versionInfo": {"version": "0.33.1", "revision": "", "branch": "", "buildUser": "",
                        "buildDate": "", "goVersion": "go1.24"}}


@pytest.fixture
def alertmanager_answers():
    """A local HTTP server answering /api/v2/status with `answer["body"]`."""
    import http.server
    import threading
    answer = {"body": {}}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            data = json.dumps(answer["body"], separators=(",", ":")).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    answer["port"] = server.server_address[1]
    yield answer
    server.shutdown()


def checks(plan, port: int) -> tuple[str, str]:
    """The whole and rejoined checks planned for the middle one of three Alertmanagers,
    asking the test server, waiting 1 s."""
    (op,) = plan("alertmanager", B, [A, B, C], restart=True)
    whole, rest = op["commands"][0].split(" && systemctl restart alertmanager.service && ", 1)
    rejoined = rest.split(" && ")[1]
    fix = lambda c: c.replace("http://127.0.0.1:9093/", f"http://127.0.0.1:{port}/").replace(  # noqa: E731
        f"{services.WAIT_READY} alertmanager", f"bash {REPO}/files/wait-ready monstack-test-none"
    ).removesuffix(" 60") + " 1"
    return fix(whole), fix(rejoined)


def run(command: str, path: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, **({"PATH": path} if path else {})}
    return subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=30,
                          env=env)


@pytest.mark.parametrize("tools", ["curl", "bash only"])
def test_the_checks_wait_for_a_settled_cluster_with_every_member(plan, alertmanager_answers,
                                                                 tools, tmp_path):
    path = None
    if tools == "bash only":   # no curl, no wget: bash's /dev/tcp
        bin_dir = tmp_path / "bin"
        bin_dir.mkdir()
        for tool in ("bash", "grep", "wc", "mktemp", "rm", "timeout", "cat", "sleep"):
            found = subprocess.run(["bash", "-c", f"command -v {tool}"], capture_output=True,
                                   text=True).stdout.strip()
            (bin_dir / tool).symlink_to(found)
        path = str(bin_dir)
    whole, rejoined = checks(plan, alertmanager_answers["port"])
    answers = alertmanager_answers
    answers["body"] = status("ready", 3)
    assert run(whole, path).returncode == 0
    assert run(rejoined, path).returncode == 0
    answers["body"] = status("ready", 2)   # one member not back (yet)
    for command, what in ((whole, "find its group of 3 whole before its restart"),
                          (rejoined, "rejoin its group of 3")):
        res = run(command, path)
        assert res.returncode == 1
        assert f"did not {what}" in res.stderr, res.stderr
        assert 'its answer holds "address": 2 times, not 3' in res.stderr, res.stderr
        if tools == "bash only":
            return   # the same code judges the answer, however it was fetched
    answers["body"] = status("settling", 3)   # gossip not settled: not ready
    res = run(rejoined, path)
    assert res.returncode == 1 and "does not match" in res.stderr, res.stderr
    # it ran alone before this run: no group to find whole; after it, it must be in one
    answers["body"] = status("disabled", 0)
    assert run(whole, path).returncode == 0
    assert run(rejoined, path).returncode == 1
