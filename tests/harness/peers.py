"""Several hosts running Prometheus and Alertmanager, for unit tests of what each plans:
the Alertmanagers' gossip and the Prometheus replicas."""

from __future__ import annotations

import pytest

from operations.components.alertmanager import server as alertmanager
from operations.base import inventory as context
from operations.components.prometheus import server as prometheus
from operations.stack import validate
from harness.fake_host import FakeHost as Host


@pytest.fixture
def inventory(monkeypatch):
    """plan(this_host, hosts, data=..., per_host=...): plan on `this_host` with `hosts`
    running Prometheus and Alertmanager."""

    def plan(this: Host, hosts: list[Host], data: dict | None = None,
             per_host: dict[str, dict] | None = None):
        known = {h.name: validate(h.name, {**(data or {}), **(per_host or {}).get(h.name, {})})
                 for h in hosts + [this]}
        lookup = lambda h=None: known[(h or this).name]  # noqa: E731
        for module in (context, alertmanager, prometheus):
            monkeypatch.setattr(module, "settings", lookup)
        monkeypatch.setattr(context, "current_host", this)
        for module in (alertmanager, prometheus):
            monkeypatch.setattr(module, "host", this)
            monkeypatch.setattr(module, "hosts_running", lambda c: list(hosts))
        return known[this.name]

    return plan

