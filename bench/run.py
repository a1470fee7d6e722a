"""Benchmark: first converge, no-op re-run, --dry and the floor (`pyinfra INV exec -- true`)
on fresh fleet hosts. Usage (as root, after ./scripts/setup.sh --test):

    python3 bench/run.py [--hosts 1,3,6] [--repeat 3] [--out bench/results]

Prints a table (scenario, hosts, median, min, max, ratio to the floor of the same host
count, remote commands per host for the no-op run) and writes it as CSV and JSON, plus a
PNG plot of time against host count when matplotlib is available.
"""

from __future__ import annotations

import argparse
import csv
import json
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
from harness.fleet import CONTROLLER_IP, Fleet  # noqa: E402
from harness.mirror import Mirror  # noqa: E402
from harness.pyinfra_cli import PYINFRA, run_pyinfra  # noqa: E402
from harness.stack import CORE_ONLY, CORE_COMPONENTS, mirror_settings  # noqa: E402


def timed(inventory, repeat: int, **kw) -> tuple[list[float], object]:
    times, last = [], None
    for _ in range(repeat):
        t0 = time.monotonic()
        last = run_pyinfra(inventory, **kw).check()
        times.append(time.monotonic() - t0)
    return times, last


def remote_commands(output: str) -> int:
    """Commands pyinfra sent (its -vv output shows each one as `[host] >>> ...`)."""
    return len(re.findall(r"\] >>> ", output))


def scenario_rows(count: int, repeat: int, fleet: Fleet, mirror: Mirror, settings: dict,
                  workdir: Path) -> list[dict]:
    hosts = fleet.up(count)
    try:
        inventory = write_inventory(workdir / f"inv{count}" / "inventory.py", fleet,
                                    {"monitoring": hosts[:1], "nodes": hosts[1:]},
                                    group_data={"all": settings})
        rows = []
        floor = []
        for _ in range(repeat):
            t0 = time.monotonic()
            subprocess.run([*PYINFRA, "-y", str(inventory), "exec", "--", "true"], cwd=REPO,
                           check=True, capture_output=True, stdin=subprocess.DEVNULL)
            floor.append(time.monotonic() - t0)
        t0 = time.monotonic()
        run_pyinfra(inventory).check()
        first_time = time.monotonic() - t0
        noop, _ = timed(inventory, repeat)
        dry, _ = timed(inventory, repeat, dry=True)
        verbose = run_pyinfra(inventory, extra=["-vv"]).check()
        per_host = remote_commands(verbose.output) / count
        base = statistics.median(floor)
        for name, times in (("floor (exec -- true)", floor), ("first converge", [first_time]),
                            ("no-op re-run", noop), ("--dry", dry)):
            rows.append({"scenario": name, "hosts": count,
                         "median_s": round(statistics.median(times), 2),
                         "min_s": round(min(times), 2), "max_s": round(max(times), 2),
                         "runs": len(times),
                         "ratio_to_floor": round(statistics.median(times) / base, 2),
                         "commands_per_host": round(per_host, 1) if name == "no-op re-run" else ""})
        return rows
    finally:
        for h in hosts:
            fleet.stop(h)



def plot(rows: list[dict], path: Path) -> bool:
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
    ax.set_title("monstack deploy time vs host count")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    return True


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", default="1,3,6")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", default=str(REPO / "bench" / "results"))
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    fleet = Fleet()
    fleet.down()
    fleet.net_up()
    mirror = Mirror(out / "mirror", host=CONTROLLER_IP).start()
    rows = []
    try:
        settings = {**mirror_settings(mirror, CORE_COMPONENTS),
                    "artifact_cache_dir": str(out / "artifact-cache")}
        settings.update(BENCH_SETTINGS)
        for count in (int(n) for n in args.hosts.split(",")):
            rows += scenario_rows(count, args.repeat, fleet, mirror, settings, out)
    finally:
        mirror.stop()
        fleet.down()
    header = ["scenario", "hosts", "median_s", "min_s", "max_s", "runs", "ratio_to_floor",
              "commands_per_host"]
    print(" | ".join(header))
    for r in rows:
        print(" | ".join(str(r[h]) for h in header))
    with open(out / "results.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=header)
        writer.writeheader()
        writer.writerows(rows)
    (out / "results.json").write_text(json.dumps(rows, indent=2))
    if plot(rows, out / "results.png"):
        print(f"plot: {out / 'results.png'}")
    return 0


# The benchmark measures the core stack (components with real binaries here).
BENCH_SETTINGS: dict = dict(CORE_ONLY)

if __name__ == "__main__":
    sys.exit(main())
