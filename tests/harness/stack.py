"""Helpers for end-to-end tests of the stack: test settings, Prometheus queries, services."""

from __future__ import annotations

import json
import time
import urllib.parse
import urllib.request

from . import debian
from .fleet import Host
from .mirror import Mirror

CORE_COMPONENTS = ["prometheus", "alertmanager", "node_exporter", "redis_exporter",
                   "postgres_exporter"]
# Tests of the core stack leave out the components that exist here only as test doubles
# (they have their own tests).
CORE_ONLY = {f"{c}_enabled": False for c in ("grafana", "loki", "alloy", "cadvisor")}


def mirror_settings(mirror: Mirror, components=CORE_COMPONENTS, deb_arch="amd64",
                    suites: dict[str, str] | None = None) -> dict:
    """group_data that points every archive install at the test mirror, with the versions
    and sha256s of the archives repacked from Debian's builds: the newest real build of
    each component unless `suites` names another Debian release for it."""
    data = {"artifact_mirror": mirror.base_url, "artifact_checksums": {}}
    for component in components:
        suite = (suites or {}).get(component, debian.NEWEST[component])
        version, name, sha = mirror.add_component(component, deb_arch, suite)
        data[f"{component}_version"] = version
        data["artifact_checksums"][name] = sha
    return data


def install_databases(host: Host) -> None:
    """Redis and PostgreSQL, as the services an operator already runs on a host."""
    host.ssh("apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "
             "redis-server postgresql >/dev/null && systemctl is-active redis-server postgresql",
             timeout=600)


def http_json(url: str, timeout: float = 10) -> dict:
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        return json.loads(resp.read())


def prom_query(prometheus: Host, query: str) -> list[dict]:
    url = f"http://{prometheus.ip}:9090/api/v1/query?" + urllib.parse.urlencode({"query": query})
    data = http_json(url)
    assert data["status"] == "success", data
    return data["data"]["result"]


def targets(prometheus: Host) -> list[dict]:
    return http_json(f"http://{prometheus.ip}:9090/api/v1/targets")["data"]["activeTargets"]


def wait_targets_up(prometheus: Host, expected: set[tuple[str, str]], timeout: float = 90):
    """Wait until every (job, instance) in `expected` is scraped and up."""
    deadline = time.monotonic() + timeout
    while True:
        seen = {(t["labels"]["job"], t["labels"]["instance"]): t for t in targets(prometheus)}
        down = {k: (seen[k]["health"], seen[k]["lastError"]) if k in seen else "missing"
                for k in expected if k not in seen or seen[k]["health"] != "up"}
        if not down:
            return seen
        if time.monotonic() > deadline:
            raise AssertionError(f"targets not up after {timeout:.0f} s: {down}")
        time.sleep(2)


def wait_for(what: str, check, timeout: float = 90, interval: float = 1):
    """Call `check` until it returns something true, and return that; fail naming `what`
    (and the last answer) after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not after {timeout:.0f} s (last: {found!r})")
        time.sleep(interval)


def service_pids(host: Host, units: list[str]) -> dict[str, str]:
    """MainPID and start time of each unit: unchanged means not restarted."""
    out = {}
    for unit in units:
        res = host.ssh(f"systemctl show -p MainPID -p ActiveEnterTimestampMonotonic --value {unit}")
        out[unit] = res.stdout.split()
    return out


def exposure_level(host: Host, unit: str) -> float:
    """`systemd-analyze security`'s overall exposure level of `unit` (0 to 10, lower is
    better) on `host`."""
    out = host.ssh(f"systemd-analyze security {unit}.service --no-pager").stdout
    line = [l for l in out.splitlines() if "Overall exposure level" in l][0]
    return float(line.split(":")[1].split()[0])


def assert_rerun_changes_nothing(rerun, watched):
    """Deploy again (`rerun()`, a PyinfraRun): no operation changes anything, and no
    service of `watched` ((host, [unit, ...]) pairs) restarts. Returns the run."""
    before = {h.name: service_pids(h, units) for h, units in watched}
    again = rerun().check()
    assert again.changed_ops() == {}, again.changed_ops()
    assert {h.name: service_pids(h, units) for h, units in watched} == before
    return again
