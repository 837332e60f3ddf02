"""``--target c``: the C reference of the ring (reference/ring.c), through its public ABI.

The cffi module ``virtiospec.reference._ring`` is compiled at install (setup.py); it is
ring.c and ring_abi.c behind conformance/virtiospec_ring.h, called exactly as
``--target lib:`` calls a third-party library.
"""

from __future__ import annotations

from virtiospec.conformance.target_abi import AbiLibrary, AbiTarget


def make(arg: str) -> AbiTarget:
    if arg:
        raise ValueError(f"the c target takes no argument (got {arg!r})")
    try:
        import virtiospec.reference._ring as _ring
    except ImportError as err:
        raise RuntimeError("the C reference is not built: reinstall virtiospec "
                           "(`make setup` or `pip install -e .`) with a C compiler") from err
    return AbiTarget(AbiLibrary(_ring.ffi, _ring.lib, "virtiospec.reference._ring"), "c")
