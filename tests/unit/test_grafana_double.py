"""The Grafana API test double keeps its objects across restarts, as Grafana keeps them in
<[paths] data>/grafana.db: a restart for a plugin or a changed grafana.ini loses nothing."""

from __future__ import annotations

import sqlite3

import pytest

from harness.doubles.grafana_double import GrafanaDouble, _state_file
from operations.components.grafana.api import CREATED, UNCHANGED, GrafanaClient

PROMETHEUS = {"uid": "prometheus", "name": "Prometheus", "type": "prometheus",
              "url": "http://mon1:9090", "access": "proxy", "isDefault": True}


def provision(double, password="first-pw"):
    with GrafanaClient(double.url, basic_auth=("admin", password)) as client:
        return client.provision({"folders": [{"uid": "monstack", "title": "Monitoring"}],
                                 "datasources": [PROMETHEUS]})


def test_objects_and_the_first_admin_password_outlive_a_restart(tmp_path):
    state = str(tmp_path / "grafana.db")
    with GrafanaDouble(admin_password="first-pw", state_file=state) as double:
        assert {action for _, _, action in provision(double)} == {CREATED}
    # a real SQLite file, as Grafana's own database is
    with sqlite3.connect(state) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    # restarted with another admin_password in grafana.ini: Grafana reads it at its first
    # start only, so the old one still logs in and every object is still there
    with GrafanaDouble(admin_password="second-pw", state_file=state) as double:
        assert {action for _, _, action in provision(double)} == {UNCHANGED}
        with GrafanaClient(double.url, basic_auth=("admin", "second-pw"), retries=0) as c:
            assert not c.check_credentials()


def test_without_a_state_file_a_restart_forgets(tmp_path):
    with GrafanaDouble(admin_password="first-pw") as double:
        provision(double)
    with GrafanaDouble(admin_password="first-pw") as double:
        assert {action for _, _, action in provision(double)} == {CREATED}


@pytest.mark.parametrize("ini, expected", [
    ("[paths]\ndata = /var/lib/grafana\n", "/var/lib/grafana/grafana.db"),
    ("[server]\nhttp_port = 3000\n", "data/grafana.db"),   # Grafana's default: data/
])
def test_the_state_file_is_grafana_db_in_the_data_folder(tmp_path, ini, expected):
    config = tmp_path / "grafana.ini"
    config.write_text(ini)
    assert _state_file(str(config)) == expected
