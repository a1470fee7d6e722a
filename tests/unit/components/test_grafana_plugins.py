"""Grafana's plugins: the settings check, the download once on the controller (sha256,
zip checks, repacking), the operations planned from the plugin folders' markers (new,
unchanged, changed version, dropped, foreign), the host's unpacking command, and the
GRAFANA API TEST DOUBLE's /api/plugins answered from its plugins folder."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import tarfile
import urllib.error
import urllib.request
import zipfile
from pathlib import Path
from types import SimpleNamespace

import pytest

from harness.doubles import grafana_test_plugin as test_plugin
from harness.doubles.grafana_double import GrafanaDouble, _plugins_config, load_plugins
from harness.http_files import Mirror, no_proxy  # noqa: F401
from operations.base import files as base_files
from operations.base.artifacts import ArtifactError
from operations.base.facts import MarkedFolders
from operations.base.schema import SettingsError
from operations.components.grafana import plugins
from operations.stack import validate

ID = test_plugin.PLUGIN_ID


# -- settings ----------------------------------------------------------------------------------
@pytest.mark.parametrize("method", ["archive", "package"])
def test_plugin_entries_are_checked_on_either_install_method(method):
    good = [{"id": "grafana-clock-panel", "version": "2.1.5"},
            {"id": "grafana-clickhouse-datasource", "version": "4.0.0", "per_arch": True}]
    s = validate("mon1", {"grafana_install_method": method, "grafana_plugins": good})
    assert s.grafana_plugins == good
    bad = [{"id": "Grafana_Clock", "version": "2.1"},
           {"id": "x-panel", "version": "1.0.0", "sha256": "abc"},
           {"id": "x-panel", "version": "1.0.1"},
           {"id": "y-app", "version": "1.0.0", "per_arch": True, "sha256": "a" * 64},
           {"id": "z-app", "version": "1.0.0", "url": "http://elsewhere"},
           "grafana-clock-panel"]
    with pytest.raises(SettingsError) as exc:
        validate("mon1", {"grafana_install_method": method, "grafana_plugins": bad})
    msg = str(exc.value)
    for part in ("entry 1: id 'Grafana_Clock' is not a grafana.com plugin id",
                 "entry 1: version '2.1' is not x.y.z",
                 "entry 2 (x-panel): sha256 is not 64 hexadecimal digits",
                 "entry 3 (x-panel): named twice",
                 "entry 4 (y-app): a per_arch plugin has one zip per architecture",
                 "entry 5 (z-app): unknown key(s) url",
                 "entry 6 ('grafana-clock-panel') must be a mapping"):
        assert part in msg, part


def test_no_plugins_by_default():
    assert validate("mon1", {}).grafana_plugins == []


# -- where a zip comes from and the sha256 it must have ------------------------------------
def test_grafana_com_and_mirror_urls_and_file_names():
    front = {"id": "grafana-clock-panel", "version": "2.1.5", "sha256": "A" * 64}
    a = plugins.resolve(front, "aarch64", None, {})
    assert (a.file_name, a.sha256) == ("grafana-clock-panel-2.1.5.zip", "a" * 64)
    assert a.url == "https://grafana.com/api/plugins/grafana-clock-panel/versions/2.1.5/download"
    backend = {"id": "grafana-clickhouse-datasource", "version": "4.0.0", "per_arch": True}
    name = "grafana-clickhouse-datasource-4.0.0.linux_arm64.zip"
    b = plugins.resolve(backend, "aarch64", None, {name: "b" * 64})
    assert (b.file_name, b.sha256) == (name, "b" * 64)
    assert b.url.endswith("/grafana-clickhouse-datasource/versions/4.0.0/download"
                          "?os=linux&arch=arm64")
    assert plugins.resolve(backend, "armv7l", None, {}.fromkeys(
        ["grafana-clickhouse-datasource-4.0.0.linux_arm.zip"], "c" * 64)).sha256 == "c" * 64
    m = plugins.resolve(front, "x86_64", "http://mirror.lan/m/", {})
    assert m.url == "http://mirror.lan/m/grafana-plugins/grafana-clock-panel-2.1.5.zip"


def test_a_plugin_without_a_known_sha256_is_refused_naming_the_file():
    with pytest.raises(ArtifactError) as exc:
        plugins.resolve({"id": "grafana-clock-panel", "version": "2.1.5"}, "x86_64", None, {})
    assert "'grafana-clock-panel-2.1.5.zip'" in str(exc.value)
    assert "artifact_checksums" in str(exc.value) and "sha256 in its grafana_plugins" \
        in str(exc.value)


# -- the zip, checked on the controller ----------------------------------------------------
def test_the_test_plugin_zip_passes_the_checks(tmp_path):
    path = test_plugin.build(tmp_path, "1.2.3")
    names = [m.filename for m in plugins.check_zip(path, ID, "1.2.3")]
    assert f"{ID}/plugin.json" in names and f"{ID}/module.js" in names


def broken(tmp_path, members) -> Path:
    return test_plugin.build(tmp_path, "1.0.0", members=members)


@pytest.mark.parametrize("members, says", [
    ({f"{ID}/plugin.json": b"{}", f"{ID}/../../etc/cron.d/x": b"x"}, "not inside"),
    ({f"{ID}/plugin.json": b"{}", "/etc/passwd": b"x"}, "not inside"),
    ({f"{ID}/plugin.json": b"{}", "other-panel/plugin.json": b"{}"}, "not inside"),
    ({f"{ID}/plugin.json": b"{}", f"{ID}\\..\\x": b"x"}, "not inside"),
    ({"other-panel/plugin.json": json.dumps(test_plugin.plugin_json(ID, "1.0.0")).encode()},
     "not inside"),
    ({f"{ID}/module.js": b""}, f"holds no {ID}/plugin.json"),
    ({f"{ID}/plugin.json": b"not json"}, "is not JSON"),
    ({f"{ID}/plugin.json": json.dumps(test_plugin.plugin_json(ID, "0.9.0")).encode()},
     "names id 'monstack-testdouble-panel' version '0.9.0'"),
    ({f"{ID}/plugin.json": json.dumps(test_plugin.plugin_json("other-panel",
                                                               "1.0.0")).encode()},
     "names id 'other-panel'"),
])
def test_a_zip_that_is_not_the_plugin_or_leaves_its_folder_is_refused(tmp_path, members, says):
    with pytest.raises(ArtifactError, match="nothing was installed") as exc:
        plugins.check_zip(broken(tmp_path, members), ID, "1.0.0")
    assert says in str(exc.value)


def test_a_symbolic_link_in_the_zip_is_refused(tmp_path):
    path = test_plugin.build(tmp_path, "1.0.0")
    with zipfile.ZipFile(path, "a") as zf:
        info = zipfile.ZipInfo(f"{ID}/link")
        info.external_attr = 0o120777 << 16
        zf.writestr(info, "/etc/shadow")
    with pytest.raises(ArtifactError, match="symbolic link"):
        plugins.check_zip(path, ID, "1.0.0")


def test_a_corrupt_zip_is_refused(tmp_path):
    path = test_plugin.build(tmp_path, "1.0.0")
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo(f"{ID}/module.js")
    data = bytearray(path.read_bytes())
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    data[start:start + info.compress_size] = bytes(b ^ 0xFF for b in
                                                   data[start:start + info.compress_size])
    path.write_bytes(bytes(data))
    with pytest.raises(ArtifactError, match="corrupt|not a readable zip"):
        plugins.check_zip(path, ID, "1.0.0")


# -- download once, verify, repack -----------------------------------------------------------
def settings_for(tmp_path, mirror_url=None, checksums=None, entries=()):
    return SimpleNamespace(artifact_cache_dir=str(tmp_path / "cache"),
                           artifact_mirror=mirror_url, artifact_checksums=checksums or {},
                           grafana_data_dir="/var/lib/grafana/", grafana_plugins=list(entries))


def test_downloaded_once_verified_and_repacked(no_proxy, tmp_path):
    zip_path = test_plugin.build(tmp_path / "src", "1.0.0")
    mirror = Mirror({f"grafana-plugins/{zip_path.name}": zip_path.read_bytes()})
    requests_seen = []
    original = mirror.httpd.RequestHandlerClass.do_GET

    def counting(handler):
        requests_seen.append(handler.path)
        original(handler)
    mirror.httpd.RequestHandlerClass.do_GET = counting
    try:
        entry = {"id": ID, "version": "1.0.0", "sha256": test_plugin.sha256(zip_path)}
        s = settings_for(tmp_path, mirror.url)
        artifact, tarball = plugins.prepare(entry, s, "x86_64")
        assert requests_seen == [f"/grafana-plugins/{zip_path.name}"]
        assert (tmp_path / "cache" / zip_path.name).read_bytes() == zip_path.read_bytes()
        with tarfile.open(tarball) as tar:
            members = {m.name: m for m in tar.getmembers()}
        assert set(members) == {ID, f"{ID}/plugin.json", f"{ID}/module.js",
                                f"{ID}/MANIFEST.txt"}
        assert members[f"{ID}/plugin.json"].mode == 0o644 and members[ID].mode == 0o755
        assert {m.uname for m in members.values()} == {"root"}
        again = plugins.prepare(entry, s, "x86_64")
        assert again == (artifact, tarball) and len(requests_seen) == 1   # from the cache
        wrong = {**entry, "version": "1.0.0", "sha256": "0" * 64}
        shutil.rmtree(tmp_path / "cache")
        with pytest.raises(ArtifactError, match="checksum mismatch"):
            plugins.prepare(wrong, s, "x86_64")
        assert not list((tmp_path / "cache").glob("*.tar.gz"))
    finally:
        mirror.close()


def test_a_downloaded_zip_of_another_plugin_is_refused_before_any_host_sees_it(
        no_proxy, tmp_path):
    other = test_plugin.build(tmp_path / "src", "2.0.0")     # what the mirror holds instead
    mirror = Mirror({f"grafana-plugins/{ID}-1.0.0.zip": other.read_bytes()})
    try:
        entry = {"id": ID, "version": "1.0.0", "sha256": test_plugin.sha256(other)}
        with pytest.raises(ArtifactError, match="version '2.0.0'"):
            plugins.prepare(entry, settings_for(tmp_path, mirror.url), "x86_64")
    finally:
        mirror.close()


# -- the operations planned ----------------------------------------------------------------
class PlanHost:
    name = "mon1"

    def __init__(self, folders: dict):
        self.folders, self.asked = folders, []

    def get_fact(self, cls, **kwargs):
        self.asked.append((cls, kwargs))
        return dict(self.folders)


@pytest.fixture
def plan(monkeypatch, tmp_path):
    """plugins.install() with the host's plugin folders as given; returns what it plans."""
    planned = []
    monkeypatch.setattr(plugins, "machine", lambda: "x86_64")
    monkeypatch.setattr(plugins, "plugin_folder",
                        lambda **kw: planned.append(("install", kw)) or SimpleNamespace(**kw))
    monkeypatch.setattr(plugins, "remove_paths",
                        lambda **kw: planned.append(("remove", kw)) or SimpleNamespace(**kw))
    zips = {v: test_plugin.build(tmp_path / "src" / v, v) for v in ("1.0.0", "1.1.0")}
    cache = tmp_path / "cache"
    cache.mkdir()
    for path in zips.values():
        shutil.copy(path, cache / path.name)   # downloaded by an earlier run

    def run(folders: dict, versions=("1.0.0",)):
        planned.clear()
        fake = PlanHost(folders)
        monkeypatch.setattr(plugins, "host", fake)
        entries = [{"id": ID, "version": v, "sha256": test_plugin.sha256(zips[v])}
                   for v in versions]
        ops = plugins.install(settings_for(tmp_path, "http://unused.invalid", entries=entries))
        assert fake.asked == [(MarkedFolders, {"folder": "/var/lib/grafana/plugins",
                                               "marker": plugins.MARKER})]
        assert len(ops) == len(planned)
        run.ops = ops
        return planned

    run.sha = {v: test_plugin.sha256(p) for v, p in zips.items()}
    return run


def test_a_new_plugin_is_installed_and_watched(plan):
    [(kind, kw)] = plan({"grafana-piechart-panel": None})
    assert kind == "install" and kw["name"] == f"Install Grafana plugin {ID} 1.0.0"
    assert (kw["folder"], kw["plugin_id"], kw["sha256"]) == (
        "/var/lib/grafana/plugins", ID, plan.sha["1.0.0"])
    assert Path(kw["tarball"]).is_file()
    # its marker is watched: a run killed before the restart restarts Grafana next time
    assert [op.monstack_paths for op in plan.ops] == [
        (f"/var/lib/grafana/plugins/{ID}/{plugins.MARKER}",)]


def test_an_unchanged_plugin_plans_nothing(plan):
    assert plan({ID: plan.sha["1.0.0"], "grafana-piechart-panel": None}) == []


def test_a_changed_version_is_installed_again(plan):
    [(kind, kw)] = plan({ID: plan.sha["1.0.0"]}, versions=("1.1.0",))
    assert kind == "install" and kw["sha256"] == plan.sha["1.1.0"]
    assert kw["name"] == f"Install Grafana plugin {ID} 1.1.0"
    # a marker left empty (a killed write) counts as another zip
    assert [k for k, _ in plan({ID: ""})] == ["install"]


def test_a_dropped_plugin_of_ours_is_removed_and_foreign_ones_stay(plan):
    planned = plan({ID: plan.sha["1.0.0"], "old-clock-panel": "ab" * 32,
                    "hand-made-panel": None}, versions=())
    assert planned == [("remove", {
        "name": f"Remove Grafana plugin {plugin_id} (installed by the deploy, no longer in "
                "grafana_plugins)", "paths": [f"/var/lib/grafana/plugins/{plugin_id}"]})
        for plugin_id in (ID, "old-clock-panel")]


def test_a_wanted_plugin_whose_folder_someone_else_made_is_refused(plan):
    with pytest.raises(ArtifactError) as exc:
        plan({ID: None})
    assert f"/var/lib/grafana/plugins/{ID} exists and was not installed by the deploy" \
        in str(exc.value)


# -- on the host ----------------------------------------------------------------------------
def test_the_host_command_unpacks_beside_then_moves_and_marks(monkeypatch, tmp_path):
    zip_path = test_plugin.build(tmp_path / "src", "1.0.0")
    tarball = tmp_path / "p.tar.gz"
    plugins.repack(zip_path, plugins.check_zip(zip_path, ID, "1.0.0"), tarball)
    # the upload's temporary name, asked for where the commands are made
    monkeypatch.setattr(base_files, "host", SimpleNamespace(
        get_temp_filename=lambda name: str(tmp_path / "upload.tmp")))
    folder = tmp_path / "plugins"
    folder.mkdir()
    (folder / ID).mkdir()
    (folder / ID / "stale.js").write_text("old version")
    sha = test_plugin.sha256(zip_path)
    ensure_dir, upload, unpack = plugins.plugin_folder._inner(
        tarball=str(tarball), sha256=sha, folder=str(folder), plugin_id=ID)
    assert "install -d -o grafana -g grafana -m 0750" in ensure_dir.get_raw_value()
    assert upload.dest == f"{folder}/.{ID}.tar.gz.monstack-new"
    shutil.copyfile(upload.src, upload.dest)
    res = subprocess.run(["sh", "-c", unpack.get_raw_value()], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert sorted(p.name for p in (folder / ID).iterdir()) == [
        plugins.MARKER, "MANIFEST.txt", "module.js", "plugin.json"]
    assert (folder / ID / plugins.MARKER).read_text() == f"{sha}\n"
    assert sorted(p.name for p in folder.iterdir()) == [ID]      # nothing left staged
    # what the next run's fact then reads
    fact = MarkedFolders()
    out = subprocess.run(["sh", "-c", fact.command(str(folder), plugins.MARKER)],
                         capture_output=True, text=True).stdout.splitlines()
    assert fact.process(out) == {ID: sha}


# -- the double's /api/plugins ----------------------------------------------------------------
def unzip_into(folder: Path, zip_path: Path) -> None:
    with zipfile.ZipFile(zip_path) as zf:
        zf.extractall(folder)


def get(double, path):
    auth = base64.b64encode(b"admin:pw").decode()
    req = urllib.request.Request(double.url + path, headers={"Authorization": f"Basic {auth}"})
    with urllib.request.urlopen(req, timeout=5) as resp:
        return json.loads(resp.read())


def test_the_double_lists_the_plugins_of_its_folder_as_grafana_does(tmp_path):
    folder = tmp_path / "plugins"
    unzip_into(folder, test_plugin.build(tmp_path / "src", "1.2.0"))
    unsigned = folder / "unsigned-panel"
    unsigned.mkdir()
    (unsigned / "plugin.json").write_text(json.dumps(test_plugin.plugin_json(
        "unsigned-panel", "1.0.0")))
    staged = folder / f".{ID}.monstack-new"
    shutil.copytree(folder / ID, staged)      # a staged copy is not a plugin
    with GrafanaDouble(admin_password="pw", plugins_dir=str(folder)) as double:
        # read at start, as Grafana: a plugin added later is not listed
        unzip_into(folder, test_plugin.build(tmp_path / "src2", "1.0.0", "later-panel"))
        listed = get(double, "/api/plugins")
        assert [p["id"] for p in listed] == [ID]
        [item] = listed
        assert (item["type"], item["enabled"], item["info"]["version"], item["signature"]) \
            == ("panel", True, "1.2.0", "valid")
        assert get(double, "/api/plugins?type=datasource") == []
        settings = get(double, f"/api/plugins/{ID}/settings")
        assert settings["module"] == f"public/plugins/{ID}/module.js"
        assert settings["info"]["version"] == "1.2.0"
        with pytest.raises(urllib.error.HTTPError) as exc:
            get(double, "/api/plugins/unsigned-panel/settings")
        assert exc.value.code == 404
    with GrafanaDouble(admin_password="pw", plugins_dir=str(folder),
                       allow_unsigned_plugins=["unsigned-panel"]) as double:
        assert [p["id"] for p in get(double, "/api/plugins")] == [
            "later-panel", ID, "unsigned-panel"]


def test_the_double_reads_its_plugins_folder_from_grafana_ini(tmp_path):
    ini = tmp_path / "grafana.ini"
    ini.write_text("[paths]\ndata = /var/lib/grafana\nplugins = /var/lib/grafana/plugins\n"
                   "[plugins]\nallow_loading_unsigned_plugins = a-panel, b-app\n")
    assert _plugins_config(str(ini)) == ("/var/lib/grafana/plugins", ["a-panel", "b-app"])
    ini.write_text("[paths]\ndata = /srv/g\n")
    assert _plugins_config(str(ini)) == ("/srv/g/plugins", [])
    assert load_plugins(str(tmp_path / "missing")) == {}


def test_the_shipped_grafana_ini_names_the_folder_the_deploy_fills():
    from operations.components.grafana import server
    s = validate("mon1", {"grafana_data_dir": "/srv/grafana/"})
    content = server.render(
        "grafana/grafana.ini.j2", http_addr="", http_port=3000, root_url=None,
        data_dir=s.grafana_data_dir.rstrip("/"), admin_user="admin", admin_password="x",
        cookie_secure=False, allow_sign_up=False, anonymous=False, login_ini="")
    assert f"plugins = {plugins.plugins_dir(s)}" in content.splitlines()
