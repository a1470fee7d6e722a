"""pyinfra's planning without the work it repeats for every operation of every host.

Measured on a no-op run of 25 fleet hosts (cProfile of the controller), two costs of
pyinfra's own grow with the host count and give the same answer each time:

- the operation's order: pyinfra tells operations apart by the line numbers of their
  call stack (`pyinfra.api.util.get_operation_order_from_stack`), got through
  `inspect.stack()` and `inspect.getframeinfo()`, which read a line of source text for
  every frame, twice: 1.8 s of the controller's 8.4 s. The frames hold the same numbers
  (`f_lineno`, `f_code.co_filename`: what getframeinfo reports for a .py file);
- the global arguments' types (`pyinfra.api.arguments.all_global_arguments`), worked out
  by `typing.get_type_hints` of one class on every operation and fact call: 0.4 s.

`install()` swaps in functions giving exactly pyinfra's answers, on the pyinfra releases
fact batching is proven on; elsewhere it leaves pyinfra's own in place.
"""

from __future__ import annotations

import importlib
import sys

from operations.base.fact_batch import pyinfra_release, proven

try:  # the names this replaces; absent in another pyinfra -> nothing is replaced
    import pyinfra
    # the module (pyinfra.api's `operation` is the decorator of that name)
    pyinfra_operation = importlib.import_module("pyinfra.api.operation")
    pyinfra_arguments = importlib.import_module("pyinfra.api.arguments")
    pyinfra_facts = importlib.import_module("pyinfra.api.facts")
    from pyinfra.api.util import PYINFRA_INSTALL_DIR
    _original = pyinfra_operation.get_operation_order_from_stack
    _original_arguments = pyinfra_arguments.all_global_arguments
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


def install() -> None:
    """Use these for every operation planned from now on (once; a no-op on a pyinfra
    release they are not proven on)."""
    if SUPPORTED and proven(pyinfra_release()):
        pyinfra_operation.get_operation_order_from_stack = operation_order
        pyinfra_arguments.all_global_arguments = global_arguments
        pyinfra_facts.all_global_arguments = global_arguments   # imported by name there
