"""Pruning: what the deploy created and the settings no longer name is removed from Grafana,
never anything else. Against the GRAFANA API TEST DOUBLE over real HTTP on 127.0.0.1, the
client (api.py) first, then as provisioning.py plans it."""

from __future__ import annotations

import copy
import json
import shutil

import pytest

from harness.fake_host import FakeHost
from harness.grafana_planning import PASSWORD, fake_inventory, running_double, grafana_settings
from operations.base.templates import shipped_dashboards
from operations.components.grafana import ownership, provisioning as gp
from operations.components.grafana.api import CREATED, GrafanaClient, GrafanaError
from operations.components.grafana.ownership import DELETED, MARK_KEY



@pytest.fixture
def double(monkeypatch):
    with running_double(monkeypatch) as d:
        yield d


def client_for(double, **kw) -> GrafanaClient:
    return GrafanaClient(double.url, basic_auth=("admin", PASSWORD), timeout=2, retries=0,
                         **kw)


@pytest.fixture
def client(double):
    with client_for(double) as c:
        yield c


def ds(uid: str) -> dict:
    return {"uid": uid, "name": uid.title(), "type": "prometheus", "url": f"http://{uid}:9090",
            "access": "proxy", "isDefault": False}


def dash(uid: str, folder: str = "monstack") -> dict:
    return {"model": {"uid": uid, "title": uid.replace("-", " ").title()}, "folder_uid": folder}


def full_plan() -> dict:
    return {"folders": [{"uid": "monstack", "title": "Monitoring"},
                        {"uid": "monstack-community", "title": "Community"}],
            "datasources": [ds("prometheus"), ds("extra")],
            "dashboards": [dash("monstack-hosts"), dash("team-a"),
                           dash("community-node", "monstack-community")],
            "contact_points": [{"uid": "monstack-ops", "name": "ops", "type": "webhook",
                                "settings": {"url": "http://ops"}}],
            "prune": True, "legacy": {}}


def smaller(plan: dict) -> dict:
    """Without the extra data source, the team-a dashboard, the community folder and its
    dashboard, and the contact point."""
    plan = copy.deepcopy(plan)
    plan["folders"] = plan["folders"][:1]
    plan["datasources"] = plan["datasources"][:1]
    plan["dashboards"] = plan["dashboards"][:1]
    plan["contact_points"] = []
    return plan


def hand_made(double):
    """What a user made by hand: a data source, a folder with a dashboard, a dashboard in
    the deploy's folder, and a "Save as" copy of one of ours (its tag and marker copied)."""
    s = double.state
    s.create_datasource({"uid": "mine", "name": "Mine", "type": "loki", "url": "http://l"})
    s.create_folder({"uid": "team", "title": "Team"}, who_admin())
    s.save_dashboard({"dashboard": {"uid": "team-board", "title": "Team board"},
                      "folderUid": "team"})
    s.save_dashboard({"dashboard": {"uid": "my-board", "title": "My board",
                                    "tags": ["monstack"]}, "folderUid": "monstack"})
    s.save_dashboard({"dashboard": {"uid": "copy-of-team-a", "title": "Copy",
                                    "tags": ["monstack"], MARK_KEY: "team-a"},
                      "folderUid": "team"})
    s.create_contact_point({"uid": "mine-cp", "name": "mine", "type": "webhook",
                            "settings": {"url": "http://mine"}}, who_admin())


def who_admin():
    from harness.doubles.grafana_double import Principal
    return Principal("basic", "admin", "Admin", True)


REMOVED = [("dashboard", "community-node", DELETED), ("dashboard", "team-a", DELETED),
           ("folder", "monstack-community", DELETED), ("datasource", "extra", DELETED),
           ("contact_point", "monstack-ops", DELETED)]


def test_removals_are_ours_only_in_order_and_the_dry_run_is_exact(double, client):
    client.provision(full_plan())
    hand_made(double)
    plan = smaller(full_plan())
    double.clear_log()
    with client_for(double, dry_run=True) as dry:
        dry_results = [r for r in dry.provision(plan) if r[2] != "unchanged"]
    assert dry_results == REMOVED and double.writes() == []

    real = [r for r in client.provision(plan) if r[2] != "unchanged"]
    assert real == dry_results
    assert [(w.method, w.path) for w in double.writes()] == [
        ("DELETE", "/api/dashboards/uid/community-node"),
        ("DELETE", "/api/dashboards/uid/team-a"),
        ("DELETE", "/api/folders/monstack-community"),
        ("DELETE", "/api/datasources/uid/extra"),
        ("DELETE", "/api/v1/provisioning/contact-points/monstack-ops")]
    assert double.writes()[2].query == {"forceDeleteRules": ["false"]}
    s = double.state
    assert set(s.dashboards) == {"monstack-hosts", "team-board", "my-board", "copy-of-team-a"}
    assert set(s.datasources) == {"prometheus", "mine"}
    assert set(s.folders) == {"monstack", "team"}
    assert set(s.contact_points) == {"default-email", "mine-cp"}

    double.clear_log()
    assert {r[2] for r in client.provision(plan)} == {"unchanged"}
    assert double.writes() == []


def test_objects_are_marked_when_written(double, client):
    client.provision(full_plan())
    s = double.state
    model = s.dashboards["team-a"]["model"]
    assert model[MARK_KEY] == "team-a" and model["tags"] == ["monstack"]
    assert s.datasources["extra"]["jsonData"] == {MARK_KEY: "extra"}
    assert s.contact_points["monstack-ops"]["settings"][MARK_KEY].startswith("monstack-ops:")


def test_a_folder_holding_what_is_not_ours_is_left_with_a_note(double, client):
    client.provision(full_plan())
    double.state.save_dashboard({"dashboard": {"uid": "theirs", "title": "Theirs"},
                                 "folderUid": "monstack-community"})
    double.state.create_folder({"uid": "sub", "title": "Sub", "parentUid": "monstack"},
                               who_admin())
    plan = smaller(full_plan())
    plan["folders"] = []          # the monstack folder too: but a folder of theirs is in it
    plan["dashboards"] = [dash("monstack-hosts", "")]
    results = [r for r in client.provision(plan) if r[2] == DELETED]
    assert ("dashboard", "community-node", DELETED) in results
    assert not [r for r in results if r[0] == "folder"]
    assert "theirs" in double.state.dashboards and "sub" in double.state.folders
    notes = "\n".join(client.notes)
    assert "folder monstack-community is not in the settings any more but is left: it holds " \
           "dashboards the deploy did not create: theirs" in notes
    assert "folder monstack is not in the settings any more but is left: it holds folders " \
           "the deploy did not create: sub" in notes


def test_nested_folders_of_ours_go_children_first(double, client):
    plan = full_plan()
    plan["folders"].append({"uid": "monstack-community-sub", "title": "Sub",
                            "parent_uid": "monstack-community"})
    plan["dashboards"].append(dash("deep", "monstack-community-sub"))
    client.provision(plan)
    results = [r[:2] for r in client.provision(smaller(plan)) if r[2] == DELETED]
    assert results.index(("folder", "monstack-community-sub")) \
        < results.index(("folder", "monstack-community"))
    assert results.index(("dashboard", "deep")) < results.index(("folder", "monstack-community-sub"))
    assert not {"monstack-community", "monstack-community-sub"} & set(double.state.folders)


def test_a_folder_with_alert_rules_is_left(double, client):
    client.provision(full_plan())
    double.state.alert_rules.append({"uid": "r1", "title": "High CPU",
                                     "folderUID": "monstack-community"})
    results = client.provision(smaller(full_plan()))
    assert ("folder", "monstack-community", DELETED) not in results
    assert "monstack-community" in double.state.folders
    assert "folder monstack-community is not in the settings any more but is left: it holds " \
           "alert rules" in client.notes


def test_a_wanted_dashboard_leaving_a_folder_does_not_keep_it(double, client):
    client.provision(full_plan())
    plan = smaller(full_plan())
    plan["dashboards"].append(dash("community-node", "monstack"))   # moved, still wanted
    with client_for(double, dry_run=True) as dry:
        expected = [r for r in dry.provision(plan) if r[2] != "unchanged"]
    assert ("folder", "monstack-community", DELETED) in expected
    assert [r for r in client.provision(plan) if r[2] != "unchanged"] == expected
    assert double.state.dashboards["community-node"]["folderUid"] == "monstack"


def test_contact_points_still_routed_to_are_left(double, client):
    plan = full_plan()
    plan["policy"] = {"receiver": "ops"}
    client.provision(plan)
    results = client.provision(smaller(full_plan()))     # no policy: Grafana's tree stays
    assert ("contact_point", "monstack-ops", DELETED) not in results
    assert "contact point monstack-ops is left: the notification policy tree still routes " \
           "to 'ops'" in client.notes
    # a plan whose tree no longer routes there: the tree is replaced, then it goes
    plan = smaller(full_plan())
    plan["policy"] = {"receiver": "grafana-default-email"}
    results = client.provision(plan)
    assert results[-1] == ("contact_point", "monstack-ops", DELETED)
    assert "monstack-ops" not in double.state.contact_points


def test_earlier_versions_objects_count_as_ours_by_the_legacy_uids(double, client):
    s = double.state
    s.create_folder({"uid": "monstack", "title": "Monitoring"}, who_admin())
    s.create_datasource({"uid": "loki", "name": "Loki", "type": "loki", "url": "http://l"})
    s.create_datasource({"uid": "team-loki", "name": "Team Loki", "type": "loki",
                         "url": "http://t"})
    s.save_dashboard({"dashboard": {"uid": "monstack-logs", "title": "Logs",
                                    "tags": ["monstack"]}, "folderUid": "monstack"})
    plan = {"folders": [{"uid": "monstack", "title": "Monitoring"}], "datasources": [],
            "dashboards": [], "prune": True,
            "legacy": {"datasource": {"loki"}, "dashboard": {"monstack-logs"}}}
    assert client.provision(plan) == [("folder", "monstack", "unchanged"),
                                      ("dashboard", "monstack-logs", DELETED),
                                      ("datasource", "loki", DELETED)]
    assert set(s.datasources) == {"team-loki"}
    plan["legacy"] = {}
    s.save_dashboard({"dashboard": {"uid": "monstack-logs", "title": "Logs",
                                    "tags": ["monstack"]}, "folderUid": "monstack"})
    assert client.provision(plan) == [("folder", "monstack", "unchanged")]   # no marker


def test_without_prune_nothing_is_removed(double, client):
    client.provision(full_plan())
    plan = smaller(full_plan())
    plan["prune"] = False
    assert {r[2] for r in client.provision(plan)} == {"unchanged"}
    assert "team-a" in double.state.dashboards


def test_a_read_only_data_source_is_left(double, client):
    client.provision(full_plan())
    double.state.datasources["extra"]["readOnly"] = True
    assert ("datasource", "extra", DELETED) not in client.provision(smaller(full_plan()))
    assert "data source extra is left: provisioned from a file" in client.notes


# -- Grafana 13: dashboards saved in schema v2 -------------------------------------------------
def test_double_v2_dashboard_is_406_on_the_legacy_api_but_listed(double, client):
    double.state.add_v2_dashboard("dyn", "Dynamic", "", tags=["monstack"])
    with pytest.raises(GrafanaError) as exc:
        client.get_dashboard("dyn")
    assert exc.value.status == 406
    assert "/apis/dashboard.grafana.app/" in exc.value.grafana_message
    assert "schema v2" in str(exc.value) and "Delete it in Grafana" in str(exc.value)
    (hit,) = ownership.search_dashboards(client, tag="monstack")
    assert hit["uid"] == "dyn" and hit["tags"] == ["monstack"]


def test_a_v2_dashboard_is_never_pruned(double, client):
    client.provision(full_plan())
    double.state.add_v2_dashboard("dyn", "Dynamic", "monstack", tags=["monstack"])
    results = client.provision(smaller(full_plan()))
    assert not [r for r in results if r[1] == "dyn"] and "dyn" in double.state.dashboards
    assert "dashboard dyn is left: saved in schema v2" in "\n".join(client.notes)


def test_a_wanted_dashboard_saved_as_v2_stops_provisioning_clearly(double, client):
    client.provision(full_plan())
    double.state.add_v2_dashboard("team-a", "Team A", "monstack")
    with pytest.raises(GrafanaError, match="provisioning stopped at dashboard 'team-a'.*"
                                           "schema v2"):
        client.provision(full_plan())


# -- planned by provisioning.py ----------------------------------------------------------------
@pytest.fixture
def planning(monkeypatch, tmp_path, double):
    planned = fake_inventory(monkeypatch)
    settings = grafana_settings(monkeypatch, tmp_path, grafana_service_account="",
                                grafana_url=double.url)

    def build(data: dict):
        s = settings(data)
        gp._found.clear()
        planned["python"].calls.clear()
        return s

    return {"build": build, **planned}


def test_dry_names_each_removal_and_the_run_removes_exactly_those(planning, double, tmp_path):
    mine = tmp_path / "dashboards"
    mine.mkdir()
    (mine / "team.json").write_text(json.dumps({"uid": "team-x", "title": "Team X"}))
    extra = [{"uid": "elastic", "name": "Elastic", "type": "elasticsearch",
              "url": "http://es:9200"}]
    s = planning["build"]({"grafana_dashboards_dir": str(mine),
                           "grafana_extra_datasources": extra})
    g, _ = gp.pending(s, FakeHost("mon1"))
    assert gp.provision(None, FakeHost("mon1"), g)
    double.state.create_datasource({"uid": "mine", "name": "Mine", "type": "loki",
                                    "url": "http://l"})
    double.state.save_dashboard({"dashboard": {"uid": "by-hand", "title": "By hand"},
                                 "folderUid": "monstack"})

    (mine / "team.json").unlink()    # the dashboard folder emptied, the extra dropped
    s = planning["build"]({"grafana_dashboards_dir": str(mine)})
    double.clear_log()
    g, actions = gp.pending(s, FakeHost("mon1"))
    assert actions == [("dashboard", "team-x", DELETED), ("datasource", "elastic", DELETED)]
    assert double.writes() == []
    gp.install()
    (call,) = planning["python"].calls
    assert call["name"] == "Provision Grafana: 2 objects to create, update or delete"
    assert "will delete dashboard team-x, delete datasource elastic" in \
        planning["host"].messages[-1]
    runner = FakeHost("mon1")
    assert gp.provision(None, runner, call["grafana"])
    assert runner.messages[-1].endswith("delete dashboard team-x, delete datasource elastic")
    assert {"by-hand", "monstack-hosts"} <= set(double.state.dashboards)
    assert "team-x" not in double.state.dashboards
    assert set(double.state.datasources) == {"prometheus", "alertmanager", "mine"}

    s = planning["build"]({"grafana_dashboards_dir": str(mine)})
    assert gp.pending(s, FakeHost("mon1"))[1] == []


def test_an_upgrade_marks_everything_once_and_prunes_a_shipped_dashboard_left_out(
        planning, double, tmp_path, monkeypatch):
    """Grafana as an earlier monstack left it: nothing marked. The first run marks what the
    settings name (one update each); a shipped dashboard no longer planned is removed."""
    shipped = tmp_path / "shipped"
    shipped.mkdir()
    for path in shipped_dashboards():
        shutil.copy(path, shipped)
    monkeypatch.setattr(gp, "shipped_dashboards", lambda: sorted(shipped.iterdir()))
    planning["running"]["loki"] = [FakeHost("mon1")]
    s = planning["build"]({})
    with client_for(double) as old:   # what an earlier version did: no markers
        plan = gp.wanted(s, FakeHost("mon1"))
        for f in plan["folders"]:
            old.ensure_folder(f["uid"], f["title"])
        for d in plan["datasources"]:
            old.ensure_datasource(d)
        for d in plan["dashboards"]:
            old.ensure_dashboard(d["model"], d["folder_uid"])
    # Loki leaves the inventory: its data source and the Logs dashboard are not planned
    planning["running"]["loki"] = []
    s = planning["build"]({})
    g, actions = gp.pending(s, FakeHost("mon1"))
    assert [a for a in actions if a[2] == DELETED] == [("dashboard", "monstack-logs", DELETED),
                                                        ("datasource", "loki", DELETED)]
    assert ("datasource", "prometheus", "updated") in actions   # marked now
    assert not [a for a in actions if a[2] == CREATED]
    assert gp.provision(None, FakeHost("mon1"), g)
    s = planning["build"]({})
    assert gp.pending(s, FakeHost("mon1"))[1] == []


def test_prune_off_in_the_settings(planning, double, tmp_path):
    extra = [{"uid": "elastic", "name": "Elastic", "type": "elasticsearch", "url": "http://e"}]
    s = planning["build"]({"grafana_extra_datasources": extra})
    g, _ = gp.pending(s, FakeHost("mon1"))
    assert gp.provision(None, FakeHost("mon1"), g)
    s = planning["build"]({"grafana_prune": False})
    assert gp.pending(s, FakeHost("mon1"))[1] == []
