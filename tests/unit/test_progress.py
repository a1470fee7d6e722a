"""While an operation runs long on a host, the controller says so every 30 seconds
(operations/base/progress.py), and stops once it ends."""

from __future__ import annotations

from types import SimpleNamespace

import gevent

from operations.base.progress import Progress, elapsed


class State:
    def get_op_meta(self, op_hash):
        return SimpleNamespace(names={"node_exporter | Install the package"})


def test_a_long_step_is_reported_until_it_ends(caplog):
    progress = Progress(every=0.05)
    host = SimpleNamespace(name="web1")
    with caplog.at_level("INFO", logger="pyinfra"):
        progress.operation_host_start(State(), host, "op1")
        gevent.sleep(0.13)
        progress.operation_host_success(State(), host, "op1")
        gevent.sleep(0.12)
    said = [r.getMessage().strip() for r in caplog.records]
    assert said == ["still waiting for node_exporter | Install the package on web1: 0s"] * 2
    assert progress.tickers == {}


def test_a_failed_step_stops_its_ticker(caplog):
    progress = Progress(every=0.05)
    host = SimpleNamespace(name="web1")
    progress.operation_host_start(State(), host, "op1")
    progress.operation_host_error(State(), host, "op1", 0, 0)
    with caplog.at_level("INFO", logger="pyinfra"):
        gevent.sleep(0.12)
    assert caplog.records == []


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
