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
import shlex
from io import StringIO

from pyinfra import host, logger, state
from pyinfra.api import FileUploadCommand, StringCommand, operation
from pyinfra.facts.files import File, Sha1File


def _mode_digits(mode: str | int) -> int:
    """'0640' / 0o640 -> 640, the form pyinfra's File fact reports."""
    if isinstance(mode, int):
        return int(oct(mode)[2:])
    return int(str(mode).lstrip("0") or "0")


def staging_path(dest: str) -> str:
    directory, name = posixpath.split(dest)
    return posixpath.join(directory, f".{name}.monstack-new")


@operation()
def validated_file(dest: str, content: str, validate: str | None = None,
                   user: str = "root", group: str = "root", mode: str = "0644",
                   secret: bool = False):
    """
    Put `content` at `dest`, checked by `validate` first.

    + validate: shell command with `{path}` where the staged file goes; a non-zero exit
      keeps the live file and fails the operation with the validator's output
    + secret: the content holds secrets; it is never shown (not even with --diff)
    """
    remote = host.get_fact(File, path=dest)
    wanted_sha1 = hashlib.sha1(content.encode()).hexdigest()
    same_content = bool(remote) and host.get_fact(Sha1File, path=dest) == wanted_sha1
    q_dest = shlex.quote(dest)

    if not same_content:
        if state.config.DIFF:
            verb = "modify" if remote else "create"
            shown = "(content not shown: it holds secrets)" if secret else ""
            host.log(f"Will {verb} {dest} {shown}".rstrip(), logger.info)
        staged = staging_path(dest)
        q_staged = shlex.quote(staged)
        yield FileUploadCommand(StringIO(content), staged,
                                remote_temp_filename=host.get_temp_filename(staged))
        yield StringCommand(f"chown {user}:{group} {q_staged} && chmod {mode} {q_staged}")
        if validate:
            check = validate.format(path=q_staged)
            yield StringCommand(
                f"if ! out=$({check} 2>&1); then rm -f {q_staged}; "
                f"printf '%s\\n' \"$out\" >&2; "
                f"echo 'monstack: {dest} failed validation; the live file was kept' >&2; "
                "exit 1; fi")
        yield StringCommand(f"mv -f {q_staged} {q_dest}")
        return

    if (remote["user"], remote["group"]) != (user, group):
        yield StringCommand(f"chown {user}:{group} {q_dest}")
    if remote["mode"] != _mode_digits(mode):
        yield StringCommand(f"chmod {mode} {q_dest}")
