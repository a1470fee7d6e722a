"""`first_runs`, for an end-to-end module whose `stack` fixture gives an inventory: the
preview, then the real first run (once per module)."""

from __future__ import annotations

import pytest

from harness.pyinfra_cli import preview_then_run


@pytest.fixture(scope="module")
def first_runs(stack):
    """The preview, then the real first run."""
    return preview_then_run(stack["inventory"])
