"""What the unit tests of Grafana's provisioning plan with: the settings of Grafana host mon1
as provisioning sees them, a small fake inventory around it (with stand-ins for pyinfra's
host and python operations) and the GRAFANA API TEST DOUBLE, its admin password in the
environment."""

from __future__ import annotations

from contextlib import contextmanager

from harness.doubles.grafana_double import GrafanaDouble
from harness.fake_host import FakeHost
from harness.settings import settings_builder
from operations.components.grafana import provisioning as gp

PASSWORD = "s3cret-Grafana-admin"
# the port of each component the fake inventory may run
PORTS = {"prometheus": 9090, "alertmanager": 9093, "loki": 3100, "grafana": 3000,
         "jaeger": 16686}


class FakePython:
    """Stands in for pyinfra.operations.python: records the operations planned."""

    def __init__(self):
        self.calls: list[dict] = []

    def call(self, **kw):
        self.calls.append(kw)


@contextmanager
def running_double(monkeypatch):
    """The Grafana API test double, its admin password PASSWORD (in GRAFANA_ADMIN_PASSWORD
    too, where the deploy looks for it)."""
    monkeypatch.setenv("GRAFANA_ADMIN_PASSWORD", PASSWORD)
    with GrafanaDouble(admin_password=PASSWORD) as double:
        yield double


def grafana_settings(monkeypatch, tmp_path, **kw):
    """build(data): the validate()d settings of Grafana host mon1, which provisioning sees
    too (harness.settings.settings_builder, `kw` its keywords)."""
    return settings_builder(monkeypatch, tmp_path, "mon1", seen_by=(gp,), **kw)


def fake_inventory(monkeypatch) -> dict:
    """Prometheus and Alertmanager on mon1, as provisioning sees them: `running` (component
    -> its hosts) can be edited; `host` and `python` are the fakes it plans with."""
    running = {"prometheus": [FakeHost("mon1")], "alertmanager": [FakeHost("mon1")]}
    monkeypatch.setattr(gp, "hosts_running", lambda c: list(running.get(c, [])))
    monkeypatch.setattr(gp, "endpoint", lambda c, h: f"{h.name}:{PORTS[c]}")
    monkeypatch.setattr(gp, "_found", {})
    fake_host, fake_python = FakeHost("mon1"), FakePython()
    monkeypatch.setattr(gp, "host", fake_host)
    monkeypatch.setattr(gp, "python", fake_python)
    return {"running": running, "host": fake_host, "python": fake_python}
