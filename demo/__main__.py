"""python3 -m demo up [--artifacts DIR] [-v] | down | status

up      three throw-away local hosts (systemd-nspawn), a local artifact mirror, and the
        whole stack deployed onto them with the real pyinfra CLI (inventories/demo.py);
        prints what to open. Run again, it reuses what runs and the deploy changes nothing.
down    removes the hosts (and their namespaces, links, mounts, cgroups), the bridge, the
        apt proxy, the mirror server and the demo's run folder; keeps download caches.
status  what of the demo runs now.

Needs root on Linux with systemd-nspawn, mmdebstrap and apt-cacher-ng
(./scripts/setup.sh --test).
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import os
import secrets
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from . import REPO
from harness.fleet import CACHE, Fleet, FleetError, Host, native_arch, sh
from harness.mirror import DEB_ARCH_TO_MACHINE
from harness.pyinfra_cli import PYINFRA, parse_results
from harness.stack import install_databases
from operations.stack import BY_NAME

from . import mirror
from .mirror import DemoError
from .profile import DEMO, HOSTS, KEEP, RUN, SSH_KEY, address, mirror_url

INVENTORY = "inventories/demo.py"
GROUP_DATA = RUN / "group_data"
SECRETS = RUN / "secrets.yml"
PASSWORD_SECRET = BY_NAME["grafana_admin_password_secret"].default
DEPLOY_LOG = RUN / "deploy.log"
LOCK = CACHE / "demo.lock"
TOOLS = ("systemd-nspawn", "mmdebstrap", "ip", "/usr/sbin/apt-cacher-ng", "ssh")


def say(msg: str = "") -> None:
    print(msg, flush=True)


def port(component: str) -> int:
    return BY_NAME[f"{component}_port"].default


@contextlib.contextmanager
def phase(name: str, what: str):
    """One step of `up`: a line when it starts, one with its outcome and time."""
    say(f"==> {name}: {what}")
    t0 = time.monotonic()
    outcome = {"summary": "done"}
    yield outcome
    say(f"    {name}: {outcome['summary']} ({time.monotonic() - t0:.1f} s)")


def unavailable() -> str | None:
    """Why this machine cannot run the demo, or None."""
    if not sys.platform.startswith("linux"):
        return "the demo runs on Linux only (its hosts are systemd-nspawn containers)"
    if os.geteuid() != 0:
        return "the demo needs root (it creates network namespaces and containers)"
    for tool in TOOLS:
        if not shutil.which(tool):
            return f"{tool} is not installed: run ./scripts/setup.sh --test"
    return None


def network_conflict() -> str | None:
    """An address or route of this machine already in the demo's network: the demo does
    not touch networks it did not create."""
    for line in sh("ip", "-4", "-o", "addr", "show").stdout.splitlines():
        fields = line.split()
        if fields[3].startswith(DEMO.net + ".") and fields[1] != DEMO.bridge:
            return line
    for line in sh("ip", "-4", "route", "show", "match", address(1)).stdout.splitlines():
        if not line.startswith("default") and f"dev {DEMO.bridge} " not in line + " ":
            return line
    return None


@contextlib.contextmanager
def locked():
    """One demo command at a time (two `up`s would race for the same hosts)."""
    LOCK.parent.mkdir(parents=True, exist_ok=True)
    with open(LOCK, "w") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            say("another demo command is running; waiting for it to finish")
            fcntl.flock(fh, fcntl.LOCK_EX)
        yield


def password_file() -> Path:
    """The demo's secrets file with a generated Grafana admin password (kept while the
    demo's hosts live: Grafana takes the password at its first start only)."""
    RUN.mkdir(parents=True, exist_ok=True)
    if not SECRETS.exists():
        fd = os.open(SECRETS, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write("# written by python3 -m demo up; deleted by python3 -m demo down\n"
                     f"{PASSWORD_SECRET}: '{secrets.token_urlsafe(18)}'\n")
    os.chmod(SECRETS, 0o600)
    return SECRETS


def write_group_data(data: dict) -> Path:
    GROUP_DATA.mkdir(parents=True, exist_ok=True)
    path = GROUP_DATA / "all.py"
    path.write_text("# written by python3 -m demo up: where the demo's components come from\n"
                    + "".join(f"{k} = {v!r}\n" for k, v in data.items()))
    return path


def deploy(verbose: bool) -> tuple[int, str]:
    """The real pyinfra CLI, as a user runs it; its output goes to DEPLOY_LOG."""
    args = ["-y", "--group-data", str(GROUP_DATA), INVENTORY, "deploy.py"]
    say(f"    $ pyinfra {' '.join(args)}")
    say(f"    (pyinfra's output: {DEPLOY_LOG}{'' if verbose else '; -v shows it here'})")
    # the password comes from the demo's secrets file, never from the user's environment
    env = {k: v for k, v in os.environ.items() if k != PASSWORD_SECRET}
    lines = []
    with open(DEPLOY_LOG, "w") as log, subprocess.Popen(
            [*PYINFRA, *args], cwd=REPO, env=env, text=True, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL) as proc:
        for line in proc.stdout:
            log.write(line)
            lines.append(line)
            if verbose:
                sys.stdout.write("      " + line)
                sys.stdout.flush()
        returncode = proc.wait()
    return returncode, "".join(lines)


def start_hosts(fleet: Fleet) -> str:
    """Hosts 1..3 running and answering SSH: the running ones are kept."""
    for host in fleet.reattach():
        if host.index not in HOSTS or host.ssh("true", check=False, timeout=15).returncode:
            fleet.stop(host)
    kept = sorted(fleet.hosts)
    fleet.net_up()
    fleet.proxy_up()
    started = fleet.up(len(HOSTS) - len(kept)) if len(kept) < len(HOSTS) else []
    if sorted(fleet.hosts) != sorted(HOSTS):
        raise DemoError(f"expected hosts {sorted(HOSTS)}, have {sorted(fleet.hosts)}")
    parts = []
    if kept:
        parts.append("reused running " + ", ".join(fleet.hosts[i].name for i in kept))
    if started:
        parts.append("started " + ", ".join(h.name for h in started))
    return "; ".join(parts)


def up(artifacts_dir: Path | None, verbose: bool) -> int:
    t0 = time.monotonic()
    if artifacts_dir and not artifacts_dir.is_dir():
        raise DemoError(f"--artifacts {artifacts_dir}: no such folder")
    conflict = network_conflict()
    if conflict:
        raise DemoError(f"this machine already uses the demo's network {DEMO.net}.0/24 "
                        f"({conflict.strip()}); the demo leaves it alone and stops here")
    fleet = Fleet(DEMO)
    deb_arch = native_arch()
    machine = DEB_ARCH_TO_MACHINE[deb_arch]

    with phase("rootfs", f"Debian 12 base image ({deb_arch}), shared with the test fleet") as p:
        reused = SSH_KEY.with_suffix(".pub").exists() and fleet.base_dir(deb_arch).is_dir()
        base = fleet.ensure_base(deb_arch)
        p["summary"] = f"{'reused' if reused else 'built'} {base}"

    with phase("hosts", f"{len(HOSTS)} systemd hosts on bridge {DEMO.bridge} "
                        f"({DEMO.net}.0/24)") as p:
        p["summary"] = start_hosts(fleet)

    db = fleet.hosts[3]
    with phase("services", f"Redis and PostgreSQL on {db.name}, for their exporters") as p:
        if db.ssh("systemctl is-active redis-server postgresql", check=False).returncode == 0:
            p["summary"] = "already running"
        else:
            install_databases(db)
            p["summary"] = "installed"

    with phase("mirror", f"release archives served at {mirror_url()}") as p:
        sources = mirror.plan(machine, deb_arch, artifacts_dir)
        for s in sources:
            say(f"      {s.note}" if s.how == "skipped" else f"      {s.component}: {s.note}")
        mirror.serve()
        data = mirror.group_data(sources)
        data.update(artifact_cache_dir=str(KEEP / "artifacts"),
                    secrets_file=str(password_file()),
                    grafana_token_dir=str(RUN / "grafana-tokens"))
        write_group_data(data)
        published = sum(1 for s in sources if s.file)
        p["summary"] = f"{published} release files, pid {mirror.server_pid()}"

    with phase("deploy", f"the stack onto {', '.join(h.name for h in fleet.hosts.values())}") as p:
        returncode, output = deploy(verbose)
        changes, errors = parse_results(output)
        if returncode != 0:
            tail = "\n".join("      " + line for line in output.splitlines()[-30:])
            raise DemoError(f"pyinfra exited {returncode}; its last lines:\n{tail}\n"
                            f"(all of it in {DEPLOY_LOG})")
        total = sum(changes.values())
        p["summary"] = "no changes" if total == 0 else f"{total} changes"

    show_urls({s.component for s in sources if s.how != "skipped"}, fleet)
    say(f"\ndemo up took {time.monotonic() - t0:.0f} s")
    return 0


def show_urls(enabled: set[str], fleet: Fleet) -> None:
    mon = address(1)
    say("\nThe stack runs. Open, from this machine:")
    say(f"  Prometheus    http://{mon}:{port('prometheus')}")
    say(f"  Alertmanager  http://{mon}:{port('alertmanager')}")
    if "grafana" in enabled:
        say(f"  Grafana       http://{mon}:{port('grafana')}  user "
            f"{BY_NAME['grafana_admin_user'].default}, password in the secrets file below")
    else:
        say("  Grafana       skipped: no Grafana build could be had (see the mirror step)")
    if "loki" in enabled:
        say(f"  Loki          http://{mon}:{port('loki')} (logs: in Grafana, Explore > Loki)")
    say("Hosts:  " + ", ".join(f"{h.name} {h.ip} ({HOSTS[i]})"
                               for i, h in sorted(fleet.hosts.items())))
    say(f"Secrets file:  {SECRETS} (mode 0600; Grafana's admin password, generated)")
    say(f"Enter a host:  ssh -i {SSH_KEY} -o StrictHostKeyChecking=no "
        f"-o UserKnownHostsFile=/dev/null root@{mon}")
    say(f"Deploy again:  python3 -m demo up   (pyinfra's output: {DEPLOY_LOG})")
    say("Tear down:     python3 -m demo down")


def down() -> int:
    fleet = Fleet(DEMO)
    found = [Host(i, "amd64", fleet).name for i in sorted(fleet.host_dirs())]
    if sh("ip", "link", "show", DEMO.bridge, check=False).returncode == 0:
        found.append(f"bridge {DEMO.bridge}")
    if fleet.proxy_pid():
        found.append(f"apt proxy (pid {fleet.proxy_pid()})")
    if mirror.server_pid():
        found.append(f"mirror server (pid {mirror.server_pid()})")
    if RUN.exists():
        found.append(str(RUN))
    mirror.stop_server()
    fleet.down()
    if not any(item.startswith("mount ") for item in fleet.leftovers()):
        shutil.rmtree(RUN, ignore_errors=True)
    left = fleet.leftovers() + ([f"mirror server pid {mirror.server_pid()}"]
                                if mirror.server_pid() else [])
    for item in left:
        say(f"left behind: {item}")
    if left:
        return 1
    say(f"removed: {', '.join(found)}" if found else "the demo was not running")
    say(f"kept for the next demo up: {KEEP} (apt cache, archives; delete it to reclaim "
        "the space)")
    return 0


def status() -> int:
    fleet = Fleet(DEMO)
    dirs = fleet.host_dirs()
    if not dirs and not fleet.leftovers() and not mirror.server_pid():
        say("The demo is not running (python3 -m demo up starts it).")
        return 0
    for index in sorted(dirs):
        host = Host(index, "amd64", fleet)
        state = "running" if fleet.is_running(host) else "stopped"
        say(f"{host.name} {host.ip} ({HOSTS.get(index, '?')}): {state}")
    proxy = fleet.proxy_pid()
    say(f"apt proxy: {f'pid {proxy}' if proxy else 'not running'}")
    server = mirror.server_pid()
    say(f"mirror: {f'pid {server}, {mirror_url()}' if server else 'not running'}")
    url = f"http://{address(1)}:{port('prometheus')}"
    try:
        with urllib.request.urlopen(url + "/-/ready", timeout=3):
            say(f"Prometheus: {url} answers")
    except OSError:
        say(f"Prometheus: {url} does not answer")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python3 -m demo", description="The monitoring stack on three throw-away "
        "local hosts.", formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("\n\n", 1)[1])
    commands = parser.add_subparsers(dest="command", required=True)
    up_parser = commands.add_parser("up", help="start the hosts and deploy the stack")
    up_parser.add_argument(
        "--artifacts", type=Path, metavar="DIR",
        help="folder of upstream release files (e.g. grafana-<version>.linux-amd64.tar.gz, "
             "loki-linux-amd64.zip) for components the demo cannot download")
    up_parser.add_argument("-v", "--verbose", action="store_true",
                           help="show pyinfra's output as it runs")
    commands.add_parser("down", help="remove everything the demo started")
    commands.add_parser("status", help="show what of the demo runs")
    args = parser.parse_args(argv)

    reason = unavailable()
    if reason:
        say(f"demo {args.command}: {reason}")
        return 2
    with locked():
        try:
            if args.command == "up":
                return up(args.artifacts and args.artifacts.resolve(), args.verbose)
            if args.command == "down":
                return down()
            return status()
        except (DemoError, FleetError) as exc:
            say(f"demo {args.command} failed: {exc}")
        except subprocess.CalledProcessError as exc:
            say(f"demo {args.command} failed: {' '.join(exc.cmd)} exited {exc.returncode}: "
                f"{(exc.stderr or '').strip()}")
        if args.command == "up" and (Fleet(DEMO).leftovers() or mirror.server_pid()):
            say("What was started still runs; python3 -m demo down removes it.")
        return 1


if __name__ == "__main__":
    sys.exit(main())
