"""An upstream-shaped Grafana release archive whose bin/grafana is the GRAFANA API TEST
DOUBLE (tests/harness/doubles/grafana_double.py). It is NOT Grafana.

Upstream's download site is not reachable from the fleet, and what the end-to-end test
checks is the deploy: the archive install method, the hardened unit, readiness on
/api/health and provisioning over the API. The archive is named and laid out like
upstream's (grafana-<version>.linux-<arch>.tar.gz, top folder grafana-v<version>, bin/grafana
and nothing else in bin/, conf/, public/). It is published at the version the release
table pins (RELEASES["grafana"]["version"]), so the deploy's code paths are those of that
version; its files, `bin/grafana --version` and /api/health say it is a test double.
"""

from __future__ import annotations

import base64
import json
import urllib.request
from pathlib import Path

from ..mirror import Mirror, build_archive, releases, sha256

HERE = Path(__file__).resolve().parent

# Started as Grafana is: `bin/grafana server --config=FILE --homepath=DIR ...`.
LAUNCHER = '''#!/usr/bin/env python3
"""GRAFANA API TEST DOUBLE launcher: this is not Grafana (see grafana_double.py).

Serves the double on [server] http_addr:http_port of the --config file, with the
[security] admin_user / admin_password found there."""
import configparser
import os
import sys
import base64
import json
import urllib.request
from pathlib import Path

sys.dont_write_bytecode = True
HOME = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(HOME))
import grafana_double  # noqa: E402

args = sys.argv[1:]
if args and args[0] in ("-v", "--version"):
    print("grafana TEST DOUBLE (NOT Grafana): the Grafana API test double of grafana_double.py")
    sys.exit(0)
if not args or args[0] != "server":
    sys.exit("grafana API test double: only `grafana server --config=FILE` is supported")
config = next((a.split("=", 1)[1] for a in args if a.startswith("--config=")), None)
ini = configparser.ConfigParser(interpolation=None, comment_prefixes=("#", ";"))
if not config or not ini.read(config):
    sys.exit(f"grafana API test double: cannot read --config {config!r}")
password = ini.get("security", "admin_password", fallback="admin")
if len(password) >= 6 and password.startswith('"""') and password.endswith('"""'):
    password = password[3:-3]
os.environ["GF_SECURITY_ADMIN_PASSWORD"] = password   # not on the command line (ps)
sys.exit(grafana_double.main([
    "--host", ini.get("server", "http_addr", fallback="") or "0.0.0.0",
    "--port", ini.get("server", "http_port", fallback="3000"),
    "--admin-user", ini.get("security", "admin_user", fallback="admin"),
    "--config", config]))   # its [paths] plugins: the plugins the double lists
'''
NOTICE = "GRAFANA API TEST DOUBLE: this archive is not Grafana; see bin/grafana.\n"


def pinned_version() -> str:
    return releases()["grafana"]["version"]


def build(work: Path, version: str | None = None, deb_arch: str = "amd64") -> Path:
    """Write the archive at `version` (default: the pinned one), and its source files,
    under `work`; return its path."""
    version = version or pinned_version()
    src = work / "grafana-double-src"
    src.mkdir(parents=True, exist_ok=True)
    (src / "grafana").write_text(LAUNCHER)
    (src / "NOTICE").write_text(NOTICE)
    members = {
        # Grafana 13 ships bin/grafana alone (no grafana-server or grafana-cli binaries)
        "bin/grafana": (src / "grafana", 0o755),
        "grafana_double.py": (HERE / "grafana_double.py", 0o644),
        "conf/TEST-DOUBLE": (src / "NOTICE", 0o644),
        "public/TEST-DOUBLE": (src / "NOTICE", 0o644),
        "TEST-DOUBLE": (src / "NOTICE", 0o644),
    }
    return build_archive("grafana", version, deb_arch, members=members, out_dir=work)


def publish(mirror: Mirror, work: Path, version: str | None = None) -> dict:
    """Put the archive (default: at the pinned version) on the mirror; return the
    group_data that installs it."""
    version = version or pinned_version()
    name = mirror.add(build(work, version))
    return {"grafana_install_method": "archive", "grafana_version": version,
            "artifact_checksums": {name: sha256(mirror.root / name)}}


def monitoring_host_settings(mirror: Mirror, tmp_path_factory,
                             components=("prometheus", "alertmanager", "node_exporter"),
                             published=()) -> dict:
    """group_data of a monitoring host running `components` (default Prometheus,
    Alertmanager and node_exporter: Debian's newest builds, repacked as upstream's
    archives) and this double as Grafana, all from the test mirror, with a fresh artifact
    cache and token folder; and the release files `published` (each the group_data a
    `publish` returned) with their sha256s."""
    from harness.stack import mirror_settings
    settings = mirror_settings(mirror, list(components))
    grafana = publish(mirror, tmp_path_factory.mktemp("grafana-archive"))
    for data in (grafana, *published):
        data = dict(data)
        settings["artifact_checksums"].update(data.pop("artifact_checksums"))
        settings.update(data)
    settings["artifact_cache_dir"] = str(tmp_path_factory.mktemp("artifact-cache"))
    settings["grafana_token_dir"] = str(tmp_path_factory.mktemp("grafana-tokens"))
    return settings


def prometheus_host_settings(mirror: Mirror, tmp_path_factory, published=(),
                             scrape_seconds: int = 5) -> dict:
    """monitoring_host_settings with Prometheus, node_exporter and this double as Grafana
    only (no Alertmanager, Loki, Alloy or cAdvisor), Prometheus scraping every
    `scrape_seconds` seconds (4 s timeout): the host of a test of an opt-in component,
    whose release files are `published`."""
    from harness.stack import CORE_ONLY
    settings = monitoring_host_settings(mirror, tmp_path_factory,
                                        ("prometheus", "node_exporter"), published)
    settings.update({**CORE_ONLY, "grafana_enabled": True, "alertmanager_enabled": False,
                     "prometheus_scrape_interval": f"{scrape_seconds}s",
                     "prometheus_scrape_timeout": "4s"})
    return settings


def data_source(host, uid: str, password: str) -> dict:
    """The data source `uid` as the Grafana double on `host` (port 3000) answers the
    admin with `password`."""
    token = base64.b64encode(f"admin:{password}".encode()).decode()
    req = urllib.request.Request(f"http://{host.ip}:3000/api/datasources/uid/{uid}",
                                 headers={"Authorization": f"Basic {token}"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read())
