"""Grafana's plugins: sha256-verified zips unpacked into its plugins folder; the ones the deploy placed and the settings no longer name are removed.

On the controller, each plugin of `grafana_plugins` is downloaded once into
artifact_cache_dir (from grafana.com's plugin API, or `<artifact_mirror>/grafana-plugins/`),
its sha256 checked (the entry's own, else artifact_checksums, else the pinned table: none
is pinned for plugins), and its zip tested there: every member's CRC, no member leaving
the one top folder named after the plugin id (no absolute path, `..` or link), and
`<id>/plugin.json` naming that id and version. It is then repacked as a tar.gz (hosts
need no unzip; modes kept, owner root) for the host.

On the host the plugin is unpacked to `<grafana_data_dir>/plugins/<id>` (the plugins path
grafana.ini sets) with a marker file holding the zip's sha256. One fact (MarkedFolders)
lists the plugin folders and their markers before anything runs: a plugin is installed
when its folder's marker names another zip (or it has none yet), staged beside as
`.<id>.monstack-new` and moved into place, so a killed run converges and `--dry` is exact.
A folder carrying our marker whose id the settings no longer name is removed; folders
without it (installed by hand or `grafana cli`) are never touched, and a wanted plugin
whose folder is such a foreign one is refused. Grafana loads plugins only at its start:
install() returns the operations that change plugins, and server.py restarts Grafana once
when any of them changes something.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import posixpath
import re
import shlex
import stat
import tarfile
import time
import zipfile
from pathlib import Path

from pyinfra import host
from pyinfra.api import StringCommand, operation

from operations.base import artifacts, catalogue
from operations.base.artifacts import Artifact, ArtifactError
from operations.base.facts import MarkedFolders
from operations.base.files import remove_paths, stages_beside, unpacked_in_place, watched
from operations.base.install import machine
from operations.base.schema import Setting

# grafana.com's plugin API: GET <API>/<id>/versions/<version>/download answers with the
# plugin's zip (a redirect to it). A plugin with a backend is built per OS and
# architecture; the query os/arch picks that build (the "packages" of
# <API>/<id>/versions/<version> name them linux-amd64, linux-arm64, linux-arm, ...), a
# frontend-only plugin has one zip ("any") for all. The zip holds one top folder named
# after the plugin id (grafana.com/developers/plugin-tools: "Package a plugin"). The
# download path and its os/arch query: grafana.com's plugin API as grafana cli and nixpkgs'
# grafana plugin derivations fetch it (".../versions/<v>/download?os=linux&arch=amd64");
# arch=arm for 32-bit ARM follows Go's GOARCH and is not checked against grafana.com here.
API = "https://grafana.com/api/plugins"
# where the zips are on artifact_mirror: <artifact_mirror>/grafana-plugins/<file name>
MIRROR_FOLDER = "grafana-plugins"
MARKER = ".monstack-plugin-sha256"
# uname -m -> Go's GOARCH, which names grafana.com's backend builds
GOARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "armv8l": "arm",
          "armv6l": "arm"}
# grafana.com plugin ids: lowercase words joined by dashes (<org>-<name>-<type>)
PLUGIN_ID = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
VERSION = re.compile(r"\d+\.\d+\.\d+")
SHA256 = re.compile(r"[0-9a-fA-F]{64}")
KEYS = ("id", "version", "sha256", "per_arch")

# its settings, in the grafana section of the settings table (server.py adds them)
SETTINGS: tuple[Setting, ...] = (
    Setting("grafana_plugins", "list", [], section="grafana", help=(
        "plugins to install: [{id, version, sha256, per_arch}] (id as on grafana.com, "
        "version x.y.z; sha256 of the zip, else it must be in artifact_checksums under "
        "its file name <id>-<version>.zip; per_arch: true for a plugin with a backend, "
        "one zip per architecture named <id>-<version>.linux_<amd64|arm64|arm>.zip, its "
        "sha256s in artifact_checksums). Downloaded on the controller from grafana.com "
        "or <artifact_mirror>/grafana-plugins/; a plugin the deploy installed and this "
        "list no longer names is removed (plugins installed otherwise are left alone)")),
)


def settings_problems(values: dict) -> list[str]:
    """Rules between one host's settings of this part of Grafana: values -> errors."""
    entries = values.get("grafana_plugins") or []
    errors, seen = [], set()
    for n, entry in enumerate(entries, 1):
        where = f"grafana_plugins entry {n}"
        if not isinstance(entry, dict):
            errors.append(f"{where} ({entry!r}) must be a mapping {{id, version}}")
            continue
        plugin_id, version = entry.get("id"), entry.get("version")
        if not isinstance(plugin_id, str) or not PLUGIN_ID.fullmatch(plugin_id):
            errors.append(f"{where}: id {plugin_id!r} is not a grafana.com plugin id "
                          "(lowercase letters and digits joined by dashes, e.g. "
                          "grafana-clock-panel)")
        else:
            where = f"grafana_plugins entry {n} ({plugin_id})"
            if plugin_id in seen:
                errors.append(f"{where}: named twice (one version per plugin)")
            seen.add(plugin_id)
        unknown = sorted(str(k) for k in entry if k not in KEYS)
        if unknown:
            errors.append(f"{where}: unknown key(s) {', '.join(unknown)} (known: "
                          f"{', '.join(KEYS)})")
        if not isinstance(version, str) or not VERSION.fullmatch(version):
            errors.append(f"{where}: version {version!r} is not x.y.z (e.g. '2.1.5'; "
                          "quote it in YAML)")
        if not isinstance(entry.get("per_arch", False), bool):
            errors.append(f"{where}: per_arch must be true or false")
        sha = entry.get("sha256")
        if sha is not None and (not isinstance(sha, str) or not SHA256.fullmatch(sha)):
            errors.append(f"{where}: sha256 is not 64 hexadecimal digits")
        elif sha is not None and entry.get("per_arch"):
            errors.append(f"{where}: a per_arch plugin has one zip per architecture: give "
                          "their sha256s in artifact_checksums (file name -> sha256), "
                          "not one sha256")
    return errors


# -- on the controller ---------------------------------------------------------------------
def plugins_dir(s) -> str:
    """The plugins folder of grafana.ini ([paths] plugins)."""
    return f"{s.grafana_data_dir.rstrip('/')}/plugins"


def goarch(machine_name: str) -> str:
    try:
        return GOARCH[machine_name]
    except KeyError:
        raise ArtifactError(f"Grafana plugins: no plugin build is known for architecture "
                            f"{machine_name!r} (known: {', '.join(sorted(GOARCH))}); "
                            "set machine_arch") from None


def file_name(entry: dict, machine_name: str) -> str:
    """The zip's name in the cache, on the mirror and in artifact_checksums."""
    if entry.get("per_arch"):
        return f"{entry['id']}-{entry['version']}.linux_{goarch(machine_name)}.zip"
    return f"{entry['id']}-{entry['version']}.zip"


def resolve(entry: dict, machine_name: str, mirror: str | None,
            extra_checksums: dict[str, str]) -> Artifact:
    """Which zip of plugin `entry` to fetch from where, and the sha256 it must have."""
    name = file_name(entry, machine_name)
    if mirror:
        url = f"{mirror.rstrip('/')}/{MIRROR_FOLDER}/{name}"
    else:
        url = f"{API}/{entry['id']}/versions/{entry['version']}/download"
        if entry.get("per_arch"):
            url += f"?os=linux&arch={goarch(machine_name)}"
    sha = entry.get("sha256") or extra_checksums.get(name) or catalogue.checksums().get(name)
    if not sha:
        how = ("" if entry.get("per_arch") else
               "give it as sha256 in its grafana_plugins entry or ")
        raise ArtifactError(
            f"Grafana plugin {entry['id']} {entry['version']}: no sha256 is known for "
            f"{name}: {how}add {{{name!r}: '<sha256>'}} to artifact_checksums (the sha256 "
            f"of the zip you checked, e.g. `sha256sum {name}`); nothing was installed")
    return Artifact(f"grafana plugin {entry['id']}", entry["version"], machine_name, name,
                    url, sha.lower())


def _mode(info: zipfile.ZipInfo) -> int:
    return (info.external_attr >> 16) & 0o170777


def check_zip(path: Path, plugin_id: str, version: str) -> list[zipfile.ZipInfo]:
    """The members of a plugin zip, once it is shown to be one of `plugin_id` at
    `version`: every CRC right, every member inside the top folder `<plugin_id>/` (no
    absolute path, `..`, backslash or link), `<plugin_id>/plugin.json` naming that id and
    version. Raises ArtifactError saying what is wrong."""
    where = f"Grafana plugin zip {path.name}"
    try:
        with zipfile.ZipFile(path) as zf:
            bad = zf.testzip()
            if bad is not None:
                raise ArtifactError(f"{where}: member {bad!r} is corrupt; nothing was installed")
            members = zf.infolist()
            for info in members:
                name = info.filename
                parts = name.rstrip("/").split("/")
                if (name.startswith("/") or "\\" in name or ".." in parts or ":" in parts[0]
                        or parts[0] != plugin_id or "" in parts[1:]):
                    raise ArtifactError(
                        f"{where}: member {name!r} is not inside the one top folder "
                        f"{plugin_id}/ (zips of grafana.com hold the plugin in a folder named "
                        "after its id; an absolute path or .. would leave it); nothing was "
                        "installed")
                if stat.S_ISLNK(_mode(info)):
                    raise ArtifactError(f"{where}: member {name!r} is a symbolic link, "
                                        "which is refused; nothing was installed")
            try:
                meta = json.loads(zf.read(f"{plugin_id}/plugin.json"))
            except KeyError:
                raise ArtifactError(f"{where}: it holds no {plugin_id}/plugin.json (the top "
                                    f"folder must be named {plugin_id}); nothing was "
                                    "installed") from None
            except ValueError as exc:
                raise ArtifactError(f"{where}: {plugin_id}/plugin.json is not JSON: {exc}; "
                                    "nothing was installed") from None
    except (zipfile.BadZipFile, OSError) as exc:
        raise ArtifactError(f"{where}: not a readable zip ({exc}); nothing was installed") \
            from None
    found = (meta.get("id"), (meta.get("info") or {}).get("version")) \
        if isinstance(meta, dict) else (None, None)
    if found != (plugin_id, version):
        raise ArtifactError(f"{where}: its plugin.json names id {found[0]!r} version "
                            f"{found[1]!r}, not {plugin_id!r} {version!r}; nothing was "
                            "installed")
    return members


def repack(path: Path, members: list[zipfile.ZipInfo], dest: Path) -> None:
    """The checked zip as a gzipped tar at `dest` (same paths; folders 0755, files 0644 or
    0755 when the zip marks them executable for their owner; owner root), written
    atomically."""
    part = dest.with_name(f".{dest.name}.{os.getpid()}-{id(members):x}.part")
    with zipfile.ZipFile(path) as zf, open(part, "wb") as raw, \
            gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as gz, \
            tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for info in members:
            ti = tarfile.TarInfo(info.filename.rstrip("/"))
            ti.mtime = int(time.mktime(info.date_time + (0, 0, -1)))
            ti.uid = ti.gid = 0
            ti.uname = ti.gname = "root"
            if info.is_dir():
                ti.type, ti.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(ti)
            else:
                data = zf.read(info)
                # readable by Grafana's user; executable (a backend) when its owner could
                ti.size, ti.mode = len(data), 0o755 if _mode(info) & 0o100 else 0o644
                tar.addfile(ti, io.BytesIO(data))
    os.replace(part, dest)


def prepare(entry: dict, s, machine_name: str) -> tuple[Artifact, Path]:
    """Plugin `entry` downloaded once and verified in artifact_cache_dir, its zip checked;
    returns it and the tar.gz the host unpacks."""
    cache = Path(os.path.expanduser(s.artifact_cache_dir))
    artifact = resolve(entry, machine_name, s.artifact_mirror, s.artifact_checksums)
    zip_path = artifacts.fetch(artifact, cache)
    tarball = cache / f"{artifact.file_name}.{artifact.sha256[:16]}.tar.gz"
    if not tarball.is_file():
        repack(zip_path, check_zip(zip_path, entry["id"], entry["version"]), tarball)
    return artifact, tarball


# -- on the host -----------------------------------------------------------------------------
@operation()
def plugin_folder(tarball: str, sha256: str, folder: str, plugin_id: str):
    """
    A checked plugin unpacked into `folder`/`plugin_id`, with the marker naming its zip.

    + tarball: the plugin repacked on the controller (see prepare)
    + sha256: the zip's sha256, written to the marker

    Planned only when the folder's marker (fact MarkedFolders) names another zip: the
    plugin is unpacked beside as .<id>.monstack-new and moved into place.
    """
    q_dir = shlex.quote(folder)
    yield StringCommand(f"[ -d {q_dir} ] || install -d -o grafana -g grafana -m 0750 {q_dir}")
    yield from unpacked_in_place(tarball, posixpath.join(folder, f".{plugin_id}"),
                                 posixpath.join(folder, plugin_id), strip=1, marker=MARKER,
                                 sha256=sha256, mode="0755")


def install(s) -> list:
    """Plan the plugins of host settings `s`: install or replace the wanted ones whose
    folder does not hold their zip, remove the ones the deploy placed and `s` no longer
    names. Returns those operations: Grafana must restart when any of them changes."""
    folder = plugins_dir(s)
    present = host.get_fact(MarkedFolders, folder=folder, marker=MARKER) or {}
    wanted = {entry["id"]: entry for entry in s.grafana_plugins}
    ops = []
    if wanted or any(sha is not None for sha in present.values()):
        stages_beside(f"{folder}/-")   # what a killed run staged there is removed at the end
    for plugin_id, entry in wanted.items():
        if plugin_id in present and present[plugin_id] is None:
            raise ArtifactError(
                f"host {host.name}: Grafana plugin {plugin_id}: {folder}/{plugin_id} exists "
                "and was not installed by the deploy (it holds no marker; installed by hand "
                "or `grafana cli`?): the deploy never replaces such a folder. Remove it "
                f"(e.g. `grafana cli --pluginsDir {folder} plugins remove {plugin_id}`) to let "
                "the deploy manage it, or drop it from grafana_plugins")
        artifact, tarball = prepare(entry, s, machine())
        if present.get(plugin_id) == artifact.sha256:
            continue
        dest = f"{folder}/{plugin_id}"
        ops.append(watched(plugin_folder(
            name=f"Install Grafana plugin {plugin_id} {entry['version']}",
            tarball=str(tarball), sha256=artifact.sha256, folder=folder,
            plugin_id=plugin_id), [f"{dest}/{MARKER}"]))
    for plugin_id in sorted(present):
        if present[plugin_id] is not None and plugin_id not in wanted:
            ops.append(remove_paths(
                name=f"Remove Grafana plugin {plugin_id} (installed by the deploy, no longer "
                     "in grafana_plugins)", paths=[f"{folder}/{plugin_id}"]))
    return ops
