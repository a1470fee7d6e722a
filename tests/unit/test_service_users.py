"""A component's service user and group: created when missing, mended when they drifted,
left alone when right, all told by one fact (one `grep` of the account files)."""

from __future__ import annotations

import pytest

from operations.base import install
from operations.base.facts import ServiceAccounts

NOLOGIN = install.NOLOGIN


class Host:
    """Answers ServiceAccounts from account lines, as the fact's command prints them."""

    def __init__(self, groups: list[str], users: list[str]):
        self.lines = ["accounts:", *groups, *users]

    def get_fact(self, cls, **kwargs):
        assert cls is ServiceAccounts
        return cls().process(self.lines)


def steps(monkeypatch, groups, users) -> list[str]:
    monkeypatch.setattr(install, "host", Host(groups, users))
    commands = list(install.service_users._inner(users=[("loki", "/var/lib/loki")]))
    return [step for command in commands for step in str(command).split(" && ")]


def test_a_missing_user_and_group_are_created(monkeypatch):
    assert steps(monkeypatch, [], []) == [
        "groupadd --system loki",
        f"useradd --system --gid loki --home-dir /var/lib/loki --no-create-home --shell {NOLOGIN} loki"]


def test_a_right_user_is_left_alone(monkeypatch):
    assert steps(monkeypatch, ["loki:x:998:"],
                 [f"loki:x:998:998::/var/lib/loki:{NOLOGIN}"]) == []


@pytest.mark.parametrize("groups, user, change", [
    (["loki:x:998:", "nogroup:x:65534:"], f"loki:x:998:65534::/var/lib/loki:{NOLOGIN}", "--gid loki"),
    (["loki:x:998:"], f"loki:x:998:998::/home/loki:{NOLOGIN}", "--home /var/lib/loki"),
    (["loki:x:998:"], "loki:x:998:998::/var/lib/loki:/bin/bash", f"--shell {NOLOGIN}"),
])
def test_a_drifted_user_is_mended(monkeypatch, groups, user, change):
    assert steps(monkeypatch, groups, [user]) == [f"usermod {change} loki"]


def test_a_user_whose_group_is_gone_gets_it_back(monkeypatch):
    assert steps(monkeypatch, [], [f"loki:x:998:998::/var/lib/loki:{NOLOGIN}"]) == [
        "groupadd --system loki", "usermod --gid loki loki"]
