"""Grafana's mail and login: [smtp], LDAP (ldap.toml) and generic OAuth / OIDC.

What grafana.ini gets is rendered here (templates/grafana/login.ini.j2) and put into
grafana.ini by server.py; ldap.toml (templates/grafana/ldap.toml.j2) is its own file,
0640 root:grafana beside grafana.ini, and is removed when LDAP is switched off, only when
it is the file this deploy wrote (its first line says so). Keys and their meaning follow
Grafana's configuration docs ([smtp], [auth.ldap], [auth.generic_oauth]) and its LDAP
docs (ldap.toml: [[servers]], [servers.attributes], [[servers.group_mappings]]).

Every secret comes through secret() and is refused, naming the secret and never its
value, when grafana.ini or ldap.toml would not keep it as written.
"""

from __future__ import annotations

import json
import re
import shlex
import tomllib

from pyinfra import host
from pyinfra.api import FactBase

from operations.base.addresses import url_problem
from operations.base.files import remove_paths, validated_file
from operations.base.inventory import secret
from operations.base.schema import Setting, SettingsError
from operations.base.templates import render

CONFIG_DIR = "/etc/grafana"
LDAP_CONFIG = f"{CONFIG_DIR}/ldap.toml"
# the first line of the ldap.toml this deploy writes: only such a file is ever removed
LDAP_HEADER = "# Managed by monstack (pyinfra): Grafana's LDAP servers. Holds a secret: 0640."
# What Grafana's ini reading would change in a value: a """-quoted value ends at """,
# ${VAR} and $__env{...}/$__file{...} are expanded, go-ini interpolates %(key)s.
INI_MANGLED = re.compile(r'"""|"$|[\r\n]|\$(__\w+)?\{|%\(')
# Grafana expands ${VAR} and $__env{}/$__file{} in ldap.toml too (its values are TOML
# strings here, so quotes and line breaks are escaped, not refused)
LDAP_MANGLED = re.compile(r"\$(__\w+)?\{")
STARTTLS_POLICIES = ("OpportunisticStartTLS", "MandatoryStartTLS", "NoStartTLS")
LDAP_SECURITY = ("starttls", "ssl", "none")
LDAP_ATTRIBUTES = ("name", "surname", "username", "member_of", "email")
ORG_ROLES = ("Admin", "Editor", "Viewer")
MAPPING_KEYS = {"group_dn", "org_role", "grafana_admin"}
OAUTH_URLS = ("grafana_oauth_auth_url", "grafana_oauth_token_url", "grafana_oauth_api_url")

_G = {"section": "grafana"}
SETTINGS: tuple[Setting, ...] = (
    # -- mail ----------------------------------------------------------------------------
    Setting("grafana_smtp_enabled", "bool", False, **_G,
            help="let Grafana send mail (invitations, password resets, alert e-mails): [smtp]"),
    Setting("grafana_smtp_host", "str", None, optional=True, **_G,
            help="SMTP server as host:port, e.g. smtp.example.org:587 (needed with mail on)"),
    Setting("grafana_smtp_user", "str", None, optional=True, **_G,
            help="SMTP login; unset: no authentication"),
    Setting("grafana_smtp_password_secret", "str", None, optional=True, **_G,
            help="name of the secret holding the SMTP password (with grafana_smtp_user)"),
    Setting("grafana_smtp_from_address", "str", None, optional=True, **_G,
            help="sender address of Grafana's mail (needed with mail on)"),
    Setting("grafana_smtp_from_name", "str", "Grafana", **_G,
            help="sender name of Grafana's mail"),
    Setting("grafana_smtp_skip_verify", "bool", False, **_G,
            help="do not verify the SMTP server's certificate (insecure)"),
    Setting("grafana_smtp_starttls_policy", "choice", "MandatoryStartTLS",
            choices=STARTTLS_POLICIES, **_G, help=(
                "Grafana's startTLS_policy: MandatoryStartTLS (refuse a server without "
                "STARTTLS), OpportunisticStartTLS (Grafana's default) or NoStartTLS")),
    # -- LDAP ----------------------------------------------------------------------------
    Setting("grafana_ldap_enabled", "bool", False, **_G,
            help="log users in against an LDAP server ([auth.ldap], /etc/grafana/ldap.toml)"),
    Setting("grafana_ldap_allow_sign_up", "bool", True, **_G,
            help="create a Grafana user at a user's first LDAP login (else only existing ones)"),
    Setting("grafana_ldap_host", "str", None, optional=True, **_G,
            help="LDAP server name or address (several: space separated; needed with LDAP on)"),
    Setting("grafana_ldap_port", "int", None, optional=True, minimum=1, maximum=65535, **_G,
            help="LDAP port; unset: 636 with grafana_ldap_security ssl, else 389"),
    Setting("grafana_ldap_security", "choice", "starttls", choices=LDAP_SECURITY, **_G,
            help=("starttls (start_tls), ssl (LDAPS: use_ssl) or none (plain text, "
                  "bind password included)")),
    Setting("grafana_ldap_ssl_skip_verify", "bool", False, **_G,
            help="do not verify the LDAP server's certificate (insecure)"),
    Setting("grafana_ldap_bind_dn", "str", None, optional=True, **_G, help=(
        "DN Grafana binds as to search for users, e.g. cn=grafana,ou=services,dc=example,"
        "dc=org; unset: anonymous search")),
    Setting("grafana_ldap_bind_password_secret", "str", None, optional=True, **_G,
            help="name of the secret holding the bind DN's password (needed with a bind DN)"),
    Setting("grafana_ldap_search_filter", "str", "(uid=%s)", **_G,
            help="user search filter, %s being the login, e.g. (sAMAccountName=%s)"),
    Setting("grafana_ldap_search_base_dns", "list", [], **_G,
            help="base DNs to search users under, e.g. [ou=people,dc=example,dc=org]"),
    Setting("grafana_ldap_attributes", "dict", {}, **_G, help=(
        "LDAP attribute of each user field (name, surname, username, member_of, email) "
        "over the defaults givenName, sn, uid, memberOf, mail")),
    Setting("grafana_ldap_group_mappings", "list", [], **_G, help=(
        "[{group_dn, org_role: Admin|Editor|Viewer, grafana_admin: bool}], first match "
        "wins; group_dn '*' matches everyone; no mappings: Grafana's default role")),
    # -- generic OAuth / OIDC --------------------------------------------------------------
    Setting("grafana_oauth_enabled", "bool", False, **_G,
            help="log users in through an OAuth2 / OpenID Connect provider ([auth.generic_oauth])"),
    Setting("grafana_oauth_name", "str", "OAuth", **_G,
            help="the provider's name on the login button"),
    Setting("grafana_oauth_client_id", "str", None, optional=True, **_G,
            help="client ID registered at the provider (needed with OAuth on)"),
    Setting("grafana_oauth_client_secret_secret", "str", None, optional=True, **_G,
            help="name of the secret holding the client secret (needed with OAuth on)"),
    Setting("grafana_oauth_scopes", "list", ["openid", "profile", "email"], **_G,
            help="scopes Grafana asks for"),
    Setting("grafana_oauth_auth_url", "str", None, optional=True, **_G,
            help="the provider's authorization endpoint (needed with OAuth on)"),
    Setting("grafana_oauth_token_url", "str", None, optional=True, **_G,
            help="the provider's token endpoint (needed with OAuth on)"),
    Setting("grafana_oauth_api_url", "str", None, optional=True, **_G,
            help="the provider's user info endpoint (needed with OAuth on)"),
    Setting("grafana_oauth_role_attribute_path", "str", None, optional=True, **_G, help=(
        "JMESPath giving the user's role (Admin, Editor, Viewer) from the user info or ID "
        "token, e.g. role; unset: Grafana's default role")),
    Setting("grafana_oauth_allow_sign_up", "bool", True, **_G,
            help="create a Grafana user at a user's first OAuth login (else only existing ones)"),
    Setting("grafana_oauth_use_pkce", "bool", True, **_G,
            help="use PKCE (RFC 7636) in the authorization code flow"),
)

# settings written into grafana.ini as text: what ini reading would change is refused
INI_TEXT = ("grafana_smtp_host", "grafana_smtp_user", "grafana_smtp_from_address",
            "grafana_smtp_from_name", "grafana_oauth_name", "grafana_oauth_client_id",
            "grafana_oauth_role_attribute_path", *OAUTH_URLS)
LDAP_TEXT = ("grafana_ldap_host", "grafana_ldap_bind_dn", "grafana_ldap_search_filter")


def _missing(values: dict, what: str, keys) -> list[str]:
    return [f"{key} must be set when {what}" for key in keys if not values.get(key)]


def _smtp_problems(values: dict) -> list[str]:
    if not values["grafana_smtp_enabled"]:
        return []
    found = _missing(values, "grafana_smtp_enabled is true",
                     ("grafana_smtp_host", "grafana_smtp_from_address"))
    host_port = values["grafana_smtp_host"]
    if host_port and not re.fullmatch(r"(\[[0-9A-Fa-f:.]+\]|[^\s:\[\]]+):\d{1,5}", host_port):
        found.append(f"grafana_smtp_host ({host_port!r}) is not host:port, e.g. "
                     "smtp.example.org:587")
    address = values["grafana_smtp_from_address"]
    if address and not re.fullmatch(r"[^\s@<>]+@[^\s@<>]+", address):
        found.append(f"grafana_smtp_from_address ({address!r}) is not a mail address like "
                     "grafana@example.org")
    if values["grafana_smtp_password_secret"] and not values["grafana_smtp_user"]:
        found.append("grafana_smtp_password_secret is set but grafana_smtp_user is not: "
                     "Grafana logs in only with both")
    return found


def _mapping_problems(mappings) -> list[str]:
    found = []
    for i, mapping in enumerate(mappings):
        where = f"grafana_ldap_group_mappings[{i}]"
        if not isinstance(mapping, dict):
            found.append(f"{where} is not a mapping {{group_dn, org_role, grafana_admin}}")
            continue
        unknown = sorted(set(mapping) - MAPPING_KEYS)
        if unknown:
            found.append(f"{where} has unknown keys {', '.join(map(str, unknown))} (known: "
                         "group_dn, org_role, grafana_admin)")
        dn = mapping.get("group_dn")
        if not isinstance(dn, str) or not dn:
            found.append(f"{where}: group_dn must be a DN or '*'")
        elif LDAP_MANGLED.search(dn):
            found.append(f"{where}: group_dn holds ${{ or $__name{{, which Grafana would "
                         "expand in ldap.toml")
        if mapping.get("org_role") not in ORG_ROLES:
            found.append(f"{where}: org_role {mapping.get('org_role')!r} is not one of "
                         f"{', '.join(ORG_ROLES)}")
        if not isinstance(mapping.get("grafana_admin", False), bool):
            found.append(f"{where}: grafana_admin must be true or false")
    return found


def _ldap_problems(values: dict) -> list[str]:
    if not values["grafana_ldap_enabled"]:
        return []
    found = _missing(values, "grafana_ldap_enabled is true",
                     ("grafana_ldap_host", "grafana_ldap_search_base_dns"))
    if values["grafana_ldap_bind_dn"] and not values["grafana_ldap_bind_password_secret"]:
        found.append("grafana_ldap_bind_password_secret must be set when grafana_ldap_bind_dn "
                     "is")
    if "%s" not in values["grafana_ldap_search_filter"]:
        found.append(f"grafana_ldap_search_filter ({values['grafana_ldap_search_filter']!r}) "
                     "has no %s where the login goes, e.g. (uid=%s)")
    for i, dn in enumerate(values["grafana_ldap_search_base_dns"]):
        if not isinstance(dn, str) or not dn.strip():
            found.append(f"grafana_ldap_search_base_dns[{i}] is not a DN")
        elif LDAP_MANGLED.search(dn):
            found.append(f"grafana_ldap_search_base_dns[{i}] holds ${{ or $__name{{, which "
                         "Grafana would expand in ldap.toml")
    attributes = values["grafana_ldap_attributes"]
    unknown = sorted(set(map(str, attributes)) - set(LDAP_ATTRIBUTES))
    if unknown:
        found.append(f"grafana_ldap_attributes has unknown fields {', '.join(unknown)} "
                     f"(known: {', '.join(LDAP_ATTRIBUTES)})")
    for key, value in attributes.items():
        if not isinstance(value, str) or not re.fullmatch(r"[A-Za-z][A-Za-z0-9-]*", value):
            found.append(f"grafana_ldap_attributes.{key} ({value!r}) is not an LDAP "
                         "attribute name")
    found += [f"{key} holds ${{ or $__name{{, which Grafana would expand in ldap.toml"
              for key in LDAP_TEXT if values[key] and LDAP_MANGLED.search(values[key])]
    return found + _mapping_problems(values["grafana_ldap_group_mappings"])


def _oauth_problems(values: dict) -> list[str]:
    if not values["grafana_oauth_enabled"]:
        return []
    found = _missing(values, "grafana_oauth_enabled is true",
                     ("grafana_oauth_client_id", "grafana_oauth_client_secret_secret",
                      *OAUTH_URLS))
    examples = {"grafana_oauth_auth_url": "https://sso.example.org/oauth2/authorize",
                "grafana_oauth_token_url": "https://sso.example.org/oauth2/token",
                "grafana_oauth_api_url": "https://sso.example.org/oauth2/userinfo"}
    found += [problem for key in OAUTH_URLS if values[key]
              and (problem := url_problem(key, values[key], examples[key]))]
    scopes = values["grafana_oauth_scopes"]
    if not all(isinstance(s, str) and re.fullmatch(r"[!#-\[\]-~]+", s) for s in scopes):
        found.append(f"grafana_oauth_scopes ({scopes!r}): each scope is one word without "
                     "spaces, quotes or backslashes")
    return found


def settings_problems(values: dict) -> list[str]:
    """Rules between one host's settings of this part of Grafana: values -> errors."""
    found = _smtp_problems(values) + _ldap_problems(values) + _oauth_problems(values)
    written = [key for key in INI_TEXT   # only what grafana.ini gets: the parts switched on
               if values["grafana_smtp_enabled" if key.startswith("grafana_smtp_")
                         else "grafana_oauth_enabled"]]
    found += [f"{key} holds a line break, \"\"\", a trailing \", ${{, $__name{{ or %( which "
              "grafana.ini would not keep as written"
              for key in written if values[key] and INI_MANGLED.search(values[key])]
    return found


# -- rendering -----------------------------------------------------------------------------
def ini_secret(name: str, purpose: str, kind: str = "value") -> str:
    """The secret `name` for a triple-quoted grafana.ini value, refused (named, never
    shown; "choose another `kind`") when grafana.ini would not keep it as written."""
    value = secret(name, purpose)
    if INI_MANGLED.search(value):
        raise SettingsError(f"secret {name} ({purpose}) holds a line break, \"\"\", a trailing "
                            "\", ${, $__name{ or %( which grafana.ini would not keep as "
                            f"written; choose another {kind}")
    return value


def ini_content(s) -> str:
    """The [smtp], [auth.ldap] and [auth.generic_oauth] sections of grafana.ini (secrets in
    them: the file is 0640 root:grafana and shown masked)."""
    smtp_password = None
    if s.grafana_smtp_enabled and s.grafana_smtp_password_secret:
        smtp_password = ini_secret(s.grafana_smtp_password_secret, "Grafana's SMTP password")
    client_secret = None
    if s.grafana_oauth_enabled:
        client_secret = ini_secret(s.grafana_oauth_client_secret_secret,
                                   "Grafana's OAuth client secret")
    return render("grafana/login.ini.j2", s=s, smtp_password=smtp_password,
                  ldap_config=LDAP_CONFIG, client_secret=client_secret,
                  scopes=" ".join(s.grafana_oauth_scopes))


def ldap_port(s) -> int:
    return s.grafana_ldap_port or (636 if s.grafana_ldap_security == "ssl" else 389)


def ldap_attributes(s) -> dict[str, str]:
    defaults = {"name": "givenName", "surname": "sn", "username": "uid",
                "member_of": "memberOf", "email": "mail"}
    return {**defaults, **s.grafana_ldap_attributes}


def ldap_wanted(s, bind_password: str | None) -> dict:
    """What ldap.toml must say, as the TOML parser reads it back."""
    server = {"host": s.grafana_ldap_host, "port": ldap_port(s),
              "use_ssl": s.grafana_ldap_security == "ssl",
              "start_tls": s.grafana_ldap_security == "starttls",
              "ssl_skip_verify": s.grafana_ldap_ssl_skip_verify,
              "search_filter": s.grafana_ldap_search_filter,
              "search_base_dns": list(s.grafana_ldap_search_base_dns),
              "attributes": ldap_attributes(s)}
    if s.grafana_ldap_bind_dn:
        server.update(bind_dn=s.grafana_ldap_bind_dn, bind_password=bind_password)
    if s.grafana_ldap_group_mappings:
        server["group_mappings"] = [
            {"group_dn": m["group_dn"], "org_role": m["org_role"],
             "grafana_admin": m.get("grafana_admin", False)}
            for m in s.grafana_ldap_group_mappings]
    return {"servers": [server]}


def toml_string(value: str) -> str:
    """A TOML basic string: JSON's escaping is a subset of TOML's."""
    return json.dumps(value, ensure_ascii=False)


def ldap_content(s) -> str | None:
    """ldap.toml, or None when LDAP is off. Grafana has no checker for it: the rendered
    text is parsed here and must read back as exactly what the settings say."""
    if not s.grafana_ldap_enabled:
        return None
    bind_password = None
    if s.grafana_ldap_bind_dn:
        name = s.grafana_ldap_bind_password_secret
        bind_password = secret(name, "Grafana's LDAP bind password")
        if LDAP_MANGLED.search(bind_password):
            raise SettingsError(f"secret {name} (Grafana's LDAP bind password) holds ${{ or "
                                "$__name{ which Grafana would expand in ldap.toml; choose "
                                "another password")
    wanted = ldap_wanted(s, bind_password)
    text = render("grafana/ldap.toml.j2", header=LDAP_HEADER, server=wanted["servers"][0],
                  q=toml_string)
    try:
        parsed = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:   # the position only: the line may hold a secret
        where = re.search(r"\(at (line \d+, column \d+|end of document)\)", str(exc))
        raise SettingsError(f"ldap.toml does not parse as TOML ({where[1] if where else '?'}); "
                            "check the grafana_ldap_* settings") from None
    if parsed != wanted:
        raise SettingsError("ldap.toml does not read back as the grafana_ldap_* settings say; "
                            "check their values")
    return text


# -- on the host ---------------------------------------------------------------------------
class LdapConfigOwner(FactBase):
    """The string monstack when the file at `path` is the ldap.toml this deploy wrote (its first
    line), "other" when it is someone else's; None when there is none. Only the verdict
    leaves the host: the file holds a secret."""

    def command(self, path: str) -> str:
        q, header = shlex.quote(path), shlex.quote(LDAP_HEADER)
        return (f"if [ -f {q} ]; then if head -n 1 {q} | grep -qxF -- {header}; "
                "then echo monstack; else echo other; fi; fi; true")

    def process(self, output):
        return output[0].strip() if output else None


def install_ldap(s, content: str | None) -> list:
    """ldap.toml written (LDAP on) or removed when the deploy wrote it (LDAP off): the
    operations Grafana restarts after when they change."""
    if content is not None:
        return [validated_file(name="Write ldap.toml (Grafana's LDAP servers; no checker: "
                                    "parsed as TOML on the controller)",
                               dest=LDAP_CONFIG, content=content, user="root",
                               group="grafana", mode="0640", secret=True)]
    if host.get_fact(LdapConfigOwner, path=LDAP_CONFIG) == "monstack":
        return [remove_paths(name="Remove ldap.toml (LDAP is off)", paths=[LDAP_CONFIG])]
    return []
