"""The demo's artifact mirror: where each component's release file comes from, and an
HTTP server for that folder on the demo bridge.

Core components (Prometheus, Alertmanager, the exporters) are Debian's real builds
repacked as upstream-shaped archives (tests/harness/mirror.py), unless the user gives the
upstream file with --artifacts. Grafana, Loki, Alloy and cAdvisor have no Debian build:
they come from --artifacts, from upstream (downloaded on this machine, checked against
the pinned sha256), or Loki and Alloy from Grafana's APT repository; otherwise the demo
leaves them out and says how to include them.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import requests

from harness import debian
from harness.fleet import _alive, _signal, _wait_gone
from harness.mirror import build_archive
from harness.stack import CORE_COMPONENTS
from operations.base import artifacts
from operations.stack import BY_NAME, CHECKSUMS, RELEASES

from .profile import DEMO, KEEP, MIRROR_PORT, RUN, mirror_url

MIRROR_DIR = KEEP / "mirror"          # the served folder
DOWNLOADS = KEEP / "downloads"        # upstream files fetched on this machine, verified
SERVER_DIR = RUN / "mirror"           # pid and log of the HTTP server
OPTIONAL = ("grafana", "loki", "alloy", "cadvisor")
FROM_GRAFANA_APT = ("loki", "alloy")
PROBE_TIMEOUT = 10                    # seconds, per connection attempt or read


class DemoError(RuntimeError):
    pass


@dataclass
class Source:
    component: str
    how: str                        # debian, artifacts, upstream, apt, skipped
    file: str | None = None         # release file on the mirror
    sha256: str | None = None
    version: str | None = None      # overrides <component>_version (Debian's builds)
    note: str = ""                  # one line for the user


def release_file(component: str, machine: str) -> str | None:
    """The upstream file name of the pinned version, or None without a build for `machine`."""
    spec = RELEASES[component]
    if machine not in spec["arch"]:
        return None
    return spec["file"].format(version=spec["version"], arch=spec["arch"][machine])


def publish(path: Path) -> str:
    """Put `path` on the mirror (a hard link where possible); return its name."""
    MIRROR_DIR.mkdir(parents=True, exist_ok=True)
    dest = MIRROR_DIR / path.name
    if path.resolve() == dest.resolve():
        return path.name
    if dest.exists() and dest.stat().st_size == path.stat().st_size \
            and artifacts.file_sha256(dest) == artifacts.file_sha256(path):
        return path.name
    tmp = dest.with_name(dest.name + ".tmp")
    tmp.unlink(missing_ok=True)
    try:
        os.link(path, tmp)
    except OSError:
        shutil.copyfile(path, tmp)
    os.replace(tmp, dest)
    return path.name


def _from_user(component: str, path: Path) -> Source:
    sha = artifacts.file_sha256(path)
    pinned = CHECKSUMS.get(path.name)
    if pinned and pinned != sha:
        raise DemoError(f"{path}: sha256 {sha} is not the pinned {pinned} of "
                        f"{path.name}; not using it")
    publish(path)
    note = "" if pinned else " (no sha256 is pinned for it: the demo trusts your file)"
    return Source(component, "artifacts", path.name, sha, note=f"from {path}{note}")


def _from_debian(component: str, deb_arch: str) -> Source:
    version = debian.upstream_version(component, deb_arch)
    archive = build_archive(component, version, deb_arch, out_dir=MIRROR_DIR)
    return Source(component, "debian", archive.name, artifacts.file_sha256(archive), version,
                  note=f"Debian's build {version}, repacked as the upstream archive")


def _from_upstream(component: str, machine: str) -> Source:
    spec = RELEASES[component]
    try:
        artifact = artifacts.resolve(component, spec["version"], machine, None, {})
        path = artifacts.fetch(artifact, DOWNLOADS, timeout=PROBE_TIMEOUT)
    except artifacts.ArtifactError as exc:
        cause = type(exc.__context__).__name__ if exc.__context__ else str(exc)
        name = release_file(component, machine)
        return Source(component, "skipped", note=(
            f"{component} skipped: could not download {name} ({cause}); to include it, "
            f"put that file in a folder and run: python3 -m demo up --artifacts FOLDER"))
    publish(path)
    return Source(component, "upstream", path.name, artifact.sha256,
                  note=f"upstream {spec['version']}, sha256 checked against the pinned one")


def _grafana_apt_reachable() -> bool:
    url = BY_NAME["grafana_apt_key_url"].default
    try:
        return requests.head(url, timeout=PROBE_TIMEOUT, allow_redirects=True).ok
    except requests.RequestException:
        return False


def _from_grafana_apt(component: str, machine: str, reachable: bool) -> Source:
    if reachable:
        return Source(component, "apt", note="from Grafana's APT repository (apt.grafana.com), "
                                              "through the demo's apt proxy")
    name = release_file(component, machine)
    return Source(component, "skipped", note=(
        f"{component} skipped: apt.grafana.com is unreachable and no sha256 of {name} is "
        f"pinned; to include it, put upstream's {name} in a folder and run: "
        f"python3 -m demo up --artifacts FOLDER"))


def plan(machine: str, deb_arch: str, artifacts_dir: Path | None) -> list[Source]:
    """Fill the mirror folder; say where every component comes from."""
    given = {}
    if artifacts_dir:
        if not artifacts_dir.is_dir():
            raise DemoError(f"--artifacts {artifacts_dir}: no such folder")
        given = {p.name: p for p in artifacts_dir.iterdir() if p.is_file()}

    def source(component: str, apt_reachable) -> Source:
        name = release_file(component, machine)
        if name in given:
            return _from_user(component, given[name])
        if component in CORE_COMPONENTS:
            return _from_debian(component, deb_arch)
        if name is None:
            return Source(component, "skipped", note=(
                f"{component} skipped: upstream publishes no build for {machine}"))
        if component in FROM_GRAFANA_APT:
            return _from_grafana_apt(component, machine, apt_reachable.result())
        return _from_upstream(component, machine)

    # the network probes (each up to PROBE_TIMEOUT) run side by side
    with ThreadPoolExecutor(max_workers=len(OPTIONAL) + 1) as pool:
        apt_reachable = pool.submit(_grafana_apt_reachable)
        optional = [pool.submit(source, c, apt_reachable) for c in OPTIONAL]
        core = [source(c, apt_reachable) for c in CORE_COMPONENTS]
        sources = core + [f.result() for f in optional]
    by_name = {s.component: s for s in sources}
    if by_name["loki"].how == "skipped" and by_name["alloy"].how != "skipped":
        by_name["alloy"].how = "skipped"
        by_name["alloy"].note = "alloy skipped: it ships logs to Loki, which is skipped"
    return sources


def group_data(sources: list[Source]) -> dict:
    """The deploy settings that point each component at its source."""
    data: dict = {"artifact_mirror": mirror_url(), "artifact_checksums": {}}
    for s in sources:
        c = s.component
        if s.how == "skipped":
            data[f"{c}_enabled"] = False
            continue
        if s.file:
            data["artifact_checksums"][s.file] = s.sha256
            if c in FROM_GRAFANA_APT:
                data[f"{c}_install_method"] = "archive"
        if s.version:
            data[f"{c}_version"] = s.version
    if any(s.component == "cadvisor" and s.how != "skipped" for s in sources):
        # no Docker on the demo hosts: cAdvisor watches the web host's systemd services
        data["cadvisor_group"] = "web"
    return data


# -- the HTTP server -------------------------------------------------------------------
def server_pid() -> int | None:
    """PID of the demo's mirror server, if it runs (checked by its command line, so a
    recycled PID is never taken for it)."""
    with contextlib.suppress(OSError, ValueError):
        pid = int((SERVER_DIR / "pid").read_text())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        if _alive(pid) and b"http.server" in cmdline and str(MIRROR_DIR).encode() in cmdline:
            return pid
    return None


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2):
            return True
    except OSError:
        return False


def serve() -> int:
    """Start the mirror server on the demo bridge (or keep the running one); its PID."""
    pid = server_pid()
    if pid and _answers(mirror_url() + "/"):
        return pid
    stop_server()
    SERVER_DIR.mkdir(parents=True, exist_ok=True)
    MIRROR_DIR.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(MIRROR_PORT), "--bind", DEMO.controller_ip,
         "--directory", str(MIRROR_DIR)],
        stdout=open(SERVER_DIR / "log", "w"), stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL, start_new_session=True)
    (SERVER_DIR / "pid").write_text(str(proc.pid))
    for _ in range(50):
        if _answers(mirror_url() + "/"):
            return proc.pid
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    raise DemoError(f"the mirror server did not start: {(SERVER_DIR / 'log').read_text()[-2000:]}")


def stop_server() -> None:
    pid = server_pid()
    if pid:
        _signal(pid, 15)
        _wait_gone(pid, 10)
    with contextlib.suppress(OSError):
        (SERVER_DIR / "pid").unlink()
