"""Prometheus' OTLP receiver: on where an Alloy of the inventory ships applications' OTLP
metrics to this Prometheus (alloy_otlp), with the flag its version has."""

from __future__ import annotations

import re

from pyinfra import host

from operations.base.install import debian_package
from operations.base.schema import SettingsError, version_tuple
from operations.components import alloy

NAME = "prometheus"


# Prometheus' OTLP receiver (POST /api/v1/otlp/v1/metrics), for the applications' metrics
# the Alloys of the inventory forward (alloy_otlp): --web.enable-otlp-receiver from 3.0.0
# (cmd/prometheus/main.go at v3.0.0 and v3.5.0); before, the feature flag
# otlp-write-receiver, from 2.47.0 to 2.55.x (cmd/prometheus/main.go at v2.47.0, v2.53.0,
# v2.55.0; absent at v2.46.0).
OTLP_RECEIVER_SINCE = (3, 0, 0)
OTLP_FEATURE_SINCE = (2, 47, 0)


def otlp_receiver_flags(version: str | None, where: str) -> list[str]:
    """The flag that turns the OTLP receiver on in Prometheus `version`; a SettingsError
    naming the versions for an older one (`where`: which Prometheus, for the message)."""
    numbers = version_tuple(re.sub(r"^\d+:", "", version or ""))
    if numbers >= OTLP_RECEIVER_SINCE:
        return ["--web.enable-otlp-receiver"]
    if numbers >= OTLP_FEATURE_SINCE:
        return ["--enable-feature=otlp-write-receiver"]
    raise SettingsError(
        f"{where}: the Alloys with alloy_otlp forward applications' metrics to this "
        "Prometheus' OTLP receiver, which Prometheus has from 2.47.0 (feature flag "
        f"otlp-write-receiver) and 3.0.0 (--web.enable-otlp-receiver); {version or 'an unknown version'} "
        "has none: use a newer prometheus_version (archive method), set alloy_metrics_url "
        "on those hosts to another OTLP receiver, or set alloy_otlp = False")


def receiver_flags(s) -> list[str]:
    """This Prometheus' OTLP receiver flag when an Alloy of the inventory ships OTLP
    metrics to it: every replica of the HA group an Alloy ships to receives, so the
    replicas hold the same series."""
    if not alloy.receives_otlp(host):
        return []
    if s.prometheus_install_method == "package":
        raise SettingsError(
            f"host {host.name}: the Alloys with alloy_otlp forward applications' metrics to "
            f"this Prometheus' OTLP receiver, which Debian's {debian_package(NAME)} package "
            "is built without (disabled since 2.53.1+ds-1 until the OpenTelemetry Collector "
            "libraries are in Debian, Debian bug #1080354; 3.5.3+ds1 in sid refuses "
            "--web.enable-otlp-receiver): use prometheus_install_method = 'archive', set "
            "alloy_metrics_url on those hosts to another OTLP receiver, or set alloy_otlp = "
            "False")
    return otlp_receiver_flags(s.prometheus_version,
                               f"host {host.name}: prometheus_version {s.prometheus_version}")
