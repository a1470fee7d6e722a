"""Installed binaries are recognised without hashing them on every run, and any change to
one (content, mode, replacement) is still seen."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from operations.base import facts
from operations.base.facts import InstalledProgram, write_program_stamp


@pytest.fixture
def program(tmp_path, monkeypatch):
    monkeypatch.setattr(facts, "PROGRAM_STAMPS", str(tmp_path / "stamps"))
    path = tmp_path / "bin" / "exporter"
    path.parent.mkdir()
    shutil.copy("/bin/true", path)
    return path


def ask(path):
    out = subprocess.run(InstalledProgram().command(str(path)), shell=True,
                         capture_output=True, text=True, check=True).stdout
    return InstalledProgram().process(out.splitlines())


def stamp(path, sha1):
    subprocess.run(write_program_stamp(str(path), sha1), shell=True, check=True)


def test_a_program_we_installed_is_not_hashed_again(program):
    first = ask(program)
    assert not first["stamped"] and len(first["sha1"]) == 40
    stamp(program, first["sha1"])
    again = ask(program)
    assert again["stamped"] and again["sha1"] == first["sha1"]


def test_a_program_changed_in_place_is_hashed_again(program):
    stamp(program, ask(program)["sha1"])
    before = ask(program)["sha1"]
    with open(program, "r+b") as fh:   # same size, same inode, same second
        fh.seek(64)
        fh.write(b"\0")
    after = ask(program)
    assert not after["stamped"] and after["sha1"] != before


def test_a_replaced_program_is_hashed_again(program, tmp_path):
    stamp(program, ask(program)["sha1"])
    shutil.copy("/bin/false", tmp_path / "other")
    os.replace(tmp_path / "other", program)
    assert not ask(program)["stamped"]


def test_mode_and_owner_are_reported(program):
    os.chmod(program, 0o700)
    assert ask(program)["mode"] == 700 and ask(program)["user"] == "root"


def test_a_missing_program_is_no_fact(tmp_path):
    assert ask(tmp_path / "none") is None
