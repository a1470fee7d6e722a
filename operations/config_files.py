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
from io import StringIO

from pyinfra import host, logger, state
from pyinfra.api import FileUploadCommand, StringCommand, operation
from pyinfra.api.util import format_text
from pyinfra.facts.files import File, FileContents, Sha1File
from pyinfra.operations.util.files import generate_color_diff

from .facts import SECRET_KEY_WORDS, SECRET_MASK, MaskedFileContents

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


def staging_path(dest: str) -> str:
    directory, name = posixpath.split(dest)
    return posixpath.join(directory, f".{name}.monstack-new")


@operation()
def validated_file(dest: str, content: str, validate: str | None = None,
                   user: str = "root", group: str = "root", mode: str = "0644",
                   secret: bool = False, secrets=(), hidden: bool = False):
    """
    Put `content` at `dest`, checked by `validate` first.

    + validate: shell command with `{path}` where the staged file goes; a non-zero exit
      keeps the live file and fails the operation with the validator's output
    + secret: the content holds secrets: --diff masks every value of a secret-looking key
    + secrets: the secret values in `content`, masked wherever they appear in a --diff
    + hidden: never show either side, not even masked (private keys, password hashes:
      no key=value lines a --diff could mask)
    """
    remote = host.get_fact(File, path=dest)
    wanted_sha1 = hashlib.sha1(content.encode()).hexdigest()
    same_content = bool(remote) and host.get_fact(Sha1File, path=dest) == wanted_sha1
    q_dest = shlex.quote(dest)

    if not same_content:
        if state.config.DIFF and hidden:
            host.log(f"Will {'modify' if remote else 'create'} {dest} (content not shown: "
                     "it holds keys or password hashes)", logger.info)
        elif state.config.DIFF:
            old = None
            if remote:
                fact = MaskedFileContents if secret else FileContents
                old = "".join(line + "\n" for line in host.get_fact(fact, path=dest) or [])
            _show_diff(dest, old, content, secret, secrets)
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
        yield StringCommand(" && ".join(steps))
        return

    if (remote["user"], remote["group"]) != (user, group):
        yield StringCommand(f"chown {user}:{group} {q_dest}")
    if remote["mode"] != mode_digits(mode):
        yield StringCommand(f"chmod {mode} {q_dest}")
