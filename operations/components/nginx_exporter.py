"""nginx_exporter: nginx's connection counters (stub_status) on hosts of the nginx group.

The exporter reads nginx's stub_status page at `nginx_exporter_scrape_uri`. When nothing
answers there the deploy says in its output what to add to nginx, or, with
`nginx_exporter_add_status_server = True`, writes a status server on the loopback
address into /etc/nginx/conf.d/: checked with `nginx -t` on a copy of nginx's whole
config holding the new file (the live config never sees a file that fails), then
nginx is reloaded, only when that file changed.
"""

from __future__ import annotations

import posixpath
from urllib.parse import urlsplit

from pyinfra import host, logger
from pyinfra.api import deploy

from operations.base.component import Leaves, exporter
from operations.base.facts import HttpAnswers
from operations.base.files import validated_file
from operations.base.exporters import exporter_service, no_home
from operations.base.install import refuse_older_package
from operations.base.inventory import listen_address, settings
from operations.base.releases import PROMETHEUS_ARCHES, github_release
from operations.base.schema import Setting
from operations.base.templates import render

NAME = "nginx_exporter"
CONFIG_DIR = "/etc/nginx_exporter"   # only for web.yml (TLS, login)
STATUS_CONF = "/etc/nginx/conf.d/monstack-stub-status.conf"
# what stub_status' page starts with (ngx_http_stub_status_module)
STUB_STATUS_MARKER = "Active connections:"
LOOPBACK = ("127.0.0.1", "[::1]", "::1", "localhost")
# 1.0.0 moved to kingpin flags and the exporter-toolkit's web config (web.yml); 0.11.0
# (Debian 12's) has Go's flag package and TLS flags of its own, no basic auth
FLOOR = "1.0.0"

# `nginx -t` of nginx's whole config with the staged file in place of ours: a copy of
# /etc/nginx in a temporary folder (links to everything, a copy of conf.d holding the
# staged file, nginx.conf with conf.d's path pointed there). {path}: the staged file.
NGINX_CHECK = (
    't=$(mktemp -d) && for f in /etc/nginx/*; do ln -s "$f" "$t/"; done'
    ' && rm -f "$t/nginx.conf" "$t/conf.d" && mkdir "$t/conf.d"'
    ' && {{ [ ! -d /etc/nginx/conf.d ] || cp -a /etc/nginx/conf.d/. "$t/conf.d/"; }}'
    f' && rm -f "$t/conf.d/.{posixpath.basename(STATUS_CONF)}.monstack-new"'
    f' && cp {{path}} "$t/conf.d/{posixpath.basename(STATUS_CONF)}"'
    ' && sed "s#/etc/nginx/conf\\.d/#$t/conf.d/#g" /etc/nginx/nginx.conf > "$t/nginx.conf"'
    ' && {{ nginx -t -q -c "$t/nginx.conf"; rc=$?; rm -rf "$t"; exit $rc; }}'
)


COMPONENT = exporter(
    NAME, leaves=Leaves(
        config=(CONFIG_DIR, STATUS_CONF),
        # as its install: nginx checks its whole config, then reloads
        after_removing=((STATUS_CONF, "nginx -t -q && systemctl try-reload-or-restart nginx"),)),
    help="nginx connection and request counters (stub_status), on hosts of the nginx group",
    port=9113, group="nginx",
    scrape_job=("nginx", "nginx"),
    release=github_release(
        "nginx/nginx-prometheus-exporter", version="1.5.1", oldest=FLOOR,
        oldest_reason="web.yml and --flags came with 1.0.0; Debian 12's 0.11.0 has neither",
        proven=[("1.4.1", "trixie"), ("1.5.1", "sid")],
        file="nginx-prometheus-exporter_{version}_linux_{arch}.tar.gz",
        binaries={NAME: "nginx-prometheus-exporter"},
        arch=PROMETHEUS_ARCHES,
        checksums="nginx-prometheus-exporter_{version}_checksums.txt",
        debian_package="prometheus-nginx-exporter",
        notes="Built with goreleaser, not promu (nginx/nginx-prometheus-exporter "
              ".goreleaser.yml at v1.5.1: goarch amd64, arm64, arm with goarm 5/6/7; no "
              "archive name_template, so goreleaser's default <project>_<version>_<os>_"
              "<arch><armv> without a top folder; the checksum file is likewise the "
              "default nginx-prometheus-exporter_<version>_checksums.txt). Flags: "
              "exporter.go at v1.5.1 (kingpin: --nginx.scrape-uri, --web.listen-address, "
              "--web.config.file) and v0.11.0 (Go's flag package, own TLS flags). Metric "
              "names: collector/nginx.go and collector/helper.go (nginx_up) at v1.5.1. "
              "Only the amd64 archive of 1.5.1 has a pinned sha256."),
    checksums={
        "nginx-prometheus-exporter_1.5.1_linux_amd64.tar.gz": "42ddc7ac31c70021d2a5c10414d473526490769632c1ef430b95d76dd1e3c187",  # x2: a TLF monitoring installer script (fetch_binary nginx ...); a Russian-language monitoring install script (download_and_verify)
    },
    settings=(
        Setting("nginx_exporter_scrape_uri", "str", "http://127.0.0.1:8080/stub_status",
                "nginx's stub_status page the exporter reads (upstream's default)",
                section=NAME),
        Setting("nginx_exporter_add_status_server", "bool", False, section=NAME,
                help="write a loopback-only status server serving nginx_exporter_scrape_uri "
                     f"into {STATUS_CONF} (checked with nginx -t first, then nginx is "
                     "reloaded); off: the deploy only says what to add when nothing answers"),
    ),
    checks=lambda v: settings_problems(v),
)


def status_endpoint(uri: str) -> tuple[str, int, str]:
    """(address, port, path) of an http:// stub_status URI."""
    parts = urlsplit(uri)
    if parts.scheme != "http" or not parts.hostname:
        raise ValueError("not an http:// URL")
    return (f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname,
            parts.port or 80, parts.path or "/")


def settings_problems(v) -> list[str]:
    uri = v.get("nginx_exporter_scrape_uri") or ""
    if not v.get("nginx_exporter_add_status_server"):
        return []
    try:
        address, _, _ = status_endpoint(uri)
    except ValueError:
        return [f"nginx_exporter_add_status_server needs an http:// nginx_exporter_scrape_uri "
                f"with an address, not {uri!r}"]
    if address not in LOOPBACK:
        return [f"nginx_exporter_add_status_server writes a loopback-only status server: "
                f"nginx_exporter_scrape_uri {uri!r} must name 127.0.0.1, [::1] or localhost"]
    return []


def status_server(uri: str) -> str:
    address, port, path = status_endpoint(uri)
    listen = f"127.0.0.1:{port}" if address == "localhost" else f"{address}:{port}"
    return render("nginx_exporter/stub_status.conf.j2", listen=listen, path=path)


def advice(uri: str) -> str:
    """What to add to nginx so that `uri` serves stub_status."""
    try:
        address, port, path = status_endpoint(uri)
    except ValueError:
        return (f"nothing answers at nginx_exporter_scrape_uri {uri}: make it nginx's "
                "stub_status page")
    return (f"nginx_exporter: no stub_status page answers at {uri}; nginx_up will "
            f"be 0 until nginx serves one. Add to nginx's http block: server {{ listen "
            f"{address}:{port}; location = {path} {{ stub_status; allow 127.0.0.1; allow "
            "::1; deny all; } } and reload nginx, or set nginx_exporter_add_status_server "
            "= True to let the deploy write it")


def check_package_version() -> None:
    """Under the package method: refuse a package older than FLOOR."""
    refuse_older_package(NAME, FLOOR,
                         "no --web.config.file, single-dash flags: Debian 12 has 0.11.0")


def status_page(uri: str, add_status_server: bool) -> None:
    """nginx's loopback status server at `uri` (`add_status_server`), or, when nothing
    answers there, what to add to nginx in the deploy's output."""
    if add_status_server:
        validated_file(name="Write nginx's loopback status server for nginx_exporter",
                       dest=STATUS_CONF, content=status_server(uri),
                       validate=NGINX_CHECK, then="systemctl reload nginx")
        return
    try:
        address, port, path = status_endpoint(uri)
        answers = host.get_fact(HttpAnswers, address=address, port=port, path=path,
                                marker=STUB_STATUS_MARKER)
    except ValueError:
        answers = True  # a unix socket or https: not ours to probe
    if not answers:
        host.log(advice(uri), logger.warning)


# its service user has no data folder
home = no_home


@deploy("nginx_exporter")
def install():
    s = settings()
    check_package_version()
    exporter_service(
        NAME, home(s), CONFIG_DIR,
        before_program=lambda: status_page(s.nginx_exporter_scrape_uri,
                                           s.nginx_exporter_add_status_server),
        description="Prometheus nginx exporter (nginx stub_status)",
        documentation="https://github.com/nginx/nginx-prometheus-exporter",
        args=[f"--web.listen-address={listen_address(NAME)}",
              f"--nginx.scrape-uri={s.nginx_exporter_scrape_uri}"],
    )
