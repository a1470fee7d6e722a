"""redis_exporter: the v in its release names, and basic auth only from 1.67 on (and not
from Debian's package)."""

from __future__ import annotations

import pytest

from operations.base import artifacts
from operations.components import redis_exporter
from operations.stack import validate


def test_redis_exporter_names_carry_the_v():
    a = artifacts.resolve("redis_exporter", "1.80.1", "x86_64", None, {})
    assert a.file_name == "redis_exporter-v1.80.1.linux-amd64.tar.gz"
    assert a.url.endswith("/download/v1.80.1/redis_exporter-v1.80.1.linux-amd64.tar.gz")
    assert "/vv" not in a.url


@pytest.mark.parametrize("method,version,supported", [
    ("archive", "1.80.1", True), ("archive", "1.67.0", True), ("archive", "1.45.0", False),
    ("package", "1.80.1", False),
])
def test_redis_exporter_basic_auth_needs_1_67(method, version, supported):
    s = validate("h1", {"redis_exporter_install_method": method,
                        "redis_exporter_version": version})
    assert redis_exporter.basic_auth_supported(s) is supported
    assert (redis_exporter.basic_auth_refusal(s) is None) is supported
