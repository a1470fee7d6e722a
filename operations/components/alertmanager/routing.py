"""alertmanager.yml from the settings: routes, time intervals, inhibit rules, notification
templates and the receivers (receivers.py).

The shape of `alertmanager_routes`, `alertmanager_time_intervals`,
`alertmanager_inhibit_rules` and `alertmanager_template_files` is checked on the
controller (`routing_problems`, one error per mistake, before any host is touched) by the
rules Alertmanager applies when it loads its config, read at the release tags of
prometheus/alertmanager: matchers by pkg/labels/parse.go (the classic parser of v0.22.0
on, which every later version still takes: from v0.27.0 it is the fallback of the UTF-8
one), time intervals by timeinterval/timeinterval.go, route durations by
config/config.go. `amtool check-config` on the host checks the whole file again.
"""

from __future__ import annotations

import re
import zoneinfo
from pathlib import Path
from typing import Any

from operations.base.schema import (DURATION_RE, LABEL_NAME_RE, SettingsError,
                                    duration_seconds, version_tuple)
from operations.base.templates import render
from operations.components.alertmanager.receivers import (CONFIG_DIR, dotted, receiver_severities,
                                                          receivers, smtp_globals)

TEMPLATES_DIR = f"{CONFIG_DIR}/templates"
BLACKHOLE = "blackhole"

ROUTE_KEYS = ("receiver", "matchers", "continue", "group_by", "group_wait", "group_interval",
              "repeat_interval", "routes", "mute_time_intervals", "active_time_intervals")
INTERVAL_KEYS = ("times", "weekdays", "days_of_month", "months", "years", "location")
INHIBIT_KEYS = ("source_matchers", "target_matchers", "equal")
# keys of Alertmanager's older syntax, refused with the new one named (the deploy writes
# matchers only: config/config.go deprecates match, match_re, source_match, ...)
OLD_KEYS = {"match": "matchers", "match_re": "matchers", "source_match": "source_matchers",
            "source_match_re": "source_matchers", "target_match": "target_matchers",
            "target_match_re": "target_matchers"}

# The oldest Alertmanager taking each routing feature (config/config.go at v0.23.0 has
# the top-level mute_time_intervals only; v0.24.0 brought time_intervals and a route's
# active_time_intervals; timeinterval/timeinterval.go has no location at v0.24.0, one at
# v0.25.0).
TIME_INTERVALS_SINCE = (0, 24, 0)
LOCATION_SINCE = (0, 25, 0)

# pkg/labels/parse.go (v0.22.0 to v0.26.0; compat's fallback since v0.27.0)
MATCHER_RE = re.compile(r"^\s*([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(=~|=|!=|!~)\s*(.*?)\s*\Z", re.S)
# Python's re errors that Go's RE2 raises too: a pattern Python refuses for another
# reason (\pL, \z) may still be RE2's, and is left to amtool on the host
STRUCTURAL_REGEX_ERRORS = ("missing ), unterminated subpattern", "unbalanced parenthesis",
                           "unterminated character set", "nothing to repeat",
                           "multiple repeat", "bad character range")
# timeinterval/timeinterval.go
TIME_RE = re.compile(r"^((([01][0-9])|(2[0-3])):[0-5][0-9])$|(^24:00$)")
WEEKDAYS = ("sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday")
MONTHS = ("january", "february", "march", "april", "may", "june", "july", "august",
          "september", "october", "november", "december")


# -- matchers ------------------------------------------------------------------------------
def matcher_tokens(text: str) -> list[str]:
    """ParseMatchers' split of one `matchers:` entry at the commas outside quotes."""
    text = text.removeprefix("{").removesuffix("}")
    tokens, token, quoted, escaped = [], "", False, False
    for ch in text:
        if ch == "," and not quoted:
            tokens.append(token)
            token = ""
            continue
        if ch == '"':
            if not escaped:
                quoted = not quoted
            else:
                escaped = False
        elif ch == "\\":
            escaped = not escaped
        else:
            escaped = False
        token += ch
    if token.strip():
        tokens.append(token.strip())
    return tokens


def one_matcher_problem(token: str) -> str | None:
    """Why Alertmanager's ParseMatcher refuses `token`, or None."""
    found = MATCHER_RE.match(token)
    if not found:
        return ("is not label, operator (=, !=, =~, !~), value: the label a name of "
                "letters, digits, _ and :, not a digit first")
    op, raw = found.group(2), found.group(3)
    quoted = raw.startswith('"')
    raw = raw[1:] if quoted else raw
    value, escaped = "", False
    for i, ch in enumerate(raw):
        if escaped:
            escaped = False
            value += {"n": "\n", '"': '"', "\\": "\\"}.get(ch, "\\" + ch)
            continue
        if ch == "\\" and i < len(raw) - 1:
            escaped = True
        elif ch == '"':
            if not quoted or i < len(raw) - 1:
                return "has a double quote inside its value: escape it as \\\""
            quoted = False
        else:
            value += ch
    if quoted:
        return "has a value opening a double quote it does not close"
    if op in ("=~", "!~"):
        return regex_problem(value)
    return None


def regex_problem(pattern: str) -> str | None:
    """Why Go's RE2 refuses `pattern`, as far as Python's parser tells: its structural
    errors, and what Python has and RE2 lacks (backreferences, lookarounds, atomic
    groups, possessive repeats)."""
    try:
        tree = re._parser.parse(pattern)
    except re.error as exc:
        if any(exc.msg.startswith(e) for e in STRUCTURAL_REGEX_ERRORS):
            return f"has a regular expression that does not compile ({exc.msg})"
        return None
    lacking = {"GROUPREF": "backreferences", "GROUPREF_EXISTS": "backreferences",
               "ASSERT": "lookarounds", "ASSERT_NOT": "lookarounds",
               "ATOMIC_GROUP": "atomic groups", "POSSESSIVE_REPEAT": "possessive repeats"}

    def walk(node):
        for item in node:
            if isinstance(item, tuple):
                name = str(item[0])
                if name in lacking:
                    return lacking[name]
                found = walk(item[1:])
                if found:
                    return found
            elif isinstance(item, (list, re._parser.SubPattern)):
                found = walk(item)
                if found:
                    return found
        return None
    found = walk(tree)
    if found:
        return (f"has a regular expression with {found}, which Alertmanager's (Go's RE2) "
                "lack")
    return None


def matcher_problem(entry: Any) -> str | None:
    """Why Alertmanager refuses one entry of a `matchers:` list, or None."""
    if not isinstance(entry, str) or not entry.strip():
        return "must be a non-empty string such as 'severity=\"critical\"'"
    for token in matcher_tokens(entry):
        problem = one_matcher_problem(token)
        if problem:
            return problem
    return None


def matchers_problems(where: str, value: Any) -> list[str]:
    if not isinstance(value, list):
        return [f"{where} must be a list of matchers such as ['severity=\"critical\"']; "
                f"got {value!r}"]
    return [f"{where}: {entry!r} {problem}" for entry in value
            if (problem := matcher_problem(entry))]


def label_list_problems(where: str, value: Any, allow_all: bool = False) -> list[str]:
    if not isinstance(value, list):
        return [f"{where} must be a list of label names; got {value!r}"]
    if allow_all and value == ["..."]:
        return []
    return [f"{where}: {name!r} is not a label name (letters, digits and _, not a digit "
            "first)" + (", nor ['...'] (every label)" if allow_all else "")
            for name in value if not isinstance(name, str) or not LABEL_NAME_RE.fullmatch(name)]


# -- routes --------------------------------------------------------------------------------
def duration_problem(where: str, value: Any, nonzero: bool) -> str | None:
    if not isinstance(value, str) or not DURATION_RE.match(value):
        return f"{where} ({value!r}) is not a duration like 30s, 5m, 4h or 1d"
    if nonzero and duration_seconds(value) == 0:
        return f"{where} ({value}) must be longer than 0: Alertmanager refuses a zero interval"
    return None


def route_problems(where: str, route: Any, receiver_names: set[str],
                   interval_names: set[str]) -> list[str]:
    """One route (and the routes under it): one error per mistake."""
    if not isinstance(route, dict):
        return [f"{where} must be a mapping such as {{receiver: ..., matchers: [...]}}; "
                f"got {route!r}"]
    errors = []
    for key in route:
        if key in OLD_KEYS:
            errors.append(f"{where}: {key} is Alertmanager's old syntax: use "
                          f"{OLD_KEYS[key]} (e.g. ['severity=\"critical\"'])")
        elif key not in ROUTE_KEYS:
            errors.append(f"{where}: unknown key {key!r} (known: {', '.join(ROUTE_KEYS)})")
    receiver = route.get("receiver")
    if receiver is not None and receiver not in receiver_names:
        errors.append(f"{where}: receiver {receiver!r} is none of alertmanager_receivers "
                      f"(known: {', '.join(sorted(receiver_names))})")
    if "matchers" in route:
        errors += matchers_problems(f"{where}.matchers", route["matchers"])
    if "continue" in route and not isinstance(route["continue"], bool):
        errors.append(f"{where}.continue must be true or false; got {route['continue']!r}")
    if "group_by" in route:
        errors += label_list_problems(f"{where}.group_by", route["group_by"], allow_all=True)
    for key in ("group_wait", "group_interval", "repeat_interval"):
        if key in route:
            problem = duration_problem(f"{where}.{key}", route[key],
                                       nonzero=key != "group_wait")
            if problem:
                errors.append(problem)
    for key in ("mute_time_intervals", "active_time_intervals"):
        names = route.get(key, [])
        if not isinstance(names, list):
            errors.append(f"{where}.{key} must be a list of names of "
                          f"alertmanager_time_intervals; got {names!r}")
            continue
        errors += [f"{where}.{key}: {name!r} is none of alertmanager_time_intervals "
                   f"(known: {', '.join(sorted(interval_names)) or 'none'})"
                   for name in names if name not in interval_names]
    children = route.get("routes", [])
    if not isinstance(children, list):
        errors.append(f"{where}.routes must be a list of routes; got {children!r}")
    else:
        for i, child in enumerate(children):
            errors += route_problems(f"{where}.routes[{i}]", child, receiver_names,
                                     interval_names)
    return errors


# -- time intervals ------------------------------------------------------------------------
def minutes(text: str) -> int:
    hours, mins = text.split(":")
    return int(hours) * 60 + int(mins)


def range_bounds(where: str, item: Any, member) -> tuple[int, int] | str:
    """`a` or `a:b` -> (a, b) read by `member`, or why it cannot be read."""
    text = str(item).lower() if isinstance(item, (str, int)) and not isinstance(item, bool) \
        else None
    if text is None:
        return f"{where}: {item!r} is not a string or number"
    parts = text.split(":")
    if len(parts) > 2:
        return f"{where}: {item!r} is not a value or a range a:b"
    try:
        values = [member(p) for p in parts]
    except ValueError as exc:
        return f"{where}: {item!r}: {exc}"
    return values[0], values[-1]


def named(names: tuple[str, ...], what: str, offset: int, numbers: range | None = None):
    def member(text: str) -> int:
        if text in names:
            return names.index(text) + offset
        if numbers is not None and re.fullmatch(r"-?\d+", text) and int(text) in numbers:
            return int(text)
        raise ValueError(f"{text} is not a {what}")
    return member


def number(text: str) -> int:
    if not re.fullmatch(r"-?\d+", text):
        raise ValueError(f"{text} is not a whole number")
    return int(text)


def day_of_month_problem(begin: int, end: int) -> str | None:
    for day in (begin, end):
        if day == 0 or not -31 <= day <= 31:
            return f"{day} is not a day of the month (1 to 31, or -31 to -1 from its end)"
    if begin < 0 < end:
        return "a range starting from the end of the month must end so too"
    if (28 + begin if begin < 0 else begin) > (28 + end if end < 0 else end):
        return "it ends before it starts"
    return None


def interval_problems(where: str, interval: Any) -> list[str]:
    """One entry of a time interval's `time_intervals` list."""
    if not isinstance(interval, dict):
        return [f"{where} must be a mapping of {', '.join(INTERVAL_KEYS)}; got {interval!r}"]
    errors = [f"{where}: unknown key {key!r} (known: {', '.join(INTERVAL_KEYS)})"
              for key in interval if key not in INTERVAL_KEYS]
    for key in INTERVAL_KEYS[:-1]:
        if key in interval and not isinstance(interval[key], list):
            errors.append(f"{where}.{key} must be a list; got {interval[key]!r}")
    for i, span in enumerate(interval.get("times") or [] if isinstance(
            interval.get("times", []), list) else []):
        at = f"{where}.times[{i}]"
        if not isinstance(span, dict) or set(span) != {"start_time", "end_time"}:
            errors.append(f"{at} must be {{start_time: 'HH:MM', end_time: 'HH:MM'}}; "
                          f"got {span!r}")
            continue
        bad = [f"{k} ({span[k]!r})" for k in ("start_time", "end_time")
               if not isinstance(span[k], str) or not TIME_RE.match(span[k])]
        if bad:
            errors.append(f"{at}: {', '.join(bad)} is not a time HH:MM (00:00 to 24:00, "
                          "two-digit hours)")
        elif minutes(span["start_time"]) >= minutes(span["end_time"]):
            errors.append(f"{at}: start_time {span['start_time']} must be before end_time "
                          f"{span['end_time']} (a span over midnight is two spans)")
    checks = {"weekdays": (named(WEEKDAYS, "weekday", 0), None),
              "days_of_month": (number, day_of_month_problem),
              "months": (named(MONTHS, "month", 1, range(1, 13)), None),
              "years": (number, None)}
    for key, (member, extra) in checks.items():
        items = interval.get(key, [])
        for i, item in enumerate(items if isinstance(items, list) else []):
            bounds = range_bounds(f"{where}.{key}[{i}]", item, member)
            if isinstance(bounds, str):
                errors.append(bounds)
            elif (problem := extra(*bounds) if extra else None):
                errors.append(f"{where}.{key}[{i}]: {item!r}: {problem}")
            elif bounds[0] > bounds[1]:
                errors.append(f"{where}.{key}[{i}]: {item!r} ends before it starts")
    if "location" in interval:
        location = interval["location"]
        if not isinstance(location, str) or not known_location(location):
            errors.append(f"{where}.location ({location!r}) is not a time zone of the IANA "
                          "database such as 'Europe/Berlin' (or 'UTC', 'Local')")
    return errors


def known_location(name: str) -> bool:
    if name in ("", "UTC", "Local"):
        return True
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return False
    return True


def time_interval_problems(values: dict[str, Any]) -> tuple[list[str], set[str]]:
    """alertmanager_time_intervals: one error per mistake, and the names given."""
    errors, names = [], set()
    for i, entry in enumerate(values["alertmanager_time_intervals"]):
        where = f"alertmanager_time_intervals[{i}]"
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str) \
                or not entry["name"]:
            errors.append(f"{where} needs a name and time_intervals: [{{times, weekdays, "
                          f"days_of_month, months, years, location}}]; got {entry!r}")
            continue
        name = entry["name"]
        where = f"alertmanager_time_intervals {name!r}"
        if name in names:
            errors.append(f"{where}: the name is given twice")
        names.add(name)
        errors += [f"{where}: unknown key {k!r} (known: name, time_intervals)"
                   for k in entry if k not in ("name", "time_intervals")]
        intervals = entry.get("time_intervals")
        if not isinstance(intervals, list) or not intervals:
            errors.append(f"{where} needs time_intervals: a non-empty list of {{times, "
                          "weekdays, days_of_month, months, years, location}")
            continue
        for j, interval in enumerate(intervals):
            errors += interval_problems(f"{where}.time_intervals[{j}]", interval)
    return errors, names


# -- inhibit rules, templates --------------------------------------------------------------
def inhibit_problems(values: dict[str, Any]) -> list[str]:
    errors = []
    for i, rule in enumerate(values["alertmanager_inhibit_rules"]):
        where = f"alertmanager_inhibit_rules[{i}]"
        if not isinstance(rule, dict):
            errors.append(f"{where} must be a mapping of {', '.join(INHIBIT_KEYS)}; "
                          f"got {rule!r}")
            continue
        for key in rule:
            if key in OLD_KEYS:
                errors.append(f"{where}: {key} is Alertmanager's old syntax: use "
                              f"{OLD_KEYS[key]}")
            elif key not in INHIBIT_KEYS:
                errors.append(f"{where}: unknown key {key!r} (known: "
                              f"{', '.join(INHIBIT_KEYS)})")
        for key in ("source_matchers", "target_matchers"):
            if not rule.get(key):
                errors.append(f"{where} needs {key}: a non-empty list of matchers (an empty "
                              "one matches every alert)")
            else:
                errors += matchers_problems(f"{where}.{key}", rule[key])
        if "equal" in rule:
            errors += label_list_problems(f"{where}.equal", rule["equal"])
    return errors


def template_files(values: dict[str, Any]) -> dict[str, Path]:
    """alertmanager_template_files: host path -> controller path (checked by
    template_problems)."""
    return {f"{TEMPLATES_DIR}/{Path(str(p)).name}": Path(str(p)).expanduser()
            for p in values["alertmanager_template_files"]}


def template_problems(values: dict[str, Any]) -> list[str]:
    errors, seen = [], {}
    for local in values["alertmanager_template_files"]:
        path = Path(str(local)).expanduser()
        if not isinstance(local, str) or not path.is_file():
            errors.append(f"alertmanager_template_files: {local!r} is not a file on the "
                          "controller")
        elif not re.fullmatch(r"[A-Za-z0-9_.-]+", path.name):
            errors.append(f"alertmanager_template_files: {local}: name the file with "
                          "letters, digits, _ . and - only")
        elif path.name in seen:
            errors.append(f"alertmanager_template_files: {local} and {seen[path.name]} have "
                          "the same file name (both would be "
                          f"{TEMPLATES_DIR}/{path.name}); rename one")
        else:
            seen[path.name] = local
    return errors


# -- the whole ------------------------------------------------------------------------------
def receiver_names(values: dict[str, Any]) -> set[str]:
    return {BLACKHOLE} | {r["name"] for r in values["alertmanager_receivers"]
                          if isinstance(r, dict) and isinstance(r.get("name"), str)}


def walk(routes: list) -> list[dict]:
    """Every route of `routes`, nested ones included."""
    out = []
    for route in routes:
        if isinstance(route, dict):
            out.append(route)
            if isinstance(route.get("routes"), list):
                out += walk(route["routes"])
    return out


def routing_version_problems(values: dict[str, Any], version: str, who: str) -> list[str]:
    """Routing features Alertmanager `version` (`who`: how the error names it) lacks."""
    errors = []
    active = any(r.get("active_time_intervals") for r in walk(values["alertmanager_routes"]))
    if ((values["alertmanager_time_intervals"] or active)
            and version_tuple(version) < TIME_INTERVALS_SINCE):
        errors.append(f"alertmanager_time_intervals: {who} has no time_intervals (they came "
                      f"with {dotted(TIME_INTERVALS_SINCE)}); use "
                      f"{dotted(TIME_INTERVALS_SINCE)} or later")
    located = any(isinstance(i, dict) and "location" in i
                  for e in values["alertmanager_time_intervals"] if isinstance(e, dict)
                  for i in (e.get("time_intervals") or []))
    if located and version_tuple(version) < LOCATION_SINCE:
        errors.append(f"alertmanager_time_intervals: {who} has no location in time "
                      f"intervals (it came with {dotted(LOCATION_SINCE)}); use "
                      f"{dotted(LOCATION_SINCE)} or later, or give the times in UTC")
    return errors


def routing_problems(values: dict[str, Any]) -> list[str]:
    """Routes, time intervals, inhibit rules and template files from the settings: one
    error per mistake (checks= of the catalogue)."""
    errors, interval_names = time_interval_problems(values)
    known = receiver_names(values)
    for i, route in enumerate(values["alertmanager_routes"]):
        errors += route_problems(f"alertmanager_routes[{i}]", route, known, interval_names)
    errors += inhibit_problems(values)
    errors += template_problems(values)
    if not errors and values["alertmanager_install_method"] == "archive":
        version = values["alertmanager_version"]
        errors += routing_version_problems(values, version, f"alertmanager_version {version}")
    return errors


def severity_routes(given: list[dict]) -> list[dict]:
    """Each receiver's own route: the severities it lists, on to the next."""
    return [{"receiver": r["name"],
             "matchers": [f'severity=~"{"|".join(severities)}"'],
             "continue": True}
            for r in given if (severities := receiver_severities(r))]


def config(s) -> tuple[str, dict[str, str]]:
    """alertmanager.yml, and the receivers' secret files it names (host path ->
    content)."""
    # validate() checked the shapes already, but a deploy of one's own may skip it
    problems = routing_problems(s.values)
    if problems:
        raise SettingsError("; ".join(problems))
    found = receivers(s)   # each receiver checked, its secrets resolved
    inhibit = []
    if s.alertmanager_inhibit_warning_when_critical:
        inhibit.append({"source_matchers": ['severity="critical"'],
                        "target_matchers": ['severity="warning"'],
                        "equal": ["alertname", "instance"]})
    inhibit += s.alertmanager_inhibit_rules
    text = render(
        "alertmanager/alertmanager.yml.j2",
        smtp=smtp_globals(s.alertmanager_smtp),
        group_by=s.alertmanager_group_by, group_wait=s.alertmanager_group_wait,
        group_interval=s.alertmanager_group_interval,
        repeat_interval=s.alertmanager_repeat_interval,
        routes=[*s.alertmanager_routes, *severity_routes(s.alertmanager_receivers)],
        receivers=found.configs, inhibit_rules=inhibit,
        time_intervals=s.alertmanager_time_intervals,
        templates=sorted(template_files(s.values)))
    return text, found.files


def config_content(s) -> str:
    """alertmanager.yml alone."""
    return config(s)[0]
