"""planning_speed's functions give exactly pyinfra's answers: the line numbers of
get_operation_order_from_stack, from any depth, with or without the deploy file on the
stack, in CLI mode or not; the global arguments of all_global_arguments."""

from __future__ import annotations

from types import SimpleNamespace

import pyinfra
import pytest

from operations.base import planning_speed as operation_order


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


def test_the_same_global_arguments_as_pyinfra():
    ours = operation_order.global_arguments()
    assert ours == operation_order._original_arguments() and len(ours) > 10
    ours.append("changed by a caller")   # a new list each time, as pyinfra's
    assert operation_order.global_arguments() == operation_order._original_arguments()


def test_installed_only_on_a_proven_pyinfra(monkeypatch):
    m = operation_order
    replaced = [(m.pyinfra_operation, "get_operation_order_from_stack", m._original,
                 m.operation_order),
                (m.pyinfra_arguments, "all_global_arguments", m._original_arguments,
                 m.global_arguments),
                (m.pyinfra_facts, "all_global_arguments", m._original_arguments,
                 m.global_arguments)]
    replaced += [(module, "pop_global_arguments", m._original_pop, m.pop_global_arguments)
                 for module in (m.pyinfra_operation, m.pyinfra_facts, m.pyinfra_deploy)]
    for module, name, original, _ in replaced:
        monkeypatch.setattr(module, name, original)
    monkeypatch.setattr(m, "pyinfra_release", lambda: (3, 99))
    m.install()
    assert all(getattr(module, name) is original for module, name, original, _ in replaced)
    monkeypatch.setattr(m, "pyinfra_release", lambda: (3, 10))
    m.install()
    assert all(getattr(module, name) is ours for module, name, _, ours in replaced)


def inventory_of_five():
    """Hosts whose global arguments come from nowhere, their host data, their group's
    data, the inventory's override data and (set while planning) host.data."""
    from pyinfra.api import Config, Inventory, State
    inventory = Inventory(
        (["plain", ("own", {"_sudo": True, "port": 2222}), "grouped", "overridden",
          "set-later"], {"x": 1}),
        sudoers=(["grouped"], {"_sudo_user": "deploy", "_timeout": 30}),
        others=(["plain", "own"], {"unrelated": "yes"}),
    )
    state = State(inventory, Config(SUDO=False))
    inventory.get_host("overridden").data.override_datas["_shell_executable"] = "bash"
    return state, inventory


@pytest.mark.parametrize("call_kwargs", [{}, {"name": "op", "_sudo": False, "paths": [1]},
                                         {"_timeout": 5, "_ignore_errors": True}])
@pytest.mark.parametrize("deploy_kwargs", [None, {"_sudo": True}])
def test_global_arguments_are_pyinfras_for_hosts_with_and_without_them_in_data(
        call_kwargs, deploy_kwargs):
    from operations.base import planning_speed as m
    state, inventory = inventory_of_five()
    for host in inventory:
        if host.name == "set-later":
            host.data._retries = 2                  # as a deploy may, mid-run
        host.current_deploy_kwargs = deploy_kwargs
        ours_kwargs, theirs_kwargs = dict(call_kwargs), dict(call_kwargs)
        ours = m.pop_global_arguments(state, host, ours_kwargs)
        theirs = m._original_pop(state, host, theirs_kwargs)
        assert ours == theirs, host.name
        assert ours_kwargs == theirs_kwargs        # the same arguments popped
    own = inventory.get_host("own")
    assert m.pop_global_arguments(state, own, {})[0]["_sudo"] is True


def test_a_host_without_global_arguments_in_its_data_is_not_asked_for_each(monkeypatch):
    from pyinfra.api.host import HostData
    from operations.base import planning_speed as m
    state, inventory = inventory_of_five()
    asked = []
    original = HostData.__getattr__
    monkeypatch.setattr(HostData, "__getattr__",
                        lambda self, key: asked.append(key) or original(self, key))
    m.pop_global_arguments(state, inventory.get_host("plain"), {})
    assert asked == []
    m.pop_global_arguments(state, inventory.get_host("grouped"), {})
    assert len(asked) > 10                          # pyinfra's way: one per argument
