"""Facts in one round trip per host.

pyinfra 3 sends one remote command for every fact an operation asks for, each time it is
asked (it keeps no cache), and plans the hosts one after the other. A no-op run of the
stack asked about a hundred facts per host: that round-trip count, not work, was its cost.
Two things bring it to about one command per host:

- While pyinfra plans, a fact asked again with the same arguments is answered from memory.
  That is exact: nothing runs on a host before every operation has been planned, so the
  host cannot answer differently the second time.
- pyinfra runs each operation's generator again when it executes it, asking its facts
  again. Until a host has run a command of this run, its answers cannot have changed
  either: they come from memory too. From its first executed command on, that host's
  facts are asked the normal way.
- Which facts a host was asked for (names and arguments, never values) is remembered on
  the controller. The next run asks all of them at its start, for every host at once, as
  one shell script per host, and passes each answer through the fact's own `process()` as
  pyinfra would. Values always come from the host in this run: `--dry` and the real run
  see the same thing.

A fact whose batched answer is not clean (non-zero status, missing command, unreadable
output) is simply asked again the normal way, so its errors read as pyinfra's own. If
pyinfra's internals ever differ from what this expects, batching switches itself off and
the deploy runs as before, only slower. It also stays off on a pyinfra release outside
the range the test suite runs it on (PROVEN_ON: the lowest and highest pyinfra that
requirements.txt admits, both tested by CI), saying so once.
"""

from __future__ import annotations

import atexit
import copy
import functools
import hashlib
import importlib
import importlib.metadata
import json
import re
import uuid
from inspect import signature
from pathlib import Path

from pyinfra import logger

from operations.base.paths_fact import PathsState

# pyinfra releases (major, minor) this was proven on: requirements.txt's range
PROVEN_ON = ((3, 8), (3, 10))

try:  # pyinfra internals this relies on; absent in another major version -> no batching
    import gevent
    from pyinfra import context as pyinfra_context
    from pyinfra.api import facts as pyinfra_facts
    from pyinfra.api import host as pyinfra_host
    from pyinfra.api import operations as pyinfra_operations
    from pyinfra.api.arguments import CONNECTOR_ARGUMENT_KEYS, all_global_arguments
    from pyinfra.api.command import StringCommand
    from pyinfra.api.state import StateStage
    _original_get_fact = pyinfra_host.get_fact
    _original_run_host_op = pyinfra_operations.run_host_op
    _handle_fact_kwargs = pyinfra_facts._handle_fact_kwargs
    _make_command = pyinfra_facts._make_command
    _MISSING = pyinfra_facts._MISSING_COMMAND_MARKER
    _GLOBAL_ARGUMENT_KEYS = frozenset(k for k, _ in all_global_arguments())
    SUPPORTED = True
except (ImportError, AttributeError):  # pragma: no cover - depends on the pyinfra version
    SUPPORTED = False



@functools.cache  # asked for every host; reading the package metadata is not free
def pyinfra_release() -> tuple[int, ...]:
    return tuple(int(n) for n in re.findall(r"\d+", importlib.metadata.version("pyinfra"))[:2])


def proven(release: tuple[int, ...]) -> bool:
    return PROVEN_ON[0] <= release[:2] <= PROVEN_ON[1]


# Only facts of these modules are re-created from a remembered name: pyinfra's and ours
# (a component's own fact lives in its module: Grafana's ldap.toml, the backup timers).
FACT_MODULES = ("pyinfra.facts.", "operations.")
# Facts written to share the batch's shell: a command of theirs never exits, changes
# folder, traps or sets shell options, and sets every variable it reads before reading it
# (tests/unit/test_fact_batch.py runs them after junk in every such variable).
OWN_FACTS = "operations."
# Connector arguments that may hold secrets (a sudo password in host data): never
# written down; a batch takes them from the host's data of the current run.
SENSITIVE_ARGUMENTS = ("_sudo_password", "_su_password", "_doas_password", "_env", "_stdin")

_answers: dict[str, dict[str, object]] = {}     # host name -> fact key -> value
_asked: dict[str, dict[str, dict]] = {}         # host name -> fact key -> how to ask it
_changed_hosts: set[str] = set()               # hosts that ran a command in this run
_asking_facts: set[str] = set()                # hosts whose fact command runs now
_installed = False
_refused = False                                # said once that batching is off
_executor_memo: dict[str, dict] = {}            # see _split_kwargs
_ABSENT = object()
_prefetch_jobs: dict = {}                       # host name -> its batch (a greenlet)
stats = {"asked": 0, "from_memory": 0, "batched": 0}


def _key(module: str, name: str, fact_kwargs: dict, executor_kwargs: dict) -> str | None:
    try:
        return json.dumps([module, name, fact_kwargs, executor_kwargs], sort_keys=True)
    except TypeError:  # an argument that is not plain data: not remembered
        return None


def _fact_key(cls, fact_kwargs: dict, executor_kwargs: dict) -> str | None:
    return _key(cls.__module__, cls.__qualname__, fact_kwargs, executor_kwargs)


def data_sets_global_arguments(host) -> bool:
    """Does any of the host's data layers (override, host, groups, inventory, deploy
    defaults), as they are now, set a global argument (`_sudo`, ...)? Also True for data
    of a shape this cannot read: that host is then resolved pyinfra's way, alone."""
    try:
        for layer in host.data.datas:
            layer = layer() if callable(layer) else layer
            if not _GLOBAL_ARGUMENT_KEYS.isdisjoint(layer.keys()):
                return True
    except Exception:  # noqa: BLE001 - a data layer of another shape
        return True
    return False


def _data_owner(host) -> str:
    """Whose connector arguments these are: the host's own when its data sets any global
    argument; else every such host's alike (resolved once for all of them, not once per
    host)."""
    return host.name if data_sets_global_arguments(host) else "*"


def _split_kwargs(state, host, cls, args, kwargs) -> tuple[dict, dict]:
    """The fact's own arguments and the connector arguments it runs with, as pyinfra's
    _handle_fact_kwargs tells them. Resolving every global argument (operation, deploy,
    host data, config: a lookup through the host's data per argument) for each fact cost
    more than answering it from memory; the connector arguments are resolved once per
    set of values the operation (or the fact's own keywords) gives them, for each host
    whose data sets any (see _data_owner), once for all the others."""
    kwargs = kwargs or {}
    ctx = host.current_op_global_arguments or {}
    config = pyinfra_context.ctx_config.get() if pyinfra_context.ctx_config.isset() else None
    try:
        key = repr((_data_owner(host), id(config or state.config), host.current_deploy_kwargs,
                    [kwargs.get(k, ctx.get(k, _ABSENT)) for k in CONNECTOR_ARGUMENT_KEYS]))
    except Exception:  # noqa: BLE001 - a value without a usable repr: resolve it each time
        key = None
    executor_kwargs = _executor_memo.get(key) if key is not None else None
    if executor_kwargs is None:
        fact_kwargs, global_kwargs = _handle_fact_kwargs(state, host, cls, args, kwargs)
        executor_kwargs = {k: v for k, v in global_kwargs.items()
                           if k in CONNECTOR_ARGUMENT_KEYS}
        if key is not None:
            _executor_memo[key] = executor_kwargs
    else:  # the rest of _handle_fact_kwargs: keywords that are no global argument
        fact_kwargs = {k: v for k, v in kwargs.items() if k not in _GLOBAL_ARGUMENT_KEYS}
        if args or fact_kwargs:
            fact_kwargs = call_arguments(cls, args, fact_kwargs)
    return {k: v for k, v in fact_kwargs.items() if k != "self"}, executor_kwargs


@functools.cache
def _command_signature(cls):
    return signature(cls().command)


def call_arguments(cls, args, kwargs) -> dict:
    """What pyinfra's getcallargs(cls().command, ...) gives (every parameter, defaults
    filled in), from the command's signature read once per fact class."""
    bound = _command_signature(cls).bind(*(args or []), **kwargs)
    bound.apply_defaults()
    return dict(bound.arguments)


def _get_fact(state, host, cls, args=None, kwargs=None, ensure_hosts=None,
              apply_failed_hosts=True):
    """pyinfra's get_fact, answered from memory while the host is as it was."""
    _asking_facts.add(host.name)
    try:
        return _answer(state, host, cls, args, kwargs, ensure_hosts, apply_failed_hosts)
    finally:
        _asking_facts.discard(host.name)


def _answer(state, host, cls, args, kwargs, ensure_hosts, apply_failed_hosts):
    if (state.current_stage not in (StateStage.Prepare, StateStage.Execute)
            or not isinstance(cls, type) or not issubclass(cls, pyinfra_facts.FactBase)):
        return _original_get_fact(state, host, cls, args=args, kwargs=kwargs,
                                  ensure_hosts=ensure_hosts,
                                  apply_failed_hosts=apply_failed_hosts)
    fact_kwargs, executor_kwargs = _split_kwargs(state, host, cls, args, kwargs)
    key = _fact_key(cls, fact_kwargs, executor_kwargs)
    if key is None:
        return _original_get_fact(state, host, cls, args=args, kwargs=kwargs,
                                  ensure_hosts=ensure_hosts,
                                  apply_failed_hosts=apply_failed_hosts)
    _asked.setdefault(host.name, {})[key] = {
        "module": cls.__module__, "name": cls.__qualname__, "kwargs": fact_kwargs,
        "executor": {k: v for k, v in executor_kwargs.items() if k not in SENSITIVE_ARGUMENTS}}
    if host.name in _changed_hosts:  # the question is remembered, the answer is fresh
        return _original_get_fact(state, host, cls, args=args, kwargs=kwargs,
                                  ensure_hosts=ensure_hosts,
                                  apply_failed_hosts=apply_failed_hosts)
    answers = _answers.setdefault(host.name, {})
    if key in answers:
        stats["from_memory"] += 1
        return copy.deepcopy(answers[key])  # operations may change what they are given
    stats["asked"] += 1
    value = _original_get_fact(state, host, cls, args=args, kwargs=kwargs,
                               ensure_hosts=ensure_hosts, apply_failed_hosts=apply_failed_hosts)
    if host not in state.failed_hosts and host.name not in _changed_hosts:
        answers[key] = copy.deepcopy(value)
    return value


def _run_host_op(state, host, op_hash):
    """pyinfra's run_host_op, noting the hosts where an operation ran commands (Python
    callbacks included)."""
    try:
        return _original_run_host_op(state, host, op_hash)
    finally:
        try:
            ran = getattr(state.get_op_data_for_host(host, op_hash).operation_meta,
                          "_commands", True)  # unknown: assume it did
        except (KeyError, AttributeError):  # not an operation of this host
            ran = False
        if ran:
            _changed_hosts.add(host.name)


def _runs_commands(method):
    """Host.run_shell_command / put_file: a command of an operation (not a fact) while
    executing marks its host changed at once, before its operation's generator asks
    anything more."""
    def wrapper(self, *args, **kwargs):
        state = self.state
        if (state is not None and state.current_stage == StateStage.Execute
                and self.name not in _asking_facts):
            _changed_hosts.add(self.name)
        return method(self, *args, **kwargs)
    wrapper.__wrapped__ = method
    return wrapper


# -- remembering what each host was asked ----------------------------------------------------
def _record_path(folder: str, host_name: str) -> Path:
    safe = re.sub(r"[^A-Za-z0-9_.@-]", "_", host_name)[:80]
    digest = hashlib.sha256(host_name.encode()).hexdigest()[:10]
    return Path(folder).expanduser() / f"{safe}-{digest}.json"


def remember(host_name: str, folder: str) -> None:
    """Keep the list of facts a host was asked for in this run, for the next one."""
    asked = _asked.get(host_name)
    if not asked:
        return
    path = _record_path(folder, host_name)
    asked = sorted(asked.values(), key=lambda r: json.dumps(r, sort_keys=True))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{uuid.uuid4().hex}.tmp")
        tmp.write_text(json.dumps(asked, sort_keys=True, indent=0))
        tmp.replace(path)
    except OSError as exc:  # a read-only home only costs speed
        logger.debug(f"fact batch: could not write {path}: {exc}")


def _remembered(host, folder: str) -> list[dict]:
    try:
        records = json.loads(_record_path(folder, host.name).read_text())
    except (OSError, ValueError):
        return []
    return [r for r in records if isinstance(r, dict)
            and str(r.get("module", "")).startswith(FACT_MODULES)]


# -- asking them all at once -------------------------------------------------------------------
def _shell(command) -> str:
    if isinstance(command, StringCommand):
        return command.get_raw_value()
    return str(command)


def _merged(records: list[dict]) -> list[tuple[dict, list[dict]]]:
    """(record to ask, the records it answers) for `records`: the files, folders and
    programs of every operation asked at once (PathsState: one stat and one sha1sum a host
    rather than one each per operation and per kind; a program started costs a small host
    ~1 ms of CPU), every other fact as remembered."""
    asked, gathered = [], []
    for record in records:
        try:
            cls = getattr(importlib.import_module(record["module"]), record["name"])
        except Exception:  # noqa: BLE001 - _batch_script skips it, saying why
            cls = None
        if cls is not None and PathsState.gathers(cls, record["kwargs"]):
            gathered.append(record)
        else:
            asked.append((record, [record]))
    if gathered:
        asked.append(({"module": PathsState.__module__, "name": PathsState.__qualname__,
                       "kwargs": PathsState.gather(gathered),
                       "executor": gathered[0]["executor"]}, gathered))
    return asked


@functools.lru_cache(maxsize=4096)  # most hosts ask the same facts with the same arguments
def _asking(module: str, name: str, kwargs_json: str) -> tuple[type, str]:
    """A fact's class and the shell that asks it within a batch."""
    cls = getattr(importlib.import_module(module), name)
    fact = cls()
    command = _make_command(fact.command, json.loads(kwargs_json))
    requires = _make_command(fact.requires_command, json.loads(kwargs_json))
    body = _shell(command)
    # ours run in the batch's own shell, one after the other (a subshell each was a fork
    # per fact on every host of every run); pyinfra's each in a subshell
    if module.startswith(OWN_FACTS):
        group = f"{{ {body}\n}}"   # a line of its own: a body may end in a comment
    else:
        group = f"( {body} )"
    if requires:
        group = (f"if command -v {_shell(requires)} >/dev/null 2>&1; then {group}; "
                 f"else echo '{_MISSING}'; fi")
    return cls, group


def _batch_script(records: list[dict], marker: str) -> tuple[str, list]:
    """One shell script asking every fact of `records`; and, by position, the facts asked
    with the records each answers."""
    parts, facts = [], []
    for record, answers_for in _merged(records):
        try:
            cls, group = _asking(record["module"], record["name"],
                                 json.dumps(record["kwargs"], sort_keys=True))
        except Exception as exc:  # a fact that changed shape since it was remembered
            logger.debug(f"fact batch: skipping {record.get('name')}: {exc}")
            continue
        index = len(facts)
        # the bare echo ends an output that lacks a final newline; when the output had
        # one (or was empty) it adds one empty line, which the reader drops
        parts.append(f"echo '{marker} {index}'; {group} </dev/null 2>/dev/null; "
                     f"s=$?; echo; echo \"{marker} {index} $s\"")
        fact = cls()
        if not record["module"].startswith(OWN_FACTS):
            # pyinfra's may keep what process() needs from command() (Sha1File: the path)
            _make_command(fact.command, dict(record["kwargs"]))
        facts.append((answers_for, cls, fact))
    # the answers leave in one piece: written line by line, each line crossed the wire as
    # an SSH packet of its own, each costing the controller (decrypt, MAC) and the host
    script = "\n".join(parts)
    return (f"out=$(\n{script}\n); printf '%s\\n' \"$out\"" if parts else ""), facts


def _host_secrets(state, host) -> dict:
    """The sensitive connector arguments of `host` in this run (from its data)."""
    try:
        from pyinfra.facts.server import Arch
        _, global_kwargs = _handle_fact_kwargs(state, host, Arch, None, None)
    except Exception:  # noqa: BLE001 - a test double of a host
        return {}
    return {k: v for k, v in global_kwargs.items()
            if k in SENSITIVE_ARGUMENTS and k in CONNECTOR_ARGUMENT_KEYS}


def _prefetch_host(state, host, folder: str) -> None:
    records = _remembered(host, folder)
    secrets = _host_secrets(state, host)
    by_executor: dict[str, list[dict]] = {}
    for record in records:
        record = {**record, "executor": {**record["executor"], **secrets}}
        by_executor.setdefault(json.dumps(record["executor"], sort_keys=True), []).append(record)
    answers = _answers.setdefault(host.name, {})
    for executor_json, group in by_executor.items():
        marker = f"@@monstack-fact-{uuid.uuid4().hex}"
        script, facts = _batch_script(group, marker)
        if not facts:
            continue
        executor_kwargs = json.loads(executor_json)
        try:
            status, output = host.run_shell_command(
                StringCommand(script), print_output=state.print_fact_output,
                print_input=state.print_fact_input, **executor_kwargs)
        except Exception as exc:  # the normal path will report it, per fact
            logger.debug(f"fact batch on {host.name} failed: {exc}")
            continue
        current, lines = None, []
        for line in output.stdout_lines:
            if not line.startswith(marker + " "):
                if current is not None:
                    lines.append(line)
                continue
            fields = line[len(marker) + 1:].split()
            if len(fields) == 1:
                current, lines = int(fields[0]), []
                continue
            index, code = int(fields[0]), fields[1]
            answers_for, cls, fact = facts[index]
            if lines and lines[-1] == "":
                lines.pop()
            if code == "0" and lines != [_MISSING]:
                try:
                    value = fact.process(lines) if lines else fact.default()
                except Exception:  # noqa: BLE001 - the normal path reports it
                    value = None
                else:
                    for record in answers_for:
                        answer = value
                        if cls is PathsState:
                            answer = PathsState.answer_for(value, record)
                        answers[_key(record["module"], record["name"], record["kwargs"],
                                     record["executor"])] = answer
                        stats["batched"] += 1
            current, lines = None, []


def _remember_all(folder: str) -> None:
    for host_name in list(_asked):
        remember(host_name, folder)


def start(state, host, folder: str) -> None:
    """Answer facts from memory while a host is unchanged, after asking every remembered
    fact of every active host at once; remember this run's facts when it ends (with -y
    pyinfra asks most of them only while executing). Called by deploy.py for each host
    (pyinfra loads the deploy file for all hosts at once, in greenlets): the first call
    starts the batches, each waits for its own host's."""
    global _installed, _refused
    if not SUPPORTED:
        return
    if not proven(pyinfra_release()):
        if not _refused:
            _refused = True
            logger.info(f"fact batching off: pyinfra {importlib.metadata.version('pyinfra')} "
                        f"is outside {'.'.join(map(str, PROVEN_ON[0]))} to "
                        f"{'.'.join(map(str, PROVEN_ON[1]))}, the releases it was proven on "
                        "(facts are asked one by one, as plain pyinfra asks them)")
        return
    if not _installed:
        atexit.register(_remember_all, folder)
        pyinfra_host.get_fact = _get_fact
        pyinfra_operations.run_host_op = _run_host_op
        for method in ("run_shell_command", "put_file"):
            setattr(pyinfra_host.Host, method, _runs_commands(getattr(pyinfra_host.Host, method)))
        _installed = True
    if state.current_stage != StateStage.Prepare:
        return
    if not _prefetch_jobs:
        # not state.pool: the deploy file is being loaded from its greenlets
        for h in state.inventory.get_active_hosts():
            if h.connected:
                _prefetch_jobs[h.name] = gevent.spawn(_prefetch_host, state, h, folder)
    job = _prefetch_jobs.get(host.name)
    if job is not None:
        job.join()
    # the host's temporary folder (pyinfra's TmpDir, kept by pyinfra once known): asked
    # here, it is in every batch; else the first upload asked it alone, mid-run
    host.get_temp_filename("monstack")
