"""Lambda entry points. Each stays thin: parse, call the logic, shape the response.

Cold start: with ``RUNPLANE_INIT_GC=hold`` (the stack sets it on every function), importing this
package turns the garbage collector off until the handler module being imported calls
:func:`initialized`, its last statement. That freezes what the import made (``gc.freeze()``: the
modules, classes and models live as long as the process, so no later collection walks them) and
turns collection back on. An import makes hundreds of thousands of objects and no garbage worth a
collection, yet CPython's thresholds ran dozens of collections over the growing heap during it: ~12 %
of the API's import (docs/deploy.md#cold-start). Without the variable (local mode, whose emulator
manages collection for the whole process in ``local/heap.py``; tests; the CLI) nothing changes.
"""

from __future__ import annotations

import gc
import os

_holding = os.environ.get("RUNPLANE_INIT_GC") == "hold" and gc.isenabled()
if _holding:
    gc.disable()


def initialized() -> None:
    """The handler module's import is done: freeze its objects and collect garbage again from now on."""
    global _holding
    if _holding:
        _holding = False
        gc.freeze()
        gc.enable()
