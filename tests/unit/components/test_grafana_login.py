"""Grafana's mail and login: the [smtp], [auth.ldap] and [auth.generic_oauth] sections of
grafana.ini, ldap.toml, the checks run before anything changes, secrets kept out of every
output, and ldap.toml's removal when LDAP is switched off.

grafana.ini is read back with configparser as the test archive's launcher reads it;
ldap.toml with tomllib. The host-side fact runs its real shell command on local files.
"""

from __future__ import annotations

import configparser
import json
import re
import shutil
import subprocess
import tomllib
from pathlib import Path
from types import SimpleNamespace

import pytest
from pyinfra.api.command import FileUploadCommand, StringCommand

from harness.grafana_planning import grafana_settings
from operations.base import files as config_files
from operations.base.facts import SECRET_MASK
from operations.base.files import masked_lines, validated_file
from operations.base.schema import SettingsError
from operations.components.grafana import login, server as grafana
from operations.stack import validate


ADMIN_PW = "s3cret-Grafana-admin"
SMTP_PW = "smtp-Pw#1;not-a-comment"
BIND_PW = 'ldap-bind-"pw"\\x'
CLIENT_SECRET = "oauth-client-secret-77"
SECRETS = {"GRAFANA_ADMIN_PASSWORD": ADMIN_PW, "T_SMTP_PW": SMTP_PW, "T_LDAP_PW": BIND_PW,
           "T_OAUTH_SECRET": CLIENT_SECRET}
SMTP = {"grafana_smtp_enabled": True, "grafana_smtp_host": "smtp.example.org:587",
        "grafana_smtp_user": "grafana@example.org", "grafana_smtp_password_secret": "T_SMTP_PW",
        "grafana_smtp_from_address": "grafana@example.org", "grafana_smtp_from_name": "Ops; Grafana"}
LDAP = {"grafana_ldap_enabled": True, "grafana_ldap_host": "ldap.example.org",
        "grafana_ldap_bind_dn": "cn=grafana,ou=services,dc=example,dc=org",
        "grafana_ldap_bind_password_secret": "T_LDAP_PW",
        "grafana_ldap_search_base_dns": "['ou=people,dc=example,dc=org']",
        "grafana_ldap_attributes": "{username: sAMAccountName}",
        "grafana_ldap_group_mappings": (
            "[{group_dn: 'cn=admins,ou=groups,dc=example,dc=org', org_role: Admin, "
            "grafana_admin: true}, {group_dn: '*', org_role: Viewer}]")}
OAUTH = {"grafana_oauth_enabled": True, "grafana_oauth_name": "Keycloak",
         "grafana_oauth_client_id": "grafana", "grafana_oauth_client_secret_secret": "T_OAUTH_SECRET",
         "grafana_oauth_auth_url": "https://sso.example.org/realms/ops/protocol/openid-connect/auth",
         "grafana_oauth_token_url": "https://sso.example.org/realms/ops/protocol/openid-connect/token",
         "grafana_oauth_api_url": "https://sso.example.org/realms/ops/protocol/openid-connect/userinfo",
         "grafana_oauth_role_attribute_path": "contains(groups[*], 'ops') && 'Admin' || 'Viewer'"}


@pytest.fixture
def host_settings(monkeypatch, tmp_path):
    """Settings of Grafana host mon1 (validate()d), the known secrets in the environment."""
    return grafana_settings(monkeypatch, tmp_path, environment=SECRETS)


def parse_ini(text: str) -> configparser.ConfigParser:
    ini = configparser.ConfigParser(interpolation=None, comment_prefixes=("#", ";"))
    ini.read_string(text)
    return ini


def problems(data: dict) -> str:
    with pytest.raises(SettingsError) as exc:
        validate("mon1", data)
    return str(exc.value)


# -- grafana.ini -------------------------------------------------------------------------------
def test_everything_is_off_by_default(host_settings):
    s = host_settings()
    ini = parse_ini(grafana.config_content(s))
    assert dict(ini["smtp"]) == {"enabled": "false"}
    assert dict(ini["auth.ldap"]) == {"enabled": "false"}
    assert dict(ini["auth.generic_oauth"]) == {"enabled": "false"}
    assert login.ldap_content(s) is None


def test_smtp_section(host_settings):
    ini = parse_ini(grafana.config_content(host_settings(SMTP)))
    assert dict(ini["smtp"]) == {
        "enabled": "true", "host": '"""smtp.example.org:587"""',
        "user": '"""grafana@example.org"""', "password": f'"""{SMTP_PW}"""',
        "from_address": '"""grafana@example.org"""', "from_name": '"""Ops; Grafana"""',
        "skip_verify": "false", "starttls_policy": "MandatoryStartTLS"}
    # Grafana's own key spelling (configparser lowers keys)
    assert "\nstartTLS_policy = MandatoryStartTLS\n" in grafana.config_content(host_settings(SMTP))


def test_smtp_without_login_and_opportunistic(host_settings):
    s = host_settings({**SMTP, "grafana_smtp_user": "", "grafana_smtp_password_secret": "",
                       "grafana_smtp_starttls_policy": "OpportunisticStartTLS",
                       "grafana_smtp_skip_verify": True})
    smtp = parse_ini(grafana.config_content(s))["smtp"]
    assert "user" not in smtp and "password" not in smtp
    assert (smtp["starttls_policy"], smtp["skip_verify"]) == ("OpportunisticStartTLS", "true")


def test_ldap_and_oauth_sections(host_settings):
    ini = parse_ini(grafana.config_content(host_settings({**LDAP, **OAUTH})))
    assert dict(ini["auth.ldap"]) == {"enabled": "true", "config_file": "/etc/grafana/ldap.toml",
                                      "allow_sign_up": "true"}
    assert dict(ini["auth.generic_oauth"]) == {
        "enabled": "true", "name": '"""Keycloak"""', "client_id": '"""grafana"""',
        "client_secret": f'"""{CLIENT_SECRET}"""', "scopes": "openid profile email",
        "auth_url": f'"""{OAUTH["grafana_oauth_auth_url"]}"""',
        "token_url": f'"""{OAUTH["grafana_oauth_token_url"]}"""',
        "api_url": f'"""{OAUTH["grafana_oauth_api_url"]}"""',
        "role_attribute_path": '"""contains(groups[*], \'ops\') && \'Admin\' || \'Viewer\'"""',
        "allow_sign_up": "true", "use_pkce": "true"}


def test_oauth_options(host_settings):
    s = host_settings({**OAUTH, "grafana_oauth_role_attribute_path": "",
                       "grafana_oauth_scopes": "[openid, groups]",
                       "grafana_oauth_allow_sign_up": False, "grafana_oauth_use_pkce": "no",
                       **LDAP, "grafana_ldap_allow_sign_up": "false"})
    ini = parse_ini(grafana.config_content(s))
    oauth = ini["auth.generic_oauth"]
    assert "role_attribute_path" not in oauth
    assert (oauth["scopes"], oauth["allow_sign_up"], oauth["use_pkce"]) == (
        "openid groups", "false", "false")
    assert ini["auth.ldap"]["allow_sign_up"] == "false"


# -- ldap.toml ---------------------------------------------------------------------------------
def test_ldap_toml(host_settings):
    text = login.ldap_content(host_settings(LDAP))
    assert text.splitlines()[0] == login.LDAP_HEADER
    assert tomllib.loads(text) == {"servers": [{
        "host": "ldap.example.org", "port": 389, "use_ssl": False, "start_tls": True,
        "ssl_skip_verify": False, "bind_dn": "cn=grafana,ou=services,dc=example,dc=org",
        "bind_password": BIND_PW, "search_filter": "(uid=%s)",
        "search_base_dns": ["ou=people,dc=example,dc=org"],
        "attributes": {"name": "givenName", "surname": "sn", "username": "sAMAccountName",
                       "member_of": "memberOf", "email": "mail"},
        "group_mappings": [
            {"group_dn": "cn=admins,ou=groups,dc=example,dc=org", "org_role": "Admin",
             "grafana_admin": True},
            {"group_dn": "*", "org_role": "Viewer", "grafana_admin": False}]}]}


def test_ldaps_anonymous_without_mappings(host_settings):
    s = host_settings({**LDAP, "grafana_ldap_security": "ssl", "grafana_ldap_bind_dn": "",
                       "grafana_ldap_bind_password_secret": "", "grafana_ldap_group_mappings": "[]",
                       "grafana_ldap_search_base_dns": ["ou=a,dc=x", "ou=b,dc=x"]})
    (server,) = tomllib.loads(login.ldap_content(s))["servers"]
    assert (server["port"], server["use_ssl"], server["start_tls"]) == (636, True, False)
    assert "bind_dn" not in server and "bind_password" not in server
    assert "group_mappings" not in server
    assert server["search_base_dns"] == ["ou=a,dc=x", "ou=b,dc=x"]
    s = host_settings({**LDAP, "grafana_ldap_security": "none", "grafana_ldap_port": 10389})
    (server,) = tomllib.loads(login.ldap_content(s))["servers"]
    assert (server["port"], server["use_ssl"], server["start_tls"]) == (10389, False, False)


def test_bind_password_from_the_secrets_file(host_settings, monkeypatch, tmp_path):
    monkeypatch.delenv("T_LDAP_PW")
    (tmp_path / "secrets.yml").write_text("T_LDAP_PW: from-the-file\n")
    (server,) = tomllib.loads(login.ldap_content(host_settings(LDAP)))["servers"]
    assert server["bind_password"] == "from-the-file"


def test_a_missing_secret_is_named(host_settings, monkeypatch):
    monkeypatch.delenv("T_LDAP_PW")
    with pytest.raises(SettingsError, match="T_LDAP_PW"):
        login.ldap_content(host_settings(LDAP))
    monkeypatch.delenv("T_OAUTH_SECRET")
    with pytest.raises(SettingsError, match="T_OAUTH_SECRET"):
        grafana.config_content(host_settings(OAUTH))


# -- checks, before anything changes -----------------------------------------------------------
@pytest.mark.parametrize("data, expected", [
    ({"grafana_smtp_enabled": True}, [
        "grafana_smtp_host must be set when grafana_smtp_enabled is true",
        "grafana_smtp_from_address must be set when grafana_smtp_enabled is true"]),
    ({**SMTP, "grafana_smtp_host": "smtp.example.org"}, ["grafana_smtp_host ('smtp.example.org') "
                                                         "is not host:port"]),
    ({**SMTP, "grafana_smtp_from_address": "grafana"}, ["grafana_smtp_from_address ('grafana')"]),
    ({**SMTP, "grafana_smtp_user": ""}, ["grafana_smtp_password_secret is set but "
                                         "grafana_smtp_user is not"]),
    ({"grafana_ldap_enabled": True}, [
        "grafana_ldap_host must be set when grafana_ldap_enabled is true",
        "grafana_ldap_search_base_dns must be set when grafana_ldap_enabled is true"]),
    ({**LDAP, "grafana_ldap_bind_password_secret": ""}, [
        "grafana_ldap_bind_password_secret must be set when grafana_ldap_bind_dn is"]),
    ({**LDAP, "grafana_ldap_search_filter": "(uid=admin)"}, ["grafana_ldap_search_filter "
                                                             "('(uid=admin)') has no %s"]),
    ({**LDAP, "grafana_ldap_group_mappings": "[{group_dn: '*', org_role: Owner}]"}, [
        "grafana_ldap_group_mappings[0]: org_role 'Owner' is not one of Admin, Editor, Viewer"]),
    ({**LDAP, "grafana_ldap_group_mappings": "[{group: x, org_role: admin, grafana_admin: 1}]"}, [
        "grafana_ldap_group_mappings[0] has unknown keys group",
        "grafana_ldap_group_mappings[0]: group_dn must be a DN or '*'",
        "grafana_ldap_group_mappings[0]: org_role 'admin' is not one of",
        "grafana_ldap_group_mappings[0]: grafana_admin must be true or false"]),
    ({**LDAP, "grafana_ldap_attributes": "{mail: mail, email: 'e mail'}"}, [
        "grafana_ldap_attributes has unknown fields mail",
        "grafana_ldap_attributes.email ('e mail') is not an LDAP attribute name"]),
    ({**LDAP, "grafana_ldap_search_base_dns": "['ou=${TEAM},dc=x']"}, [
        "grafana_ldap_search_base_dns[0] holds ${"]),
    ({"grafana_oauth_enabled": True}, [
        f"{key} must be set when grafana_oauth_enabled is true" for key in (
            "grafana_oauth_client_id", "grafana_oauth_client_secret_secret",
            "grafana_oauth_auth_url", "grafana_oauth_token_url", "grafana_oauth_api_url")]),
    ({**OAUTH, "grafana_oauth_token_url": "sso.example.org/token"}, [
        "grafana_oauth_token_url ('sso.example.org/token') is not an http:// or https:// URL"]),
    ({**OAUTH, "grafana_oauth_scopes": "['openid profile']"}, ["grafana_oauth_scopes"]),
    ({**SMTP, "grafana_smtp_from_name": "Ops ${USER}"}, [
        "grafana_smtp_from_name holds a line break"]),
    ({**OAUTH, "grafana_oauth_role_attribute_path": 'role || "Viewer"'}, [
        "grafana_oauth_role_attribute_path holds a line break"]),
])
def test_settings_problems_name_the_setting(data, expected):
    message = problems(data)
    for part in expected:
        assert part in message, (part, message)


def test_settings_of_a_part_that_is_off_are_not_checked():
    validate("mon1", {"grafana_ldap_host": "", "grafana_smtp_host": "no-port",
                      "grafana_oauth_auth_url": "not a url", "grafana_smtp_from_name": "a${B}",
                      "grafana_oauth_name": 'ends"',
                      "grafana_ldap_search_base_dns": "['${X}']"})


def test_the_checks_run_before_any_secret_is_read(host_settings, monkeypatch):
    for name in SECRETS:
        monkeypatch.delenv(name)
    # the check's message, not a missing secret's, stops the deploy
    assert "grafana_ldap_host must be set" in problems({**LDAP, "grafana_ldap_host": ""})


@pytest.mark.parametrize("secret_name, data", [
    ("T_SMTP_PW", SMTP), ("T_OAUTH_SECRET", OAUTH)])
@pytest.mark.parametrize("value", ['ends"', 'a"""b', "two\nlines", "x${HOME}", "$__file{/x}",
                                   "%(protocol)s"])
def test_secrets_grafana_ini_would_change_are_refused(host_settings, monkeypatch,
                                                      secret_name, data, value):
    monkeypatch.setenv(secret_name, value)
    with pytest.raises(SettingsError, match=secret_name) as exc:
        grafana.config_content(host_settings(data))
    assert value not in str(exc.value)


@pytest.mark.parametrize("value", ["x${HOME}", "$__env{PW}"])
def test_bind_passwords_grafana_would_expand_are_refused(host_settings, monkeypatch, value):
    monkeypatch.setenv("T_LDAP_PW", value)
    with pytest.raises(SettingsError, match="T_LDAP_PW") as exc:
        login.ldap_content(host_settings(LDAP))
    assert value not in str(exc.value)


@pytest.mark.parametrize("quoting, message", [
    (lambda value: f'"{value}"', r"ldap.toml does not parse as TOML \(line \d+, column \d+\)"),   # no escaping
    (lambda value: json.dumps(value.upper()), "ldap.toml does not read back as"),
])
def test_ldap_toml_must_read_back_as_the_settings_say(host_settings, monkeypatch, quoting,
                                                      message):
    s = host_settings(LDAP)
    monkeypatch.setattr(login, "toml_string", quoting)
    with pytest.raises(SettingsError, match=message) as exc:
        login.ldap_content(s)
    assert BIND_PW not in str(exc.value) and BIND_PW.upper() not in str(exc.value)


# -- secrets never in output -------------------------------------------------------------------
ALL = {**SMTP, **LDAP, **OAUTH}
SECRET_VALUES = (SMTP_PW, BIND_PW, CLIENT_SECRET, ADMIN_PW)


class LocalHost:
    """Facts answered by their own commands run on this machine, as pyinfra asks them;
    what is logged for the host is recorded."""

    def __init__(self, tmp_path, printed):
        self.tmp_path, self.printed = tmp_path, printed

    def get_fact(self, cls, **kwargs):
        fact = cls()
        command = fact.command(**kwargs)
        res = subprocess.run(["sh", "-c", command.get_raw_value()
                              if isinstance(command, StringCommand) else str(command)],
                             capture_output=True, text=True)
        lines = res.stdout.splitlines()
        return fact.process(lines) if res.returncode == 0 and lines else fact.default()

    def get_temp_filename(self, name):
        return str(self.tmp_path / f"upload-{abs(hash(name))}.tmp")

    def log(self, message, *args, **kwargs):
        self.printed.info(message)


def execute(commands) -> subprocess.CompletedProcess:
    """What pyinfra does with them: the upload, then the shell command."""
    upload, command = commands
    upload.src.seek(0)
    with open(upload.dest, "w") as fh:
        shutil.copyfileobj(upload.src, fh)
    return subprocess.run(["sh", "-c", command.get_raw_value()], capture_output=True, text=True)


class Recorder:
    def __init__(self):
        self.lines: list[str] = []

    def info(self, message, *args):
        self.lines.append(message % args if args else message)

    warning = error = info


@pytest.fixture
def diff_on(monkeypatch, tmp_path):
    """validated_file's generator on this machine (facts by their real commands), with
    --diff on: what pyinfra would print is recorded."""
    printed = Recorder()
    monkeypatch.setattr(config_files, "host", LocalHost(tmp_path, printed))
    monkeypatch.setattr(config_files, "logger", printed)
    monkeypatch.setattr(config_files, "state", SimpleNamespace(config=SimpleNamespace(DIFF=True)))
    return printed


def command_texts(commands) -> str:
    return "\n".join(repr(c) + "\n" + (c.get_masked_value() if isinstance(c, StringCommand)
                                       else "") for c in commands)


def test_every_secret_is_in_the_files_and_nowhere_else(host_settings):
    s = host_settings(ALL)
    ini, ldap = grafana.config_content(s), login.ldap_content(s)
    assert all(value in ini for value in (SMTP_PW, CLIENT_SECRET, ADMIN_PW))
    assert login.toml_string(BIND_PW) in ldap and tomllib.loads(ldap)["servers"][0][
        "bind_password"] == BIND_PW
    for text in (ini, ldap):
        shown = "".join(masked_lines(text))
        assert not [v for v in SECRET_VALUES if v in shown] and SECRET_MASK in shown
        assert "smtp.example.org:587" in shown or "ldap.example.org" in shown  # still useful


def test_a_first_write_and_a_change_show_no_secret_with_diff(host_settings, diff_on, tmp_path):
    s = host_settings(ALL)
    dest = tmp_path / "ldap.toml"
    for content in (login.ldap_content(s), login.ldap_content(s).replace("389", "10389")):
        commands = list(validated_file._inner(dest=str(dest), content=content, user="root",
                                              group="root", mode="0640", secret=True))
        assert isinstance(commands[0], FileUploadCommand)
        text = command_texts(commands)
        assert not [v for v in SECRET_VALUES if v in text]
        res = execute(commands)
        assert res.returncode == 0, res.stderr
        assert dest.read_text() == content
    printed = "\n".join(diff_on.lines)
    assert "Will create" in printed and "Will modify" in printed and "10389" in printed
    assert not [v for v in SECRET_VALUES if v in printed]
    assert not [v for v in SECRET_VALUES if login.toml_string(v) in printed]


def test_the_planned_operations_carry_secrets_only_in_their_content(host_settings, monkeypatch):
    s = host_settings(ALL)
    planned = []
    monkeypatch.setattr(login, "validated_file", lambda **kw: planned.append(kw) or kw)
    ops = login.install_ldap(s, login.ldap_content(s))
    assert ops == planned and len(planned) == 1
    (op,) = planned
    assert (op["dest"], op["user"], op["group"], op["mode"], op["secret"]) == (
        "/etc/grafana/ldap.toml", "root", "grafana", "0640", True)
    others = repr({k: v for k, v in op.items() if k != "content"})
    assert not [v for v in SECRET_VALUES if v in others or login.toml_string(v) in others]
    assert login.toml_string(BIND_PW) in op["content"]


# -- removal when LDAP is switched off ---------------------------------------------------------
def owner_on_host(path) -> str | None:
    fact = login.LdapConfigOwner()
    out = subprocess.run(fact.command(str(path)), shell=True, capture_output=True, text=True,
                         check=True).stdout
    return fact.process(out.splitlines())


def test_the_fact_tells_our_ldap_toml_from_someone_elses(host_settings, tmp_path):
    path = tmp_path / "ldap.toml"
    assert owner_on_host(path) is None
    path.write_text(login.ldap_content(host_settings(LDAP)))
    assert owner_on_host(path) == "monstack"
    path.write_text("[[servers]]\nbind_password = 'theirs'\n")
    assert owner_on_host(path) == "other"
    path.write_text(f"# {login.LDAP_HEADER}\n")     # only the whole first line counts
    assert owner_on_host(path) == "other"


class FactHost:
    def __init__(self, owner):
        self.owner, self.asked = owner, []

    def get_fact(self, fact, **kw):
        self.asked.append((fact, kw))
        return self.owner


@pytest.mark.parametrize("owner, removed", [("monstack", True), ("other", False), (None, False)])
def test_ldap_off_removes_only_the_file_the_deploy_wrote(host_settings, monkeypatch, owner,
                                                         removed):
    fake = FactHost(owner)
    monkeypatch.setattr(login, "host", fake)
    planned = []
    monkeypatch.setattr(login, "remove_paths", lambda **kw: planned.append(kw) or kw)
    monkeypatch.setattr(login, "validated_file", lambda **kw: pytest.fail("nothing to write"))
    s = host_settings()
    ops = login.install_ldap(s, login.ldap_content(s))
    assert fake.asked == [(login.LdapConfigOwner, {"path": "/etc/grafana/ldap.toml"})]
    assert planned == ops == ([{"name": "Remove ldap.toml (LDAP is off)",
                                "paths": ["/etc/grafana/ldap.toml"]}] if removed else [])


def test_ldap_on_asks_nothing_and_removes_nothing(host_settings, monkeypatch):
    fake = FactHost("monstack")
    monkeypatch.setattr(login, "host", fake)
    monkeypatch.setattr(login, "remove_paths", lambda **kw: pytest.fail("nothing to remove"))
    monkeypatch.setattr(login, "validated_file", lambda **kw: kw)
    s = host_settings(LDAP)
    (op,) = login.install_ldap(s, login.ldap_content(s))
    assert op["dest"] == "/etc/grafana/ldap.toml" and fake.asked == []


def test_the_removal_is_in_place_when_the_file_is_ours(host_settings, tmp_path):
    path = tmp_path / "ldap.toml"
    path.write_text(login.ldap_content(host_settings(LDAP)))
    (command,) = list(config_files.remove_paths._inner(paths=[str(path)]))
    subprocess.run(["sh", "-c", command.get_raw_value()], check=True)
    assert not path.exists() and owner_on_host(path) is None


# -- the README's examples ---------------------------------------------------------------------
def readme_examples() -> dict:
    """The settings of the README's "Grafana: mail and login" examples, run as Python."""
    text = (Path(__file__).resolve().parents[3] / "README.md").read_text()
    section = text.split("### Grafana: mail and login", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, re.S)
    assert len(blocks) == 3
    values: dict = {}
    for block in blocks:
        exec(block, {}, values)
    return values


def test_the_readme_examples_are_valid_and_render(host_settings, monkeypatch):
    data = readme_examples()
    for name in ("GRAFANA_SMTP_PASSWORD", "GRAFANA_LDAP_BIND_PASSWORD",
                 "GRAFANA_OAUTH_CLIENT_SECRET"):
        assert name in data.values()
        monkeypatch.setenv(name, f"readme-{name}")
    s = host_settings(data)
    ini = parse_ini(grafana.config_content(s))
    assert {ini[section]["enabled"] for section in ("smtp", "auth.ldap", "auth.generic_oauth")
            } == {"true"}
    (server,) = tomllib.loads(login.ldap_content(s))["servers"]
    assert [m["org_role"] for m in server["group_mappings"]] == ["Admin", "Editor", "Viewer"]
    assert server["search_base_dns"] == ["ou=people,dc=example,dc=org"]


# -- planned by server.install(): Grafana restarts when ldap.toml changes ----------------------
@pytest.fixture
def install_plan(host_settings, monkeypatch):
    """server.install()'s body with every operation recorded in order (name, kwargs):
    what it hands service() shows what Grafana restarts on."""
    planned: list[tuple[str, dict]] = []

    def op(kind):
        def record(*args, **kw):
            planned.append((kind, {**kw, "args": args}))
            return SimpleNamespace(kind=kind, **kw)
        return record

    monkeypatch.setattr(grafana, "system_user", op("system_user"))
    monkeypatch.setattr(grafana, "directories", op("directories"))
    monkeypatch.setattr(grafana, "install_from_archive",
                        lambda s: ("/usr/local/share/grafana-x", [op("unpack")()]))
    monkeypatch.setattr(grafana, "validated_file", op("validated_file"))
    monkeypatch.setattr(login, "validated_file", op("validated_file"))
    monkeypatch.setattr(login, "remove_paths", op("remove_paths"))
    monkeypatch.setattr(grafana, "service", op("service"))
    monkeypatch.setattr(grafana.plugins, "install", lambda s: [])   # none listed
    monkeypatch.setattr(grafana.grafana_provisioning, "connect",
                        lambda s, h: SimpleNamespace(state="current"))

    def plan(data: dict, owner: str | None = None):
        s = host_settings(data)
        monkeypatch.setattr(grafana, "settings", lambda h=None: s)
        monkeypatch.setattr(login, "host", FactHost(owner))
        planned.clear()
        grafana.install._inner()   # the @deploy body: its wrapper needs a pyinfra state
        return planned

    return plan


def test_grafana_restarts_on_a_changed_ldap_toml(install_plan):
    planned = install_plan(ALL)
    kinds = [kind for kind, _ in planned]
    assert kinds[-3:] == ["validated_file", "validated_file", "service"]
    (_, ini), (_, ldap), (_, service) = planned[-3:]
    assert (ini["dest"], ldap["dest"]) == ("/etc/grafana/grafana.ini", "/etc/grafana/ldap.toml")
    assert [op.dest for op in service["reload_on"]] == [ini["dest"], ldap["dest"]]
    for written in (ini, ldap):
        assert (written["user"], written["group"], written["mode"], written["secret"]) == (
            "root", "grafana", "0640", True)
    # secrets only in the files' content
    for _, kw in planned:
        shown = repr({k: v for k, v in kw.items() if k not in ("content", "reload_on")})
        assert not [v for v in SECRET_VALUES if v in shown or login.toml_string(v) in shown]


def test_grafana_restarts_when_ldap_toml_is_removed(install_plan):
    planned = install_plan({}, owner="monstack")
    (_, removal), (_, service) = planned[-2:]
    assert removal["paths"] == ["/etc/grafana/ldap.toml"]
    assert [getattr(op, "kind") for op in service["reload_on"]] == ["validated_file",
                                                                   "remove_paths"]
    assert [kind for kind, _ in install_plan({}, owner="other")][-2:] == ["validated_file",
                                                                          "service"]
