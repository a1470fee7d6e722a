"""An operator turns on TLS and basic auth for the core stack (issue 6).

Hosts: one monitoring host (Prometheus, Alertmanager, node_exporter) and one database host
(node and postgres exporters), every endpoint served over HTTPS with a login, through the
exporter-toolkit's web.yml of Debian's real binaries. The certificates come from a
throw-away CA made with openssl, one per host, valid for the host's IP address (the
address Prometheus scrapes it at).
"""

import json
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
from base64 import b64encode

import bcrypt
import pytest

from conftest import hosts_fixture, write_inventory
from harness import pki
from harness.pyinfra_cli import assert_preview_was_exact, run_pyinfra
from harness.stack import (CORE_ONLY, assert_rerun_changes_nothing, install_databases,
                           mirror_settings)

pytestmark = pytest.mark.fleet

hosts = hosts_fixture(2, suites=("bookworm", "trixie"))  # db: Debian 13
SECRET = "MONSTACK_BASIC_AUTH_PASSWORD"
# white space, quotes, a colon and a backslash: every config format's escaping is tried
PASSWORDS = ['E2e "first" pw:Kq7 \\ tls', "E2e-second-pw-Xr4", "E2e-third-pw-Jm9"]
USER = "prometheus"
UNITS = {"monitoring": ["prometheus", "alertmanager", "node_exporter"],
         "db": ["node_exporter", "postgres_exporter"]}
OUTPUTS: list[str] = []   # every pyinfra output of this module, searched for secrets


@pytest.fixture(scope="module")
def stack(hosts, fleet, mirror, tmp_path_factory):
    mon, db = hosts
    install_databases(db)
    certs = tmp_path_factory.mktemp("pki")
    pki.make_ca(certs)
    for h in hosts:
        pki.make_cert(certs, h.ip, ips=[h.ip])
    settings = {
        **mirror_settings(mirror), **CORE_ONLY,
        "artifact_cache_dir": str(tmp_path_factory.mktemp("artifact-cache")),
        "postgres_exporter_create_db_user": True,
        "tls_enabled": True, "tls_cert_file": f"{certs}/{{host}}.crt",
        "tls_key_file": f"{certs}/{{host}}.key", "tls_ca_file": f"{certs}/ca.crt",
        "basic_auth_enabled": True,
    }
    inventory = write_inventory(
        tmp_path_factory.mktemp("inventory") / "inventory.py", fleet,
        {"monitoring": [mon], "postgres": [db]}, group_data={"all": settings})
    return {"inventory": inventory, "monitoring": mon, "db": db, "certs": certs,
            "hosts": {"monitoring": mon, "db": db}, "password": PASSWORDS[0],
            "settings": settings}


def deploy(stack, password=None, **kw):
    run = run_pyinfra(stack["inventory"], env={SECRET: password or stack["password"]}, **kw)
    OUTPUTS.append(run.output)
    return run


def endpoints(stack) -> list[tuple[str, str]]:
    """(what, https URL) of every protected endpoint."""
    mon, db = stack["monitoring"].ip, stack["db"].ip
    return [("prometheus", f"https://{mon}:9090/-/ready"),
            ("alertmanager", f"https://{mon}:9093/-/ready"),
            ("node_exporter@monitoring", f"https://{mon}:9100/metrics"),
            ("node_exporter@db", f"https://{db}:9100/metrics"),
            ("postgres_exporter", f"https://{db}:9187/metrics")]


def get(stack, url: str, login: tuple[str, str] | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url)
    if login:
        request.add_header("Authorization",
                           "Basic " + b64encode(":".join(login).encode()).decode())
    tls = ssl.create_default_context(cafile=str(stack["certs"] / "ca.crt"))
    try:
        with urllib.request.urlopen(request, timeout=10, context=tls) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def api(stack, path: str, **params) -> dict:
    url = f"https://{stack['monitoring'].ip}:9090{path}"
    if params:
        url += "?" + urllib.parse.urlencode(params)
    status, body = get(stack, url, (USER, stack["password"]))
    assert status == 200, (status, body[:300])
    return json.loads(body)


def expected_targets(stack) -> set[tuple[str, str]]:
    mon, db = stack["monitoring"].ip, stack["db"].ip
    return {("node", f"{mon}:9100"), ("node", f"{db}:9100"), ("postgres", f"{db}:9187"),
            ("prometheus", f"{mon}:9090"), ("alertmanager", f"{mon}:9093"),
            *((("redis", f"{db}:9121"),) if stack.get("redis") else ())}


def wait_targets_up(stack, timeout: float = 90) -> dict:
    """Every expected target scraped and up (Prometheus asked over https, logged in)."""
    deadline = time.monotonic() + timeout
    while True:
        active = api(stack, "/api/v1/targets")["data"]["activeTargets"]
        seen = {(t["labels"]["job"], t["labels"]["instance"]): t for t in active}
        down = {k: (seen[k]["health"], seen[k]["lastError"]) if k in seen else "missing"
                for k in expected_targets(stack) if k not in seen or seen[k]["health"] != "up"}
        if not down:
            return seen
        assert time.monotonic() < deadline, f"targets not up after {timeout:.0f} s: {down}"
        time.sleep(2)


@pytest.fixture(scope="module")
def first_runs(stack):
    dry = deploy(stack, dry=True).check()
    real = deploy(stack).check()
    return dry, real


def test_dry_run_lists_exactly_the_changes_the_first_run_makes(first_runs):
    dry, real = first_runs
    assert real.total_changes > 40, real.output[-3000:]
    assert_preview_was_exact(dry, real)


def test_every_endpoint_wants_tls_and_the_login(stack, first_runs):
    for what, url in endpoints(stack):
        assert get(stack, url)[0] == 401, what
        assert get(stack, url, (USER, "wrong password"))[0] == 401, what
        assert get(stack, url, ("someone", stack["password"]))[0] == 401, what
        assert get(stack, url, (USER, stack["password"]))[0] == 200, what
        # plain http to the TLS port: Go's server answers 400, never the content
        plain = url.replace("https://", "http://")
        try:
            with urllib.request.urlopen(plain, timeout=10) as resp:
                status = resp.status
        except urllib.error.HTTPError as exc:
            status = exc.code
        except (urllib.error.URLError, ConnectionError):
            status = None
        assert status != 200, what


def test_prometheus_scrapes_every_target_and_alerts_through_tls(stack, first_runs):
    seen = wait_targets_up(stack)
    assert set(seen) == expected_targets(stack)
    assert all(t["scrapeUrl"].startswith("https://") for t in seen.values())
    assert api(stack, "/api/v1/query", query="pg_up")["data"]["result"][0]["value"][1] == "1"
    (am,) = api(stack, "/api/v1/alertmanagers")["data"]["activeAlertmanagers"]
    assert am["url"].startswith(f"https://{stack['monitoring'].ip}:9093/")
    # the always-firing Watchdog reaches Alertmanager through its TLS and login
    url = f"https://{stack['monitoring'].ip}:9093/api/v2/alerts"
    deadline = time.monotonic() + 120
    while True:
        status, body = get(stack, url, (USER, stack["password"]))
        assert status == 200, body[:300]
        if any(a["labels"].get("alertname") == "Watchdog" for a in json.loads(body)):
            break
        assert time.monotonic() < deadline, "Watchdog never reached Alertmanager"
        time.sleep(3)


def stat(host, path: str) -> str:
    return host.ssh(f"stat -c '%a %U:%G' {path}").stdout.strip()


def test_secrets_are_on_the_hosts_only_where_they_belong(stack, first_runs):
    mon, db = stack["monitoring"], stack["db"]
    for host, component in ((mon, "prometheus"), (mon, "alertmanager"), (mon, "node_exporter"),
                            (db, "node_exporter"), (db, "postgres_exporter")):
        for name in ("web.yml", "tls.crt", "tls.key"):
            assert stat(host, f"/etc/{component}/{name}") == f"640 root:{component}", \
                (host.ip, component, name)
        web = host.ssh(f"cat /etc/{component}/web.yml").stdout
        assert stack["password"] not in web
        hashed = web.split(f"{USER}: ")[1].split()[0].strip("'\"")
        assert bcrypt.checkpw(stack["password"].encode(), hashed.encode())
        unit = host.ssh(f"systemctl cat {component}").stdout
        assert f"--web.config.file=/etc/{component}/web.yml" in unit
        assert stack["password"] not in unit
        # the private key is the host's own, unchanged
        key = (stack["certs"] / f"{host.ip}.key").read_text()
        assert host.ssh(f"cat /etc/{component}/tls.key").stdout == key
    for host in (mon, db):
        assert stat(host, "/etc/monstack/wait-ready.curlrc") == "600 root:root"
        assert stat(host, "/etc/monstack/ca.crt") == "644 root:root"
    assert stat(mon, "/etc/prometheus/basic_auth_password") == "640 root:prometheus"
    assert mon.ssh("cat /etc/prometheus/basic_auth_password").stdout.strip() == stack["password"]
    assert "basic_auth_password" in mon.ssh("cat /etc/prometheus/prometheus.yml").stdout


def test_a_second_run_changes_nothing_and_restarts_nothing(stack, first_runs):
    assert_rerun_changes_nothing(lambda: deploy(stack), [
        (stack["hosts"][role], units) for role, units in UNITS.items()])


def test_a_new_password_dry_run_equals_the_real_run(stack, first_runs):
    """Rotating the password: --dry (with --diff) predicts the real run's changes, then
    only the new password opens the endpoints and Prometheus scrapes with it."""
    old, new = stack["password"], PASSWORDS[1]
    dry = deploy(stack, password=new, dry=True, extra=["--diff"]).check()
    real = deploy(stack, password=new).check()
    assert real.total_changes > 0
    assert_preview_was_exact(dry, real)
    stack["password"] = new
    for what, url in endpoints(stack):
        assert get(stack, url, (USER, old))[0] == 401, what
        assert get(stack, url, (USER, new))[0] == 200, what
    # Prometheus restarted with the new password: every target it shows up is a scrape
    # made with it
    wait_targets_up(stack)
    assert deploy(stack).check().changed_ops() == {}


def test_no_password_hash_or_key_appears_in_any_output(stack, first_runs):
    # a pending change, shown as verbosely as pyinfra can: -vvv and --diff
    verbose = deploy(stack, password=PASSWORDS[2], dry=True, extra=["-vvv", "--diff"]).check()
    assert "Will modify /etc/node_exporter/web.yml (content not shown" in verbose.output
    key_lines = [line for h in stack["hosts"].values()
                 for line in (stack["certs"] / f"{h.ip}.key").read_text().splitlines()
                 if "-----" not in line]
    assert len(OUTPUTS) >= 7
    for output in OUTPUTS:
        for password in PASSWORDS:
            assert password not in output
        assert "pw:Kq7" not in output and "$2b$" not in output
        for line in key_lines:
            assert line not in output


def test_tls_without_the_login_and_redis_exporter_with_its_own_tls_flags(
        stack, first_runs, fleet, tmp_path):
    """The login turned off (TLS stays), and the db host joins the redis group: Debian's
    redis_exporter 1.45 has no basic auth, but TLS through its own flags."""
    mon, db = stack["monitoring"], stack["db"]
    inventory = write_inventory(
        tmp_path / "inventory" / "inventory.py", fleet,
        {"monitoring": [mon], "postgres": [db], "redis": [db]},
        group_data={"all": {**stack["settings"], "basic_auth_enabled": False}})
    stack["inventory"], stack["redis"] = inventory, True
    dry = deploy(stack, dry=True).check()
    real = deploy(stack).check()
    assert_preview_was_exact(dry, real)
    urls = [*endpoints(stack), ("redis_exporter", f"https://{db.ip}:9121/metrics")]
    for what, url in urls:
        assert get(stack, url)[0] == 200, what
        with pytest.raises((urllib.error.URLError, ConnectionError)):
            urllib.request.urlopen(url.replace("https://", "http://"), timeout=10).read()
    assert "-tls-server-cert-file=/etc/redis_exporter/tls.crt" in db.ssh(
        "systemctl cat redis_exporter").stdout
    assert stat(db, "/etc/redis_exporter/tls.key") == "640 root:redis_exporter"
    assert "basic_auth_users" not in mon.ssh("cat /etc/node_exporter/web.yml").stdout
    wait_targets_up(stack)
    assert deploy(stack).check().changed_ops() == {}


def test_redis_exporter_of_today_takes_the_login_too(stack, first_runs, fleet, tmp_path):
    """The login back on, with the redis group: today's redis_exporter (Debian unstable's
    real 1.86, repacked) serves its metrics behind the same TLS and basic auth as the
    others (it reads a web config from 1.67 on)."""
    mon, db = stack["monitoring"], stack["db"]
    inventory = write_inventory(
        tmp_path / "inventory" / "inventory.py", fleet,
        {"monitoring": [mon], "postgres": [db], "redis": [db]},
        group_data={"all": stack["settings"]})
    stack["inventory"], stack["redis"] = inventory, True
    assert_preview_was_exact(deploy(stack, dry=True).check(), deploy(stack).check())
    url = f"https://{db.ip}:9121/metrics"
    assert get(stack, url)[0] == 401
    assert get(stack, url, (USER, "wrong password"))[0] == 401
    status, body = get(stack, url, (USER, stack["password"]))
    assert status == 200 and b"redis_up" in body
    wait_targets_up(stack)
    assert deploy(stack).check().changed_ops() == {}
