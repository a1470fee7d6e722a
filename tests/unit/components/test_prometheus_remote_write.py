"""prometheus: the operator's remote_write targets (their secrets in files, never in
prometheus.yml).

prometheus.yml is checked by Debian's real promtool; the inventory is a real pyinfra
Inventory.
"""

from __future__ import annotations

import pytest

from harness.debian import promtool_accepts
from harness.remote_write import (HOSTED, LONG_TERM, PASSWORD, TOKEN,  # noqa: F401
                                  checked_version, rendered, secret_variables)
from operations.components.prometheus import server as prometheus
from operations.base.schema import SettingsError
from operations.stack import validate


# -- the user's remote_write entries -------------------------------------------------------------
def test_remote_write_entries_are_rendered_with_secrets_in_files(inventory, tmp_path):
    use = inventory({"monitoring": ["mon1"]},
                    {"prometheus_remote_write": [LONG_TERM, HOSTED], **checked_version()})
    text, cfg = rendered(use)
    lts, hosted = cfg["remote_write"]
    assert lts == {
        "url": "https://lts.example.org/api/v1/write", "name": "lts", "remote_timeout": "30s",
        "basic_auth": {"username": "prometheus",
                       "password_file": "/etc/prometheus/remote_write/lts.password"},
        "queue_config": {"max_shards": 10, "capacity": 20000, "max_backoff": "10s"},
        "write_relabel_configs": [{"source_labels": ["__name__"], "regex": "go_gc_.*",
                                   "action": "drop"}]}
    assert hosted == {
        "url": "http://hosted.example.net:8480/insert/0/prometheus/api/v1/write",
        "authorization": {"type": "Bearer",
                          "credentials_file": "/etc/prometheus/remote_write/remote-write-2.token"}}
    for value in (PASSWORD, TOKEN, "T_LTS_PASSWORD", "T_LTS_TOKEN"):
        assert value not in text
    promtool_accepts(text, tmp_path)


def test_secret_files_are_0640_root_prometheus_and_masked(inventory, monkeypatch):
    use = inventory({"monitoring": ["mon1"]},
                    {"prometheus_remote_write": [LONG_TERM, HOSTED]})
    s = use("mon1")
    written, dirs, kept = [], [], []
    monkeypatch.setattr(prometheus, "validated_file", lambda **kw: written.append(kw))
    monkeypatch.setattr(prometheus, "directory", lambda *a: dirs.append(a))
    monkeypatch.setattr(prometheus, "remove_stale", lambda d, wanted, what: kept.append(wanted))
    prometheus.remote_write_secrets(s)
    assert dirs == [("/etc/prometheus/remote_write", "root", "prometheus", "0750")]
    assert [(w["dest"], w["content"], w["user"], w["group"], w["mode"], w["secret"],
             w["secrets"]) for w in written] == [
        ("/etc/prometheus/remote_write/lts.password", PASSWORD + "\n", "root", "prometheus",
         "0640", True, [PASSWORD]),
        ("/etc/prometheus/remote_write/remote-write-2.token", TOKEN + "\n", "root",
         "prometheus", "0640", True, [TOKEN])]
    assert all(PASSWORD not in w["name"] and TOKEN not in w["name"] for w in written)
    assert kept == [{"lts.password", "remote-write-2.token"}]


def test_a_missing_secret_stops_the_plan_naming_it(inventory, monkeypatch):
    use = inventory({"monitoring": ["mon1"]}, {"prometheus_remote_write": [LONG_TERM]})
    monkeypatch.delenv("T_LTS_PASSWORD")
    s = use("mon1")
    monkeypatch.setattr(prometheus, "validated_file", lambda **kw: None)
    monkeypatch.setattr(prometheus, "directory", lambda *a: None)
    with pytest.raises(SettingsError, match="T_LTS_PASSWORD"):
        prometheus.remote_write_secrets(s)


def test_without_remote_write_there_is_no_section_and_no_secret_file(inventory, monkeypatch):
    use = inventory({"monitoring": ["mon1"]})
    text, cfg = rendered(use)
    assert "remote_write" not in cfg
    written, dirs = [], []
    monkeypatch.setattr(prometheus, "validated_file", lambda **kw: written.append(kw))
    monkeypatch.setattr(prometheus, "directory", lambda *a: dirs.append(a))
    monkeypatch.setattr(prometheus, "remove_stale", lambda d, wanted, what: None)
    prometheus.remote_write_secrets(use("mon1"))
    assert written == dirs == []


@pytest.mark.parametrize("entry,words", [
    ({**LONG_TERM, "pasword": "x"}, ["prometheus_remote_write[0]", "unknown key 'pasword'"]),
    ({"url": "http://vm:8428/api/v1/write", "basic_auth": {"username": "p", "password": "x"}},
     ["prometheus_remote_write[0].basic_auth", "unknown key 'password'", "password_secret"]),
    ({"url": "http://vm:8428/api/v1/write", "queue_config": {"max_shard": 3}},
     ["queue_config", "unknown key 'max_shard'"]),
    ({"url": "http://vm:8428/api/v1/write",
      "write_relabel_configs": [{"regex": "go_.*", "action": "dropp"}]},
     ["write_relabel_configs[0]", "'dropp'"]),
    ({"url": "http://vm:8428/api/v1/write", "write_relabel_configs": [{"sorce_labels": []}]},
     ["write_relabel_configs[0]", "unknown key 'sorce_labels'"]),
    ({"url": "vm:8428/api/v1/write"}, ["url must be an http:// or https:// URL"]),
    ({"url": "ftp://vm/api/v1/write"}, ["url must be an http:// or https:// URL"]),
    ({"name": "no url"}, ["url must be an http:// or https:// URL"]),
    ({"url": "https://user:pw@vm/api/v1/write"}, ["must not hold a login"]),
    ({**HOSTED, "basic_auth": {"username": "p", "password_secret": "S"}},
     ["exclude each other"]),
    ("http://vm:8428/api/v1/write", ["expected a mapping"]),
])
def test_bad_remote_write_entries_are_refused_naming_the_key(entry, words):
    with pytest.raises(SettingsError) as exc:
        validate("mon1", {"prometheus_remote_write": [entry]})
    for word in words:
        assert word in str(exc.value)


def test_remote_write_names_must_be_unique():
    with pytest.raises(SettingsError, match="'lts' is given twice"):
        validate("mon1", {"prometheus_remote_write": [LONG_TERM, {**HOSTED, "name": "lts"}]})


def test_remote_write_from_the_command_line_is_read_as_yaml():
    s = validate("mon1", {"prometheus_remote_write":
                          "[{url: 'http://vm1:8428/api/v1/write', name: vm1}]"})
    assert s.prometheus_remote_write == [{"url": "http://vm1:8428/api/v1/write", "name": "vm1"}]
