"""Grafana's APT repository (apt.grafana.com), for the components installed from it with
the package method: Loki and Alloy (Debian has no usable package of either: its `loki` is
an unrelated pedigree-analysis tool).

The repository is set up once per host, whichever component asks first: the signing key,
read on the controller (grafana_apt_key_file, or grafana_apt_key_url downloaded once into
artifact_cache_dir), uploaded to /etc/apt/keyrings/grafana.asc, and a deb822 source
signed by that keyring. Grafana's own package install (operations/components/grafana/server.py) uses this
same repository step.

What Grafana's packages do, from their packaging sources at the pinned tags (grafana/loki
v3.6.8 tools/packaging/nfpm.jsonnet, loki.service and loki-postinstall.sh; grafana/alloy
v1.17.1 build-tools/make/packaging.mk and packaging/deb/control/postinst):

* alloy: /usr/bin/alloy; its unit in /usr/lib/systemd/system (ours, of the same name in
  /etc/systemd/system, overrides it); it is not started on install. The postinst adds
  the user alloy to adm and systemd-journal.
* loki: /usr/bin/loki; its unit is a package file at /etc/systemd/system/
  loki.service, the very path of ours, so a package upgrade would put the package's unit
  (default config under /tmp) in place of ours. The path is diverted (dpkg-divert) before
  the package is installed: the package's unit goes to loki.service.monstack-packaged,
  which systemd ignores. Its postinst runs `systemctl restart loki` itself (policy-rc.d
  does not stop that); on a first install there is no loki unit yet, so that fails
  harmlessly (`||:`).
"""

from __future__ import annotations

import hashlib
import os
import shlex
import threading
from pathlib import Path

import requests
from pyinfra import host
from pyinfra.api import FactBase
from pyinfra.api.operation import OperationMeta
from pyinfra.operations import server

from operations.base import artifacts, catalogue
from operations.base.files import validated_file
from operations.base.install import Installed, directory, install_package
from operations.base.inventory import first_plan, settings
from operations.base.schema import SettingsError

DIVERTED_BY = "monstack"
# The repository serves every release: its package method installs the pinned one too
VERSION_HELP = ("upstream version (pinned, never 'latest'): the archive method's release, and "
                "the package version the package method installs from Grafana's APT "
                "repository")
KEYRINGS = "/etc/apt/keyrings"
KEYRING = f"{KEYRINGS}/grafana.asc"   # ASCII-armored: apt >= 1.4 reads .asc keyrings
SOURCES = "/etc/apt/sources.list.d/grafana.sources"
PGP_PUBLIC_KEY = "-----BEGIN PGP PUBLIC KEY BLOCK-----"


class DiversionHolder(FactBase):
    """Which package diverts `path` (dpkg-divert --listpackage): a package name, "LOCAL",
    or None when the path is not diverted."""

    def command(self, path: str) -> str:
        return f"dpkg-divert --listpackage {shlex.quote(path)} 2>/dev/null || true"

    def process(self, output):
        line = "".join(output).strip()
        return line or None


def apt_source(repo_url: str) -> str:
    return ("# Managed by monstack (pyinfra)\n"
            "Types: deb\n"
            f"URIs: {repo_url}\n"
            "Suites: stable\n"
            "Components: main\n"
            f"Signed-By: {KEYRING}\n")


_key_lock = threading.Lock()


def apt_key(s) -> str:
    """The repository's signing key, read on the controller (the hosts may have no route to
    the internet): grafana_apt_key_file, or grafana_apt_key_url downloaded once into the
    artifact cache."""
    if s.grafana_apt_key_file:
        path = Path(s.grafana_apt_key_file).expanduser()
        if not path.is_file():
            raise SettingsError(f"grafana_apt_key_file: {path} does not exist on the controller")
    else:
        url = s.grafana_apt_key_url
        cache = Path(s.artifact_cache_dir).expanduser()
        path = cache / f"grafana-apt-key-{hashlib.sha256(url.encode()).hexdigest()[:12]}.asc"
        with _key_lock:
            if not path.is_file():
                try:
                    resp = requests.get(url, timeout=30)
                    resp.raise_for_status()
                except requests.RequestException as exc:
                    raise artifacts.ArtifactError(
                        f"could not download Grafana's APT key from {url}: {exc}; or give "
                        "it as grafana_apt_key_file") from None
                cache.mkdir(parents=True, exist_ok=True)
                part = path.with_name(path.name + ".part")
                part.write_text(resp.text)
                if PGP_PUBLIC_KEY not in resp.text:
                    part.unlink()
                    raise artifacts.ArtifactError(f"{url} did not answer with a PGP public key")
                os.replace(part, path)
    text = path.read_text()
    if PGP_PUBLIC_KEY not in text:
        raise SettingsError(f"{path} is not an ASCII-armored PGP public key")
    return text


def repository(s) -> list[OperationMeta]:
    """The keyring and source of Grafana's repository, planned once per host."""
    if not first_plan("Grafana's APT repository"):
        return []
    return [directory(KEYRINGS),
            validated_file(name="Install the signing key of Grafana's APT repository",
                           dest=KEYRING, content=apt_key(s)),
            validated_file(name="Add Grafana's APT repository", dest=SOURCES,
                           content=apt_source(s.grafana_apt_repo_url))]


def divert_unit(component: str) -> list[OperationMeta]:
    """Send the package's own /etc/systemd/system/<component>.service elsewhere."""
    path = f"/etc/systemd/system/{component}.service"
    holder = host.get_fact(DiversionHolder, path=path)
    if holder == DIVERTED_BY:
        return []
    return [server.shell(
        name=f"Divert the {component} package's unit file (ours is {path})",
        commands=[f"dpkg-divert --package {DIVERTED_BY} --divert {path}.monstack-packaged "
                  f"--add {path}"])]


def deb_version(component: str, version: str) -> str:
    """The Debian version of `component`'s package of upstream `version`, as its
    packaging names it (its release entry's deb_version; notes say where each comes
    from)."""
    return catalogue.releases()[component]["deb_version"].format(version=version)


def install(component: str, paths: dict[str, str], version: str,
            package_unit_in_etc: bool = False) -> Installed:
    """`component` from Grafana's repository: the package of the same name at upstream
    `version` (the <component>_version setting), its binaries at `paths`. Our unit has
    the package's unit name and overrides it; a package unit in /etc/systemd/system
    (`package_unit_in_etc`) is diverted first."""
    repository(settings())
    if package_unit_in_etc:
        divert_unit(component)
    return install_package(component, list(paths), package=component, unit=component,
                           paths=paths, version=deb_version(component, version))
