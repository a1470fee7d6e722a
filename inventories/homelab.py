"""Example inventory: a homelab with a Raspberry Pi.

The Pi's architecture is read from the host (`uname -m`: aarch64 on a 64-bit Raspberry Pi
OS, armv7l/armv6l on 32-bit ones) and the matching upstream archive is picked. For a
component upstream does not build for that architecture, use the distribution's package:
`<component>_install_method = "package"` (here in the host's data). Few sha256 of the
32-bit (armv7/armv6) archives are pinned: give them in artifact_checksums, or set
artifact_checksums_from_release = True to verify them against their release's own
checksum file (README, "Raspberry Pis": what that trusts).
"""

monitoring = [("nas.lan", {"ssh_user": "pi"})]

nodes = [
    ("pi-zero.lan", {"ssh_user": "pi", "_sudo": True,
                     # an armv6 board: Debian's package is the simplest source
                     "node_exporter_install_method": "package"}),
    ("pi4.lan", {"ssh_user": "pi", "_sudo": True}),
]
