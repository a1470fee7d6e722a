"""A downgrade across a data-format line is refused before anything changes.

Some releases write data their predecessors cannot read, and upstream says so (Prometheus'
migration guide, VictoriaMetrics' release notes). The archive method replacing such a
program by an older one would leave a service that cannot open its data folder; the
deploy stops first, naming both versions and the setting that allows it on purpose.
"""

from __future__ import annotations

from dataclasses import dataclass

from operations.base.schema import version_tuple


@dataclass(frozen=True)
class DataFormatLine:
    """Data written by `written_since` or later is read by `read_since` or later only."""
    written_since: tuple[int, ...]
    read_since: tuple[int, ...]
    writer: str          # who wrote it, for the message: "Prometheus 3"


def dotted(version: tuple[int, ...]) -> str:
    return ".".join(map(str, version))


def downgrade_refusal(component: str, label: str, wanted: str, installed: str | None,
                      line: DataFormatLine, data_dir: str, host_name: str) -> str | None:
    """Why installing `wanted` where `installed` runs is refused (None: it is not)."""
    if not installed or version_tuple(wanted) >= line.read_since:
        return None
    if version_tuple(installed) < line.written_since:
        return None
    short = dotted(line.read_since[:2]) if line.read_since[2:] == (0,) else \
        dotted(line.read_since)
    return (f"{component}_version {wanted} on {host_name}: {label} {installed} runs there, "
            f"and a {label} older than {dotted(line.read_since)} cannot read the data "
            f"{line.writer} wrote in {data_dir}; go to {short} or later, or set "
            f"{component}_allow_downgrade = True on purpose (after moving the data away); "
            "nothing was changed")
