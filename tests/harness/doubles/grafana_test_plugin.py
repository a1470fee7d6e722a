"""A TEST PLUGIN for Grafana, packaged as grafana.com packages plugins: a zip holding one
top folder named after the plugin id, with its plugin.json. It is not a real plugin.

It is frontend-only (a panel: plugin.json and module.js, one zip for every architecture),
so the deploy's plugin install can be tested without grafana.com: the GRAFANA API TEST
DOUBLE (grafana_double.py) lists it in /api/plugins once it is in the plugins folder. Its
MANIFEST.txt is NOT a signed manifest (the double only looks for the file; real Grafana
would refuse it as an invalid signature).
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path

PLUGIN_ID = "monstack-testdouble-panel"
MIRROR_FOLDER = "grafana-plugins"   # operations/components/grafana/plugins.py's choice


def plugin_json(plugin_id: str, version: str) -> dict:
    return {"type": "panel", "name": f"TEST PLUGIN {plugin_id} (not a real plugin)",
            "id": plugin_id,
            "info": {"author": {"name": "monstack tests"},
                     "description": "a test plugin of monstack's tests; it does nothing",
                     "version": version, "updated": "2026-01-01"},
            "dependencies": {"grafanaDependency": ">=10.0.0", "plugins": []}}


def build(work: Path, version: str = "1.0.0", plugin_id: str = PLUGIN_ID,
          members: dict[str, bytes] | None = None) -> Path:
    """Write `<plugin_id>-<version>.zip` under `work`; return its path. `members` (name in
    the zip -> content) replaces the default content, to build broken zips."""
    work.mkdir(parents=True, exist_ok=True)
    path = work / f"{plugin_id}-{version}.zip"
    if members is None:
        members = {
            f"{plugin_id}/": b"",
            f"{plugin_id}/plugin.json": json.dumps(plugin_json(plugin_id, version),
                                                   indent=2).encode(),
            f"{plugin_id}/module.js": b"/* TEST PLUGIN of monstack's tests: does nothing */\n"
                                      b"define([], function () { return {}; });\n",
            f"{plugin_id}/MANIFEST.txt": b"TEST PLUGIN: this is not a signed manifest.\n",
        }
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, content in members.items():
            info = zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0))
            info.external_attr = (0o40755 if name.endswith("/") else 0o100644) << 16
            zf.writestr(info, content)
    return path


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def publish(mirror, work: Path, version: str = "1.0.0", plugin_id: str = PLUGIN_ID) -> dict:
    """Put the test plugin's zip on the mirror (under grafana-plugins/); return its
    grafana_plugins entry (with its sha256)."""
    path = build(work, version, plugin_id)
    folder = mirror.root / MIRROR_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    (folder / path.name).write_bytes(path.read_bytes())
    return {"id": plugin_id, "version": version, "sha256": sha256(path)}
