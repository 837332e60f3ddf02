"""``--target shm-lib:PATH.so[:ROLE,...]``: any shared library implementing
conformance/shm/virtiospec_shm.h, loaded with cffi in ABI mode (no compiler needed).

The suite plays the other side of each table and signal itself. ``ROLE`` is ``writer``,
``reader``, ``sender`` or ``receiver`` (comma-separated): it restricts the target to those
roles, and the other roles' cases SKIP, saying so; a role whose functions the library does
not export SKIPs too. The ring, PCI and net cases SKIP (the library has no ring: use ``lib:``
for that). Each case runs in a child process (conformance/isolation.py).
``make libshm`` builds an example library from reference/shm/c/shm.c.
"""

from __future__ import annotations

from pathlib import Path

from cffi import FFI
from virtiospec.conformance.isolation import for_native
from virtiospec.conformance.shm.target_abi import ROLES, ShmAbiLibrary, ShmAbiSides
from virtiospec.reference.shm.c.build import abi_cdef

USAGE = "usage: --target shm-lib:PATH.so[:writer,reader,sender,receiver]"


def parse(arg: str) -> tuple[str, tuple[str, ...]]:
    """``PATH`` and the roles of ``PATH[:ROLE,...]`` (all four when none is given)."""
    path, sep, tail = arg.rpartition(":")
    roles = tuple(r for r in tail.split(",") if r)
    if not sep or not roles or any(r not in ROLES for r in roles):
        path, roles = arg, tuple(ROLES)  # no roles given: the whole argument is the path
    if not path:
        raise ValueError(USAGE)
    return path, roles


def make(arg: str) -> ShmAbiSides:
    path, roles = parse(arg)
    lib_path = Path(path).expanduser().resolve()
    if not lib_path.is_file():
        raise ValueError(f"shm-lib target: no such library {lib_path}")
    ffi = FFI()
    ffi.cdef(abi_cdef())
    lib = ffi.dlopen(str(lib_path))
    name = f"shm-lib:{path}" + (f":{','.join(roles)}" if roles != tuple(ROLES) else "")
    target = ShmAbiSides(ShmAbiLibrary(ffi, lib, str(lib_path)), name, roles)
    target.isolation = for_native(f"shm-lib:{arg}")  # each case in a child process
    return target
