"""Build of the vhost-user fast path for packed rings (ring_vhost_packed.c, which compiles
ring_packed.c in with its accesses translated through the memory table, behind the API of
ring_vhost.h): the cffi module ``virtiospec.reference._ring_vhost_packed`` that
``pip install`` compiles (setup.py's ``cffi_modules``), used by
:mod:`virtiospec.reference.vhost_user.fast`.

This file is also run by cffi at install time, before the package exists, so it imports
only the standard library, cffi and c_build.py beside it (what the C builds share).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Mapping
from pathlib import Path

from cffi import FFI

HERE = Path(__file__).resolve().parent  # reference/

try:  # imported as virtiospec.reference.ring_vhost_build
    from . import c_build
except ImportError:  # run by cffi from setup.py, before the package exists: load it by path
    import importlib.util

    _spec = importlib.util.spec_from_file_location("_vs_c_build", HERE / "c_build.py")
    assert _spec is not None and _spec.loader is not None
    c_build = importlib.util.module_from_spec(_spec)
    _spec.loader.exec_module(c_build)

HEADER = HERE / "ring_vhost.h"
SOURCES = ("ring_vhost_packed.c",)
DEPENDS = ("ring_vhost.h", "ring_packed.c", "ring_packed.h", "ring.h", "ring_access.h",
           "ring_packed_mutants.h")
MODULE = "virtiospec.reference._ring_vhost_packed"
COMPILED = f"the C fast path of its vhost-user device ({MODULE}, reference/ring_vhost_packed.c)"


def find_compiler(env: Mapping[str, str] | None = None,
                  which: Callable[[str], str | None] = shutil.which) -> list[str]:
    return c_build.find_compiler(COMPILED, env, which)


def install_ffi() -> FFI:
    """The cffi module built by ``pip install`` (setup.py: cffi_modules)."""
    find_compiler()
    ffi = FFI()
    ffi.cdef(c_build.header_cdef(HEADER))
    ffi.set_source(MODULE, '#include "ring_vhost.h"\n',
                   sources=[c_build.rel(HERE / s) for s in SOURCES],
                   depends=[c_build.rel(HERE / s) for s in DEPENDS],
                   include_dirs=[c_build.rel(HERE)],
                   extra_compile_args=[*c_build.WARNINGS, "-O2", "-fvisibility=hidden"])
    return ffi


if __name__ == "__main__":
    install_ffi().compile(verbose=True)
