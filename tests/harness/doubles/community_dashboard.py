"""A TEST RECORDING shaped like a grafana.com dashboard download: SYNTHETIC, written here
for the tests, not grafana.com content (no real community dashboard is copied).

It has the shape of Grafana's export format ("Export for sharing externally"), which is
what grafana.com serves at /api/dashboards/<id>/revisions/<rev>/download: `__inputs`
(a Prometheus data source input DS_PROMETHEUS and a constant VAR_JOB, optionally a Loki
input DS_LOKI), `__requires`, an empty `__elements`, and `${DS_PROMETHEUS}` in panels,
targets and templating, both as a {"type", "uid"} reference and as the older plain
string. The id below is made up for the tests.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

ID, REVISION = 990017, 3           # made up: the test recording's "grafana.com" id
UID = "test-recording-community"
TITLE = "TEST RECORDING: community-shaped dashboard"


def export(uid: str | None = UID, loki: bool = False, title: str = TITLE) -> dict:
    """The synthetic export (a new dict each call)."""
    prom = {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}
    inputs = [{"name": "DS_PROMETHEUS", "label": "Prometheus", "description": "",
               "type": "datasource", "pluginId": "prometheus", "pluginName": "Prometheus"},
              {"name": "VAR_JOB", "label": "job", "description": "scrape job of the hosts",
               "type": "constant", "value": "node"}]
    panels = [
        {"id": 1, "type": "timeseries", "title": "Targets up", "datasource": dict(prom),
         "gridPos": {"h": 8, "w": 12, "x": 0, "y": 0},
         "targets": [{"datasource": dict(prom), "refId": "A",
                      "expr": 'up{job="$job", instance=~"${instance}"}'}]},
        # the older form: the data source as a plain string
        {"id": 2, "type": "stat", "title": "Targets", "datasource": "${DS_PROMETHEUS}",
         "gridPos": {"h": 8, "w": 12, "x": 12, "y": 0},
         "targets": [{"refId": "A", "expr": 'count(up{job="${job}"})'}]},
    ]
    templating = [
        {"name": "job", "type": "constant", "hide": 2, "query": "${VAR_JOB}",
         "current": {"text": "${VAR_JOB}", "value": "${VAR_JOB}"}},
        {"name": "instance", "type": "query", "datasource": dict(prom), "refresh": 1,
         "query": 'label_values(up{job="$job"}, instance)', "includeAll": True},
    ]
    requires = [{"type": "grafana", "id": "grafana", "name": "Grafana", "version": "10.4.0"},
                {"type": "datasource", "id": "prometheus", "name": "Prometheus",
                 "version": "1.0.0"},
                {"type": "panel", "id": "timeseries", "name": "Time series", "version": ""},
                {"type": "panel", "id": "stat", "name": "Stat", "version": ""}]
    if loki:
        inputs.append({"name": "DS_LOKI", "label": "Loki", "description": "",
                       "type": "datasource", "pluginId": "loki", "pluginName": "Loki"})
        panels.append({"id": 3, "type": "logs", "title": "Logs",
                       "datasource": {"type": "loki", "uid": "${DS_LOKI}"},
                       "gridPos": {"h": 8, "w": 24, "x": 0, "y": 8},
                       "targets": [{"refId": "A", "expr": '{job="$job"}',
                                    "datasource": {"type": "loki", "uid": "${DS_LOKI}"}}]})
        requires.append({"type": "datasource", "id": "loki", "name": "Loki",
                         "version": "1.0.0"})
    model = {
        "__inputs": inputs, "__elements": {}, "__requires": requires,
        "annotations": {"list": [{"builtIn": 1, "enable": True, "hide": True,
                                  "name": "Annotations & Alerts", "type": "dashboard",
                                  "datasource": {"type": "grafana", "uid": "-- Grafana --"}}]},
        "description": "SYNTHETIC test recording in grafana.com's export shape",
        "editable": True, "gnetId": None, "id": None, "links": [], "panels": panels,
        "refresh": "30s", "schemaVersion": 39, "tags": ["test-recording"],
        "templating": {"list": templating},
        "time": {"from": "now-1h", "to": "now"}, "timezone": "", "title": title,
        "version": 7,
    }
    if uid is not None:
        model["uid"] = uid
    return model


def file_name(dashboard_id: int = ID, revision: int = REVISION) -> str:
    """As operations/components/grafana/community.py names it (not imported: a test of
    that module should fail when the name changes)."""
    return f"grafana-dashboard-{dashboard_id}-{revision}.json"


def write(folder: Path, dashboard_id: int = ID, revision: int = REVISION,
          **kw) -> tuple[str, str]:
    """Write the recording as `folder`/<file name>; returns (file name, sha256)."""
    folder.mkdir(parents=True, exist_ok=True)
    data = json.dumps(export(**kw), indent=2).encode()
    name = file_name(dashboard_id, revision)
    (folder / name).write_bytes(data)
    return name, hashlib.sha256(data).hexdigest()


def publish(mirror, **kw) -> dict[str, str]:
    """Put the recording on the artifact mirror (tests/harness/mirror.py's Mirror) under
    grafana-dashboards/; returns its artifact_checksums entry."""
    name, sha = write(Path(mirror.root) / "grafana-dashboards", **kw)
    return {name: sha}
