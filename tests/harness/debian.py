"""Debian's real builds of the Prometheus family (and VictoriaMetrics, cAdvisor), downloaded
and unpacked on the controller, from any Debian release the mirror serves.

They stand in for upstream binaries in tests: as tools on the controller (promtool,
amtool) and as the content of upstream-shaped archives on the test mirror.

Releases newer or older than this machine's (trixie, sid, bullseye) are read with apt's
own client and a private configuration (its own state, cache and sources list under
CACHE/apt/<suite>, CACHE/apt/<suite>-non-free for that area), never by adding suites to this
machine's or a host's sources. Their builds need glibc >= 2.34, which Debian 12 hosts have.
"""

from __future__ import annotations

import fcntl
import os
import re
import subprocess
from pathlib import Path

CACHE = Path(os.environ.get("FLEET_CACHE", "/var/tmp/monstack-fleet")) / "debian"
DEBIAN_MIRROR = "http://deb.debian.org/debian"
ARCHES = ("amd64", "arm64", "armhf")

# component -> (Debian package, binaries in the package -> upstream binary names)
PACKAGES = {
    "prometheus": ("prometheus", {"prometheus": "prometheus", "promtool": "promtool"}),
    "alertmanager": ("prometheus-alertmanager",
                     {"prometheus-alertmanager": "alertmanager", "amtool": "amtool"}),
    "node_exporter": ("prometheus-node-exporter",
                      {"prometheus-node-exporter": "node_exporter"}),
    "process_exporter": ("prometheus-process-exporter",
                         {"prometheus-process-exporter": "process_exporter"}),
    # in sid only (0.7.0): Debian 12 and 13 have no build of it
    "systemd_exporter": ("prometheus-systemd-exporter",
                         {"prometheus-systemd-exporter": "systemd_exporter"}),
    "redis_exporter": ("prometheus-redis-exporter",
                       {"prometheus-redis-exporter": "redis_exporter"}),
    "postgres_exporter": ("prometheus-postgres-exporter",
                          {"prometheus-postgres-exporter": "postgres_exporter"}),
    "mysqld_exporter": ("prometheus-mysqld-exporter",
                        {"prometheus-mysqld-exporter": "mysqld_exporter"}),
    "nginx_exporter": ("prometheus-nginx-exporter",
                       {"prometheus-nginx-exporter": "nginx_exporter"}),
    "pushgateway": ("prometheus-pushgateway", {"prometheus-pushgateway": "pushgateway"}),
    "blackbox_exporter": ("prometheus-blackbox-exporter",
                          {"prometheus-blackbox-exporter": "blackbox_exporter"}),
    "snmp_exporter": ("prometheus-snmp-exporter",
                      {"prometheus-snmp-exporter": "snmp_exporter"}),
    # single-node VictoriaMetrics; the package's vmagent, vmalert, ... are not used
    "victoriametrics": ("victoria-metrics", {"victoria-metrics": "victoria-metrics"}),
    "cadvisor": ("cadvisor", {"cadvisor": "cadvisor"}),
}
# From trixie on, promtool is a package of its own that prometheus depends on.
COMPANIONS = {"prometheus": ("promtool",)}

# The newest real build of each component that the mirror has (checked 2026-12): sid for
# the Prometheus family and VictoriaMetrics, bullseye for cAdvisor (newer releases dropped it).
NEWEST = {component: "sid" for component in PACKAGES}
NEWEST["cadvisor"] = "bullseye"
# This machine's own release: the oldest builds the suite proves.
OLDEST = "bookworm"


def _locked(path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    fh = open(path, "w")
    fcntl.flock(fh, fcntl.LOCK_EX)
    return fh


def _apt(suite: str, *args: str, cwd: Path | None = None,
         area: str = "main") -> subprocess.CompletedProcess:
    """apt-get with a private configuration reading `area` (main, non-free) of `suite` only."""
    d = CACHE / "apt" / (suite if area == "main" else f"{suite}-{area}")
    for sub in ("state/lists/partial", "cache/archives/partial"):
        (d / sub).mkdir(parents=True, exist_ok=True)
    (d / "state/status").touch()
    sources = d / "sources.list"
    sources.write_text(f"deb {DEBIAN_MIRROR} {suite} {area}\n")
    options = [f"Dir::State={d}/state", f"Dir::State::status={d}/state/status",
               f"Dir::Cache={d}/cache", f"Dir::Etc::SourceList={sources}",
               "Dir::Etc::SourceParts=/dev/null", "Dir::Etc::Preferences=/dev/null",
               "Dir::Etc::PreferencesParts=/dev/null",
               f"APT::Architectures={','.join(ARCHES)}", "Acquire::Languages=none",
               # downloads land in a root-owned folder: no privilege drop to _apt
               "APT::Sandbox::User=root"]
    return subprocess.run(["apt-get", "-q", *(a for o in options for a in ("-o", o)), *args],
                          cwd=cwd, capture_output=True, text=True)


def _download(package: str, arch: str, suite: str, dest: Path, area: str = "main") -> Path:
    """The .deb of `package` for `arch` (or of its architecture-independent build) from
    `area` of `suite`, in `dest`."""
    res = _apt(suite, "download", f"{package}:{arch}", cwd=dest, area=area)
    if res.returncode != 0:  # no package lists yet, or stale ones
        update = _apt(suite, "update", area=area)
        if update.returncode != 0:
            raise RuntimeError(f"apt-get update ({suite} {area}) failed: {update.stderr}")
        res = _apt(suite, "download", f"{package}:{arch}", cwd=dest, area=area)
    if res.returncode != 0:
        raise RuntimeError(f"apt-get download {package}:{arch} ({suite}) failed: {res.stderr}")
    return max([*dest.glob(f"{package}_*_{arch}.deb"), *dest.glob(f"{package}_*_all.deb")],
               key=lambda p: p.stat().st_mtime)


def extract(component: str, arch: str = "amd64", suite: str = OLDEST) -> Path:
    """Download the component's Debian package of `suite` for `arch` and unpack it (with
    its companion packages); return the root."""
    package, _ = PACKAGES[component]
    root = CACHE / suite / f"{package}_{arch}"
    if (root / ".done").exists():
        return root
    with _locked(CACHE / suite / f".{package}_{arch}.lock"):
        if (root / ".done").exists():
            return root
        dl = CACHE / suite / "downloads" / arch
        dl.mkdir(parents=True, exist_ok=True)
        deb = _download(package, arch, suite, dl)
        subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True)
        for companion in COMPANIONS.get(component, ()):
            if not (root / "usr/bin" / companion).exists():
                subprocess.run(["dpkg-deb", "-x", str(_download(companion, arch, suite, dl)),
                                str(root)], check=True)
        (root / ".version").write_text(deb_version(deb))
        (root / ".done").write_text("")
    return root


def unpacked(name: str, packages: tuple[str, ...], suite: str = OLDEST,
             arch: str = "amd64", area: str = "main") -> Path:
    """Debian packages of `suite` (from `area`) that are no component's (a server an
    exporter watches, with the libraries it needs beyond this machine's) unpacked together;
    their root. Run their programs with LD_LIBRARY_PATH=library_path(root)."""
    root = CACHE / suite / f"{name}_{arch}"
    if (root / ".done").exists():
        return root
    with _locked(CACHE / suite / f".{name}_{arch}.lock"):
        if not (root / ".done").exists():
            dl = CACHE / suite / "downloads" / arch
            dl.mkdir(parents=True, exist_ok=True)
            for package in packages:
                subprocess.run(["dpkg-deb", "-x", str(_download(package, arch, suite, dl, area)),
                                str(root)], check=True)
            (root / ".done").write_text("")
    return root


def library_path(root: Path) -> str:
    return ":".join(sorted({str(p.parent) for p in root.rglob("*.so*")}))


def deb_version(deb: Path) -> str:
    return subprocess.run(["dpkg-deb", "-f", str(deb), "Version"], capture_output=True,
                          text=True, check=True).stdout.strip()


def upstream_version(component: str, arch: str = "amd64", suite: str = OLDEST) -> str:
    """'2.42.0+ds-5+deb12u1' -> '2.42.0': the version an upstream archive would carry."""
    full = (extract(component, arch, suite) / ".version").read_text()
    return re.match(r"(?:\d+:)?([0-9.]+)", full).group(1)


def binaries(component: str, arch: str = "amd64", suite: str = OLDEST) -> dict[str, Path]:
    """Upstream binary name -> path of Debian's build of it."""
    root = extract(component, arch, suite)
    _, names = PACKAGES[component]
    return {upstream: root / "usr/bin" / debian for debian, upstream in names.items()}


def program(component: str, suite: str = OLDEST) -> Path:
    """Debian's build of the component's own program (the binary named like it)."""
    return binaries(component, suite=suite)[component]


def tool(name: str, suite: str = OLDEST) -> Path:
    """A controller-side tool such as promtool or amtool (amd64 build of `suite`)."""
    for component, (_, names) in PACKAGES.items():
        if name in names.values():
            return binaries(component, suite=suite)[name]
    raise KeyError(name)


PROMTOOL_CHECKED = {"config": "prometheus.yml", "web-config": "web.yml"}


def promtool_accepts(text: str, tmp_path: Path, suite: str = OLDEST,
                     check: str = "config") -> None:
    """`promtool check <check>` (Debian's real promtool of `suite`) passes the rendered
    file: prometheus.yml, or web.yml (`check="web-config"`)."""
    path = tmp_path / PROMTOOL_CHECKED[check]
    path.write_text(text)
    res = subprocess.run([str(tool("promtool", suite)), "check", check, str(path)],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stdout + res.stderr
