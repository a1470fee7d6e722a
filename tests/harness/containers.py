"""Real containers on a fleet host, for cAdvisor to measure: containerd and runc from the
host's own Debian release, an image built here from the host's busybox-static (there is
no registry to pull from), and containers run with `ctr` in containerd's `k8s.io`
namespace, where cAdvisor's containerd support looks for them.

Two things differ from a real server, both because the fleet hosts are systemd-nspawn
containers on a machine with cgroup v1 controllers; neither touches the deploy:
- nspawn mounts the v1 controllers read-only inside the host: they are remounted
  read-write so that runc can create the containers' cgroups (still under the host's own
  cgroup on this machine, as the host sees its cgroups through a cgroup namespace);
- nspawn's seccomp filter refuses new session keyrings: runc creates without one
  (`--no-new-keyring`, through a wrapper given to `ctr --runc-binary`).
There is no CNI here: a container gets a network namespace of its own with one veth link
to the host (`network=True`), as a bridge network gives it, so that it has an interface
that cAdvisor counts (it leaves out the loopback).
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path

from .fleet import Host

IMAGE = "monstack.test/busybox:1"
# busybox applets the containers use (symlinks to the one static binary)
APPLETS = ("sh", "sleep", "dd", "cat", "true")
NAMESPACE = "k8s.io"
SANDBOX_LABEL = "io.cri-containerd.kind=sandbox"
RUNC_WRAPPER = "/usr/local/sbin/runc-without-keyring"
RUNC_WRAPPER_SCRIPT = """#!/bin/sh
# systemd-nspawn refuses new session keyrings: create containers without one
n=$#
for arg in "$@"; do
  set -- "$@" "$arg"
  [ "$arg" = create ] && set -- "$@" --no-new-keyring
done
shift "$n"
exec /usr/sbin/runc "$@"
"""


def container_id(name: str) -> str:
    """A container id cAdvisor recognises: its containerd support takes only cgroups whose
    name holds 64 characters of [a-z0-9] (as kubelet's ids do); cAdvisor then reports the
    id as the container's `name` label."""
    return hashlib.sha256(name.encode()).hexdigest()


def image_archive(busybox: bytes, arch: str) -> bytes:
    """A `docker save` style archive of a one-layer image holding busybox and its
    applets, as `ctr images import` reads it."""
    layer = io.BytesIO()
    with tarfile.open(fileobj=layer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for folder in ("bin", "tmp"):
            entry = tarfile.TarInfo(folder)
            entry.type, entry.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(entry)
        entry = tarfile.TarInfo("bin/busybox")
        entry.size, entry.mode = len(busybox), 0o755
        tar.addfile(entry, io.BytesIO(busybox))
        for applet in APPLETS:
            entry = tarfile.TarInfo(f"bin/{applet}")
            entry.type, entry.linkname = tarfile.SYMTYPE, "busybox"
            tar.addfile(entry)
    layer_bytes = layer.getvalue()
    config = json.dumps({
        "architecture": arch, "os": "linux",
        "config": {"Cmd": ["/bin/sleep", "infinity"], "Env": ["PATH=/bin"]},
        "rootfs": {"type": "layers",
                   "diff_ids": ["sha256:" + hashlib.sha256(layer_bytes).hexdigest()]},
    }).encode()
    config_name = hashlib.sha256(config).hexdigest() + ".json"
    manifest = json.dumps([{"Config": config_name, "RepoTags": [IMAGE],
                            "Layers": ["layer.tar"]}]).encode()
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w") as tar:
        for name, data in (("layer.tar", layer_bytes), (config_name, config),
                           ("manifest.json", manifest)):
            entry = tarfile.TarInfo(name)
            entry.size, entry.mode = len(data), 0o644
            tar.addfile(entry, io.BytesIO(data))
    return archive.getvalue()


class ContainerRuntime:
    """containerd on one fleet host, and the containers run on it."""

    def __init__(self, host: Host, workdir: Path):
        self.host = host
        self.workdir = workdir
        self.containers_with_network = 0

    def install(self) -> "ContainerRuntime":
        self.host.ssh(
            "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "
            "--no-install-recommends containerd runc busybox-static >/dev/null "
            "&& systemctl is-active containerd", timeout=600)
        # the v1 controllers read-write (see the module's docstring); a busy one is
        # mounted afresh
        self.host.ssh(
            "for c in $(awk '$3 == \"cgroup\" && $4 ~ /^ro,/ {print $2}' /proc/mounts); do "
            "  mount -o remount,rw \"$c\" 2>/dev/null || { umount \"$c\" && "
            "  mount -t cgroup -o \"$(basename \"$c\")\" cgroup \"$c\"; }; done; "
            "! grep -q ' cgroup ro,' /proc/mounts")
        wrapper = self.workdir / "runc-without-keyring"
        wrapper.write_text(RUNC_WRAPPER_SCRIPT)
        self.host.put_file(wrapper, RUNC_WRAPPER)
        self.host.ssh(f"chmod 755 {RUNC_WRAPPER}")
        # the host's root is an overlay mounted here: its busybox read directly
        busybox = (self.host.root / "usr/bin/busybox").read_bytes()
        archive = self.workdir / "image.tar"
        archive.write_bytes(image_archive(busybox, self.host.arch))
        self.host.put_file(archive, "/root/monstack-test-image.tar")
        self.host.ssh(f"ctr -n {NAMESPACE} images import /root/monstack-test-image.tar "
                      ">/dev/null")
        return self

    def run(self, name: str, command: str, memory_limit: int | None = None,
            network: bool = False) -> str:
        """Start container `name` running `command` (busybox sh); return its id. With
        `network`, the container's namespace gets eth0, a veth link to the host."""
        cid = container_id(name)
        options = f"--memory-limit {memory_limit} " if memory_limit else ""
        if network:
            # cAdvisor reports network statistics of containerd's containers only for a
            # pod's sandbox, the container owning the pod's network namespace
            options += f"--label {SANDBOX_LABEL} "
        self.host.ssh(
            f"ctr -n {NAMESPACE} run -d --snapshotter native "
            f"--runc-binary {RUNC_WRAPPER} {options}{IMAGE} {cid} /bin/sh -c '{command}' "
            ">/dev/null")
        if network:
            self.containers_with_network += 1
            n = self.containers_with_network
            self.host.ssh(
                f"pid=$(ctr -n {NAMESPACE} task ls | awk '$1 == \"{cid}\" {{print $2}}') && "
                f"ip link add mc{n} type veth peer name eth0 netns $pid && "
                f"ip addr add 10.254.{n}.1/30 dev mc{n} && ip link set mc{n} up && "
                f"nsenter -t $pid -n sh -c 'ip addr add 10.254.{n}.2/30 dev eth0 && "
                f"ip link set eth0 up && ip link set lo up'")
        return cid

    def restart(self, name: str) -> None:
        """Stop the container's task and start a new one (a new cgroup, a new start time),
        as a restart policy does after a crash."""
        cid = container_id(name)
        self.host.ssh(f"ctr -n {NAMESPACE} task kill -s KILL {cid}; "
                      f"ctr -n {NAMESPACE} task delete {cid} >/dev/null "
                      f"|| {{ sleep 1; ctr -n {NAMESPACE} task delete -f {cid} >/dev/null; }}; "
                      f"ctr -n {NAMESPACE} task start -d {cid} >/dev/null")
