"""Raspberry Pis as people own them: a 32-bit ARM board (armv7l), scraped by an x86
Prometheus; and a Pi Zero's armv6l.

The armhf host is emulated (qemu-user-static through binfmt_misc) and runs Debian 12's
armhf userland. It gets node_exporter and process_exporter first from Debian's armhf
packages, then from upstream-shaped `linux-armv7` archives (repacked from Debian's armhf
builds) with no sha256 given by hand: `artifact_checksums_from_release` reads the
release's checksum file from the mirror, as an air-gapped site would serve it. A wrong
checksum file is refused with nothing changed. The armv6 asset is selected for a board
whose `uname -m` says armv6l (`machine_arch`, as a Pi Zero reports it; the emulated CPU
is an armv7, so the armv6-named archive carries the same armhf build). Alloy, which
publishes no 32-bit build, is refused there while planning.
"""

from __future__ import annotations

import hashlib
import io
import tarfile

import pytest

from conftest import arm64_unavailable, hosts_fixture, write_inventory
from harness.pyinfra_cli import assert_preview_was_exact, preview_then_run, run_pyinfra
from harness.stack import CORE_ONLY, mirror_settings, prom_query, wait_targets_up
from operations.base.artifacts import release_checksums_url
from operations.stack import RELEASES

pytestmark = [pytest.mark.fleet,
              pytest.mark.skipif(arm64_unavailable() is not None,
                                 reason=str(arm64_unavailable()))]

x86_hosts = hosts_fixture(1)
pi_hosts = hosts_fixture(1, arch="armhf")
ON_THE_PI = ["node_exporter", "process_exporter"]
NAMES = "[{name: sshd, comm: [sshd]}, {name: cron, comm: [cron]}]"


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def checksum_file(mirror, component: str, version: str, lines: dict[str, str]) -> str:
    """Publish the release's checksum file (sha256sum format) where the deploy reads it
    on the mirror; return its name."""
    spec = RELEASES[component]
    url = release_checksums_url(component, spec, version, "armv7",
                                spec["file"].format(version=version, arch="armv7"),
                                mirror.base_url)
    name = url.rsplit("/", 1)[1]
    (mirror.root / name).write_text("".join(f"{sha}  {file}\n" for file, sha in lines.items()))
    return name


def as_armv6(mirror, component: str, version: str) -> tuple[str, str]:
    """The armv7 archive on the mirror, renamed as upstream names its armv6 one."""
    spec = RELEASES[component]
    source = mirror.root / spec["file"].format(version=version, arch="armv7")
    old_top = spec["top_dir"].format(version=version, arch="armv7")
    new_top = spec["top_dir"].format(version=version, arch="armv6")
    out = io.BytesIO()
    with tarfile.open(source) as src, tarfile.open(fileobj=out, mode="w:gz") as dst:
        for member in src.getmembers():
            data = src.extractfile(member).read() if member.isfile() else None
            member.name = member.name.replace(old_top, new_top, 1)
            dst.addfile(member, io.BytesIO(data) if data is not None else None)
    name = spec["file"].format(version=version, arch="armv6")
    (mirror.root / name).write_bytes(out.getvalue())
    return name, sha256_of(out.getvalue())


@pytest.fixture(scope="module")
def lab(x86_hosts, pi_hosts, fleet, mirror, tmp_path_factory):
    (monitoring,), (pi,) = x86_hosts, pi_hosts
    x86 = mirror_settings(mirror, ["prometheus", "alertmanager", "node_exporter"])
    arm = mirror_settings(mirror, ON_THE_PI, deb_arch="armhf")
    versions = {c: arm[f"{c}_version"] for c in ON_THE_PI}
    assert x86["node_exporter_version"] == versions["node_exporter"]
    settings = {**CORE_ONLY, **x86, **{f"{c}_version": v for c, v in versions.items()},
                # the x86 archives by hand-given sha256s; the armv7 ones by none
                "artifact_checksums": x86["artifact_checksums"],
                "artifact_cache_dir": str(tmp_path_factory.mktemp("artifact-cache")),
                "process_exporter_names": NAMES}
    inventory = tmp_path_factory.mktemp("inventory") / "inventory.py"
    lab = {"inventory": inventory, "monitoring": monitoring, "pi": pi, "fleet": fleet,
           "settings": settings, "versions": versions, "armv7": arm["artifact_checksums"]}
    pi_data(lab, {"node_exporter_install_method": "package",
                  "process_exporter_install_method": "package",
                  "process_exporter_enabled": True})
    return lab


def pi_data(lab, data: dict) -> None:
    write_inventory(lab["inventory"], lab["fleet"],
                    {"monitoring": [lab["monitoring"]], "pis": [lab["pi"]]},
                    group_data={"all": lab["settings"]}, host_data={lab["pi"].ip: data})


def uname_machine(mon, pi) -> str:
    (series,) = prom_query(mon, f'node_uname_info{{instance="{pi.ip}:9100"}}')
    return series["metric"]["machine"]


def targets(lab) -> set:
    mon, pi = lab["monitoring"], lab["pi"]
    return {("node", f"{mon.ip}:9100"), ("node", f"{pi.ip}:9100"),
            ("process", f"{pi.ip}:9256")}


def test_debians_armhf_packages_serve_the_x86_prometheus(lab):
    mon, pi = lab["monitoring"], lab["pi"]
    assert pi.ssh("uname -m").stdout.strip() == "armv7l"
    assert_preview_was_exact(*preview_then_run(lab["inventory"]))
    for package in ("prometheus-node-exporter", "prometheus-process-exporter"):
        assert pi.ssh(f"dpkg-query -W -f '${{Architecture}}' {package}").stdout == "armhf"
    wait_targets_up(mon, targets(lab), timeout=180)
    assert uname_machine(mon, pi) == "armv7l"
    assert run_pyinfra(lab["inventory"]).check().changed_ops() == {}


def test_without_a_pinned_sha256_the_archive_is_refused_and_the_refusal_names_the_way_out(
        lab):
    pi_data(lab, {"process_exporter_enabled": True})
    run = run_pyinfra(lab["inventory"], dry=True)
    assert run.returncode != 0
    armv7 = RELEASES["node_exporter"]["file"].format(
        version=lab["versions"]["node_exporter"], arch="armv7")
    assert f"no sha256 known for {armv7}" in run.output, run.output[-3000:]
    assert "artifact_checksums_from_release" in run.output


def test_a_wrong_checksum_file_is_refused_and_nothing_changes(lab, mirror):
    pi = lab["pi"]
    for component in ON_THE_PI:
        lines = {f: "0" * 64 for f in lab["armv7"]}   # the right names, wrong sha256s
        checksum_file(mirror, component, lab["versions"][component], lines)
    before = pi.ssh("sha256sum /usr/bin/prometheus-node-exporter; "
                    "ls /usr/local/bin").stdout
    for dry in (True, False):
        run = run_pyinfra(lab["inventory"], dry=dry,
                          data={"artifact_checksums_from_release": "true"})
        assert run.returncode != 0
        assert "checksum mismatch for" in run.output, run.output[-3000:]
        assert "--> Beginning operation run" not in run.output
    assert pi.ssh("sha256sum /usr/bin/prometheus-node-exporter; ls /usr/local/bin"
                  ).stdout == before


def test_the_release_checksum_file_lets_the_armv7_archives_install(lab, mirror):
    mon, pi = lab["monitoring"], lab["pi"]
    for component in ON_THE_PI:
        checksum_file(mirror, component, lab["versions"][component], lab["armv7"])
    data = {"artifact_checksums_from_release": "true"}
    dry, real = preview_then_run(lab["inventory"], data=data)
    assert_preview_was_exact(dry, real)
    for component in ON_THE_PI:
        assert real.changed_ops().get(
            f"{component} | Install {component} {lab['versions'][component]} "
            "from the release archive") == 1, real.changed_ops()
    # what runs is the armhf build from the archive
    for component in ON_THE_PI:   # ELF e_machine 0x28: 32-bit ARM
        assert pi.ssh(f"od -An -tx1 -j18 -N2 /usr/local/bin/{component}").stdout.split() \
            == ["28", "00"]
    wait_targets_up(mon, targets(lab), timeout=180)
    assert run_pyinfra(lab["inventory"], data=data).check().changed_ops() == {}


def test_a_pi_zero_gets_the_armv6_asset(lab, mirror):
    """The armv6 archives hold the same armhf build here (an armv7 CPU runs the test):
    the proof is which asset the controller fetches and verifies, and that the host ends
    with that archive's program, unchanged and still scraped."""
    mon, pi = lab["monitoring"], lab["pi"]
    armv6 = {}
    for component in ON_THE_PI:
        version = lab["versions"][component]
        name, sha = as_armv6(mirror, component, version)
        armv6[component] = name
        checksum_file(mirror, component, version, {**lab["armv7"], name: sha})
    pi_data(lab, {"process_exporter_enabled": True, "machine_arch": "armv6l"})
    asked_before = len(mirror.requests)
    data = {"artifact_checksums_from_release": "true"}
    dry, real = preview_then_run(lab["inventory"], data=data)
    assert_preview_was_exact(dry, real)
    asked = set(mirror.requests[asked_before:])
    assert set(armv6.values()) <= asked, asked
    assert not asked & set(lab["armv7"]), asked
    for component, name in armv6.items():
        installed = pi.ssh(f"sha256sum /usr/local/bin/{component}").stdout.split()[0]
        with tarfile.open(mirror.root / name) as archive:
            (member,) = [m for m in archive.getmembers() if m.isfile()
                         and m.name.rsplit("/", 1)[-1] in RELEASES[component]["binaries"].values()]
            assert sha256_of(archive.extractfile(member).read()) == installed
    wait_targets_up(mon, targets(lab), timeout=180)
    assert run_pyinfra(lab["inventory"], data=data).check().changed_ops() == {}


def test_alloy_is_refused_on_the_32_bit_board_while_planning(lab):
    pi_data(lab, {"node_exporter_install_method": "package",
                  "alloy_enabled": True, "alloy_install_method": "archive",
                  "alloy_loki_url": f"http://{lab['monitoring'].ip}:3100/loki/api/v1/push"})
    run = run_pyinfra(lab["inventory"], dry=True,
                      data={"artifact_checksums_from_release": "true"})
    assert run.returncode != 0
    assert ("alloy publishes no build for architecture 'armv7l' (it has: aarch64, x86_64)"
            in run.output), \
        run.output[-3000:]
