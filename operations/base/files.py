"""Config files that are checked on the host before they replace the live ones.

`files.template` has no validation hook, and pyinfra plans every operation from facts
gathered before the run, so "render, then validate, then move" is one operation here:
it compares the wanted content with the live file's checksum (a fact), and only when
they differ uploads to a staging path beside the live file, runs the validator on it and
moves it into place. An invalid file fails the operation with the validator's message and
leaves the live file (and the service using it) untouched. Because the decision is made
from facts, `--dry` predicts exactly what the run does.
"""

from __future__ import annotations

import hashlib
import posixpath
import re
import shlex
import tarfile
import time
from io import BytesIO, StringIO

from pyinfra import host, logger, state
from pyinfra.api import FileUploadCommand, OperationError, StringCommand, operation
from pyinfra.api.operation import OperationMeta
from pyinfra.api.util import format_text
from pyinfra.facts.files import FileContents
from pyinfra.operations.util.files import generate_color_diff

from operations.base.facts import (SECRET_KEY_WORDS, SECRET_MASK, FilesState, MaskedFileContents,
                                   StagedLeftovers)

# In files holding secrets the value of any secret-looking key is masked on both sides of
# a diff (the live side on the host, by MaskedFileContents): the live file may hold an old
# secret that no setting names any more.
_SECRET_ASSIGNMENT = re.compile(
    r"^(\s*(?:-\s+)?[\w.-]*(?:" + "|".join(SECRET_KEY_WORDS) + r")[\w.-]*\s*[:=]\s*)\S.*$",
    re.IGNORECASE)


def mode_digits(mode: str | int) -> int:
    """'0640' / 0o640 -> 640, the form pyinfra's File fact reports."""
    if isinstance(mode, int):
        return int(oct(mode)[2:])
    return int(str(mode).lstrip("0") or "0")


def owner_mode_fixes(path: str, live: dict, user: str, group: str, mode: str | int) -> list[str]:
    """Shell steps giving the file `path` (`live`: its File-fact-like {user, group, mode})
    this owner and mode; none when it has them."""
    q_path = shlex.quote(path)
    steps = []
    if (live["user"], live["group"]) != (user, group):
        steps.append(f"chown {user}:{group} {q_path}")
    if live["mode"] != mode_digits(mode):
        steps.append(f"chmod {mode} {q_path}")
    return steps


def masked_lines(text: str, secrets=()) -> list[str]:
    """`text` as diff lines with secret values replaced by SECRET_MASK."""
    lines = []
    for line in text.splitlines():
        for value in secrets:
            if value:
                line = line.replace(value, SECRET_MASK)
        lines.append(_SECRET_ASSIGNMENT.sub(lambda m: m.group(1) + SECRET_MASK, line) + "\n")
    return lines


def _show_diff(dest: str, old: str | None, new: str, secret: bool, secrets) -> None:
    """What `--diff` prints: the rendered change, secrets masked."""
    host.log(f"Will {'modify' if old is not None else 'create'} {format_text(dest, bold=True)}",
             logger.info)
    if secret:  # `old` was masked on the host already; masking again is harmless
        old_lines = masked_lines(old or "", secrets)
        new_lines = masked_lines(new, secrets)
    else:
        old_lines = [line + "\n" for line in (old or "").splitlines()]
        new_lines = [line + "\n" for line in new.splitlines()]
    if old_lines == new_lines:
        logger.info("  (only masked secret values differ)")
    for line in generate_color_diff(old_lines, new_lines):
        logger.info("  %s", line)
    logger.info("")


def _show_change(dest: str, exists: bool, new: str, hidden: str | None, secret: bool = False,
                 secrets=()) -> None:
    """With --diff: the change of `dest` to `new`, read from the host if it `exists`
    (masked there when `secret`), or only that it changes when it is `hidden` (why)."""
    if not state.config.DIFF:
        return
    if hidden:
        host.log(f"Will {'modify' if exists else 'create'} {dest} (content not shown: "
                 f"{hidden})", logger.info)
        return
    old = None
    if exists:
        fact = MaskedFileContents if secret else FileContents
        old = "".join(line + "\n" for line in host.get_fact(fact, path=dest) or [])
    _show_diff(dest, old, new, secret, secrets)


STAGED_SUFFIX = ".monstack-new"
# host name -> folders in which this run's files are staged beside their destination: the
# only places where an interrupted upload or move can leave a staged file behind
_STAGING_FOLDERS: dict[str, set[str]] = {}


def staging_path(dest: str) -> str:
    directory, name = posixpath.split(dest)
    return posixpath.join(directory, f".{name}{STAGED_SUFFIX}")


def stages_beside(*dests: str) -> None:
    """Note that files are put at `dests` by staging them beside: remove_staged_leftovers()
    looks for what an earlier, interrupted run staged there. Called where the operation is
    planned, never inside its generator: with `-y` pyinfra runs generators only while
    executing, so folders noted there would differ between --dry and the run."""
    try:
        name = host.name
    except AttributeError:  # no host: an operation's generator driven alone (unit tests)
        return
    _STAGING_FOLDERS.setdefault(name, set()).update(posixpath.dirname(d) for d in dests)


def unpacked_in_place(tarball: str, stem: str, dest: str, *, strip: int, marker: str,
                      sha256: str, mode: str | None = None):
    """The commands of an operation that puts the controller's `tarball` (a tar.gz) whole at
    the folder `dest`: uploaded to `stem`.tar.gz.monstack-new, unpacked into
    `stem`.monstack-new (its `strip` leading folders dropped, no owner kept, nothing
    writable by group or others, made with `mode` when given) with the file `marker`
    holding `sha256`, then moved in place of `dest`. A failure removes what was staged."""
    staged, tmp = f"{stem}.tar.gz{STAGED_SUFFIX}", f"{stem}{STAGED_SUFFIX}"
    q_staged, q_tmp, q_dest = shlex.quote(staged), shlex.quote(tmp), shlex.quote(dest)
    mkdir = f"mkdir -m {mode}" if mode else "mkdir"
    yield FileUploadCommand(tarball, staged, remote_temp_filename=host.get_temp_filename(staged))
    yield StringCommand(
        f"rm -rf {q_tmp} && {mkdir} {q_tmp} && "
        f"tar -xzf {q_staged} -C {q_tmp} --strip-components={strip} --no-same-owner && "
        f"chmod -R go-w {q_tmp} && printf '%s\\n' {sha256} > {q_tmp}/{marker} && "
        f"rm -rf {q_dest} && mv {q_tmp} {q_dest} && rm -f {q_staged} "
        f"|| {{ rm -rf {q_tmp} {q_staged}; exit 1; }}")


@operation()
def remove_paths(paths: list[str]):
    """
    Remove `paths` (files or folders), decided at plan time: the preview and the run
    remove the same ones.
    """
    yield StringCommand("rm -rf " + " ".join(shlex.quote(p) for p in paths))


def remove_staged_leftovers() -> None:
    """Files and folders an interrupted run staged (*.monstack-new) beside the destinations
    of this run, removed at the end of the host's plan. Planned last so that every folder
    is known; from the state before the run (what this run stages it also moves)."""
    folders = sorted(_STAGING_FOLDERS.pop(host.name, ()))
    left = host.get_fact(StagedLeftovers, folders=folders) if folders else []
    if left:
        remove_paths(name="Remove what an interrupted run staged", paths=left)


def watched(op: OperationMeta, paths) -> OperationMeta:
    """Tag operation `op` with the files it puts in place: service() restarts (or reloads)
    a running service when one of them is newer than its last (re)start by the deploy,
    which an earlier run that was cut short leaves behind."""
    op.monstack_paths = tuple(paths)
    stages_beside(*paths)
    return op


def validated_file(dest: str, content: str, **arguments):
    """validated_file_op (below), its operation tagged with `dest` (see `watched`)."""
    return watched(validated_file_op(dest=dest, content=content, **arguments), [dest])


def validated_files(files: dict[str, str], **arguments):
    """validated_files_op (below), its operation tagged with every file (see `watched`)."""
    return watched(validated_files_op(files=files, **arguments), sorted(files))


@operation()
def validated_file_op(dest: str, content: str, validate: str | None = None,
                   user: str = "root", group: str = "root", mode: str = "0644",
                   secret: bool = False, secrets=(), hidden: bool = False,
                   then: str | None = None):
    """
    Put `content` at `dest`, checked by `validate` first.

    + validate: shell command with `{path}` where the staged file goes; a non-zero exit
      keeps the live file and fails the operation with the validator's output
    + secret: the content holds secrets: --diff masks every value of a secret-looking key
    + secrets: the secret values in `content`, masked wherever they appear in a --diff
    + hidden: never show either side, not even masked (private keys, password hashes:
      no key=value lines a --diff could mask)
    + then: shell command run once the new content is in place, in the same command
      (e.g. systemctl daemon-reload after a unit file)
    """
    # one fact for owner, mode and checksum (pyinfra's File and Sha1File are two commands
    # when facts are asked one by one, as they are again once the host has changed)
    remote = host.get_fact(FilesState, paths=[dest])["files"].get(dest)
    if remote == "other":   # a link or a folder: replaced, as with pyinfra's File fact
        remote = None
    same_content = bool(remote) and remote["sha1"] == hashlib.sha1(content.encode()).hexdigest()
    q_dest = shlex.quote(dest)

    if not same_content:
        _show_change(dest, bool(remote), content,
                     "it holds keys or password hashes" if hidden else None, secret, secrets)
        staged = staging_path(dest)
        q_staged = shlex.quote(staged)
        yield FileUploadCommand(StringIO(content), staged,
                                remote_temp_filename=host.get_temp_filename(staged))
        # owner, mode, check and move in one command: one round trip per changed file
        steps = [f"chown {user}:{group} {q_staged}", f"chmod {mode} {q_staged}"]
        if validate:
            check = validate.format(path=q_staged)
            steps.append(
                f"{{ if ! out=$({check} 2>&1); then rm -f {q_staged}; "
                f"printf '%s\\n' \"$out\" >&2; "
                f"echo 'monstack: {dest} failed validation; the live file was kept' >&2; "
                "exit 1; fi; }")
        steps.append(f"mv -f {q_staged} {q_dest}")
        if then:
            steps.append(then)
        yield StringCommand(" && ".join(steps))
        return

    fixes = owner_mode_fixes(dest, remote, user, group, mode)
    if fixes:
        yield StringCommand(" && ".join(fixes))


def files_tarball(files: dict[str, str]) -> BytesIO:
    """A gzipped tar of `files` (absolute path -> content), to unpack with `tar -C /`."""
    buffer = BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for path, content in files.items():
            data = content.encode()
            info = tarfile.TarInfo(path.lstrip("/"))
            info.size, info.mode, info.mtime = len(data), 0o600, int(time.time())
            tar.addfile(info, BytesIO(data))
    buffer.seek(0)
    return buffer


@operation()
def validated_files_op(files: dict[str, str], validate: str | None = None,
                    user: str = "root", group: str = "root", mode: str = "0644",
                    only_these_in: str | None = None, hidden: bool = False):
    """
    Put each of `files` (dest -> content) in place, all checked together first: one fact
    tells the state of every file, the changed or missing ones travel in one upload (a
    tarball unpacked beside their live ones), and one command checks and moves them.
    `validate` runs once over the whole set (the staged files and the unchanged live
    ones), then every staged file is moved into place. A failed check removes every
    staged file, keeps every live one and fails the operation, naming the failing files.

    + validate: shell command with `{paths}` where the paths of the whole set go (each
      quoted); it must also accept a single path (the failing files are found by checking
      each changed one alone)
    + only_these_in: a folder holding these files only: any other file in it is removed
      in the same command (a file no longer wanted, a staged file an interrupted run left)
    + hidden: the files are secrets: --diff shows neither side, only that they change
    """
    remote = host.get_fact(FilesState, paths=sorted(files), folder=only_these_in)
    changed, unchanged, fixes = {}, [], []
    for dest, content in sorted(files.items()):
        live = remote["files"].get(dest)
        if live == "other":
            raise OperationError(f"{dest} exists and is not a regular file")
        if live and live["sha1"] == hashlib.sha1(content.encode()).hexdigest():
            unchanged.append(dest)
            fixes += owner_mode_fixes(dest, live, user, group, mode)
            continue
        changed[dest] = content
        _show_change(dest, bool(live), content, "it holds secrets" if hidden else None)
    wanted = {posixpath.normpath(dest) for dest in files}
    stale = sorted(p for p in remote["present"]
                   if posixpath.normpath(p) not in wanted) if only_these_in else []
    if state.config.DIFF:
        for path in stale:
            host.log(f"Will remove {format_text(path, bold=True)} (no longer wanted)",
                     logger.info)
    if not (changed or fixes or stale):
        return

    q = lambda paths: " ".join(shlex.quote(p) for p in paths)  # noqa: E731
    steps = []
    if changed:
        staged = {dest: staging_path(dest) for dest in changed}
        tarball = host.get_temp_filename("monstack-files " + " ".join(staged.values()))
        yield FileUploadCommand(files_tarball({staged[d]: c for d, c in changed.items()}),
                                tarball, remote_temp_filename=tarball)
        q_tar, q_staged = shlex.quote(tarball), q(staged.values())
        steps += [f"{{ tar -xzf {q_tar} -C /; rc=$?; rm -f {q_tar}; [ $rc = 0 ]; }}",
                  f"chown {user}:{group} {q_staged}", f"chmod {mode} {q_staged}"]
        if validate:
            steps.append(_check_all(validate, staged, unchanged, q_staged))
        steps += [f"mv -f {shlex.quote(s)} {shlex.quote(d)}" for d, s in staged.items()]
    steps += fixes
    if stale:
        steps.append(f"rm -f {q(stale)}")
    yield StringCommand(" && ".join(steps))


def _check_all(validate: str, staged: dict[str, str], unchanged: list[str],
               q_staged: str) -> str:
    """Shell: run `validate` over the staged and unchanged files; when it fails, show the
    validator's output for each staged file failing alone and name it (or, when none fails
    alone, the whole set's output), remove every staged file and fail."""
    check_all = validate.format(paths=" ".join(
        shlex.quote(p) for p in sorted([*staged.values(), *unchanged])))
    name_failing = "".join(
        f"if ! one=$({validate.format(paths=shlex.quote(s))} 2>&1); then "
        f"printf '%s\\n' \"$one\" >&2; "
        f"echo {shlex.quote(f'monstack: {d} failed validation')} >&2; named=1; fi; "
        for d, s in staged.items())
    together = f"monstack: {', '.join(staged)} failed validation together"
    return (f"{{ if ! out=$({check_all} 2>&1); then named=0; "
            f"{name_failing}"
            f"[ $named = 1 ] || {{ printf '%s\\n' \"$out\" >&2; "
            f"echo {shlex.quote(together)} >&2; }}; "
            f"rm -f {q_staged}; "
            "echo 'monstack: no file was replaced; the live files were kept' >&2; "
            "exit 1; fi; }")


validated_file._inner = validated_file_op._inner     # for tests, as pyinfra's operations
validated_files._inner = validated_files_op._inner
