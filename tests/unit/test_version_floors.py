"""Each component's floor (RELEASES' "oldest"): a <component>_version below it, or one that
is not a version, is refused by the settings with one error naming the setting, the
version, the floor and why."""

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

from harness import doubles
from harness.doubles import grafana_archive, vm_cluster_archive
from operations import docs
from operations.base.catalogue import floor_of, release_of
from operations.base.schema import VERSION_RE, SettingsError, version_tuple
from operations.stack import COMPONENTS, INSTALLED, RELEASES, validate


def floor(component: str) -> str:
    return RELEASES[release_of(component)]["oldest"]


def just_below(version: str) -> str:
    """The release right before `version`, as far as numbers go."""
    major, minor, patch = version_tuple(version)
    if patch:
        return f"{major}.{minor}.{patch - 1}"
    if minor:
        return f"{major}.{minor - 1}.99"
    return f"{major - 1}.99.99"


def archive(component: str, version: str) -> dict:
    return {f"{component}_install_method": "archive", f"{component}_version": version}


@pytest.mark.parametrize("component", list(INSTALLED))
def test_a_version_below_the_floor_is_refused_with_one_error(component):
    oldest, why = floor_of(component)
    below = just_below(oldest)
    with pytest.raises(SettingsError) as raised:
        validate("mon1", archive(component, below))
    assert str(raised.value) == (
        f"host mon1: {component}_version {below} is older than {oldest}, the oldest "
        f"{component} monstack can configure (reason: {why}); use {oldest} or newer")


@pytest.mark.parametrize("component", list(INSTALLED))
def test_the_floor_itself_is_accepted(component):
    s = validate("mon1", archive(component, floor(component)))
    assert s.component(component, "version") == floor(component)


@pytest.mark.parametrize("component", sorted(set(COMPONENTS) - set(INSTALLED)))
def test_a_scrape_only_component_has_no_version_to_refuse(component):
    # nothing is installed: no version, install method or flags to give
    assert COMPONENTS[component].scrape_only and component not in RELEASES
    for suffix in ("_version", "_install_method", "_extra_flags"):
        with pytest.raises(SettingsError, match=f"unknown setting '{component}{suffix}'"):
            validate("mon1", {f"{component}{suffix}": "1.0.0"})


def test_a_pre_release_counts_as_its_release():
    validate("mon1", archive("loki", "3.0.0-rc.1"))
    with pytest.raises(SettingsError, match="loki_version 2.9.10-rc.1 is older than 3.0.0"):
        validate("mon1", archive("loki", "2.9.10-rc.1"))


@pytest.mark.parametrize("version", ["v3.5.3", "V3.5.3"])
def test_a_leading_v_is_refused_with_a_hint(version):
    with pytest.raises(SettingsError, match=re.escape(
            f"prometheus_version ({version!r}) is not a version like "
            f"{RELEASES['prometheus']['version']} (drop the leading 'v'")):
        validate("mon1", {"prometheus_version": version})


@pytest.mark.parametrize("version", ["latest", "3.5", "3", "", "3.5.3 ", "3.x.0", "stable-3.5.3"])
def test_what_is_not_a_version_is_refused(version):
    with pytest.raises(SettingsError, match=re.escape(
            f"prometheus_version ({version!r}) is not a version like") + ".*never 'latest'"):
        validate("mon1", {"prometheus_version": version})


def test_a_distributions_package_has_no_floor_its_version_unused():
    s = validate("mon1", {"prometheus_install_method": "package", "prometheus_version": "2.0.0"})
    assert s.prometheus_version == "2.0.0"


@pytest.mark.parametrize("component", ["grafana", "loki", "alloy"])
def test_grafanas_repository_installs_the_version_so_its_floor_holds(component):
    below = just_below(floor(component))
    with pytest.raises(SettingsError, match=f"{component}_version {re.escape(below)} is older"):
        validate("mon1", {f"{component}_install_method": "package",
                          f"{component}_version": below})


def test_every_bad_version_is_named_in_the_one_error():
    with pytest.raises(SettingsError) as raised:
        validate("mon1", {"node_exporter_version": "1.0.0", "alertmanager_version": "latest"})
    message = str(raised.value)
    assert message.count("host mon1:") == 1
    assert "node_exporter_version 1.0.0 is older" in message
    assert "alertmanager_version ('latest')" in message


@pytest.mark.parametrize("release", list(RELEASES))
def test_defaults_and_proven_versions_are_at_or_above_the_floor(release):
    entry = RELEASES[release]
    assert VERSION_RE.fullmatch(entry["oldest"]), entry["oldest"]
    assert entry["oldest_reason"].strip()
    assert version_tuple(entry["version"]) >= version_tuple(entry["oldest"])
    for version, debian_release in entry["proven"]:
        assert version_tuple(version) >= version_tuple(entry["oldest"]), version
        assert debian_release in docs.DEBIAN_RELEASES


PROVEN = [(release, version, suite) for release, entry in RELEASES.items()
          for version, suite in entry["proven"]]


@pytest.mark.parametrize("release,version,suite", PROVEN,
                         ids=[f"{r}-{v}-{s}" for r, v, s in PROVEN])
def test_each_proven_version_is_the_debian_build_the_suite_runs(release, version, suite):
    """"Proven with real binaries" names the very build the fleet runs: Debian's package of
    that release carries that upstream version."""
    from harness import debian
    assert debian.upstream_version(release, "amd64", suite) == version


def test_the_test_doubles_versions_pass_the_settings():
    data = {**{k: v for c in doubles.COMPONENTS
               for k, v in archive(c, doubles.pinned_version(c)).items()},
            **archive("grafana", grafana_archive.pinned_version()),
            **{f"{p}_version": vm_cluster_archive.VERSION for p in vm_cluster_archive.PROGRAMS}}
    validate("mon1", data)


def test_readme_versions_table_is_current():
    text = (REPO / "README.md").read_text()
    start, end = "<!-- versions:start -->\n", "<!-- versions:end -->"
    assert start in text and end in text
    assert text.split(start, 1)[1].split(end, 1)[0] == docs.render_versions_table()


def test_the_versions_table_has_a_row_per_release_with_its_floor():
    rows = docs.render_versions_table().splitlines()[2:]
    assert len(rows) == len(docs.release_components())
    by_name = {row.split(" | ")[0].lstrip("| "): row for row in rows}
    assert "| 2.42.0 | 2.42.0, 2.53.3, 3.5.3 | 2.42.0: Debian 12 (bookworm), 2.53.3: Debian 13 " \
           "(trixie), 3.5.3: Debian unstable (sid) |" in by_name["prometheus"]
    assert by_name["loki"].endswith("| 3.0.0 | none | test doubles only |")
    assert "victoriametrics_cluster (vmstorage, vminsert, vmselect)" in by_name
