"""bench/run.py's arithmetic: medians, ratios to both floors and the marginal cost per host,
on made-up samples (the bench itself needs fleet hosts and is not part of the suite)."""

import pytest

from bench import run


@pytest.fixture
def bench():
    return run


def sample(hosts: int, floor: float, per_host: float) -> dict:
    """A repetition where every scenario costs `floor` plus `per_host` a host."""
    out = {"install_share": 0.5, "shares": {"installs": 0.5}, "first_ops": 10,
           "commands_per_host": 1.0}
    for key, extra in (("floor", 0), ("floor_converged", 0.01), ("first", 0.5),
                       ("rerun", per_host), ("noop", per_host), ("dry", per_host)):
        out[key] = floor + (0.01 + extra) * hosts
        for column in ("sent_kib", "wire_kib", "cpu_s", "peak_rss_mib", "hosts_cpu_s"):
            out[f"{key}_{column}"] = hosts * 0.1
    return out


def test_rows_give_both_floors_and_the_marginal_cost_against_each(bench, monkeypatch):
    monkeypatch.setattr(bench, "one_repetition",
                        lambda count, *a, **kw: sample(count, 1.0, 0.03))
    rows = [r for n in (10, 50) for r in bench.scenario_rows(n, 2, None, {}, None)]
    noop50 = next(r for r in rows if r["scenario"] == "no-op re-run" and r["hosts"] == 50)
    assert noop50["median_s"] == 3.0                     # 1 + 0.04 * 50
    assert noop50["ratio_to_floor"] == 2.0               # against 1 + 0.01 * 50
    assert noop50["ratio_to_converged_floor"] == round(3.0 / 2.0, 2)
    assert noop50["commands_per_host"] == 1.0
    marginal = {m["scenario"]: m for m in bench.slopes(rows)}
    assert marginal["no-op re-run"]["s_per_host"] == pytest.approx(0.04)
    assert marginal["no-op re-run"]["x_floor"] == 4.0
    assert marginal["no-op re-run"]["x_converged_floor"] == 2.0
    assert marginal["first converge"]["s_per_host"] == pytest.approx(0.51)


def test_commands_are_counted_however_pyinfra_pads_the_host_names(bench):
    output = ("[10.77.0.9]  >>> sh -c 'true'\n[10.77.0.100] >>> sh -c 'true'\n"
              "    [10.77.0.9]  Connected\n[10.77.0.9]  >>> sh -c 'echo a >>> b'\n")
    assert bench.remote_commands(output) == 3


def test_targets_are_judged_against_the_floor_of_the_same_hosts(bench, monkeypatch):
    monkeypatch.setattr(bench, "one_repetition",
                        lambda count, *a, **kw: sample(count, 1.0, 0.03))
    rows = [r for n in (10, 50) for r in bench.scenario_rows(n, 2, None, {}, None)]
    goals = {t["target"]: t for t in bench.targets(rows, bench.slopes(rows))}
    at_50 = goals["no-op at 50 hosts / floor"]
    assert (at_50["value"], at_50["fresh"], at_50["met"]) == (1.5, 2.0, True)
    slope = goals["no-op marginal cost / floor's"]
    assert (slope["value"], slope["fresh"], slope["met"]) == (2.0, 4.0, True)
    first = goals["first converge marginal cost (s per host)"]
    assert first["value"] == pytest.approx(0.51) and first["met"] is False


def test_a_no_op_over_twice_its_floor_misses_the_target(bench, monkeypatch):
    monkeypatch.setattr(bench, "one_repetition",
                        lambda count, *a, **kw: sample(count, 1.0, 0.06))
    rows = [r for n in (10, 50) for r in bench.scenario_rows(n, 2, None, {}, None)]
    goals = {t["target"]: t for t in bench.targets(rows, bench.slopes(rows))}
    assert goals["no-op marginal cost / floor's"]["value"] == 3.5      # 0.07 / 0.02
    assert not goals["no-op marginal cost / floor's"]["met"]
    assert not goals["no-op at 50 hosts / floor"]["met"]               # 4.5 / 2.0
