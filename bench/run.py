"""Benchmark: first converge, no-op re-run, --dry and the floor (`pyinfra INV exec -- true`)
on fresh fleet hosts. Usage (as root, after ./scripts/setup.sh --test):

    python3 bench/run.py [--hosts 1,3,6] [--repeat 3] [--out bench/results]

Each repetition takes fresh hosts and times, in this order: the floor, a first converge
(through bench/timed_pyinfra.py: per-operation timings give the share spent installing
packages and release archives), the first re-run after it, a no-op re-run, the floor
again on the converged hosts (their services, node_exporters scraped by Prometheus, share
the cores with every run from then on), and a --dry run. Prints a table (scenario, hosts,
median, min, max, ratio to the floor of the same host count, remote commands per host of
a no-op run counted from pyinfra's -vv output, install share and changed operations of
the first converge, bytes sent; then where the first converge's time goes by kind of
operation, the marginal cost per added host and the performance issue's targets, each
judged against the floor of the same hosts), writes it as CSV and JSON, plots time
against host count (PNG), and keeps the -vv output of one no-op run
(noop-<N>-hosts.log).

Bytes, for every timed run (KiB, all hosts together): `sent_kib` is what pyinfra sent,
file uploads (their sizes) plus command text, counted by bench/timed_pyinfra.py;
`wire_kib` is what crossed the fleet bridge's own interface in both directions (its
kernel counters: SSH with its encryption and framing, the hosts' apt and mirror
downloads, answers), read before and after the run.
"""

from __future__ import annotations

import argparse
import csv
import fcntl
import json
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO))

from conftest import write_inventory  # noqa: E402
from harness.fleet import BRIDGE, CACHE, CONTROLLER_IP, Fleet  # noqa: E402
from harness.mirror import Mirror  # noqa: E402
from harness.pyinfra_cli import run_pyinfra  # noqa: E402
from harness.stack import CORE_ONLY, CORE_COMPONENTS, mirror_settings  # noqa: E402

TIMED_PYINFRA = [sys.executable, str(REPO / "bench" / "timed_pyinfra.py")]


def bridge_bytes() -> int:
    """Bytes received plus sent by the fleet bridge's own interface (controller <-> hosts)."""
    stats = Path("/sys/class/net") / BRIDGE / "statistics"
    try:
        return sum(int((stats / f).read_text()) for f in ("rx_bytes", "tx_bytes"))
    except OSError:
        return 0


def hosts_cpu_seconds(fleet: Fleet) -> float:
    """CPU seconds used so far by every fleet host together (each host's cgroup, unified
    hierarchy: cpu.stat usage_usec). Here all hosts share the controller's cores, so their
    own work (the fact script each runs) adds to the wall time of a run as it would not on
    a real fleet, where every host has its own CPU."""
    top = fleet.profile.cgroup_tops()[1]
    total = 0
    for stat in top.glob("*/cpu.stat"):
        for line in stat.read_text().splitlines():
            if line.startswith("usage_usec "):
                total += int(line.split()[1])
    return total / 1e6


def timed_run(inventory, timings_file: Path, fleet: Fleet, **kw):
    """One pyinfra run through bench/timed_pyinfra.py; its wall time, its timings (with
    `wire_bytes` added: the bridge's counters over the run)."""
    env = {"BENCH_TIMINGS": str(timings_file)}
    wire0, hosts0 = bridge_bytes(), hosts_cpu_seconds(fleet)
    t0 = time.monotonic()
    run = run_pyinfra(inventory, env=env, pyinfra=TIMED_PYINFRA, **kw).check()
    seconds = time.monotonic() - t0
    timings = json.loads(timings_file.read_text())
    timings["wire_bytes"] = bridge_bytes() - wire0
    timings["hosts_cpu_s"] = round(hosts_cpu_seconds(fleet) - hosts0, 3)
    return seconds, run, timings


def sent_kib(timings: dict) -> float:
    return (timings.get("upload_bytes", 0) + timings.get("command_bytes", 0)) / 1024


def remote_commands(output: str) -> int:
    """Commands pyinfra sent (its -vv output shows each one as `[host] >>> ...`, padded
    with more spaces where host names differ in length)."""
    return len(re.findall(r"^\[[^\]]+\]\s+>>> ", output, re.M))


# Operations that install software: the part of a first converge that is not ours to cut.
# (names inside a @deploy read "<deploy> | <operation>")
INSTALL_OP = re.compile(
    r"(?:^|\| )Install (the \S+ package|\S+ \S+ from the release archive|\S+'s )")


def install_share(timings: dict) -> float:
    ops = timings["ops"].values()
    install = sum(op["seconds"] for op in ops if INSTALL_OP.search(op["name"]))
    return install / timings["total_s"]


# Where the rest of a first converge goes, by operation name (the first match counts).
KINDS = (
    ("installs", INSTALL_OP),
    ("restarts+readiness", re.compile(r"and wait until ready")),
    ("units", re.compile(r"systemd unit|Reload systemd units|Enable \S+ at boot")),
    ("configs", re.compile(r"(?:^|\| )Write ")),
    ("users+folders", re.compile(r"(?:^|\| )Create ")),
)


def shares(timings: dict) -> dict[str, float]:
    """Share of the run's wall time per kind of operation; `planning` is the time before
    the first operation runs (connecting, facts, our Python)."""
    out = {kind: 0.0 for kind, _ in KINDS} | {"other": 0.0}
    for op in timings["ops"].values():
        kind = next((k for k, pattern in KINDS if pattern.search(op["name"])), "other")
        out[kind] += op["seconds"]
    out["planning"] = timings["stages"].get("Execute", 0)
    return {k: round(v / timings["total_s"], 3) for k, v in out.items()}


def floor_run(inventory: Path, timings_file: Path, fleet: Fleet) -> tuple[float, dict]:
    """`pyinfra INV exec -- true`: one connection and one command per host."""
    hosts0, t0 = hosts_cpu_seconds(fleet), time.monotonic()
    subprocess.run([*TIMED_PYINFRA, "-y", str(inventory), "exec", "--", "true"], cwd=REPO,
                   check=True, capture_output=True, stdin=subprocess.DEVNULL,
                   env={**os.environ, "BENCH_TIMINGS": str(timings_file)})
    seconds = time.monotonic() - t0
    timings = json.loads(timings_file.read_text())
    timings["hosts_cpu_s"] = round(hosts_cpu_seconds(fleet) - hosts0, 3)
    return seconds, timings


def one_repetition(count: int, fleet: Fleet, settings: dict, workdir: Path,
                   count_commands: bool) -> dict:
    """Fresh hosts: the floor, a first converge, a no-op re-run, a --dry run."""
    hosts = fleet.up(count)
    try:
        inventory = write_inventory(workdir / f"inv{count}" / "inventory.py", fleet,
                                    {"monitoring": hosts[:1], "nodes": hosts[1:]},
                                    group_data={"all": settings})
        sample = {}
        sample["floor"], floor = floor_run(inventory, workdir / f"timings-{count}-floor.json",
                                           fleet)
        timings_file = workdir / f"timings-{count}.json"
        sample["first"], first, timings = timed_run(inventory, timings_file, fleet)
        sample["install_share"] = install_share(timings)
        sample["shares"] = shares(timings)
        sample["planning_share_first"] = timings["stages"].get("Execute", 0) / timings["total_s"]
        sample["first_ops"] = len(first.changed_ops())
        record = {"floor": floor, "first": timings}
        # the first re-run after a converge also asks what the converge had no reason to
        # (checksums of files that did not exist yet); from the next one on, a no-op run
        # asks everything in one command per host
        for key, kw in (("rerun", {}), ("noop", {}), ("dry", {"dry": True})):
            other = workdir / f"timings-{count}-{key}.json"
            sample[key], run, record[key] = timed_run(inventory, other, fleet, **kw)
            if key != "dry":
                assert run.changed_ops() == {}, run.changed_ops()
            if key == "noop":
                # the floor again, on the hosts as the no-op found them: converged hosts
                # run services (50 node_exporters scraped by Prometheus) on the same cores
                sample["floor_converged"], record["floor_converged"] = floor_run(
                    inventory, workdir / f"timings-{count}-floor-converged.json", fleet)
        for key, t in record.items():
            sample[f"{key}_sent_kib"] = sent_kib(t)
            sample[f"{key}_wire_kib"] = t.get("wire_bytes", 0) / 1024
            sample[f"{key}_cpu_s"] = t["cpu_s"]
            sample[f"{key}_peak_rss_mib"] = t["peak_rss_mib"]
            sample[f"{key}_hosts_cpu_s"] = t["hosts_cpu_s"]
        if count_commands:
            verbose = run_pyinfra(inventory, extra=["-vv"]).check()
            sample["commands_per_host"] = remote_commands(verbose.output) / count
            # which commands they were, for whoever wants to cut them further
            (workdir / f"noop-{count}-hosts.log").write_text(verbose.output)
        return sample
    finally:
        for h in hosts:
            fleet.stop(h)


def scenario_rows(count: int, repeat: int, fleet: Fleet, settings: dict,
                  workdir: Path) -> list[dict]:
    samples = [one_repetition(count, fleet, settings, workdir, count_commands=(i == 0))
               for i in range(repeat)]
    base = statistics.median(s["floor"] for s in samples)
    base_converged = statistics.median(s["floor_converged"] for s in samples)
    rows = []
    for key, name in (("floor", "floor (exec -- true)"),
                      ("floor_converged", "floor, converged hosts"), ("first", "first converge"),
                      ("rerun", "first re-run"), ("noop", "no-op re-run"), ("dry", "--dry")):
        times = [s[key] for s in samples]
        row = {"scenario": name, "hosts": count,
               "median_s": round(statistics.median(times), 2),
               "min_s": round(min(times), 2), "max_s": round(max(times), 2),
               "runs": len(times),
               "ratio_to_floor": round(statistics.median(times) / base, 2),
               "ratio_to_converged_floor": round(statistics.median(times) / base_converged, 2),
               "commands_per_host": "", "install_share": "", "changed_ops": "",
               "sent_kib": "", "wire_kib": "",
               "cpu_s": round(statistics.median(s[f"{key}_cpu_s"] for s in samples), 2),
               "peak_rss_mib": max(s[f"{key}_peak_rss_mib"] for s in samples),
               "hosts_cpu_s": round(statistics.median(
                   s[f"{key}_hosts_cpu_s"] for s in samples), 2)}
        if key == "noop":
            row["commands_per_host"] = round(samples[0]["commands_per_host"], 1)
        if key == "first":
            row["install_share"] = round(statistics.median(s["install_share"] for s in samples), 2)
            row["shares"] = {k: round(statistics.median(s["shares"][k] for s in samples), 2)
                             for k in samples[0]["shares"]}
            row["changed_ops"] = statistics.median(s["first_ops"] for s in samples)
        if not key.startswith("floor"):
            for column in ("sent_kib", "wire_kib"):
                row[column] = round(statistics.median(s[f"{key}_{column}"] for s in samples))
        rows.append(row)
    return rows


def slopes(rows: list[dict]) -> list[dict]:
    """The marginal cost of one more host per scenario: the slope of a least-squares line
    through the medians against the host count (seconds and controller CPU seconds per
    host), beside the floor's."""
    out = []
    for name in dict.fromkeys(r["scenario"] for r in rows):
        mine = sorted((r for r in rows if r["scenario"] == name), key=lambda r: r["hosts"])
        hosts = [r["hosts"] for r in mine]
        if len(set(hosts)) < 2:
            continue
        slope = {column: round(statistics.linear_regression(
            hosts, [r[column] for r in mine]).slope, 4)
            for column in ("median_s", "cpu_s", "hosts_cpu_s")}
        out.append({"scenario": name, "s_per_host": slope["median_s"],
                    "cpu_s_per_host": slope["cpu_s"],
                    "hosts_cpu_s_per_host": slope["hosts_cpu_s"]})
    for column, scenario in (("x_floor", "floor (exec -- true)"),
                             ("x_converged_floor", "floor, converged hosts")):
        floor = next((s for s in out if s["scenario"] == scenario), None)
        for s in out:
            s[column] = (round(s["s_per_host"] / floor["s_per_host"], 2)
                         if floor and floor["s_per_host"] > 0 else "")
    return out


def targets(rows: list[dict], marginal: list[dict]) -> list[dict]:
    """The performance issue's targets, each against the floor measured in the same
    repetition on the same (converged) hosts as the no-op, as the issue's own 21-host
    figures were; the fresh hosts' floor beside it (`fresh`)."""
    largest = max(r["hosts"] for r in rows)
    noop = next(r for r in rows if r["scenario"] == "no-op re-run" and r["hosts"] == largest)
    by_name = {m["scenario"]: m for m in marginal}
    out = [{"target": f"no-op at {largest} hosts / floor",
            "value": noop["ratio_to_converged_floor"], "fresh": noop["ratio_to_floor"],
            "limit": 2.0}]
    if "no-op re-run" in by_name:
        out.append({"target": "no-op marginal cost / floor's",
                    "value": by_name["no-op re-run"]["x_converged_floor"],
                    "fresh": by_name["no-op re-run"]["x_floor"], "limit": 2.0})
    if "first converge" in by_name:
        out.append({"target": "first converge marginal cost (s per host)",
                    "value": by_name["first converge"]["s_per_host"], "fresh": "",
                    "limit": 0.5, "below": True})
    for t in out:
        value = t["value"]
        t["met"] = value != "" and (value < t["limit"] if t.pop("below", False)
                                    else value <= t["limit"])
    return out


def plot(rows: list[dict], path: Path, title: str) -> bool:
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    fig, ax = plt.subplots(figsize=(7, 4))
    for name in dict.fromkeys(r["scenario"] for r in rows):
        points = [(r["hosts"], r["median_s"]) for r in rows if r["scenario"] == name]
        ax.plot(*zip(*points), marker="o", label=name)
    ax.set_xlabel("hosts")
    ax.set_ylabel("seconds (median)")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    return True


def measure(fleet: Fleet, mirror: Mirror, counts: list[int], repeat: int,
            work: Path) -> list[dict]:
    """The rows of every scenario for each host count, on `fleet`'s hosts (fresh ones for
    every repetition, stopped after it), artifacts from `mirror`."""
    settings = {**mirror_settings(mirror, CORE_COMPONENTS),
                "artifact_cache_dir": str(work / "artifact-cache")}
    settings.update(BENCH_SETTINGS)
    rows = []
    for count in counts:
        rows += scenario_rows(count, repeat, fleet, settings, work)
    return rows


HEADER = ["scenario", "hosts", "median_s", "min_s", "max_s", "runs", "ratio_to_floor",
          "ratio_to_converged_floor",
          "commands_per_host", "install_share", "changed_ops", "sent_kib", "wire_kib",
          "cpu_s", "peak_rss_mib", "hosts_cpu_s"]


def report(rows: list[dict], out: Path) -> Path:
    """Prints the table, the first converge's shares, the marginal costs and the targets;
    writes the CSV, the JSON and (with matplotlib) the plot under `out`, named by date and
    commit. Returns the stem's path (add .csv, .json, .png)."""
    out.mkdir(parents=True, exist_ok=True)
    print(" | ".join(HEADER))
    for r in rows:
        print(" | ".join(str(r[h]) for h in HEADER))
    for r in rows:
        if "shares" in r:
            print(f"first converge, {r['hosts']} host(s), share of its time (medians): "
                  + ", ".join(f"{k} {v:.0%}" for k, v in r["shares"].items()))
    marginal = slopes(rows)
    for s in marginal:
        print(f"marginal cost per added host, {s['scenario']}: {s['s_per_host']} s "
              f"({s['x_floor']}x the floor's, {s['x_converged_floor']}x the converged "
              f"floor's), {s['cpu_s_per_host']} controller CPU s, "
              f"{s['hosts_cpu_s_per_host']} CPU s on the hosts")
    goals = targets(rows, marginal)
    for t in goals:
        print(f"target: {t['target']} {t['value']} ({'within' if t['met'] else 'OVER'} "
              f"{t['limit']})" + (f"; against the fresh hosts' floor {t['fresh']}"
                                  if t["fresh"] != "" else ""))
    # named by date and commit, so results of different versions sit side by side
    measured, today = commit(), time.strftime("%Y-%m-%d")
    stem = out / f"results-{today}-{measured}"
    with open(f"{stem}.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=HEADER, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    Path(f"{stem}.json").write_text(json.dumps(
        {"commit": measured, "date": today, "cpus": os.cpu_count(),
         "rows": rows, "marginal": marginal, "targets": goals}, indent=2))
    if plot(rows, Path(f"{stem}.png"), f"monstack {measured}: deploy time vs host count"):
        print(f"plot: {stem}.png")
    return stem


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", default="1,3,6")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", default=str(REPO / "bench" / "results"))
    parser.add_argument("--work", default="/var/tmp/monstack-bench",
                        help="mirror, caches and logs (not committed)")
    args = parser.parse_args()
    # the test suite's fleet lock: a bench and a test session never share the fleet
    CACHE.mkdir(parents=True, exist_ok=True)
    lock = open(CACHE / "session.lock", "w")
    fcntl.flock(lock, fcntl.LOCK_EX)
    fleet = Fleet()
    fleet.down()
    fleet.net_up()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    mirror = Mirror(work / "mirror", host=CONTROLLER_IP).start()
    try:
        rows = measure(fleet, mirror, [int(n) for n in args.hosts.split(",")], args.repeat,
                       work)
    finally:
        mirror.stop()
        fleet.down()
    report(rows, Path(args.out))
    return 0


def commit() -> str:
    """The commit measured (with + when the tree has uncommitted changes)."""
    rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, text=True,
                         capture_output=True).stdout.strip() or "unknown"
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                           cwd=REPO, text=True, capture_output=True).stdout.strip()
    return rev + ("+" if dirty else "")


# The benchmark measures the core stack (components with real binaries here).
BENCH_SETTINGS: dict = dict(CORE_ONLY)

if __name__ == "__main__":
    sys.exit(main())
