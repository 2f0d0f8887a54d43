"""The numba compilation options of every kernel, with a fallback for other numba versions.

``_nrt=False`` compiles a kernel without numba's reference-counting runtime: the kernels never
allocate, and without it passing arrays to the small inlined helpers costs nothing (measured:
the network's tick 3.5x faster at N = 512). It is an internal option of numba; a numba that
refuses it gets the kernels compiled with the runtime: slower, the same results.
"""

from __future__ import annotations

from typing import Callable

from numba import njit, typeof


def supported_options(jit: Callable = njit, wanted: dict | None = None) -> dict:
    """``wanted`` without the options this numba refuses (tried on a trivial function)."""
    wanted = {"_nrt": False} if wanted is None else wanted
    options = {}
    for name, value in wanted.items():
        try:
            jit(**{name: value})(_probe)()
        except Exception:  # numba says unknown options in several ways across versions
            continue
        options[name] = value
    return options


def _probe() -> int:
    return 0


_OPTIONS = supported_options()
KERNEL = dict(cache=True, **_OPTIONS)
INLINE = dict(cache=True, inline="always", **_OPTIONS)


def compiled_entry(dispatcher, arg_types: tuple):
    """The machine code a numba dispatcher compiles for these argument types, called directly:
    it skips the dispatcher's per-call typing of every argument (a quarter of a microsecond with
    twenty arguments). A wrong dtype still raises; callers pass arrays of the right number of
    dimensions (any strides where the type's layout is ``A``)."""
    dispatcher.compile(arg_types)
    try:
        return dispatcher.overloads[arg_types].entry_point
    except (AttributeError, KeyError):  # another numba: keep the checked path
        return dispatcher


def entry_for(dispatcher, *example_args):
    """``compiled_entry`` for arguments typed like ``example_args``: for calls whose arrays are
    always these same (contiguous) state arrays, or arrays of their dtype and layout, and whose
    scalars have the examples' types."""
    return compiled_entry(dispatcher, tuple(typeof(a) for a in example_args))
