"""pyinfra's planning without the work it repeats for every operation of every host.

Measured on a no-op run of 25 fleet hosts (cProfile of the controller), two costs of
pyinfra's own grow with the host count and give the same answer each time:

- the operation's order: pyinfra tells operations apart by the line numbers of their
  call stack (`pyinfra.api.util.get_operation_order_from_stack`), got through
  `inspect.stack()` and `inspect.getframeinfo()`, which read a line of source text for
  every frame, twice: 1.8 s of the controller's 8.4 s. The frames hold the same numbers
  (`f_lineno`, `f_code.co_filename`: what getframeinfo reports for a .py file);
- the global arguments' types (`pyinfra.api.arguments.all_global_arguments`), worked out
  by `typing.get_type_hints` of one class on every operation and fact call: 0.4 s;
- each operation's global arguments (`pop_global_arguments`) ask the host's data for each
  of the ~30 of them (`_sudo`, `_timeout`, ...), and the host's data looks for each in its
  five layers (merging the host's groups' data first) and raises KeyError for each miss:
  ~2 ms of the controller per node host of a no-op at 40 hosts, for hosts whose data
  holds none of them (most fleets).

`install()` swaps in functions giving exactly pyinfra's answers, on the pyinfra releases
fact batching is proven on; elsewhere it leaves pyinfra's own in place.
"""

from __future__ import annotations

import importlib
import sys

from operations.base.fact_batch import data_sets_global_arguments, pyinfra_release, proven

try:  # the names this replaces; absent in another pyinfra -> nothing is replaced
    import pyinfra
    # the module (pyinfra.api's `operation` is the decorator of that name)
    pyinfra_operation = importlib.import_module("pyinfra.api.operation")
    pyinfra_arguments = importlib.import_module("pyinfra.api.arguments")
    pyinfra_facts = importlib.import_module("pyinfra.api.facts")
    from pyinfra.api.util import PYINFRA_INSTALL_DIR
    pyinfra_deploy = importlib.import_module("pyinfra.api.deploy")
    _original = pyinfra_operation.get_operation_order_from_stack
    _original_arguments = pyinfra_arguments.all_global_arguments
    _original_pop = pyinfra_arguments.pop_global_arguments
    SUPPORTED = True
except (ImportError, AttributeError):  # pragma: no cover - depends on the pyinfra version
    SUPPORTED = False


def operation_order(state) -> list[int]:
    """pyinfra's get_operation_order_from_stack, from the frames' own line numbers: the
    frames, outermost first, from the first frame of the deploy file on, leaving out
    pyinfra's own frames. This function's frame stands where pyinfra's would: counted
    when the deploy file is searched for, left out of the line numbers."""
    frames = []
    frame = sys._getframe(0)
    while frame is not None:
        frames.append(frame)
        frame = frame.f_back
    frames.reverse()
    start = 0
    if state.current_deploy_filename:
        for start, frame in enumerate(frames):
            if frame.f_code.co_filename == state.current_deploy_filename:
                break
    line_numbers = [state.current_op_file_number] if pyinfra.is_cli else []
    line_numbers += [frame.f_lineno for frame in frames[start:-1]
                     if not frame.f_code.co_filename.startswith(PYINFRA_INSTALL_DIR)]
    return line_numbers


_global_arguments: tuple | None = None


def global_arguments() -> list:
    """pyinfra's all_global_arguments, worked out once: the type hints of one class that
    does not change while pyinfra runs. A new list each time, as pyinfra's."""
    global _global_arguments
    if _global_arguments is None:
        _global_arguments = tuple(_original_arguments())
    return list(_global_arguments)


class _NoGlobalArgumentData:
    """The data of a host none of whose data layers holds a global argument, as
    pop_global_arguments reads it: it has none of them."""
    __slots__ = ()


class _HostWithoutGlobalArgumentData:
    """What pop_global_arguments reads of a host (its data and current deploy arguments),
    for a host whose data holds no global argument."""
    __slots__ = ("current_deploy_kwargs",)
    data = _NoGlobalArgumentData()

    def __init__(self, host):
        self.current_deploy_kwargs = host.current_deploy_kwargs


def pop_global_arguments(state, host, kwargs):
    """pyinfra's pop_global_arguments; for a host none of whose data layers (as they are
    now: an operation may set host data) names a global argument, run against a stand-in
    that has no data, which is what each of pyinfra's lookups would find."""
    if data_sets_global_arguments(host):
        return _original_pop(state, host, kwargs)
    return _original_pop(state, _HostWithoutGlobalArgumentData(host), kwargs)


def install() -> None:
    """Use these for every operation planned from now on (once; a no-op on a pyinfra
    release they are not proven on)."""
    if SUPPORTED and proven(pyinfra_release()):
        pyinfra_operation.get_operation_order_from_stack = operation_order
        pyinfra_arguments.all_global_arguments = global_arguments
        pyinfra_facts.all_global_arguments = global_arguments   # imported by name there
        # imported by name where an operation, a fact or a @deploy function is called
        for module in (pyinfra_operation, pyinfra_facts, pyinfra_deploy):
            module.pop_global_arguments = pop_global_arguments
