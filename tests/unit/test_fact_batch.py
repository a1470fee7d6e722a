"""One round trip per host: facts asked in a batch give exactly the values pyinfra gets
when it asks them one by one."""

from __future__ import annotations

import json
import subprocess
from types import SimpleNamespace

import pytest
from pyinfra.api.command import StringCommand
from pyinfra.facts.files import Directory, File, FindFiles, Sha1File
from pyinfra.facts.server import Arch, Command, Users

from operations.base import fact_batch
from operations.base.backups import BackupTimers
from operations.base.facts import (DeployedLeftovers, DirectoriesState, FilesState,
                              InstalledProgram, LocalAddressOf, MarkedFolders,
                              MaskedFileContents, ServiceAccounts, StagedLeftovers,
                              UnitState)
from operations.base.paths_fact import PathsState
from operations.components.grafana.login import LdapConfigOwner

pytestmark = pytest.mark.skipif(not fact_batch.SUPPORTED, reason="pyinfra internals differ")


def run_locally(command: str) -> tuple[bool, list[str]]:
    res = subprocess.run(["sh", "-c", command], capture_output=True, text=True)
    return res.returncode == 0, res.stdout.splitlines()


class LocalHost:
    """A host whose shell is this machine's, answering like pyinfra's connectors; its
    shell starts with `prelude`, when given."""
    name = "local-test-host"
    connected = True

    def __init__(self, prelude: str = ""):
        self.commands = []
        self.prelude = prelude

    def run_shell_command(self, command: StringCommand, **kwargs):
        self.commands.append(command.get_raw_value())
        ok, lines = run_locally(self.prelude + command.get_raw_value())
        return ok, SimpleNamespace(stdout_lines=lines)


def one_by_one(cls, **kwargs):
    """What pyinfra's get_fact makes of the fact: its command run alone, then process()."""
    fact = cls()
    ok, lines = run_locally(str(fact.command(**kwargs)) if not isinstance(
        fact.command(**kwargs), StringCommand) else fact.command(**kwargs).get_raw_value())
    assert ok
    return fact.process(lines) if lines else fact.default()


def without_atime(answer):
    """A fact's answer but a file's access time: reading the file for the batch may move it
    (relatime) before it is read again one by one."""
    return {k: v for k, v in answer.items() if k != "atime"} if isinstance(answer, dict) \
        else answer


@pytest.fixture
def tree(tmp_path, monkeypatch):
    import os

    from operations.base import facts
    from operations.base.facts import write_program_stamp
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf/a.yml").write_text("a: 1\npassword: x\n")
    (tmp_path / "conf/no-newline").write_text("last line without newline")
    (tmp_path / "conf/blank-lines").write_text("x\n\n\n")
    (tmp_path / "conf/empty").write_text("")
    (tmp_path / "conf/with space").write_text("spaced\n")
    (tmp_path / "conf/link").symlink_to(tmp_path / "conf/a.yml")
    (tmp_path / "dir-link").symlink_to(tmp_path / "conf")
    os.mkfifo(tmp_path / "conf/fifo")
    # programs: one stamped as installed, one changed since its stamp, one never stamped,
    # one reached through a link
    monkeypatch.setattr(facts, "PROGRAM_STAMPS", str(tmp_path / "stamps"))
    for name in ("stamped", "changed", "unstamped"):
        (tmp_path / f"bin-{name}").write_text(f"#!/bin/sh\necho {name}\n")
    (tmp_path / "bin-link").symlink_to(tmp_path / "bin-stamped")
    for name in ("stamped", "changed", "link"):
        subprocess.run(write_program_stamp(str(tmp_path / f"bin-{name}"), "1" * 40),
                       shell=True, check=True)
    (tmp_path / "bin-changed").write_text("#!/bin/sh\necho changed since\n")
    return tmp_path


def asked(tree) -> list[tuple]:
    return [
        (File, {"path": str(tree / "conf/a.yml")}),
        (File, {"path": str(tree / "missing")}),
        (Directory, {"path": str(tree / "conf")}),
        (Sha1File, {"path": str(tree / "conf/no-newline")}),
        (Sha1File, {"path": str(tree / "missing")}),
        (FindFiles, {"path": str(tree / "conf"), "quote_path": True}),
        (MaskedFileContents, {"path": str(tree / "conf/a.yml")}),
        (MaskedFileContents, {"path": str(tree / "conf/blank-lines")}),
        (MaskedFileContents, {"path": str(tree / "conf/empty")}),
        (LocalAddressOf, {"address": "127.0.0.1"}),
        (LocalAddressOf, {"address": "localhost"}),
        (LocalAddressOf, {"address": "monstack-test.invalid"}),
        (InstalledProgram, {"path": str(tree / "conf/a.yml")}),
        (InstalledProgram, {"path": str(tree / "missing")}),
        (InstalledProgram, {"path": str(tree / "bin-stamped")}),
        (InstalledProgram, {"path": str(tree / "bin-changed")}),
        (InstalledProgram, {"path": str(tree / "bin-unstamped")}),
        (InstalledProgram, {"path": str(tree / "bin-link")}),
        (FilesState, {"paths": [str(tree / "conf/with space"), str(tree / "conf/link"),
                                str(tree / "conf/fifo"), str(tree / "bin-stamped")],
                      "folder": None}),
        (DirectoriesState, {"paths": [str(tree / "dir-link"), str(tree / "conf/fifo"),
                                      str(tree / "conf/with space")]}),
        (StagedLeftovers, {"folders": [str(tree / "conf"), str(tree / "missing")]}),
        (UnitState, {"unit": "monstack-test-none.service", "watched": [str(tree / "conf/a.yml")],
                     "program": "/bin/true"}),
        (FilesState, {"paths": [str(tree / "conf/a.yml"), str(tree / "missing"),
                                str(tree / "conf")], "folder": str(tree / "conf")}),
        # two operations' files, asked in one command (their paths overlap)
        (FilesState, {"paths": [str(tree / "conf/a.yml"), str(tree / "missing")],
                      "folder": None}),
        (FilesState, {"paths": [str(tree / "conf/no-newline"), str(tree / "conf/a.yml"),
                                str(tree / "conf")], "folder": None}),
        (DirectoriesState, {"paths": [str(tree / "conf"), str(tree / "conf/a.yml"),
                                      str(tree / "missing")]}),
        (DirectoriesState, {"paths": [str(tree), str(tree / "conf")]}),
        (ServiceAccounts, {"names": ["root", "monstack-test-none", "daemon"]}),
        (MarkedFolders, {"folder": str(tree), "marker": "a.yml"}),
        (MarkedFolders, {"folder": str(tree / "missing"), "marker": "a.yml"}),
        (DeployedLeftovers, {"header": "a: 1", "units": ["monstack-test-none"],
                             "programs": ["/usr/local/bin/monstack-test-none"],
                             "paths": [str(tree / "conf"), str(tree / "missing")],
                             "links": [[str(tree / "missing"), "/x"]],
                             "trees": [[str(tree), "con*", "a.yml"]],
                             "packages": ["monstack-test-no-such-package"],
                             "masked": ["monstack-test-none"], "users": ["root"]}),
        (BackupTimers, {}),
        (LdapConfigOwner, {"path": str(tree / "conf/a.yml")}),
        (LdapConfigOwner, {"path": str(tree / "missing")}),
        (Arch, {}),
        (Users, {}),
    ]


def remembered(tree, tmp_path) -> str:
    folder = tmp_path / "facts"
    folder.mkdir()
    host = LocalHost()
    records = [{"module": cls.__module__, "name": cls.__qualname__, "kwargs": kw,
                "executor": {}} for cls, kw in asked(tree)]
    fact_batch._record_path(str(folder), host.name).write_text(json.dumps(records))
    return str(folder)


@pytest.fixture
def fresh(monkeypatch):
    monkeypatch.setattr(fact_batch, "_answers", {})
    monkeypatch.setattr(fact_batch, "_asked", {})
    monkeypatch.setattr(fact_batch, "stats", {"asked": 0, "from_memory": 0, "batched": 0})


def test_a_batch_answers_every_fact_as_asking_them_one_by_one_does(tree, tmp_path, fresh):
    folder = remembered(tree, tmp_path)
    host = LocalHost()
    state = SimpleNamespace(print_fact_output=False, print_fact_input=False)
    fact_batch._prefetch_host(state, host, folder)
    assert len(host.commands) == 1  # one round trip
    # the files, folders and programs of every operation are asked at once (PathsState:
    # one stat, one sha1sum); the FilesState with a folder on its own
    assert host.commands[0].count("echo paths:") == 1
    assert host.commands[0].count("echo dirs:") == 0
    assert host.commands[0].count("echo files:") == 1
    answers = fact_batch._answers[host.name]
    for cls, kwargs in asked(tree):
        key = fact_batch._fact_key(cls, kwargs, {})
        assert key in answers, cls.__name__
        assert without_atime(answers[key]) == without_atime(one_by_one(cls, **kwargs)), \
            (cls.__name__, kwargs)
    assert fact_batch.stats["batched"] == len(asked(tree))


def test_a_hosts_files_folders_and_programs_take_one_stat_and_one_sha1sum(tree, tmp_path,
                                                                         fresh):
    """What a no-op asks of a node host (its unit and helper, its folders, its stamped
    program), in the programs the host starts: counted through stand-ins on its PATH."""
    shims = tmp_path / "shims"
    shims.mkdir()
    for name in ("stat", "sha1sum"):
        real = subprocess.run(["sh", "-c", f"command -v {name}"], capture_output=True,
                              text=True, check=True).stdout.strip()
        (shims / name).write_text(f'#!/bin/sh\necho {name} >> {shims}/ran\nexec {real} "$@"\n')
        (shims / name).chmod(0o755)
    records = [
        (FilesState, {"paths": [str(tree / "conf/a.yml")], "folder": None}),
        (FilesState, {"paths": [str(tree / "conf/empty")], "folder": None}),
        (DirectoriesState, {"paths": [str(tree / "conf"), str(tree)]}),
        (InstalledProgram, {"path": str(tree / "bin-stamped")}),
    ]
    folder = tmp_path / "facts"
    folder.mkdir()
    host = LocalHost(prelude=f"PATH={shims}:$PATH; ")
    fact_batch._record_path(str(folder), host.name).write_text(json.dumps(
        [{"module": cls.__module__, "name": cls.__qualname__, "kwargs": kw, "executor": {}}
         for cls, kw in records]))
    fact_batch._prefetch_host(SimpleNamespace(print_fact_output=False, print_fact_input=False),
                              host, str(folder))
    assert (shims / "ran").read_text().split() == ["stat", "sha1sum"]
    answers = fact_batch._answers[host.name]
    for cls, kwargs in records:
        assert answers[fact_batch._fact_key(cls, kwargs, {})] == one_by_one(cls, **kwargs)
    assert answers[fact_batch._fact_key(*records[3], {})]["stamped"]


def our_fact_classes() -> list[type]:
    import importlib
    import pkgutil
    import operations
    from pyinfra.api import FactBase
    ours = []
    for info in pkgutil.walk_packages(operations.__path__, "operations."):
        module = importlib.import_module(info.name)
        ours += [cls for cls in vars(module).values() if isinstance(cls, type)
                 and issubclass(cls, FactBase) and cls.__module__ == info.name]
    return ours


def test_our_facts_share_the_batch_shell_and_pyinfras_run_in_a_subshell(tree, tmp_path, fresh):
    folder = remembered(tree, tmp_path)
    host = LocalHost()
    fact_batch._prefetch_host(SimpleNamespace(print_fact_output=False, print_fact_input=False),
                              host, folder)
    script = host.commands[0]
    assert "; { echo files:" in script and "; { echo paths:" in script
    assert "; ( uname -m )" in script            # pyinfra's Arch


def test_our_facts_read_no_variable_an_earlier_fact_left_set(tree, tmp_path, fresh):
    """Our facts run one after another in one shell: each must set what it reads. The
    batch runs here after every variable our facts' commands name was set to 1, the
    positional parameters too, and a newer() function that says yes: the answers are
    those of each fact asked alone."""
    import re
    names = set()
    for cls, kwargs in asked(tree):
        if cls.__module__.startswith(fact_batch.OWN_FACTS):
            names |= set(re.findall(r"\b([A-Za-z_][A-Za-z0-9_]*)=", str(cls().command(**kwargs))))
    # and those of the fact asking files, folders and programs at once
    names |= set(re.findall(r"\b([A-Za-z_][A-Za-z0-9_]*)=", PathsState().command(
        files=["/f"], dirs=["/d"], programs=["/p"])))
    names -= {"IFS", "PATH"}
    assert {"found", "k", "h", "l", "mine", "H", "st"} <= names
    prelude = "".join(f"{n}=1; " for n in sorted(names)) + "set -- 1 1; newer() { true; }\n"
    folder = remembered(tree, tmp_path)
    host = LocalHost(prelude=prelude)
    fact_batch._prefetch_host(SimpleNamespace(print_fact_output=False, print_fact_input=False),
                              host, folder)
    answers = fact_batch._answers[host.name]
    for cls, kwargs in asked(tree):
        assert without_atime(answers[fact_batch._fact_key(cls, kwargs, {})]) == \
            without_atime(one_by_one(cls, **kwargs)), (cls.__name__, kwargs)


def test_no_fact_of_ours_leaves_or_changes_the_shell_it_runs_in():
    """Ours share the batch's shell (OWN_FACTS): none may exit (the facts after it would go
    unanswered), change folder, trap or set shell options. And the batch builds a fact's
    shell once for all hosts: none may keep anything of command() for process()."""
    import ast
    import inspect
    import re
    import textwrap
    for cls in our_fact_classes():
        source = textwrap.dedent(inspect.getsource(cls.command))
        assert not re.search(r"self\.\w+\s*=", source), cls.__name__
        tree = ast.parse(source)
        shell = " ".join(node.value for node in ast.walk(tree)
                         if isinstance(node, ast.Constant) and isinstance(node.value, str))
        assert not re.search(r"(?<![-\w])(exit|cd|trap|return)\b|\bset -[a-z]", shell), \
            (cls.__name__, shell)


def test_a_fact_that_fails_in_the_batch_is_left_to_the_normal_path(tmp_path, fresh):
    folder = tmp_path / "facts"
    folder.mkdir()
    host = LocalHost()
    records = [{"module": "operations.base.facts", "name": "LocalAddressOf",
                "kwargs": {"address": "127.0.0.1"}, "executor": {}},
               {"module": "pyinfra.facts.server", "name": "Command",
                "kwargs": {"command": "echo partial; exit 3"}, "executor": {}}]
    fact_batch._record_path(str(folder), host.name).write_text(json.dumps(records))
    fact_batch._prefetch_host(SimpleNamespace(print_fact_output=False, print_fact_input=False),
                              host, str(folder))
    answers = fact_batch._answers[host.name]
    assert answers[fact_batch._fact_key(LocalAddressOf, {"address": "127.0.0.1"}, {})] == "127.0.0.1"
    assert len(answers) == 1


def test_every_fact_of_ours_is_one_the_batch_recreates():
    """A fact class outside FACT_MODULES would be asked on its own, a second round trip
    to every host on every run (the backup timers' fact once was)."""
    ours = our_fact_classes()
    assert len(ours) > 10
    assert [c for c in ours if not c.__module__.startswith(fact_batch.FACT_MODULES)] == []


def test_only_facts_of_known_modules_are_recreated(tmp_path, fresh):
    folder = tmp_path / "facts"
    folder.mkdir()
    host = LocalHost()
    fact_batch._record_path(str(folder), host.name).write_text(json.dumps(
        [{"module": "os", "name": "system", "kwargs": {}, "executor": {}}]))
    fact_batch._prefetch_host(SimpleNamespace(print_fact_output=False, print_fact_input=False),
                              host, str(folder))
    assert host.commands == []


def test_remembered_are_names_and_arguments_never_values(tmp_path, fresh, monkeypatch):
    monkeypatch.setattr(fact_batch, "_installed", True)
    host = LocalHost()
    fact_batch._asked[host.name] = {"k": {"module": "pyinfra.facts.files", "name": "File",
                                          "kwargs": {"path": "/etc/x"}, "executor": {}}}
    fact_batch._answers[host.name] = {"k": {"mode": 640, "secret": "never written"}}
    fact_batch.remember(host.name, str(tmp_path))
    text = fact_batch._record_path(str(tmp_path), host.name).read_text()
    assert "/etc/x" in text and "never written" not in text


DEPLOY = """\
import sys
sys.path.insert(0, {repo!r})
from pyinfra import host, state
from pyinfra.operations import files
from operations.base import fact_batch
fact_batch.start(state, host, {facts!r})  # remembers this run's facts when it ends
for name in ("a", "b", "c"):
    files.directory(path={tmp!r} + "/" + name)
files.put(src=__file__, dest={tmp!r} + "/copy.py")
files.file(path={tmp!r} + "/b/marker", mode="600")
"""


def run_deploy(deploy, *args) -> tuple[str, int]:
    import re
    import sys
    res = subprocess.run([sys.executable, "-m", "pyinfra", *args, "-vv", "@local", str(deploy)],
                         capture_output=True, text=True, cwd=deploy.parent)
    output = res.stdout + res.stderr
    assert res.returncode == 0, output
    return output, len(re.findall(r"\] >>> ", output))


@pytest.fixture
def deploy(tmp_path):
    from pathlib import Path
    repo = str(Path(__file__).resolve().parents[2])
    path = tmp_path / "deploy.py"
    path.write_text(DEPLOY.format(repo=repo, facts=str(tmp_path / "facts"),
                                  tmp=str(tmp_path / "managed")))
    return path


def test_a_second_run_asks_every_fact_in_one_command(deploy):
    """The real pyinfra CLI, planning (--dry) on this machine: the first run asks fact
    by fact and remembers which; the second asks them all in one command."""
    output, first = run_deploy(deploy, "--dry")
    assert "Detected changes" in output
    assert first >= 5          # a Directory fact per folder, File + Sha1File for the copy...
    assert run_deploy(deploy, "--dry")[1] == 1     # ...all asked at once


def test_a_real_no_op_run_sends_one_command_and_a_change_is_still_seen(deploy, tmp_path):
    """Executing, pyinfra asks each operation's facts again: a host that has run nothing
    yet answers from memory; once it has run a command, its facts are asked afresh."""
    managed = tmp_path / "managed"
    run_deploy(deploy, "-y")                       # converge
    assert (managed / "b/marker").stat().st_mode & 0o777 == 0o600
    # nothing to do; it asks what a converge had no reason to (the copy's checksum: there
    # was no copy), so the run after it asks everything at once
    output, commands = run_deploy(deploy, "-y")
    assert commands <= 2 and "Success" not in output.split("--> Results")[0]
    output, commands = run_deploy(deploy, "-y")
    assert commands == 1 and "Success" not in output.split("--> Results")[0]
    (managed / "b/marker").unlink()                # someone removes a file
    (managed / "b").rmdir()
    output, _ = run_deploy(deploy, "-y")           # the directory, then the file in it
    assert (managed / "b/marker").stat().st_mode & 0o777 == 0o600
    assert run_deploy(deploy, "-y")[1] == 1


def test_the_proven_range_is_the_range_requirements_admit():
    """requirements.txt admits the pyinfra releases batching was proven on, no other: CI
    runs the suite on the lowest (scripts/test-lowest-pyinfra.sh) and the highest."""
    import re
    from pathlib import Path
    requirements = (Path(__file__).resolve().parents[2] / "requirements.txt").read_text()
    low_major, low_minor, below_major, below_minor = map(int, re.search(
        r"^pyinfra>=(\d+)\.(\d+),<(\d+)\.(\d+)", requirements, re.M).groups())
    assert fact_batch.PROVEN_ON == ((low_major, low_minor), (below_major, below_minor - 1))
    assert fact_batch.proven(fact_batch.pyinfra_release())   # the one running this test


@pytest.mark.parametrize("release", [(3, 7), (3, 11), (4, 0)])
def test_batching_stays_off_on_a_pyinfra_it_was_not_proven_on(release, monkeypatch, caplog,
                                                              tmp_path):
    from pyinfra.api import host as pyinfra_host
    before = pyinfra_host.get_fact
    monkeypatch.setattr(fact_batch, "pyinfra_release", lambda: release)
    monkeypatch.setattr(fact_batch, "_installed", False)
    monkeypatch.setattr(fact_batch, "_refused", False)
    with caplog.at_level("INFO", logger="pyinfra"):
        fact_batch.start(None, None, str(tmp_path))
        fact_batch.start(None, None, str(tmp_path))
    assert pyinfra_host.get_fact is before             # nothing patched
    said = [r.getMessage() for r in caplog.records if "fact batching off" in r.getMessage()]
    assert len(said) == 1 and "3.8 to 3.10" in said[0], said


def test_an_address_sshd_was_reached_at_is_local_without_asking_ip():
    """SSH_CONNECTION names the host's own address the connection came in on: that one is
    local with no program started; another address is still checked by `ip`."""
    command = LocalAddressOf().command(address="192.0.2.77")   # TEST-NET: on no interface
    ssh = "10.0.0.9 50000 192.0.2.77 22"
    for env, expected in ((ssh, ["local:192.0.2.77"]), ("", ["none"]),
                          ("192.0.2.77 50000 10.0.0.9 22", ["none"])):   # the client's
        res = subprocess.run(["sh", "-c", command], capture_output=True, text=True,
                             env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "SSH_CONNECTION": env})
        assert res.stdout.splitlines() == expected, env
    assert run_locally(LocalAddressOf().command(address="127.0.0.1"))[1] == ["local:127.0.0.1"]


ENV_DEPLOY = """\
import sys
sys.path.insert(0, {repo!r})
from pyinfra import host, state
from pyinfra.api import FactBase, operation
from operations.base import fact_batch
fact_batch.start(state, host, {facts!r})


class Greeting(FactBase):
    def command(self):
        return 'echo "greeting-${{GREETING:-none}}"'


@operation()
def greet(label: str):
    with open({answers!r}, "a") as answers:   # what the operation was told, each time
        answers.write(label + " " + host.get_fact(Greeting) + "\\n")
    yield from ()


greet(label="french", _env={{"GREETING": "bonjour"}})
greet(label="plain")
greet(label="french-again", _env={{"GREETING": "bonjour"}})
"""


@pytest.fixture
def env_deploy(tmp_path):
    """ENV_DEPLOY written out: its path, and the file its operations note their answers in."""
    from pathlib import Path
    path, answers = tmp_path / "deploy.py", tmp_path / "answers"
    path.write_text(ENV_DEPLOY.format(repo=str(Path(__file__).resolve().parents[2]),
                                      facts=str(tmp_path / "facts"), answers=str(answers)))
    return path, answers


def test_a_fact_asked_with_other_connector_arguments_is_asked_again(env_deploy):
    """The same fact under another operation's environment is another question: answers
    are remembered per connector arguments, however they are resolved (planning, where
    every answer comes from memory once asked)."""
    deploy, answers = env_deploy
    run_deploy(deploy, "--dry")
    told = set(answers.read_text().splitlines())
    assert told == {"french greeting-bonjour", "plain greeting-none",
                    "french-again greeting-bonjour"}, told


def test_the_temporary_folder_is_asked_in_the_batch(env_deploy):
    """pyinfra asks a host's temporary folder the first time an upload needs it, alone and
    mid-run; the batch asks it up front, so a first converge does not."""
    deploy, _ = env_deploy
    run_deploy(deploy, "--dry")
    output, _ = run_deploy(deploy, "--dry")
    batch = output.split("] >>> ")[1]   # the first command (the deploy's own fact is
    # no fact of the stack's: asked alone, after it)
    assert batch.startswith("sh -c 'out=$(") and '[ -n "$TMPDIR" ]' in batch, output


def test_connector_arguments_are_resolved_once_for_hosts_whose_data_sets_none(monkeypatch):
    """Hosts whose data sets no global argument get the same connector arguments: resolved
    once for all of them; a host whose data sets one (`_sudo`) has its own."""
    from pyinfra.facts.server import Arch
    resolved = []

    def handle(state, host, cls, args, kwargs):   # pyinfra's, as far as it matters here
        resolved.append(host.name)
        sudo = any("_sudo" in (layer() if callable(layer) else layer)
                   for layer in host.data.datas)
        return {}, {"_sudo": sudo, "name": None}

    def fake_host(name, data):
        return SimpleNamespace(name=name, current_op_global_arguments=None,
                               current_deploy_kwargs=None,
                               data=SimpleNamespace(datas=({}, lambda: data, {"all": 1})))

    monkeypatch.setattr(fact_batch, "_handle_fact_kwargs", handle)
    monkeypatch.setattr(fact_batch, "_executor_memo", {})
    state = SimpleNamespace(config=object())
    answers = {h.name: fact_batch._split_kwargs(state, h, Arch, None, None)[1]
               for h in (fake_host("a", {}), fake_host("b", {"x": 1}),
                         fake_host("sudo", {"_sudo": True}), fake_host("c", {}))}
    assert resolved == ["a", "sudo"]
    assert answers == {"a": {"_sudo": False}, "b": {"_sudo": False}, "sudo": {"_sudo": True},
                       "c": {"_sudo": False}}


@pytest.mark.parametrize("cls,args,kwargs", [
    (FilesState, [], {"paths": ["/a"]}),
    (FilesState, [["/a"]], {"folder": "/b"}),
    (UnitState, ["x.service"], {"program": "/usr/bin/x"}),
    (DeployedLeftovers, [], {"header": "h", "units": ["a"]}),
    (Command, ["true"], {}),
])
def test_fact_arguments_are_those_pyinfra_gives(cls, args, kwargs):
    """A fact's arguments as the batch reads them from the command's signature equal
    pyinfra's getcallargs (its answers are remembered under them)."""
    from inspect import getcallargs
    expected = {k: v for k, v in getcallargs(cls().command, *args, **kwargs).items()
                if k != "self"}
    assert fact_batch.call_arguments(cls, args, kwargs) == expected
