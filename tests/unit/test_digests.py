"""Digests of controller files kept from run to run: used only while the file is the one
that was hashed."""

from __future__ import annotations

import hashlib
import json
import os
import time

import pytest

from operations.base import digests


@pytest.fixture(autouse=True)
def new_run(tmp_path, monkeypatch):
    """Each test starts as a new run of the deploy would: nothing in memory; its
    tmp_path is a cache whose digests are kept."""
    monkeypatch.setattr(digests, "_recorded_under", set())
    digests.keep_records_under(tmp_path)
    digests.forget()
    yield
    digests.forget()


@pytest.fixture
def no_hashing(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("hashed")
    monkeypatch.setattr(digests.hashlib, "new", refuse)


def test_a_digest_is_the_files_and_is_not_computed_again_in_the_next_run(tmp_path, monkeypatch):
    path = tmp_path / "prometheus"
    path.write_bytes(b"\x7fELF" + os.urandom(3 << 20))
    assert digests.sha1(path) == hashlib.sha1(path.read_bytes()).hexdigest()
    assert digests.sha256(path) == hashlib.sha256(path.read_bytes()).hexdigest()
    record = json.loads((tmp_path / digests.RECORD).read_text())
    assert set(record["prometheus"]) == {"identity", "sha1", "sha256"}
    digests.forget()                                   # the next run
    monkeypatch.setattr(digests.hashlib, "new", lambda *a: pytest.fail("hashed again"))
    assert digests.sha1(path) == hashlib.sha1(path.read_bytes()).hexdigest()
    assert digests.known(path, "sha256") == hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("change", ["rewritten", "replaced", "chmod", "touched"])
def test_a_changed_file_is_hashed_again(tmp_path, change):
    path = tmp_path / "node_exporter"
    path.write_bytes(b"old content")
    old = digests.sha1(path)
    digests.forget()
    time.sleep(0.02)          # past the clock tick the file's times were taken from
    if change == "rewritten":         # in place, same size
        with open(path, "r+b") as fh:
            fh.write(b"new")
    elif change == "replaced":        # another file renamed over it
        (tmp_path / "new").write_bytes(b"new content")
        os.replace(tmp_path / "new", path)
    elif change == "chmod":           # same bytes: the digest is the same, but asked again
        path.chmod(0o700)
    else:                             # mtime set back to what it was: ctime still moves
        st = path.stat()
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert digests.known(path, "sha1") is None
    assert digests.sha1(path) == hashlib.sha1(path.read_bytes()).hexdigest()
    if change in ("rewritten", "replaced"):
        assert digests.sha1(path) != old


def test_a_record_that_is_not_one_is_ignored(tmp_path):
    path = tmp_path / "alertmanager"
    path.write_bytes(b"content")
    for junk in ("not json", "[1, 2]", json.dumps({"alertmanager": "x"}),
                 json.dumps({"alertmanager": {"identity": [1], "sha1": "0" * 40}})):
        (tmp_path / digests.RECORD).write_text(junk)
        digests.forget()
        assert digests.known(path, "sha1") is None
        assert digests.sha1(path) == hashlib.sha1(b"content").hexdigest()


def test_an_unwritable_folder_still_gives_the_digest(tmp_path, monkeypatch):
    path = tmp_path / "amtool"
    path.write_bytes(b"content")
    monkeypatch.setattr(digests.os, "replace", lambda *a: (_ for _ in ()).throw(
        PermissionError("read-only")))
    assert digests.sha1(path) == hashlib.sha1(b"content").hexdigest()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["amtool"]   # no temporary left


def test_known_hashes_nothing_and_a_missing_file_is_an_error(tmp_path, no_hashing):
    path = tmp_path / "promtool"
    path.write_bytes(b"content")
    assert digests.known(path, "sha1") is None
    with pytest.raises(FileNotFoundError):
        digests.known(tmp_path / "missing", "sha1")


def test_nothing_is_written_beside_a_file_outside_the_caches(tmp_path, monkeypatch):
    """The project's own files (the wait-ready helper in files/) are hashed once per run,
    never recorded in the project's folders."""
    monkeypatch.setattr(digests, "_recorded_under", set())
    path = tmp_path / "wait-ready"
    path.write_bytes(b"#!/bin/sh\n")
    assert digests.sha1(path) == hashlib.sha1(b"#!/bin/sh\n").hexdigest()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["wait-ready"]
    digests.forget()                                   # the next run hashes it again
    assert digests.known(path, "sha1") is None
    digests.keep_records_under(tmp_path.parent)        # a cache holding that folder
    digests.sha1(path)
    assert (tmp_path / digests.RECORD).exists()
