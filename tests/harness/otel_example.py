"""The example service (examples/otel_service.py) on a fleet host.

Fleet hosts have python3 but neither pip nor network access to PyPI, so the controller
downloads the wheels of examples/requirements.txt once for the host's Python version and
platform (`pip download --only-binary=:all: --platform ...`) into a cache under
/var/tmp, copies them onto the host, unpacks them there (a wheel is a zip) into one
folder and runs the example with PYTHONPATH pointing at it.
"""

from __future__ import annotations

import fcntl
import os
import shlex
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

from .fleet import Host

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples/otel_service.py"
REQUIREMENTS = ROOT / "examples/requirements.txt"
CACHE = Path(os.environ.get("FLEET_CACHE", "/var/tmp/monstack-fleet")) / "otel-example"
ON_HOST = "/opt/monstack-otel-example"


@contextmanager
def _locked(path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        yield


def host_python(host: Host) -> tuple[str, str, tuple[int, int]]:
    """(Python version "3.11", machine "x86_64", glibc (2, 36)) of the host's python3."""
    out = host.ssh("python3 -c 'import platform, sys; "
                   "print(\"%d.%d\" % sys.version_info[:2], platform.machine(), "
                   "platform.libc_ver()[1])'").stdout.split()
    major, minor = out[2].split(".")[:2]
    return out[0], out[1], (int(major), int(minor))


def platforms(machine: str, glibc: tuple[int, int]) -> list[str]:
    """The wheel platform tags a host with this glibc installs: manylinux_2_17 (also
    named manylinux2014) up to its own glibc."""
    tags = [f"manylinux2014_{machine}"]
    tags += [f"manylinux_2_{n}_{machine}" for n in range(17, glibc[1] + 1)]
    return tags


def wheels(python: str, machine: str, glibc: tuple[int, int]) -> Path:
    """The folder of the example's wheels for that host, downloaded once."""
    dest = CACHE / f"wheels-py{python}-{machine}-glibc{glibc[0]}.{glibc[1]}"
    done = dest / ".done"
    if done.exists():
        return dest
    with _locked(CACHE / f".{dest.name}.lock"):
        if not done.exists():
            dest.mkdir(parents=True, exist_ok=True)
            cmd = [sys.executable, "-m", "pip", "download", "--only-binary=:all:",
                   "--python-version", python, "--implementation", "cp",
                   "-d", str(dest), "-r", str(REQUIREMENTS)]
            for tag in platforms(machine, glibc):
                cmd += ["--platform", tag]
            subprocess.run(cmd, check=True, timeout=900)
            done.write_text("")
    return dest


def install(host: Host) -> None:
    """The example and its wheels, unpacked, in ON_HOST on `host`."""
    folder = wheels(*host_python(host))
    host.ssh(f"rm -rf {ON_HOST} && mkdir -p {ON_HOST}/wheels {ON_HOST}/site")
    for wheel in sorted(folder.glob("*.whl")):
        host.put_file(wheel, f"{ON_HOST}/wheels/{wheel.name}")
    host.put_file(EXAMPLE, f"{ON_HOST}/otel_service.py")
    host.ssh(f"cd {ON_HOST} && for w in wheels/*.whl; do python3 -m zipfile -e \"$w\" site "
             "|| exit 1; done", timeout=300)


def run(host: Host, *args: str, timeout: float = 300):
    """Run the example on `host` (install() first) with `args`; its ssh result."""
    command = " ".join(shlex.quote(a) for a in args)
    return host.ssh(f"PYTHONPATH={ON_HOST}/site python3 {ON_HOST}/otel_service.py {command}",
                    timeout=timeout)
