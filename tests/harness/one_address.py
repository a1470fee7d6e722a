"""The pyinfra host a unit is planned for, web1 with one address, and `current`: settings
that context.settings() also answers (listen_address), for unit tests of rendered units."""

from __future__ import annotations

import pytest

from operations.base import inventory as context
from operations.stack import validate


class HostWithOneAddress:
    """The pyinfra host the unit is planned for: web1, which has 10.0.0.5 on an
    interface (the LocalAddressOf fact's answer for its own name)."""
    name = "web1"

    @staticmethod
    def get_fact(fact, address):
        return "10.0.0.5" if address == "web1" else None


@pytest.fixture
def current(monkeypatch):
    """validate()d settings that context.settings() also answers (listen_address)."""
    monkeypatch.setattr(context, "current_host", HostWithOneAddress())

    def build(data=None):
        s = validate("web1", data or {})
        monkeypatch.setattr(context, "settings", lambda h=None: s)
        return s
    return build
