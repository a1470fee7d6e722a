#!/usr/bin/env bash
# Set up this machine as a controller: Python packages for pyinfra and the deploy.
# With --test, also the Debian packages the test fleet needs (run as root on Debian 12):
# systemd-nspawn hosts, mmdebstrap rootfs, an apt proxy, qemu-user for emulated ARM hosts.
# Idempotent and quick when everything is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

want_test=0
[ "${1:-}" = "--test" ] && want_test=1

if [ "$want_test" = 1 ]; then
  pkgs=(mmdebstrap systemd-container apt-cacher-ng openssh-client curl iproute2
        qemu-user-static binfmt-support arch-test dpkg-dev)
  missing=()
  for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "installing Debian packages: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
  python3 -m pip install -q --root-user-action=ignore -r requirements-dev.txt
else
  python3 -m pip install -q --root-user-action=ignore -r requirements.txt
fi
