"""Builds of the C reference of the split ring (ring.c): the three ways it is compiled.

* ``install_ffi`` -- the cffi module ``virtiospec.reference.ring.c._ring`` that ``pip install``
  compiles (setup.py's ``cffi_modules``): the public ABI of
  ``conformance/ring/virtiospec_ring.h`` over ring.c, used by ``--target c``;
* :func:`build_lib` -- a plain shared library exporting that ABI, the example for
  ``--target lib:PATH.so`` (``make libring``, or ``python -m
  virtiospec.reference.ring.c.build lib OUT.so``);
* :func:`stepped_ffi` -- the stepped build (ring.c with ``-DVS_STEPPED``, optionally one
  mutant ``-DVS_MUTANT=VS_M_<NAME>``), compiled at run time by
  :mod:`virtiospec.reference.ring.c.stepped`.

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

HERE = Path(__file__).resolve().parent  # reference/ring/c/

try:  # imported as virtiospec.reference.ring.c.build
    from virtiospec.reference import c_build
except ImportError:  # run by cffi from setup.py, before the package exists: load it by path
    import importlib.util

    _spec = importlib.util.spec_from_file_location("_vs_c_build", HERE.parents[1] / "c_build.py")
    assert _spec is not None and _spec.loader is not None
    c_build = importlib.util.module_from_spec(_spec)
    _spec.loader.exec_module(c_build)

ABI_HEADER = c_build.src("virtiospec_ring.h")
PACKED_ABI_HEADER = c_build.src("virtiospec_ring_packed.h")
RING_SOURCES = ("ring.c", "ring_abi.c")
LIB_SOURCES = (*RING_SOURCES, "ring_packed.c", "ring_packed_abi.c")  # split and packed ABIs
STEPPED_SOURCES = ("ring.h", "ring_access.h", "ring_mutants.h", "vs_block.h", "ring.c",
                   "stepped_access.h", "ring_stepped.c")
WARNINGS = c_build.WARNINGS
STRICT = c_build.STRICT
MUTANTS = ("NO_MB_KICK", "NO_MB_NOTIFY", "NO_RECHECK_NOTIFY", "NO_RECHECK_CB",
           "NEED_EVENT_OFF_BY_ONE", "USED_IDX_MOD_Q", "UNBOUNDED_WALK", "NO_HEAD_CHECK",
           "TRUST_USED_ID")
INSTALL_MODULE = "virtiospec.reference.ring.c._ring"
MissingCompiler = c_build.MissingCompiler

COMPILED = f"its C reference of the split ring ({INSTALL_MODULE}, reference/ring.c)"


def find_compiler(env: Mapping[str, str] | None = None,
                  which: Callable[[str], str | None] = shutil.which) -> list[str]:
    """The C compiler command (``$CC``, else Python's configured one, else ``cc``), checked to
    exist on PATH. Raises :class:`MissingCompiler` naming the missing program."""
    return c_build.find_compiler(COMPILED, env, which)


def abi_cdef() -> str:
    """The declarations of virtiospec_ring.h that cffi reads (between cdef-begin/-end)."""
    return c_build.header_cdef(ABI_HEADER)


def packed_abi_cdef() -> str:
    """The declarations of virtiospec_ring_packed.h that cffi reads (after abi_cdef())."""
    return c_build.header_cdef(PACKED_ABI_HEADER)


def install_ffi() -> FFI:
    """The cffi module built by ``pip install`` (setup.py: cffi_modules)."""
    find_compiler()
    ffi = FFI()
    ffi.cdef(abi_cdef())
    ffi.set_source(INSTALL_MODULE, '#include "virtiospec_ring.h"\n',
                   sources=[c_build.rel(c_build.src(s)) for s in RING_SOURCES],
                   include_dirs=[c_build.rel(d) for d in c_build.C_DIRS],
                   extra_compile_args=[*WARNINGS, "-O2"])
    return ffi


def build_lib(out: Path | str, cflags: Sequence[str] = ("-O2",)) -> Path:
    """Compile ring.c + ring_abi.c and ring_packed.c + ring_packed_abi.c into a shared
    library exporting the ABIs of virtiospec_ring.h and virtiospec_ring_packed.h; returns its
    path."""
    out = Path(out).resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    cmd = [*find_compiler(), *STRICT, "-fPIC", "-shared", "-fvisibility=hidden", *cflags,
           *c_build.include_flags(), *(str(c_build.src(s)) for s in LIB_SOURCES),
           "-o", str(out)]
    subprocess.run(cmd, check=True)
    return out


# -- stepped build ------------------------------------------------------------------------

STEPPED_CDEF = """
struct vs_segment { uint64_t addr; uint64_t len; };
struct vs_used_elem { uint32_t id; uint32_t len; };
struct vs_queue { uint32_t q; ...; };
struct vs_outstanding { uint64_t token; uint64_t writable; uint16_t ndescs; uint8_t live; ...; };
struct vs_driver {
    struct vs_queue r; bool event_idx; bool indirect; uint16_t avail_idx; uint16_t last_used;
    uint32_t num_added; bool cb_disabled; int broken; uint32_t free_head; uint32_t free_count;
    uint16_t *free_fifo; uint16_t *chain_next; struct vs_outstanding *chains; ...;
};
struct vs_device {
    struct vs_queue r; bool event_idx; bool indirect; uint16_t last_avail; uint16_t used_idx;
    uint16_t signalled_used; bool signalled_valid; bool notify_disabled; int broken;
    uint64_t *in_flight_len; uint8_t *in_flight; ...;
};
bool vs_need_event(uint16_t event, uint16_t new_idx, uint16_t old_idx);
size_t vs_driver_state_size(uint32_t q);
size_t vs_device_state_size(uint32_t q);
int vs_driver_create(struct vs_driver *d, size_t state_size, uint8_t *mem, uint64_t mem_size,
                     uint32_t q, uint64_t desc, uint64_t avail, uint64_t used, uint32_t features,
                     uint64_t indirect_area, uint32_t indirect_max, uint16_t start_index);
int vs_device_create(struct vs_device *v, size_t state_size, uint8_t *mem, uint64_t mem_size,
                     uint32_t q, uint64_t desc, uint64_t avail, uint64_t used, uint32_t features,
                     uint16_t start_index);
int vs_driver_detach_unused(struct vs_driver *d, uint64_t *tokens, uint32_t max);
int vs_stepped_driver_init(void *py, struct vs_driver *d);
int vs_stepped_driver_add(void *py, struct vs_driver *d, const struct vs_segment *out,
                          uint32_t n_out, const struct vs_segment *in, uint32_t n_in,
                          uint64_t token);
int vs_stepped_driver_kick_prepare(void *py, struct vs_driver *d);
int vs_stepped_driver_get_used(void *py, struct vs_driver *d, uint64_t *token, uint32_t *len);
int vs_stepped_driver_disable_cb(void *py, struct vs_driver *d);
int vs_stepped_driver_enable_cb_prepare(void *py, struct vs_driver *d);
int vs_stepped_driver_poll(void *py, struct vs_driver *d, uint16_t last);
int vs_stepped_driver_enable_cb(void *py, struct vs_driver *d);
int vs_stepped_driver_enable_cb_delayed(void *py, struct vs_driver *d);
int vs_stepped_device_init(void *py, struct vs_device *v);
int vs_stepped_device_pop(void *py, struct vs_device *v, uint16_t *head, struct vs_segment *segs,
                          uint32_t max_segs, uint32_t *n_readable, uint32_t *n_writable);
int vs_stepped_device_push(void *py, struct vs_device *v, const struct vs_used_elem *used,
                           uint32_t n);
int vs_stepped_device_should_notify(void *py, struct vs_device *v);
int vs_stepped_device_disable_notify(void *py, struct vs_device *v);
int vs_stepped_device_enable_notify(void *py, struct vs_device *v);
extern "Python" int vs_py_access(void *py, int kind, uint64_t addr, uint32_t size,
                                 uint64_t value, uint64_t *loaded);
"""


def stepped_module_name(mutant: str | None = None) -> str:
    """A module name unique to the sources, the variant, cffi and this Python."""
    return c_build.stepped_module_name("ring", (c_build.src(s) for s in STEPPED_SOURCES),
                                       STEPPED_CDEF, mutant)


def stepped_ffi(mutant: str | None = None) -> FFI:
    """ring.c built with every access handed to Python (and with one mutant switched on)."""
    defines = c_build.stepped_defines(mutant, MUTANTS, "VS_MUTANT", "VS_M_")
    return c_build.stepped_ffi(stepped_module_name(mutant), STEPPED_CDEF,
                               defines + '#include "ring.c"\n#include "ring_stepped.c"\n', HERE)


def cache_dir() -> Path:
    """Where run-time builds go: $VIRTIOSPEC_CACHE, else a per-user folder in the temp dir."""
    return c_build.cache_dir("ring-c")


def compile_stepped(mutant: str | None = None) -> Path:
    """Compile (once per source version) the stepped build; returns the extension's path."""
    return c_build.compile_once(stepped_module_name(mutant), partial(stepped_ffi, mutant),
                                cache_dir(), find_compiler)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) == 2 and args[0] == "lib":
        print(build_lib(args[1]))
        return 0
    if len(args) == 2 and args[0] == "stepped":
        print(compile_stepped(None if args[1] == "reference" else args[1]))
        return 0
    print("usage: python -m virtiospec.reference.ring.c.build lib OUT.so\n"
          "       python -m virtiospec.reference.ring.c.build stepped reference|MUTANT",
          file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
