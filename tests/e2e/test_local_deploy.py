"""A user on their own machine runs `pyinfra @local deploy.py`.

The CI machine has no systemd as PID 1, so the "laptop" is a fleet host: the project and
its Python requirements are copied there and pyinfra runs on it against @local.
"""

import json
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO, hosts_fixture
from harness.fleet import CACHE
from harness.pyinfra_cli import parse_detected_changes, parse_results
from harness.stack import CORE_ONLY, CORE_COMPONENTS, mirror_settings, wait_targets_up

pytestmark = pytest.mark.fleet

hosts = hosts_fixture(1)
VENV = "/opt/monstack-venv"
PROJECT = "/opt/monstack"


def wheels() -> Path:
    """The project's requirements as wheels, downloaded once on the controller (the hosts
    have no route to PyPI)."""
    folder = CACHE / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "download", "-q", "-d", str(folder),
                    "--only-binary=:all:", "--python-version", "3.11",
                    "--platform", "manylinux_2_28_x86_64", "--platform", "manylinux2014_x86_64",
                    "--platform", "any", "-r", str(REPO / "requirements.txt")],
                   check=True, capture_output=True)
    return folder


def project_files() -> list[str]:
    res = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"],
                         cwd=REPO, capture_output=True, text=True)
    return [f for f in res.stdout.split() if (REPO / f).is_file()]


@pytest.fixture(scope="module")
def laptop(hosts, fleet):
    (h,) = hosts
    h.ssh("apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "
          f"python3-venv >/dev/null && mkdir -p /tmp/wheels {PROJECT}", timeout=600)
    for wheel in wheels().glob("*.whl"):
        h.put_file(wheel, "/tmp/wheels/")
    tar = subprocess.run(["tar", "-C", str(REPO), "-cf", "-", *project_files()],
                         capture_output=True, check=True).stdout
    subprocess.run(["ssh", *fleet.ssh_options(), f"root@{h.ip}", f"tar -C {PROJECT} -xf -"],
                   input=tar, check=True)
    h.ssh(f"python3 -m venv {VENV} && {VENV}/bin/pip install -q --no-index "
          f"--find-links /tmp/wheels -r {PROJECT}/requirements.txt", timeout=600)
    return h


def local_pyinfra(h, data: dict, dry: bool = False):
    args = " ".join(f"--data {shlex.quote(f'{k}={v}')}" for k, v in data.items())
    mode = "--dry" if dry else "-y"
    res = h.ssh(f"cd {PROJECT} && {VENV}/bin/pyinfra {mode} {args} @local deploy.py 2>&1",
                check=False, timeout=900)
    assert res.returncode == 0, res.stdout[-5000:]
    return res.stdout


def test_pyinfra_at_local_installs_the_whole_stack_on_the_machine_itself(laptop, mirror):
    settings = {**mirror_settings(mirror, CORE_COMPONENTS), **CORE_ONLY}
    data = {k: (json.dumps(v) if isinstance(v, dict) else v) for k, v in settings.items()}
    dry_changes, conditional = parse_detected_changes(local_pyinfra(laptop, data, dry=True))
    real_changes, errors = parse_results(local_pyinfra(laptop, data))
    assert not any(conditional.values()) and not any(errors.values())
    assert dry_changes == real_changes
    assert real_changes["Prometheus | Restart prometheus and wait until ready"] == 1
    # a one-host inventory is its own monitoring host: itself scraped through localhost
    wait_targets_up(laptop, {("node", "localhost:9100"), ("prometheus", "localhost:9090"),
                             ("alertmanager", "localhost:9093")})
    again, _ = parse_results(local_pyinfra(laptop, data))
    assert {op: n for op, n in again.items() if n} == {}
