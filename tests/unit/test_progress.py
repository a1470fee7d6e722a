"""While an operation runs long on a host, the controller says so every 30 seconds
(operations/base/progress.py), and stops once it ends."""

from __future__ import annotations

from types import SimpleNamespace

import gevent

from operations.base.progress import Progress, elapsed


class Host:
    def __init__(self, name):
        self.name = name
        self.print_prefix = f"[{name}] "


class State:
    """The parts of pyinfra's State a run's callbacks see: web1 runs op1, db1 does not."""

    def __init__(self, *handlers):
        self.handlers = handlers
        self.ops = {}

    def get_op_meta(self, op_hash):
        return SimpleNamespace(names={"node_exporter | Install the package"})

    def trigger_callbacks(self, name, *args):
        for handler in self.handlers:
            getattr(handler, name)(self, *args)


def test_a_long_step_is_reported_until_it_ends(caplog):
    progress = Progress(every=0.05)
    host, state = Host("web1"), State()
    state.ops[host] = {"op1": None}
    with caplog.at_level("INFO", logger="pyinfra"):
        progress.operation_host_start(state, host, "op1")
        gevent.sleep(0.13)
        progress.operation_host_success(state, host, "op1")
        gevent.sleep(0.12)
    said = [r.getMessage().strip() for r in caplog.records]
    assert said == ["still waiting for node_exporter | Install the package on web1: 0s"] * 2
    assert progress.tickers == {}


def test_a_failed_step_stops_its_ticker(caplog):
    progress = Progress(every=0.05)
    host, state = Host("web1"), State()
    state.ops[host] = {"op1": None}
    progress.operation_host_start(state, host, "op1")
    progress.operation_host_error(state, host, "op1", 0, 0)
    with caplog.at_level("INFO", logger="pyinfra"):
        gevent.sleep(0.12)
    assert caplog.records == []


def test_a_host_an_operation_skips_is_not_waited_for(caplog):
    """pyinfra starts every operation on every host and, for a host the operation is not
    for, says "Skipped" and sends no end: no ticker may outlive that (at 100 hosts a
    first converge printed "still waiting" for hosts that had nothing to do)."""
    from pyinfra.api.operations import run_host_op
    progress = Progress(every=0.05)
    web1, db1 = Host("web1"), Host("db1")
    state = State(progress)
    state.ops = {web1: {"op1": None}, db1: {}}
    with caplog.at_level("INFO", logger="pyinfra"):
        assert run_host_op(state, db1, "op1") is True
        gevent.sleep(0.12)
    assert [r.getMessage().strip() for r in caplog.records] == ["[db1] Skipped"]
    assert progress.tickers == {}


def test_elapsed_reads_like_a_clock():
    assert [elapsed(s) for s in (5, 30, 90, 754)] == ["5s", "30s", "1m30s", "12m34s"]


def test_readiness_timeouts_are_settings_in_whole_seconds():
    import pytest

    from operations.base.schema import SettingsError
    from operations.stack import validate
    assert validate("h1", {"ready_timeouts": "{grafana: 600}"}).ready_timeouts == {
        "grafana": 600}
    for bad in ("{grafana: 0}", "{grafana: 1.5}", "{grafana: soon}"):
        with pytest.raises(SettingsError, match=r"ready_timeouts: grafana: .* is not a "
                                                r"number of seconds"):
            validate("h1", {"ready_timeouts": bad})
