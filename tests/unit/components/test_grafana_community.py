"""Community dashboards from grafana.com by id and revision
(operations/components/grafana/community.py): where the file comes from (grafana.com's
download path, the mirror, a local folder), its sha256 pin, the model Grafana gets (inputs
mapped to our data sources), folders and uid clashes, and provisioning against the
Grafana API test double. The dashboard is the SYNTHETIC test recording of
tests/harness/doubles/community_dashboard.py, not grafana.com content."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from harness.doubles import community_dashboard as recording
from harness.fake_host import FakeHost
from harness.grafana_planning import fake_inventory, running_double, grafana_settings
from harness.http_files import CountingFiles, Mirror, no_proxy  # noqa: F401
from operations.base.artifacts import ArtifactError
from operations.base.schema import SettingsError
from operations.components.grafana import community, provisioning as gp
from operations.stack import validate

NAME = recording.file_name()
ENTRY = {"id": recording.ID, "revision": recording.REVISION}
AVAILABLE = {"prometheus", "alertmanager"}


@pytest.fixture(autouse=True)
def fresh(monkeypatch):
    monkeypatch.setattr(community, "_loaded", {})


@pytest.fixture
def recorded(tmp_path):
    """(bytes, sha256) of the recording."""
    name, sha = recording.write(tmp_path / "recorded")
    return (tmp_path / "recorded" / name).read_bytes(), sha


@pytest.fixture
def host_settings(monkeypatch, tmp_path):
    """validate()d settings of Grafana host mon1, seen by provisioning too."""
    for var in ("GRAFANA_ADMIN_PASSWORD",):
        monkeypatch.delenv(var, raising=False)
    return grafana_settings(monkeypatch, tmp_path, artifact_cache_dir=str(tmp_path / "cache"),
                            grafana_token_dir=str(tmp_path / "tokens"))


@pytest.fixture
def inventory(monkeypatch):
    """Prometheus and Alertmanager on mon1 (Loki when `running` gets it)."""
    return fake_inventory(monkeypatch)


def all_strings(value):
    if isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from all_strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from all_strings(item)
    elif isinstance(value, str):
        yield value


# -- settings -------------------------------------------------------------------------------
def test_settings_are_grafanas_and_checked():
    s = validate("mon1", {"grafana_community_dashboards":
                          "[{id: 1, revision: 2, folder: Hosts, datasources: {DS_P: vm}}]"})
    assert s.grafana_community_dashboards == [
        {"id": 1, "revision": 2, "folder": "Hosts", "datasources": {"DS_P": "vm"}}]
    assert s.grafana_community_dashboards_dir is None
    with pytest.raises(SettingsError) as exc:
        validate("mon1", {"grafana_community_dashboards":
                          "[{id: 0, revision: 1}, {id: 5, revision: true}, {id: 7, revision: 1,"
                          " folder: '', colour: red}, {id: 7, revision: 2}, 'x',"
                          " {id: 8, revision: 1, datasources: [DS_P], uid: 'a b'}]"})
    msg = str(exc.value)
    for part in ("entry 1: id and revision must be whole numbers above 0",
                 "entry 2: id and revision", "entry 3: unknown keys colour",
                 "entry 3: folder must be a folder title", "entry 4: dashboard 7 is listed twice",
                 "entry 5: needs {id, revision}", "entry 6: datasources must map",
                 "entry 6: uid must be"):
        assert part in msg, part


def test_the_default_folder_uid_is_provisionings():
    assert community.DEFAULT_FOLDER_UID == gp.FOLDER_UID


# -- where the file comes from, and its pin ----------------------------------------------------
def test_downloaded_from_grafana_com_once_into_the_cache(host_settings, recorded, no_proxy,
                                                        monkeypatch):
    body, sha = recorded
    path = f"api/dashboards/{recording.ID}/revisions/{recording.REVISION}/download"
    files = CountingFiles({path: body})
    server = Mirror(files)
    try:
        monkeypatch.setattr(community, "GRAFANA_COM", server.url + "/api/dashboards/{id}/"
                            "revisions/{revision}/download")
        s = host_settings({"artifact_checksums": {NAME: sha}})
        assert community.export(s, recording.ID, recording.REVISION) == json.loads(body)
        cached = Path(s.artifact_cache_dir) / "grafana-dashboards" / NAME
        assert cached.read_bytes() == body
        assert files.asked == [path]
        community._loaded.clear()   # a new run: the cache answers, nothing is downloaded
        assert community.export(s, recording.ID, recording.REVISION) == json.loads(body)
        assert files.asked == [path]
    finally:
        server.close()


def test_grafana_com_download_path():
    s = validate("mon1", {})
    assert community.source_url(s, 1860, 37) == \
        "https://grafana.com/api/dashboards/1860/revisions/37/download"


def test_downloaded_from_the_mirror(host_settings, recorded, no_proxy):
    body, sha = recorded
    files = CountingFiles({f"grafana-dashboards/{NAME}": body})
    server = Mirror(files)
    try:
        s = host_settings({"artifact_mirror": server.url + "/", "artifact_checksums": {NAME: sha}})
        assert community.export(s, recording.ID, recording.REVISION)["title"] == recording.TITLE
        assert files.asked == [f"grafana-dashboards/{NAME}"]
    finally:
        server.close()


def test_read_from_a_local_folder_without_any_download(host_settings, recorded, tmp_path):
    body, sha = recorded
    folder = tmp_path / "air-gapped"
    recording.write(folder)
    s = host_settings({"grafana_community_dashboards_dir": str(folder),
                       "artifact_checksums": {NAME: sha},
                       "artifact_mirror": "http://127.0.0.1:9/"})   # never asked
    assert community.export(s, recording.ID, recording.REVISION) == json.loads(body)
    (folder / NAME).write_bytes(body.replace(b"node", b"n0de"))
    community._loaded.clear()
    with pytest.raises(ArtifactError, match=f"checksum mismatch for {NAME}"):
        community.export(s, recording.ID, recording.REVISION)
    (folder / NAME).unlink()
    with pytest.raises(ArtifactError, match=f"{folder / NAME} is missing"):
        community.export(s, recording.ID, recording.REVISION)


def test_an_unpinned_revision_is_refused_before_any_download(host_settings, recorded,
                                                             no_proxy, monkeypatch):
    body, _ = recorded
    files = CountingFiles({f"grafana-dashboards/{NAME}": body})
    server = Mirror(files)
    try:
        s = host_settings({"artifact_mirror": server.url,
                           "grafana_community_dashboards": [ENTRY]})
        with pytest.raises(ArtifactError) as exc:
            community.dashboards(s, AVAILABLE)
        msg = str(exc.value)
        assert f"no sha256 is pinned for {NAME}" in msg
        assert f"artifact_checksums: {{{NAME!r}: '<sha256>'}}" in msg
        assert files.asked == []
        s = host_settings({"artifact_mirror": server.url, "artifact_checksums_from_release": True,
                           "grafana_community_dashboards": [ENTRY]})
        with pytest.raises(ArtifactError, match="grafana.com publishes no checksum"):
            community.dashboards(s, AVAILABLE)
        assert files.asked == []
    finally:
        server.close()


def test_a_download_that_does_not_verify_is_refused_and_not_kept(host_settings, recorded,
                                                                 no_proxy):
    body, sha = recorded
    server = Mirror({f"grafana-dashboards/{NAME}": body + b"\n"})
    try:
        s = host_settings({"artifact_mirror": server.url, "artifact_checksums": {NAME: sha}})
        with pytest.raises(ArtifactError, match=f"checksum mismatch for {NAME}.*expected sha256 "
                                                f"{sha}"):
            community.export(s, recording.ID, recording.REVISION)
        assert list((Path(s.artifact_cache_dir) / "grafana-dashboards").glob("*.json")) == []
    finally:
        server.close()


def test_the_pinned_table_counts(host_settings, tmp_path, monkeypatch):
    name, sha = recording.write(tmp_path / "dir")
    monkeypatch.setattr(community, "PINNED", {name: sha})
    s = host_settings({"grafana_community_dashboards_dir": str(tmp_path / "dir")})
    assert community.export(s, recording.ID, recording.REVISION)["uid"] == recording.UID


def test_nothing_is_pinned_unseen():
    # no revision was seen here (no internet): see the README
    assert community.PINNED == {}


# -- the model --------------------------------------------------------------------------------
def test_inputs_are_mapped_to_our_data_sources_and_constants_to_their_values():
    raw = recording.export()
    raw.update(id=42, gnetId=None)   # an export from a Grafana that kept its id
    m = community.model(raw, ENTRY, AVAILABLE)
    strings = list(all_strings(m))
    assert not [x for x in strings if "${DS_" in x or "${VAR_" in x]
    assert not {"__inputs", "__requires", "__elements"} & set(m)
    assert m["id"] is None and m["gnetId"] == recording.ID and m["uid"] == recording.UID
    one, two = m["panels"]
    assert one["datasource"] == {"type": "prometheus", "uid": "prometheus"}
    assert one["targets"][0]["datasource"] == {"type": "prometheus", "uid": "prometheus"}
    assert two["datasource"] == {"type": "prometheus", "uid": "prometheus"}   # was a string
    job, instance = m["templating"]["list"]
    assert job["query"] == "node" and job["current"] == {"text": "node", "value": "node"}
    assert instance["datasource"] == {"type": "prometheus", "uid": "prometheus"}
    # the dashboard's own variables are left to Grafana
    assert one["targets"][0]["expr"] == 'up{job="$job", instance=~"${instance}"}'
    assert two["targets"][0]["expr"] == 'count(up{job="${job}"})'
    assert gp.datasource_uids(m) == {"prometheus"}


def test_an_explicit_mapping_wins_and_the_export_is_not_changed():
    raw = recording.export(loki=True)
    before = json.dumps(raw)
    entry = {**ENTRY, "datasources": {"DS_PROMETHEUS": "victoriametrics", "DS_LOKI": "logs"}}
    m = community.model(raw, entry, {"prometheus", "victoriametrics", "logs"})
    assert gp.datasource_uids(m) == {"victoriametrics", "logs"}
    assert m["panels"][2]["datasource"] == {"type": "loki", "uid": "logs"}
    assert json.dumps(raw) == before


def test_a_dashboard_without_uid_gets_one_from_its_id_or_its_entry():
    assert community.model(recording.export(uid=None), ENTRY, AVAILABLE)["uid"] == \
        f"grafana-com-{recording.ID}"
    assert community.model(recording.export(), {**ENTRY, "uid": "mine"}, AVAILABLE)["uid"] \
        == "mine"


@pytest.mark.parametrize("raw, entry, message", [
    (recording.export(loki=True), ENTRY,
     "revision 3: its input DS_LOKI (a Loki data source) would use data source 'loki', which "
     "this inventory has not (it has: alertmanager, prometheus)"),
    (recording.export(), {**ENTRY, "datasources": {"DS_PROMETHEUS": "nowhere"}},
     "its input DS_PROMETHEUS (a Prometheus data source) would use data source 'nowhere'"),
    (recording.export(), {**ENTRY, "datasources": {"DS_PROMETHEUS": "prometheus",
                                                   "DS_TYPO": "prometheus"}},
     "datasources names DS_TYPO, which it has no input of"),
])
def test_an_input_the_mapping_cannot_satisfy_is_refused(raw, entry, message):
    with pytest.raises(SettingsError) as exc:
        community.model(raw, entry, AVAILABLE)
    assert f"dashboard {recording.ID} revision {recording.REVISION}" in str(exc.value)
    assert message in str(exc.value)


def test_an_input_of_a_plugin_we_do_not_run_needs_a_mapping():
    raw = recording.export()
    raw["__inputs"][0].update(pluginId="influxdb", pluginName="InfluxDB")
    with pytest.raises(SettingsError, match=r"its input DS_PROMETHEUS \(a InfluxDB data source\) "
                                            r"matches none of ours: map it with datasources"):
        community.model(raw, ENTRY, AVAILABLE)
    m = community.model(raw, {**ENTRY, "datasources": {"DS_PROMETHEUS": "prometheus"}},
                        AVAILABLE)
    assert m["panels"][1]["datasource"] == {"type": "influxdb", "uid": "prometheus"}


def test_library_panels_and_v2_resources_are_refused():
    raw = recording.export()
    raw["__elements"] = {"abc": {"kind": 1, "uid": "abc"}}
    with pytest.raises(SettingsError, match="library panels"):
        community.model(raw, ENTRY, AVAILABLE)
    with pytest.raises(SettingsError, match="classic JSON model"):
        community.model({"apiVersion": "dashboard.grafana.app/v2beta1", "kind": "Dashboard",
                         "spec": {}}, ENTRY, AVAILABLE)


# -- folders, collisions, the plan ------------------------------------------------------------
def test_folder_uids_are_stable_prefixed_and_grafana_length():
    uid = community.folder_uid("Kubernetes")
    assert uid == community.folder_uid("Kubernetes")
    assert uid == "monstack-kubernetes-" + hashlib.sha256(b"Kubernetes").hexdigest()[:8]
    assert community.folder_uid("kubernetes") != uid
    for title in ("A" * 200, "Überwachung / Netz", "日本"):
        got = community.folder_uid(title)
        assert got.startswith("monstack-") and len(got) <= 40 and got.isascii()


def test_folders_distinct_titles_and_the_default(host_settings):
    s = host_settings({"grafana_community_dashboards": [
        {"id": 1, "revision": 1, "folder": "Hosts"}, {"id": 2, "revision": 1},
        {"id": 3, "revision": 1, "folder": "Monitoring"}, {"id": 4, "revision": 1,
                                                          "folder": "Hosts"},
        {"id": 5, "revision": 1, "folder": "Databases"}]})
    assert community.folders(s) == [
        {"uid": community.folder_uid("Hosts"), "title": "Hosts"},
        {"uid": community.folder_uid("Databases"), "title": "Databases"}]


def pinned_in_dir(tmp_path, entries: list[tuple[int, dict]]) -> dict:
    folder, checksums = tmp_path / "community", {}
    for dashboard_id, kw in entries:
        name, sha = recording.write(folder, dashboard_id=dashboard_id, **kw)
        checksums[name] = sha
    return {"grafana_community_dashboards_dir": str(folder), "artifact_checksums": checksums}


def test_the_plan_has_its_folders_before_its_dashboards(host_settings, inventory, tmp_path):
    data = pinned_in_dir(tmp_path, [(recording.ID, {}), (7, {"uid": None, "title": "Seven"})])
    s = host_settings({**data, "grafana_community_dashboards": [
        {**ENTRY, "folder": "Community"}, {"id": 7, "revision": recording.REVISION}]})
    plan = gp.wanted(s)
    assert plan["folders"] == [{"uid": "monstack", "title": "Monitoring"},
                               {"uid": community.folder_uid("Community"), "title": "Community"}]
    ours = plan["dashboards"][-2:]
    assert [(d["model"]["uid"], d["folder_uid"]) for d in ours] == [
        (recording.UID, community.folder_uid("Community")), ("grafana-com-7", "monstack")]
    kinds = [k for k, _ in gp.objects(plan)]
    assert kinds.index("dashboard") > kinds.index("folder") + 1
    community._loaded.clear()   # the same models run to run, key order included
    again = gp.wanted(s)
    assert (plan["folders"], plan["dashboards"]) == (again["folders"], again["dashboards"])
    assert json.dumps(plan["dashboards"]) == json.dumps(again["dashboards"])


@pytest.mark.parametrize("uid", ["monstack-hosts", "monstack-logs"])   # logs: no Loki here
def test_a_uid_of_a_shipped_dashboard_is_refused(host_settings, inventory, tmp_path, uid):
    data = pinned_in_dir(tmp_path, [(recording.ID, {"uid": uid})])
    s = host_settings({**data, "grafana_community_dashboards": [ENTRY]})
    with pytest.raises(SettingsError, match=f"revision 3 has uid '{uid}', which a shipped"):
        gp.wanted(s)
    s = host_settings({**data, "grafana_community_dashboards": [{**ENTRY, "uid": "own"}]})
    assert gp.wanted(s)["dashboards"][-1]["model"]["uid"] == "own"


def test_a_uid_of_a_dashboards_dir_or_another_community_dashboard_is_refused(
        host_settings, inventory, tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "team.json").write_text(json.dumps({"uid": recording.UID, "title": "Team"}))
    data = pinned_in_dir(tmp_path, [(recording.ID, {}), (8, {"title": "Eight"})])
    s = host_settings({**data, "grafana_dashboards_dir": str(mine),
                       "grafana_community_dashboards": [ENTRY]})
    with pytest.raises(SettingsError, match=f"uid '{recording.UID}', which a shipped dashboard, "
                                            "one of grafana_dashboards_dir"):
        gp.wanted(s)
    s = host_settings({**data, "grafana_community_dashboards": [
        ENTRY, {"id": 8, "revision": recording.REVISION}]})
    with pytest.raises(SettingsError, match="dashboard 8 revision 3 has uid"):
        gp.wanted(s)


def test_provisioned_into_its_folder_then_nothing_to_do(host_settings, inventory, tmp_path,
                                                        monkeypatch):
    data = pinned_in_dir(tmp_path, [(recording.ID, {})])
    with running_double(monkeypatch) as double:
        s = host_settings({**data, "grafana_url": double.url, "grafana_service_account": None,
                           "grafana_community_dashboards": [{**ENTRY, "folder": "Community"}]})
        g, actions = gp.pending(s, FakeHost("mon1"))
        folder = community.folder_uid("Community")
        assert ("folder", folder, "created") in actions
        assert actions.index(("folder", folder, "created")) < actions.index(
            ("dashboard", recording.UID, "created"))
        assert double.writes() == []
        assert gp.provision(None, FakeHost("mon1"), g)
        stored = double.state.dashboards[recording.UID]
        assert stored["folderUid"] == folder
        assert double.state.folders[folder]["title"] == "Community"
        assert not [x for x in all_strings(stored["model"]) if "${DS_" in x]
        assert stored["model"]["panels"][1]["datasource"] == {"type": "prometheus",
                                                              "uid": "prometheus"}
        gp._found.clear()
        community._loaded.clear()
        double.clear_log()
        _, again = gp.pending(s, FakeHost("mon1"))
        assert again == [] and double.writes() == []
