"""Builds of the C reference of the table and shm-signal (shm.c): the three ways it is compiled.

* ``install_ffi`` -- the cffi module ``virtiospec.reference.shm.c._shm`` that ``pip install``
  compiles (setup.py's ``cffi_modules``): shm.c with C11 atomics and fences, every function
  of shm.h, for use on real shared memory, and the public ABI of
  ``conformance/shm/virtiospec_shm.h`` over it (shm_abi.c), used by ``--target c``;
* :func:`build_lib` -- a plain shared library exporting that ABI, the example for
  ``--target shm-lib:PATH.so`` (``make libshm``, or ``python -m
  virtiospec.reference.shm.c.build lib OUT.so [MUTANT]``);
* :func:`stepped_ffi` -- the stepped build (shm.c with ``-DVS_STEPPED``, optionally one
  mutant ``-DVS_SHM_MUTANT=VS_SHM_M_<NAME>`` of shm_mutants.h), compiled at run time by
  :func:`compile_stepped` for :mod:`virtiospec.reference.shm.c.stepped`, which steps every access.

Both read their declarations from shm.h (between cdef-begin and cdef-end), so the header is
the one statement of the ABI.

This file is also run by cffi at install time, before the package exists, so it imports
only the standard library, cffi and c_build.py beside it (what the C builds share).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from pathlib import Path

from cffi import FFI

HERE = Path(__file__).resolve().parent  # reference/shm/c/

try:  # imported as virtiospec.reference.shm.c.build
    from virtiospec.reference import c_build
except ImportError:  # run by cffi from setup.py, before the package exists: load it by path
    import importlib.util

    _spec = importlib.util.spec_from_file_location("_vs_c_build", HERE.parents[1] / "c_build.py")
    assert _spec is not None and _spec.loader is not None
    c_build = importlib.util.module_from_spec(_spec)
    _spec.loader.exec_module(c_build)

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


def find_compiler(env: Mapping[str, str] | None = None,
                  which: Callable[[str], str | None] = shutil.which) -> list[str]:
    """The C compiler command (``$CC``, else Python's configured one, else ``cc``), checked to
    exist on PATH. Raises :class:`MissingCompiler` naming the missing program."""
    return c_build.find_compiler(COMPILED, env, which)


def cdef() -> str:
    """The declarations of shm.h that cffi reads (between cdef-begin and cdef-end)."""
    return c_build.header_cdef(HEADER)


def abi_cdef() -> str:
    """The declarations of conformance/shm/virtiospec_shm.h that cffi reads."""
    return c_build.header_cdef(ABI_HEADER)


def install_ffi() -> FFI:
    """The cffi module built by ``pip install`` (setup.py: cffi_modules): shm.h and the ABI."""
    find_compiler()
    ffi = FFI()
    ffi.cdef(cdef() + abi_cdef())
    ffi.set_source(INSTALL_MODULE, '#include "shm.h"\n#include "virtiospec_shm.h"\n',
                   sources=[c_build.rel(c_build.src(s)) for s in ABI_SOURCES],
                   include_dirs=[c_build.rel(d) for d in c_build.C_DIRS],
                   extra_compile_args=[*WARNINGS, "-O2"])
    return ffi


def build_lib(out: Path | str, cflags: Sequence[str] = ("-O2",),
              mutant: str | None = None) -> Path:
    """Compile shm.c + shm_abi.c into a shared library exporting the ABI of
    virtiospec_shm.h (with ``mutant``, one switch of shm_mutants.h turned on: a known-bad
    library for the suite to catch); returns its path."""
    if mutant is not None and mutant not in MUTANTS:
        raise ValueError(f"unknown C mutant {mutant!r}; known: {', '.join(MUTANTS)}")
    out = Path(out).resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    switch = [f"-DVS_SHM_MUTANT=VS_SHM_M_{mutant}"] if mutant else []
    cmd = [*find_compiler(), *STRICT, "-fPIC", "-shared", "-fvisibility=hidden", *cflags,
           *switch, *c_build.include_flags(),
           *(str(c_build.src(s)) for s in ABI_SOURCES), "-o", str(out)]
    subprocess.run(cmd, check=True)
    return out


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


def stepped_module_name(mutant: str | None = None) -> str:
    """A module name unique to the sources, the variant, cffi and this Python."""
    return c_build.stepped_module_name("shm", (c_build.src(s) for s in STEPPED_SOURCES),
                                       STEPPED_ENTRIES, mutant)


def stepped_ffi(mutant: str | None = None) -> FFI:
    """shm.c built with every access handed to Python (and with one mutant switched on)."""
    defines = c_build.stepped_defines(mutant, MUTANTS, "VS_SHM_MUTANT", "VS_SHM_M_")
    return c_build.stepped_ffi(stepped_module_name(mutant), cdef() + STEPPED_ENTRIES,
                               defines + '#include "shm.c"\n#include "shm_stepped.c"\n', HERE)


def cache_dir() -> Path:
    """Where run-time builds go: $VIRTIOSPEC_CACHE, else a per-user folder in the temp dir."""
    return c_build.cache_dir("shm-c")


def compile_stepped(mutant: str | None = None) -> Path:
    """Compile (once per source version) the stepped build; returns the extension's path."""
    return c_build.compile_once(stepped_module_name(mutant), partial(stepped_ffi, mutant),
                                cache_dir(), find_compiler)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) in (2, 3) and args[0] == "lib":
        print(build_lib(args[1], mutant=args[2] if len(args) == 3 else None))
        return 0
    if len(args) == 2 and args[0] == "stepped":
        print(compile_stepped(None if args[1] == "reference" else args[1]))
        return 0
    print("usage: python -m virtiospec.reference.shm.c.build lib OUT.so [MUTANT]\n"
          "       python -m virtiospec.reference.shm.c.build stepped reference|MUTANT",
          file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
