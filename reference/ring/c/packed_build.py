"""Builds of the C reference of the packed ring (ring_packed.c): the two ways it is compiled.

* ``install_ffi`` -- the cffi module ``virtiospec.reference.ring.c._ring_packed`` that ``pip
  install`` compiles (setup.py's ``cffi_modules``): ring_packed.c with C11 atomics and
  fences, every function of ring_packed.h, used by ``--target c`` for its ``ring.packed.*``
  sessions (conformance/ring/target_c.py);
* :data:`STEPPED` -- the stepped build (ring_packed.c with ``-DVS_STEPPED``, optionally
  one mutant ``-DVS_PACKED_MUTANT=VS_PM_<NAME>`` of ring_packed_mutants.h), compiled at run
  time for :mod:`virtiospec.reference.ring.c.packed_stepped`, which steps every access.

How they are built is c_build.py's (what the C builds share); this file names the sources,
the cdef and the mutants. cffi also runs it at install time, before the package exists:
then setup.py has loaded c_build.py already.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from cffi import FFI

try:  # imported as virtiospec.reference.ring.c.packed_build
    from virtiospec.reference import c_build
except ImportError:  # run by cffi from setup.py, which loaded c_build.py first
    c_build = sys.modules["_vs_c_build"]

SOURCES = ("ring_packed.c",)
STEPPED_SOURCES = ("ring.h", "ring_packed.h", "ring_access.h", "ring_packed_mutants.h",
                   "vs_block.h", "ring_packed.c", "stepped_access.h", "ring_packed_stepped.c")
WARNINGS = c_build.WARNINGS
STRICT = c_build.STRICT
MUTANTS = ("DRIVER_NO_WMB", "DEVICE_NO_WMB", "DEVICE_NO_RMB", "DRIVER_NO_RMB",
           "DRIVER_NO_MB_KICK", "DEVICE_NO_MB_NOTIFY", "DRIVER_NO_WRAP_FLIP",
           "DEVICE_IGNORES_WRAP", "EVENT_OFF_BY_ONE", "DEVICE_NO_RECHECK", "DRIVER_NO_RECHECK",
           "DEVICE_AVAIL_ONLY", "DRIVER_TRUSTS_USED_ID")
INSTALL_MODULE = "virtiospec.reference.ring.c._ring_packed"
MissingCompiler = c_build.MissingCompiler

COMPILED = f"its C reference of the packed ring ({INSTALL_MODULE}, reference/ring/c/ring_packed.c)"

# What both builds declare: the structs (fields the wrappers read; `...;` lets the compiler
# place them), sizes, create, and the operations that touch no shared memory.
COMMON_CDEF = """
#define VS_PE_ABORTED ...
struct vs_segment { uint64_t addr; uint64_t len; };
struct vs_used_elem { uint32_t id; uint32_t len; };
struct vs_packed_queue { uint32_t q; uint64_t mem_size; ...; };
struct vs_packed_out { uint64_t token; uint64_t writable; uint16_t ndesc; uint8_t live; ...; };
struct vs_packed_driver {
    struct vs_packed_queue r; bool event_idx; bool indirect; uint16_t next_avail;
    uint8_t avail_wrap; uint16_t last_used; uint8_t used_wrap; uint32_t free_descs;
    uint64_t num_added; bool cb_disabled; int broken; uint32_t free_head; uint32_t free_count;
    uint16_t *free_ids; struct vs_packed_out *ids; ...;
};
struct vs_packed_held { uint64_t writable; uint16_t id; uint16_t ndesc; uint8_t live; ...; };
struct vs_packed_device {
    struct vs_packed_queue r; bool event_idx; bool indirect; uint16_t last_avail;
    uint8_t avail_wrap; uint16_t used_pos; uint8_t used_wrap; uint32_t held;
    uint64_t num_pushed; bool notify_disabled; int broken; struct vs_packed_held *in_flight;
    ...;
};
bool vs_packed_need_event(uint32_t q, uint16_t event, uint32_t new_lap, uint64_t passed);
size_t vs_packed_driver_state_size(uint32_t q);
size_t vs_packed_device_state_size(uint32_t q);
int vs_packed_driver_create(struct vs_packed_driver *d, size_t state_size, uint8_t *mem,
                            uint64_t mem_size, uint32_t q, uint64_t desc, uint64_t driver_event,
                            uint64_t device_event, uint32_t features, uint64_t indirect_area,
                            uint32_t indirect_max);
int vs_packed_device_create(struct vs_packed_device *v, size_t state_size, uint8_t *mem,
                            uint64_t mem_size, uint32_t q, uint64_t desc, uint64_t driver_event,
                            uint64_t device_event, uint32_t features);
int vs_packed_driver_kick_data(const struct vs_packed_driver *d);
int vs_packed_driver_detach_unused(struct vs_packed_driver *d, uint64_t *tokens, uint32_t max);
uint32_t vs_packed_driver_num_free(const struct vs_packed_driver *d);
int vs_packed_device_needs_reset(const struct vs_packed_device *v);
"""

# The operations that access the ring, as ring_packed.h declares them (``prefix`` "") or as
# the stepped unit's entry points (``prefix`` "stepped_", first argument the checker's handle).
OPERATIONS = (
    ("driver_init", "struct vs_packed_driver *d"),
    ("driver_add", "struct vs_packed_driver *d, const struct vs_segment *out, uint32_t n_out, "
                   "const struct vs_segment *in, uint32_t n_in, uint64_t token"),
    ("driver_kick_prepare", "struct vs_packed_driver *d"),
    ("driver_get_used", "struct vs_packed_driver *d, uint64_t *token, uint32_t *len"),
    ("driver_disable_cb", "struct vs_packed_driver *d"),
    ("driver_enable_cb_prepare", "struct vs_packed_driver *d"),
    ("driver_poll", "struct vs_packed_driver *d, uint16_t last"),
    ("driver_enable_cb", "struct vs_packed_driver *d"),
    ("driver_enable_cb_delayed", "struct vs_packed_driver *d"),
    ("device_init", "struct vs_packed_device *v"),
    ("device_pop", "struct vs_packed_device *v, uint16_t *id, struct vs_segment *segs, "
                   "uint32_t max_segs, uint32_t *n_readable, uint32_t *n_writable"),
    ("device_push", "struct vs_packed_device *v, const struct vs_used_elem *used, uint32_t n"),
    ("device_should_notify", "struct vs_packed_device *v"),
    ("device_disable_notify", "struct vs_packed_device *v"),
    ("device_enable_notify", "struct vs_packed_device *v"),
)


def operations_cdef(stepped: bool) -> str:
    if stepped:
        return "".join(f"int vs_stepped_packed_{name}(void *py, {params});\n"
                       for name, params in OPERATIONS)
    return "".join(f"int vs_packed_{name}({params});\n" for name, params in OPERATIONS)


INSTALL_CDEF = COMMON_CDEF + operations_cdef(False)
STEPPED_CDEF = (COMMON_CDEF + operations_cdef(True)
                + 'extern "Python" int vs_py_access(void *py, int kind, uint64_t addr, '
                  "uint32_t size, uint64_t value, uint64_t *loaded);\n")


find_compiler = c_build.compiler_for(COMPILED)  # (env=None, which=shutil.which)


def install_ffi() -> FFI:
    """The cffi module built by ``pip install`` (setup.py: cffi_modules)."""
    find_compiler()
    return c_build.install_ffi(INSTALL_MODULE, INSTALL_CDEF, '#include "ring_packed.h"\n',
                               SOURCES)


# -- stepped build ------------------------------------------------------------------------

STEPPED = c_build.Stepped("ring_packed", "ring-packed-c", STEPPED_SOURCES, STEPPED_CDEF,
                          ("ring_packed.c", "ring_packed_stepped.c"), MUTANTS,
                          "VS_PACKED_MUTANT", "VS_PM_", find_compiler)
stepped_module_name = STEPPED.module_name
stepped_ffi = STEPPED.ffi
cache_dir = STEPPED.cache_dir
compile_stepped = STEPPED.compile


def main(argv: Sequence[str] | None = None) -> int:
    return c_build.main(argv, "virtiospec.reference.ring.c.packed_build", STEPPED)


if __name__ == "__main__":
    sys.exit(main())
