"""One host's settings that every check of their type passes, though the program would
refuse them on the host or do something else than meant: addresses, URLs, label names,
durations and versions. Each is refused by validate() with one error naming the setting
and the fix."""

from __future__ import annotations

import pytest

from operations.base.addresses import is_host_name, url_problem
from operations.stack import COMPONENTS
from harness.settings import refused


# -- listen addresses ------------------------------------------------------------------------
LISTEN = ("is not an IP address, 0.0.0.0 or :: (every interface) or auto (the address "
          "Prometheus scrapes the host at): ")


@pytest.mark.parametrize("value,hint", [
    ("1.2.3", "check it for a typo"),
    ("10.0.0.256", "check it for a typo"),
    ("localhost", "give '127.0.0.1' (or '::1')"),
    ("[::1]", "give it without brackets: '::1'"),
    ("", "give '0.0.0.0' for every interface"),
    ("mon1.lan", "give the IP address that name has on the host, not the name"),
    ("10.0.0.5:9090", "give it without the port (that is prometheus_port)"),
    ("[fd00::1]:9090", "give it without the port (that is prometheus_port)"),
])
def test_a_listen_address_must_be_an_ip_address(value, hint):
    assert refused({"prometheus_listen_address": value}) == (
        f"prometheus_listen_address ({value!r}) {LISTEN}{hint}")


@pytest.mark.parametrize("component", sorted(COMPONENTS))
def test_every_components_listen_address_is_checked(component):
    key = f"{component}_listen_address"
    assert refused({key: "1.2.3"}) == f"{key} ('1.2.3') {LISTEN}check it for a typo"


@pytest.mark.parametrize("value", ["auto", "0.0.0.0", "::", "127.0.0.1", "10.0.0.5", "::1",
                                   "fd00::7", "fe80::1%eth0"])
def test_ip_addresses_every_interface_and_auto_are_listen_addresses(value):
    assert refused({"node_exporter_listen_address": value}) == ""


# -- scrape_address --------------------------------------------------------------------------
NEITHER = ("is neither an IP address nor a host name (letters, digits and hyphens between "
           "dots; no brackets, port or scheme): give the address other hosts reach this host at")


@pytest.mark.parametrize("value", ["10.0.0", "1.2.3", "web 1.example.org", "web1:9100",
                                   "http://web1", "-web1", "web_1", "web1..lan", "[fd00::1]"])
def test_a_scrape_address_must_be_an_ip_address_or_a_host_name(value):
    assert refused({"scrape_address": value}) == f"scrape_address ({value!r}) {NEITHER}"


@pytest.mark.parametrize("value", ["0.0.0.0", "::"])
def test_a_scrape_address_reaches_a_host(value):
    assert refused({"scrape_address": value}) == (
        f"scrape_address ({value!r}) binds every interface but reaches no host: give the "
        "address other hosts reach this one at (an IP address or a host name)")


@pytest.mark.parametrize("value", ["web1", "web1.example.org", "web1.example.org.", "10.0.0.21",
                                   "fd00::1", "x1-2.lan", "a" * 63 + ".lan"])
def test_ip_addresses_and_host_names_are_scrape_addresses(value):
    assert refused({"scrape_address": value}) == ""


def test_host_names_follow_rfc_1123():
    assert is_host_name("3com.example") and is_host_name("a" * 63)
    assert not is_host_name("a" * 64) and not is_host_name("x." * 127 + "xy")
    assert not is_host_name("") and not is_host_name("web-.lan") and not is_host_name("12")


# -- versions --------------------------------------------------------------------------------
def test_a_version_that_is_no_version_is_refused():
    assert refused({"prometheus_version": "2.x"}) == (
        "prometheus_version ('2.x') is not a version like 3.15.0 (pinned, never 'latest')")


# -- URLs ------------------------------------------------------------------------------------
@pytest.mark.parametrize("key,value,shape", [
    ("grafana_root_url", "grafana.example.org", "an http:// or https:// URL like "
     "https://grafana.example.org/"),
    ("grafana_url", "ftp://mon1:3000", "an http:// or https:// URL like http://mon1.lan:3000"),
    ("grafana_apt_repo_url", "apt.grafana.com", "an http:// or https:// or file:// URL like "
     "https://apt.grafana.com (or file:///srv/grafana-apt)"),
    ("grafana_apt_key_url", "/srv/gpg.key", "an http:// or https:// URL like "
     "https://apt.grafana.com/gpg.key"),
    ("prometheus_web_external_url", "prometheus.example.org/", "an http:// or https:// URL "
     "like https://prometheus.example.org/"),
    ("alloy_loki_url", "loki:3100", "an http:// or https:// URL like "
     "http://loki.lan:3100/loki/api/v1/push"),
    ("artifact_mirror", "/srv/mirror", "an http:// or https:// URL like "
     "http://mirror.lan/monstack (serve a folder with `python3 -m http.server`)"),
])
def test_a_url_setting_takes_http_urls(key, value, shape):
    assert refused({key: value}) == f"{key} ({value!r}) is not {shape}"


@pytest.mark.parametrize("key", ["grafana_root_url", "grafana_url", "grafana_apt_repo_url",
                                 "grafana_apt_key_url", "prometheus_web_external_url",
                                 "alloy_loki_url", "artifact_mirror"])
@pytest.mark.parametrize("value", ["https://x.example.org/", "http://10.0.0.5:3000/a/b",
                                   "http://[fd00::1]:8080"])
def test_http_urls_pass(key, value):
    assert refused({key: value}) == ""


def test_apt_also_reads_a_repository_from_a_folder():
    assert refused({"grafana_apt_repo_url": "file:///srv/grafana-apt"}) == ""
    assert refused({"grafana_root_url": "file:///srv/grafana"}).startswith(
        "grafana_root_url ('file:///srv/grafana') is not an http:// or https:// URL")


@pytest.mark.parametrize("value", ["http://", "http:///path", "http://host:port/",
                                   "http://a b/", "https//x.org"])
def test_a_url_needs_a_host_a_numeric_port_and_no_spaces(value):
    assert url_problem("k", value, "e") == f"k ({value!r}) is not an http:// or https:// URL like e"


def test_a_remote_write_url_is_checked_too():
    assert refused({"prometheus_remote_write": "[{url: 'victoria:8428/api/v1/write'}]"}) == (
        "prometheus_remote_write[0]: url must be an http:// or https:// URL, got "
        "'victoria:8428/api/v1/write'")


# -- external labels -------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["__tenant", "__", ""])
def test_external_label_names_are_not_reserved_nor_empty(name):
    assert refused({"prometheus_external_labels": {name: "a"}}) == (
        f"prometheus_external_labels: {name!r} is not a label name: names are non-empty "
        "strings, and those starting with __ are reserved for Prometheus' own use")


LEGACY = ("is not a label name {who} takes (letters, digits and _, not a digit first): "
          "rename it, or for any UTF-8 name install Prometheus 3.0.0 and Alertmanager 0.27.0 "
          "or later as archives (<component>_install_method = 'archive')")


@pytest.mark.parametrize("data,who", [
    ({"prometheus_install_method": "package"}, "Debian's prometheus package"),
    ({"prometheus_version": "2.53.3"}, "Prometheus 2.53.3"),
    ({"alertmanager_version": "0.26.0"}, "Alertmanager 0.26.0"),
    ({"alertmanager_install_method": "package"}, "Debian's alertmanager package"),
])
def test_utf8_label_names_need_prometheus_3_and_alertmanager_0_27(data, who):
    data = {"prometheus_external_labels": "{cluster-name: eu, 1dc: x}", **data}
    assert refused(data) == "; ".join(f"prometheus_external_labels: {name!r} "
                                      + LEGACY.format(who=who) for name in ("cluster-name", "1dc"))


@pytest.mark.parametrize("data", [
    {},   # the defaults: Prometheus 3.15.0 and Alertmanager 0.34.1 archives
    {"prometheus_version": "3.0.0", "alertmanager_version": "0.27.0"},
    {"alertmanager_enabled": False, "alertmanager_install_method": "package"},
])
def test_utf8_label_names_where_every_program_takes_them(data):
    labels = {"cluster-name": "eu", "région": "île-de-france", "1dc": "x"}
    assert refused({"prometheus_external_labels": labels, **data}) == ""


def test_classic_label_names_pass_everywhere():
    assert refused({"prometheus_external_labels": {"cluster": "eu-1", "_env": "prod"},
                    "prometheus_install_method": "package"}) == ""


@pytest.mark.parametrize("value,fix", [
    (5, "quote it (env: '5')"), (True, "quote it (env: 'true')"),
    (1.5, "quote it (env: '1.5')"),
    (["prod"], "give one string"), (None, "give one string")])
def test_external_label_values_are_strings(value, fix):
    assert refused({"prometheus_external_labels": {"env": value}}) == (
        f"prometheus_external_labels: 'env': the value {value!r} is not a string: {fix}")


# -- durations -------------------------------------------------------------------------------
@pytest.mark.parametrize("key", ["alertmanager_group_interval", "alertmanager_repeat_interval"])
def test_alertmanager_refuses_zero_intervals(key):
    assert refused({key: "0s"}) == (
        f"{key} (0s) must be longer than 0: Alertmanager refuses a zero interval")


@pytest.mark.parametrize("data", [{"alertmanager_group_wait": "0s"},
                                  {"alertmanager_repeat_interval": "1d"},
                                  {"alertmanager_repeat_interval": "1w",
                                   "alertmanager_group_interval": "1d"}])
def test_alertmanager_intervals_are_prometheus_durations(data):
    # route durations are model.Duration: d, w and y are fine; group_wait 0 notifies at once
    assert refused(data) == ""


@pytest.mark.parametrize("key,default", [("prometheus_scrape_interval", "1m"),
                                         ("prometheus_evaluation_interval", "1m"),
                                         ("prometheus_scrape_timeout", "10s")])
def test_prometheus_takes_zero_for_its_default(key, default):
    assert refused({key: "0s"}).endswith(
        f"{key} (0s) must be longer than 0: Prometheus would take its default, {default}, "
        "instead")


RETENTION_0 = ("prometheus_retention_time (0s) does not keep samples forever: without "
               "prometheus_retention_size, Prometheus takes 0 for its default of 15d; give a "
               "duration like 30d or 10y, or set prometheus_retention_size")


@pytest.mark.parametrize("data,error", [
    ({"prometheus_version": "3.7.0"}, RETENTION_0),
    ({"prometheus_install_method": "package"}, RETENTION_0),
    ({"prometheus_version": "3.7.0", "prometheus_retention_size": "10GB"}, ""),
    ({}, ""),   # 3.8 and later read it from prometheus.yml, where 0 keeps samples forever
])
def test_a_zero_retention_is_refused_where_it_means_15_days(data, error):
    assert refused({"prometheus_retention_time": "0s", **data}) == error


@pytest.mark.parametrize("entry,error", [
    ("{url: 'http://vm:8428/api/v1/write', remote_timeout: 30}",
     "prometheus_remote_write[0]: remote_timeout (30) is not a duration like 30s, 5m or 1h"),
    ("{url: 'http://vm:8428/api/v1/write', queue_config: {min_backoff: fast}}",
     "prometheus_remote_write[0].queue_config: min_backoff ('fast') is not a duration like "
     "30s, 5m or 1h"),
    ("{url: 'http://vm:8428/api/v1/write', remote_timeout: 1m, "
     "queue_config: {max_backoff: 5s, batch_send_deadline: 5s, sample_age_limit: 1d}}", ""),
])
def test_remote_write_durations(entry, error):
    assert refused({"prometheus_remote_write": f"[{entry}]"}) == error


@pytest.mark.parametrize("key,error", [
    ("alertmanager_cluster_peer_timeout", "alertmanager_cluster_peer_timeout (1d) must be "
     "longer than 0 and may only use the units ms, s, m and h"),
    ("cadvisor_housekeeping_interval", "cadvisor_housekeeping_interval (1d) may only use the "
     "units ms, s, m and h"),
])
def test_durations_read_by_gos_parse_duration_have_no_days(key, error):
    assert refused({key: "1d"}) == error
