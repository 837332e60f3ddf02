"""Build of the vhost-user fast path for packed rings (ring_vhost_packed.c, which compiles
ring_packed.c in with its accesses translated through the memory table, behind the API of
ring_vhost.h): the cffi module ``virtiospec.reference.vhost_user.c._ring_vhost_packed`` that
``pip install`` compiles (setup.py's ``cffi_modules``), used by
:mod:`virtiospec.reference.vhost_user.fast`. The build is the split one's
(ring_vhost_build.vhost_ffi) over the packed ring's sources.

This file is also run by cffi at install time, before the package exists, so it imports
only the standard library, cffi and the build modules beside it (c_build.py loaded
by setup.py first).
"""

from __future__ import annotations

import sys
from pathlib import Path

from cffi import FFI

HERE = Path(__file__).resolve().parent  # reference/vhost_user/c/

try:  # imported as virtiospec.reference.vhost_user.c.packed_build
    from virtiospec.reference.vhost_user.c import build as ring_vhost_build
except ImportError:  # run by cffi from setup.py, which loaded c_build.py first
    ring_vhost_build = sys.modules["_vs_c_build"].load_by_path("_vs_ring_vhost_build",
                                                               HERE / "build.py")

SOURCES = ("ring_vhost_packed.c",)
DEPENDS = (*ring_vhost_build.SHARED, "ring_packed.c", "ring_packed.h", "ring_packed_mutants.h")
MODULE = "virtiospec.reference.vhost_user.c._ring_vhost_packed"
COMPILED = (f"the C fast path of its vhost-user device ({MODULE}, "
            "reference/vhost_user/c/ring_vhost_packed.c)")


#: find_compiler(env=None, which=shutil.which), or MissingCompiler naming COMPILED.
find_compiler = ring_vhost_build.compiler_for(COMPILED)


def install_ffi() -> FFI:
    """The cffi module built by ``pip install`` (setup.py: cffi_modules)."""
    find_compiler()
    return ring_vhost_build.vhost_ffi(MODULE, SOURCES, DEPENDS)


if __name__ == "__main__":
    install_ffi().compile(verbose=True)
