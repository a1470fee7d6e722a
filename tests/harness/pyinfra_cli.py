"""Run the real pyinfra CLI the way users do, and read its tables.

`pyinfra --dry INVENTORY deploy.py` prints a "Detected changes" table; `pyinfra -y ...`
prints a "Results" table. Both are parsed into {operation name: hosts changed}, so a
test can compare what the preview promised with what the run did.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PYINFRA = [sys.executable, "-m", "pyinfra"]


@dataclass
class PyinfraRun:
    command: list[str]
    returncode: int
    output: str
    seconds: float
    # operation name -> number of hosts it changed (dry: predicted; real: done)
    changes: dict[str, int] = field(default_factory=dict)
    conditional: dict[str, int] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)

    @property
    def total_changes(self) -> int:
        return sum(self.changes.values())

    def changed_ops(self) -> dict[str, int]:
        return {op: n for op, n in self.changes.items() if n}

    def check(self) -> "PyinfraRun":
        if self.returncode != 0:
            raise AssertionError(f"pyinfra exited {self.returncode}:\n{self.output[-8000:]}")
        return self


def _count(cell: str) -> int:
    m = re.match(r"(\d+)", cell.strip())
    return int(m.group(1)) if m else 0


def _table(output: str, header: str) -> list[list[str]]:
    """Rows of the table that follows the line `--> {header}:`."""
    lines = output.splitlines()
    try:
        start = next(i for i, line in enumerate(lines) if line.strip() == f"--> {header}:")
    except StopIteration:
        return []
    rows = []
    for line in lines[start + 2:]:  # skip the column header
        if not line.strip():
            break
        rows.append(re.split(r"\s{2,}", line.strip()))
    return rows


def parse_detected_changes(output: str) -> tuple[dict[str, int], dict[str, int]]:
    changes, conditional = {}, {}
    for row in _table(output, "Detected changes"):
        if len(row) >= 3:
            changes[row[0]] = changes.get(row[0], 0) + _count(row[1])
            conditional[row[0]] = conditional.get(row[0], 0) + _count(row[2])
    return changes, conditional


def parse_results(output: str) -> tuple[dict[str, int], dict[str, int]]:
    changes, errors = {}, {}
    for row in _table(output, "Results"):
        if len(row) >= 5 and row[0] != "Grand total":
            changes[row[0]] = changes.get(row[0], 0) + _count(row[2])
            errors[row[0]] = errors.get(row[0], 0) + _count(row[3])
    return changes, errors


def results_hosts(output: str) -> dict[str, int]:
    """Operation -> the "Hosts" column of the Results table (hosts it ran on: with
    --limit, only those of the limit)."""
    hosts: dict[str, int] = {}
    for row in _table(output, "Results"):
        if len(row) >= 5 and row[0] != "Grand total":
            hosts[row[0]] = hosts.get(row[0], 0) + _count(row[1])
    return hosts


def run_pyinfra(inventory: str | Path, deploy: str = "deploy.py", *, dry: bool = False,
                data: dict[str, str] | None = None, env: dict[str, str] | None = None,
                cwd: Path = REPO, extra: list[str] | None = None,
                timeout: float = 1200, pyinfra: list[str] = PYINFRA) -> PyinfraRun:
    cmd = [*pyinfra]
    cmd += ["--dry"] if dry else ["-y"]
    for key, value in (data or {}).items():
        cmd += ["--data", f"{key}={value}"]
    cmd += [*(extra or []), str(inventory), deploy]
    t0 = time.monotonic()
    res = subprocess.run(cmd, cwd=cwd, env={**os.environ, **(env or {})}, text=True,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         stdin=subprocess.DEVNULL, timeout=timeout)
    run = PyinfraRun(cmd, res.returncode, res.stdout, time.monotonic() - t0)
    if dry:
        run.changes, run.conditional = parse_detected_changes(res.stdout)
    else:
        run.changes, run.errors = parse_results(res.stdout)
    return run


def preview_then_run(inventory: str | Path, **kw) -> tuple[PyinfraRun, PyinfraRun]:
    """What a careful operator does first: `--dry`, then the real run with the same
    arguments. Both must succeed."""
    dry = run_pyinfra(inventory, dry=True, **kw).check()
    real = run_pyinfra(inventory, **kw).check()
    return dry, real


def assert_preview_was_exact(dry: PyinfraRun, real: PyinfraRun) -> None:
    """The preview promised exactly what the run then did: every operation it listed
    changed the hosts it said, none it left out changed any, and nothing was left to
    chance ("Conditional Change")."""
    assert not any(dry.conditional.values()), dry.conditional
    promised, done = dry.changed_ops(), real.changed_ops()
    assert promised == done, {
        "promised, not done": {op: n for op, n in promised.items() if done.get(op) != n},
        "done, not promised": {op: n for op, n in done.items() if promised.get(op) != n}}


def run_pyinfra_killed_after(inventory: str | Path, operation: str, *,
                             data: dict[str, str] | None = None, cwd: Path = REPO,
                             timeout: float = 600) -> str:
    """A real run (`-y`) whose controller dies (SIGKILL, as a lost laptop or a closed
    terminal) as soon as `operation` has finished on every host: when pyinfra starts the
    operation after it. Returns what it printed."""
    cmd = [*PYINFRA, "-y"]
    for key, value in (data or {}).items():
        cmd += ["--data", f"{key}={value}"]
    cmd += [str(inventory), "deploy.py"]
    proc = subprocess.Popen(cmd, cwd=cwd, text=True, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            start_new_session=True)
    output, seen, deadline = [], False, time.monotonic() + timeout
    try:
        for line in proc.stdout:
            output.append(line)
            if line.startswith("--> Starting operation: "):
                if seen:
                    os.killpg(proc.pid, 9)
                    break
                seen = line[len("--> Starting operation: "):].strip() == operation
            if time.monotonic() > deadline:
                raise AssertionError(f"no {operation!r} within {timeout:.0f} s:\n"
                                     + "".join(output[-50:]))
        else:
            raise AssertionError(f"the run ended without reaching {operation!r}:\n"
                                 + "".join(output[-50:]))
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, 9)
        proc.wait()
    return "".join(output)
