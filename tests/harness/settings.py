"""validate() of one host's data, for unit tests of the checks of the settings."""

from __future__ import annotations

from operations.base.schema import SettingsError
from operations.stack import validate


def refused(data: dict) -> str:
    """validate()'s error for one host's `data`, without the host ('' when it passes)."""
    try:
        validate("h1", data)
    except SettingsError as exc:
        text = str(exc)
        assert text.startswith("host h1: ")
        return text[len("host h1: "):]
    return ""
