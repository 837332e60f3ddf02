"""``--target lib:PATH.so[:driver|:device]``: any shared library implementing
conformance/ring/virtiospec_ring.h, loaded with cffi in ABI mode (no compiler needed).

The suite plays the other side of each case itself. ``:driver`` or ``:device`` restricts
the target to one side (for a library that implements only that one): the other side's
cases SKIP, saying so. Each case runs in a child process (conformance/isolation.py): a case
that crashes the library or wedges in it costs that case only. A library that also exports
conformance/ring/virtiospec_ring_packed.h gets the packed-ring cases too. ``make libring`` builds an
example library from reference/ring.c.
"""

from __future__ import annotations

from pathlib import Path

from cffi import FFI
from virtiospec.conformance.isolation import for_native
from virtiospec.conformance.ring.target_abi import AbiLibrary, AbiTarget
from virtiospec.reference.ring.c.build import abi_cdef, packed_abi_cdef

SIDES = {"": ("driver", "device"), "driver": ("driver",), "device": ("device",)}


def make(arg: str) -> AbiTarget:
    path, sep, side = arg.rpartition(":")
    if not sep or side not in SIDES:  # no side given: the whole argument is the path
        path, side = arg, ""
    if not path:
        raise ValueError("usage: --target lib:PATH.so[:driver|:device]")
    lib_path = Path(path).expanduser().resolve()
    if not lib_path.is_file():
        head, _, tail = arg.rpartition(":")
        if head and Path(head).expanduser().is_file():  # the part after ':' meant a side
            raise ValueError(f"lib target: side {tail!r} is neither driver nor device")
        raise ValueError(f"lib target: no such library {lib_path}")
    ffi = FFI()
    ffi.cdef(abi_cdef())
    ffi.cdef(packed_abi_cdef())  # optional: the packed cases SKIP if it is not exported
    lib = ffi.dlopen(str(lib_path))
    name = f"lib:{path}" + (f":{side}" if side else "")
    target = AbiTarget(AbiLibrary(ffi, lib, str(lib_path)), name, SIDES[side])
    target.isolation = for_native(f"lib:{arg}")  # each case in a child process
    return target
