"""Shared by the tests of remote_write (prometheus) and of the inventory's own store
(victoriametrics, vmcluster): the entries, their secrets and the rendered prometheus.yml."""

from __future__ import annotations

import pytest
import yaml

from harness.debian import upstream_version
from operations.components.prometheus import server as prometheus, targets

PASSWORD = "lts-password-value-1"
TOKEN = "lts-bearer-token-value-2"
SECRET_VARS = {"T_LTS_PASSWORD": PASSWORD, "T_LTS_TOKEN": TOKEN}

def checked_version() -> dict:
    """Render for the Prometheus whose promtool checks the config (Debian's oldest)."""
    return {"prometheus_version": upstream_version("prometheus")}


LONG_TERM = {"url": "https://lts.example.org/api/v1/write", "name": "lts",
             "remote_timeout": "30s",
             "basic_auth": {"username": "prometheus", "password_secret": "T_LTS_PASSWORD"},
             "queue_config": {"max_shards": 10, "capacity": 20000, "max_backoff": "10s"},
             "write_relabel_configs": [{"source_labels": ["__name__"], "regex": "go_gc_.*",
                                        "action": "drop"}]}
HOSTED = {"url": "http://hosted.example.net:8480/insert/0/prometheus/api/v1/write",
          "bearer_token_secret": "T_LTS_TOKEN"}


@pytest.fixture(autouse=True)
def secret_variables(monkeypatch):
    for var, value in SECRET_VARS.items():
        monkeypatch.setenv(var, value)


def rendered(use, host: str = "mon1") -> tuple[str, dict]:
    s = use(host)
    text = prometheus.config_content(s, targets.inventory_jobs())
    return text, yaml.safe_load(text)
