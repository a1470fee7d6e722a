"""Alertmanager's routes, time intervals, inhibit rules, templates and the receivers whose
secrets live in files: checked on the controller (one error per mistake, before any host
is touched), rendered, and given to Debian's real amtool of bookworm (0.25), trixie (0.28)
and sid (0.33): `amtool check-config`, and `amtool config routes test` for where alerts
go. The README's routing example is rendered as written."""

from __future__ import annotations

import re
import shlex
import subprocess
from pathlib import Path

import pytest
import yaml

from harness import debian
from harness.settings import refused, settings_builder
from operations.base.schema import SettingsError
from operations.components.alertmanager import receivers, routing, server

REPO = Path(__file__).resolve().parents[3]
SUITES = ("bookworm", "sid")   # amtool 0.25.0 and 0.33.1
SECRETS = {"PD_ROUTING_KEY": "pd-secret-1", "SLACK_WEBHOOK_URL": "https://hooks.example/s-2",
           "OPSGENIE_DB_KEY": "og-secret-3", "T_DISCORD_URL": "https://discord.example/d-4",
           "T_TEAMS_URL": "https://teams.example/t-5", "T_PUSHOVER_USER": "po-user-6",
           "T_PUSHOVER_TOKEN": "po-token-7"}


@pytest.fixture
def settings_of(monkeypatch, tmp_path):
    """validate() one host's data; secret() reads the environment set here."""
    return settings_builder(monkeypatch, tmp_path, environment=SECRETS)


def amtool(suite: str, *args) -> subprocess.CompletedProcess:
    return subprocess.run([str(debian.tool("amtool", suite)), *map(str, args)],
                          capture_output=True, text=True, timeout=60)


def check_config(suite: str, text: str, tmp_path: Path) -> subprocess.CompletedProcess:
    path = tmp_path / f"alertmanager-{suite}.yml"
    path.write_text(text)
    return amtool(suite, "check-config", path)


def routes_test(suite: str, path: Path, **labels) -> list[str]:
    res = amtool(suite, "config", "routes", "test", f"--config.file={path}",
                 *(f"{k}={v}" for k, v in labels.items()))
    assert res.returncode == 0, res.stdout + res.stderr
    return sorted(res.stdout.strip().split(","))


# -- the README's example ----------------------------------------------------------------------
def readme_example() -> dict:
    """The settings of the README's routing example, run as the Python it is."""
    text = (REPO / "README.md").read_text()
    marker = "<!-- routing example: tests/unit/components/test_alertmanager_routing.py"
    block = re.search(r"```python\n(.*?)```", text[text.index(marker):], re.S).group(1)
    found: dict = {}
    exec(compile(block, "README.md", "exec"), {}, found)
    return found


@pytest.mark.parametrize("suite", SUITES)
def test_the_readme_routing_example_routes_as_it_says(settings_of, tmp_path, suite):
    example = readme_example()
    assert set(example) == {"alertmanager_receivers", "alertmanager_time_intervals",
                            "alertmanager_routes", "alertmanager_inhibit_rules"}
    s = settings_of(example)
    text, files = routing.config(s)
    assert files == {"/etc/alertmanager/secrets/db-team.api_key": "og-secret-3"}
    res = check_config(suite, text, tmp_path)
    assert res.returncode == 0, res.stdout + res.stderr
    path = tmp_path / f"alertmanager-{suite}.yml"

    # where alerts go (amtool leaves time intervals aside: they are checked below)
    assert routes_test(suite, path, alertname="PostgresDown", job="postgres",
                       severity="critical") == ["db-team", "oncall", "ops-chat"]
    assert routes_test(suite, path, alertname="RedisTooManyConnections", job="redis",
                       severity="warning") == ["db-team", "ops-chat"]
    assert routes_test(suite, path, alertname="HostHighCpuUsage", job="node",
                       severity="warning") == ["ops-chat"]
    assert routes_test(suite, path, alertname="TargetDown", job="node",
                       severity="critical") == ["oncall", "ops-chat"]
    assert routes_test(suite, path, alertname="Something", job="node",
                       severity="info") == ["blackhole"]

    # ... and when: the database team's route only in office hours, warnings muted at night
    cfg = yaml.safe_load(text)
    db, warnings, *severity = cfg["route"]["routes"]
    assert (db["receiver"], db["active_time_intervals"], db["continue"]) == (
        "db-team", ["office-hours"], True)
    assert (warnings["receiver"], warnings["mute_time_intervals"]) == ("ops-chat", ["night"])
    assert not warnings.get("continue")          # a warning stops there
    assert [r["receiver"] for r in severity] == ["oncall", "ops-chat"]   # db-team: []
    intervals = {t["name"]: t["time_intervals"] for t in cfg["time_intervals"]}
    assert intervals["office-hours"] == [{
        "weekdays": ["monday:friday"], "times": [{"start_time": "08:00", "end_time": "18:00"}],
        "location": "Europe/Berlin"}]
    assert [(t["start_time"], t["end_time"]) for t in intervals["night"][0]["times"]] == [
        ("00:00", "07:00"), ("22:00", "24:00")]
    assert cfg["inhibit_rules"][1:] == example["alertmanager_inhibit_rules"]


# -- routes, intervals and inhibit rules rendered -------------------------------------------
def test_routes_come_before_the_severity_routes_and_nest(settings_of, tmp_path):
    s = settings_of({
        "alertmanager_receivers": [{"name": "a", "type": "webhook", "url": "http://127.0.0.1:9/a"},
                                   {"name": "b", "type": "webhook", "url": "http://127.0.0.1:9/b",
                                    "severities": []}],
        "alertmanager_routes": [{"matchers": ['team="db"'], "group_by": ["..."],
                                 "routes": [{"receiver": "b", "matchers": ['env="prod"']}]}],
    })
    text = routing.config_content(s)
    routes = yaml.safe_load(text)["route"]["routes"]
    assert routes[0] == {"matchers": ['team="db"'], "group_by": ["..."],
                         "routes": [{"receiver": "b", "matchers": ['env="prod"']}]}
    assert [r["receiver"] for r in routes[1:]] == ["a"]
    for suite in SUITES:
        assert check_config(suite, text, tmp_path).returncode == 0
        path = tmp_path / f"alertmanager-{suite}.yml"
        # the parent route names no receiver: it inherits the root's
        assert routes_test(suite, path, team="db", env="prod", severity="critical") == ["b"]
        assert routes_test(suite, path, team="db", severity="critical") == ["blackhole"]
        assert routes_test(suite, path, team="web", severity="critical") == ["a"]


def test_notification_templates_are_listed_and_checked_by_amtool(settings_of, tmp_path):
    good, bad = tmp_path / "team.tmpl", tmp_path / "broken.tmpl"
    good.write_text('{{ define "team.title" }}[{{ .Status }}] {{ .GroupLabels }}{{ end }}\n')
    bad.write_text('{{ define "broken" }}{{ .Status }\n')
    s = settings_of({"alertmanager_template_files": [str(good)]})
    cfg = yaml.safe_load(routing.config_content(s))
    assert cfg["templates"] == ["/etc/alertmanager/templates/team.tmpl"]
    assert routing.template_files(s.values) == {"/etc/alertmanager/templates/team.tmpl": good}
    for suite in SUITES:
        command = server.template_check(str(debian.tool("amtool", suite)))
        ok = subprocess.run(command.format(paths=shlex.quote(str(good))), shell=True,
                            capture_output=True, text=True)
        assert ok.returncode == 0, ok.stdout + ok.stderr
        both = " ".join(shlex.quote(str(p)) for p in (good, bad))
        failed = subprocess.run(command.format(paths=both), shell=True, capture_output=True,
                                text=True)
        assert failed.returncode != 0
        assert "broken.tmpl" in failed.stdout + failed.stderr


# -- one error per mistake, before any host is touched ---------------------------------------
HOOK = [{"name": "ops", "type": "webhook", "url": "http://127.0.0.1:9/"}]
NIGHT = [{"name": "night", "time_intervals": [
    {"times": [{"start_time": "22:00", "end_time": "24:00"}]}]}]


@pytest.mark.parametrize("data,error", [
    ({"alertmanager_routes": [{"receiver": "opps"}]},
     "alertmanager_routes[0]: receiver 'opps' is none of alertmanager_receivers (known: "
     "blackhole, ops)"),
    ({"alertmanager_routes": [{"receiver": "ops", "routes": [{"receiver": "db"}]}]},
     "alertmanager_routes[0].routes[0]: receiver 'db' is none of alertmanager_receivers "
     "(known: blackhole, ops)"),
    ({"alertmanager_routes": [{"receiver": "ops", "mute_time_intervals": ["nite"]}]},
     "alertmanager_routes[0].mute_time_intervals: 'nite' is none of "
     "alertmanager_time_intervals (known: night)"),
    ({"alertmanager_routes": [{"receiver": "ops", "active_time_intervals": ["office"]}]},
     "alertmanager_routes[0].active_time_intervals: 'office' is none of "
     "alertmanager_time_intervals (known: night)"),
    ({"alertmanager_routes": [{"receiver": "ops", "group_wait": "30 s"}]},
     "alertmanager_routes[0].group_wait ('30 s') is not a duration like 30s, 5m, 4h or 1d"),
    ({"alertmanager_routes": [{"receiver": "ops", "repeat_interval": "0s"}]},
     "alertmanager_routes[0].repeat_interval (0s) must be longer than 0: Alertmanager "
     "refuses a zero interval"),
    ({"alertmanager_routes": [{"receiver": "ops", "matchers": ['severity="critical']}]},
     "alertmanager_routes[0].matchers: 'severity=\"critical' has a value opening a double "
     "quote it does not close"),
    ({"alertmanager_routes": [{"receiver": "ops", "matchers": ["severity"]}]},
     "alertmanager_routes[0].matchers: 'severity' is not label, operator (=, !=, =~, !~), "
     "value: the label a name of letters, digits, _ and :, not a digit first"),
    ({"alertmanager_routes": [{"receiver": "ops", "matchers": ['job=~"(db"']}]},
     "alertmanager_routes[0].matchers: 'job=~\"(db\"' has a regular expression that does "
     "not compile (missing ), unterminated subpattern)"),
    ({"alertmanager_routes": [{"receiver": "ops", "matchers": 'severity="critical"'}]},
     "alertmanager_routes[0].matchers must be a list of matchers such as "
     "['severity=\"critical\"']; got 'severity=\"critical\"'"),
    ({"alertmanager_routes": [{"receiver": "ops", "match": {"severity": "critical"}}]},
     "alertmanager_routes[0]: match is Alertmanager's old syntax: use matchers (e.g. "
     "['severity=\"critical\"'])"),
    ({"alertmanager_routes": [{"receiver": "ops", "contine": True}]},
     "alertmanager_routes[0]: unknown key 'contine' (known: receiver, matchers, continue, "
     "group_by, group_wait, group_interval, repeat_interval, routes, mute_time_intervals, "
     "active_time_intervals)"),
    ({"alertmanager_routes": [{"receiver": "ops", "group_by": ["alert-name"]}]},
     "alertmanager_routes[0].group_by: 'alert-name' is not a label name (letters, digits "
     "and _, not a digit first), nor ['...'] (every label)"),
    ({"alertmanager_routes": [{"receiver": "ops", "continue": "yes"}]},
     "alertmanager_routes[0].continue must be true or false; got 'yes'"),
])
def test_a_routing_mistake_is_refused_with_one_error(data, error):
    assert refused({"alertmanager_receivers": HOOK, "alertmanager_time_intervals": NIGHT,
                    **data}) == error


def interval(**fields) -> dict:
    return {"alertmanager_time_intervals": [{"name": "t", "time_intervals": [fields]}]}


@pytest.mark.parametrize("data,error", [
    (interval(times=[{"start_time": "9:00", "end_time": "17:00"}]),
     "alertmanager_time_intervals 't'.time_intervals[0].times[0]: start_time ('9:00') is "
     "not a time HH:MM (00:00 to 24:00, two-digit hours)"),
    (interval(times=[{"start_time": "22:00", "end_time": "06:00"}]),
     "alertmanager_time_intervals 't'.time_intervals[0].times[0]: start_time 22:00 must be "
     "before end_time 06:00 (a span over midnight is two spans)"),
    (interval(times=[{"start_time": "08:00"}]),
     "alertmanager_time_intervals 't'.time_intervals[0].times[0] must be {start_time: "
     "'HH:MM', end_time: 'HH:MM'}; got {'start_time': '08:00'}"),
    (interval(weekdays=["monday:fryday"]),
     "alertmanager_time_intervals 't'.time_intervals[0].weekdays[0]: 'monday:fryday': "
     "fryday is not a weekday"),
    (interval(weekdays=["friday:monday"]),
     "alertmanager_time_intervals 't'.time_intervals[0].weekdays[0]: 'friday:monday' ends "
     "before it starts"),
    (interval(days_of_month=["0"]),
     "alertmanager_time_intervals 't'.time_intervals[0].days_of_month[0]: '0': 0 is not a "
     "day of the month (1 to 31, or -31 to -1 from its end)"),
    (interval(days_of_month=["-3:5"]),
     "alertmanager_time_intervals 't'.time_intervals[0].days_of_month[0]: '-3:5': a range "
     "starting from the end of the month must end so too"),
    (interval(months=["march:january"]),
     "alertmanager_time_intervals 't'.time_intervals[0].months[0]: 'march:january' ends "
     "before it starts"),
    (interval(months=["13"]),
     "alertmanager_time_intervals 't'.time_intervals[0].months[0]: '13': 13 is not a month"),
    (interval(years=["2030:2020"]),
     "alertmanager_time_intervals 't'.time_intervals[0].years[0]: '2030:2020' ends before "
     "it starts"),
    (interval(location="Europe/Berlinn"),
     "alertmanager_time_intervals 't'.time_intervals[0].location ('Europe/Berlinn') is not "
     "a time zone of the IANA database such as 'Europe/Berlin' (or 'UTC', 'Local')"),
    (interval(hours=["9:17"]),
     "alertmanager_time_intervals 't'.time_intervals[0]: unknown key 'hours' (known: "
     "times, weekdays, days_of_month, months, years, location)"),
    ({"alertmanager_time_intervals": [{"name": "t"}]},
     "alertmanager_time_intervals 't' needs time_intervals: a non-empty list of {times, "
     "weekdays, days_of_month, months, years, location}"),
    ({"alertmanager_time_intervals": NIGHT * 2},
     "alertmanager_time_intervals 'night': the name is given twice"),
])
def test_a_time_interval_mistake_is_refused_with_one_error(data, error):
    assert refused(data) == error


@pytest.mark.parametrize("data,error", [
    ({"alertmanager_inhibit_rules": [{"source_matchers": ['alertname="TargetDown"'],
                                      "equal": ["instance"]}]},
     "alertmanager_inhibit_rules[0] needs target_matchers: a non-empty list of matchers (an "
     "empty one matches every alert)"),
    ({"alertmanager_inhibit_rules": [{"source_match": {"alertname": "TargetDown"},
                                      "source_matchers": ['alertname="TargetDown"'],
                                      "target_matchers": ['severity="warning"']}]},
     "alertmanager_inhibit_rules[0]: source_match is Alertmanager's old syntax: use "
     "source_matchers"),
    ({"alertmanager_inhibit_rules": [{"source_matchers": ['alertname="TargetDown"'],
                                      "target_matchers": ['severity=~"warning|"info"']}]},
     "alertmanager_inhibit_rules[0].target_matchers: 'severity=~\"warning|\"info\"' has a "
     "double quote inside its value: escape it as \\\""),
    ({"alertmanager_inhibit_rules": [{"source_matchers": ['a="b"'],
                                      "target_matchers": ['c="d"'], "equal": "instance"}]},
     "alertmanager_inhibit_rules[0].equal must be a list of label names; got 'instance'"),
    ({"alertmanager_template_files": ["/nonexistent/team.tmpl"]},
     "alertmanager_template_files: '/nonexistent/team.tmpl' is not a file on the controller"),
])
def test_an_inhibit_rule_or_template_mistake_is_refused_with_one_error(data, error):
    assert refused(data) == error


def test_several_mistakes_are_each_named():
    errors = refused({"alertmanager_receivers": HOOK, "alertmanager_routes": [
        {"receiver": "opps", "group_wait": "soon", "mute_time_intervals": ["night"]}]})
    assert errors == (
        "alertmanager_routes[0]: receiver 'opps' is none of alertmanager_receivers (known: "
        "blackhole, ops); alertmanager_routes[0].group_wait ('soon') is not a duration like "
        "30s, 5m, 4h or 1d; alertmanager_routes[0].mute_time_intervals: 'night' is none of "
        "alertmanager_time_intervals (known: none)")


def test_template_files_of_the_same_name_are_refused(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    for d in ("a", "b"):
        (tmp_path / d / "team.tmpl").write_text("")
    a, b = str(tmp_path / "a/team.tmpl"), str(tmp_path / "b/team.tmpl")
    assert refused({"alertmanager_template_files": [a, b]}) == (
        f"alertmanager_template_files: {b} and {a} have the same file name (both would be "
        "/etc/alertmanager/templates/team.tmpl); rename one")


@pytest.mark.parametrize("version,data,error", [
    ("0.23.0", {"alertmanager_time_intervals": NIGHT},
     "alertmanager_time_intervals: alertmanager_version 0.23.0 has no time_intervals (they "
     "came with 0.24.0); use 0.24.0 or later"),
    ("0.24.0", interval(weekdays=["saturday"], location="Europe/Berlin"),
     "alertmanager_time_intervals: alertmanager_version 0.24.0 has no location in time "
     "intervals (it came with 0.25.0); use 0.25.0 or later, or give the times in UTC"),
    ("0.24.0", {"alertmanager_time_intervals": NIGHT}, ""),
    ("0.25.0", interval(weekdays=["saturday"], location="Europe/Berlin"), ""),
])
def test_time_intervals_need_alertmanager_0_24_and_a_location_0_25(version, data, error):
    assert refused({"alertmanager_version": version, **data}) == error
    # Debian's package is checked against the host's version while planning
    assert refused({"alertmanager_version": version, "alertmanager_install_method": "package",
                    **data}) == ""


# -- matchers: the controller's verdict is amtool's --------------------------------------------
# matcher -> taken by amtool 0.25 (classic parser), taken by amtool 0.33 (UTF-8 parser,
# falling back to the classic one). The controller refuses exactly what 0.25 refuses:
# what only the newer parser takes (a label name starting with a digit) is refused too.
MATCHERS = {
    'severity="critical"': (True, True), "severity=critical": (True, True),
    'team =~ "db|ops"': (True, True), 'job!~"node.*"': (True, True),
    'a="b",c="d"': (True, True), '{a="b"}': (True, True), 'a="x\\"y"': (True, True),
    'instance!=""': (True, True), "a==b": (True, True), 'a=~"(?i)db.*"': (True, True),
    "severity": (False, False), 'a="unterminated': (False, False),
    'a="x"y"': (False, False), 'a=~"(unclosed"': (False, False), 'a=~"*"': (False, False),
    'a=~"x++"': (False, False), 'a=~"(a)\\1"': (False, False),
    'a=~"x(?=y)"': (False, False), 'a=~"[z-a]"': (False, False),
    'a="b",,c="d"': (False, False), 'a ~ "b"': (False, False),
    '1abc="x"': (False, True),
}


@pytest.mark.parametrize("matcher", MATCHERS)
def test_matchers_are_refused_exactly_when_amtool_0_25_refuses_them(matcher, tmp_path):
    text = yaml.safe_dump({"route": {"receiver": "x", "routes": [
        {"receiver": "x", "matchers": [matcher]}]}, "receivers": [{"name": "x"}]})
    taken = tuple(check_config(suite, text, tmp_path).returncode == 0 for suite in SUITES)
    assert taken == MATCHERS[matcher]
    assert (routing.matcher_problem(matcher) is None) == taken[0], \
        routing.matcher_problem(matcher)


# -- receivers with secrets in files ---------------------------------------------------------
FILE_RECEIVERS = [
    {"name": "ops-discord", "type": "discord", "webhook_url_secret": "T_DISCORD_URL"},
    {"name": "ops-teams", "type": "msteams", "webhook_url_secret": "T_TEAMS_URL",
     "severities": ["critical"]},
    {"name": "ops-flow", "type": "msteamsv2", "webhook_url_secret": "T_TEAMS_URL"},
    {"name": "db-genie", "type": "opsgenie", "api_key_secret": "OPSGENIE_DB_KEY",
     "api_url": "https://api.eu.opsgenie.com/"},
    {"name": "phone", "type": "pushover", "user_key_secret": "T_PUSHOVER_USER",
     "token_secret": "T_PUSHOVER_TOKEN", "priority": "2"},
]


def test_secrets_of_teams_discord_opsgenie_pushover_go_to_files(settings_of, tmp_path):
    s = settings_of({"alertmanager_receivers": FILE_RECEIVERS})
    text, files = routing.config(s)
    d = "/etc/alertmanager/secrets"
    assert files == {f"{d}/ops-discord.webhook_url": SECRETS["T_DISCORD_URL"],
                     f"{d}/ops-teams.webhook_url": SECRETS["T_TEAMS_URL"],
                     f"{d}/ops-flow.webhook_url": SECRETS["T_TEAMS_URL"],
                     f"{d}/db-genie.api_key": SECRETS["OPSGENIE_DB_KEY"],
                     f"{d}/phone.user_key": SECRETS["T_PUSHOVER_USER"],
                     f"{d}/phone.token": SECRETS["T_PUSHOVER_TOKEN"]}
    for value in SECRETS.values():
        assert value not in text
    by_name = {r["name"]: r for r in yaml.safe_load(text)["receivers"]}
    assert by_name["ops-discord"]["discord_configs"] == [
        {"send_resolved": True, "webhook_url_file": f"{d}/ops-discord.webhook_url"}]
    assert by_name["ops-flow"]["msteamsv2_configs"] == [
        {"send_resolved": True, "webhook_url_file": f"{d}/ops-flow.webhook_url"}]
    assert by_name["db-genie"]["opsgenie_configs"] == [
        {"send_resolved": True, "api_key_file": f"{d}/db-genie.api_key",
         "api_url": "https://api.eu.opsgenie.com/"}]
    assert by_name["phone"]["pushover_configs"] == [
        {"send_resolved": True, "user_key_file": f"{d}/phone.user_key",
         "token_file": f"{d}/phone.token", "priority": "2"}]
    # Alertmanager 0.28 and 0.33 take them; 0.25 (Debian 12) refuses discord, msteams,
    # msteamsv2 and pushover as written, and takes opsgenie (0.25.0 is its floor)
    for suite in ("trixie", "sid"):
        res = check_config(suite, text, tmp_path)
        assert res.returncode == 0, res.stdout + res.stderr
    for receiver in FILE_RECEIVERS:
        one = settings_of({"alertmanager_receivers": [receiver]})
        res = check_config("bookworm", routing.config_content(one), tmp_path)
        assert (res.returncode == 0) == (receiver["type"] == "opsgenie"), (receiver, res.stdout)


def test_older_receivers_still_pass_their_own_fields_through(settings_of):
    s = settings_of({"alertmanager_smtp": {"smarthost": "m:25", "from": "a@example.org"},
                     "alertmanager_receivers": [
                         {"name": "m", "type": "email", "to": "ops@example.org",
                          "auth_password_file": "/etc/mail-password"}]})
    (config,) = yaml.safe_load(routing.config_content(s))["receivers"][1]["email_configs"]
    assert config == {"send_resolved": True, "to": "ops@example.org",
                      "auth_password_file": "/etc/mail-password"}


def test_a_receiver_name_that_is_no_file_name_gets_a_digest():
    assert receivers.secret_path("ops-chat", "webhook_url") == \
        "/etc/alertmanager/secrets/ops-chat.webhook_url"
    odd = receivers.secret_path("../Ops Chat", "webhook_url")
    assert re.fullmatch(r"/etc/alertmanager/secrets/receiver-[0-9a-f]{12}\.webhook_url", odd)


@pytest.mark.parametrize("receiver,error", [
    ({"name": "d", "type": "discord", "webhook_url": "https://discord.example/x"},
     "alertmanager receiver d (discord): give webhook_url_secret (the name of a secret; "
     "monstack writes it to a file Alertmanager reads), not webhook_url"),
    ({"name": "d", "type": "discord", "webhook_url_file": "/srv/x"},
     "alertmanager receiver d (discord): give webhook_url_secret (the name of a secret; "
     "monstack writes it to a file Alertmanager reads), not webhook_url_file"),
    ({"name": "p", "type": "pushover", "user_key_secret": "T_PUSHOVER_USER"},
     "alertmanager receiver p (pushover) needs token_secret"),
    ({"name": "o", "type": "opsgenie"}, "alertmanager receiver o (opsgenie) needs "
                                        "api_key_secret"),
])
def test_file_receivers_take_their_secrets_from_the_store_only(settings_of, receiver, error):
    s = settings_of({"alertmanager_receivers": [receiver]})
    with pytest.raises(SettingsError) as exc:
        routing.config(s)
    assert str(exc.value) == error


@pytest.mark.parametrize("receiver,below,floor,why", [
    (FILE_RECEIVERS[0], "0.27.0", "0.28.0", "cannot read a discord receiver's webhook_url "
     "from a file (webhook_url_file alone is taken from 0.28.0 on)"),
    (FILE_RECEIVERS[1], "0.27.0", "0.28.0", "cannot read an msteams receiver's webhook_url "
     "from a file (webhook_url_file alone is taken from 0.28.0 on)"),
    (FILE_RECEIVERS[2], "0.27.0", "0.28.0", "has no msteamsv2 receivers (they came with "
     "0.28.0)"),
    (FILE_RECEIVERS[3], "0.24.0", "0.25.0", "cannot read an opsgenie receiver's api_key from "
     "a file beside its own api_url (taken from 0.25.0 on)"),
    ({"name": "g", "type": "opsgenie", "api_key_secret": "OPSGENIE_DB_KEY"}, "0.23.0",
     "0.24.0", "cannot read an opsgenie receiver's api_key from a file (api_key_file came "
     "with 0.24.0)"),
    (FILE_RECEIVERS[4], "0.25.0", "0.26.0", "cannot read a pushover receiver's user_key and "
     "token from files (user_key_file and token_file came with 0.26.0)"),
])
def test_an_archive_too_old_for_a_receiver_is_refused_naming_the_floor(
        settings_of, receiver, below, floor, why):
    s = settings_of({"alertmanager_version": below, "alertmanager_receivers": [receiver]})
    with pytest.raises(SettingsError) as exc:
        routing.config(s)
    assert str(exc.value) == (f"alertmanager receiver {receiver['name']} ({receiver['type']}): "
                              f"alertmanager_version {below} {why}; use {floor} or later")
    routing.config(settings_of({"alertmanager_version": floor,
                                "alertmanager_receivers": [receiver]}))


class PackagedHost:
    name = "h1"

    def __init__(self, version):
        self.version = version

    def get_fact(self, fact, **kw):
        assert fact is server.PackageVersion and kw == {"package": "prometheus-alertmanager"}
        return self.version


@pytest.mark.parametrize("version,refused_with", [
    ("0.25.0+ds-1", "host h1: alertmanager receiver ops-discord (discord): Debian's "
                    "prometheus-alertmanager 0.25.0+ds-1 cannot read a discord receiver's "
                    "webhook_url from a file (webhook_url_file alone is taken from 0.28.0 "
                    "on); use 0.28.0 or later (or alertmanager_install_method = 'archive')"),
    ("0.28.1-2", None), (None, None)])
def test_a_package_too_old_for_a_receiver_is_refused_while_planning(
        settings_of, monkeypatch, version, refused_with):
    s = settings_of({"alertmanager_install_method": "package",
                     "alertmanager_receivers": FILE_RECEIVERS[:1]})
    routing.config(s)   # the version is the host's: nothing refused before planning
    monkeypatch.setattr(server, "host", PackagedHost(version))
    if refused_with:
        with pytest.raises(SettingsError) as exc:
            server.check_package_version(s)
        assert str(exc.value) == refused_with
    else:
        server.check_package_version(s)


def test_the_package_method_refuses_time_intervals_of_an_older_package(settings_of,
                                                                       monkeypatch):
    s = settings_of({"alertmanager_install_method": "package",
                     **interval(weekdays=["saturday"], location="UTC")})
    monkeypatch.setattr(server, "host", PackagedHost("0.23.0-4"))
    with pytest.raises(SettingsError) as exc:
        server.check_package_version(s)
    assert str(exc.value) == (
        "host h1: alertmanager_time_intervals: Debian's prometheus-alertmanager 0.23.0-4 has "
        "no time_intervals (they came with 0.24.0); use 0.24.0 or later; "
        "alertmanager_time_intervals: Debian's prometheus-alertmanager 0.23.0-4 has no "
        "location in time intervals (it came with 0.25.0); use 0.25.0 or later, or give the "
        "times in UTC (or alertmanager_install_method = 'archive')")
