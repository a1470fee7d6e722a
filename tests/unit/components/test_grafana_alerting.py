"""Grafana-managed alerting: its settings and their checks, the plan, and the API calls
(contact points, notification policy tree, message templates) against the GRAFANA API TEST
DOUBLE over real HTTP on 127.0.0.1, including what the double answers per Grafana's docs
(status codes, provenance and X-Disable-Provenance)."""

from __future__ import annotations

import logging

import pytest
import requests

from harness.fake_host import FakeHost
from harness.grafana_planning import PASSWORD, fake_inventory, running_double, grafana_settings
from operations.base.schema import SettingsError
from operations.components.grafana import alerting, alerting_calls, provisioning as gp
from operations.components.grafana.api import CREATED, UNCHANGED, UPDATED, GrafanaClient
from operations.components.grafana.ownership import MARK_KEY
from operations.stack import validate

SLACK_URL = "https://hooks.slack.example/T0/B0/first-secret-value"
SLACK_URL_2 = "https://hooks.slack.example/T0/B0/second-secret-value"
TEMPLATE = '{{ define "ops.title" }}[{{ .Status }}] {{ .CommonLabels.alertname }}{{ end }}'
POLICY = {"receiver": "ops", "group_by": ["alertname"], "group_wait": "30s",
          "repeat_interval": "240m",
          "routes": [{"receiver": "pager", "object_matchers": [["severity", "=", "critical"]],
                      "group_interval": "300s"}]}
CONTACT_POINTS = [
    {"name": "ops", "type": "slack",
     "settings": {"url_secret": "SLACK_URL", "recipient": "#ops",
                  "title": '{{ template "ops.title" . }}'}},
    {"name": "pager", "type": "webhook", "uid": "pager-hook",
     "settings": {"url": "http://pager.example/hook"}, "disableResolveMessage": True},
]
ALERTING = {"grafana_alerting_enabled": True, "grafana_contact_points": CONTACT_POINTS,
            "grafana_notification_policy": POLICY,
            "grafana_message_templates": {"ops": TEMPLATE}}


@pytest.fixture
def double(monkeypatch):
    monkeypatch.setenv("SLACK_URL", SLACK_URL)
    with running_double(monkeypatch) as d:
        yield d


@pytest.fixture
def client(double):
    with GrafanaClient(double.url, basic_auth=("admin", PASSWORD), timeout=2, retries=0) as c:
        yield c


@pytest.fixture
def host_settings(monkeypatch, tmp_path):
    return grafana_settings(monkeypatch, tmp_path, grafana_token_dir=str(tmp_path / "tokens"),
                            grafana_service_account="")


@pytest.fixture
def inventory(monkeypatch):
    return fake_inventory(monkeypatch)


def problems(data: dict) -> list[str]:
    with pytest.raises(SettingsError) as exc:
        validate("mon1", data)
    return str(exc.value)


# -- settings --------------------------------------------------------------------------------
def test_alerting_is_off_by_default_and_pruning_on():
    s = validate("mon1", {})
    assert s.grafana_alerting_enabled is False and s.grafana_contact_points == []
    assert s.grafana_notification_policy is None and s.grafana_message_templates == {}
    assert s.grafana_alertmanager_external is False and s.grafana_prune is True
    assert validate("mon1", ALERTING).grafana_notification_policy == POLICY


@pytest.mark.parametrize("data, words", [
    ({"grafana_contact_points": CONTACT_POINTS},
     "grafana_contact_points is set but grafana_alerting_enabled is false"),
    ({"grafana_alertmanager_external": True},
     "grafana_alertmanager_external is set but grafana_alerting_enabled is false"),
    ({**ALERTING, "grafana_notification_policy": {"receiver": "nobody"}},
     "receiver 'nobody' is no contact point of grafana_contact_points"),
    ({**ALERTING, "grafana_notification_policy": {**POLICY, "group_wait": "soon"}},
     "group_wait 'soon' is not a duration"),
    ({**ALERTING, "grafana_notification_policy": {**POLICY, "routes": [
        {"receiver": "ops", "object_matchers": [["severity", "==", "x"]]}]}},
     "routes[1]: object_matchers takes [label, operator, value]"),
    ({**ALERTING, "grafana_notification_policy": {**POLICY, "matchers": ["a=b"]}},
     "unknown key(s) matchers"),
    ({**ALERTING, "grafana_notification_policy": {"group_by": ["x"]}},
     "the root needs a receiver"),
    ({**ALERTING, "grafana_contact_points": [CONTACT_POINTS[0], CONTACT_POINTS[0]]},
     "uids monstack-ops are taken twice"),
    ({**ALERTING, "grafana_contact_points": [{"name": "x", "type": "slack",
                                              "settings": {MARK_KEY: "y"}}]},
     f"the setting {MARK_KEY} is the deploy's own"),
    ({**ALERTING, "grafana_contact_points": [{"name": "x"}]}, "needs a name and a type"),
    ({**ALERTING, "grafana_contact_points": [{"name": "x", "type": "slack",
                                              "settings": {"url_secret": 3}}]},
     "url_secret names a secret"),
    ({**ALERTING, "grafana_message_templates": {"ops": ""}}, "needs a name (without /)"),
])
def test_settings_problems_name_the_setting_and_the_cause(data, words):
    assert words in problems(data)


def test_model_durations_are_grafanas():
    assert [alerting.model_duration(d) for d in ("300s", "24h", "168h", "90m", "8d", "1500ms",
                                                 "30s")] == \
        ["5m", "1d", "1w", "1h30m", "8d", "1s500ms", "30s"]


def test_the_plan_reads_secrets_and_normalises_the_tree(host_settings, inventory, monkeypatch):
    monkeypatch.setenv("SLACK_URL", SLACK_URL)
    s = host_settings({**ALERTING, "grafana_alertmanager_external": True})
    plan = gp.wanted(s, FakeHost("mon1"))
    ops, pager = plan["contact_points"]
    assert ops == {"uid": "monstack-ops", "name": "ops", "type": "slack",
                   "settings": {"url": SLACK_URL, "recipient": "#ops",
                                "title": '{{ template "ops.title" . }}'},
                   "disableResolveMessage": False}
    assert pager["uid"] == "pager-hook" and pager["disableResolveMessage"] is True
    assert plan["policy"]["repeat_interval"] == "4h"
    assert plan["policy"]["routes"][0]["group_interval"] == "5m"
    assert plan["templates"] == {"ops": TEMPLATE}
    am = next(d for d in plan["datasources"] if d["uid"] == "alertmanager")
    assert am["jsonData"] == {"implementation": "prometheus", "handleGrafanaManagedAlerts": True}
    assert gp.objects(plan)[-4:] == [("template", "ops"), ("contact_point", "monstack-ops"),
                                     ("contact_point", "pager-hook"),
                                     ("notification_policy", "root")]


def test_off_means_no_alerting_in_the_plan(host_settings, inventory):
    plan = gp.wanted(host_settings(), FakeHost("mon1"))
    assert not {"contact_points", "policy", "templates"} & set(plan)
    am = next(d for d in plan["datasources"] if d["uid"] == "alertmanager")
    assert "handleGrafanaManagedAlerts" not in am["jsonData"]


def test_a_missing_secret_is_refused_naming_it(host_settings, inventory, monkeypatch):
    monkeypatch.delenv("SLACK_URL", raising=False)
    with pytest.raises(SettingsError, match="secret SLACK_URL .*Grafana contact point ops"):
        gp.wanted(host_settings(ALERTING), FakeHost("mon1"))


def test_external_alertmanager_needs_one(host_settings, inventory, monkeypatch):
    monkeypatch.setenv("SLACK_URL", SLACK_URL)
    inventory["running"]["alertmanager"] = []
    with pytest.raises(SettingsError, match="no Alertmanager in the inventory"):
        gp.wanted(host_settings({**ALERTING, "grafana_alertmanager_external": True}),
                  FakeHost("mon1"))


# -- the double, as Grafana's docs describe it ---------------------------------------------
def api(double, method, path, body=None, **headers):
    return requests.request(method, f"{double.url}{path}", json=body, headers=headers,
                            auth=("admin", PASSWORD), timeout=5)


def test_double_fresh_grafana_has_its_default_tree_and_contact_point(double):
    tree = api(double, "GET", "/api/v1/provisioning/policies").json()
    assert tree == {"receiver": "grafana-default-email",
                    "group_by": ["grafana_folder", "alertname"]}     # no provenance: none
    (cp,) = api(double, "GET", "/api/v1/provisioning/contact-points").json()
    assert cp["name"] == "grafana-default-email" and "provenance" not in cp
    assert api(double, "GET", "/api/v1/provisioning/templates").json() == []
    assert api(double, "GET", "/api/v1/provisioning/templates/none").status_code == 404


def test_double_provenance_and_the_disable_header(double):
    body = {"uid": "c1", "name": "c1", "type": "webhook", "settings": {"url": "http://x"}}
    assert api(double, "POST", "/api/v1/provisioning/contact-points", body,
               **{"X-Disable-Provenance": "true"}).status_code == 202
    (cp,) = [c for c in api(double, "GET", "/api/v1/provisioning/contact-points").json()
             if c["uid"] == "c1"]
    assert "provenance" not in cp                     # editable in the UI
    assert api(double, "PUT", "/api/v1/provisioning/contact-points/c1", body).status_code == 202
    (cp,) = [c for c in api(double, "GET", "/api/v1/provisioning/contact-points").json()
             if c["uid"] == "c1"]
    assert cp["provenance"] == "api"                  # none -> api is allowed
    back = api(double, "PUT", "/api/v1/provisioning/contact-points/c1", body,
               **{"X-Disable-Provenance": ""})       # presence counts, not the value
    assert back.status_code == 409 and "provenance" in back.json()["message"]


def test_double_templates_policies_and_deletes(double):
    put = api(double, "PUT", "/api/v1/provisioning/templates/t1", {"template": TEMPLATE})
    assert put.status_code == 202
    stored = put.json()
    assert stored["name"] == "t1" and stored["provenance"] == "api" and stored["version"]
    stale = api(double, "PUT", "/api/v1/provisioning/templates/t1",
                {"template": TEMPLATE + " ", "version": "0000"})
    assert stale.status_code == 409
    assert api(double, "PUT", "/api/v1/provisioning/templates/t1",
               {"template": "x", "version": stored["version"]}).status_code == 202
    deleted = api(double, "DELETE", "/api/v1/provisioning/templates/t1")
    assert deleted.status_code == 204 and deleted.content == b""

    unknown = api(double, "PUT", "/api/v1/provisioning/policies", {"receiver": "nobody"})
    assert unknown.status_code == 400 and "nobody" in unknown.json()["message"]
    api(double, "POST", "/api/v1/provisioning/contact-points",
        {"uid": "c1", "name": "c1", "type": "webhook", "settings": {"url": "http://x"}})
    assert api(double, "PUT", "/api/v1/provisioning/policies",
               {"receiver": "c1", "group_wait": "300s"}).status_code == 202
    assert api(double, "GET", "/api/v1/provisioning/policies").json()["group_wait"] == "5m"
    in_use = api(double, "DELETE", "/api/v1/provisioning/contact-points/c1")
    assert in_use.status_code == 409
    assert api(double, "DELETE", "/api/v1/provisioning/policies").status_code == 202
    assert api(double, "DELETE", "/api/v1/provisioning/contact-points/c1").status_code == 202


# -- the client ------------------------------------------------------------------------------
def test_template_create_unchanged_update_with_version(double, client):
    assert alerting_calls.ensure_template(client, "ops", TEMPLATE) == CREATED
    version = double.state.templates["ops"]["version"]
    double.clear_log()
    assert alerting_calls.ensure_template(client, "ops", TEMPLATE) == UNCHANGED and double.writes() == []
    assert alerting_calls.ensure_template(client, "ops", TEMPLATE + "\n") == UPDATED
    (put,) = double.writes()
    assert put.body == {"template": TEMPLATE + "\n", "version": version}


def test_policy_tree_is_compared_as_grafana_answers(double, client):
    client.ensure_contact_point({"uid": "u-ops", "name": "ops", "type": "webhook",
                                 "settings": {"url": "http://x"}})
    client.ensure_contact_point({"uid": "u-pager", "name": "pager", "type": "webhook",
                                 "settings": {"url": "http://y"}})
    tree = alerting.policy_tree(POLICY)
    assert alerting_calls.ensure_policy_tree(client, tree) == UPDATED
    double.clear_log()
    assert alerting_calls.ensure_policy_tree(client, tree) == UNCHANGED and double.writes() == []
    changed = {**tree, "group_by": ["alertname", "instance"]}
    assert alerting_calls.ensure_policy_tree(client, changed) == UPDATED
    assert double.state.policy["group_by"] == ["alertname", "instance"]


def plan_of(points, **more) -> dict:
    return {"contact_points": points, **more}


def test_a_secret_is_sent_again_only_when_it_changed(double, client, caplog):
    caplog.set_level(logging.DEBUG)
    spec = {"uid": "monstack-ops", "name": "ops", "type": "slack",
            "settings": {"url": SLACK_URL, "recipient": "#ops"}}
    assert client.provision(plan_of([spec])) == [("contact_point", "monstack-ops", CREATED)]
    stored = double.state.contact_points["monstack-ops"]["settings"]
    assert stored["url"] == SLACK_URL and stored[MARK_KEY].startswith("monstack-ops:")
    listed = [c for c in client.list_contact_points() if c["uid"] == "monstack-ops"][0]
    assert listed["settings"]["url"] == "[REDACTED]"
    assert listed["settings"][MARK_KEY] == stored[MARK_KEY]   # returned as stored

    double.clear_log()
    assert client.provision(plan_of([spec])) == [("contact_point", "monstack-ops", UNCHANGED)]
    assert double.writes() == []

    rotated = {**spec, "settings": {**spec["settings"], "url": SLACK_URL_2}}
    with GrafanaClient(double.url, basic_auth=("admin", PASSWORD), dry_run=True) as dry:
        assert dry.provision(plan_of([rotated])) == [("contact_point", "monstack-ops", UPDATED)]
    assert double.writes() == []
    assert client.provision(plan_of([rotated])) == [("contact_point", "monstack-ops", UPDATED)]
    assert double.state.contact_points["monstack-ops"]["settings"]["url"] == SLACK_URL_2
    assert client.provision(plan_of([rotated])) == [("contact_point", "monstack-ops", UNCHANGED)]
    for secret in (SLACK_URL, SLACK_URL_2):
        assert secret not in caplog.text
        assert secret[-12:] not in stored[MARK_KEY]


# -- planned with the rest of Grafana's provisioning -------------------------------------------
def test_alerting_is_planned_exactly_and_a_second_run_changes_nothing(host_settings, inventory,
                                                                      double):
    s = host_settings({**ALERTING, "grafana_url": double.url,
                       "grafana_alertmanager_external": True})
    g, actions = gp.pending(s, FakeHost("mon1"))
    assert actions[-4:] == [("template", "ops", CREATED),
                            ("contact_point", "monstack-ops", CREATED),
                            ("contact_point", "pager-hook", CREATED),
                            ("notification_policy", "root", UPDATED)]
    assert double.writes() == []
    gp.install()
    (call,) = inventory["python"].calls
    assert call["name"] == f"Provision Grafana: {len(actions)} objects to create or update"
    runner = FakeHost("mon1")
    assert gp.provision(None, runner, call["grafana"]) is True
    for kind, uid, action in actions:   # the real run did what the plan said
        assert f"{ {'created': 'create', 'updated': 'update'}[action]} {kind} {uid}" \
            in runner.messages[-1]
    assert double.state.policy["receiver"] == "ops" and double.state.policy["provenance"] == "api"
    assert double.state.templates["ops"]["template"] == TEMPLATE
    assert double.state.datasources["alertmanager"]["jsonData"]["handleGrafanaManagedAlerts"]
    assert double.state.contact_points["monstack-ops"]["settings"]["url"] == SLACK_URL

    gp._found.clear()
    double.clear_log()
    g, actions = gp.pending(s, FakeHost("mon1"))
    assert actions == [] and double.writes() == []
    for text in inventory["host"].messages + runner.messages:
        assert SLACK_URL not in text and PASSWORD not in text
    assert SLACK_URL not in repr(g)
