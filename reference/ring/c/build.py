"""Builds of the C reference of the split ring (ring.c): the three ways it is compiled.

* ``install_ffi`` -- the cffi module ``virtiospec.reference.ring.c._ring`` that ``pip install``
  compiles (setup.py's ``cffi_modules``): the public ABI of
  ``conformance/ring/virtiospec_ring.h`` over ring.c, used by ``--target c``;
* :func:`build_lib` -- a plain shared library exporting that ABI, the example for
  ``--target lib:PATH.so`` (``make libring``, or ``python -m
  virtiospec.reference.ring.c.build lib OUT.so``);
* :data:`STEPPED` -- the stepped build (ring.c with ``-DVS_STEPPED``, optionally one
  mutant ``-DVS_MUTANT=VS_M_<NAME>``), compiled at run time by
  :mod:`virtiospec.reference.ring.c.stepped`.

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

try:  # imported as virtiospec.reference.ring.c.build
    from virtiospec.reference import c_build
except ImportError:  # run by cffi from setup.py, which loaded c_build.py first
    c_build = sys.modules["_vs_c_build"]

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
find_compiler = c_build.compiler_for(COMPILED)  # (env=None, which=shutil.which)


# the declarations of virtiospec_ring.h and (after those) virtiospec_ring_packed.h for cffi
abi_cdef = partial(c_build.header_cdef, ABI_HEADER)
packed_abi_cdef = partial(c_build.header_cdef, PACKED_ABI_HEADER)


def install_ffi() -> FFI:
    """The cffi module built by ``pip install`` (setup.py: cffi_modules)."""
    find_compiler()
    return c_build.install_ffi(INSTALL_MODULE, abi_cdef(), '#include "virtiospec_ring.h"\n',
                               RING_SOURCES)


def build_lib(out: Path | str, cflags: Sequence[str] = ("-O2",)) -> Path:
    """Compile ring.c + ring_abi.c and ring_packed.c + ring_packed_abi.c into a shared
    library exporting the ABIs of virtiospec_ring.h and virtiospec_ring_packed.h; returns its
    path."""
    return c_build.build_lib(out, LIB_SOURCES, cflags, find_compiler)


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

STEPPED = c_build.Stepped("ring", "ring-c", STEPPED_SOURCES, STEPPED_CDEF,
                          ("ring.c", "ring_stepped.c"), MUTANTS, "VS_MUTANT", "VS_M_",
                          find_compiler)
stepped_module_name = STEPPED.module_name
stepped_ffi = STEPPED.ffi
cache_dir = STEPPED.cache_dir
compile_stepped = STEPPED.compile


def main(argv: Sequence[str] | None = None) -> int:
    return c_build.main(argv, "virtiospec.reference.ring.c.build", STEPPED,
                        lambda out, _mutant: build_lib(out))


if __name__ == "__main__":
    sys.exit(main())
