"""Grafana's APT repository (apt.grafana.com), for the components installed from it with
the package method: Loki and Alloy (Debian has no usable package of either: its `loki` is
an unrelated pedigree-analysis tool).

The repository is set up once per host, whichever component asks first: the signing key,
read on the controller (grafana_apt_key_file, or grafana_apt_key_url downloaded once into
artifact_cache_dir), uploaded to /etc/apt/keyrings/grafana.asc, and a deb822 source
signed by that keyring. The key, the source and their paths are operations/grafana.py's,
so Grafana's own package install writes byte-identical files.

What Grafana's packages do, from their packaging sources (grafana/loki
tools/packaging/nfpm.jsonnet and loki-postinstall.sh; grafana/alloy
tools/make/packaging.mk and packaging/deb/control/postinst):

* alloy: /usr/bin/alloy; its unit in /usr/lib/systemd/system (ours, of the same name in
  /etc/systemd/system, overrides it); it is not started on install. The postinst adds
  the user alloy to adm and systemd-journal.
* loki: /usr/local/bin/loki; its unit is a package file at /etc/systemd/system/
  loki.service, the very path of ours, so a package upgrade would put the package's unit
  (default config under /tmp) in place of ours. The path is diverted (dpkg-divert) before
  the package is installed: the package's unit goes to loki.service.monstack-packaged,
  which systemd ignores. Its postinst runs `systemctl restart loki` itself (policy-rc.d
  does not stop that); on a first install there is no loki unit yet, so that fails
  harmlessly (`||:`).
"""

from __future__ import annotations

import shlex

from pyinfra import host
from pyinfra.api import FactBase
from pyinfra.api.operation import OperationMeta
from pyinfra.operations import server

from .config_files import validated_file
from .context import settings
from .install import Installed, directory, install_package

DIVERTED_BY = "monstack"

_planned: set[str] = set()


class DiversionHolder(FactBase):
    """Which package diverts `path` (dpkg-divert --listpackage): a package name, "LOCAL",
    or None when the path is not diverted."""

    def command(self, path: str) -> str:
        return f"dpkg-divert --listpackage {shlex.quote(path)} 2>/dev/null || true"

    def process(self, output):
        line = "".join(output).strip()
        return line or None


def repository(s) -> list[OperationMeta]:
    """The keyring and source of Grafana's repository, planned once per host."""
    if host.name in _planned:
        return []
    _planned.add(host.name)
    from .grafana import KEYRING, KEYRINGS, SOURCES, apt_key, apt_source
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


def install(component: str, paths: dict[str, str], package_unit_in_etc: bool = False,
            ) -> Installed:
    """`component` from Grafana's repository: the package of the same name, its binaries
    at `paths`. Our unit has the package's unit name and overrides it; a package unit in
    /etc/systemd/system (`package_unit_in_etc`) is diverted first."""
    repository(settings())
    if package_unit_in_etc:
        divert_unit(component)
    return install_package(component, list(paths), package=component, unit=component,
                           paths=paths)
