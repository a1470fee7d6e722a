"""Release files of Loki, Alloy and cAdvisor whose executables are TEST DOUBLES.

Upstream's downloads are not reachable from the test fleet and Debian builds none of the
three, so the mirror serves files named and shaped exactly as upstream publishes them
(loki-linux-<arch>.zip holding loki-linux-<arch>, alloy-linux-<arch>.zip holding
alloy-linux-<arch>, the bare cadvisor-v<version>-linux-<arch>), but each executable is
http_readiness_double.py (this folder) behind a /bin/sh launcher line. They are NOT Loki,
Alloy or cAdvisor; their version says so too: the oldest the deploy can configure (the
floor, RELEASES' "oldest", which the settings refuse to go below) with -testdouble after it.

An artifact installs one file, so the launcher and the double are one file: line 3 is a
shell `exec python3 "$0"` and, to Python, a string statement; the double follows it.
"""

from __future__ import annotations

from pathlib import Path

from ..mirror import DEB_ARCH_TO_MACHINE, Mirror, build_archive, releases

HERE = Path(__file__).resolve().parent
DOUBLE = HERE / "http_readiness_double.py"
COMPONENTS = ("loki", "alloy", "cadvisor")


def version(component: str) -> str:
    """The version a double of `component` claims: its floor, marked as a double."""
    return f"{releases()[component]['oldest']}-testdouble"


def launcher(program: str) -> str:
    """The executable: a shell launcher that execs python3 on the double it carries."""
    return ("#!/bin/sh\n"
            f"# {program.upper()} TEST DOUBLE (tests/harness/doubles/http_readiness_double.py):"
            f" this is not {program}.\n"
            "''''exec python3 -B \"$0\" \"$@\" # '''\n"
            + DOUBLE.read_text())


def build(component: str, work: Path, release: str | None = None,
          deb_arch: str = "amd64") -> Path:
    """The upstream-shaped release file of `component` (at version `release`, default
    version(component)), its executable the double."""
    release = release or version(component)
    spec = releases()[component]
    arch = spec["arch"][DEB_ARCH_TO_MACHINE[deb_arch]]
    (name, inner), = spec["binaries"].items()
    src = work / f"{component}-double-src" / (inner or name).format(version=release, arch=arch)
    src.parent.mkdir(parents=True, exist_ok=True)
    src.write_text(launcher(component))
    src.chmod(0o755)
    member = (inner or name).format(version=release, arch=arch)
    return build_archive(component, release, deb_arch, members={member: (src, 0o755)},
                         out_dir=work)


def publish(mirror: Mirror, work: Path, components=COMPONENTS, deb_arch: str = "amd64") -> dict:
    """Put the files of `components` on the mirror; return the group_data that installs
    them, with their sha256s from the mirror (artifact_checksums)."""
    names = [mirror.add(build(c, work, deb_arch=deb_arch)) for c in components]
    sums = mirror.checksums()
    data = {f"{c}_{k}": v for c in components
            for k, v in (("install_method", "archive"), ("version", version(c)))}
    data["artifact_checksums"] = {n: sums[n] for n in names}
    return data
