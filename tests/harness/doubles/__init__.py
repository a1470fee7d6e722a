"""Release files of Loki, Alloy and cAdvisor whose executables are TEST DOUBLES.

Upstream's downloads are not reachable from the test fleet and Debian builds none of the
three, so the mirror serves files named and shaped exactly as upstream publishes them
(loki-linux-<arch>.zip holding loki-linux-<arch>, alloy-linux-<arch>.zip holding
alloy-linux-<arch>, the bare cadvisor-v<version>-linux-<arch>), but each executable is
http_readiness_double.py (this folder) behind a /bin/sh launcher line. They are NOT Loki,
Alloy or cAdvisor; their version, 0.0.1-testdouble, says so too.

An artifact installs one file, so the launcher and the double are one file: line 3 is a
shell `exec python3 "$0"` and, to Python, a string statement; the double follows it.
"""

from __future__ import annotations

from pathlib import Path

from ..mirror import DEB_ARCH_TO_MACHINE, Mirror, build_archive, releases

HERE = Path(__file__).resolve().parent
DOUBLE = HERE / "http_readiness_double.py"
VERSION = "0.0.1-testdouble"
COMPONENTS = ("loki", "alloy", "cadvisor")


def launcher(program: str) -> str:
    """The executable: a shell launcher that execs python3 on the double it carries."""
    return ("#!/bin/sh\n"
            f"# {program.upper()} TEST DOUBLE (tests/harness/doubles/http_readiness_double.py):"
            f" this is not {program}.\n"
            "''''exec python3 -B \"$0\" \"$@\" # '''\n"
            + DOUBLE.read_text())


def build(component: str, work: Path, version: str = VERSION, deb_arch: str = "amd64") -> Path:
    """The upstream-shaped release file of `component`, its executable the double."""
    spec = releases()[component]
    arch = spec["arch"][DEB_ARCH_TO_MACHINE[deb_arch]]
    (name, inner), = spec["binaries"].items()
    src = work / f"{component}-double-src" / (inner or name).format(version=version, arch=arch)
    src.parent.mkdir(parents=True, exist_ok=True)
    src.write_text(launcher(component))
    src.chmod(0o755)
    member = (inner or name).format(version=version, arch=arch)
    return build_archive(component, version, deb_arch, members={member: (src, 0o755)},
                         out_dir=work)


def publish(mirror: Mirror, work: Path, components=COMPONENTS, deb_arch: str = "amd64") -> dict:
    """Put the files of `components` on the mirror; return the group_data that installs
    them, with their sha256s from the mirror (artifact_checksums)."""
    names = [mirror.add(build(c, work, deb_arch=deb_arch)) for c in components]
    sums = mirror.checksums()
    data = {f"{c}_{k}": v for c in components
            for k, v in (("install_method", "archive"), ("version", VERSION))}
    data["artifact_checksums"] = {n: sums[n] for n in names}
    return data
