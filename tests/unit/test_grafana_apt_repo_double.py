"""The TEST DOUBLE of Grafana's APT repository (tests/harness/doubles/grafana_apt_repo.py):
its Packages index lists what its .debs hold, the .debs are laid out where the release
table's notes say Grafana's packages put their files, and this machine's apt accepts the
signed repository through the source line the deploy writes."""

from __future__ import annotations

import hashlib
import io
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parents[1]

from harness.doubles import grafana_apt_repo as repo
from harness.mirror import Mirror
from operations.base import grafana_repository as grafana_apt
from operations.stack import RELEASES

pytestmark = pytest.mark.skipif(not (shutil.which("dpkg-deb") and shutil.which("gpg")),
                                reason="needs dpkg-deb and gpg")
VERSIONS = {"loki": ["3.6.7", RELEASES["loki"]["version"]],
            "alloy": [RELEASES["alloy"]["version"]]}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    work = tmp_path_factory.mktemp("grafana-apt")
    debs = repo.build_repository(work / "repo", VERSIONS, work / "key.asc")
    return work, debs


def stanzas(text: str) -> list[dict[str, str]]:
    out = []
    for block in text.strip().split("\n\n"):
        fields, last = {}, None
        for line in block.splitlines():
            if line.startswith(" "):
                fields[last] += "\n" + line
            else:
                last, _, value = line.partition(": ")
                fields[last] = value
        out.append(fields)
    return out


def deb_paths(deb: Path) -> set[str]:
    listing = subprocess.run(["dpkg-deb", "--contents", str(deb)], check=True,
                             capture_output=True, text=True).stdout
    return {line.split()[-1].lstrip(".") for line in listing.splitlines()
            if not line.startswith("d")}


def deb_file(deb: Path, path: str) -> str:
    """The text of the file `path` (relative to /) in the .deb's data."""
    data = subprocess.run(["dpkg-deb", "--fsys-tarfile", str(deb)], check=True,
                          capture_output=True).stdout
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return tar.extractfile(f"./{path}").read().decode()


def control_file(deb: Path, name: str) -> str:
    return subprocess.run(["dpkg-deb", "--info", str(deb), name], check=True,
                          capture_output=True, text=True).stdout


def test_the_index_lists_every_deb_with_its_own_control_fields_and_digests(built):
    work, debs = built
    root = work / "repo"
    index = stanzas((root / "dists/stable/main/binary-amd64/Packages").read_text())
    assert [(s["Package"], s["Version"]) for s in index] == [
        ("loki", "3.6.7"), ("loki", RELEASES["loki"]["version"]),
        ("alloy", RELEASES["alloy"]["deb_version"].format(version=RELEASES["alloy"]["version"]))]
    for entry, deb in zip(index, debs):
        assert root / entry["Filename"] == deb
        data = deb.read_bytes()
        assert int(entry["Size"]) == len(data)
        assert entry["SHA256"] == hashlib.sha256(data).hexdigest()
        for field in ("Package", "Version", "Architecture"):
            assert entry[field] == subprocess.run(
                ["dpkg-deb", "--field", str(deb), field], check=True, capture_output=True,
                text=True).stdout.strip()


def test_package_versions_are_the_deb_versions_of_the_release_table(built):
    _, debs = built
    names = sorted(d.name for d in debs)
    alloy = RELEASES["alloy"]["version"]
    assert names == sorted([
        "loki_3.6.7_amd64.deb", f"loki_{RELEASES['loki']['version']}_amd64.deb",
        f"alloy_{grafana_apt.deb_version('alloy', alloy)}_amd64.deb"])
    assert grafana_apt.deb_version("alloy", alloy) == f"{alloy}-1"   # fpm --iteration 1
    assert grafana_apt.deb_version("loki", "3.6.8") == "3.6.8"       # nfpm, no release


@pytest.mark.parametrize("package,paths", [
    ("loki", {"/usr/bin/loki", "/etc/systemd/system/loki.service", "/etc/loki/config.yml"}),
    ("alloy", {"/usr/bin/alloy", "/usr/lib/systemd/system/alloy.service",
               "/etc/alloy/config.alloy", "/etc/default/alloy"}),
])
def test_the_debs_hold_the_files_where_grafanas_packages_put_them(built, package, paths):
    _, debs = built
    pinned = grafana_apt.deb_version(package, RELEASES[package]["version"])
    deb = next(d for d in debs if d.name == f"{package}_{pinned}_amd64.deb")
    assert deb_paths(deb) == paths
    notes = RELEASES[package]["notes"]
    for path in paths - {"/etc/alloy/config.alloy", "/etc/default/alloy"}:
        assert path in notes, path   # the facts recorded from upstream's packaging
    conffiles = set(control_file(deb, "conffiles").split())
    assert conffiles == {p for p in paths if p.startswith("/etc/") and not p.endswith(".service")}
    # the executable is the double, and says so
    data = subprocess.run(["dpkg-deb", "--fsys-tarfile", str(deb)], check=True,
                          capture_output=True).stdout
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        assert tar.getmember(f"./usr/bin/{package}").mode & 0o777 == 0o755
    header = deb_file(deb, f"usr/bin/{package}").splitlines()[1]
    assert header.startswith(f"# {package.upper()} TEST DOUBLE")
    assert header.endswith(f"stands in for {package} {RELEASES[package]['version']}.")


def test_the_loki_package_unit_runs_usr_bin_loki_on_the_package_config(built):
    _, debs = built
    deb = next(d for d in debs if d.name.startswith(f"loki_{RELEASES['loki']['version']}_"))
    text = deb_file(deb, "etc/systemd/system/loki.service")
    assert "ExecStart=/usr/bin/loki -config.file /etc/loki/config.yml" in text.splitlines()
    assert "User=loki" in text.splitlines()


def test_the_maintainer_scripts_do_what_grafanas_do(built):
    _, debs = built
    loki_deb = next(d for d in debs if d.name.startswith("loki_"))
    alloy_deb = next(d for d in debs if d.name.startswith("alloy_"))
    loki_postinst = control_file(loki_deb, "postinst")
    # first install only: the user, then enable and restart, each allowed to fail
    assert '[ "$1" = configure ] && [ -z "$2" ] || exit 0' in loki_postinst
    for step in ("systemctl enable loki || :", "systemctl restart loki || :"):
        assert step in loki_postinst.splitlines()
    alloy_postinst = control_file(alloy_deb, "postinst")
    assert "for group in adm systemd-journal; do" in alloy_postinst
    assert 'usermod -a -G "$group" alloy' in alloy_postinst
    assert "systemctl restart alloy" in alloy_postinst
    # the restart on upgrade is on by default, as in Grafana's /etc/default/alloy
    assert "RESTART_ON_UPGRADE=true" in deb_file(alloy_deb, "etc/default/alloy").splitlines()
    for script in (loki_postinst, alloy_postinst, control_file(alloy_deb, "prerm")):
        assert subprocess.run(["sh", "-n"], input=script, text=True).returncode == 0


def test_the_release_is_signed_by_the_key_given_to_the_deploy(built, tmp_path):
    work, _ = built
    key = (work / "key.asc").read_text()
    assert key.startswith(grafana_apt.PGP_PUBLIC_KEY)
    keyring = tmp_path / "keyring.gpg"
    subprocess.run(["gpg", "--batch", "--dearmor", "-o", str(keyring), str(work / "key.asc")],
                   check=True)
    dist = work / "repo/dists/stable"
    ok = subprocess.run(["gpgv", "--keyring", str(keyring), str(dist / "InRelease")],
                        capture_output=True)
    assert ok.returncode == 0, ok.stderr
    # a changed Release no longer verifies
    tampered = tmp_path / "InRelease"
    tampered.write_text((dist / "InRelease").read_text().replace("Suite: stable",
                                                                  "Suite: stale"))
    assert subprocess.run(["gpgv", "--keyring", str(keyring), str(tampered)],
                          capture_output=True).returncode != 0


@pytest.mark.skipif(not shutil.which("apt-get"), reason="needs apt-get")
def test_apt_takes_the_repository_through_the_deploys_source_line(built, tmp_path):
    """apt of this machine, in its own folders, reads the repository over HTTP through the
    deb822 source operations/base/grafana_repository.py writes, checks the signature, and downloads
    the pinned versions."""
    work, _ = built
    mirror = Mirror(work, host="127.0.0.1").start()
    try:
        sources = tmp_path / "sources.list.d"
        sources.mkdir()
        source = grafana_apt.apt_source(f"{mirror.base_url}/repo").replace(
            grafana_apt.KEYRING, str(work / "key.asc"))
        (sources / "grafana.sources").write_text(source)
        for d in ("lists/partial", "cache/archives/partial", "dl"):
            (tmp_path / d).mkdir(parents=True)
        (tmp_path / "status").write_text("")
        opts = ["-o", f"Dir::Etc::SourceList={tmp_path}/none.list",
                "-o", f"Dir::Etc::SourceParts={sources}",
                "-o", f"Dir::State::Lists={tmp_path}/lists",
                "-o", f"Dir::State::status={tmp_path}/status",
                "-o", f"Dir::Cache={tmp_path}/cache", "-o", "Dir::Etc::Preferences=/dev/null",
                "-o", "Dir::Etc::PreferencesParts=/dev/null",
                "-o", "Acquire::http::Proxy=DIRECT", "-o", "APT::Sandbox::User=root",
                "-o", "Acquire::Languages=none", "-o", "APT::Architecture=amd64",
                "-o", "APT::Architectures=amd64"]
        update = subprocess.run(["apt-get", *opts, "update"], capture_output=True, text=True)
        assert update.returncode == 0 and "W:" not in update.stdout + update.stderr, \
            update.stdout + update.stderr
        alloy_deb = grafana_apt.deb_version("alloy", RELEASES["alloy"]["version"])
        got = subprocess.run(
            ["apt-get", *opts, "download", f"loki={RELEASES['loki']['version']}",
             "loki=3.6.7", f"alloy={alloy_deb}"],
            capture_output=True, text=True, cwd=tmp_path / "dl")
        assert got.returncode == 0, got.stdout + got.stderr
        assert sorted(p.name for p in (tmp_path / "dl").iterdir()) == sorted([
            f"alloy_{alloy_deb}_amd64.deb", "loki_3.6.7_amd64.deb",
            f"loki_{RELEASES['loki']['version']}_amd64.deb"])
    finally:
        mirror.stop()


def test_publish_gives_the_settings_of_the_package_method(tmp_path):
    mirror = Mirror(tmp_path / "mirror", host="127.0.0.1")   # not started: only its URL
    mirror.port = 8999
    data = repo.publish(mirror, tmp_path / "work")
    assert data == {
        "grafana_apt_repo_url": "http://127.0.0.1:8999/grafana-apt",
        "grafana_apt_key_file": str(tmp_path / "work/grafana-apt-test-double.asc"),
        "loki_install_method": "package", "loki_version": RELEASES["loki"]["version"],
        "alloy_install_method": "package", "alloy_version": RELEASES["alloy"]["version"]}
    assert (tmp_path / "mirror/grafana-apt/dists/stable/InRelease").is_file()
