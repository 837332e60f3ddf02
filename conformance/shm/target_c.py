"""``--target c``: the C references, through their public ABIs: the split ring of
reference/ring.c (target_c.py, conformance/ring/virtiospec_ring.h) and the table and shm-signal of
reference/shm/c/shm.c (conformance/shm/virtiospec_shm.h).

The cffi module ``virtiospec.reference.shm.c._shm`` is compiled at install (setup.py); it is shm.c
and shm_abi.c, and its ABI functions are called exactly as ``--target shm-lib:`` calls a
third-party library. A module built before the ABI existed lacks them: the shm cases then
SKIP, naming the fix, and the ring cases run as before.
"""

from __future__ import annotations

from typing import Any

from virtiospec.conformance.ring import target_c
from virtiospec.conformance.shm.target_abi import ShmAbiLibrary, ShmAbiSides

STALE = ("the C reference of the table and shm-signal ({}) was built without "
         "conformance/shm/virtiospec_shm.h: reinstall virtiospec (`make setup` or "
         "`pip install -e .`)")


def shm_library() -> tuple[ShmAbiLibrary | None, str]:
    """The installed module as an ABI library, or None and why not."""
    module = "virtiospec.reference.shm.c._shm"
    try:
        import virtiospec.reference.shm.c._shm as _shm
    except ImportError:
        return None, (f"the C reference of the table and shm-signal ({module}) is not built: "
                      "reinstall virtiospec with a C compiler")
    if not hasattr(_shm.lib, "virtiospec_shm_abi_version"):
        return None, STALE.format(module)
    return ShmAbiLibrary(_shm.ffi, _shm.lib, module), ""


class CTarget(ShmAbiSides):
    """The ring target of target_c.py with the shm sides added; every other attribute (the
    ring factories, ``sides``) is the ring target's."""

    def __init__(self, ring: Any) -> None:
        abi, why = shm_library()
        super().__init__(abi, ring.name, unavailable=why)
        self._ring = ring

    def __getattr__(self, attr: str) -> Any:
        if attr == "_ring":  # not set yet: no recursion
            raise AttributeError(attr)
        return getattr(self._ring, attr)


def make(arg: str) -> CTarget:
    return CTarget(target_c.make(arg))
