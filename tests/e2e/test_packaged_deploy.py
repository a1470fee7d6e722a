"""A user with their own pyinfra deploy imports one of our components.

Their project has its own inventory, its own data keys and its own operations; they put
this repository on PYTHONPATH and call `node_exporter.install()` from their deploy file.
"""

import os

import pytest

from conftest import REPO, hosts_fixture, ssh_host_data
from harness.pyinfra_cli import assert_preview_was_exact, run_pyinfra
from harness.stack import mirror_settings

pytestmark = pytest.mark.fleet

hosts = hosts_fixture(1)

USER_DEPLOY = '''\
from pyinfra.operations import files

from operations.components import node_exporter

files.directory(name="My app's folder", path="/srv/myapp", mode="0755")
node_exporter.install()
'''


@pytest.fixture(scope="module")
def project(hosts, fleet, mirror, tmp_path_factory):
    (h,) = hosts
    folder = tmp_path_factory.mktemp("users-project")
    (folder / "my_deploy.py").write_text(USER_DEPLOY)
    data = {**ssh_host_data(fleet), **mirror_settings(mirror, ["node_exporter"]),
            "artifact_cache_dir": str(folder / "cache"),
            "myapp_port": 8080}  # the user's own setting, unknown to us
    (folder / "inventory.py").write_text(f"servers = [({h.ip!r}, {data!r})]\n")
    return {"folder": folder, "host": h,
            "env": {"PYTHONPATH": os.pathsep.join(filter(None, [str(REPO),
                                                               os.environ.get("PYTHONPATH")]))}}


def users_run(project, **kw):
    return run_pyinfra("inventory.py", "my_deploy.py", cwd=project["folder"],
                       env=project["env"], **kw)


def test_a_users_deploy_installs_our_node_exporter_beside_its_own_steps(project):
    h = project["host"]
    dry = users_run(project, dry=True).check()
    real = users_run(project).check()
    assert_preview_was_exact(dry, real)
    assert real.changes["My app's folder"] == 1
    assert real.changes["node_exporter | Restart node_exporter and wait until ready"] == 1
    # on the address Prometheus scrapes, the host's inventory address
    assert h.ssh(f"curl -fsS http://{h.ip}:9100/metrics | grep -c '^node_uname_info'"
                 ).stdout.strip() == "1"
    assert users_run(project).check().changed_ops() == {}
