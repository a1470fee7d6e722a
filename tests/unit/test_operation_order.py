"""operation_order gives exactly the line numbers pyinfra's own get_operation_order_from_stack
gives, from any depth, with or without the deploy file on the stack, in CLI mode or not."""

from __future__ import annotations

from types import SimpleNamespace

import pyinfra
import pytest

from operations.base import operation_order


def probe(order, state):
    return order(state)   # both are called from this same line


def nested(depth: int, order, state):
    if depth:
        return nested(depth - 1, order, state)
    return probe(order, state)


@pytest.mark.parametrize("cli", [True, False])
@pytest.mark.parametrize("deploy_file", [None, __file__, "/nowhere/deploy.py"])
@pytest.mark.parametrize("depth", [0, 3])
def test_the_same_line_numbers_as_pyinfra(monkeypatch, cli, deploy_file, depth):
    monkeypatch.setattr(pyinfra, "is_cli", cli)
    state = SimpleNamespace(current_deploy_filename=deploy_file, current_op_file_number=7)
    # from the same line of this test, as from the same line of probe()
    ours, theirs = [nested(depth, order, state)
                    for order in (operation_order.operation_order, operation_order._original)]
    assert ours == theirs
    if deploy_file == "/nowhere/deploy.py":   # not on the stack: pyinfra keeps none
        assert ours == ([7] if cli else [])
    else:                                    # the test's own frames are in it
        assert len(ours) >= depth + 3


def test_installed_only_on_a_proven_pyinfra(monkeypatch):
    pyinfra_operation = operation_order.pyinfra_operation
    monkeypatch.setattr(pyinfra_operation, "get_operation_order_from_stack",
                        operation_order._original)
    monkeypatch.setattr(operation_order, "pyinfra_release", lambda: (3, 99))
    operation_order.install()
    assert pyinfra_operation.get_operation_order_from_stack is operation_order._original
    monkeypatch.setattr(operation_order, "pyinfra_release", lambda: (3, 10))
    operation_order.install()
    assert pyinfra_operation.get_operation_order_from_stack is operation_order.operation_order
