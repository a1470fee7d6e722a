"""Controller-side release archives: which file for which machine, from where, with which
sha256; download once into the cache, verify, unpack.

Expected names below are written from upstream's naming conventions (promu's
`<name>-<version>.linux-<arch>.tar.gz`, redis_exporter's `v` prefix, Loki's version-less
zips, cadvisor's raw binaries), not copied from the code's output. Downloads only ever go
to an HTTP server on 127.0.0.1 that the test starts; fake components are added to the
release table with monkeypatch.
"""

from __future__ import annotations

import hashlib
import io
import os
import socket
import stat
import tarfile
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

from operations.base import artifacts, catalogue, digests
from operations.base.artifacts import ArtifactError
from operations.stack import CHECKSUMS, RELEASES

MACHINES = ("x86_64", "aarch64", "armv7l", "armv6l", "armv8l")

PROMU = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "armv7", "armv6l": "armv6",
         "armv8l": "armv7"}
AMD64_ARM64 = {"x86_64": "amd64", "aarch64": "arm64"}
EXPECTED_ARCH = {
    "prometheus": PROMU,
    "alertmanager": PROMU,
    "node_exporter": PROMU,
    # goreleaser's goarm suffix: armv6 and armv7 (v0.8.7:.goreleaser.yml)
    "process_exporter": PROMU,
    "systemd_exporter": PROMU,
    "pushgateway": PROMU,
    "blackbox_exporter": PROMU,
    "snmp_exporter": PROMU,
    "postgres_exporter": PROMU,
    "mysqld_exporter": PROMU,
    # goreleaser's goarm 5/6/7 builds: armv7 and armv6 assets as promu's
    "nginx_exporter": PROMU,
    "redis_exporter": AMD64_ARM64,
    "grafana": AMD64_ARM64,
    "loki": {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "armv8l": "arm"},
    "jaeger": {"x86_64": "amd64", "aarch64": "arm64"},
    "pyroscope": {"x86_64": "amd64", "aarch64": "arm64"},   # no 32-bit ARM build
    "alloy": AMD64_ARM64,
    "cadvisor": AMD64_ARM64,
    # one 32-bit ARM build (GOARM=5) for every 32-bit ARM host
    "victoriametrics": {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm",
                        "armv6l": "arm", "armv8l": "arm"},
    # the cluster edition is built for 64-bit only
    "victoriametrics_cluster": AMD64_ARM64,
}

GITHUB = "https://github.com"
EXPECTED_FILE = {  # (version, arch token) -> upstream file name
    **{c: (lambda v, a, c=c: f"{c}-{v}.linux-{a}.tar.gz")
       for c in ("prometheus", "alertmanager", "node_exporter", "pushgateway",
                 "blackbox_exporter", "postgres_exporter", "mysqld_exporter",
                 "snmp_exporter", "systemd_exporter")},
    # goreleaser's default name: <project>_<version>_<os>_<arch>
    "nginx_exporter": lambda v, a: f"nginx-prometheus-exporter_{v}_linux_{a}.tar.gz",
    # goreleaser: "process-exporter-{{ .Version }}.{{ .Os }}-{{ .Arch }}{{ .Arm }}"
    "process_exporter": lambda v, a: f"process-exporter-{v}.linux-{a}.tar.gz",
    "redis_exporter": lambda v, a: f"redis_exporter-v{v}.linux-{a}.tar.gz",
    "grafana": lambda v, a: f"grafana-{v}.linux-{a}.tar.gz",
    "loki": lambda v, a: f"loki-linux-{a}.zip",
    "jaeger": lambda v, a: f"jaeger-{v}-linux-{a}.tar.gz",
    "pyroscope": lambda v, a: f"pyroscope_{v}_linux_{a}.tar.gz",
    "alloy": lambda v, a: f"alloy-linux-{a}.zip",
    "cadvisor": lambda v, a: f"cadvisor-v{v}-linux-{a}",
    "victoriametrics": lambda v, a: f"victoria-metrics-linux-{a}-v{v}.tar.gz",
    "victoriametrics_cluster": lambda v, a: f"victoria-metrics-linux-{a}-v{v}-cluster.tar.gz",
}
GITHUB_REPO = {  # owner/repository on GitHub
    **{c: f"prometheus/{c}" for c in ("prometheus", "alertmanager", "node_exporter",
                                      "pushgateway", "blackbox_exporter", "snmp_exporter",
                                      "mysqld_exporter")},
    **{c: f"prometheus-community/{c}" for c in ("postgres_exporter", "systemd_exporter")},
    **{c: f"grafana/{c}" for c in ("loki", "alloy", "pyroscope")},
    "nginx_exporter": "nginx/nginx-prometheus-exporter",
    "process_exporter": "ncabatoff/process-exporter",
    "redis_exporter": "oliver006/redis_exporter",
    "jaeger": "jaegertracing/jaeger",
    "cadvisor": "google/cadvisor",
    "victoriametrics": "VictoriaMetrics/VictoriaMetrics",
    "victoriametrics_cluster": "VictoriaMetrics/VictoriaMetrics",
}
SHA = "ab" * 32


def test_expectations_cover_the_whole_release_table():
    # a component added to RELEASES must get its expectations written here too
    assert set(EXPECTED_ARCH) == set(RELEASES) == set(EXPECTED_FILE)


# -- architecture ------------------------------------------------------------------------
@pytest.mark.parametrize("machine", MACHINES)
@pytest.mark.parametrize("component", sorted(RELEASES))
def test_arch_mapping(component, machine):
    want = EXPECTED_ARCH[component].get(machine)
    if want is not None:
        assert artifacts.upstream_arch(component, machine) == want
        return
    with pytest.raises(ArtifactError) as exc:
        artifacts.upstream_arch(component, machine)
    msg = str(exc.value)
    assert component in msg and repr(machine) in msg
    for supported in EXPECTED_ARCH[component]:
        assert supported in msg, f"error should list {supported}: {msg}"


@pytest.mark.parametrize("component", sorted(RELEASES))
def test_armv8l_is_32_bit(component):
    arch = RELEASES[component]["arch"]
    if "armv7l" in arch:
        # a 32-bit userland on an ARMv8 CPU runs the armv7 build, never arm64
        assert arch["armv8l"] == arch["armv7l"]
    else:
        assert "armv8l" not in arch
    assert arch.get("armv8l") not in ("arm64", "aarch64", "amd64")


def test_armv8l_resolves_to_the_armv7_file_and_checksum():
    v = RELEASES["pushgateway"]["version"]
    a8 = artifacts.resolve("pushgateway", v, "armv8l", None, {})
    a7 = artifacts.resolve("pushgateway", v, "armv7l", None, {})
    assert a8.file_name == a7.file_name == f"pushgateway-{v}.linux-armv7.tar.gz"
    assert a8.sha256 == a7.sha256 == CHECKSUMS[a7.file_name]
    assert a8.machine == "armv8l"


@pytest.mark.parametrize("machine", ["riscv64", "i686", "", "AMD64"])
def test_unknown_machine(machine):
    with pytest.raises(ArtifactError, match="node_exporter publishes no build"):
        artifacts.resolve("node_exporter", "1.0.0", machine, None, {})


# -- file names and URLs -------------------------------------------------------------------
@pytest.mark.parametrize("machine", ["x86_64", "aarch64"])
@pytest.mark.parametrize("component", sorted(RELEASES))
def test_file_name_and_upstream_url(component, machine):
    version = "9.8.7"
    arch = EXPECTED_ARCH[component][machine]
    name = EXPECTED_FILE[component](version, arch)
    a = artifacts.resolve(component, version, machine, None, {name: SHA})
    assert a.file_name == name
    assert (a.component, a.version, a.machine, a.sha256) == (component, version, machine, SHA)
    if component == "grafana":
        assert a.url == f"https://dl.grafana.com/oss/release/{name}"
    else:
        assert a.url == f"{GITHUB}/{GITHUB_REPO[component]}/releases/download/v{version}/{name}"


@pytest.mark.parametrize("mirror", ["http://127.0.0.1:8000/upstream",
                                    "http://127.0.0.1:8000/upstream/",
                                    "http://127.0.0.1:8000/upstream//"])
@pytest.mark.parametrize("component", ["prometheus", "redis_exporter", "loki", "cadvisor"])
def test_mirror_url_is_flat(component, mirror):
    name = EXPECTED_FILE[component]("2.0.0", "amd64")
    a = artifacts.resolve(component, "2.0.0", "x86_64", mirror, {name: SHA})
    assert a.url == f"http://127.0.0.1:8000/upstream/{name}"


def test_empty_mirror_means_upstream():
    a = artifacts.resolve("prometheus", "2.0.0", "x86_64", "", {
        "prometheus-2.0.0.linux-amd64.tar.gz": SHA})
    assert a.url.startswith(f"{GITHUB}/prometheus/prometheus/releases/download/v2.0.0/")


@pytest.mark.parametrize("component", [c for c, r in RELEASES.items()
                                       if r["format"] == "tar.gz" and r["top_dir"]
                                       and c != "grafana"])
def test_top_dir_is_the_file_name_without_extension(component):
    # promu archives (and redis_exporter's) unpack into <file name minus .tar.gz>/
    spec = RELEASES[component]
    name = spec["file"].format(version="1.0.0", arch="amd64")
    assert spec["top_dir"].format(version="1.0.0", arch="amd64") + ".tar.gz" == name


# -- checksums ---------------------------------------------------------------------------
def test_every_pinned_checksum_belongs_to_a_resolvable_file():
    resolvable = {}
    for component, spec in RELEASES.items():
        for machine in spec["arch"]:
            try:
                a = artifacts.resolve(component, spec["version"], machine, None, {})
            except ArtifactError:
                continue
            resolvable[a.file_name] = a.sha256
    orphans = sorted(set(CHECKSUMS) - set(resolvable))
    assert not orphans, f"pinned checksums no component/version/arch resolves to: {orphans}"
    for name, sha in CHECKSUMS.items():
        assert len(sha) == 64 and sha == sha.lower() and int(sha, 16) >= 0, name
        assert resolvable[name] == sha


# (component, machine) whose default archive no two public sources gave a sha256 for:
# their release notes say so (an operator passes artifact_checksums or uses the package)
UNPINNED_64_BIT = {("mysqld_exporter", "x86_64"), ("mysqld_exporter", "aarch64"),
                   ("nginx_exporter", "aarch64"), ("snmp_exporter", "aarch64"),
                   ("systemd_exporter", "x86_64"), ("systemd_exporter", "aarch64"),
                   ("jaeger", "aarch64"),
                   ("pyroscope", "x86_64"), ("pyroscope", "aarch64")}


@pytest.mark.parametrize("component", [c for c in RELEASES
                                       if c not in ("loki", "alloy", "victoriametrics",
                                                     "victoriametrics_cluster")])
@pytest.mark.parametrize("machine", ["x86_64", "aarch64"])
def test_default_versions_are_pinned_for_64_bit(component, machine):
    if (component, machine) in UNPINNED_64_BIT:
        # the notes say so, and the deploy asks the operator for the sha256
        assert "sha256" in RELEASES[component]["notes"]
        with pytest.raises(ArtifactError, match="artifact_checksums"):
            artifacts.resolve(component, RELEASES[component]["version"], machine, None, {})
        return
    a = artifacts.resolve(component, RELEASES[component]["version"], machine, None, {})
    assert a.sha256 == CHECKSUMS[a.file_name]


def test_extra_checksum_wins_over_the_pinned_one():
    name = f"prometheus-{RELEASES['prometheus']['version']}.linux-amd64.tar.gz"
    assert CHECKSUMS[name] != SHA
    a = artifacts.resolve("prometheus", RELEASES["prometheus"]["version"], "x86_64", None,
                          {name: SHA.upper()})
    assert a.sha256 == SHA  # and normalised to lower case


def test_extra_checksum_of_another_file_does_not_interfere():
    v = RELEASES["prometheus"]["version"]
    name = f"prometheus-{v}.linux-amd64.tar.gz"
    a = artifacts.resolve("prometheus", v, "x86_64", None,
                          {f"prometheus-{v}.linux-arm64.tar.gz": SHA})
    assert a.sha256 == CHECKSUMS[name]


@pytest.mark.parametrize("component,version,machine,name", [
    ("loki", "3.6.8", "x86_64", "loki-linux-amd64.zip"),
    ("prometheus", "0.0.1", "x86_64", "prometheus-0.0.1.linux-amd64.tar.gz"),
    ("node_exporter", RELEASES["node_exporter"]["version"], "armv6l",
     f"node_exporter-{RELEASES['node_exporter']['version']}.linux-armv6.tar.gz"),
])
def test_missing_checksum_says_add_artifact_checksums(component, version, machine, name,
                                                      monkeypatch):
    def unreachable(url):   # Loki's checksum file cannot be read either
        raise ArtifactError(f"could not download {url}: unreachable in this test")
    monkeypatch.setattr(artifacts, "download_text", unreachable)
    monkeypatch.setattr(artifacts, "_published", {})
    with pytest.raises(ArtifactError) as exc:
        artifacts.resolve(component, version, machine, None, {"unrelated.tar.gz": SHA})
    msg = str(exc.value)
    assert name in msg and "artifact_checksums" in msg


# -- a local HTTP server and fake components ---------------------------------------------
class Server:
    def __init__(self):
        self.files: dict[str, bytes] = {}
        self.truncated: set[str] = set()
        self.requests: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                server.requests.append(self.path)
                name = self.path.lstrip("/")
                body = server.files.get(name)
                if body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                extra = 1000 if name in server.truncated else 0
                self.send_header("Content-Length", str(len(body) + extra))
                self.end_headers()
                self.wfile.write(body)
                if extra:
                    self.wfile.flush()
                    self.close_connection = True

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever,
                                       kwargs={"poll_interval": 0.05}, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server(monkeypatch):
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy",
                "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    with Server() as s:
        yield s


def fake_release(version: str, file: str, format: str, binaries: dict,
                 top_dir: str | None = None) -> dict:
    """The release entry of a made-up upstream at upstream.invalid, built for amd64 and
    arm64."""
    return {"version": version, "url": "https://upstream.invalid/v{version}/{file}",
            "file": file, "format": format, "top_dir": top_dir, "binaries": binaries,
            "arch": {"x86_64": "amd64", "aarch64": "arm64"}}


FAKE_TAR = fake_release("1.2.3", "fakeexp-{version}.linux-{arch}.tar.gz", "tar.gz",
                        {"fakeexp": "fakeexp", "fakectl": "fakectl"},
                        top_dir="fakeexp-{version}.linux-{arch}")
# no version in the zip's name, like Loki's
FAKE_ZIP = fake_release("1.0.0", "fakezip-linux-{arch}.zip", "zip",
                        {"fakezip": "fakezip-linux-{arch}"})
FAKE_BIN = fake_release("0.5.0", "fakebin-v{version}-linux-{arch}", "binary", {"fakebin": None})


@pytest.fixture
def fakes(monkeypatch):
    monkeypatch.setitem(RELEASES, "fakeexp", dict(FAKE_TAR))
    monkeypatch.setitem(RELEASES, "fakezip", dict(FAKE_ZIP))
    monkeypatch.setitem(RELEASES, "fakebin", dict(FAKE_BIN))
    assert catalogue.releases() is RELEASES
    return RELEASES


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def make_tar(members: dict[str, tuple[bytes, int] | None]) -> bytes:
    """name -> (content, mode), or None for a directory."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, entry in members.items():
            info = tarfile.TarInfo(name)
            info.mtime = 1_700_000_000
            if entry is None:
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)
            else:
                content, info.mode = entry
                info.size = len(content)
                tar.addfile(info, io.BytesIO(content))
    return buf.getvalue()


def make_zip(members: dict[str, tuple[bytes, int]]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, (content, mode) in members.items():
            info = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
            info.external_attr = (stat.S_IFREG | mode) << 16
            zf.writestr(info, content)
    return buf.getvalue()


def fake_tar(version="1.2.3", arch="amd64", top=None, skip=()) -> bytes:
    top = top or f"fakeexp-{version}.linux-{arch}"
    members = {f"{top}/": None,
               f"{top}/fakeexp": (b"#!/bin/sh\necho fakeexp " + version.encode() + b"\n", 0o755),
               f"{top}/fakectl": (b"#!/bin/sh\necho fakectl\n", 0o755),
               f"{top}/LICENSE": (b"license text\n", 0o644)}
    return make_tar({k: v for k, v in members.items() if k.rsplit("/", 1)[-1] not in skip})


def cache_entries(cache: Path) -> list[str]:
    """What fetch left in the cache, without its lock files and its record of digests."""
    return sorted(p.name for p in cache.iterdir()
                  if not p.name.endswith(".lock") and p.name != digests.RECORD)


# -- fetch -------------------------------------------------------------------------------
def test_fetch_verifies_and_caches(server, fakes, tmp_path):
    body = fake_tar()
    name = "fakeexp-1.2.3.linux-amd64.tar.gz"
    server.files[name] = body
    a = artifacts.resolve("fakeexp", "1.2.3", "x86_64", server.url + "/", {name: sha(body)})
    assert a.url == f"{server.url}/{name}"
    cache = tmp_path / "cache" / "nested"   # created by fetch
    path = artifacts.fetch(a, cache, timeout=10)
    assert path == cache / name
    assert path.read_bytes() == body
    assert server.requests == [f"/{name}"]
    assert cache_entries(cache) == [name]

    # second fetch: served from the cache, no request at all
    del server.files[name]
    assert artifacts.fetch(a, cache, timeout=10) == path
    assert server.requests == [f"/{name}"]


def test_fetch_replaces_a_corrupt_cached_file(server, fakes, tmp_path):
    body = fake_tar()
    name = "fakeexp-1.2.3.linux-amd64.tar.gz"
    server.files[name] = body
    a = artifacts.resolve("fakeexp", "1.2.3", "x86_64", server.url, {name: sha(body)})
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / name).write_bytes(body[:-10])  # an interrupted copy by hand, say
    path = artifacts.fetch(a, cache, timeout=10)
    assert path.read_bytes() == body
    assert len(server.requests) == 1


def test_fetch_checksum_mismatch_leaves_nothing(server, fakes, tmp_path):
    body = fake_tar()
    name = "fakeexp-1.2.3.linux-amd64.tar.gz"
    server.files[name] = body
    wrong = sha(b"something else")
    a = artifacts.resolve("fakeexp", "1.2.3", "x86_64", server.url, {name: wrong})
    cache = tmp_path / "cache"
    with pytest.raises(ArtifactError) as exc:
        artifacts.fetch(a, cache, timeout=10)
    msg = str(exc.value)
    assert "checksum mismatch" in msg and name in msg
    assert wrong in msg and sha(body) in msg
    assert cache_entries(cache) == []   # neither the archive nor a .part


def test_fetch_404_names_the_url(server, fakes, tmp_path):
    name = "fakeexp-1.2.3.linux-amd64.tar.gz"
    a = artifacts.resolve("fakeexp", "1.2.3", "x86_64", server.url, {name: SHA})
    cache = tmp_path / "cache"
    with pytest.raises(ArtifactError) as exc:
        artifacts.fetch(a, cache, timeout=10)
    assert f"{server.url}/{name}" in str(exc.value)
    assert "404" in str(exc.value)
    assert cache_entries(cache) == []


def test_fetch_truncated_body_leaves_nothing(server, fakes, tmp_path):
    body = fake_tar()
    name = "fakeexp-1.2.3.linux-amd64.tar.gz"
    server.files[name] = body
    server.truncated.add(name)
    a = artifacts.resolve("fakeexp", "1.2.3", "x86_64", server.url, {name: sha(body + b"x")})
    cache = tmp_path / "cache"
    with pytest.raises(ArtifactError, match=name) as exc:
        artifacts.fetch(a, cache, timeout=10)
    # the short read is a download error, not a (misleading) checksum mismatch
    assert "could not download" in str(exc.value), str(exc.value)
    assert cache_entries(cache) == []


def test_fetch_connection_refused(fakes, tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    name = "fakeexp-1.2.3.linux-amd64.tar.gz"
    a = artifacts.resolve("fakeexp", "1.2.3", "x86_64", url, {name: SHA})
    with pytest.raises(ArtifactError, match=f"could not download {url}/{name}"):
        artifacts.fetch(a, tmp_path / "cache", timeout=5)
    assert cache_entries(tmp_path / "cache") == []


def test_prepare_end_to_end(server, fakes, tmp_path):
    body = fake_tar(arch="arm64")
    name = "fakeexp-1.2.3.linux-arm64.tar.gz"
    server.files[name] = body
    a, folder = artifacts.prepare("fakeexp", "1.2.3", "aarch64", server.url,
                                  {name: sha(body)}, str(tmp_path / "cache"))
    assert a.file_name == name
    assert folder == tmp_path / "cache" / f"{name}.d" / "fakeexp-1.2.3.linux-arm64"
    paths = artifacts.binary_paths(a, folder)
    assert set(paths) == {"fakeexp", "fakectl"}
    assert paths["fakeexp"].read_bytes() == b"#!/bin/sh\necho fakeexp 1.2.3\n"


def test_new_version_with_the_same_file_name_is_unpacked_anew(server, fakes, tmp_path):
    name = "fakezip-linux-amd64.zip"
    cache = str(tmp_path / "cache")
    old = make_zip({"fakezip-linux-amd64": (b"old build\n", 0o755)})
    server.files[name] = old
    a, folder = artifacts.prepare("fakezip", "1.0.0", "x86_64", server.url,
                                  {name: sha(old)}, cache)
    assert artifacts.binary_paths(a, folder)["fakezip"].read_bytes() == b"old build\n"

    new = make_zip({"fakezip-linux-amd64": (b"new build\n", 0o755)})
    server.files[name] = new
    a, folder = artifacts.prepare("fakezip", "1.1.0", "x86_64", server.url,
                                  {name: sha(new)}, cache)
    assert (tmp_path / "cache" / name).read_bytes() == new   # fetch did replace it
    assert artifacts.binary_paths(a, folder)["fakezip"].read_bytes() == b"new build\n"


# -- unpack ------------------------------------------------------------------------------
def _artifact(component, machine="x86_64", version=None):
    version = version or RELEASES[component]["version"]
    name = EXPECTED_FAKE_FILE[component](version, {"x86_64": "amd64",
                                                   "aarch64": "arm64"}[machine])
    return artifacts.resolve(component, version, machine, None, {name: SHA})


EXPECTED_FAKE_FILE = {
    "fakeexp": lambda v, a: f"fakeexp-{v}.linux-{a}.tar.gz",
    "fakezip": lambda v, a: f"fakezip-linux-{a}.zip",
    "fakebin": lambda v, a: f"fakebin-v{v}-linux-{a}",
}


def _write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_unpack_tar_with_top_dir(fakes, tmp_path):
    a = _artifact("fakeexp")
    archive = _write(tmp_path, a.file_name, fake_tar())
    folder = artifacts.unpack(a, archive)
    assert folder == tmp_path / f"{a.file_name}.d" / "fakeexp-1.2.3.linux-amd64"
    paths = artifacts.binary_paths(a, folder)
    assert paths == {"fakeexp": folder / "fakeexp", "fakectl": folder / "fakectl"}
    for p in paths.values():
        assert os.access(p, os.X_OK)
    assert not os.access(folder / "LICENSE", os.X_OK)
    assert not (tmp_path / f"{a.file_name}.d.tmp").exists()


def test_unpack_happens_once(fakes, tmp_path):
    a = _artifact("fakeexp")
    archive = _write(tmp_path, a.file_name, fake_tar())
    first = artifacts.unpack(a, archive)
    (first / "marker").write_text("still here")
    archive.write_bytes(b"not even an archive any more")
    again = artifacts.unpack(a, archive)
    assert again == first and (again / "marker").read_text() == "still here"


def test_unpack_top_dir_renamed_upstream(fakes, tmp_path):
    # e.g. grafana-v13.2.3/ where grafana-13.2.3/ was expected: one top folder is used
    a = _artifact("fakeexp")
    archive = _write(tmp_path, a.file_name, fake_tar(top="fakeexp-v1.2.3"))
    folder = artifacts.unpack(a, archive)
    assert folder.name == "fakeexp-v1.2.3"
    assert set(artifacts.binary_paths(a, folder)) == {"fakeexp", "fakectl"}


def test_the_next_run_takes_a_cached_archive_without_hashing_it(server, fakes, tmp_path,
                                                                 monkeypatch):
    body = fake_tar()
    name = "fakeexp-1.2.3.linux-amd64.tar.gz"
    server.files[name] = body
    a = artifacts.resolve("fakeexp", "1.2.3", "x86_64", server.url + "/", {name: sha(body)})
    artifacts.fetch(a, tmp_path, timeout=10)        # hashed as it was downloaded
    digests.forget()                                # the next run
    monkeypatch.setattr(digests.hashlib, "new", lambda *a: pytest.fail("hashed"))
    assert artifacts.fetch(a, tmp_path, timeout=10) == tmp_path / name
    assert server.requests == [f"/{name}"]
    (tmp_path / name).write_bytes(body[:-1] + b"x")  # changed in the cache: verified again
    monkeypatch.undo()
    digests.forget()
    assert artifacts.fetch(a, tmp_path, timeout=10).read_bytes() == body
    assert server.requests == [f"/{name}"] * 2


def test_unpack_rejects_path_traversal(fakes, tmp_path):
    a = _artifact("fakeexp")
    work = tmp_path / "cache"
    work.mkdir()
    archive = _write(work, a.file_name, make_tar({"../evil": (b"pwned", 0o755)}))
    with pytest.raises(ArtifactError, match=f"could not unpack {a.file_name}"):
        artifacts.unpack(a, archive)
    assert not (tmp_path / "evil").exists()
    assert sorted(p.name for p in work.iterdir()) == [a.file_name]


def test_unpack_corrupt_archive(fakes, tmp_path):
    a = _artifact("fakeexp")
    archive = _write(tmp_path, a.file_name, b"\x1f\x8b" + os.urandom(200))
    with pytest.raises(ArtifactError, match="could not unpack"):
        artifacts.unpack(a, archive)
    assert sorted(p.name for p in tmp_path.iterdir()) == [a.file_name]


@pytest.mark.parametrize("machine,token", [("x86_64", "amd64"), ("aarch64", "arm64")])
def test_unpack_zip_keeps_mode_bits(fakes, tmp_path, machine, token):
    a = _artifact("fakezip", machine)
    assert a.file_name == f"fakezip-linux-{token}.zip"
    data = make_zip({f"fakezip-linux-{token}": (b"\x7fELF fake", 0o755),
                     "README.md": (b"readme", 0o644),
                     "docs/guide.txt": (b"guide", 0o600)})
    folder = artifacts.unpack(a, _write(tmp_path, a.file_name, data))
    assert folder == tmp_path / f"{a.file_name}.d"
    paths = artifacts.binary_paths(a, folder)
    assert paths == {"fakezip": folder / f"fakezip-linux-{token}"}
    assert stat.S_IMODE(paths["fakezip"].stat().st_mode) == 0o755
    assert stat.S_IMODE((folder / "README.md").stat().st_mode) == 0o644
    assert stat.S_IMODE((folder / "docs/guide.txt").stat().st_mode) == 0o600


def test_unpack_raw_binary(fakes, tmp_path):
    a = _artifact("fakebin")
    assert a.file_name == "fakebin-v0.5.0-linux-amd64"
    archive = _write(tmp_path, a.file_name, b"\x7fELF raw binary")
    archive.chmod(0o644)
    folder = artifacts.unpack(a, archive)
    paths = artifacts.binary_paths(a, folder)
    assert paths == {"fakebin": folder / "fakebin"}
    assert paths["fakebin"].read_bytes() == b"\x7fELF raw binary"
    assert stat.S_IMODE(paths["fakebin"].stat().st_mode) == 0o755


def test_binary_paths_missing_binary(fakes, tmp_path):
    a = _artifact("fakeexp")
    archive = _write(tmp_path, a.file_name, fake_tar(skip=("fakectl",)))
    folder = artifacts.unpack(a, archive)
    with pytest.raises(ArtifactError) as exc:
        artifacts.binary_paths(a, folder)
    assert "fakectl" in str(exc.value) and a.file_name in str(exc.value)


def test_binary_paths_directory_is_not_a_binary(fakes, tmp_path):
    a = _artifact("fakeexp")
    top = "fakeexp-1.2.3.linux-amd64"
    archive = _write(tmp_path, a.file_name, make_tar({
        f"{top}/": None, f"{top}/fakeexp": (b"x", 0o755), f"{top}/fakectl/": None}))
    with pytest.raises(ArtifactError, match="has no fakectl"):
        artifacts.binary_paths(a, artifacts.unpack(a, archive))


def test_unknown_format(fakes, monkeypatch, tmp_path):
    monkeypatch.setitem(fakes["fakeexp"], "format", "tar.xz")
    a = _artifact("fakeexp")
    with pytest.raises(ArtifactError, match="unknown archive format 'tar.xz'"):
        artifacts.unpack(a, _write(tmp_path, a.file_name, b"x"))
