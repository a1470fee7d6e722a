"""All rule files of Prometheus in one operation: only changed files are uploaded, one
promtool run checks the whole set, and a bad file replaces none of the live ones.

validated_files' commands run here in a shell, with its facts asked by their real
commands, on a folder of this machine, with Debian's real promtool."""

from __future__ import annotations

import shutil
import subprocess
import tarfile
from types import SimpleNamespace

import pytest
from pyinfra.api.command import FileUploadCommand, StringCommand

from harness import debian
from operations.base import files as config_files
from operations.base.files import validated_files
from operations.base.templates import shipped_rule_sets

from test_fact_batch import run_locally

GOOD_EXTRA = ("groups:\n  - name: extra\n    rules:\n"
              "      - alert: Extra\n        expr: up == 0\n")
BROKEN = ("groups:\n  - name: broken\n    rules:\n"
          "      - alert: Broken\n        expr: sum(rate(up[5m]) > \n")


class LocalHost:
    """Facts answered by their own commands run here, like pyinfra asks them."""

    def __init__(self, tmp_path):
        self.tmp_path = tmp_path

    def get_fact(self, cls, **kwargs):
        fact = cls()
        command = fact.command(**kwargs)
        ok, lines = run_locally(command.get_raw_value() if isinstance(command, StringCommand)
                                else str(command))
        return fact.process(lines) if ok and lines else fact.default()

    def get_temp_filename(self, name):
        return str(self.tmp_path / f"upload-{abs(hash(name))}.tmp")

    def log(self, *args, **kwargs):
        pass


@pytest.fixture
def local(monkeypatch, tmp_path):
    monkeypatch.setattr(config_files, "host", LocalHost(tmp_path))
    monkeypatch.setattr(config_files, "state",
                        SimpleNamespace(config=SimpleNamespace(DIFF=False)))
    return tmp_path


@pytest.fixture(scope="module")
def promtool():
    return debian.tool("promtool")


def shipped_rules(folder) -> dict[str, str]:
    return {f"{folder}/{p.name}": p.read_text()
            for p in shipped_rule_sets().values()}


def plan(files, folder, promtool=None):
    return list(validated_files._inner(
        files=files, validate=f"{promtool} check rules {{paths}}" if promtool else None,
        only_these_in=str(folder), user="root", group="root", mode="0640"))


def execute(commands) -> subprocess.CompletedProcess:
    """What pyinfra does with the commands: uploads, then the shell command."""
    *uploads, command = commands
    for upload in uploads:
        assert isinstance(upload, FileUploadCommand)
        upload.src.seek(0)
        data = upload.src.read()   # a tarball (bytes) or one file's text
        with open(upload.dest, "w" if isinstance(data, str) else "wb") as fh:
            fh.write(data)
    assert isinstance(command, StringCommand)
    return subprocess.run(["sh", "-c", command.get_raw_value()], capture_output=True, text=True)


def uploaded(commands) -> dict[str, str]:
    """The files of the one upload (a tarball): path -> content."""
    uploads = [c for c in commands if isinstance(c, FileUploadCommand)]
    assert len(uploads) == 1
    uploads[0].src.seek(0)
    with tarfile.open(fileobj=uploads[0].src) as tar:
        found = {"/" + m.name: tar.extractfile(m).read().decode() for m in tar.getmembers()}
    uploads[0].src.seek(0)
    return found


def snapshot(folder) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir()}


@pytest.fixture
def rules(local, promtool):
    """A rules folder holding the shipped rule files, put there by validated_files."""
    folder = local / "rules"
    folder.mkdir()
    res = execute(plan(shipped_rules(folder), folder, promtool))
    assert res.returncode == 0, res.stderr
    return folder


def test_a_first_run_is_one_upload_and_one_command(local, promtool):
    folder = local / "rules"
    folder.mkdir()
    wanted = shipped_rules(folder)
    assert len(wanted) >= 5
    commands = plan(wanted, folder, promtool)
    assert len(commands) == 2
    assert uploaded(commands) == {config_files.staging_path(d): c for d, c in wanted.items()}
    # one promtool run over every file
    assert commands[-1].get_raw_value().count(f"{promtool} check rules") == 1 + len(wanted)
    res = execute(commands)
    assert res.returncode == 0, res.stderr
    assert {f"{folder}/{n}": t.decode() for n, t in snapshot(folder).items()} == wanted
    assert {oct(p.stat().st_mode & 0o777) for p in folder.iterdir()} == {"0o640"}


def test_a_converged_folder_needs_nothing(rules, promtool):
    assert plan(shipped_rules(rules), rules, promtool) == []


def test_only_the_changed_file_is_uploaded_and_checked_with_the_others(rules, promtool):
    wanted = shipped_rules(rules)
    changed = f"{rules}/watchdog.rules.yml"
    wanted[changed] = wanted[changed] + "# changed\n"
    commands = plan(wanted, rules, promtool)
    assert list(uploaded(commands)) == [config_files.staging_path(changed)]
    script = commands[-1].get_raw_value()
    # the unchanged live files are in the one check, beside the staged one
    assert f"{rules}/host.rules.yml" in script
    res = execute(commands)
    assert res.returncode == 0, res.stderr
    assert (rules / "watchdog.rules.yml").read_text().endswith("# changed\n")
    assert plan(wanted, rules, promtool) == []


def test_one_bad_file_among_many_replaces_none_and_is_named(rules, promtool):
    before = snapshot(rules)
    wanted = shipped_rules(rules)
    wanted[f"{rules}/host.rules.yml"] += "# a good change\n"
    wanted[f"{rules}/extra.rules.yml"] = GOOD_EXTRA
    wanted[f"{rules}/broken.rules.yml"] = BROKEN
    commands = plan(wanted, rules, promtool)
    assert len(uploaded(commands)) == 3 and len(commands) == 2
    res = execute(commands)
    assert res.returncode != 0
    assert f"monstack: {rules}/broken.rules.yml failed validation" in res.stderr
    assert "host.rules.yml failed" not in res.stderr and "extra.rules.yml failed" not in res.stderr
    assert "the live files were kept" in res.stderr
    assert snapshot(rules) == before   # live files untouched, no staged file left


def test_stale_files_and_staged_leftovers_are_removed(rules, promtool):
    (rules / "old.rules.yml").write_text(GOOD_EXTRA)
    (rules / ".host.rules.yml.monstack-new").write_text("left by an interrupted run")
    wanted = shipped_rules(rules)
    commands = plan(wanted, rules, promtool)
    assert len(commands) == 1 and "rm -f" in commands[0].get_raw_value()
    assert "check rules" not in commands[0].get_raw_value()   # nothing new to check
    res = execute([*commands])
    assert res.returncode == 0, res.stderr
    assert {f"{rules}/{n}" for n in snapshot(rules)} == set(wanted)
    assert plan(wanted, rules, promtool) == []


def test_owner_or_mode_drift_of_an_unchanged_file_is_fixed(rules, promtool):
    (rules / "host.rules.yml").chmod(0o666)
    commands = plan(shipped_rules(rules), rules, promtool)
    assert len(commands) == 1
    assert execute(commands).returncode == 0
    assert (rules / "host.rules.yml").stat().st_mode & 0o777 == 0o640
    assert plan(shipped_rules(rules), rules, promtool) == []


def test_without_a_validator_files_are_moved_in_one_command(local):
    folder = local / "file_sd"
    folder.mkdir()
    wanted = {f"{folder}/node.yml": "- targets: [a:9100]\n",
              f"{folder}/redis.yml": "- targets: [b:9121]\n"}
    res = execute(plan(wanted, folder))
    assert res.returncode == 0, res.stderr
    assert {f"{folder}/{n}": t.decode() for n, t in snapshot(folder).items()} == wanted
    del wanted[f"{folder}/redis.yml"]
    res = execute(plan(wanted, folder))
    assert res.returncode == 0 and not (folder / "redis.yml").exists()


def test_diff_shows_each_changed_file(rules, promtool, monkeypatch):
    shown = []
    monkeypatch.setattr(config_files, "state", SimpleNamespace(config=SimpleNamespace(DIFF=True)))
    monkeypatch.setattr(config_files, "_show_diff",
                        lambda dest, old, new, secret, secrets: shown.append((dest, old, new)))
    wanted = shipped_rules(rules)
    wanted[f"{rules}/host.rules.yml"] += "# changed\n"
    wanted[f"{rules}/extra.rules.yml"] = GOOD_EXTRA
    plan(wanted, rules, promtool)
    assert [(d, old is None) for d, old, _ in shown] == [
        (f"{rules}/extra.rules.yml", True), (f"{rules}/host.rules.yml", False)]


def test_hidden_files_are_never_shown_in_a_diff(local, monkeypatch):
    folder = local / "secrets"
    folder.mkdir()
    (folder / "a.token").write_text("old-secret")
    shown, logged = [], []
    monkeypatch.setattr(config_files, "state", SimpleNamespace(config=SimpleNamespace(DIFF=True)))
    monkeypatch.setattr(config_files, "_show_diff", lambda *a: shown.append(a))
    monkeypatch.setattr(config_files.host, "log", lambda text, *a: logged.append(text),
                        raising=False)
    commands = list(validated_files._inner(
        files={f"{folder}/a.token": "new-secret", f"{folder}/b.token": "other-secret"},
        only_these_in=str(folder), user="root", group="root", mode="0640", hidden=True))
    assert shown == []
    assert logged == [f"Will modify {folder}/a.token (content not shown: it holds secrets)",
                      f"Will create {folder}/b.token (content not shown: it holds secrets)"]
    assert not any(value in c.get_raw_value() for c in commands
                   if isinstance(c, StringCommand) for value in ("new-", "other-"))
    assert execute(commands).returncode == 0
    assert (folder / "a.token").read_text() == "new-secret"


def test_a_set_failing_only_together_is_named_as_a_set(local):
    """A validator of the whole set (here: at most two files) may fail while each file
    passes alone: its output is shown and every changed file named."""
    folder = local / "conf"
    folder.mkdir()
    (folder / "a.conf").write_text("a\n")
    (folder / "b.conf").write_text("b\n")
    commands = list(validated_files._inner(
        files={f"{folder}/a.conf": "a\n", f"{folder}/b.conf": "b\n", f"{folder}/c.conf": "c\n"},
        validate="sh -c 'echo \"$# files\"; [ $# -lt 3 ]' check {paths}",
        only_these_in=str(folder), user="root", group="root", mode="0644"))
    before = snapshot(folder)
    res = execute(commands)
    assert res.returncode != 0
    assert "3 files" in res.stderr
    assert f"monstack: {folder}/c.conf failed validation together" in res.stderr
    assert snapshot(folder) == before


def test_put_files_installs_several_files_and_their_folders_in_one_command(local, monkeypatch):
    from operations.base import install
    monkeypatch.setattr(install, "host", config_files.host)
    src = local / "src"
    src.mkdir()
    (src / "default.tmpl").write_text("{{ define \"x\" }}{{ end }}\n")
    (src / "email.tmpl").write_text("<html></html>\n")
    dest = local / "usr/share/templates"
    wanted = {f"{dest}/default.tmpl": str(src / "default.tmpl"),
              f"{dest}/email.tmpl": str(src / "email.tmpl")}
    commands = list(install.put_files._inner(files=wanted))
    assert len(commands) == 3   # two uploads, one command
    for upload in commands[:-1]:   # what pyinfra's upload does
        shutil.copyfile(upload.src, upload.dest)
    res = subprocess.run(["sh", "-c", commands[-1].get_raw_value()], capture_output=True,
                         text=True)
    assert res.returncode == 0, res.stderr
    assert sorted(p.name for p in dest.iterdir()) == ["default.tmpl", "email.tmpl"]
    assert (dest / "email.tmpl").stat().st_mode & 0o777 == 0o644
    assert list(install.put_files._inner(files=wanted)) == []


def test_staged_leftovers_are_found_in_the_folders_named_only(tmp_path):
    """What an interrupted run left: a staged program, a staged config, Grafana's staged
    archive folder; not the live files, not a folder no destination of the run is in."""
    from operations.base.facts import StagedLeftovers
    bin_dir, etc, other = tmp_path / "bin", tmp_path / "etc", tmp_path / "other"
    for folder in (bin_dir, etc, other):
        folder.mkdir()
    (bin_dir / "prometheus").write_text("live")
    (bin_dir / ".prometheus.monstack-new").write_text("half")
    (etc / ".prometheus.yml.monstack-new").write_text("half")
    (etc / "grafana-12.0.0.monstack-new").mkdir()
    (etc / "prometheus.yml").write_text("live")
    (other / ".x.monstack-new").write_text("not ours to look at")
    fact = StagedLeftovers()
    ok, lines = run_locally(fact.command([str(bin_dir), str(etc), str(tmp_path / "gone")]))
    assert ok
    assert fact.process(lines) == sorted([str(bin_dir / ".prometheus.monstack-new"),
                                          str(etc / ".prometheus.yml.monstack-new"),
                                          str(etc / "grafana-12.0.0.monstack-new")])
    ok, lines = run_locally(fact.command([str(bin_dir / "nothing-here")]))
    assert ok and fact.process(lines) == []


def one_file(dest, content, mode="0640"):
    return list(config_files.validated_file_op._inner(
        dest=str(dest), content=content, user="root", group="root", mode=mode))


def test_one_file_is_placed_then_left_alone_then_only_its_mode_mended(local):
    """A single file (validated_file): one fact tells its owner, mode and checksum."""
    dest = local / "app.yml"
    res = execute(one_file(dest, "a: 1\n"))
    assert res.returncode == 0, res.stderr
    assert dest.read_text() == "a: 1\n" and dest.stat().st_mode & 0o777 == 0o640
    assert one_file(dest, "a: 1\n") == []
    dest.chmod(0o644)
    assert [c.get_raw_value() for c in one_file(dest, "a: 1\n")] == [f"chmod 0640 {dest}"]
    changed = one_file(dest, "a: 2\n")
    assert len(changed) == 2 and execute(changed).returncode == 0
    assert dest.read_text() == "a: 2\n"


def test_a_link_where_the_file_goes_is_replaced_by_the_file(local):
    """As with pyinfra's File fact (a link is no file): the content is put in its place."""
    target = local / "elsewhere.yml"
    target.write_text("a: 1\n")
    dest = local / "app.yml"
    dest.symlink_to(target)
    res = execute(one_file(dest, "a: 1\n"))
    assert res.returncode == 0, res.stderr
    assert not dest.is_symlink() and dest.read_text() == "a: 1\n"
