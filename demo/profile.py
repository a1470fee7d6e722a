"""The demo's names on this machine: addresses, bridge, namespaces, folders.

Imported by inventories/demo.py (inside pyinfra) as well as by the demo command.
"""

from harness.fleet import CACHE, Profile

RUN = CACHE / "demo"            # what `demo down` deletes
KEEP = CACHE / "demo-cache"     # what it keeps for the next `demo up`: apt cache, archives

DEMO = Profile(net="10.78.0", bridge="md-br0", run=RUN, netns_prefix="md-",
               host_prefix="demo", cgroup="monstack-demo",
               proxy_cache=KEEP / "acng-cache", own_proxy_socket=True,
               # Grafana's APT repository (Loki, Alloy) through the proxy, when the
               # machine has internet access
               proxy_passthrough=r"^apt\.grafana\.com:443$", label="demo")

HOSTS = {1: "monitoring", 2: "web", 3: "redis + postgres"}
SSH_KEY = CACHE / "ssh" / "id_ed25519"
MIRROR_PORT = 8000

# pyinfra host data: root over SSH with the fleet's key; the hosts are re-created with
# new host keys, so known_hosts is never read or written
SSH = {
    "ssh_user": "root",
    "ssh_key": str(SSH_KEY),
    "ssh_known_hosts_file": "/dev/null",
    "ssh_strict_host_key_checking": "off",
    "ssh_connect_timeout": 10,
}


def address(index: int) -> str:
    return DEMO.host_ip(index)


def mirror_url() -> str:
    return f"http://{DEMO.controller_ip}:{MIRROR_PORT}"
