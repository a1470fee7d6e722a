"""Command line for the test fleet: `python3 tests/harness/fleetctl.py up 3 [ARCH [SUITE]]|down|leftovers|ssh K CMD`."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness.fleet import Fleet, Host  # noqa: E402


def main(argv: list[str]) -> int:
    fleet = Fleet()
    cmd = argv[0] if argv else "help"
    if cmd == "up":
        count = int(argv[1]) if len(argv) > 1 else 1
        arch = argv[2] if len(argv) > 2 else "amd64"
        suite = argv[3] if len(argv) > 3 else "bookworm"
        for h in fleet.up(count, arch, suite):
            print(h.name, h.ip, h.arch, h.suite)
        print(f"ssh -i {fleet.key} -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null root@<ip>")
        return 0
    if cmd == "down":
        fleet.down()
        return 0
    if cmd == "leftovers":
        left = fleet.leftovers()
        for item in left:
            print("left behind:", item)
        return 1 if left else 0
    if cmd == "ssh":
        res = Host(int(argv[1]), "amd64", fleet).ssh(" ".join(argv[2:]), check=False)
        sys.stdout.write(res.stdout + res.stderr)
        return res.returncode
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
