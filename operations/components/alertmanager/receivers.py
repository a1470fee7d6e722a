"""Alertmanager's receivers from `alertmanager_receivers`: their Alertmanager form, their
secrets, and the versions that can take them.

Slack, email, Telegram, PagerDuty and webhook receivers carry their secrets in
alertmanager.yml (0640 root:alertmanager). Microsoft Teams, Discord, Opsgenie and Pushover
receivers take theirs only from the secret store, written each to a file of its own under
SECRETS_DIR (0640 root:alertmanager) that alertmanager.yml names in a `*_file` field:
Alertmanager reads it when it sends.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field

from operations.base.inventory import secret
from operations.base.schema import SettingsError, version_tuple

CONFIG_DIR = "/etc/alertmanager"
SECRETS_DIR = f"{CONFIG_DIR}/secrets"


@dataclass(frozen=True)
class Kind:
    """One receiver type: its Alertmanager config list, the fields it needs, renames of
    the settings' names, and the secret fields written to files (field -> its *_file)."""

    configs: str
    required: tuple[str, ...]
    renames: dict = field(default_factory=dict)
    files: tuple[str, ...] = ()


RECEIVER_TYPES = {
    "slack": Kind("slack_configs", ("webhook_url",), {"webhook_url": "api_url"}),
    "email": Kind("email_configs", ("to",)),
    "telegram": Kind("telegram_configs", ("bot_token", "chat_id")),
    "pagerduty": Kind("pagerduty_configs", ("routing_key",)),
    "webhook": Kind("webhook_configs", ("url",)),
    # Microsoft Teams' Office 365 connectors (msteams) and Power Automate workflows
    # (msteamsv2), Discord, Opsgenie, Pushover: secrets in files only
    "msteams": Kind("msteams_configs", ("webhook_url",), files=("webhook_url",)),
    "msteamsv2": Kind("msteamsv2_configs", ("webhook_url",), files=("webhook_url",)),
    "discord": Kind("discord_configs", ("webhook_url",), files=("webhook_url",)),
    "opsgenie": Kind("opsgenie_configs", ("api_key",), files=("api_key",)),
    "pushover": Kind("pushover_configs", ("user_key", "token"),
                     files=("user_key", "token")),
}
SEVERITIES = ("critical", "warning", "info", "none")
DEFAULT_SEVERITIES = ["critical", "warning"]

# The oldest Alertmanager taking each receiver type as monstack writes it, and why. Read
# at the release tags of prometheus/alertmanager (config/notifiers.go, config/config.go;
# from v0.33.0 on also notify/<type>/config.go):
# - telegram: TelegramConfig absent at v0.23.0, present at v0.24.0.
# - opsgenie: api_key_file absent at v0.23.0, present at v0.24.0 (config/notifiers.go);
#   at v0.24.0 OpsGenieConfig.UnmarshalYAML compares api_url (not api_key) with
#   api_key_file and refuses "at most one of api_key & api_key_file", so a receiver with
#   its own api_url needs v0.25.0, where the check reads api_key.
# - pushover: user_key_file and token_file absent at v0.25.0, present at v0.26.0.
# - discord: DiscordConfig since v0.25.0, webhook_url_file since v0.27.0, but v0.27.0's
#   config/config.go still refuses a discord_config without webhook_url ("no discord
#   webhook URL provided"); v0.28.0 takes webhook_url_file alone.
# - msteams: MSTeamsConfig since v0.26.0, webhook_url_file since v0.27.0, and the same
#   check as discord's until v0.28.0 ("no msteams webhook URL provided").
# - msteamsv2: MSTeamsV2Config (with webhook_url_file) since v0.28.0.
RECEIVER_SINCE = {
    "telegram": ((0, 24, 0), "has no telegram receivers (they came with 0.24.0)"),
    "opsgenie": ((0, 24, 0), "cannot read an opsgenie receiver's api_key from a file "
                             "(api_key_file came with 0.24.0)"),
    "pushover": ((0, 26, 0), "cannot read a pushover receiver's user_key and token from "
                             "files (user_key_file and token_file came with 0.26.0)"),
    "discord": ((0, 28, 0), "cannot read a discord receiver's webhook_url from a file "
                            "(webhook_url_file alone is taken from 0.28.0 on)"),
    "msteams": ((0, 28, 0), "cannot read an msteams receiver's webhook_url from a file "
                            "(webhook_url_file alone is taken from 0.28.0 on)"),
    "msteamsv2": ((0, 28, 0), "has no msteamsv2 receivers (they came with 0.28.0)"),
}
OPSGENIE_OWN_URL_SINCE = ((0, 25, 0), "cannot read an opsgenie receiver's api_key from a "
                                      "file beside its own api_url (taken from 0.25.0 on)")
NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


def dotted(version: tuple[int, ...]) -> str:
    return ".".join(map(str, version))


def secret_path(receiver: str, field_name: str) -> str:
    """Where a receiver's secret field is written on the host: its name when that makes
    a file name, else a digest of it (any text names a receiver)."""
    stem = receiver if NAME_RE.fullmatch(receiver) else \
        "receiver-" + hashlib.sha256(receiver.encode()).hexdigest()[:12]
    return f"{SECRETS_DIR}/{stem}.{field_name}"


@dataclass
class Receivers:
    """alertmanager_receivers in Alertmanager's form: the `receivers:` entries, and the
    secret files they name (host path -> content)."""

    configs: list[dict]
    files: dict[str, str]


def receiver_config(receiver: dict, files: dict[str, str]) -> dict:
    """One receiver of the settings -> its Alertmanager form, secrets resolved (those
    written to files added to `files`)."""
    if not isinstance(receiver, dict):
        raise SettingsError(f"alertmanager_receivers: each receiver needs a name and a type "
                            f"(a mapping); got {receiver!r}")
    name = receiver.get("name")
    kind_name = receiver.get("type")
    if not name or not isinstance(name, str) or name == "blackhole" \
            or kind_name not in RECEIVER_TYPES:
        raise SettingsError(
            f"alertmanager_receivers: each receiver needs a name and a type out of "
            f"{', '.join(RECEIVER_TYPES)} ('blackhole' is a reserved name); got {receiver!r}")
    kind = RECEIVER_TYPES[kind_name]
    config = {"send_resolved": True}
    for key, value in receiver.items():
        if key in ("name", "type", "severities"):
            continue
        if key.endswith("_secret"):
            key, value = key[: -len("_secret")], secret(value, f"receiver {name}")
            if key in kind.files:
                path = secret_path(name, key)
                files[path] = value
                key, value = f"{key}_file", path
        elif key in kind.files or (kind.files and key.endswith("_file")):
            raise SettingsError(
                f"alertmanager receiver {name} ({kind_name}): give {key.removesuffix('_file')}"
                f"_secret (the name of a secret; monstack writes it to a file Alertmanager "
                f"reads), not {key}")
        config[kind.renames.get(key, key)] = value
    missing = [f for f in kind.required
               if kind.renames.get(f, f) not in config and f"{f}_file" not in config]
    if missing:
        raise SettingsError(
            f"alertmanager receiver {name} ({kind_name}) needs "
            + ", ".join(f"{f}_secret" if f in kind.files else f"{f} (or {f}_secret)"
                        for f in missing))
    if kind_name == "telegram":
        config["chat_id"] = telegram_chat_id(name, config["chat_id"])
    return {"name": name, kind.configs: [config]}


def telegram_chat_id(receiver: str, value) -> int:
    """Alertmanager reads chat_id as an int64 and refuses a quoted one; from --data or a
    secret it comes as text."""
    text = str(value).strip()
    if isinstance(value, bool) or not re.fullmatch(r"-?[0-9]+", text) \
            or not -2**63 <= int(text) < 2**63:
        raise SettingsError(f"alertmanager receiver {receiver} (telegram): chat_id must be "
                            f"an integer such as -1001234567890; got {value!r}")
    return int(text)


def receiver_severities(receiver: dict) -> list[str]:
    """The severities a receiver gets by its own route ([]: none, only alertmanager_routes
    send to it)."""
    severities = receiver.get("severities", DEFAULT_SEVERITIES)
    if not isinstance(severities, list):
        raise SettingsError(f"alertmanager receiver {receiver.get('name')}: severities must "
                            f"be a list; got {severities!r}")
    unknown = [s for s in severities if s not in SEVERITIES]
    if unknown:
        raise SettingsError(f"alertmanager receiver {receiver.get('name')}: unknown "
                            f"severities {unknown} (known: {', '.join(SEVERITIES)})")
    return severities


def smtp_globals(smtp: dict) -> dict:
    if not smtp:
        return {}
    missing = [k for k in ("smarthost", "from") if not smtp.get(k)]
    if missing:
        raise SettingsError(f"alertmanager_smtp needs {' and '.join(missing)}")
    out = {"smtp_smarthost": smtp["smarthost"], "smtp_from": smtp["from"],
           "smtp_require_tls": smtp.get("require_tls", True)}
    if smtp.get("auth_username"):
        out["smtp_auth_username"] = smtp["auth_username"]
    if smtp.get("auth_password_secret"):
        out["smtp_auth_password"] = secret(smtp["auth_password_secret"], "the SMTP login")
    return out


def receiver_floor(receiver: dict) -> tuple[tuple[int, ...], str] | None:
    """The oldest Alertmanager taking `receiver` as written, and why; None: any."""
    kind = receiver.get("type")
    if kind == "opsgenie" and "api_url" in receiver:
        return OPSGENIE_OWN_URL_SINCE
    return RECEIVER_SINCE.get(kind)


def receiver_version_problems(receivers: list[dict], version: str, who: str) -> list[str]:
    """Each receiver that Alertmanager `version` (`who`: how the error names it) refuses,
    naming the version it needs."""
    errors = []
    for receiver in receivers:
        floor = receiver_floor(receiver)
        if floor and version_tuple(version) < floor[0]:
            errors.append(
                f"alertmanager receiver {receiver['name']} ({receiver['type']}): {who} {floor[1]}; "
                f"use {dotted(floor[0])} or later")
    return errors


def receivers(s) -> Receivers:
    """alertmanager_receivers, each checked, in Alertmanager's form."""
    given = s.alertmanager_receivers
    files: dict[str, str] = {}
    configs = [receiver_config(r, files) for r in given]  # validates each receiver first
    if s.alertmanager_install_method == "archive":
        # Debian's packages are checked while planning, against the host's version
        errors = receiver_version_problems(
            given, s.alertmanager_version, f"alertmanager_version {s.alertmanager_version}")
        if errors:
            raise SettingsError("; ".join(errors))
    names = [r["name"] for r in given]
    if len(set(names)) != len(names):
        raise SettingsError(f"alertmanager_receivers: receiver names must be unique: {names}")
    if any(r["type"] == "email" for r in given) and not s.alertmanager_smtp:
        raise SettingsError("an email receiver needs alertmanager_smtp (smarthost, from)")
    for r in given:
        receiver_severities(r)
    return Receivers(configs, files)
