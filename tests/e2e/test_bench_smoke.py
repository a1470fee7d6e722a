"""A maintainer about to claim a speed-up runs the bench (bench/run.py). Its full run takes
hosts by the hundred and is not part of CI; this small run keeps it working: one and two
fresh fleet hosts, once each, every scenario timed, one remote command per host counted
in the no-op run, the table, the JSON, the plot and the targets written.
"""

from __future__ import annotations

import csv
import json

import pytest

from bench import run

pytestmark = pytest.mark.fleet

SCENARIOS = {"floor (exec -- true)", "floor, converged hosts", "first converge",
             "first re-run", "no-op re-run", "--dry"}


@pytest.fixture(scope="module")
def bench():
    return run


@pytest.fixture(scope="module")
def results(bench, fleet, mirror, tmp_path_factory):
    work = tmp_path_factory.mktemp("bench-work")
    rows = bench.measure(fleet, mirror, [1, 2], 1, work)
    stem = bench.report(rows, tmp_path_factory.mktemp("bench-results"))
    return rows, stem, work


def test_every_scenario_is_timed_at_each_host_count(results):
    rows, _, _ = results
    assert {(r["scenario"], r["hosts"]) for r in rows} == {
        (s, n) for s in SCENARIOS for n in (1, 2)}
    assert all(r["median_s"] > 0 and r["runs"] == 1 for r in rows), rows
    first = [r for r in rows if r["scenario"] == "first converge"]
    # the first converge installs the core stack: it changes things, the re-runs do not
    # (measure() itself fails on a re-run that changes anything)
    assert all(r["changed_ops"] > 0 and r["sent_kib"] > 0 for r in first), first


def test_the_no_op_run_sends_one_command_per_host(results):
    rows, _, work = results
    noop = {r["hosts"]: r["commands_per_host"] for r in rows if r["scenario"] == "no-op re-run"}
    assert noop == {1: 1.0, 2: 1.0}
    # the -vv output it counted is kept for whoever wants to cut further
    assert ">>> " in (work / "noop-2-hosts.log").read_text()


def test_the_table_the_json_and_the_plot_are_written(bench, results):
    rows, stem, _ = results
    with open(f"{stem}.csv", newline="") as fh:
        table = list(csv.DictReader(fh))
    assert len(table) == len(rows) and list(table[0]) == bench.HEADER
    written = json.loads(stem.with_name(stem.name + ".json").read_text())
    assert written["rows"] == rows
    assert [t["target"] for t in written["targets"]] == [
        "no-op at 2 hosts / floor", "no-op marginal cost / floor's",
        "first converge marginal cost (s per host)"]
    assert stem.with_name(stem.name + ".png").stat().st_size > 0
