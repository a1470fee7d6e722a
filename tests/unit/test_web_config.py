"""TLS and basic auth through the exporter-toolkit web config (operations/base/tls_auth.py).

web.yml and the scrape configs are checked on the parsed YAML and by Debian's promtool;
the login, the certificate and wait-ready's curl config are tried against Debian's real
node_exporter listening on 127.0.0.1. Certificates come from a throw-away CA made with
openssl.
"""

from __future__ import annotations

import json
import signal
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from base64 import b64encode
from pathlib import Path

import bcrypt
import pytest
import yaml

TESTS = Path(__file__).resolve().parents[1]
REPO = TESTS.parent

from harness import debian, pki
from harness.doubles.grafana_double import GrafanaDouble
from operations.base import inventory as context, tls_auth as web_config
from operations.components.prometheus import federation, server as prometheus
from operations.components.grafana import provisioning as gp
from operations.components.grafana.api import CREATED, UNCHANGED, UPDATED, GrafanaClient
from operations.base.schema import SettingsError
from operations.stack import validate
from harness.fake_host import FakeHost
from harness.net import free_port

# white space, a colon, quotes and a backslash: every config format's escaping is tried
PASSWORD = 'Tls "test" pass:wörd \\ 7'
SECRET_VAR = "MONSTACK_T_BASIC_AUTH"
PUBLIC_IP = "10.99.0.1"   # the address in the certificate; nothing listens there


@pytest.fixture(scope="module")
def certs(tmp_path_factory) -> dict:
    folder = tmp_path_factory.mktemp("pki")
    ca = pki.make_ca(folder)
    cert, key = pki.make_cert(folder, "h1", ips=[PUBLIC_IP, "127.0.0.1"])
    other_cert, _ = pki.make_cert(folder, "h2", ips=["10.99.0.2"])
    return {"dir": folder, "ca": ca, "cert": cert, "key": key, "other_cert": other_cert}


@pytest.fixture
def stack(monkeypatch, tmp_path, certs):
    """Settings of every (fake) host from `data`, seen by context.settings()/secret()."""
    monkeypatch.setenv(SECRET_VAR, PASSWORD)
    monkeypatch.setattr(context, "_secrets_files", {})
    monkeypatch.setattr(web_config, "_protection", {})
    monkeypatch.setattr(web_config, "_hashes", {})

    def build(data: dict | None = None, per_host: dict | None = None):
        base = {"secrets_file": str(tmp_path / "secrets.yml"),
                "basic_auth_password_secret": SECRET_VAR, **(data or {})}
        all_settings = {}
        for name in ("h1", "h2", *(per_host or {})):
            all_settings[name] = validate(name, {**base, **(per_host or {}).get(name, {})})
        monkeypatch.setattr(context, "settings",
                            lambda h=None: all_settings[(h or FakeHost("h1")).name])
        monkeypatch.setattr(gp, "settings", context.settings)
        return all_settings["h1"]

    return build


def on(certs, **extra) -> dict:
    return {"tls_enabled": True, "tls_cert_file": str(certs["dir"] / "{host}.crt"),
            "tls_key_file": str(certs["dir"] / "{host}.key"), "tls_ca_file": str(certs["ca"]),
            "basic_auth_enabled": True, **extra}


# -- bcrypt --------------------------------------------------------------------------------------
def test_the_hash_is_the_same_on_every_run_and_verifies():
    first = web_config.bcrypt_hash(PASSWORD, "h1", "node_exporter", "prometheus")
    web_config._hashes.clear()
    again = web_config.bcrypt_hash(PASSWORD, "h1", "node_exporter", "prometheus")
    assert first == again
    assert first.startswith(f"$2b${web_config.BCRYPT_COST:02d}$")
    assert bcrypt.checkpw(PASSWORD.encode(), first.encode())
    assert not bcrypt.checkpw(b"another password", first.encode())


def test_the_hash_differs_per_host_component_and_user():
    hashes = {web_config.bcrypt_hash(PASSWORD, *context_)
              for context_ in (("h1", "node_exporter", "prometheus"),
                               ("h2", "node_exporter", "prometheus"),
                               ("h1", "alertmanager", "prometheus"),
                               ("h1", "node_exporter", "scraper"))}
    assert len(hashes) == 4


def test_the_salt_does_not_come_from_the_password():
    # a salt computed from the password would be a fast test of password guesses
    one = web_config.bcrypt_hash("password one", "h1", "node_exporter", "prometheus")
    two = web_config.bcrypt_hash("password two", "h1", "node_exporter", "prometheus")
    assert one[:29] == two[:29] and one != two   # "$2b$10$" + 22 salt characters


# -- web.yml -------------------------------------------------------------------------------------
def test_web_yml_with_tls_and_login_passes_promtool(stack, certs, tmp_path):
    stack(on(certs))
    p = web_config.protection(FakeHost("h1"))
    # the paths the host would have: here the controller's files stand in for the copies
    (tmp_path / "tls.crt").write_text(p.cert_pem)
    (tmp_path / "tls.key").write_text(p.key_pem)
    text = web_config.web_yml(p, "node_exporter", str(tmp_path))
    data = yaml.safe_load(text)
    assert data["tls_server_config"] == {"cert_file": f"{tmp_path}/tls.crt",
                                         "key_file": f"{tmp_path}/tls.key"}
    (user, hashed), = data["basic_auth_users"].items()
    assert user == "prometheus"
    assert bcrypt.checkpw(PASSWORD.encode(), hashed.encode())
    assert PASSWORD not in text and "pass:w" not in text
    debian.promtool_accepts(text, tmp_path, check="web-config")


def test_web_yml_login_only_or_tls_only(stack, certs):
    stack({"basic_auth_enabled": True})
    login = yaml.safe_load(web_config.web_yml(web_config.protection(FakeHost("h1")),
                                              "alertmanager", "/etc/alertmanager"))
    assert set(login) == {"basic_auth_users"}
    web_config._protection.clear()
    stack(on(certs, basic_auth_enabled=False))
    tls = yaml.safe_load(web_config.web_yml(web_config.protection(FakeHost("h1")),
                                            "alertmanager", "/etc/alertmanager"))
    assert tls == {"tls_server_config": {"cert_file": "/etc/alertmanager/tls.crt",
                                         "key_file": "/etc/alertmanager/tls.key"}}


def test_off_by_default(stack):
    s = stack()
    assert not s.tls_enabled and not s.basic_auth_enabled
    assert web_config.protection(FakeHost("h1")) is None
    assert web_config.scrape_client(s) == {}


# -- Prometheus ----------------------------------------------------------------------------------
@pytest.fixture
def fake_inventory(monkeypatch):
    ports = {"alertmanager": 9093, "blackbox_exporter": 9115, "prometheus": 9090}
    running = {"alertmanager": [FakeHost("h1")], "blackbox_exporter": [FakeHost("h1")]}
    monkeypatch.setattr(prometheus, "hosts_running", lambda c: list(running.get(c, [])))
    monkeypatch.setattr(prometheus, "endpoint", lambda c, h: f"{h.name}:{ports[c]}")
    monkeypatch.setattr(prometheus, "host", FakeHost("h1"))
    monkeypatch.setattr(federation, "settings", lambda h: validate(h.name, {}))


JOBS = [{"name": job, "comment": job, "component": component, "honor_labels": False,
         "groups": [{"targets": ["h1:1"], "labels": {"host": "h1"}}]}
        for job, component in (("node", "node_exporter"), ("redis", "redis_exporter"),
                               ("alertmanager", "alertmanager"), ("loki", "loki"),
                               ("alloy", "alloy"), ("cadvisor", "cadvisor"))]
CLIENT = {"scheme": "https", "tls_config": {"ca_file": "/etc/monstack/ca.crt"},
          "basic_auth": {"username": "prometheus",
                         "password_file": "/etc/prometheus/basic_auth_password"}}


def test_prometheus_scrapes_and_alerts_through_tls_and_login(stack, certs, fake_inventory,
                                                            tmp_path):
    s = stack(on(certs, blackbox_exporter_targets=["https://example.org/"],
                 # the version of the promtool that checks it below
                 prometheus_version=debian.upstream_version("prometheus")))
    text = prometheus.config_content(s, JOBS)
    cfg = yaml.safe_load(text)
    (am,) = cfg["alerting"]["alertmanagers"]
    assert am == {"static_configs": [{"targets": ["h1:9093"]}], **CLIENT}
    jobs = {j["job_name"]: j for j in cfg["scrape_configs"]}
    for name in ("prometheus", "node", "redis", "alertmanager", "blackbox_http"):
        assert {k: jobs[name].get(k) for k in CLIENT} == CLIENT, name
    # Loki, Alloy and cAdvisor are not covered: plain http, no login sent
    for name in ("loki", "alloy", "cadvisor"):
        assert not set(CLIENT) & set(jobs[name]), name
    assert PASSWORD not in text and "pass:w" not in text
    debian.promtool_accepts(text, tmp_path)


def test_prometheus_config_is_unchanged_when_off(stack, fake_inventory):
    s = stack({"blackbox_exporter_targets": ["https://example.org/"]})
    text = prometheus.config_content(s, JOBS)
    for word in ("scheme", "tls_config", "basic_auth", "https://h1"):
        assert word not in text
    assert "--web.config.file" not in " ".join(prometheus.flags(s, "/usr/bin/prometheus"))


def test_login_only_keeps_http(stack, fake_inventory):
    s = stack({"basic_auth_enabled": True})
    cfg = yaml.safe_load(prometheus.config_content(s, JOBS))
    node = next(j for j in cfg["scrape_configs"] if j["job_name"] == "node")
    assert "scheme" not in node and "tls_config" not in node
    assert node["basic_auth"]["password_file"] == web_config.PROMETHEUS_PASSWORD_FILE


# -- Grafana -------------------------------------------------------------------------------------
def test_grafana_data_sources_log_in_and_trust_the_ca(stack, certs, monkeypatch):
    stack(on(certs))
    running = {"prometheus": [FakeHost("h1")], "alertmanager": [FakeHost("h1")]}
    monkeypatch.setattr(gp, "hosts_running", lambda c: list(running.get(c, [])))
    monkeypatch.setattr(gp, "endpoint", lambda c, h: f"{h.name}:{ {'prometheus': 9090, 'alertmanager': 9093}[c]}")
    prom, am = gp.datasources(context.settings(FakeHost("h1")))
    ca = certs["ca"].read_text()
    assert prom["url"] == "https://h1:9090" and am["url"] == "https://h1:9093"
    for ds in (prom, am):
        assert ds["basicAuth"] is True and ds["basicAuthUser"] == "prometheus"
        assert ds["jsonData"]["tlsAuthWithCACert"] is True
        assert ds["secureJsonData"] == {"basicAuthPassword": PASSWORD, "tlsCACert": ca}
        # only secureJsonData holds the password (Grafana never returns it)
        assert PASSWORD not in json.dumps({k: v for k, v in ds.items()
                                           if k != "secureJsonData"})
    assert am["jsonData"]["implementation"] == "prometheus"

    # a new password changes the fingerprint, so the data source is updated
    fingerprint = prom["jsonData"]["monstackCredentials"]
    web_config._protection.clear()
    monkeypatch.setenv(SECRET_VAR, PASSWORD + "2")
    prom2, _ = gp.datasources(context.settings(FakeHost("h1")))
    assert prom2["jsonData"]["monstackCredentials"] != fingerprint


def test_grafana_keeps_the_data_sources_and_takes_a_new_password(stack, certs, monkeypatch):
    """Against the Grafana double: a second provisioning writes nothing, a new password is
    sent (its fingerprint changed) and stored."""
    stack(on(certs))
    monkeypatch.setattr(gp, "hosts_running", lambda c: [FakeHost("h1")] if c in (
        "prometheus", "alertmanager") else [])
    monkeypatch.setattr(gp, "endpoint", lambda c, h: "h1:9090")

    def provision(client) -> list[str]:
        return [client.ensure_datasource(ds) for ds in gp.datasources(
            context.settings(FakeHost("h1")))]

    with GrafanaDouble(admin_password="admin-pw") as double, \
            GrafanaClient(double.url, basic_auth=("admin", "admin-pw")) as client:
        assert provision(client) == [CREATED, CREATED]
        assert provision(client) == [UNCHANGED, UNCHANGED]
        web_config._protection.clear()
        monkeypatch.setenv(SECRET_VAR, "a new password")
        assert provision(client) == [UPDATED, UPDATED]
        secrets = double.state.datasource_secrets["prometheus"]
        assert secrets["basicAuthPassword"] == "a new password"


# -- readiness -----------------------------------------------------------------------------------
def test_readiness_url_and_options_hold_no_password(stack, certs, monkeypatch):
    stack(on(certs))
    monkeypatch.setattr(web_config, "host", FakeHost("h1"))
    monkeypatch.setattr(context, "endpoint", lambda c, h: f"{PUBLIC_IP}:9100")
    url, options = web_config.readiness("node_exporter", "http://127.0.0.1:9100/metrics")
    assert url == f"https://{PUBLIC_IP}:9100/metrics"
    assert options == ["-K", web_config.READY_CURLRC,
                       "--connect-to", f"{PUBLIC_IP}:9100:127.0.0.1:9100"]
    # components without TLS of their own keep their URL
    assert web_config.readiness("loki", "http://127.0.0.1:3100/ready") == (
        "http://127.0.0.1:3100/ready", [])


@pytest.fixture
def node_exporter(stack, certs, tmp_path):
    """Debian's node_exporter on 127.0.0.1 with the web.yml the deploy writes."""
    stack(on(certs))
    p = web_config.protection(FakeHost("h1"))
    (tmp_path / "tls.crt").write_text(p.cert_pem)
    (tmp_path / "tls.key").write_text(p.key_pem)
    (tmp_path / "web.yml").write_text(web_config.web_yml(p, "node_exporter", str(tmp_path)))
    port = free_port()
    binary = debian.program("node_exporter")
    proc = subprocess.Popen([str(binary), f"--web.listen-address=127.0.0.1:{port}",
                             f"--web.config.file={tmp_path}/web.yml",
                             "--collector.disable-defaults", "--collector.time"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while socket.socket().connect_ex(("127.0.0.1", port)) != 0:
        assert time.monotonic() < deadline and proc.poll() is None, "node_exporter did not start"
        time.sleep(0.1)
    yield {"port": port, "protection": p, "dir": tmp_path}
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=10)


def get(url: str, ca: Path, login: tuple[str, str] | None) -> int:
    request = urllib.request.Request(url)
    if login:
        request.add_header("Authorization",
                           "Basic " + b64encode(":".join(login).encode()).decode())
    tls = ssl.create_default_context(cafile=str(ca))
    try:
        with urllib.request.urlopen(request, timeout=5, context=tls) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_the_real_exporter_takes_the_login_and_the_certificate(node_exporter, certs):
    url = f"https://127.0.0.1:{node_exporter['port']}/metrics"
    assert get(url, certs["ca"], None) == 401
    assert get(url, certs["ca"], ("prometheus", "wrong")) == 401
    assert get(url, certs["ca"], ("prometheus", PASSWORD)) == 200


def wait_ready(curlrc: Path, url: str, *options: str) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(REPO / "files/wait-ready"), "monstack-test-none",
                           url, "1", "-K", str(curlrc), *options],
                          capture_output=True, text=True, timeout=30)


def test_wait_ready_logs_in_from_its_curl_config(node_exporter, stack, certs, monkeypatch,
                                                 tmp_path):
    port = node_exporter["port"]
    monkeypatch.setattr(web_config, "host", FakeHost("h1"))
    monkeypatch.setattr(context, "endpoint", lambda c, h: f"{PUBLIC_IP}:{port}")
    url, options = web_config.readiness("node_exporter", f"http://127.0.0.1:{port}/metrics")
    curlrc = tmp_path / "wait-ready.curlrc"
    p = node_exporter["protection"]
    text = web_config.curlrc(p, ca_file=str(certs["ca"]))
    curlrc.write_text(text)
    options = [o for o in options if o not in ("-K", web_config.READY_CURLRC)]
    ok = wait_ready(curlrc, url, *options)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    # a wrong password: not ready, and the message says why without any password
    curlrc.write_text(text.replace(PASSWORD.replace("\\", "\\\\").replace('"', '\\"'), "nope"))
    bad = wait_ready(curlrc, url, *options)
    assert bad.returncode == 1
    assert "401" in bad.stderr and PASSWORD not in bad.stderr


# -- settings and controller-side checks ---------------------------------------------------------
@pytest.mark.parametrize("data,needle", [
    ({"tls_enabled": True}, "tls_enabled needs tls_cert_file, tls_key_file, tls_ca_file"),
    ({"tls_enabled": True, "tls_cert_file": "/a", "tls_key_file": "/b"},
     "tls_enabled needs tls_ca_file"),
    ({"basic_auth_enabled": True, "basic_auth_username": "a:b"}, "basic_auth_username"),
    ({"basic_auth_enabled": True, "basic_auth_username": ""}, "basic_auth_username"),
])
def test_incomplete_settings_are_refused(data, needle):
    with pytest.raises(SettingsError, match=needle):
        validate("h1", data)


def test_missing_certificate_names_setting_and_path(stack, certs):
    stack(on(certs, tls_cert_file=str(certs["dir"] / "missing-{host}.crt")))
    with pytest.raises(SettingsError, match=r"host h1: tls_cert_file: .*/missing-h1\.crt "
                                            "does not exist on the controller"):
        web_config.protection(FakeHost("h1"))


def test_certificate_of_another_key_is_refused(stack, certs):
    stack(on(certs, tls_cert_file=str(certs["other_cert"])))
    with pytest.raises(SettingsError, match="do not load as a pair"):
        web_config.protection(FakeHost("h1"))


def test_encrypted_key_is_refused_without_prompting(stack, certs, tmp_path):
    encrypted = tmp_path / "encrypted.key"
    subprocess.run(["openssl", "pkey", "-in", str(certs["key"]), "-aes256", "-passout",
                    "pass:secret", "-out", str(encrypted)], check=True, capture_output=True)
    stack(on(certs, tls_key_file=str(encrypted)))
    with pytest.raises(SettingsError, match="not be encrypted"):
        web_config.protection(FakeHost("h1"))


def test_a_ca_file_without_a_certificate_is_refused(stack, certs, tmp_path):
    (tmp_path / "ca.crt").write_text("not a certificate\n")
    stack(on(certs, tls_ca_file=str(tmp_path / "ca.crt")))
    with pytest.raises(SettingsError, match="tls_ca_file .* holds no usable CA certificate"):
        web_config.protection(FakeHost("h1"))


def test_missing_password_names_the_secret(stack, monkeypatch):
    stack({"basic_auth_enabled": True})
    monkeypatch.delenv(SECRET_VAR)
    with pytest.raises(SettingsError, match=f"secret {SECRET_VAR} .* is not set"):
        web_config.protection(FakeHost("h1"))


@pytest.mark.parametrize("password,needle", [
    ("x" * 73, "longer than 72 bytes"), ("ä" * 37, "longer than 72 bytes"),
    ("two\nlines", "line breaks"), (" padded", "white space"),
])
def test_passwords_that_cannot_work_are_refused(stack, monkeypatch, password, needle):
    stack({"basic_auth_enabled": True})
    monkeypatch.setenv(SECRET_VAR, password)
    with pytest.raises(SettingsError, match=needle) as exc:
        web_config.protection(FakeHost("h1"))
    assert password not in str(exc.value)


def test_hosts_must_agree_on_the_stack_settings(stack, certs):
    stack(on(certs), per_host={"h2": {"basic_auth_enabled": False}})
    with pytest.raises(SettingsError, match="differ between hosts.*h1.*h2"):
        web_config.check_stack([FakeHost("h1"), FakeHost("h2")])
    # certificates are per host; everything else the same: fine
    stack(on(certs), per_host={"h2": {"tls_cert_file": "/elsewhere/h2.crt"}})
    web_config.check_stack([FakeHost("h1"), FakeHost("h2")])


def test_environment_file_quoting_survives_systemd(tmp_path):
    """systemd un-escapes \\" \\\\ \\` \\$ inside double quotes of an EnvironmentFile; the
    shell's double quotes do the same, so a shell stands in for it."""
    value = 'a "b" \\c `d` $e f'
    env = tmp_path / "env"
    env.write_text(f"X={web_config.env_quote(value)}\n")
    out = subprocess.run(["bash", "-c", f"set -a; . {env}; printf %s \"$X\""],
                         capture_output=True, text=True, check=True).stdout
    assert out == value


def test_curl_config_holds_the_login_and_the_ca(stack, certs):
    stack(on(certs))
    text = web_config.curlrc(web_config.protection(FakeHost("h1")))
    assert f'cacert = "{web_config.CA_FILE}"' in text
    assert 'user = "prometheus:Tls \\"test\\" pass:wörd \\\\ 7"' in text


def test_readiness_with_a_login_only_keeps_the_local_url(stack, monkeypatch):
    stack({"basic_auth_enabled": True})
    monkeypatch.setattr(web_config, "host", FakeHost("h1"))
    assert web_config.readiness("alertmanager", "http://127.0.0.1:9093/-/ready") == (
        "http://127.0.0.1:9093/-/ready", ["-K", web_config.READY_CURLRC])
