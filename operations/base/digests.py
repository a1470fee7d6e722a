"""Digests of controller files (release archives, the binaries unpacked from them), kept
from one run to the next.

A no-op run compared every binary it installs by its sha1 and verified every archive by
its sha256 again: ~250 MB hashed for the core stack, a few tenths of a second of the
controller's CPU on every run, whatever the host count. Under the folders named by
keep_records_under (the artifact cache), a digest is kept in a record in the file's
folder (RECORD) with the file's size, mtime, ctime, inode and device, and used
while all five are unchanged: any write, chmod or replacement of the file changes its
ctime, which no user can set back (the same rule as the hosts' program stamps).
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from pathlib import Path

RECORD = ".monstack-digests.json"   # in the folder of the files it describes

_memory: dict[tuple, str] = {}        # (identity, algorithm) -> hex digest, this run
_records: dict[str, dict] = {}        # folder -> its record, as read or written this run
_recorded_under: set[str] = set()     # folders whose files' digests are kept on disk
_lock = threading.Lock()


def keep_records_under(folder: Path | str) -> None:
    """Keep the digests of files under `folder` (a cache of ours) from run to run. Files
    anywhere else (the project's own files/, a user's) are hashed once per run and
    nothing is written beside them."""
    _recorded_under.add(os.path.realpath(folder))


def _recorded(folder: Path) -> bool:
    real = os.path.realpath(folder)
    return any(real == root or real.startswith(root + os.sep) for root in _recorded_under)


def identity(path: Path) -> tuple:
    """What changes whenever the file's content can have changed."""
    st = os.stat(path)
    return (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev)


def _record(folder: Path) -> dict:
    key = str(folder)
    if not _recorded(folder):
        return {}
    if key not in _records:
        try:
            loaded = json.loads((folder / RECORD).read_text())
            _records[key] = loaded if isinstance(loaded, dict) else {}
        except (OSError, ValueError):
            _records[key] = {}
    return _records[key]


def _keep(path: Path, ident: tuple, algorithm: str, digest: str) -> None:
    """Add the digest to the folder's record (written whole, then renamed over the old
    one: a reader never sees half a record; another process's concurrent write may win,
    which only costs hashing again)."""
    folder = path.parent
    if not _recorded(folder):
        return
    with _lock:
        record = _record(folder)
        entry = record.get(path.name)
        if not isinstance(entry, dict) or entry.get("identity") != list(ident):
            entry = {"identity": list(ident)}
        entry[algorithm] = digest
        record[path.name] = entry
        temp = folder / f".{RECORD}.{os.getpid()}.{threading.get_ident()}"
        try:
            temp.write_text(json.dumps(record, sort_keys=True))
            os.replace(temp, folder / RECORD)
        except OSError:   # a folder we may not write: the digest holds for this run
            temp.unlink(missing_ok=True)


def known(path: Path | str, algorithm: str, ident: tuple | None = None) -> str | None:
    """The kept `algorithm` digest of `path` while the file is unchanged; None when none
    is kept (nothing is hashed). OSError when the file is missing."""
    path = Path(path)
    ident = ident or identity(path)
    found = _memory.get((ident, algorithm))
    if found:
        return found
    entry = _record(path.parent).get(path.name)
    if isinstance(entry, dict) and entry.get("identity") == list(ident) \
            and isinstance(entry.get(algorithm), str):
        _memory[(ident, algorithm)] = entry[algorithm]
        return entry[algorithm]
    return None


def digest(path: Path | str, algorithm: str) -> str:
    """The hex `algorithm` (sha1, sha256) digest of the controller file `path`."""
    path = Path(path)
    ident = identity(path)
    found = known(path, algorithm, ident)
    if found:
        return found
    h = hashlib.new(algorithm)
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    # read again after hashing: a file written meanwhile is not recorded as this content
    if identity(path) == ident:
        _memory[(ident, algorithm)] = h.hexdigest()
        _keep(path, ident, algorithm, h.hexdigest())
    return h.hexdigest()


def keep(path: Path | str, algorithm: str, digest_hex: str) -> None:
    """Record the digest of a file this process has just written (hashed as it was
    written: a download)."""
    path = Path(path)
    ident = identity(path)
    _memory[(ident, algorithm)] = digest_hex
    _keep(path, ident, algorithm, digest_hex)


def sha1(path: Path | str) -> str:
    return digest(path, "sha1")


def sha256(path: Path | str) -> str:
    return digest(path, "sha256")


def forget() -> None:
    """Drop what this process has read or computed (tests); the folders named by
    keep_records_under stay."""
    _memory.clear()
    _records.clear()
