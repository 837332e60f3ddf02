"""Build of the vhost-user fast path (ring_vhost.c, which compiles ring.c in with its accesses
translated through the memory table): the cffi module
``virtiospec.reference.vhost_user.c._ring_vhost`` that ``pip install`` compiles (setup.py's
``cffi_modules``), used by :mod:`virtiospec.reference.vhost_user.fast`. :func:`vhost_ffi` is
the build both fast paths share (packed_build.py builds the packed one with it).

This file is also run by cffi at install time, before the package exists, so it imports
only the standard library, cffi and c_build.py beside it (what the C builds share).
"""

from __future__ import annotations

import sys
from pathlib import Path

from cffi import FFI

HERE = Path(__file__).resolve().parent  # reference/vhost_user/c/

try:  # imported as virtiospec.reference.vhost_user.c.build
    from virtiospec.reference import c_build
except ImportError:  # run by cffi from setup.py, which loaded c_build.py first
    c_build = sys.modules["_vs_c_build"]

HEADER = c_build.src("ring_vhost.h")
# what both fast paths compile in: the API, the memory table, the path that is not the ring's
SHARED = ("ring_vhost.h", "ring_vhost_table.h", "ring_vhost_common.h", "ring.h",
          "ring_access.h", "vs_block.h")
SOURCES = ("ring_vhost.c",)
DEPENDS = (*SHARED, "ring.c", "ring_mutants.h")
MODULE = "virtiospec.reference.vhost_user.c._ring_vhost"
COMPILED = (f"the C fast path of its vhost-user device ({MODULE}, "
            "reference/vhost_user/c/ring_vhost.c)")
#: find_compiler(env=None, which=shutil.which), or MissingCompiler naming COMPILED.
find_compiler = c_build.compiler_for(COMPILED)
#: compiler_for(compiled) -> a find_compiler naming ``compiled`` (what needs it).
compiler_for = c_build.compiler_for


def vhost_ffi(module: str, sources: tuple[str, ...], depends: tuple[str, ...]) -> FFI:
    """The cffi module ``module`` of a fast path: ring_vhost.h's API over ``sources``."""
    return c_build.install_ffi(module, c_build.header_cdef(HEADER), '#include "ring_vhost.h"\n',
                               sources, depends, ("-fvisibility=hidden",))


def install_ffi() -> FFI:
    """The cffi module built by ``pip install`` (setup.py: cffi_modules)."""
    find_compiler()
    return vhost_ffi(MODULE, SOURCES, DEPENDS)


if __name__ == "__main__":
    install_ffi().compile(verbose=True)
