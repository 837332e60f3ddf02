"""Builds of the C reference of the table and shm-signal (shm.c): the two ways it is compiled.

* ``install_ffi`` -- the cffi module ``virtiospec.reference._shm`` that ``pip install``
  compiles (setup.py's ``cffi_modules``): shm.c with C11 atomics and fences, every function
  of shm.h, for use on real shared memory;
* :func:`stepped_ffi` -- the stepped build (shm.c with ``-DVS_STEPPED``, optionally one
  mutant ``-DVS_SHM_MUTANT=VS_SHM_M_<NAME>`` of shm_mutants.h), compiled at run time by
  :func:`compile_stepped` for :mod:`virtiospec.reference.shm_c`, which steps every access.

Both read their declarations from shm.h (between cdef-begin and cdef-end), so the header is
the one statement of the ABI.

This file is also run by cffi at install time, before the package exists, so it imports
only the standard library and cffi.
"""

from __future__ import annotations

import hashlib
import os
import shlex
import shutil
import sys
import sysconfig
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from cffi import FFI

HERE = Path(__file__).resolve().parent  # reference/
HEADER = HERE / "shm.h"
SOURCES = ("shm.c",)
STEPPED_SOURCES = ("shm.h", "ring_access.h", "shm_mutants.h", "shm.c", "shm_stepped.c")
WARNINGS = ("-std=c11", "-Wall", "-Wextra")
STRICT = (*WARNINGS, "-Werror")
MUTANTS = ("NO_SEQ_RECHECK", "NO_WMB_BEFORE_DATA", "NO_WMB_AFTER_DATA", "UNBOUNDED_READ",
           "NO_MB_INJECT", "NO_MB_ENABLE", "NO_MB_ACK", "ACK_AFTER_READ", "NO_RECHECK_ENABLE",
           "NO_RMB_BEFORE_DATA", "NO_RMB_AFTER_DATA")
INSTALL_MODULE = "virtiospec.reference._shm"


class MissingCompiler(RuntimeError):
    """No C compiler: the C reference of the table and shm-signal cannot be built."""


def find_compiler(env: Mapping[str, str] | None = None,
                  which: Callable[[str], str | None] = shutil.which) -> list[str]:
    """The C compiler command (``$CC``, else Python's configured one, else ``cc``), checked to
    exist on PATH. Raises :class:`MissingCompiler` naming the missing program."""
    env = os.environ if env is None else env
    cc = env.get("CC") or sysconfig.get_config_var("CC") or "cc"
    words = shlex.split(cc)
    if not words or which(words[0]) is None:
        name = words[0] if words else "(empty $CC)"
        raise MissingCompiler(
            f"virtiospec builds its C reference of the table and shm-signal "
            f"({INSTALL_MODULE}, reference/shm.c) with a C compiler, but {name!r} was not "
            "found on PATH. Install a C compiler (Debian/Ubuntu: apt-get install gcc; "
            "Fedora: dnf install gcc; macOS: xcode-select --install) or point $CC at one, "
            "then try again.")
    return words


def cdef() -> str:
    """The declarations of shm.h that cffi reads (between cdef-begin and cdef-end)."""
    text = HEADER.read_text(encoding="utf-8")
    start = text.index("/* cdef-begin */") + len("/* cdef-begin */")
    return text[start : text.index("/* cdef-end */")]


def _rel(path: Path) -> str:
    """Source paths relative to the current directory when below it (setuptools prefers so)."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def install_ffi() -> FFI:
    """The cffi module built by ``pip install`` (setup.py: cffi_modules)."""
    find_compiler()
    ffi = FFI()
    ffi.cdef(cdef())
    ffi.set_source(INSTALL_MODULE, '#include "shm.h"\n',
                   sources=[_rel(HERE / s) for s in SOURCES], include_dirs=[_rel(HERE)],
                   extra_compile_args=[*WARNINGS, "-O2"])
    return ffi


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
    import cffi

    h = hashlib.sha256()
    for name in STEPPED_SOURCES:
        h.update((HERE / name).read_bytes())
    h.update(STEPPED_ENTRIES.encode())
    h.update(f"{mutant}|{sys.implementation.cache_tag}|{cffi.__version__}".encode())
    return f"_vs_shm_stepped_{(mutant or 'reference').lower()}_{h.hexdigest()[:12]}"


def stepped_ffi(mutant: str | None = None) -> FFI:
    """shm.c built with every access handed to Python (and with one mutant switched on)."""
    if mutant is not None and mutant not in MUTANTS:
        raise ValueError(f"unknown C mutant {mutant!r}; known: {', '.join(MUTANTS)}")
    defines = "#define VS_STEPPED 1\n"
    if mutant:
        defines += f"#define VS_SHM_MUTANT VS_SHM_M_{mutant}\n"
    ffi = FFI()
    ffi.cdef(cdef() + STEPPED_ENTRIES)
    ffi.set_source(stepped_module_name(mutant),
                   defines + '#include "shm.c"\n#include "shm_stepped.c"\n',
                   include_dirs=[str(HERE)], extra_compile_args=[*STRICT, "-O1"])
    return ffi


def cache_dir() -> Path:
    """Where run-time builds go: $VIRTIOSPEC_CACHE, else a per-user folder in the temp dir."""
    base = os.environ.get("VIRTIOSPEC_CACHE")
    uid = os.getuid() if hasattr(os, "getuid") else 0
    path = Path(base) if base else Path(tempfile.gettempdir()) / f"virtiospec-shm-c-{uid}"
    path.mkdir(parents=True, exist_ok=True)
    return path


def compile_stepped(mutant: str | None = None) -> Path:
    """Compile (once per source version) the stepped build; returns the extension's path.
    Each build runs in its own temp dir and is renamed into the cache, so concurrent
    processes never see a half-written module."""
    name = stepped_module_name(mutant)
    cache = cache_dir()
    done = [p for p in cache.glob(f"{name}.*") if p.suffix in (".so", ".pyd")]
    if done:
        return done[0]
    find_compiler()
    ffi = stepped_ffi(mutant)
    work = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=cache))
    try:
        built = Path(ffi.compile(tmpdir=str(work)))
        final = cache / built.name
        os.replace(built, final)
        return final
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) == 2 and args[0] == "stepped":
        print(compile_stepped(None if args[1] == "reference" else args[1]))
        return 0
    print("usage: python -m virtiospec.reference.shm_c_build stepped reference|MUTANT",
          file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
