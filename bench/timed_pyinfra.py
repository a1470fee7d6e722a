"""pyinfra's own CLI, timing where a run's time goes. Usage: like `python3 -m pyinfra`, with
BENCH_TIMINGS=<file.json> in the environment.

Written to the file: total wall time; the planning stage (connecting, facts, our Python);
and, for every operation, its wall time across the hosts (pyinfra runs one operation on
all hosts at a time, so an operation costs its slowest host) and the remote commands it
sent. The benchmark splits a first converge into package/archive installs and the rest.
Also the controller's CPU seconds and peak resident memory, and the bytes pyinfra sent to the hosts: file uploads (their sizes) and command text
(SSH's own framing and encryption not counted; bench/run.py also reads the fleet bridge's
counters for what really went over the wire).
"""

from __future__ import annotations

import atexit
import json
import os
import resource
import time

from pyinfra.api import operations
from pyinfra.api.host import Host
from pyinfra.api.state import State, StateStage

T0 = time.monotonic()
timings = {"stages": {}, "ops": {}, "upload_bytes": 0, "command_bytes": 0, "uploads": 0}
_original_set_stage = State.set_stage
_original_run_host_op = operations.run_host_op
_original_put_file = Host.put_file
_original_run_shell_command = Host.run_shell_command


def _size(filename_or_io) -> int:
    if isinstance(filename_or_io, (str, os.PathLike)):
        return os.path.getsize(filename_or_io)
    position = filename_or_io.tell()
    size = filename_or_io.seek(0, os.SEEK_END)
    filename_or_io.seek(position)
    return size if isinstance(size, int) else 0


def _put_file(self, filename_or_io, *args, **kwargs):
    try:
        timings["upload_bytes"] += _size(filename_or_io)
        timings["uploads"] += 1
    except (OSError, AttributeError, ValueError):
        pass
    return _original_put_file(self, filename_or_io, *args, **kwargs)


def _run_shell_command(self, command, *args, **kwargs):
    text = command.get_raw_value() if hasattr(command, "get_raw_value") else str(command)
    timings["command_bytes"] += len(str(text).encode())
    return _original_run_shell_command(self, command, *args, **kwargs)


def _set_stage(self, stage):
    timings["stages"][StateStage(stage).name] = round(time.monotonic() - T0, 3)
    return _original_set_stage(self, stage)


def _run_host_op(state, host, op_hash):
    t0 = time.monotonic()
    try:
        return _original_run_host_op(state, host, op_hash)
    finally:
        name = ", ".join(sorted(state.get_op_meta(op_hash).names)) or op_hash
        seconds = time.monotonic() - t0
        op = timings["ops"].setdefault(op_hash, {"name": name, "seconds": 0.0, "hosts": 0})
        op["seconds"] = round(max(op["seconds"], seconds), 3)
        op["hosts"] += 1


@atexit.register
def _write() -> None:
    timings["total_s"] = round(time.monotonic() - T0, 3)
    # the controller's share: CPU seconds of this process (and of any it waited for) and
    # its peak resident memory (Linux: KiB)
    me, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(
        resource.RUSAGE_CHILDREN)
    timings["cpu_s"] = round(me.ru_utime + me.ru_stime + children.ru_utime
                             + children.ru_stime, 3)
    timings["peak_rss_mib"] = round(max(me.ru_maxrss, children.ru_maxrss) / 1024, 1)
    path = os.environ.get("BENCH_TIMINGS")
    if path:
        with open(path, "w") as fh:
            json.dump(timings, fh, indent=1)


State.set_stage = _set_stage
operations.run_host_op = _run_host_op
Host.put_file = _put_file
Host.run_shell_command = _run_shell_command

if __name__ == "__main__":
    from pyinfra_cli.main import main
    main()
