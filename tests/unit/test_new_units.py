"""A new unit is enabled without making systemd re-read every unit; one systemd holds an
older or missing copy of is reloaded. The shell steps run here against a stand-in
`systemctl` answering as systemd 252 does (checked on a fleet host: a unit file written
after systemd cached it as not found, one never referenced, one changed while loaded)."""

from __future__ import annotations

import os
import subprocess

import pytest

from operations.base.services import enable_new_unit


@pytest.mark.parametrize("show, reloads", [
    ("LoadState=loaded\nNeedDaemonReload=no", False),      # new: read on first use
    ("NeedDaemonReload=no\nLoadState=loaded", False),      # whatever order systemd prints
    ("LoadState=loaded\nNeedDaemonReload=yes", True),      # changed while loaded
    ("LoadState=not-found\nNeedDaemonReload=no", True),    # an older systemd's cached miss
    ("", True),                                            # no answer: reload to be sure
    ("fails", True),                                       # show failed: reload as well
])
def test_a_new_unit_is_reloaded_only_when_systemd_holds_another_copy(tmp_path, show, reloads):
    calls = tmp_path / "calls"
    fake = tmp_path / "systemctl"
    fake.write_text(f"#!/bin/sh\necho \"$*\" >> {calls}\n"
                    f"[ \"$1\" = show ] && [ '{show}' = fails ] && exit 1\n"
                    f"[ \"$1\" = show ] && printf '%s\\n' '{show}'\nexit 0\n")
    fake.chmod(0o755)
    env = {**os.environ, "PATH": f"{tmp_path}:{os.environ['PATH']}"}
    res = subprocess.run(["sh", "-c", enable_new_unit("loki.service")], env=env,
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    ran = calls.read_text().splitlines()
    assert ran[0] == "enable --no-reload loki.service"
    assert ("daemon-reload" in ran) is reloads
