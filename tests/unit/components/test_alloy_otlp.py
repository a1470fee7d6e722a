"""alloy_otlp: Alloy receives applications' OTLP and profiles and forwards each signal to
its backend; metrics go through otelcol.exporter.prometheus and prometheus.remote_write,
and Prometheus turns its remote-write receiver on where an Alloy writes to it.

config.alloy is checked structurally here (the real alloy cannot run here); the
component and argument names come from Alloy's docs at the pinned tag (see the release
notes in operations/components/alloy.py). The flags are checked against the --help of
Debian's real Prometheus builds.
"""

from __future__ import annotations

import re
import subprocess

import pytest

from operations.base import tls_auth
from operations.base.schema import SettingsError
from operations.components import alloy
from operations.components.prometheus import remote_write_receiver, server as prometheus
from operations.stack import validate
from harness import debian

URLS = {"alloy_metrics_url": "http://127.0.0.1:9090/api/v1/write",
        "alloy_traces_url": "http://127.0.0.1:14318/v1/traces",
        "alloy_profiles_url": "http://127.0.0.1:4040",
        "alloy_loki_url": "http://127.0.0.1:3100/loki/api/v1/push"}


def otlp_config(s) -> str:
    return alloy.config_content(s, "web1", alloy.loki_push_url(s), False, alloy.otlp_routes(s))


def alloy_structure(text: str) -> list[tuple[str, str]]:
    """Components declared at the top level as `name.path "label" {` (labels: Alloy
    identifiers); brackets balanced."""
    bare = re.sub(r'"(?:[^"\\\n]|\\.)*"|//[^\n]*', '""', text)
    assert bare.count("{") == bare.count("}") and bare.count("[") == bare.count("]")
    return re.findall(r'^([a-z_]+(?:\.[a-z_]+)+) "([A-Za-z_][A-Za-z0-9_]*)" \{$', text, re.M)


def wiring(text: str) -> dict[str, list[str]]:
    """Each `<component>.<label>.input|receiver|handler|content` reference must name a
    declared component; returns the output lists of the receiver and of the batch."""
    declared = {f"{kind}.{label}" for kind, label in alloy_structure(text)}
    for ref in re.findall(r"((?:otelcol|pyroscope|local|prometheus)\.[a-z_.0-9]+)\."
                          r"(?:input|receiver|handler|content)\b", text):
        assert ref in declared, f"{ref} is used but not declared ({sorted(declared)})"
    outputs = {}
    for kind in ("otelcol.receiver.otlp", "otelcol.processor.batch"):
        block = re.search(rf'^{re.escape(kind)} "apps" \{{.*?^\}}', text, re.S | re.M).group()
        outputs[kind] = {signal: re.findall(r"[a-z_.0-9]+(?=\.input)", refs)
                         for signal, refs in re.findall(r"(metrics|logs|traces)\s*=\s*\[(.*?)\]",
                                                        block)}
    return outputs


def exporter_urls(text: str) -> dict[str, tuple[str, str]]:
    """label -> (signal, URL) of every otelcol.exporter.otlphttp."""
    return {label: (signal, url) for label, signal, url in re.findall(
        r'^otelcol\.exporter\.otlphttp "([a-z_0-9]+)" \{\n\t(metrics|logs|traces)_endpoint = '
        r'"([^"]+)"', text, re.M)}


def remote_write_endpoints(text: str) -> list[tuple[str, str]]:
    """(name, url) of each endpoint block of prometheus.remote_write "apps"."""
    block = re.search(r'^prometheus\.remote_write "apps" \{.*?^\}', text, re.S | re.M).group()
    return re.findall(r'\tendpoint \{\n\t\tname = "([^"]+)"\n\t\turl  = "([^"]+)"', block)


def test_without_alloy_otlp_nothing_is_received():
    s = validate("web1", URLS)
    text = alloy.config_content(s, "web1", alloy.loki_push_url(s), False, alloy.otlp_routes(s))
    assert alloy.otlp_routes(s) is None
    assert "otelcol" not in text and "pyroscope" not in text
    assert alloy.otlp_listeners(s) == []


def test_every_signal_goes_to_its_backend():
    s = validate("web1", {"alloy_otlp": True, **URLS})
    text = otlp_config(s)
    outputs = wiring(text)
    batch = "otelcol.processor.batch.apps"
    assert outputs["otelcol.receiver.otlp"] == {sig: [batch] for sig in ("metrics", "logs", "traces")}
    assert outputs["otelcol.processor.batch"] == {
        "metrics": ["otelcol.exporter.prometheus.apps"],
        "logs": ["otelcol.exporter.otlphttp.loki"],
        "traces": ["otelcol.exporter.otlphttp.jaeger"]}
    assert exporter_urls(text) == {
        "loki": ("logs", "http://127.0.0.1:3100/otlp/v1/logs"),
        "jaeger": ("traces", URLS["alloy_traces_url"])}
    assert 'endpoint = "127.0.0.1:4317"' in text and 'endpoint = "127.0.0.1:4318"' in text
    # metrics: translated with the defaults, written to the remote-write URL
    assert re.search(r'^otelcol\.exporter\.prometheus "apps" \{\n'
                     r'\tforward_to = \[prometheus\.remote_write\.apps\.receiver\]\n\}', text, re.M)
    assert remote_write_endpoints(text) == [("prometheus", URLS["alloy_metrics_url"])]
    assert re.search(r'pyroscope\.receive_http "apps" \{\n\thttp \{\n\t\tlisten_address = '
                     r'"127\.0\.0\.1"\n\t\tlisten_port    = 4041\n', text)
    assert 'url = "http://127.0.0.1:4040"' in text
    assert "forward_to = [pyroscope.write.pyroscope.receiver]" in text


def test_the_listen_address_and_ports_are_settings():
    s = validate("web1", {"alloy_otlp": True, "alloy_otlp_address": "::",
                          "alloy_otlp_grpc_port": 14317, "alloy_otlp_http_port": 14319,
                          "alloy_profiles_port": 14041, **URLS})
    text = otlp_config(s)
    assert 'endpoint = "[::]:14317"' in text and 'endpoint = "[::]:14319"' in text
    assert 'listen_address = "::"' in text and "listen_port    = 14041" in text
    assert alloy.otlp_listeners(s) == [("alloy_otlp_grpc_port", "::"),
                                       ("alloy_otlp_http_port", "::"),
                                       ("alloy_profiles_port", "::")]


@pytest.mark.parametrize("data,words", [
    ({"alloy_otlp_address": "auto"}, ["alloy_otlp_address"]),
    ({"alloy_otlp_address": "localhost"}, ["alloy_otlp_address", "127.0.0.1"]),
    ({"alloy_version": "1.9.2"}, ["alloy_otlp", "1.10.0", "pyroscope.receive_http"]),
    ({"alloy_traces_url": "jaeger:14318"}, ["alloy_traces_url"]),
])
def test_bad_otlp_settings_are_refused(data, words):
    with pytest.raises(SettingsError) as exc:
        validate("web1", {"alloy_otlp": True, **URLS, **data})
    assert all(w in str(exc.value) for w in words), str(exc.value)


def test_an_old_alloy_without_alloy_otlp_is_fine():
    assert validate("web1", {"alloy_version": "1.9.2"}).alloy_otlp is False


def test_a_loki_url_of_another_shape_is_refused_for_otlp_logs():
    s = validate("web1", {"alloy_otlp": True, **URLS,
                          "alloy_loki_url": "http://127.0.0.1:3100/push"})
    with pytest.raises(SettingsError, match="alloy_loki_url.*/loki/api/v1/push"):
        alloy.otlp_routes(s)


# -- from the inventory ---------------------------------------------------------------------
def test_inventory_backends_are_found(inventory):
    use = inventory({"monitoring": ["mon1"], "web": ["web1"]},
                    group_data={"web": {"alloy_otlp": True}})
    s = use("web1")
    routes = alloy.otlp_routes(s)
    assert [(e.label, e.signal, e.url) for e in routes.exporters] == [
        ("prometheus_mon1", "metrics", "http://mon1:9090/api/v1/write"),
        ("loki", "logs", "http://mon1:3100/otlp/v1/logs")]
    # no Jaeger or Pyroscope in this deploy: no traces, no profiles forwarded
    assert routes.to("traces") == [] and routes.profiles_url is None
    text = otlp_config(s)
    assert wiring(text)["otelcol.receiver.otlp"]["traces"] == []
    assert "pyroscope" not in text


def test_every_replica_of_an_ha_group_receives(inventory):
    use = inventory({"monitoring": ["mon2", "mon1"], "web": ["web1", "web2"]},
                    host_data={"web1": {"alloy_otlp": True}, "mon2": {"prometheus_port": 9091}})
    s = use("web1")
    assert [e.url for e in alloy.otlp_routes(s).to("metrics")] == [
        "http://mon1:9090/api/v1/write", "http://mon2:9091/api/v1/write"]
    assert remote_write_endpoints(otlp_config(s)) == [
        ("prometheus_mon1", "http://mon1:9090/api/v1/write"),
        ("prometheus_mon2", "http://mon2:9091/api/v1/write")]
    mon1, mon2 = (prometheus_host(use, n) for n in ("mon1", "mon2"))
    assert alloy.receives_otlp(mon1) and alloy.receives_otlp(mon2)
    # web2 ships nothing: alone, it would turn no receiver on
    assert alloy.otlp_routes(use("web2")) is None


def prometheus_host(use, name):
    from operations.base.inventory import hosts_running
    use(name)
    return next(h for h in hosts_running("prometheus") if h.name == name)


def test_no_alloy_with_otlp_no_receiver(inventory):
    use = inventory({"monitoring": ["mon1"], "web": ["web1"]})
    use("mon1")
    s = use("mon1")
    assert remote_write_receiver.receiver_flags(s) == []


def test_an_explicit_metrics_url_turns_no_receiver_on(inventory):
    use = inventory({"monitoring": ["mon1"], "web": ["web1"]},
                    host_data={"web1": {"alloy_otlp": True,
                                        "alloy_metrics_url": URLS["alloy_metrics_url"]}})
    s = use("mon1")
    assert remote_write_receiver.receiver_flags(s) == []


# the stack's oldest Prometheus (bookworm's 2.42), and Debian's package: every Debian build
# has the flag (test_every_debian_prometheus_has_the_remote_write_receiver below)
@pytest.mark.parametrize("mon1", [{"prometheus_version": "2.42.0"},
                                  {"prometheus_install_method": "package"}],
                         ids=["oldest-version", "package-method"])
def test_the_receiving_prometheus_gets_its_flag(inventory, mon1):
    use = inventory({"monitoring": ["mon1"], "web": ["web1"]},
                    group_data={"web": {"alloy_otlp": True}}, host_data={"mon1": mon1})
    s = use("mon1")
    assert remote_write_receiver.receiver_flags(s) == ["--web.enable-remote-write-receiver"]
    assert prometheus.flags(s, "/p", [], remote_write_receiver.receiver_flags(s))[-1] == \
        "--web.enable-remote-write-receiver"


def test_the_flag_is_not_given_twice(inventory):
    use = inventory({"monitoring": ["mon1"], "web": ["web1"]},
                    group_data={"web": {"alloy_otlp": True}}, host_data={"mon1": {
                        "prometheus_extra_flags": ["--web.enable-remote-write-receiver"]}})
    s = use("mon1")
    assert remote_write_receiver.receiver_flags(s) == []
    flags = prometheus.flags(s, "/p", [], remote_write_receiver.receiver_flags(s))
    assert flags.count("--web.enable-remote-write-receiver") == 1


def test_the_sites_prometheus_receives_its_hosts_metrics(inventory):
    use = inventory({"monitoring": ["mon-a", "mon-b"], "web": ["web1"]},
                    host_data={"mon-a": {"site": "a"}, "mon-b": {"site": "b"},
                               "web1": {"site": "b", "alloy_otlp": True}})
    s = use("web1")
    assert [e.url for e in alloy.otlp_routes(s).to("metrics")] == [
        "http://mon-b:9090/api/v1/write"]


def test_a_protected_prometheus_is_reached_with_the_stacks_ca_and_login(
        inventory, monkeypatch, tmp_path):
    from harness import pki
    monkeypatch.setattr(tls_auth, "_protection", {})
    ca = pki.make_ca(tmp_path)
    for name in ("mon1", "web1"):
        pki.make_cert(tmp_path, name, dns=[name])
    monkeypatch.setenv("OTLP_TEST_PASSWORD", "a-long-pass-word")
    use = inventory({"monitoring": ["mon1"], "web": ["web1"]}, {
        "tls_enabled": True, "tls_cert_file": str(tmp_path / "{host}.crt"),
        "tls_key_file": str(tmp_path / "{host}.key"), "tls_ca_file": str(ca),
        "basic_auth_enabled": True, "basic_auth_password_secret": "OTLP_TEST_PASSWORD"},
        group_data={"web": {"alloy_otlp": True}})
    s = use("web1")
    text = otlp_config(s)
    assert remote_write_endpoints(text) == [("prometheus_mon1", "https://mon1:9090/api/v1/write")]
    assert re.search(
        r'\t\tbasic_auth \{\n\t\t\tusername      = "' + re.escape(s.basic_auth_username)
        + r'"\n\t\t\tpassword_file = "/etc/alloy/prometheus_password"\n\t\t\}\n\n'
        r'\t\ttls_config \{\n\t\t\tca_file = "/etc/monstack/ca\.crt"\n\t\t\}', text)
    assert "a-long-pass-word" not in text
    # the other exporters go to unprotected backends: no login there
    assert "otelcol.auth.basic" not in text and 'local.file "' not in text
    wiring(text)


# -- the port check sees the OTLP ports --------------------------------------------------------
def test_an_otlp_port_taken_by_another_program_is_refused(inventory):
    with pytest.raises(SettingsError) as exc:
        inventory({"web": ["web1"]}, host_data={"web1": {
            "alloy_otlp": True, "alloy_otlp_address": "0.0.0.0", "alloy_otlp_http_port": 9100}})
    assert "alloy_otlp_http_port" in str(exc.value) and "9100" in str(exc.value)


def test_the_otlp_ports_are_free_while_alloy_otlp_is_off(inventory):
    inventory({"web": ["web1"]}, host_data={"web1": {"alloy_otlp_http_port": 9100}})


# -- Prometheus' flag, against the real binaries -------------------------------------------------
@pytest.mark.parametrize("suite", ["bookworm", "trixie", "sid"])
def test_every_debian_prometheus_has_the_remote_write_receiver(suite):
    """The flag is in every Debian build (bookworm 2.42 is the stack's floor; the flag
    exists from 2.33), which is why metrics take this path: Debian's builds have the
    OTLP endpoint disabled (2.53.1+ds-1 changelog, Debian bug #1080354)."""
    binary = str(debian.program("prometheus", suite))
    helptext = subprocess.run([binary, "--help"], capture_output=True, text=True, timeout=60)
    # kingpin lists a bool flag as --[no-]name from Prometheus 3 on
    assert re.search(r"--(\[no-\])?web\.enable-remote-write-receiver\b",
                     helptext.stdout + helptext.stderr)
    check = subprocess.run([binary, remote_write_receiver.FLAG, "--version"],
                           capture_output=True, text=True, timeout=60)
    assert check.returncode == 0, check.stderr


def test_an_unknown_flag_is_refused_by_the_real_binary():
    """The check above can fail: kingpin refuses a flag it does not know."""
    binary = str(debian.program("prometheus", "bookworm"))
    res = subprocess.run([binary, "--web.enable-remote-write-receivr", "--version"],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode != 0 and "unknown long flag" in res.stderr
