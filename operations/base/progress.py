"""Word while a step takes long: every PROGRESS_SECONDS an operation has been running on a
host, the controller says so ("still waiting for ... on web1: 1m30s"), so a stalled
mirror reads differently from slow work. Through pyinfra's public state callbacks."""

from __future__ import annotations

import time

import gevent
from pyinfra import logger
from pyinfra.api.state import BaseStateCallback

PROGRESS_SECONDS = 30


def elapsed(seconds: float) -> str:
    minutes, seconds = divmod(int(seconds), 60)
    return f"{minutes}m{seconds:02d}s" if minutes else f"{seconds}s"


class Progress(BaseStateCallback):
    """Starts a ticker when an operation starts on a host, stops it when it ends."""

    def __init__(self, every: float = PROGRESS_SECONDS):
        self.every = every
        self.tickers: dict[tuple[str, str], gevent.Greenlet] = {}

    def _tick(self, state, host, op_hash, started: float) -> None:
        names = ", ".join(sorted(state.get_op_meta(op_hash).names))
        while True:
            gevent.sleep(self.every)
            logger.info(f"    still waiting for {names} on {host.name}: "
                        f"{elapsed(time.monotonic() - started)}")

    def operation_host_start(self, state, host, op_hash):
        self._stop(host, op_hash)
        if op_hash not in state.ops[host]:
            # pyinfra says so for a host the operation is not for ("Skipped") and sends
            # no end for it: a ticker started here would speak of it for the whole run
            return
        self.tickers[(host.name, op_hash)] = gevent.spawn(
            self._tick, state, host, op_hash, time.monotonic())

    def _stop(self, host, op_hash, *args, **kwargs) -> None:
        ticker = self.tickers.pop((host.name, op_hash), None)
        if ticker is not None:
            ticker.kill(block=False)

    def operation_host_success(self, state, host, op_hash, *args, **kwargs):
        self._stop(host, op_hash)

    def operation_host_error(self, state, host, op_hash, *args, **kwargs):
        self._stop(host, op_hash)


_added: list[Progress] = []


def start(state) -> None:
    """Add the progress words to this run (once)."""
    if not _added:
        _added.append(Progress())
        state.add_callback_handler(_added[0])
