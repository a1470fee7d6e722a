"""What the package method plans for the components of Grafana's APT repository (Loki,
Alloy, Grafana): where the packages put their binaries, which version is installed, and
that the plan is decided from the host's facts alone (so --dry is exact).

The host is a stand-in answering the facts these steps ask (installed packages, dpkg
diversions); operations are recorded instead of run."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from operations.components import alloy, loki
from operations.base import grafana_repository as grafana_apt, install
from operations.base.grafana_repository import DiversionHolder
from operations.stack import validate
from pyinfra.facts.deb import DebPackages


class AptHost:
    """Answers DebPackages with `packages` (name -> installed versions) and says no path
    is diverted yet."""

    name = "web1"

    def __init__(self, packages: dict[str, set[str]]):
        self.packages = packages

    def get_fact(self, cls, **kwargs):
        if cls is DebPackages:
            return self.packages
        if cls is DiversionHolder:
            return None
        raise AssertionError(f"unexpected fact {cls.__name__}")


@pytest.fixture
def apt(monkeypatch):
    """plan(component, settings data, installed packages) -> (Installed, shell commands
    planned, in order)."""

    def plan(module, data=None, packages=None):
        s = validate("web1", {f"{module.NAME}_install_method": "package", **(data or {})})
        planned = []

        def shell(name, commands):
            planned.append(SimpleNamespace(name=name, commands=commands))
            return planned[-1]

        fake_host = AptHost(packages or {})
        for mod in (install, grafana_apt):
            monkeypatch.setattr(mod, "host", fake_host)
            monkeypatch.setattr(mod.server, "shell", shell)
        monkeypatch.setattr(grafana_apt, "repository", lambda s: [])
        monkeypatch.setattr(grafana_apt, "settings", lambda: s)
        monkeypatch.setattr(install, "settings", lambda: s)
        installer = {loki: loki.install_loki, alloy: alloy.install_alloy}[module]
        return installer(s), planned

    return plan


def test_loki_from_the_package_runs_the_binary_the_package_installs(apt):
    # grafana/loki v3.6.8 tools/packaging/nfpm.jsonnet: the binary goes to /usr/bin/<name>,
    # and the package's own loki.service starts /usr/bin/loki too
    installed, _ = apt(loki)
    assert installed.path("loki") == "/usr/bin/loki"
    s = validate("web1", {"loki_install_method": "package"})
    assert loki.unit(s, installed.path("loki")).exec_start[0] == "/usr/bin/loki"


def test_the_loki_packages_unit_in_etc_is_diverted_before_the_install(apt):
    # nfpm.jsonnet installs the package's unit at /etc/systemd/system/loki.service
    _, planned = apt(loki)
    divert, install_step = planned
    assert "--divert /etc/systemd/system/loki.service.monstack-packaged" in divert.commands[0]
    assert "--add /etc/systemd/system/loki.service" in divert.commands[0]
    assert "apt-get" in install_step.commands[0]


# -- the version installed is the version pinned -----------------------------------------------
def install_steps(planned) -> list:
    return [p for p in planned if "apt-get" in p.commands[0]]


# (module, package, Debian version of the pinned release)
PINNED_PACKAGES = [
    (loki, "loki", "3.6.8"),        # nfpm: the version, no release suffix
    (alloy, "alloy", "1.17.1-1"),   # fpm --iteration 1 (build-tools/make/packaging.mk)
]


@pytest.mark.parametrize("module,package,deb_version", PINNED_PACKAGES)
def test_the_package_method_installs_the_pinned_version(apt, module, package, deb_version):
    version = deb_version.split("-")[0]
    _, planned = apt(module, {f"{package}_version": version})
    (step,) = install_steps(planned)
    assert f"{package}={deb_version}" in step.commands[0]
    assert step.name == f"Install the {package} package {deb_version}"


@pytest.mark.parametrize("module,package,deb_version", PINNED_PACKAGES)
def test_another_installed_version_is_a_planned_change(apt, module, package, deb_version):
    version = deb_version.split("-")[0]
    _, planned = apt(module, {f"{package}_version": version},
                     packages={package: {"3.0.0"}})
    (step,) = install_steps(planned)
    assert f"{package}={deb_version}" in step.commands[0]
    assert "--allow-downgrades" in step.commands[0]   # a pin below the installed one
    # named alike on every host, whatever each has now
    assert step.name == f"Install the {package} package {deb_version}"


@pytest.mark.parametrize("module,package,deb_version", PINNED_PACKAGES)
def test_the_installed_pinned_version_is_no_change(apt, module, package, deb_version):
    version = deb_version.split("-")[0]
    _, planned = apt(module, {f"{package}_version": version},
                     packages={package: {deb_version}})
    assert install_steps(planned) == []


def test_grafana_from_the_repository_is_pinned_too(apt, monkeypatch):
    from operations.components.grafana import server as grafana
    s = validate("web1", {"grafana_install_method": "package", "grafana_version": "13.2.3"})
    planned = []
    monkeypatch.setattr(install, "host", AptHost({"grafana": {"12.0.2"}}))
    monkeypatch.setattr(install.server, "shell",
                        lambda name, commands: planned.append(SimpleNamespace(
                            name=name, commands=commands)))
    monkeypatch.setattr(install.files, "link", lambda **kw: None)
    monkeypatch.setattr(grafana_apt, "repository", lambda s: [])
    monkeypatch.setattr(grafana, "machine", lambda: "x86_64")
    monkeypatch.setattr(install, "settings", lambda: s)
    grafana.install_from_repository(s)
    (step,) = install_steps(planned)
    assert "grafana=13.2.3" in step.commands[0]


def test_an_unpinned_distribution_package_is_installed_only_when_absent(monkeypatch):
    # Debian's own packages (the exporters, Prometheus) keep taking the release's version
    assert install.package_wanted(set(), None)
    assert not install.package_wanted({"1.5.0"}, None)
    assert install.apt_request("prometheus", None) == "prometheus"


# -- what the package's postinst changes after the facts were read --------------------------------
def test_an_alloy_package_upgrade_sets_etc_alloy_again(apt):
    """The alloy postinst (v1.17.1 packaging/deb/control/postinst) sets /etc/alloy to
    root:alloy 0770 on every configure, upgrades included, after this run read its facts:
    an upgrade must set our 0750 again, or /etc/alloy stays 0770 and the next run changes
    it (seen while writing tests/e2e/test_grafana_apt_packages.py)."""
    data = {"alloy_version": "1.17.1"}
    s = validate("web1", {"alloy_install_method": "package", **data})
    upgraded, _ = apt(alloy, data, packages={"alloy": {"1.17.0-1"}})
    assert alloy.reset_by_package(s, upgraded) == ("/etc/alloy",)
    current, _ = apt(alloy, data, packages={"alloy": {"1.17.1-1"}})
    assert alloy.reset_by_package(s, current) == ()
    archive = validate("web1", {"alloy_install_method": "archive"})
    assert alloy.reset_by_package(archive, upgraded) == ()


def test_a_reset_folder_gets_its_owner_and_mode_though_the_facts_show_them_right(monkeypatch):
    right = {"/etc/alloy": {"user": "root", "group": "alloy", "mode": 750},
             "/var/lib/alloy": {"user": "alloy", "group": "alloy", "mode": 750}}

    class Host:
        def get_fact(self, cls, paths):
            return {p: dict(right[p]) for p in paths}

    monkeypatch.setattr(install, "host", Host())
    folders = [("/etc/alloy", "root", "alloy", "0750"),
               ("/var/lib/alloy", "alloy", "alloy", "0750")]
    assert list(install.managed_directories._inner(folders=folders)) == []
    (command,) = install.managed_directories._inner(folders=folders, reset=["/etc/alloy"])
    assert str(command) == "chown root:alloy /etc/alloy && chmod 0750 /etc/alloy"


def test_apt_gives_up_after_apt_timeout_and_says_what_to_check(apt):
    _, planned = apt(loki, {"apt_timeout": "90s"})
    (step,) = install_steps(planned)
    command = step.commands[0]
    assert "timeout -k 10 90 apt-get update -qq && timeout -k 10 90 apt-get install" in command
    assert ("did not finish within 90s (apt_timeout): check the host's APT sources and "
            "proxy") in command
