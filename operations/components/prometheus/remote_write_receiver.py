"""Prometheus' remote-write receiver: on where an Alloy of the inventory ships applications'
OTLP metrics to this Prometheus (alloy_otlp). Alloy translates them to Prometheus samples
(otelcol.exporter.prometheus) and writes them with prometheus.remote_write to
POST /api/v1/write."""

from __future__ import annotations

from pyinfra import host

from operations.components import alloy

# --web.enable-remote-write-receiver: from 2.33.0 on (cmd/prometheus/main.go at v2.33.0;
# before, the feature flag remote-write-receiver, deprecated since), so in every version
# the stack installs (floor 2.42.0, server.py's release entry) and in every Debian build
# (bookworm 2.42, trixie 2.53, sid 3.5.3 list it in --help; Debian disabled the OTLP
# endpoint, not this one).
FLAG = "--web.enable-remote-write-receiver"


def receiver_flags(s) -> list[str]:
    """This Prometheus' remote-write receiver flag when an Alloy of the inventory ships
    applications' metrics to it: every replica of the HA group an Alloy ships to
    receives, so the replicas hold the same series."""
    if not alloy.receives_otlp(host) or FLAG in s.prometheus_extra_flags:
        return []
    return [FLAG]
