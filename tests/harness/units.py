"""Reading systemd unit files the way systemd does, for tests of rendered units."""

from __future__ import annotations

import shlex


def directives(content: str) -> list[str]:
    """Unit lines with continuation lines joined, comments dropped."""
    out, pending = [], ""
    for line in content.splitlines():
        if line.endswith("\\"):
            pending += line[:-1]
            continue
        line, pending = pending + line, ""
        if line.strip() and not line.lstrip().startswith(("#", ";")):
            out.append(line)
    return out


def exec_start_argv(content: str) -> list[str]:
    """ExecStart as systemd would split it (quotes as in a shell, %% -> %)."""
    (line,) = [d for d in directives(content) if d.startswith("ExecStart=")]
    return [w.replace("%%", "%") for w in shlex.split(line[len("ExecStart="):])]
