"""loki: loki.yaml and the unit.

The real loki binary cannot run here (Debian builds none; upstream's downloads are not
reachable), so loki.yaml is checked as YAML against the keys of Loki 3's configuration
reference, and the unit by reading it as systemd would.
"""

from __future__ import annotations

import yaml

from operations.components import loki
from operations.stack import validate
from harness.one_address import current  # noqa: F401
from harness.units import directives, exec_start_argv


# -- loki.yaml --------------------------------------------------------------------------------
def loki_config(**data) -> dict:
    return yaml.safe_load(loki.config_content(validate("mon1", data)))


def test_loki_config_single_binary_on_the_filesystem():
    cfg = loki_config()
    assert cfg["auth_enabled"] is False
    assert cfg["server"]["http_listen_port"] == 3100
    assert cfg["server"]["http_listen_address"] == "0.0.0.0"
    assert cfg["server"]["grpc_listen_address"] == "127.0.0.1"
    common = cfg["common"]
    assert common["path_prefix"] == "/var/lib/loki"
    assert common["replication_factor"] == 1
    assert common["ring"]["kvstore"]["store"] == "inmemory"
    assert common["storage"]["filesystem"] == {"chunks_directory": "/var/lib/loki/chunks",
                                               "rules_directory": "/var/lib/loki/rules"}
    (period,) = cfg["schema_config"]["configs"]
    assert period == {"from": "2024-01-01", "store": "tsdb", "object_store": "filesystem",
                      "schema": "v13", "index": {"prefix": "index_", "period": "24h"}}
    assert cfg["analytics"] == {"reporting_enabled": False}


def test_loki_config_retention_and_limits():
    cfg = loki_config(loki_retention_period="90d", loki_ingestion_rate_mb=8,
                      loki_ingestion_burst_size_mb=16, loki_max_global_streams_per_user=500,
                      loki_data_dir="/srv/loki/", loki_port="3200",
                      loki_listen_address="10.0.0.5")
    assert cfg["compactor"] == {"working_directory": "/srv/loki/compactor",
                                "retention_enabled": True, "delete_request_store": "filesystem"}
    assert cfg["limits_config"] == {"retention_period": "90d", "ingestion_rate_mb": 8,
                                    "ingestion_burst_size_mb": 16,
                                    "max_global_streams_per_user": 500,
                                    "reject_old_samples": True}
    assert cfg["common"]["storage"]["filesystem"]["chunks_directory"] == "/srv/loki/chunks"
    assert cfg["server"]["http_listen_port"] == 3200
    assert cfg["server"]["http_listen_address"] == "10.0.0.5"


def test_loki_config_says_it_has_no_authentication():
    text = loki.config_content(validate("mon1", {}))
    assert "No authentication" in text and "reverse proxy" in text


def test_loki_validator_is_verify_config():
    assert loki.validator("/usr/local/bin/loki").format(path="/etc/loki/.loki.yaml.new") == \
        "/usr/local/bin/loki -config.file=/etc/loki/.loki.yaml.new -verify-config"


def test_loki_unit(current):
    s = current()
    lines = directives(loki.unit(s, "/usr/local/bin/loki").content())
    assert "User=loki" in lines and "ReadWritePaths=/var/lib/loki" in lines
    assert "ProtectSystem=strict" in lines and "CapabilityBoundingSet=" in lines
    assert not any(line.startswith("ExecReload") for line in lines)   # restarts on change
    assert exec_start_argv("\n".join(lines)) == ["/usr/local/bin/loki",
                                            "-config.file=/etc/loki/loki.yaml"]
