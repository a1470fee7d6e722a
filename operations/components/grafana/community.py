"""Community dashboards from grafana.com, by id and revision: downloaded once on the controller (or read from the mirror or a local folder), sha256-pinned, their data source inputs mapped to ours.

A revision downloaded from grafana.com (``/api/dashboards/<id>/revisions/<rev>/download``)
is in Grafana's export format: ``__inputs`` (``DS_*`` inputs of type datasource, each with
its ``pluginId``; inputs of type constant with their ``value``), ``__requires`` and
``${DS_X}`` in panels, targets and templating. The model sent to Grafana has every
``${DS_X}`` replaced by the uid of one of our data sources (a string
``"datasource": "${DS_X}"`` becomes ``{"type", "uid"}``), every ``${CONSTANT}`` by its
value, no ``__inputs``/``__requires``/``__elements``, ``id`` null, ``gnetId`` the
grafana.com id, and the dashboard's own uid (``grafana-com-<id>`` when it has none). The
file is pinned by its sha256, so the model is the same on every run: provisioning's
read-compare-write (api.ensure_dashboard) leaves it alone once it is there.

Everything here runs at plan time on the controller (provisioning.wanted()): a download
that fails or does not verify, or an input that no data source of ours can satisfy, stops
the deploy before anything changes.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import re
from pathlib import Path

from operations.base import artifacts
from operations.base.artifacts import Artifact, ArtifactError
from operations.base.schema import Setting, SettingsError
from operations.base.templates import shipped_dashboards

# where a revision is downloaded from when neither a local folder nor a mirror is set
GRAFANA_COM = "https://grafana.com/api/dashboards/{id}/revisions/{revision}/download"
MIRROR_FOLDER = "grafana-dashboards"    # <artifact_mirror>/grafana-dashboards/<file name>
CACHE_FOLDER = "grafana-dashboards"     # <artifact_cache_dir>/grafana-dashboards/<file name>
DEFAULT_FOLDER_UID = "monstack"         # provisioning.FOLDER_UID (a unit test holds them equal)
FOLDER_UID_PREFIX = "monstack-"

# file name -> sha256 of the grafana.com download of that revision. Empty: no revision has
# been seen here (no internet), and nothing is pinned unseen; artifact_checksums extends it.
PINNED: dict[str, str] = {}

# an input's plugin -> the uid of our data source of that type (provisioning.datasources())
DEFAULT_DATASOURCES = {"prometheus": "prometheus", "loki": "loki",
                       "alertmanager": "alertmanager"}

ENTRY_KEYS = {"id", "revision", "folder", "datasources", "uid"}

# its settings, in the grafana section of the settings table (server.py adds them)
SETTINGS: tuple[Setting, ...] = (
    Setting("grafana_community_dashboards", "list", [], section="grafana", help=(
        "dashboards from grafana.com by id and revision: [{id, revision, folder (title; "
        "default grafana_folder), datasources ({DS_INPUT: our data source uid}; default: "
        "each datasource input by its plugin: prometheus, loki, alertmanager), uid (only "
        "to replace a uid that clashes)}]; each file is sha256-pinned like an archive: "
        "artifact_checksums {'grafana-dashboard-<id>-<revision>.json': '<sha256>'}")),
    Setting("grafana_community_dashboards_dir", "str", None, optional=True, section="grafana",
            help=("controller folder holding the grafana-dashboard-<id>-<revision>.json files "
                  "(air-gapped sites); unset: <artifact_mirror>/grafana-dashboards/, else "
                  "grafana.com")),
)


def file_name(dashboard_id: int, revision: int) -> str:
    """The name a revision has in the cache, on the mirror, in the local folder and in
    artifact_checksums."""
    return f"grafana-dashboard-{dashboard_id}-{revision}.json"


def _is_count(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def entry_problems(entries) -> list[str]:
    """What is wrong with grafana_community_dashboards' entries."""
    key = "grafana_community_dashboards"
    if not isinstance(entries, list):
        return [f"{key}: a list of {{id, revision, ...}} is needed, got {entries!r}"]
    found, seen = [], set()
    for n, entry in enumerate(entries, start=1):
        where = f"{key} entry {n}"
        if not isinstance(entry, dict):
            found.append(f"{where}: needs {{id, revision}}, got {entry!r}")
            continue
        if unknown := sorted(set(entry) - ENTRY_KEYS):
            found.append(f"{where}: unknown keys {', '.join(map(str, unknown))} (known: "
                         f"{', '.join(sorted(ENTRY_KEYS))})")
        if not (_is_count(entry.get("id")) and _is_count(entry.get("revision"))):
            found.append(f"{where}: id and revision must be whole numbers above 0 (the "
                         f"grafana.com dashboard id and its revision), got id "
                         f"{entry.get('id')!r}, revision {entry.get('revision')!r}")
        elif entry["id"] in seen:
            found.append(f"{where}: dashboard {entry['id']} is listed twice")
        else:
            seen.add(entry["id"])
        folder = entry.get("folder")
        if folder is not None and not (isinstance(folder, str) and folder.strip()):
            found.append(f"{where}: folder must be a folder title, got {folder!r}")
        mapping = entry.get("datasources")
        if mapping is not None and not (isinstance(mapping, dict) and all(
                isinstance(k, str) and isinstance(v, str) and v for k, v in mapping.items())):
            found.append(f"{where}: datasources must map input names to data source uids "
                         f"({{DS_PROMETHEUS: prometheus}}), got {mapping!r}")
        uid = entry.get("uid")
        if uid is not None and not (isinstance(uid, str) and re.fullmatch(r"[\w-]{1,40}", uid)):
            found.append(f"{where}: uid must be 1 to 40 letters, digits, - or _, got {uid!r}")
    return found


def settings_problems(values: dict) -> list[str]:
    """Rules between one host's settings of this part of Grafana: values -> errors."""
    return entry_problems(values.get("grafana_community_dashboards", []))


# -- folders ---------------------------------------------------------------------------------
def folder_uid(title: str) -> str:
    """A stable uid for a folder title: monstack-<slug>-<8 hex of its sha256> (at most 38
    characters: Grafana takes 40)."""
    slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")[:20].strip("-")
    digest = hashlib.sha256(title.encode()).hexdigest()[:8]
    return f"{FOLDER_UID_PREFIX}{slug + '-' if slug else ''}{digest}"


def _folder_of(s, entry: dict) -> str:
    title = entry.get("folder")
    return DEFAULT_FOLDER_UID if title is None or title == s.grafana_folder else folder_uid(title)


def folders(s) -> list[dict]:
    """The folders of the community dashboards other than grafana_folder, in the order
    first named."""
    out = {}
    for entry in s.grafana_community_dashboards:
        uid = _folder_of(s, entry)
        if uid != DEFAULT_FOLDER_UID:
            out.setdefault(uid, {"uid": uid, "title": entry["folder"]})
    return list(out.values())


# -- the files -------------------------------------------------------------------------------
def expected_sha256(s, dashboard_id: int, revision: int) -> str:
    name = file_name(dashboard_id, revision)
    sha = (s.artifact_checksums or {}).get(name) or PINNED.get(name)
    if sha:
        return sha.lower()
    why = (" (artifact_checksums_from_release does not apply: grafana.com publishes no "
           "checksum of a dashboard revision)" if s.artifact_checksums_from_release else "")
    raise ArtifactError(
        f"grafana_community_dashboards: no sha256 is pinned for {name}, so nothing was "
        f"downloaded{why}: look at that revision, then pin the sha256 of the file you "
        f"trust in artifact_checksums: {{{name!r}: '<sha256>'}} (e.g. `curl -sL "
        f"{GRAFANA_COM.format(id=dashboard_id, revision=revision)} | sha256sum`)")


def source_url(s, dashboard_id: int, revision: int) -> str:
    name = file_name(dashboard_id, revision)
    if s.artifact_mirror:
        return f"{s.artifact_mirror.rstrip('/')}/{MIRROR_FOLDER}/{name}"
    return GRAFANA_COM.format(id=dashboard_id, revision=revision)


_loaded: dict[tuple[str, str], dict] = {}   # (file name, sha256) -> the parsed export


def export(s, dashboard_id: int, revision: int) -> dict:
    """The verified export of a revision: from grafana_community_dashboards_dir, else
    downloaded once into artifact_cache_dir (from the mirror or grafana.com)."""
    name = file_name(dashboard_id, revision)
    sha = expected_sha256(s, dashboard_id, revision)
    if (name, sha) not in _loaded:
        if s.grafana_community_dashboards_dir:
            path = Path(s.grafana_community_dashboards_dir).expanduser() / name
            if not path.is_file():
                raise ArtifactError(
                    f"grafana_community_dashboards_dir: {path} is missing (put the download "
                    f"of {GRAFANA_COM.format(id=dashboard_id, revision=revision)} there)")
            got = artifacts.file_sha256(path)
            if got != sha:
                raise ArtifactError(f"checksum mismatch for {name} in {path}: expected sha256 "
                                    f"{sha}, got {got}; nothing was installed")
        else:
            cache = Path(os.path.expanduser(s.artifact_cache_dir)) / CACHE_FOLDER
            path = artifacts.fetch(Artifact("grafana", str(revision), "", name,
                                            source_url(s, dashboard_id, revision), sha), cache)
        try:
            _loaded[(name, sha)] = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise ArtifactError(f"{name} ({path}): not readable as JSON: {exc}") from None
    return copy.deepcopy(_loaded[(name, sha)])


# -- the model -------------------------------------------------------------------------------
def _replace(value, names: dict[str, str], refs: dict[str, dict]):
    """`value` with ``${NAME}`` replaced; a "datasource" that is just ``${DS_X}`` becomes
    a {"type", "uid"} reference."""
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if key == "datasource" and isinstance(item, str) and item[2:-1] in refs \
                    and item == f"${{{item[2:-1]}}}":
                out[key] = dict(refs[item[2:-1]])
            else:
                out[key] = _replace(item, names, refs)
        return out
    if isinstance(value, list):
        return [_replace(item, names, refs) for item in value]
    if isinstance(value, str) and "${" in value:
        return re.sub(r"\$\{(\w+)\}", lambda m: names.get(m.group(1), m.group(0)), value)
    return value


def model(raw: dict, entry: dict, available: set[str]) -> dict:
    """The dashboard model for Grafana of the export `raw` of `entry`, its data source
    inputs mapped to the uids in `available`: refused (SettingsError) when it cannot be."""
    what = f"grafana_community_dashboards: dashboard {entry['id']} revision {entry['revision']}"
    if not isinstance(raw, dict) or "spec" in raw and "apiVersion" in raw:
        raise SettingsError(f"{what} is not a dashboard in Grafana's classic JSON model "
                            "(a v2 dashboard resource?): choose a revision exported as JSON")
    if not raw.get("title"):
        raise SettingsError(f"{what} has no title: is it a dashboard export?")
    if raw.get("__elements"):
        raise SettingsError(f"{what} uses library panels (__elements), which are not "
                            "provisioned: choose another revision or dashboard")
    mapping = dict(entry.get("datasources") or {})
    names, refs, inputs = {}, {}, raw.get("__inputs") or []
    for item in inputs:
        name, kind = item.get("name"), item.get("type")
        if kind == "datasource":
            plugin = item.get("pluginId")
            uid = mapping.pop(name, None) or DEFAULT_DATASOURCES.get(plugin)
            if not uid:
                raise SettingsError(
                    f"{what}: its input {name} (a {item.get('pluginName') or plugin} data "
                    f"source) matches none of ours: map it with datasources: {{{name}: "
                    "<data source uid>}")
            if uid not in available:
                raise SettingsError(
                    f"{what}: its input {name} (a {item.get('pluginName') or plugin} data "
                    f"source) would use data source {uid!r}, which this inventory has not "
                    f"(it has: {', '.join(sorted(available))}): map it with datasources")
            names[name], refs[name] = uid, {"type": plugin, "uid": uid}
        elif kind == "constant":
            names[name] = str(item.get("value") if item.get("value") is not None else "")
        else:
            raise SettingsError(f"{what}: its input {name} is of type {kind!r}; only "
                                "datasource and constant inputs can be given")
    if mapping:
        raise SettingsError(f"{what}: datasources names {', '.join(sorted(mapping))}, which "
                            f"it has no input of (its inputs: "
                            f"{', '.join(i.get('name', '?') for i in inputs) or 'none'})")
    out = _replace({k: v for k, v in raw.items()
                    if k not in ("__inputs", "__requires", "__elements")}, names, refs)
    out["id"] = None
    out["gnetId"] = entry["id"]
    out["uid"] = entry.get("uid") or raw.get("uid") or f"grafana-com-{entry['id']}"
    return out


def _shipped_uids() -> set[str]:
    uids = set()
    for path in shipped_dashboards():
        try:
            uids.add(json.loads(path.read_text()).get("uid"))
        except (OSError, ValueError):
            continue   # provisioning.dashboards() refuses it, naming the file
    return uids


def dashboards(s, available: set[str], planned: list[dict] = ()) -> list[dict]:
    """The community dashboards as provisioning entries ({"model", "folder_uid"}); a uid
    that a shipped dashboard or one already `planned` (grafana_dashboards_dir) has, or
    another community dashboard, is refused."""
    if not s.grafana_community_dashboards:
        return []
    if problems := entry_problems(s.grafana_community_dashboards):
        raise SettingsError("; ".join(problems))
    taken = _shipped_uids() | {d["model"]["uid"] for d in planned}
    out = []
    for entry in s.grafana_community_dashboards:
        m = model(export(s, entry["id"], entry["revision"]), entry, available)
        if m["uid"] in taken:
            raise SettingsError(
                f"grafana_community_dashboards: dashboard {entry['id']} revision "
                f"{entry['revision']} has uid {m['uid']!r}, which a shipped dashboard, one "
                "of grafana_dashboards_dir or another community dashboard has: give it "
                "another with uid in its entry")
        taken.add(m["uid"])
        out.append({"model": m, "folder_uid": _folder_of(s, entry)})
    return out
