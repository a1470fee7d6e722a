"""pyinfra's operation order, found without reading source files.

pyinfra tells operations apart by the line numbers of their call stack
(`pyinfra.api.util.get_operation_order_from_stack`, called once for every operation of
every host). It gets them through `inspect.stack()` and `inspect.getframeinfo()`, which
read a line of source text for every frame, twice: measured on a no-op run of 25 hosts,
1.8 s of the controller's 8.4 s, the largest cost that grows with the host count. The
same line numbers are in the frames themselves (`f_lineno`, `f_code.co_filename`: what
getframeinfo reports for a .py file). `install()` swaps in a function giving exactly
pyinfra's list, on the pyinfra releases fact batching is proven on; elsewhere it leaves
pyinfra's own in place.
"""

from __future__ import annotations

import importlib
import sys

from operations.base.fact_batch import pyinfra_release, proven

try:  # the names this replaces; absent in another pyinfra -> nothing is replaced
    import pyinfra
    # the module (pyinfra.api's `operation` is the decorator of that name)
    pyinfra_operation = importlib.import_module("pyinfra.api.operation")
    from pyinfra.api.util import PYINFRA_INSTALL_DIR
    _original = pyinfra_operation.get_operation_order_from_stack
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


def install() -> None:
    """Use operation_order for every operation planned from now on (once; a no-op on a
    pyinfra release it is not proven on)."""
    if SUPPORTED and proven(pyinfra_release()):
        pyinfra_operation.get_operation_order_from_stack = operation_order
