"""A local artifact mirror: upstream-shaped release archives over HTTP on the fleet bridge.

Archives are named and laid out exactly as the project's release table says upstream
publishes them (so the install code under test is the real one), but the binaries inside
are Debian's real builds (see harness.debian) or, for components Debian does not ship,
clearly named test doubles. Archives are built reproducibly (fixed mtimes), so their
sha256 is stable across runs and cached on disk.

Faults can be injected per file name: 404, 503, a truncated body, or corrupted bytes.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import shutil
import sys
import tarfile
import threading
import zipfile
from dataclasses import dataclass, field
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from . import debian, snmp_generator

REPO = Path(__file__).resolve().parents[2]
CACHE = Path(os.environ.get("FLEET_CACHE", "/var/tmp/monstack-fleet")) / "mirror"
DEB_ARCH_TO_MACHINE = {"amd64": "x86_64", "arm64": "aarch64", "armhf": "armv7l"}


def releases() -> dict:
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    from operations.stack import RELEASES
    return RELEASES


def sha256(path: Path) -> str:
    """Hashed here, not through the deploy's digests (which would keep a record in the
    mirror's folders)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def archive_name(component: str, version: str, machine: str) -> str:
    spec = releases()[component]
    return spec["file"].format(version=version, arch=spec["arch"][machine])


def _members_from_debian(component: str, deb_arch: str,
                         suite: str) -> dict[str, tuple[Path, int]]:
    """Archive-relative path (below the top dir) -> (source file, mode)."""
    spec = releases()[component]
    built = debian.binaries(component, deb_arch, suite)
    members = {}
    arch = spec["arch"][DEB_ARCH_TO_MACHINE[deb_arch]]
    for name, inner in spec["binaries"].items():
        members[(inner or name).format(arch=arch)] = (built[name], 0o755)
    root = debian.extract(component, deb_arch, suite)
    copyright_file = next(root.glob("usr/share/doc/*/copyright"), None)
    # promu archives carry a LICENSE in their top folder; VictoriaMetrics' tarball holds
    # its one binary (victoria-metrics-prod) and nothing else
    if copyright_file and spec.get("top_dir"):
        members["LICENSE"] = (copyright_file, 0o644)
    if component == "snmp_exporter":
        # upstream's archive carries its generated snmp.yml, which the deploy takes the
        # modules from; Debian's package ships none (licensing)
        members["snmp.yml"] = (upstream_snmp_yml(), 0o644)
    if component == "alertmanager":
        # Debian's alertmanager reads its notification templates from disk at run time
        # (upstream embeds them); the repacked archive carries them.
        for tmpl in sorted((root / "usr/share/prometheus/alertmanager").glob("*.tmpl")):
            members[tmpl.name] = (tmpl, 0o644)
    return members


def upstream_snmp_yml() -> Path:
    """The snmp.yml the snmp_exporter archive carries in place of upstream's generated one:
    $SNMP_EXPORTER_SNMP_YML when set (upstream's own, `git show v<version>:snmp.yml` of
    prometheus/snmp_exporter), else the modules the tests use generated on the controller
    by Debian's real generator (harness.snmp_generator: for those modules, upstream's
    snmp.yml of v0.30.1 as it is)."""
    given = os.environ.get("SNMP_EXPORTER_SNMP_YML")
    if given:
        return Path(given)
    return snmp_generator.generated_snmp_yml()


def build_archive(component: str, version: str, deb_arch: str = "amd64",
                  members: dict[str, tuple[Path, int]] | None = None,
                  out_dir: Path = CACHE, suite: str = debian.OLDEST) -> Path:
    """Build (or reuse) the upstream-shaped archive of `component` for `deb_arch`, from
    the Debian build of `suite` unless `members` are given."""
    spec = releases()[component]
    machine = DEB_ARCH_TO_MACHINE[deb_arch]
    arch = spec["arch"][machine]
    name = spec["file"].format(version=version, arch=arch)
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / name
    if out.exists() and members is None:
        return out
    members = members if members is not None else _members_from_debian(component, deb_arch, suite)
    top = spec["top_dir"].format(version=version, arch=arch) if spec.get("top_dir") else ""
    tmp = out.with_name(out.name + ".tmp")
    fmt = spec["format"]
    if fmt == "tar.gz":
        raw = io.BytesIO()
        with tarfile.open(fileobj=raw, mode="w", format=tarfile.GNU_FORMAT) as tar:
            if top:
                info = tarfile.TarInfo(top)
                info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, 1700000000
                tar.addfile(info)
            for rel, (src, mode) in sorted(members.items()):
                info = tarfile.TarInfo(f"{top}/{rel}" if top else rel)
                info.size, info.mode, info.mtime = src.stat().st_size, mode, 1700000000
                info.uname = info.gname = "root"
                with open(src, "rb") as fh:
                    tar.addfile(info, fh)
        with open(tmp, "wb") as fh, gzip.GzipFile(fileobj=fh, mode="wb", mtime=0,
                                                 filename="") as gz:
            gz.write(raw.getvalue())
    elif fmt == "zip":
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
            for rel, (src, mode) in sorted(members.items()):
                zi = zipfile.ZipInfo(f"{top}/{rel}" if top else rel, (2023, 11, 14, 22, 13, 20))
                zi.external_attr = (0o100000 | mode) << 16
                zi.compress_type = zipfile.ZIP_DEFLATED
                zf.writestr(zi, src.read_bytes())
    elif fmt == "binary":
        (src, _), = members.values()
        shutil.copyfile(src, tmp)
    else:
        raise ValueError(f"unknown archive format {fmt}")
    tmp.rename(out)
    return out


@dataclass
class Mirror:
    """A flat folder of release files served over HTTP, with fault injection."""

    root: Path
    host: str
    port: int = 0
    faults: dict[str, str] = field(default_factory=dict)
    requests: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self._server: ThreadingHTTPServer | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def add(self, path: Path) -> str:
        """Publish a file on the mirror; return its name."""
        dest = self.root / path.name
        if not dest.exists() or sha256(dest) != sha256(path):
            shutil.copyfile(path, dest)
        return path.name

    def add_component(self, component: str, deb_arch: str = "amd64",
                      suite: str = debian.OLDEST) -> tuple[str, str, str]:
        """Publish the Debian build of `component` from `suite` as its upstream archive.

        Returns (version, file name, sha256)."""
        version = debian.upstream_version(component, deb_arch, suite)
        name = self.add(build_archive(component, version, deb_arch, suite=suite))
        return version, name, sha256(self.root / name)

    def checksums(self) -> dict[str, str]:
        return {p.name: sha256(p) for p in sorted(self.root.iterdir()) if p.is_file()}

    def start(self) -> "Mirror":
        mirror = self

        class Handler(SimpleHTTPRequestHandler):
            def __init__(self, *a, **kw):
                super().__init__(*a, directory=str(mirror.root), **kw)

            def log_message(self, *args):  # keep test output quiet
                pass

            def do_GET(self):
                name = self.path.lstrip("/").split("?")[0]
                mirror.requests.append(name)
                fault = mirror.faults.get(name)
                if fault in ("404", "503"):
                    self.send_error(int(fault))
                    return
                if fault in ("truncate", "corrupt"):
                    data = (mirror.root / name).read_bytes()
                    if fault == "truncate":
                        body = data[: len(data) // 2]
                        self.send_response(200)
                        self.send_header("Content-Length", str(len(data)))
                        self.end_headers()
                        self.wfile.write(body)
                        self.wfile.flush()
                        self.close_connection = True
                        return
                    body = bytes([data[0] ^ 0xFF]) + data[1:]
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
                super().do_GET()

        self._server = ThreadingHTTPServer((self.host, self.port), Handler)
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
