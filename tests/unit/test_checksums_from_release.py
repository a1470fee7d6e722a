"""artifact_checksums_from_release: an archive whose sha256 is neither pinned nor given (the
armv7/armv6 builds of 32-bit Raspberry Pis) is verified against its release's own checksum
file, read from artifact_mirror (or upstream), and the sha256 trusted is recorded in the
controller's cache: later runs use it without the network, and a checksum file that
changed is refused.

Names below are written from upstream's conventions (promu's
`<name>-<version>.linux-<arch>.tar.gz` and `sha256sums.txt`, Grafana's `<file>.sha256`),
not copied from the code. Downloads only ever go to an HTTP server on 127.0.0.1 that the
test starts.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import tarfile
from pathlib import Path

import pytest

from operations.base import artifacts
from operations.base.artifacts import ArtifactError
from operations.stack import CHECKSUMS, RELEASES, validate
from harness.http_files import Mirror, no_proxy  # noqa: F401

# every component published with promu (.promu.yml; crossbuild platforms linux or
# promu's defaults, both holding linux/armv6 and linux/armv7)
PROMU = ("prometheus", "alertmanager", "node_exporter", "pushgateway", "blackbox_exporter",
         "snmp_exporter", "postgres_exporter", "mysqld_exporter", "systemd_exporter")
NODE = RELEASES["node_exporter"]["version"]
ARMV7 = f"node_exporter-{NODE}.linux-armv7.tar.gz"
SUMS = f"node_exporter-v{NODE}-sha256sums.txt"     # sha256sums.txt on a flat mirror


@pytest.fixture(autouse=True)
def fresh_run(monkeypatch):
    """Each test starts as a new run: no checksum file read yet."""
    monkeypatch.setattr(artifacts, "_published", {})


def promu_tarball(name: str, version: str, arch: str, program: bytes) -> bytes:
    raw = io.BytesIO()
    top = f"{name}-{version}.linux-{arch}"
    with tarfile.open(fileobj=raw, mode="w:gz") as tar:
        for inner, data, mode in ((name, program, 0o755), ("LICENSE", b"Apache-2.0\n", 0o644)):
            info = tarfile.TarInfo(f"{top}/{inner}")
            info.size, info.mode, info.mtime = len(data), mode, 1767225600
            tar.addfile(info, io.BytesIO(data))
    return raw.getvalue()


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


ARCHIVE = promu_tarball("node_exporter", NODE, "armv7", b"#!/bin/sh\necho armv7\n")
OTHER = promu_tarball("node_exporter", NODE, "arm64", b"#!/bin/sh\necho arm64\n")


def sha256sums(**listed: str) -> bytes:
    """promu's sha256sums.txt: `<sha256>  <file>` lines."""
    return "".join(f"{h}  {name}\n" for name, h in listed.items()).encode()


@contextlib.contextmanager
def served(files: dict[str, bytes]):
    """`files` on a mirror for the block; its URL."""
    mirror = Mirror(files)
    try:
        yield mirror.url
    finally:
        mirror.close()


def release(archive: bytes = ARCHIVE, listed: bytes | None = None) -> dict[str, bytes]:
    """The armv7 archive and the release's sha256sums.txt (listing it unless `listed`)."""
    return {ARMV7: archive, SUMS: sha256sums(**{ARMV7: sha(archive)}) if listed is None
            else listed}


def prepare(mirror_url: str, cache: Path, machine: str = "armv7l", given=None,
            from_release: bool = True):
    return artifacts.prepare("node_exporter", NODE, machine, mirror_url, given or {},
                             str(cache), from_release)


def record(cache: Path, name: str = ARMV7) -> Path:
    return cache / artifacts.RECORDS / name


# -- 32-bit boards select upstream's asset ---------------------------------------------------
@pytest.mark.parametrize("machine,arch", [("armv7l", "armv7"), ("armv6l", "armv6"),
                                          ("armv8l", "armv7")])
@pytest.mark.parametrize("component", PROMU)
def test_32_bit_boards_get_promus_armv7_and_armv6_assets(component, machine, arch):
    version = RELEASES[component]["version"]
    name = f"{component}-{version}.linux-{arch}.tar.gz"
    a = artifacts.resolve(component, version, machine, None, {name: "ab" * 32})
    assert a.file_name == name
    assert a.url.endswith(f"/releases/download/v{version}/{name}")


@pytest.mark.parametrize("machine", ["armv7l", "armv6l"])
def test_alloy_still_refuses_32_bit_boards(machine):
    with pytest.raises(ArtifactError) as exc:
        artifacts.resolve("alloy", RELEASES["alloy"]["version"], machine, None, {}, True)
    assert f"alloy publishes no build for architecture {machine!r}" in str(exc.value)


def test_the_setting_is_off_by_default_and_a_bool():
    assert validate("h1", {}).artifact_checksums_from_release is False
    assert validate("h1", {"artifact_checksums_from_release": True}
                    ).artifact_checksums_from_release is True


# -- without the setting: the error names it -------------------------------------------------
def test_the_missing_sha256_error_names_the_setting():
    assert ARMV7 not in CHECKSUMS
    with pytest.raises(ArtifactError) as exc:
        artifacts.resolve("node_exporter", NODE, "armv7l", None, {})
    msg = str(exc.value)
    assert f"no sha256 known for {ARMV7}: add it to artifact_checksums" in msg
    assert "artifact_checksums_from_release = True" in msg


def test_unpinned_components_name_the_setting_too():
    version = RELEASES["systemd_exporter"]["version"]
    with pytest.raises(ArtifactError) as exc:
        artifacts.resolve("systemd_exporter", version, "armv6l", None, {})
    msg = str(exc.value)
    assert "no sha256 is pinned for any systemd_exporter release" in msg
    assert f"systemd_exporter-{version}.linux-armv6.tar.gz" in msg
    assert "artifact_checksums_from_release = True" in msg


def test_a_release_with_no_checksum_file_keeps_refusing():
    """cadvisor publishes its sha256 only in release notes: nothing to read."""
    assert RELEASES["cadvisor"]["checksums"] is None
    with pytest.raises(ArtifactError) as exc:
        artifacts.resolve("cadvisor", "0.99.0", "x86_64", "http://mirror.invalid", {}, True)
    msg = str(exc.value)
    assert "no sha256 known for cadvisor-v0.99.0-linux-amd64" in msg
    assert "publishes no checksum file" in msg


# -- where the checksum file is read ---------------------------------------------------------
@pytest.mark.parametrize("component,version,arch,upstream,mirrored", [
    ("node_exporter", "1.12.1", "armv7",
     "https://github.com/prometheus/node_exporter/releases/download/v1.12.1/sha256sums.txt",
     "node_exporter-v1.12.1-sha256sums.txt"),
    ("postgres_exporter", "0.20.1", "armv6",
     "https://github.com/prometheus-community/postgres_exporter/releases/download/v0.20.1/"
     "sha256sums.txt", "postgres_exporter-v0.20.1-sha256sums.txt"),
    ("grafana", "13.2.3", "amd64",
     "https://dl.grafana.com/oss/release/grafana-13.2.3.linux-amd64.tar.gz.sha256",
     "grafana-13.2.3.linux-amd64.tar.gz.sha256"),
    ("victoriametrics", "1.150.0", "arm",
     "https://github.com/VictoriaMetrics/VictoriaMetrics/releases/download/v1.150.0/"
     "victoria-metrics-linux-arm-v1.150.0_checksums.txt",
     "victoria-metrics-linux-arm-v1.150.0_checksums.txt"),
    ("nginx_exporter", "1.5.1", "armv7",
     "https://github.com/nginx/nginx-prometheus-exporter/releases/download/v1.5.1/"
     "nginx-prometheus-exporter_1.5.1_checksums.txt",
     "nginx-prometheus-exporter_1.5.1_checksums.txt"),
    ("process_exporter", "0.8.7", "armv6",
     "https://github.com/ncabatoff/process-exporter/releases/download/v0.8.7/checksums.txt",
     "process_exporter-v0.8.7-checksums.txt"),
    # Loki's and Alloy's mirror names (checksums_mirror_name) follow the same rule
    ("loki", "3.6.8", "arm",
     "https://github.com/grafana/loki/releases/download/v3.6.8/SHA256SUMS",
     "loki-v3.6.8-SHA256SUMS"),
])
def test_checksum_file_urls(component, version, arch, upstream, mirrored):
    spec = RELEASES[component]
    name = spec["file"].format(version=version, arch=arch)
    assert artifacts.release_checksums_url(component, spec, version, arch, name, None) == upstream
    assert artifacts.release_checksums_url(
        component, spec, version, arch, name, "http://m.lan/pkgs/") == f"http://m.lan/pkgs/{mirrored}"


def test_grafana_per_file_sha256_holds_the_bare_hash(no_proxy, tmp_path):
    name = "grafana-99.0.0.linux-arm64.tar.gz"
    h = "cd" * 32
    with served({f"{name}.sha256": f"{h}\n".encode()}) as url:
        a = artifacts.resolve("grafana", "99.0.0", "aarch64", url, {}, True, str(tmp_path))
    assert (a.file_name, a.sha256) == (name, h)
    assert a.checksums_url == f"{url}/{name}.sha256"


# -- verify, unpack, record --------------------------------------------------------------------
def test_an_armv7_archive_verified_against_the_release_checksum_file(no_proxy, tmp_path):
    cache = tmp_path / "cache"
    other_name = f"node_exporter-{NODE}.linux-arm64.tar.gz"
    listed = sha256sums(**{other_name: sha(OTHER), ARMV7: sha(ARCHIVE)})
    with served(release(listed=listed)) as url:
        artifact, folder = prepare(url, cache)
    assert (artifact.file_name, artifact.sha256) == (ARMV7, sha(ARCHIVE))
    assert artifact.checksums_url == f"{url}/{SUMS}"
    assert artifact.url == f"{url}/{ARMV7}"
    program = artifacts.binary_paths(artifact, folder)["node_exporter"]
    assert program.read_bytes() == b"#!/bin/sh\necho armv7\n"
    # the sha256 trusted, keyed by file name, in sha256sum's format
    assert record(cache).read_text() == f"{sha(ARCHIVE)}  {ARMV7}\n"


def test_armv6_is_read_the_same_way(no_proxy, tmp_path):
    name = f"node_exporter-{NODE}.linux-armv6.tar.gz"
    body = promu_tarball("node_exporter", NODE, "armv6", b"armv6 build\n")
    with served({name: body, SUMS: sha256sums(**{name: sha(body)})}) as url:
        artifact, folder = prepare(url, tmp_path, machine="armv6l")
    assert artifacts.binary_paths(artifact, folder)["node_exporter"].read_bytes() == b"armv6 build\n"


def test_a_wrong_checksum_file_is_refused_and_nothing_unpacked(no_proxy, tmp_path):
    cache = tmp_path / "cache"
    with served(release(listed=sha256sums(**{ARMV7: sha(OTHER)}))) as url, \
            pytest.raises(ArtifactError) as exc:
        prepare(url, cache)
    msg = str(exc.value)
    assert f"checksum mismatch for {ARMV7}" in msg
    assert f"expected sha256 {sha(OTHER)}, got {sha(ARCHIVE)}" in msg
    assert f"the sha256 came from the release checksum file {url}/{SUMS}" in msg
    assert "nothing was installed" in msg
    # no archive, no unpacked folder, no record: the next run starts clean
    assert sorted(p.name for p in cache.iterdir() if not p.name.startswith(".")) == []
    assert not record(cache).exists()


def test_a_checksum_file_missing_the_entry_is_refused(no_proxy, tmp_path):
    armv6 = f"node_exporter-{NODE}.linux-armv6.tar.gz"
    with served(release(listed=sha256sums(**{armv6: sha(OTHER)}))) as url, \
            pytest.raises(ArtifactError) as exc:
        prepare(url, tmp_path)
    msg = str(exc.value)
    assert f"{url}/{SUMS} lists no {ARMV7}" in msg
    assert "artifact_checksums" in msg
    assert not record(tmp_path).exists() and not (tmp_path / ARMV7).exists()


def test_an_unreadable_checksum_file_without_a_record_is_refused(no_proxy, tmp_path):
    # the archive mirrored, its checksum file not
    with served({ARMV7: ARCHIVE}) as url, pytest.raises(ArtifactError) as exc:
        prepare(url, tmp_path)
    msg = str(exc.value)
    assert f"could not download {url}/{SUMS}" in msg and "404" in msg
    assert "artifact_checksums_from_release" in msg and ARMV7 in msg


def first_run(cache: Path) -> str:
    """A run that trusts the armv7 archive's sha256 from its checksum file (and records
    it); the URL its mirror had (closed now)."""
    with served(release()) as url:
        prepare(url, cache)
    artifacts._published.clear()   # what a later run has read: nothing yet
    return url


def test_a_changed_checksum_file_on_a_later_run_is_refused(no_proxy, tmp_path):
    cache = tmp_path / "cache"
    first_run(cache)
    # a later run: the same archive name, another sha256 in the release's checksum file
    with served(release(OTHER)) as url, pytest.raises(ArtifactError) as exc:
        prepare(url, cache)
    msg = str(exc.value)
    assert f"{url}/{SUMS} now gives sha256 {sha(OTHER)} for {ARMV7}" in msg
    assert f"an earlier run trusted sha256 {sha(ARCHIVE)}" in msg
    assert str(record(cache)) in msg and "suspicious" in msg
    assert record(cache).read_text() == f"{sha(ARCHIVE)}  {ARMV7}\n"   # kept
    # the archive in the cache is still the one first trusted
    assert artifacts.file_sha256(cache / ARMV7) == sha(ARCHIVE)


def test_a_checksum_file_no_longer_listing_the_archive_is_refused(no_proxy, tmp_path):
    first_run(tmp_path)
    listed = sha256sums(**{"something-else.tar.gz": sha(OTHER)})
    with served(release(listed=listed)) as url, \
            pytest.raises(ArtifactError, match=f"now gives no sha256 for {ARMV7}"):
        prepare(url, tmp_path)


def test_the_recorded_sha256_serves_a_later_run_without_the_network(no_proxy, tmp_path):
    cache = tmp_path / "cache"
    url = first_run(cache)
    # a later run (or --dry): the mirror is gone, the cache holds the archive and the record
    again, folder = prepare(url, cache)
    assert again.sha256 == sha(ARCHIVE)
    assert again.checksums_url is None      # taken from the record, nothing new recorded
    assert artifacts.binary_paths(again, folder)["node_exporter"].is_file()
    # the record alone (the archive evicted) still says what a download must be
    artifacts._published.clear()
    (cache / ARMV7).unlink()
    a = artifacts.resolve("node_exporter", NODE, "armv7l", url, {}, True, str(cache))
    assert (a.sha256, a.checksums_url) == (sha(ARCHIVE), None)


def test_a_run_agreeing_with_the_record_keeps_it(no_proxy, tmp_path):
    first_run(tmp_path)
    with served(release()) as url:
        artifact, _ = prepare(url, tmp_path)
    assert (artifact.sha256, artifact.checksums_url) == (sha(ARCHIVE), None)
    assert record(tmp_path).read_text() == f"{sha(ARCHIVE)}  {ARMV7}\n"


def test_pinned_and_given_sha256s_come_first(tmp_path):
    """No checksum file is read for them (the mirror below does not exist)."""
    pinned = f"node_exporter-{NODE}.linux-amd64.tar.gz"
    a = artifacts.resolve("node_exporter", NODE, "x86_64", "http://mirror.invalid", {},
                          True, str(tmp_path))
    assert (a.sha256, a.checksums_url) == (CHECKSUMS[pinned], None)
    given = artifacts.resolve("node_exporter", NODE, "armv7l", "http://mirror.invalid",
                              {ARMV7: "EF" * 32}, True, str(tmp_path))
    assert (given.sha256, given.checksums_url) == ("ef" * 32, None)
    assert not (tmp_path / artifacts.RECORDS).exists()


def test_off_no_checksum_file_is_read(no_proxy, tmp_path):
    with served(release()) as url, \
            pytest.raises(ArtifactError, match=f"no sha256 known for {ARMV7}"):
        prepare(url, tmp_path, from_release=False)
    assert artifacts._published == {}
