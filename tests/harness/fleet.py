"""Throw-away Debian 12 and 13 hosts with systemd as PID 1, for end-to-end tests.

Each host is a `systemd-nspawn --boot` container on an overlayfs copy of a cached
mmdebstrap rootfs, in its own network namespace with one veth on a bridge, reached over
SSH with a key. apt inside the hosts goes through a caching proxy on the bridge (the
hosts have no other way out: ip_forward stays off). Foreign architectures (arm64, armhf)
run under qemu-user-static through binfmt_misc.

Works on a machine without systemd as PID 1 (cgroup v1 hybrid), as root. Every process
it starts is recorded by PID and stopped by PID; nothing is killed by name.

Every name a fleet takes on this machine (addresses, bridge, namespaces, links, cgroups,
machine names, run folder, apt proxy) comes from its Profile, so the test fleet
(`FLEET`, the defaults) and the demo's (demo/profile.py) run side by side. They share
only the cached base rootfs and the SSH key.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

NET = os.environ.get("FLEET_NET", "10.77.0")
BRIDGE = os.environ.get("FLEET_BRIDGE", "hl-br0")
CONTROLLER_IP = f"{NET}.1"
PROXY_PORT = 3142
CACHE = Path(os.environ.get("FLEET_CACHE", "/var/tmp/monstack-fleet"))
RUN = Path(os.environ.get("FLEET_RUN", "/var/tmp/monstack-fleet/run"))
# every host's data disk: a folder of the controller's filesystem bound in (see _start)
DISK = "/srv/disk"
DEBIAN_MIRROR = "http://deb.debian.org"
BASE_PACKAGES = [
    "openssh-server", "systemd-sysv", "dbus", "python3", "sudo", "iproute2",
    "ca-certificates", "curl", "gnupg", "procps",
]
# Bump when customize() changes, so cached rootfs are rebuilt.
BASE_RECIPE_VERSION = "3"
# Debian releases a host can run: Debian 12 (the default) and Debian 13.
SUITES = ("bookworm", "trixie")
DEFAULT_SUITE = "bookworm"
QEMU_NAME = {"arm64": "aarch64", "armhf": "arm", "armel": "arm"}
UNAME_MACHINE = {"amd64": "x86_64", "arm64": "aarch64", "armhf": "armv7l"}
# inotify instances each booted host takes from root's fs.inotify.max_user_instances (its
# systemd, journald, logind, dbus, getty... about 9; Prometheus adds its own): hosts share
# that limit with this machine's root (no user namespaces), and a systemd that gets none
# fails to boot. Counted generously.
INOTIFY_PER_HOST = 16
INOTIFY_SYSCTL = Path("/proc/sys/fs/inotify/max_user_instances")


def log(msg: str, label: str = "fleet") -> None:
    print(f"[{label} {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def sh(*cmd: str, check: bool = True, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, check=check, text=True, capture_output=True, **kw)


def native_arch() -> str:
    return sh("dpkg", "--print-architecture").stdout.strip()


class FleetError(RuntimeError):
    pass


@dataclass(frozen=True)
class Profile:
    """The names one fleet takes on this machine. Host K is `<host_prefix>K` (hostname and
    nspawn --machine) at `<net>.(10+K)`, in netns `<netns_prefix><name>` with the link
    `<netns_prefix>v<K>` on `bridge`; the controller is `<net>.1`."""

    net: str = NET
    bridge: str = BRIDGE
    run: Path = RUN
    netns_prefix: str = "hl-"
    host_prefix: str = "h"
    cgroup: str = "monstack-fleet"
    proxy_cache: Path = CACHE / "acng-cache"
    # apt-cacher-ng's control socket in <run>/acng rather than its default
    # /run/apt-cacher-ng/socket, which a second instance would take over
    own_proxy_socket: bool = False
    # host:port pattern the proxy may tunnel (CONNECT) to, for https APT repositories
    proxy_passthrough: str | None = None
    label: str = "fleet"

    @property
    def controller_ip(self) -> str:
        return f"{self.net}.1"

    def host_ip(self, index: int) -> str:
        return f"{self.net}.{10 + index}"

    def netns(self, host_name: str) -> str:
        return f"{self.netns_prefix}{host_name}"

    def cgroup_tops(self) -> list[Path]:
        return [Path(f"/sys/fs/cgroup/systemd/{self.cgroup}"),
                Path(f"/sys/fs/cgroup/unified/{self.cgroup}")]

    def apt_proxy_conf(self) -> str:
        proxy = f"http://{self.controller_ip}:{PROXY_PORT}"
        conf = f'Acquire::http::Proxy "{proxy}";\n'
        if self.proxy_passthrough:
            conf += f'Acquire::https::Proxy "{proxy}";\n'
        return conf


FLEET = Profile()  # the test fleet


@dataclass
class Host:
    index: int
    arch: str
    fleet: "Fleet"
    suite: str = DEFAULT_SUITE

    @property
    def ip(self) -> str:
        return self.fleet.profile.host_ip(self.index)

    @property
    def name(self) -> str:
        return f"{self.fleet.profile.host_prefix}{self.index}"

    @property
    def dir(self) -> Path:
        return self.fleet.profile.run / "hosts" / self.name

    @property
    def root(self) -> Path:
        return self.dir / "root"

    def ssh(self, command: str, check: bool = True, timeout: float = 120,
            user: str = "root") -> subprocess.CompletedProcess:
        res = subprocess.run(
            ["ssh", *self.fleet.ssh_options(), f"{user}@{self.ip}", command],
            text=True, capture_output=True, timeout=timeout,
        )
        if check and res.returncode != 0:
            raise FleetError(
                f"{self.name} ({self.ip}): `{command}` exited {res.returncode}:\n"
                f"{res.stdout}{res.stderr}")
        return res

    def put_file(self, local: Path, remote: str) -> None:
        subprocess.run(["scp", "-q", *self.fleet.ssh_options(), str(local),
                        f"root@{self.ip}:{remote}"], check=True, timeout=300)


class Fleet:
    """The bridge, the apt proxy, the cached base rootfs and the hosts on them."""

    def __init__(self, profile: Profile = FLEET) -> None:
        self.profile = profile
        self.hosts: dict[int, Host] = {}
        self.key = CACHE / "ssh" / "id_ed25519"

    def log(self, msg: str) -> None:
        log(msg, self.profile.label)

    # -- tooling ---------------------------------------------------------------------
    def ssh_options(self) -> list[str]:
        # Hosts are re-created on old IPs with new host keys: never read or write known_hosts.
        return ["-i", str(self.key), "-o", "StrictHostKeyChecking=no",
                "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
                "-o", "ConnectTimeout=3", "-o", "BatchMode=yes"]

    def _ensure_key(self) -> None:
        self.key.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(self.key.parent, 0o700)
        if not self.key.exists():
            sh("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "monstack-fleet",
               "-f", str(self.key))

    def _ensure_binfmt(self, arch: str) -> None:
        if arch == native_arch():
            return
        if not Path("/proc/sys/fs/binfmt_misc/register").exists():
            sh("mount", "-t", "binfmt_misc", "binfmt_misc", "/proc/sys/fs/binfmt_misc")
        q = QEMU_NAME.get(arch, arch)
        if not Path(f"/proc/sys/fs/binfmt_misc/qemu-{q}").exists():
            sh("update-binfmts", "--enable", f"qemu-{q}")

    # -- base rootfs -----------------------------------------------------------------
    def base_dir(self, arch: str, suite: str = DEFAULT_SUITE) -> Path:
        pub = (self.key.with_suffix(".pub")).read_text()
        key = hashlib.sha256(
            json.dumps([BASE_RECIPE_VERSION, BASE_PACKAGES, arch, pub]).encode()
        ).hexdigest()[:12]
        # Debian 12 bases keep their old names, so caches built before Debian 13 stay valid
        release = "" if suite == DEFAULT_SUITE else f"{suite}-"
        return CACHE / f"base-{release}{arch}-{key}"

    def ensure_base(self, arch: str = "amd64", suite: str = DEFAULT_SUITE) -> Path:
        if suite not in SUITES:
            raise FleetError(f"unknown Debian release {suite!r} (one of {', '.join(SUITES)})")
        self._ensure_key()
        self._ensure_binfmt(arch)
        base = self.base_dir(arch, suite)
        if base.is_dir():
            return base
        # the test fleet and the demo share the base: one builds it, the other waits
        with open(CACHE / f".base-{suite}-{arch}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not base.is_dir():
                self._build_base(base, arch, suite)
        return base

    def _build_base(self, base: Path, arch: str, suite: str) -> None:
        tmp = base.with_name(base.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        t0 = time.monotonic()
        # bookworm-security's armhf index has been seen out of sync with its InRelease on
        # the mirror used here; emulated armhf hosts go without it.
        suites = [f"deb {DEBIAN_MIRROR}/debian {suite} main",
                  f"deb {DEBIAN_MIRROR}/debian {suite}-updates main"]
        if arch != "armhf":
            suites.append(f"deb {DEBIAN_MIRROR}/debian-security {suite}-security main")
        self.log(f"building base rootfs ({suite} {arch}) at {base}")
        res = subprocess.run(
            ["mmdebstrap", "--variant=minbase", f"--arch={arch}",
             f"--include={','.join(BASE_PACKAGES)}", suite, str(tmp), "-"],
            input="\n".join(suites) + "\n", text=True, capture_output=True)
        if res.returncode != 0:
            raise FleetError(f"mmdebstrap failed:\n{res.stderr[-3000:]}")
        self._customize(tmp, arch)
        tmp.rename(base)
        self.log(f"base rootfs ({suite} {arch}) built in {time.monotonic() - t0:.0f} s")

    def _customize(self, root: Path, arch: str) -> None:
        for f in root.glob("etc/ssh/ssh_host_*"):
            f.unlink()  # unique host keys per host, generated at first boot
        (root / "etc/systemd/system/ssh-hostkeys.service").write_text(
            "[Unit]\nDescription=Generate SSH host keys (fleet)\nBefore=ssh.service\n"
            "ConditionPathExists=!/etc/ssh/ssh_host_ed25519_key\n"
            "[Service]\nType=oneshot\nExecStart=/usr/bin/ssh-keygen -A\n"
            "[Install]\nWantedBy=ssh.service\n")
        wants = root / "etc/systemd/system/ssh.service.wants"
        wants.mkdir(parents=True, exist_ok=True)
        (wants / "ssh-hostkeys.service").symlink_to("/etc/systemd/system/ssh-hostkeys.service")
        pub = self.key.with_suffix(".pub").read_text()
        ssh_dir = root / "root/.ssh"
        ssh_dir.mkdir(mode=0o700, exist_ok=True)
        (ssh_dir / "authorized_keys").write_text(pub)
        os.chmod(ssh_dir / "authorized_keys", 0o600)
        # a passwordless-sudo user, for tests of non-root deploys
        sh("chroot", str(root), "useradd", "-m", "-s", "/bin/bash", "-G", "sudo", "deploy")
        dssh = root / "home/deploy/.ssh"
        dssh.mkdir(mode=0o700)
        (dssh / "authorized_keys").write_text(pub)
        sh("chroot", str(root), "chown", "-R", "deploy:deploy", "/home/deploy/.ssh")
        (root / "etc/sudoers.d/deploy").write_text("deploy ALL=(ALL) NOPASSWD:ALL\n")
        os.chmod(root / "etc/sudoers.d/deploy", 0o440)
        apt_conf = root / "etc/apt/apt.conf.d"
        # the test fleet's proxy; hosts of another profile get theirs in _create
        (apt_conf / "01fleet-proxy").write_text(FLEET.apt_proxy_conf())
        (apt_conf / "99fleet-snapshot").write_text(
            'Acquire::Check-Valid-Until "false";\nAcquire::Check-Date "false";\n')
        # small hosts: no recommends (recommended nvme-cli ships a unit that fails here)
        (apt_conf / "99fleet-no-recommends").write_text(
            'APT::Install-Recommends "false";\nAPT::Install-Suggests "false";\n')
        for timer in ("apt-daily.timer", "apt-daily-upgrade.timer"):
            (root / "etc/systemd/system" / timer).symlink_to("/dev/null")
        # no DNS in the lab: an empty resolv.conf makes lookups fail fast
        resolv = root / "etc/resolv.conf"
        if resolv.is_symlink() or resolv.exists():
            resolv.unlink()
        resolv.write_text("# fleet: no DNS; apt goes through the proxy\n")
        (root / "etc/machine-id").write_text("")
        if arch != native_arch():
            # qemu-user: units with LoadCredential= fail with 243/CREDENTIALS; reset it.
            for unit in ("systemd-sysusers", "systemd-tmpfiles-setup-dev",
                         "systemd-tmpfiles-setup", "systemd-tmpfiles-clean",
                         "systemd-sysctl", "systemd-firstboot", "procps"):
                d = root / f"etc/systemd/system/{unit}.service.d"
                d.mkdir(parents=True, exist_ok=True)
                (d / "qemu-user-no-credentials.conf").write_text(
                    "[Service]\nLoadCredential=\n")

    # -- network and proxy -----------------------------------------------------------
    def net_up(self) -> None:
        bridge = self.profile.bridge
        if sh("ip", "link", "show", bridge, check=False).returncode == 0:
            return
        sh("ip", "link", "add", bridge, "type", "bridge")
        sh("ip", "addr", "add", f"{self.profile.controller_ip}/24", "dev", bridge)
        sh("ip", "link", "set", bridge, "up")

    def proxy_up(self) -> None:
        d = self.profile.run / "acng"
        pid = self._read_pid(d / "pid")
        if pid and _alive(pid):
            return
        for sub in ("conf", "log"):
            (d / sub).mkdir(parents=True, exist_ok=True)
        cache = self.profile.proxy_cache  # kept across runs: packages come from disk
        cache.mkdir(parents=True, exist_ok=True)
        # Own minimal config: the stock remap rewrites deb.debian.org to a host that does
        # not resolve here.
        conf = (f"CacheDir: {cache}\nLogDir: {d}/log\nSupportDir: /usr/lib/apt-cacher-ng\n"
                f"BindAddress: {self.profile.controller_ip}\nPort: {PROXY_PORT}\n"
                f"PidFile: {d}/pid\nExThreshold: 4\n")
        if self.profile.own_proxy_socket:
            conf += f"SocketPath: {d}/socket\n"
        if self.profile.proxy_passthrough:
            conf += f"PassThroughPattern: {self.profile.proxy_passthrough}\n"
        (d / "conf/acng.conf").write_text(conf)
        subprocess.Popen(
            ["/usr/sbin/apt-cacher-ng", "-c", str(d / "conf"), "ForeGround=1"],
            stdout=open(d / "stdout", "w"), stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True)
        for _ in range(100):
            if (d / "pid").exists() and (d / "pid").read_text().strip():
                break
            time.sleep(0.1)
        else:
            raise FleetError(f"apt-cacher-ng did not start: {(d / 'stdout').read_text()}")

    # -- hosts -----------------------------------------------------------------------
    def up(self, count: int, arch: str = "amd64", suite: str = DEFAULT_SUITE) -> list[Host]:
        """Start `count` new hosts of `arch` running Debian `suite` and wait until each
        answers SSH."""
        base = self.ensure_base(arch, suite)
        self.net_up()
        self.proxy_up()
        self._ensure_inotify(len(self.host_dirs()) + count)
        t0 = time.monotonic()
        new = []
        for _ in range(count):
            index = next(i for i in range(1, 240) if i not in self.hosts
                         and not Host(i, arch, self).dir.exists())
            host = Host(index, arch, self, suite)
            self.hosts[index] = host
            self._create(host, base)
            self._start(host)
            new.append(host)
        with ThreadPoolExecutor(max_workers=max(1, len(new))) as pool:
            list(pool.map(self._wait_ssh, new))
        self.log(f"{count} {suite} {arch} host(s) up in {time.monotonic() - t0:.1f} s: "
                 + ", ".join(f"{h.name}={h.ip}" for h in new))
        return new

    def _ensure_inotify(self, hosts: int) -> None:
        """Room for `hosts` booted hosts in root's inotify instance limit (the kernel's
        default of 128 fits about a dozen): raised, never lowered."""
        with contextlib.suppress(OSError, ValueError):
            current = int(INOTIFY_SYSCTL.read_text())
            wanted = 128 + INOTIFY_PER_HOST * hosts
            if current < wanted:
                INOTIFY_SYSCTL.write_text(f"{wanted}\n")
                self.log(f"fs.inotify.max_user_instances {current} -> {wanted} "
                         f"(room for {hosts} hosts)")

    def host_dirs(self) -> dict[int, Path]:
        """Index -> folder of every host of this profile on disk, running or not."""
        hosts_dir = self.profile.run / "hosts"
        prefix = self.profile.host_prefix
        found = {}
        if hosts_dir.is_dir():
            for p in hosts_dir.iterdir():
                if p.name.startswith(prefix) and p.name[len(prefix):].isdigit():
                    found[int(p.name[len(prefix):])] = p
        return found

    def is_running(self, host: Host) -> bool:
        """Does the host's launcher (nspawn, rebooting it when it reboots) still run?"""
        launcher = self._read_pid(host.dir / "pid")
        return bool(launcher and _alive(launcher))

    def reattach(self) -> list[Host]:
        """Take over the hosts an earlier process started and that still run; delete the
        folders (mounts, netns, links) of those that no longer do."""
        running = []
        for index, d in sorted(self.host_dirs().items()):
            arch = (d / "arch").read_text().strip() if (d / "arch").exists() else "amd64"
            suite = ((d / "suite").read_text().strip() if (d / "suite").exists()
                     else DEFAULT_SUITE)
            host = Host(index, arch, self, suite)
            if self.is_running(host):
                self.hosts[index] = host
                running.append(host)
            else:
                self._stop_dir(host)
        return running

    def _create(self, host: Host, base: Path) -> None:
        d = host.dir
        for sub in ("upper", "work", "root"):
            (d / sub).mkdir(parents=True, exist_ok=True)
        (d / "arch").write_text(host.arch)
        (d / "suite").write_text(host.suite)
        sh("mount", "-t", "overlay", f"fleet-{host.name}", "-o",
           f"lowerdir={base},upperdir={d}/upper,workdir={d}/work", str(host.root))
        (host.root / "etc/hostname").write_text(host.name + "\n")
        (host.root / "etc/hosts").write_text(
            f"127.0.0.1\tlocalhost\n127.0.1.1\t{host.name}\n"
            f"::1\tlocalhost ip6-localhost ip6-loopback\n{self.profile.controller_ip}\tgw\n")
        (host.root / "etc/machine-id").write_text(os.urandom(16).hex() + "\n")
        proxy_conf = host.root / "etc/apt/apt.conf.d/01fleet-proxy"
        if proxy_conf.read_text() != self.profile.apt_proxy_conf():
            proxy_conf.write_text(self.profile.apt_proxy_conf())
        ns, veth = self.profile.netns(host.name), self._veth(host)
        sh("ip", "netns", "add", ns)
        sh("ip", "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns)
        sh("ip", "link", "set", veth, "master", self.profile.bridge, "up")
        sh("ip", "-n", ns, "addr", "add", f"{host.ip}/24", "dev", "eth0")
        sh("ip", "-n", ns, "link", "set", "eth0", "up")
        sh("ip", "-n", ns, "link", "set", "lo", "up")

    def link(self, host: Host, up: bool) -> None:
        """Cut (or restore) a host's only link, as a pulled cable or a lost Wi-Fi would."""
        sh("ip", "link", "set", self._veth(host), "up" if up else "down")

    def _veth(self, host: Host) -> str:
        return f"{self.profile.netns_prefix}v{host.index}"

    def _cgroup_dirs(self, host: Host) -> list[Path]:
        # nspawn --keep-unit puts the container under its own cgroup: one per host, or two
        # containers share (and fight over) one tree.
        systemd, unified = self.profile.cgroup_tops()
        dirs = [systemd / host.name]
        if Path("/sys/fs/cgroup/unified").is_dir():
            dirs.append(unified / host.name)
        return dirs

    def _start(self, host: Host) -> None:
        d = host.dir
        cgs = " ".join(str(c) for c in self._cgroup_dirs(host))
        for c in self._cgroup_dirs(host):
            c.mkdir(parents=True, exist_ok=True)
        # The launcher joins the host's cgroups, runs nspawn, and boots the host again when
        # it reboots (nspawn exits 133 on reboot). --register=no --keep-unit: there is no
        # machined / system bus here. /proc/sys/net is writable, the rest of /proc/sys is not.
        # CAP_NET_ADMIN (within the host's own network namespace): a container runtime on a
        # host gives its containers network namespaces of their own (tests/harness/containers.py).
        # /srv/disk: a folder of the controller's own filesystem, bound in. The container's
        # root is an overlayfs, which node_exporter's users (the filesystem alerts and
        # panels) leave out as a real server's would not have it; a bound folder is a
        # mount of a real disk filesystem (ext4 here), as a server's data disk is.
        (d / "disk").mkdir(exist_ok=True)
        script = f"""
for c in {cgs}; do echo $$ > "$c/cgroup.procs"; done
echo $$ > {d}/pid
while :; do
  systemd-nspawn --quiet --boot --register=no --keep-unit \\
    --directory={host.root} --machine={host.name} \\
    --network-namespace-path=/run/netns/{self.profile.netns(host.name)} \\
    --link-journal=no --resolv-conf=off --timezone=off --console=read-only \\
    --capability=CAP_NET_ADMIN --bind={d}/disk:{DISK} &
  echo $! > {d}/nspawn.pid
  wait $!; rc=$?
  echo "[fleet] nspawn exited rc=$rc"
  [ $rc -eq 133 ] || break
done
rm -f {d}/nspawn.pid
"""
        env = dict(os.environ, SYSTEMD_NSPAWN_API_VFS_WRITABLE="network")
        subprocess.Popen(["bash", "-c", script], stdout=open(d / "console.log", "w"),
                         stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                         start_new_session=True, env=env)
        for _ in range(50):
            if (d / "pid").exists():
                break
            time.sleep(0.05)

    def _wait_ssh(self, host: Host, timeout: float = 240) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                if host.ssh("true", check=False, timeout=10).returncode == 0:
                    return
            except subprocess.TimeoutExpired:
                pass
            if time.monotonic() > deadline:
                console = (host.dir / "console.log").read_text()[-3000:]
                raise FleetError(f"{host.name}: no SSH after {timeout:.0f} s\n{console}")
            time.sleep(0.3)

    @staticmethod
    def _read_pid(path: Path) -> int | None:
        with contextlib.suppress(OSError, ValueError):
            return int(path.read_text().strip())
        return None

    def stop(self, host: Host | int) -> None:
        """Power a host off (from inside, as machinectl would) and delete it."""
        index = host.index if isinstance(host, Host) else host
        h = self.hosts.pop(index, None) or Host(index, "amd64", self)
        self._stop_dir(h)

    def _stop_dir(self, host: Host) -> None:
        d = host.dir
        launcher = self._read_pid(d / "pid")
        nspawn = self._read_pid(d / "nspawn.pid")
        leader = None
        if nspawn:
            with contextlib.suppress(OSError, ValueError, IndexError):
                leader = int(Path(f"/proc/{nspawn}/task/{nspawn}/children").read_text().split()[0])
        if launcher and _alive(launcher):
            # Power off from inside: SIGTERM to nspawn becomes SIGRTMIN+3 for the
            # container's PID 1, which qemu-user does not deliver on emulated hosts.
            if leader:
                r = sh("nsenter", "-t", str(leader), "-m", "-u", "-i", "-n", "-p", "--",
                       "/bin/systemctl", "poweroff", check=False)
                if r.returncode != 0 and nspawn:
                    _signal(nspawn, 15)
            elif nspawn:
                _signal(nspawn, 15)
            if not _wait_gone(launcher, 30):
                # SIGKILL to nspawn alone would orphan the container; killing the
                # container's PID 1 ends its whole PID namespace.
                self.log(f"{host.name}: still running after 30 s, SIGKILL to its PID 1")
                if leader:
                    _signal(leader, 9)
                if not _wait_gone(launcher, 10):
                    _signal(launcher, 9)
        for _ in range(20):
            if sh("mountpoint", "-q", str(host.root), check=False).returncode != 0:
                break
            if sh("umount", str(host.root), check=False).returncode == 0:
                break
            time.sleep(0.5)
        sh("ip", "netns", "del", self.profile.netns(host.name), check=False)
        sh("ip", "link", "del", self._veth(host), check=False)
        for c in self._cgroup_dirs(host):
            if c.is_dir():
                for sub in sorted(c.rglob("*"), key=lambda p: -len(p.parts)):
                    if sub.is_dir():
                        with contextlib.suppress(OSError):
                            sub.rmdir()
                with contextlib.suppress(OSError):
                    c.rmdir()
        shutil.rmtree(d, ignore_errors=True)

    def down(self) -> None:
        """Stop every host (including ones left by an interrupted run), the proxy, the bridge."""
        for index in sorted(set(self.host_dirs()) | set(self.hosts)):
            h = self.hosts.pop(index, None) or Host(index, "amd64", self)
            self._stop_dir(h)
        pid_file = self.profile.run / "acng/pid"
        pid = self._read_pid(pid_file)
        if pid and _alive(pid):
            _signal(pid, 15)
            _wait_gone(pid, 10)
        with contextlib.suppress(OSError):
            pid_file.unlink()
        sh("ip", "link", "del", self.profile.bridge, check=False)
        for top in self.profile.cgroup_tops():
            with contextlib.suppress(OSError):
                os.rmdir(top)

    def proxy_pid(self) -> int | None:
        """PID of this fleet's running apt proxy, if it runs."""
        pid = self._read_pid(self.profile.run / "acng/pid")
        return pid if pid and _alive(pid) else None

    def leftovers(self) -> list[str]:
        """What a teardown left behind: namespaces, links, mounts, cgroups, processes."""
        p = self.profile
        found = []
        netns = sh("ip", "netns", "list", check=False).stdout
        found += [f"netns {line.split()[0]}" for line in netns.splitlines()
                  if line.startswith(p.netns(p.host_prefix))]
        if sh("ip", "link", "show", p.bridge, check=False).returncode == 0:
            found.append(f"bridge {p.bridge}")
        for line in Path("/proc/mounts").read_text().splitlines():
            if str(p.run / "hosts") in line:
                found.append(f"mount {line.split()[1]}")
        for top in p.cgroup_tops():
            if top.exists():
                found.append(f"cgroup {top}")
        hosts_dir = p.run / "hosts"
        if hosts_dir.is_dir():
            found += [f"host dir {d}" for d in hosts_dir.iterdir()]
        if self.proxy_pid():
            found.append(f"apt proxy pid {self.proxy_pid()}")
        return found


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie child of ours counts as gone
    with contextlib.suppress(OSError):
        if Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] == "Z":
            return False
    return True


def _signal(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def _wait_gone(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.2)
    return not _alive(pid)
