"""Build of the vhost-user fast path (ring_vhost.c, which compiles ring.c in with its accesses
translated through the memory table): the cffi module
``virtiospec.reference.vhost_user.c._ring_vhost`` that ``pip install`` compiles (setup.py's
``cffi_modules``), used by :mod:`virtiospec.reference.vhost_user.fast`. :func:`vhost_ffi` is
the build both fast paths share (packed_build.py builds the packed one with it).

This file is also run by cffi at install time, before the package exists, so it imports
only the standard library, cffi and c_build.py beside it (what the C builds share).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Mapping
from pathlib import Path

from cffi import FFI

HERE = Path(__file__).resolve().parent  # reference/vhost_user/c/

try:  # imported as virtiospec.reference.vhost_user.c.build
    from virtiospec.reference import c_build
except ImportError:  # run by cffi from setup.py, before the package exists: load it by path
    import importlib.util

    _spec = importlib.util.spec_from_file_location("_vs_c_build", HERE.parents[1] / "c_build.py")
    assert _spec is not None and _spec.loader is not None
    c_build = importlib.util.module_from_spec(_spec)
    _spec.loader.exec_module(c_build)

HEADER = c_build.src("ring_vhost.h")
# what both fast paths compile in: the API, the memory table, the path that is not the ring's
SHARED = ("ring_vhost.h", "ring_vhost_table.h", "ring_vhost_common.h", "ring.h",
          "ring_access.h", "vs_block.h")
SOURCES = ("ring_vhost.c",)
DEPENDS = (*SHARED, "ring.c", "ring_mutants.h")
MODULE = "virtiospec.reference.vhost_user.c._ring_vhost"
COMPILED = (f"the C fast path of its vhost-user device ({MODULE}, "
            "reference/vhost_user/c/ring_vhost.c)")


def find_compiler(env: Mapping[str, str] | None = None,
                  which: Callable[[str], str | None] = shutil.which) -> list[str]:
    return compiler_for(COMPILED, env, which)


def compiler_for(compiled: str, env: Mapping[str, str] | None = None,
                 which: Callable[[str], str | None] = shutil.which) -> list[str]:
    """The C compiler, or MissingCompiler naming ``compiled`` (what needs it)."""
    return c_build.find_compiler(compiled, env, which)


def vhost_ffi(module: str, sources: tuple[str, ...], depends: tuple[str, ...]) -> FFI:
    """The cffi module ``module`` of a fast path: ring_vhost.h's API over ``sources``."""
    ffi = FFI()
    ffi.cdef(c_build.header_cdef(HEADER))
    ffi.set_source(module, '#include "ring_vhost.h"\n',
                   sources=[c_build.rel(c_build.src(s)) for s in sources],
                   depends=[c_build.rel(c_build.src(s)) for s in depends],
                   include_dirs=[c_build.rel(d) for d in c_build.C_DIRS],
                   extra_compile_args=[*c_build.WARNINGS, "-O2", "-fvisibility=hidden"])
    return ffi


def install_ffi() -> FFI:
    """The cffi module built by ``pip install`` (setup.py: cffi_modules)."""
    find_compiler()
    return vhost_ffi(MODULE, SOURCES, DEPENDS)


if __name__ == "__main__":
    install_ffi().compile(verbose=True)
