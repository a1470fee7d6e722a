"""GrafanaClient against the GRAFANA API TEST DOUBLE, over real HTTP on 127.0.0.1."""

from __future__ import annotations

import base64
import logging
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

HERE = Path(__file__).resolve().parent   # HERE.parents[1]: tests/

from harness.doubles.grafana_double import GrafanaDouble
from harness.net import free_port
from operations.components.grafana.api import (
    CREATED, UNCHANGED, UPDATED, GrafanaClient, GrafanaError, ProvisionError,
    ensure_admin_password,
)

ADMIN_PASSWORD = "initial-Adm1n-pw"
DS_SECRET = "ds-header-secret-value"
SLACK_SECRET = "https://hooks.slack.example/T000/B000/XXXX"


# ---- fixtures and sample objects --------------------------------------------------------

@pytest.fixture
def grafana():
    with GrafanaDouble(admin_password=ADMIN_PASSWORD) as double:
        yield double


def client_for(double, *, password=ADMIN_PASSWORD, **kw) -> GrafanaClient:
    # Short timeouts and backoff keep the fault tests fast.
    options = {"timeout": 2.0, "retries": 2, "backoff": 0.01}
    options.update(kw)
    return GrafanaClient(double.url, basic_auth=("admin", password), **options)


@pytest.fixture
def client(grafana):
    with client_for(grafana) as c:
        yield c


def prometheus_spec(**changes) -> dict:
    spec = {"uid": "prom", "name": "Prometheus", "type": "prometheus",
            "url": "http://127.0.0.1:9090", "access": "proxy", "isDefault": True,
            "jsonData": {"timeInterval": "15s", "httpHeaderName1": "X-Token"},
            "secureJsonData": {"httpHeaderValue1": DS_SECRET}}
    spec.update(changes)
    return spec


def node_dashboard(**changes) -> dict:
    model = {"uid": "node-overview", "title": "Node overview", "tags": ["monstack"],
             "schemaVersion": 39, "panels": [{"id": 1, "type": "timeseries", "title": "CPU"}]}
    model.update(changes)
    return model


def slack_contact_point(**settings) -> dict:
    return {"uid": "ops-slack", "name": "ops", "type": "slack",
            "settings": {"url": SLACK_SECRET, "recipient": "#ops", **settings},
            "disableResolveMessage": False}


def sample_plan() -> dict:
    return {
        "folders": [{"uid": "infra", "title": "Infrastructure"},
                    {"uid": "infra-nodes", "title": "Nodes", "parent_uid": "infra"}],
        "datasources": [prometheus_spec()],
        "dashboards": [{"model": node_dashboard(), "folder_uid": "infra-nodes"}],
        "contact_points": [slack_contact_point()],
    }


def write_summary(double) -> list[tuple[str, str]]:
    return [(r.method, r.path) for r in double.writes()]


# ---- data sources -----------------------------------------------------------------------

def test_datasource_create_then_unchanged_then_update(grafana, client):
    assert client.ensure_datasource(prometheus_spec()) == CREATED
    stored = grafana.state.datasources["prom"]
    assert stored["url"] == "http://127.0.0.1:9090" and stored["version"] == 1

    grafana.clear_log()
    assert client.ensure_datasource(prometheus_spec()) == UNCHANGED
    assert grafana.writes() == []

    assert client.ensure_datasource(prometheus_spec(url="http://10.0.0.5:9090")) == UPDATED
    assert write_summary(grafana) == [("PUT", "/api/datasources/uid/prom")]
    assert grafana.state.datasources["prom"]["url"] == "http://10.0.0.5:9090"
    assert grafana.state.datasources["prom"]["version"] == 2
    # The update carried the secret again, so it is still set.
    assert grafana.state.datasource_secrets["prom"] == {"httpHeaderValue1": DS_SECRET}


def test_datasource_json_data_change_is_an_update(grafana, client):
    client.ensure_datasource(prometheus_spec())
    changed = prometheus_spec(jsonData={"timeInterval": "30s", "httpHeaderName1": "X-Token"})
    assert client.ensure_datasource(changed) == UPDATED
    assert grafana.state.datasources["prom"]["jsonData"]["timeInterval"] == "30s"


def test_datasource_secrets_are_compared_by_presence(grafana, client):
    client.ensure_datasource(prometheus_spec())
    view = requests.get(f"{grafana.url}/api/datasources/uid/prom",
                        auth=("admin", ADMIN_PASSWORD)).json()
    assert DS_SECRET not in str(view) and view["secureJsonFields"] == {"httpHeaderValue1": True}

    rotated = prometheus_spec(secureJsonData={"httpHeaderValue1": "new-secret-value"})
    grafana.clear_log()
    assert client.ensure_datasource(rotated) == UNCHANGED   # a value change is invisible
    assert grafana.writes() == []
    assert client.ensure_datasource(rotated, rotate_secrets=True) == UPDATED
    assert grafana.state.datasource_secrets["prom"]["httpHeaderValue1"] == "new-secret-value"

    more = prometheus_spec(secureJsonData={"httpHeaderValue1": "new-secret-value",
                                           "basicAuthPassword": "bap-secret"})
    assert client.ensure_datasource(more) == UPDATED        # a missing key is visible


def test_read_only_datasource_is_refused_with_a_clear_error(grafana, client):
    client.ensure_datasource(prometheus_spec())
    grafana.state.datasources["prom"]["readOnly"] = True     # as if provisioned from a file
    assert client.ensure_datasource(prometheus_spec()) == UNCHANGED
    with pytest.raises(GrafanaError, match="read-only"):
        client.ensure_datasource(prometheus_spec(url="http://elsewhere:9090"))
    assert grafana.count("PUT", "/api/datasources/uid/prom") == 0


def test_datasource_name_conflict_is_a_clear_409_without_retry(grafana, client):
    client.ensure_datasource(prometheus_spec())
    with pytest.raises(GrafanaError) as info:
        client.ensure_datasource(prometheus_spec(uid="prom-2"))
    err = info.value
    assert err.status == 409
    assert "POST" in str(err) and f"{grafana.url}/api/datasources" in str(err)
    assert "data source with the same name already exists" in str(err)
    assert grafana.count("POST", "/api/datasources") == 2   # the first create + one try


# ---- folders ----------------------------------------------------------------------------

def test_folder_create_then_unchanged_then_retitle(grafana, client):
    assert client.ensure_folder("infra", "Infrastructure") == CREATED
    grafana.clear_log()
    assert client.ensure_folder("infra", "Infrastructure") == UNCHANGED
    assert grafana.writes() == []

    assert client.ensure_folder("infra", "Infra & hosts") == UPDATED
    (put,) = grafana.writes()
    assert (put.method, put.path, put.body) == (
        "PUT", "/api/folders/infra", {"title": "Infra & hosts", "version": 1})
    folder = grafana.state.folders["infra"]
    assert folder["title"] == "Infra & hosts" and folder["version"] == 2


def test_folder_parent_change_uses_move(grafana, client):
    client.ensure_folder("infra", "Infrastructure")
    client.ensure_folder("apps", "Applications")
    assert client.ensure_folder("nodes", "Nodes", parent_uid="infra") == CREATED
    assert grafana.state.folders["nodes"]["parentUid"] == "infra"

    grafana.clear_log()
    assert client.ensure_folder("nodes", "Nodes", parent_uid="apps") == UPDATED
    assert write_summary(grafana) == [("POST", "/api/folders/nodes/move")]
    assert grafana.state.folders["nodes"]["parentUid"] == "apps"

    assert client.ensure_folder("nodes", "Nodes") == UPDATED           # back to the root
    assert grafana.state.folders["nodes"]["parentUid"] is None
    assert client.ensure_folder("nodes", "Nodes") == UNCHANGED


def test_double_folder_put_with_stale_version_is_412(grafana, client):
    client.ensure_folder("infra", "Infrastructure")
    client.ensure_folder("infra", "Renamed")                         # version is now 2
    url, auth = f"{grafana.url}/api/folders/infra", ("admin", ADMIN_PASSWORD)
    stale = requests.put(url, json={"title": "X", "version": 1}, auth=auth)
    assert stale.status_code == 412 and stale.json()["status"] == "version-mismatch"
    forced = requests.put(url, json={"title": "X", "overwrite": True}, auth=auth)
    assert forced.status_code == 200 and forced.json()["version"] == 3


# ---- dashboards -------------------------------------------------------------------------

def test_dashboard_create_then_unchanged_then_update(grafana, client):
    client.ensure_folder("infra", "Infrastructure")
    assert client.ensure_dashboard(node_dashboard(), "infra") == CREATED
    assert grafana.state.dashboards["node-overview"]["model"]["version"] == 1

    grafana.clear_log()
    assert client.ensure_dashboard(node_dashboard(), "infra") == UNCHANGED
    assert grafana.writes() == []

    assert client.ensure_dashboard(node_dashboard(title="Nodes"), "infra") == UPDATED
    (post,) = grafana.writes()
    assert post.body["overwrite"] is True and post.body["folderUid"] == "infra"
    assert post.body["message"]
    stored = grafana.state.dashboards["node-overview"]["model"]
    assert stored["title"] == "Nodes" and stored["version"] == 2


def test_dashboard_differing_only_in_id_and_version_is_unchanged(grafana, client):
    client.ensure_dashboard(node_dashboard())
    exported = node_dashboard(id=4242, version=17)   # e.g. exported from another Grafana
    grafana.clear_log()
    assert client.ensure_dashboard(exported) == UNCHANGED
    assert grafana.writes() == []
    # A real content change next to them is still seen.
    assert client.ensure_dashboard(node_dashboard(id=4242, version=17, tags=[])) == UPDATED


def test_dashboard_in_the_wrong_folder_is_moved(grafana, client):
    client.ensure_folder("infra", "Infrastructure")
    client.ensure_folder("apps", "Applications")
    client.ensure_dashboard(node_dashboard(), "infra")
    assert client.ensure_dashboard(node_dashboard(), "apps") == UPDATED
    assert client.get_dashboard("node-overview")["meta"]["folderUid"] == "apps"
    assert client.ensure_dashboard(node_dashboard(), None) == UPDATED    # to the root
    assert "folderUid" not in grafana.writes()[-1].body
    assert client.get_dashboard("node-overview")["meta"]["folderUid"] == ""
    assert client.ensure_dashboard(node_dashboard(), None) == UNCHANGED


def test_double_dashboard_save_without_overwrite_checks_version(grafana, client):
    client.ensure_dashboard(node_dashboard())
    url, auth = f"{grafana.url}/api/dashboards/db", ("admin", ADMIN_PASSWORD)
    stale = requests.post(url, json={"dashboard": node_dashboard(version=0)}, auth=auth)
    assert stale.status_code == 412 and stale.json()["status"] == "version-mismatch"
    current = requests.post(url, json={"dashboard": node_dashboard(version=1)}, auth=auth)
    assert current.status_code == 200 and current.json()["version"] == 2


def test_dashboard_title_taken_in_folder_is_a_clear_412(grafana, client):
    client.ensure_dashboard(node_dashboard())
    with pytest.raises(GrafanaError) as info:
        client.ensure_dashboard(node_dashboard(uid="another-uid"))
    assert info.value.status == 412
    assert "same name in the folder already exists" in str(info.value)
    assert "/api/dashboards/db" in str(info.value)


# ---- service accounts -------------------------------------------------------------------

def test_service_account_token_is_created_once_and_works(grafana, client):
    first = client.ensure_service_account_token("provisioner", "deploy")
    assert first.action == CREATED and first.key and first.key.startswith("glsa_")
    assert first.key not in repr(first)
    with GrafanaClient(grafana.url, token=first.key, timeout=2) as as_token:
        assert as_token.check_credentials()

    grafana.clear_log()
    again = client.ensure_service_account_token("provisioner", "deploy")
    assert (again.action, again.key) == (UNCHANGED, None)
    assert again.service_account_id == first.service_account_id
    assert grafana.writes() == []


def test_service_account_search_matches_the_exact_name(grafana, client):
    # The search endpoint matches substrings; "provisioner-old" must not be taken.
    grafana.state.create_service_account({"name": "provisioner-old", "role": "Viewer"})
    result = client.ensure_service_account_token("provisioner", "deploy")
    assert result.action == CREATED
    names = sorted(a["name"] for a in grafana.state.service_accounts.values())
    assert names == ["provisioner", "provisioner-old"]


# ---- admin password ---------------------------------------------------------------------

def test_admin_password_rotation(grafana):
    new_password = "rotated-Adm1n-pw"
    kw = {"timeout": 2.0, "retries": 0}
    action = ensure_admin_password(grafana.url, "admin", new_password, [ADMIN_PASSWORD], **kw)
    assert action == UPDATED
    assert client_for(grafana, password=new_password).check_credentials()
    assert not client_for(grafana).check_credentials()

    grafana.clear_log()
    assert ensure_admin_password(grafana.url, "admin", new_password, [ADMIN_PASSWORD],
                                 **kw) == UNCHANGED
    assert grafana.writes() == []

    with pytest.raises(GrafanaError) as info:
        ensure_admin_password(grafana.url, "admin", "third-pw-xyz", ["wrong-old-pw"], **kw)
    assert "third-pw-xyz" not in str(info.value) and "wrong-old-pw" not in str(info.value)


def test_set_admin_password_as_non_admin_is_403_without_retry(grafana):
    grafana.state.add_user("viewer", "viewer-pw-123", role="Viewer")
    with GrafanaClient(grafana.url, basic_auth=("viewer", "viewer-pw-123"), retries=2,
                       backoff=0.01) as viewer:
        with pytest.raises(GrafanaError) as info:
            viewer.set_admin_password("admin", "hijack-pw-123")
    assert info.value.status == 403 and "user 'viewer'" in str(info.value)
    assert grafana.count("GET", "/api/users/lookup") == 1
    assert grafana.writes() == []


def test_admin_api_refuses_service_account_tokens(grafana, client):
    key = client.ensure_service_account_token("provisioner", "deploy").key
    with GrafanaClient(grafana.url, token=key, timeout=2) as as_token:
        with pytest.raises(GrafanaError) as info:
            as_token.set_admin_password("admin", "new-pw-12345")
    assert info.value.status == 403 and "service-account token" in str(info.value)


# ---- whole plan, idempotence, dry run ---------------------------------------------------

def test_second_provision_sends_no_writes(grafana, client):
    first = client.provision(sample_plan())
    assert [action for _, _, action in first] == [CREATED] * 5
    grafana.clear_log()
    second = client.provision(sample_plan())
    assert second == [(kind, uid, UNCHANGED) for kind, uid, _ in first]
    assert grafana.writes() == []


def test_dry_run_reports_what_a_real_run_then_does(grafana):
    dry, real = client_for(grafana, dry_run=True), client_for(grafana)
    planned = dry.provision(sample_plan())
    assert grafana.writes() == []
    assert real.provision(sample_plan()) == planned

    changed = sample_plan()
    changed["datasources"][0]["url"] = "http://10.0.0.9:9090"
    changed["dashboards"][0]["folder_uid"] = "infra"
    changed["folders"][1]["title"] = "Node hosts"
    grafana.clear_log()
    planned = dry.provision(changed)
    assert grafana.writes() == []
    assert sorted(a for a in planned if a[2] != UNCHANGED) == [
        ("dashboard", "node-overview", UPDATED), ("datasource", "prom", UPDATED),
        ("folder", "infra-nodes", UPDATED)]
    assert real.provision(changed) == planned


def test_dry_run_token_and_password_send_no_writes(grafana):
    dry = client_for(grafana, dry_run=True)
    assert dry.ensure_service_account_token("provisioner", "deploy").action == CREATED
    assert dry.set_admin_password("admin", "never-sent-pw") == UPDATED
    assert grafana.writes() == []
    assert client_for(grafana).check_credentials()      # password untouched


def test_provision_stops_at_first_error_and_says_what_was_applied(grafana, client):
    plan = sample_plan()
    plan["datasources"].append(prometheus_spec(uid="prom-copy"))   # same name: 409
    with pytest.raises(ProvisionError) as info:
        client.provision(plan)
    err = info.value
    assert err.failed == ("datasource", "prom-copy") and err.status == 409
    assert err.applied == [("folder", "infra", CREATED), ("folder", "infra-nodes", CREATED),
                           ("datasource", "prom", CREATED)]
    text = str(err)
    assert "stopped at datasource 'prom-copy'" in text and "datasource 'prom' created" in text
    assert "not attempted: 2" in text
    # a fresh Grafana's own contact point only
    assert grafana.state.dashboards == {} and list(grafana.state.contact_points) == [
        "default-email"]


# ---- contact points ---------------------------------------------------------------------

def test_contact_point_with_redacted_secret(grafana, client):
    assert client.ensure_contact_point(slack_contact_point()) == CREATED
    listed = {cp["uid"]: cp for cp in client.list_contact_points()}
    assert listed["ops-slack"]["settings"]["url"] == "[REDACTED]"

    grafana.clear_log()
    assert client.ensure_contact_point(slack_contact_point()) == UNCHANGED
    assert grafana.writes() == []

    assert client.ensure_contact_point(slack_contact_point(recipient="#alerts")) == UPDATED
    stored = grafana.state.contact_points["ops-slack"]["settings"]
    assert stored == {"url": SLACK_SECRET, "recipient": "#alerts"}


# ---- health, faults, retries ------------------------------------------------------------

def test_wait_healthy_waits_for_a_late_start():
    with GrafanaDouble(admin_password=ADMIN_PASSWORD, down_for_seconds=0.8) as double:
        client = client_for(double)
        with pytest.raises(GrafanaError, match="connection refused"):
            client.get_folder("any")                      # really down at first
        started = time.monotonic()
        assert client.wait_healthy(timeout=10, interval=0.1)["database"] == "ok"
        assert time.monotonic() - started < 5
        # The health polls carried no credentials (they need none).
        assert {r.auth for r in double.requests if r.path == "/api/health"} == {"none"}


def test_wait_healthy_gives_up_with_the_url(grafana, client):
    grafana.set_health("failing")
    started = time.monotonic()
    with pytest.raises(GrafanaError) as info:
        client.wait_healthy(timeout=0.5, interval=0.1)
    assert time.monotonic() - started < 2
    assert f"{grafana.url}/api/health" in str(info.value) and "failing" in str(info.value)


def test_wait_healthy_with_nothing_listening_names_the_url():
    url = f"http://127.0.0.1:{free_port()}"
    client = GrafanaClient(url, basic_auth=("admin", ADMIN_PASSWORD), timeout=0.5)
    with pytest.raises(GrafanaError) as info:
        client.wait_healthy(timeout=0.4, interval=0.1)
    assert f"{url}/api/health" in str(info.value) and "connection refused" in str(info.value)


def test_5xx_then_success_is_retried(grafana, client):
    grafana.fail_next(2)
    assert client.ensure_folder("infra", "Infrastructure") == CREATED
    assert grafana.count("GET", "/api/folders/infra") == 3
    assert grafana.count("POST", "/api/folders") == 1


def test_persistent_5xx_is_a_clear_error_after_bounded_retries(grafana, client):
    grafana.fail_next(100)
    with pytest.raises(GrafanaError) as info:
        client.ensure_folder("infra", "Infrastructure")
    err = info.value
    assert err.status == 500 and err.attempts == 3
    assert f"GET {grafana.url}/api/folders/infra" in str(err)
    assert "after 3 attempt(s)" in str(err) and "Internal Server Error" in str(err)
    assert grafana.count("GET", "/api/folders/infra") == 3 and grafana.writes() == []


def test_dropped_connection_is_retried(grafana, client):
    grafana.drop_next(1)
    assert client.get_folder("infra") is None
    assert grafana.count("GET", "/api/folders/infra") == 2


def test_slow_server_times_out_naming_the_url(grafana):
    grafana.set_delay(1.0)
    client = client_for(grafana, timeout=0.2, retries=1)
    started = time.monotonic()
    with pytest.raises(GrafanaError) as info:
        client.get_dashboard("node-overview")
    assert time.monotonic() - started < 2
    assert f"{grafana.url}/api/dashboards/uid/node-overview" in str(info.value)
    assert "timed out" in str(info.value) and info.value.attempts == 2


def test_post_whose_answer_timed_out_is_not_retried(grafana):
    grafana.set_delay(1.0, methods={"POST"})
    client = client_for(grafana, timeout=0.3)
    with pytest.raises(GrafanaError) as info:
        client.ensure_folder("infra", "Infrastructure")
    assert grafana.count("POST", "/api/folders") == 1
    assert "may have applied it" in str(info.value)


def test_401_basic_is_clear_not_retried_and_hides_the_password(grafana):
    wrong = "wrong-Passw0rd-value"
    with pytest.raises(GrafanaError) as info:
        client_for(grafana, password=wrong).ensure_folder("infra", "Infrastructure")
    text = str(info.value)
    assert info.value.status == 401 and info.value.attempts == 1
    assert "authentication failed" in text and "basic auth as user 'admin'" in text
    assert "Invalid username or password" in text and wrong not in text
    assert len(grafana.requests) == 1


def test_401_bearer_names_the_auth_kind_and_hides_the_token(grafana):
    token = "glsa_not-a-real-token-value"
    with pytest.raises(GrafanaError) as info:
        GrafanaClient(grafana.url, token=token, retries=2).get_datasource("prom")
    text = str(info.value)
    assert info.value.status == 401 and "service-account token" in text
    assert "Invalid API key" in text and token not in text
    assert len(grafana.requests) == 1


def test_missing_objects_are_none_and_unexpected_404_is_an_error(grafana, client):
    assert client.get_datasource("nope") is None
    assert client.get_folder("nope") is None
    assert client.get_dashboard("nope") is None
    with pytest.raises(GrafanaError) as info:
        client.set_admin_password("nobody", "some-new-pw")
    assert info.value.status == 404 and "user not found" in str(info.value)
    assert "/api/users/lookup" in str(info.value)


def test_secrets_never_reach_logs_or_errors(grafana, caplog):
    caplog.set_level(logging.DEBUG)
    client = client_for(grafana)
    client.provision(sample_plan())
    key = client.ensure_service_account_token("provisioner", "deploy").key
    grafana.fail_next(1)
    client.ensure_datasource(prometheus_spec(url="http://changed:9090"))
    wrong = client_for(grafana, password="bad-Passw0rd-xyz")
    assert not wrong.check_credentials()
    with pytest.raises(GrafanaError) as info:
        wrong.ensure_folder("a", "b")
    everything = caplog.text + str(info.value)
    for secret in (ADMIN_PASSWORD, DS_SECRET, SLACK_SECRET, key, "bad-Passw0rd-xyz"):
        assert secret not in everything
    assert "POST /api/datasources" in caplog.text        # the log does say what was written


# ---- construction and standalone double -------------------------------------------------

def test_client_refuses_ambiguous_auth_and_credentials_in_the_url():
    with pytest.raises(ValueError):
        GrafanaClient("http://127.0.0.1:3000")
    with pytest.raises(ValueError):
        GrafanaClient("http://127.0.0.1:3000", basic_auth=("a", "b"), token="t")
    with pytest.raises(ValueError) as info:
        GrafanaClient("http://admin:pw-in-url@127.0.0.1:3000", basic_auth=("a", "b"))
    assert "pw-in-url" not in str(info.value)
    assert "Bearer" not in repr(GrafanaClient("http://h:1", token="tok-secret-123"))


def test_double_runs_standalone_with_a_password_file(tmp_path):
    password_file = tmp_path / "admin-password"
    password_file.write_text("file-Adm1n-pw\n")
    port = free_port()
    script = HERE.parents[1] / "harness" / "doubles" / "grafana_double.py"
    proc = subprocess.Popen([sys.executable, str(script), "--port", str(port),
                             "--admin-password-file", str(password_file),
                             "--config", "/etc/grafana/grafana.ini"],   # ignored like Grafana's
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        url = f"http://127.0.0.1:{port}"
        client = GrafanaClient(url, basic_auth=("admin", "file-Adm1n-pw"), timeout=1)
        assert client.wait_healthy(timeout=10, interval=0.1)["database"] == "ok"
        assert client.check_credentials()
        raw = base64.b64encode(b"admin:other").decode()
        assert requests.get(f"{url}/api/org", headers={"Authorization": f"Basic {raw}"},
                            timeout=2).status_code == 401
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    assert "TEST DOUBLE" in out
