"""Builds of the C reference of the table and shm-signal (shm.c): the three ways it is compiled.

* ``install_ffi`` -- the cffi module ``virtiospec.reference.shm.c._shm`` that ``pip install``
  compiles (setup.py's ``cffi_modules``): shm.c with C11 atomics and fences, every function
  of shm.h, for use on real shared memory, and the public ABI of
  ``conformance/shm/virtiospec_shm.h`` over it (shm_abi.c), used by ``--target c``;
* :func:`build_lib` -- a plain shared library exporting that ABI, the example for
  ``--target shm-lib:PATH.so`` (``make libshm``, or ``python -m
  virtiospec.reference.shm.c.build lib OUT.so [MUTANT]``);
* :data:`STEPPED` -- the stepped build (shm.c with ``-DVS_STEPPED``, optionally one
  mutant ``-DVS_SHM_MUTANT=VS_SHM_M_<NAME>`` of shm_mutants.h), compiled at run time for
  :mod:`virtiospec.reference.shm.c.stepped`, which steps every access.

Both read their declarations from shm.h (between cdef-begin and cdef-end), so the header is
the one statement of the ABI.

How they are built is c_build.py's (what the C builds share); this file names the sources,
the cdef and the mutants. cffi also runs it at install time, before the package exists:
then setup.py has loaded c_build.py already.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from functools import partial
from pathlib import Path

from cffi import FFI

try:  # imported as virtiospec.reference.shm.c.build
    from virtiospec.reference import c_build
except ImportError:  # run by cffi from setup.py, which loaded c_build.py first
    c_build = sys.modules["_vs_c_build"]

HEADER = c_build.src("shm.h")
SOURCES = ("shm.c",)
ABI_HEADER = c_build.src("virtiospec_shm.h")
ABI_SOURCES = ("shm.c", "shm_abi.c")
STEPPED_SOURCES = ("shm.h", "ring_access.h", "shm_mutants.h", "shm.c", "stepped_access.h",
                   "shm_stepped.c")
WARNINGS = c_build.WARNINGS
STRICT = c_build.STRICT
MUTANTS = ("NO_SEQ_RECHECK", "NO_WMB_BEFORE_DATA", "NO_WMB_AFTER_DATA", "UNBOUNDED_READ",
           "NO_MB_INJECT", "NO_MB_ENABLE", "NO_MB_ACK", "ACK_AFTER_READ", "NO_RECHECK_ENABLE",
           "NO_RMB_BEFORE_DATA", "NO_RMB_AFTER_DATA")
INSTALL_MODULE = "virtiospec.reference.shm.c._shm"
MissingCompiler = c_build.MissingCompiler
COMPILED = f"its C reference of the table and shm-signal ({INSTALL_MODULE}, reference/shm/c/shm.c)"


find_compiler = c_build.compiler_for(COMPILED)  # (env=None, which=shutil.which)


# the declarations of shm.h and of conformance/shm/virtiospec_shm.h for cffi
cdef = partial(c_build.header_cdef, HEADER)
abi_cdef = partial(c_build.header_cdef, ABI_HEADER)


def install_ffi() -> FFI:
    """The cffi module built by ``pip install`` (setup.py: cffi_modules): shm.h and the ABI."""
    find_compiler()
    return c_build.install_ffi(INSTALL_MODULE, cdef() + abi_cdef(),
                               '#include "shm.h"\n#include "virtiospec_shm.h"\n', ABI_SOURCES)


def build_lib(out: Path | str, cflags: Sequence[str] = ("-O2",),
              mutant: str | None = None) -> Path:
    """Compile shm.c + shm_abi.c into a shared library exporting the ABI of
    virtiospec_shm.h (with ``mutant``, one switch of shm_mutants.h turned on: a known-bad
    library for the suite to catch); returns its path."""
    if mutant is not None and mutant not in MUTANTS:
        raise ValueError(f"unknown C mutant {mutant!r}; known: {', '.join(MUTANTS)}")
    switch = [f"-DVS_SHM_MUTANT=VS_SHM_M_{mutant}"] if mutant else []
    return c_build.build_lib(out, ABI_SOURCES, cflags, find_compiler, switch)


# -- stepped build ------------------------------------------------------------------------

STEPPED_ENTRIES = """
int vs_shm_stepped_writer_init(void *py, struct vs_shm_writer *w);
int vs_shm_stepped_writer_update(void *py, struct vs_shm_writer *w, uint32_t slot,
                                 const uint32_t *value, uint32_t n);
int vs_shm_stepped_reader_attempt(void *py, struct vs_shm_reader *rd, uint32_t slot,
                                  uint32_t *version, uint32_t *value);
int vs_shm_stepped_reader_read(void *py, struct vs_shm_reader *rd, uint32_t slot,
                               uint32_t *version, uint32_t *value);
int vs_shm_stepped_reader_poll(void *py, struct vs_shm_reader *rd, uint32_t slot,
                               uint32_t *version, uint32_t *value);
int vs_shm_stepped_reader_service(void *py, struct vs_shm_reader *rd,
                                  struct vs_shm_receiver *rx, uint32_t slot,
                                  uint32_t *version, uint32_t *value);
int vs_shm_stepped_signal_init(void *py, const struct vs_shm_signal *s);
int vs_shm_stepped_sender_inject(void *py, struct vs_shm_sender *tx);
int vs_shm_stepped_receiver_disable(void *py, struct vs_shm_receiver *rx);
int vs_shm_stepped_receiver_acknowledge(void *py, struct vs_shm_receiver *rx);
int vs_shm_stepped_receiver_enable(void *py, struct vs_shm_receiver *rx);
extern "Python" int vs_shm_py_access(void *py, int kind, uint64_t addr, uint32_t size,
                                     uint64_t value, uint64_t *loaded);
"""


STEPPED = c_build.Stepped("shm", "shm-c", STEPPED_SOURCES, cdef() + STEPPED_ENTRIES,
                          ("shm.c", "shm_stepped.c"), MUTANTS, "VS_SHM_MUTANT", "VS_SHM_M_",
                          find_compiler)
stepped_module_name = STEPPED.module_name
stepped_ffi = STEPPED.ffi
cache_dir = STEPPED.cache_dir
compile_stepped = STEPPED.compile


def main(argv: Sequence[str] | None = None) -> int:
    return c_build.main(argv, "virtiospec.reference.shm.c.build", STEPPED,
                        lambda out, mutant: build_lib(out, mutant=mutant), lib_mutant=True)


if __name__ == "__main__":
    sys.exit(main())
