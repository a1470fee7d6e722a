"""The settings schema: coercion of `--data` strings, validation errors, generated files.

Values given with `pyinfra --data key=value` arrive as strings; group_data files give
Python values. Both must end up as the declared type, and anything that does not fit
must be rejected before a single operation is planned, with an error that names the
host and the key.
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

from operations import docs
from operations.base.schema import SettingsError, coerce
from operations.stack import BY_NAME, COMPONENTS, SETTINGS, validate

PORTS = sorted(s.name for s in SETTINGS if s.name.endswith("_port"))
BOOLS = sorted(s.name for s in SETTINGS if s.type == "bool")


def test_schema_has_the_settings_these_tests_rely_on():
    # the parametrisations below would silently shrink to nothing otherwise
    assert len(COMPONENTS) >= 8  # grows as components are added
    assert {f"{c}_port" for c in COMPONENTS} <= set(PORTS)  # and alertmanager_cluster_port
    assert "node_exporter_enabled" in BOOLS
    assert {s.type for s in SETTINGS} == {"bool", "int", "str", "duration", "size", "list",
                                          "dict", "choice"}
    assert len(BY_NAME) == len(SETTINGS), "two settings share a name"


# -- bool --------------------------------------------------------------------------------
@pytest.mark.parametrize("raw", ["false", "FALSE", "False", "no", "NO", "0", "off", " no "])
def test_bool_false_strings(raw):
    assert coerce(BY_NAME["node_exporter_enabled"], raw) is False


@pytest.mark.parametrize("raw", ["true", "TRUE", "True", "yes", "Yes", "1", "on"])
def test_bool_true_strings(raw):
    assert coerce(BY_NAME["postgres_exporter_create_db_user"], raw) is True


@pytest.mark.parametrize("raw", [True, False])
def test_bool_python_values_pass_through(raw):
    assert coerce(BY_NAME["node_exporter_enabled"], raw) is raw


@pytest.mark.parametrize("raw", ["maybe", "", "2", "yess", "t", None, [True]])
def test_bool_rejects_anything_else(raw):
    with pytest.raises(ValueError):
        coerce(BY_NAME["node_exporter_enabled"], raw)


def test_bool_false_string_through_validate_really_disables():
    # the classic --data trap: bool("false") is True
    s = validate("h1", {"node_exporter_enabled": "false", "pushgateway_enabled": "TRUE"})
    assert s.node_exporter_enabled is False
    assert s.pushgateway_enabled is True


# -- int ---------------------------------------------------------------------------------
@pytest.mark.parametrize("name", PORTS)
@pytest.mark.parametrize("raw,want", [("1", 1), ("65535", 65535), ("9100", 9100),
                                      (8080, 8080)])
def test_port_in_range(name, raw, want):
    got = coerce(BY_NAME[name], raw)
    assert got == want and type(got) is int


@pytest.mark.parametrize("name", PORTS)
@pytest.mark.parametrize("raw", ["0", "65536", 0, 65536, "-1", "99999"])
def test_port_out_of_range(name, raw):
    with pytest.raises(ValueError, match="out of range 1..65535"):
        coerce(BY_NAME[name], raw)


@pytest.mark.parametrize("raw", ["abc", "", "91.5", "0x50", 9100.0, True, None, [9100]])
def test_port_not_a_whole_number(raw):
    with pytest.raises(ValueError):
        coerce(BY_NAME["node_exporter_port"], raw)


# -- duration ----------------------------------------------------------------------------
DURATION = BY_NAME["prometheus_retention_time"]


@pytest.mark.parametrize("raw", ["30d", "1h30m", "15s", "500ms", "2w", "1y", "0s", "90m",
                                 "1d12h"])
def test_duration_ok(raw):
    assert coerce(DURATION, raw) == raw


@pytest.mark.parametrize("raw", ["30 days", "10", "", "1.5h", "h", "-5m", "30D", "30d ",
                                 "5 m", "1h 30m", 30])
def test_duration_rejected(raw):
    with pytest.raises(ValueError):
        coerce(DURATION, raw)


@pytest.mark.parametrize("raw", ["30m1h", "1h1h", "5s1m"])
def test_duration_in_prometheus_order_only(raw):
    with pytest.raises(ValueError):
        coerce(DURATION, raw)


# -- size --------------------------------------------------------------------------------
SIZE = BY_NAME["prometheus_retention_size"]


@pytest.mark.parametrize("raw", ["10GB", "512MB", "1TB", "100B", "3PB", "1EB", "64KB"])
def test_size_ok(raw):
    assert coerce(SIZE, raw) == raw


@pytest.mark.parametrize("raw", ["10G", "10 GB", "GB", "1.5GB", "10Gb", "ten GB", 10])
def test_size_rejected(raw):
    with pytest.raises(ValueError, match="size|string"):
        coerce(SIZE, raw)


@pytest.mark.parametrize("raw", [None, ""])
def test_optional_setting_unset(raw):
    # `--data prometheus_retention_size=` unsets it
    assert coerce(SIZE, raw) is None


def test_required_setting_cannot_be_unset():
    with pytest.raises(ValueError, match="must be set"):
        coerce(BY_NAME["prometheus_retention_time"], None)


# -- list / dict -------------------------------------------------------------------------
@pytest.mark.parametrize("raw,want", [
    ('["host", "redis"]', ["host", "redis"]),           # JSON
    ("[host, redis]", ["host", "redis"]),               # YAML flow
    ("- host\n- redis\n", ["host", "redis"]),           # YAML block
    ("[]", []),
    (("host", "redis"), ["host", "redis"]),             # tuple from a group_data file
    (["host"], ["host"]),
])
def test_list_coercion(raw, want):
    assert coerce(BY_NAME["prometheus_shipped_rules"], raw) == want


def test_list_of_dicts_from_json():
    raw = json.dumps([{"job_name": "app", "targets": ["a:1"]}])
    assert coerce(BY_NAME["prometheus_scrape_jobs"], raw) == [
        {"job_name": "app", "targets": ["a:1"]}]


@pytest.mark.parametrize("raw", ["host,redis", "{a: 1}", "[unclosed", "", 5, {"a": 1}])
def test_list_rejected(raw):
    with pytest.raises(ValueError, match="list"):
        coerce(BY_NAME["prometheus_shipped_rules"], raw)


@pytest.mark.parametrize("raw,want", [
    ('{"cluster": "eu-1", "env": "prod"}', {"cluster": "eu-1", "env": "prod"}),
    ("{cluster: eu-1}", {"cluster": "eu-1"}),
    ("cluster: eu-1\nenv: prod\n", {"cluster": "eu-1", "env": "prod"}),
    ({"a": "b"}, {"a": "b"}),
])
def test_dict_coercion(raw, want):
    assert coerce(BY_NAME["prometheus_external_labels"], raw) == want


@pytest.mark.parametrize("raw", ["[1, 2]", "cluster", "{unclosed", ["a"], 3])
def test_dict_rejected(raw):
    with pytest.raises(ValueError, match="dict"):
        coerce(BY_NAME["prometheus_external_labels"], raw)


# -- choice / str ------------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(s.name for s in SETTINGS
                                        if s.type == "choice" and s.name.endswith("_install_method")))
def test_install_method_choices(name):
    assert coerce(BY_NAME[name], "package") == "package"
    assert coerce(BY_NAME[name], "archive") == "archive"
    with pytest.raises(ValueError, match="'pip' is not one of package, archive"):
        coerce(BY_NAME[name], "pip")
    with pytest.raises(ValueError):
        coerce(BY_NAME[name], "Archive")


@pytest.mark.parametrize("raw,want", [("auto", "auto"), ("true", "true"), ("false", "false"),
                                      (True, "true"), (False, "false")])
def test_true_false_auto_choice_takes_a_bool_too(raw, want):
    assert coerce(BY_NAME["alloy_docker_logs"], raw) == want


@pytest.mark.parametrize("raw", ["yes", "Auto", "", 1, None])
def test_true_false_auto_choice_rejects_the_rest(raw):
    with pytest.raises(ValueError):
        coerce(BY_NAME["alloy_docker_logs"], raw)


@pytest.mark.parametrize("raw", [1.8, 5, ["x"], True])
def test_str_rejects_non_strings(raw):
    with pytest.raises(ValueError, match="expected a string"):
        coerce(BY_NAME["node_exporter_version"], raw)


# -- defaults ----------------------------------------------------------------------------
@pytest.mark.parametrize("setting", SETTINGS, ids=lambda s: s.name)
def test_default_passes_its_own_coercion(setting):
    assert coerce(setting, setting.default) == setting.default


def _as_data_string(value) -> str:
    """How a user would write `value` on the command line with --data."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, dict)):
        return json.dumps(value)
    return str(value)


@pytest.mark.parametrize("setting", [s for s in SETTINGS if s.default is not None],
                         ids=lambda s: s.name)
def test_default_written_as_data_string_round_trips(setting):
    got = coerce(setting, _as_data_string(setting.default))
    assert got == setting.default and type(got) is type(setting.default)


@pytest.mark.parametrize("setting", SETTINGS, ids=lambda s: s.name)
def test_schema_entries_are_well_formed(setting):
    assert setting.help.strip(), "every setting needs help text (it is the documentation)"
    assert re.fullmatch(r"[a-z][a-z0-9_]*", setting.name)
    if setting.type == "choice":
        assert setting.choices and setting.default in setting.choices
    if setting.default is None:
        assert setting.optional, "a None default must be optional, or validate() rejects it"


# -- validate ----------------------------------------------------------------------------
def test_validate_fills_every_default():
    s = validate("h1", {})
    assert set(s.values) == set(BY_NAME)
    assert s.prometheus_retention_time == "30d"
    assert s.component("node_exporter", "port") == 9100
    with pytest.raises(AttributeError):
        s.no_such_setting  # noqa: B018


def test_validate_coerces_given_values():
    s = validate("h1", {"node_exporter_port": "9200", "prometheus_external_labels":
                        "{cluster: eu-1}", "prometheus_retention_size": "10GB"})
    assert s.node_exporter_port == 9200
    assert s.prometheus_external_labels == {"cluster": "eu-1"}
    assert s.prometheus_retention_size == "10GB"


@pytest.mark.parametrize("typo,meant", [
    ("prometheus_retention", "prometheus_retention_time"),
    ("node_exporter_prot", "node_exporter_port"),
    ("alertmanager_reciever", "alertmanager_receivers"),
    ("artifact_mirorr", "artifact_mirror"),
])
def test_unknown_key_suggests_the_close_one(typo, meant):
    with pytest.raises(SettingsError) as exc:
        validate("web1", {typo: "x"})
    msg = str(exc.value)
    assert msg.startswith("host web1:")
    assert f"unknown setting {typo!r}" in msg
    assert f"did you mean {meant!r}" in msg


def test_unknown_key_without_a_close_one_has_no_suggestion():
    with pytest.raises(SettingsError) as exc:
        validate("web1", {"completely_unrelated_thing": 1})
    assert "did you mean" not in str(exc.value)


@pytest.mark.parametrize("key", ["ssh_user", "ssh_key", "ssh_port", "_sudo", "_sudo_user",
                                 "_use_sudo_password", "winrm_user", "docker_identifier"])
def test_pyinfra_connection_keys_are_ignored(key):
    s = validate("h1", {key: "anything at all", "node_exporter_port": "9101"})
    assert s.node_exporter_port == 9101
    assert key not in s.values


def test_error_names_host_key_value_and_source():
    with pytest.raises(SettingsError) as exc:
        validate("db-3.example.org", {"postgres_exporter_port": "65536"},
                 source=lambda k: "--data")
    msg = str(exc.value)
    assert "db-3.example.org" in msg
    assert "postgres_exporter_port" in msg
    assert "65536" in msg
    assert "(from --data)" in msg


def test_all_errors_of_a_host_are_reported_at_once():
    with pytest.raises(SettingsError) as exc:
        validate("h7", {"node_exporter_enabled": "maybe", "prometheus_retention_time":
                        "30 days", "alertmanager_install_method": "pip",
                        "prometheus_retention": "1d"})
    msg = str(exc.value)
    assert msg.count("host h7") == 1
    for key in ("node_exporter_enabled", "prometheus_retention_time",
                "alertmanager_install_method", "prometheus_retention"):
        assert key in msg
    assert "'maybe'" in msg and "'30 days'" in msg and "'pip'" in msg


def test_settings_error_is_a_value_error():
    # callers that catch ValueError (pyinfra's own data handling) still see it
    assert issubclass(SettingsError, ValueError)


def test_scrape_interval_shorter_than_timeout_is_rejected():
    with pytest.raises(SettingsError, match="prometheus_scrape"):
        validate("mon1", {"prometheus_scrape_interval": "5s"})


# -- generated files ---------------------------------------------------------------------
GROUP_DATA_ALL = REPO / "group_data" / "all.py"


def test_group_data_all_is_current():
    assert GROUP_DATA_ALL.read_text() == docs.render_group_data_all(), (
        "group_data/all.py is stale: run python3 -m operations.docs --write")


def _assignments(path: Path) -> dict:
    tree = ast.parse(path.read_text())
    out = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and node.targets[0].id != "__all__":
            (target,) = node.targets
            out[target.id] = ast.literal_eval(node.value)
    return out


def test_group_data_all_keys_are_in_the_schema_with_their_defaults():
    values = _assignments(GROUP_DATA_ALL)
    # pyinfra takes a group data file's names from __all__: one missing there would be
    # dropped from every host's data, whether it is a setting or a user's typo
    text = GROUP_DATA_ALL.read_text()
    end = text.index("\n# every name above")
    module = {}   # as a user edits it: adding a name, an import
    exec(text[:end] + "\nimport os\nprometheus_prot = 1\n" + text[end:], module)
    assert module["__all__"] == [*values, "prometheus_prot"]
    unknown = sorted(set(values) - set(BY_NAME))
    assert not unknown, f"group_data/all.py sets keys the schema does not know: {unknown}"
    assert set(values) == set(BY_NAME), "group_data/all.py should list every setting"
    for key, value in values.items():
        assert value == BY_NAME[key].default, key
    # and the file as a whole is valid host data
    validate("h1", values)


def test_settings_table_from_the_command_line():
    res = subprocess.run([sys.executable, "-m", "operations.docs"], cwd=REPO,
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    rows = [line for line in res.stdout.splitlines() if line.startswith("| `")]
    names = [re.match(r"\| `([^`]+)`", row).group(1) for row in rows]
    assert names == [s.name for s in SETTINGS]
    assert res.stdout.splitlines()[0] == "| setting | type | default | meaning |"
    # every row has the four columns (a '|' in a help text would break the table)
    for row in rows:
        assert row.count(" | ") == 3, row
    by_name = dict(zip(names, rows))
    assert "| bool |" in by_name["node_exporter_enabled"]
    assert "choice (package/archive)" in by_name["prometheus_install_method"]
    assert "`30d`" in by_name["prometheus_retention_time"]


def test_readme_settings_table_is_current():
    text = (REPO / "README.md").read_text()
    start, end = "<!-- settings:start -->\n", "<!-- settings:end -->"
    assert start in text and end in text
    table = text.split(start, 1)[1].split(end, 1)[0]
    assert table == docs.render_settings_table()


def test_a_users_own_deploy_may_have_data_of_its_own():
    """Not strict (a user's deploy imports our components): unknown keys are ignored, ours
    are still checked."""
    s = validate("h1", {"my_app_port": "8080", "node_exporter_port": "9101"}, strict=False)
    assert s.node_exporter_port == 9101
    with pytest.raises(SettingsError, match="node_exporter_port"):
        validate("h1", {"my_app_port": "8080", "node_exporter_port": "x"}, strict=False)
    with pytest.raises(SettingsError, match="unknown setting 'my_app_port'"):
        validate("h1", {"my_app_port": "8080"})


def test_no_test_module_name_is_used_twice():
    """pytest imports test modules by basename (no packages here): a unit and an e2e
    module of one name stop the whole suite at collection."""
    from pathlib import Path
    tests = Path(__file__).resolve().parents[1]
    names = [p.name for p in tests.rglob("test_*.py")]
    assert sorted({n for n in names if names.count(n) > 1}) == []


@pytest.mark.parametrize("name", ["cadvisor", "jaeger", "pyroscope"])
def test_the_package_method_of_a_component_without_a_package_is_refused_saying_why(name):
    assert COMPONENTS[name].no_package
    with pytest.raises(SettingsError) as exc:
        validate("mon1", {f"{name}_enabled": True, f"{name}_install_method": "package"})
    assert (f"{name}_install_method = 'package': {COMPONENTS[name].no_package}"
            in str(exc.value))
    assert "use 'archive'" in COMPONENTS[name].no_package


def test_components_with_a_package_accept_the_package_method():
    assert not COMPONENTS["node_exporter"].no_package
    validate("mon1", {"node_exporter_install_method": "package"})
