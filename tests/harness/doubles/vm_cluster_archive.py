"""An upstream-shaped VictoriaMetrics cluster tarball whose three programs are the
VICTORIAMETRICS CLUSTER TEST DOUBLE (tests/harness/doubles/vm_cluster_double.py). It is
NOT VictoriaMetrics.

Named and laid out as upstream's (victoria-metrics-linux-<arch>-v<version>-cluster.tar.gz
holding vminsert-prod, vmselect-prod and vmstorage-prod at its root), with a version that
says what it is. Each program is the double behind a /bin/sh launcher line that names its
role; the vmstorage double runs Debian's real single-node victoria-metrics, which the
test installs on the vmstorage hosts itself (install_storage_backend).
"""

from __future__ import annotations

from pathlib import Path

from ..fleet import Host
from ..mirror import Mirror, build_archive, releases, sha256

DOUBLE = Path(__file__).resolve().parent / "vm_cluster_double.py"
PROGRAMS = ("vminsert", "vmselect", "vmstorage")
RELEASE = "victoriametrics_cluster"
# the floor, which the settings refuse to go below, marked as a double
VERSION = f"{releases()[RELEASE]['oldest']}-testdouble"


def launcher(program: str) -> str:
    """The executable: line 3 is a shell exec of python3 on this very file (to Python, a
    string statement), naming the role; the double follows."""
    return ("#!/bin/sh\n"
            f"# {program.upper()} TEST DOUBLE (tests/harness/doubles/vm_cluster_double.py): "
            f"this is not {program}.\n"
            f"''''exec python3 -B \"$0\" {program} \"$@\" # '''\n"
            + DOUBLE.read_text())


def build(work: Path, version: str = VERSION, deb_arch: str = "amd64") -> Path:
    src = work / "vm-cluster-double-src"
    src.mkdir(parents=True, exist_ok=True)
    members = {}
    for program in PROGRAMS:
        path = src / f"{program}-prod"
        path.write_text(launcher(program))
        path.chmod(0o755)
        members[f"{program}-prod"] = (path, 0o755)
    return build_archive(RELEASE, version, deb_arch, members=members, out_dir=work)


def publish(mirror: Mirror, work: Path, version: str = VERSION) -> dict:
    """Put the tarball on the mirror; return the group_data that installs it (its sha256
    in artifact_checksums, as an operator gives it)."""
    name = mirror.add(build(work, version))
    data = {f"{p}_version": version for p in PROGRAMS}
    data["artifact_checksums"] = {name: sha256(mirror.root / name)}
    return data


def install_storage_backend(host: Host) -> None:
    """Debian's victoria-metrics package, which the vmstorage double runs; its own unit
    masked first, so it neither starts nor ever runs beside the double."""
    host.ssh("ln -sf /dev/null /etc/systemd/system/victoria-metrics.service && "
             "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "
             "--no-install-recommends victoria-metrics >/dev/null && "
             "test -x /usr/bin/victoria-metrics", timeout=600)
