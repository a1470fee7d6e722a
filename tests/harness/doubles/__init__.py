"""Release files of Loki, Alloy and cAdvisor whose executables are TEST DOUBLES.
(Pyroscope's too, with publish(..., components=("pyroscope",)): its double is
pyroscope_double.py, in pyroscope_<version>_linux_<arch>.tar.gz as upstream's.)

Upstream's downloads are not reachable from the test fleet and Debian builds none of the
three, so the mirror serves files named and shaped exactly as upstream publishes them
(loki-linux-<arch>.zip holding loki-linux-<arch>, alloy-linux-<arch>.zip holding
alloy-linux-<arch>, the bare cadvisor-v<version>-linux-<arch>), but each executable is
http_readiness_double.py (this folder) behind a /bin/sh launcher line. They are NOT Loki,
Alloy or cAdvisor. They are published at the versions the release table pins
(RELEASES[c]["version"]), so the deploy takes the code paths of a real deploy of those
versions (`alloy validate`, for one); the launcher's header and the double's -version /
--version answer still say TEST DOUBLE, and name the version it stands in for.

An artifact installs one file, so the launcher and the double are one file: line 3 is a
shell `exec python3 "$0"` and, to Python, a string statement; the text of
double_common.py (what the doubles share) follows it, then the double's own text, whose
import of double_common is skipped there (its names are already defined).
The launcher tells the double the version it is published as (TEST_DOUBLE_PUBLISHED_AS).
"""

from __future__ import annotations

import re
from pathlib import Path

from ..mirror import DEB_ARCH_TO_MACHINE, Mirror, build_archive, releases

HERE = Path(__file__).resolve().parent
DOUBLE = HERE / "http_readiness_double.py"
COMMON = HERE / "double_common.py"   # put in front of each double's text by `launcher`
# components whose double is a file of its own (not the HTTP readiness double above)
COMPONENTS = ("loki", "alloy", "cadvisor")
# component -> its double, where it is not http_readiness_double.py; `publish` serves
# these too when asked (components=("jaeger",)): they are opt-in components
DOUBLES = {"jaeger": HERE / "jaeger_double.py", "pyroscope": HERE / "pyroscope_double.py"}
PUBLISHED_AS = "TEST_DOUBLE_PUBLISHED_AS"


def pinned_version(component: str) -> str:
    """The version the release table pins: the one the doubles are published as."""
    return releases()[component]["version"]


def launcher(program: str, version: str | None = None) -> str:
    """The executable: a shell launcher that execs python3 on the double it carries
    (double_common.py's text, then the double's), telling it the `version` (default: the
    pinned one) it is published as."""
    version = version or pinned_version(program)
    if not re.fullmatch(r"[0-9A-Za-z.~+-]+", version):
        raise ValueError(f"not a version: {version!r}")   # it goes into a shell line
    double = DOUBLES.get(program, DOUBLE)
    return ("#!/bin/sh\n"
            f"# {program.upper()} TEST DOUBLE (tests/harness/doubles/{double.name}):"
            f" this is not {program}, it stands in for {program} {version}.\n"
            f"''''exec env {PUBLISHED_AS}={version} python3 -B \"$0\" \"$@\" # '''\n"
            + COMMON.read_text() + double.read_text())


def build(component: str, work: Path, version: str | None = None,
          deb_arch: str = "amd64") -> Path:
    """The upstream-shaped release file of `component` at `version` (default: the pinned
    one), its executable the double."""
    version = version or pinned_version(component)
    spec = releases()[component]
    arch = spec["arch"][DEB_ARCH_TO_MACHINE[deb_arch]]
    (name, inner), = spec["binaries"].items()
    src = work / f"{component}-double-src" / (inner or name).format(version=version, arch=arch)
    src.parent.mkdir(parents=True, exist_ok=True)
    src.write_text(launcher(component, version))
    src.chmod(0o755)
    member = (inner or name).format(version=version, arch=arch)
    return build_archive(component, version, deb_arch, members={member: (src, 0o755)},
                         out_dir=work)


def publish(mirror: Mirror, work: Path, components=COMPONENTS, deb_arch: str = "amd64") -> dict:
    """Put the files of `components`, at their pinned versions, on the mirror; return the
    group_data that installs them, with their sha256s from the mirror (artifact_checksums)."""
    names = [mirror.add(build(c, work, deb_arch=deb_arch)) for c in components]
    sums = mirror.checksums()
    data = {f"{c}_{k}": v for c in components
            for k, v in (("install_method", "archive"), ("version", pinned_version(c)))}
    data["artifact_checksums"] = {n: sums[n] for n in names}
    return data
