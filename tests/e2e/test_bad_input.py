"""An operator makes a mistake: one clear error naming the cause, and no host touched.

Every case is a real `pyinfra -y` run against a fresh fleet host. Each must fail while
pyinfra is still planning (it never reaches "Beginning operation run"), with a message
naming the host, the setting and what is wrong, and the host must be exactly as before.
"""

import pytest

from conftest import hosts_fixture, write_inventory
from harness.debian import OLDEST
from harness.fleet import CONTROLLER_IP
from harness.pyinfra_cli import run_pyinfra
from harness.stack import CORE_ONLY, mirror_settings

pytestmark = pytest.mark.fleet

hosts = hosts_fixture(1)

GOOD_RULES = "groups:\n  - name: mine\n    rules:\n      - alert: Mine\n        expr: up == 0\n"

# (case id, --data overrides, environment, fragments the output must contain)
CASES = [
    ("unknown-key", {"prometheus_retention": "30d"}, {},
     ["unknown setting 'prometheus_retention'", "did you mean 'prometheus_retention_time'",
      "from --data"]),
    ("unknown-component", {"mongodb_exporter_enabled": "true"}, {},
     ["unknown component 'mongodb_exporter'"]),
    ("bool", {"node_exporter_enabled": "maybe"}, {},
     ["node_exporter_enabled", "expected true/false, got 'maybe'"]),
    ("port-range", {"node_exporter_port": "70000"}, {}, ["node_exporter_port", "out of range"]),
    ("port-type", {"node_exporter_port": "ninety"}, {},
     ["node_exporter_port", "expected a whole number"]),
    ("duration", {"prometheus_retention_time": "30 days"}, {},
     ["prometheus_retention_time", "is not a duration"]),
    ("duration-order", {"alertmanager_group_wait": "30s1m"}, {},
     ["alertmanager_group_wait", "is not a duration"]),
    ("size", {"prometheus_retention_size": "10G"}, {},
     ["prometheus_retention_size", "is not a size like 512MB or 10GB"]),
    ("timeout-over-interval", {"prometheus_scrape_interval": "5s"}, {},
     ["prometheus_scrape_timeout (10s) must not be longer than prometheus_scrape_interval"]),
    ("install-method", {"node_exporter_install_method": "pip"}, {},
     ["node_exporter_install_method", "'pip' is not one of package, archive"]),
    ("dict-type", {"artifact_checksums": "[1, 2]"}, {}, ["artifact_checksums", "expected a dict"]),
    ("dict-type-labels", {"prometheus_external_labels": "prod"}, {},
     ["prometheus_external_labels", "expected a dict"]),
    ("list-type", {"node_exporter_extra_flags": "--collector.foo"}, {},
     ["node_exporter_extra_flags", "expected a list"]),
    ("yaml-syntax", {"prometheus_scrape_jobs": "[{job_name: x"}, {},
     ["prometheus_scrape_jobs", "could not parse"]),
    ("unsupported-arch", {"machine_arch": "sparc64"}, {},
     ["publishes no build for architecture 'sparc64'"]),
    ("unpinned-version", {"node_exporter_version": "9.9.9"}, {},
     ["no sha256 known for node_exporter-9.9.9.linux-amd64.tar.gz", "artifact_checksums"]),
    ("receiver-type", {"alertmanager_receivers": "[{name: ops, type: sms}]"}, {},
     ["needs a name and a type out of slack, email, telegram, pagerduty, webhook"]),
    ("receiver-field", {"alertmanager_receivers": "[{name: ops, type: telegram, chat_id: 1}]"},
     {}, ["alertmanager receiver ops (telegram) needs bot_token (or bot_token_secret)"]),
    ("receiver-duplicate", {"alertmanager_receivers":
                            "[{name: a, type: webhook, url: 'http://x/'}, "
                            "{name: a, type: webhook, url: 'http://y/'}]"}, {},
     ["receiver names must be unique"]),
    ("missing-secret", {"alertmanager_receivers":
                        "[{name: ops, type: slack, webhook_url_secret: OPS_SLACK_URL}]"}, {},
     ["secret OPS_SLACK_URL (needed for receiver ops) is not set"]),
    ("smtp-incomplete", {"alertmanager_receivers": "[{name: m, type: email, to: a@b.c}]",
                         "alertmanager_smtp": "{from: alerts@b.c}"}, {},
     ["alertmanager_smtp needs smarthost"]),
    ("email-without-smtp", {"alertmanager_receivers": "[{name: m, type: email, to: a@b.c}]"},
     {}, ["an email receiver needs alertmanager_smtp"]),
    ("rule-file-missing", {"prometheus_rule_files": "[/nonexistent/mine.rules.yml]"}, {},
     ["/nonexistent/mine.rules.yml does not exist on the controller"]),
    ("rule-file-malformed", {"prometheus_rule_files": "[{tmp}/malformed.rules.yml]"}, {},
     ["malformed.rules.yml is not valid YAML"]),
    ("rule-file-shape", {"prometheus_rule_files": "[{tmp}/shapeless.rules.yml]"}, {},
     ["shapeless.rules.yml must hold `groups:`"]),
    ("rule-set", {"prometheus_shipped_rules": "[hosts]"}, {},
     ["no rule set 'hosts'", "shipped: apps"]),
    ("scrape-job", {"prometheus_scrape_jobs": "[{job_name: shop, targets: 'shop1:8080'}]"}, {},
     ["each job needs job_name and a list of host:port targets"]),
    ("secrets-file-shape", {"secrets_file": "{tmp}/secrets.yml",
                            "alertmanager_receivers":
                            "[{name: ops, type: slack, webhook_url_secret: X}]"}, {},
     ["secrets.yml: expected a mapping of secret name -> value"]),
    ("mirror-down", {"artifact_mirror": f"http://{CONTROLLER_IP}:9", "artifact_cache_dir":
                     "{tmp}/cache"}, {}, ["could not download http://10.77.0.1:9/node_exporter-"]),
    ("mirror-404", {"artifact_mirror": "{mirror}/nothing-here", "artifact_cache_dir":
                    "{tmp}/cache"}, {}, ["could not download", "404"]),
    ("tls-incomplete", {"tls_enabled": "true"}, {},
     ["tls_enabled needs tls_cert_file, tls_key_file, tls_ca_file"]),
    ("tls-cert-missing", {"tls_enabled": "true", "tls_cert_file": "{tmp}/certs/{host}.crt",
                          "tls_key_file": "{tmp}/certs/{host}.key",
                          "tls_ca_file": "{tmp}/certs/ca.crt"}, {},
     ["tls_cert_file: ", ".crt does not exist on the controller"]),
    ("basic-auth-secret", {"basic_auth_enabled": "true"}, {},
     ["secret MONSTACK_BASIC_AUTH_PASSWORD (needed for basic auth of the Prometheus "
      "components) is not set"]),
    ("basic-auth-redis-1.45", {"basic_auth_enabled": "true", "redis_exporter_group": "all",
                               "redis_exporter_version": "1.45.0"},
     {"MONSTACK_BASIC_AUTH_PASSWORD": "a-password"},
     ["redis_exporter has basic auth only from 1.67.0 on, not with version 1.45.0"]),
]


def host_fingerprint(host) -> str:
    return host.ssh("getent passwd; getent group; ls -la --time-style=full-iso /etc "
                    "/etc/systemd/system /usr/local/bin /var/lib; systemctl list-units "
                    "--all --plain --no-legend | awk '{print $1, $3, $4}'").stdout


@pytest.fixture(scope="module")
def setup(hosts, fleet, mirror, tmp_path_factory):
    (host,) = hosts
    tmp = tmp_path_factory.mktemp("bad-input")
    (tmp / "malformed.rules.yml").write_text("groups:\n  - name: x\n    rules: [\n")
    (tmp / "shapeless.rules.yml").write_text("alert: Mine\nexpr: up == 0\n")
    (tmp / "secrets.yml").write_text("- just\n- a list\n")
    settings = mirror_settings(mirror)
    # Debian 12's redis_exporter (1.45, no basic auth yet) is on the mirror too, so the
    # case that asks for it fails on basic auth, not on an unknown checksum
    old_redis = mirror_settings(mirror, ["redis_exporter"], suites={"redis_exporter": OLDEST})
    settings["artifact_checksums"].update(old_redis["artifact_checksums"])
    inventory = write_inventory(tmp / "inventory" / "inventory.py", fleet,
                                {"monitoring": [host]},
                                group_data={"all": {**settings, **CORE_ONLY}})
    return {"host": host, "inventory": inventory, "tmp": tmp, "mirror": mirror,
            "before": host_fingerprint(host)}


@pytest.mark.parametrize("data,env,expected", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_fails_clearly_before_any_host_changes(setup, data, env, expected):
    host = setup["host"]
    values = {k: v.replace("{tmp}", str(setup["tmp"])).replace(
        "{mirror}", setup["mirror"].base_url) for k, v in data.items()}
    run = run_pyinfra(setup["inventory"], data=values, env=env)
    assert run.returncode != 0
    for fragment in expected:
        assert fragment in run.output, f"{fragment!r} not in:\n{run.output[-2500:]}"
    assert host.ip in run.output  # names the host
    assert "--> Beginning operation run" not in run.output
    assert "Traceback" not in run.output  # one clear line, not a stack dump
    assert host_fingerprint(host) == setup["before"]


def test_there_are_at_least_25_cases():
    assert len(CASES) >= 25
