"""Running the programs that check what the tests render (amtool, promtool, systemd-analyze)."""

from __future__ import annotations

import subprocess


def run(cmd: list, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=60,
                          **kw)
