"""`first_runs`, for an end-to-end module whose `stack` fixture gives an inventory: the
preview, then the real first run (once per module), with the module's ENV (the deploy's
environment variables, e.g. GRAFANA_ADMIN_PASSWORD) where it has one."""

from __future__ import annotations

import pytest

from harness.pyinfra_cli import preview_then_run


@pytest.fixture(scope="module")
def first_runs(stack, request):
    """The preview, then the real first run."""
    return preview_then_run(stack["inventory"], env=getattr(request.module, "ENV", None))
