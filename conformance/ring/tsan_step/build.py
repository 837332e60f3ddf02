"""Builds of foreign C stepped under the memory models through our own TSan hooks.

The foreign sources (any implementation of conformance/ring/virtiospec_ring.h: ring.c with
ring_abi.c, a ``src:PATH.c`` target, Linux's virtio_ring.c and vringh.c behind a wrapper)
are compiled with ``gcc -fsanitize=thread --param tsan-distinguish-volatile=1`` into
objects, and linked into a cffi module together with tsan_hooks.c (our definitions of the
``__tsan_*`` hooks, instead of the TSan runtime) and ring_entries.c (one stepped entry point
per operation of the ABI). Each module is compiled once per source version into the run-time
cache (reference/c_build.py) and named by a hash of everything that went into it.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cffi import FFI
from virtiospec.reference import c_build

HERE = Path(__file__).resolve().parent  # conformance/ring/tsan_step/
ABI_HEADER = HERE.parent / "virtiospec_ring.h"
HOOK_SOURCES = ("tsan_hooks.h", "tsan_hooks.c", "ring_entries.c", "packed_entries.c")
LINUX_PACKED_H = HERE.parent / "linux_vring" / "linux_packed.h"
PACKED_CDEF = """
int vs_stepped_packed_driver_init(void *py, struct vs_tsan_side *s);
int vs_stepped_packed_driver_add(void *py, struct vs_tsan_side *s,
                                 const struct virtiospec_ring_segment *out, uint32_t n_out,
                                 const struct virtiospec_ring_segment *in, uint32_t n_in,
                                 uint64_t token);
int vs_stepped_packed_driver_kick_prepare(void *py, struct vs_tsan_side *s);
int vs_stepped_packed_driver_get_used(void *py, struct vs_tsan_side *s, uint64_t *token,
                                      uint32_t *len);
int vs_stepped_packed_driver_disable_cb(void *py, struct vs_tsan_side *s);
int vs_stepped_packed_driver_enable_cb(void *py, struct vs_tsan_side *s);
"""
TSAN_FLAGS = ("-fsanitize=thread", "--param", "tsan-distinguish-volatile=1", "-Wno-tsan",
              "-fPIC", "-O1", "-g0", "-U_FORTIFY_SOURCE", "-D_FORTIFY_SOURCE=0",
              # gcc expands these builtins after the TSan pass, into accesses no hook sees
              "-fno-builtin-memcpy", "-fno-builtin-memmove", "-fno-builtin-memset")
# what the TSan runtime would intercept, renamed in the objects to our stepping versions
RENAMED = ("memcpy", "memmove", "memset")

ENTRY_CDEF = """
struct vs_tsan_side { void *state; uint8_t *view; uint64_t view_size; };
int vs_stepped_driver_init(void *py, struct vs_tsan_side *s);
int vs_stepped_driver_add(void *py, struct vs_tsan_side *s,
                          const struct virtiospec_ring_segment *out, uint32_t n_out,
                          const struct virtiospec_ring_segment *in, uint32_t n_in,
                          uint64_t token);
int vs_stepped_driver_kick_prepare(void *py, struct vs_tsan_side *s);
int vs_stepped_driver_get_used(void *py, struct vs_tsan_side *s, uint64_t *token,
                               uint32_t *len);
int vs_stepped_driver_disable_cb(void *py, struct vs_tsan_side *s);
int vs_stepped_driver_enable_cb(void *py, struct vs_tsan_side *s);
int vs_stepped_driver_enable_cb_delayed(void *py, struct vs_tsan_side *s);
int vs_stepped_device_init(void *py, struct vs_tsan_side *s);
int vs_stepped_device_pop(void *py, struct vs_tsan_side *s, uint16_t *head,
                          struct virtiospec_ring_segment *segs, uint32_t max_segs,
                          uint32_t *n_readable, uint32_t *n_writable);
int vs_stepped_device_push(void *py, struct vs_tsan_side *s,
                           const struct virtiospec_ring_used_elem *used, uint32_t n);
int vs_stepped_device_should_notify(void *py, struct vs_tsan_side *s);
int vs_stepped_device_enable_notify(void *py, struct vs_tsan_side *s);
int vs_stepped_device_disable_notify(void *py, struct vs_tsan_side *s);
extern "Python" int vs_py_access(void *py, int kind, uint64_t addr, uint32_t size,
                                 uint64_t value, uint64_t *loaded);
"""


class BuildError(RuntimeError):
    """The foreign C did not compile (the message holds the compiler's own words)."""


@dataclass(frozen=True)
class Recipe:
    """What to compile: C sources implementing virtiospec_ring.h, with their flags."""

    name: str  # short, for the module name and messages: "ring.c", "src-foo", "linux"
    sources: tuple[Path, ...]
    cflags: tuple[str, ...] = ()
    include_dirs: tuple[Path, ...] = ()
    extra: tuple[Path, ...] = field(default=())  # more files whose content the build hashes
    # compiles the objects itself into the folder it is given (cflags must hold TSAN_FLAGS)
    objects: Callable[[Path], list[Path]] | None = field(default=None, compare=False)
    packed: bool = False  # Linux's packed driver too (conformance/ring/linux_vring/linux_packed.h)

    def digest(self) -> str:
        h = hashlib.sha256()
        for path in (*self.sources, *self.extra, *(HERE / s for s in HOOK_SOURCES), ABI_HEADER):
            h.update(str(path).encode())
            h.update(path.read_bytes())
        h.update("|".join((*self.cflags, *map(str, self.include_dirs))).encode())
        h.update(f"packed={self.packed}".encode())
        h.update(sys.implementation.cache_tag.encode())
        return h.hexdigest()[:12]

    def module_name(self) -> str:
        safe = "".join(c if c.isalnum() else "_" for c in self.name.lower())
        return f"_vs_tsan_{safe}_{self.digest()}"


def compile_objects(recipe: Recipe, work: Path) -> list[Path]:
    """Each source of ``recipe`` compiled with the TSan instrumentation into ``work``."""
    cc = c_build.find_compiler(f"the stepped build of {recipe.name}")
    objs = [] if recipe.objects is None else recipe.objects(work)
    for obj in objs:
        _rename(obj)
    for k, src in enumerate(recipe.sources):
        obj = work / f"{k}_{src.stem}.o"
        cmd = [*cc, *TSAN_FLAGS, f"-I{ABI_HEADER.parent}",
               *(f"-I{d}" for d in recipe.include_dirs), *recipe.cflags, "-c", str(src),
               "-o", str(obj)]
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise BuildError(f"{src} does not compile for the stepped build: "
                             f"{(done.stderr.strip().splitlines() or ['?'])[-1]}\n"
                             f"command: {' '.join(cmd)}\n{done.stderr}")
        _rename(obj)
        objs.append(obj)
    return objs


def _rename(obj: Path) -> None:
    renames = [a for f in RENAMED for a in ("--redefine-sym", f"{f}=vs_tsan_{f}")]
    subprocess.run(["objcopy", *renames, str(obj)], check=True)


def make_ffi(recipe: Recipe, objects: Sequence[Path]) -> FFI:
    ffi = FFI()
    cdef = c_build.header_cdef(ABI_HEADER) + ENTRY_CDEF
    source = ('#include "virtiospec_ring.h"\n#define VS_TSAN_CALLBACK vs_py_access\n'
              '#include "tsan_hooks.c"\n#include "ring_entries.c"\n')
    if recipe.packed:
        cdef += c_build.header_cdef(LINUX_PACKED_H) + PACKED_CDEF
        source += '#include "packed_entries.c"\n'
    ffi.cdef(cdef)
    ffi.set_source(recipe.module_name(), source,
                   include_dirs=[str(HERE), str(ABI_HEADER.parent), str(LINUX_PACKED_H.parent)],
                   extra_compile_args=[*c_build.STRICT, "-O2"],
                   extra_objects=[str(o) for o in objects],
                   extra_link_args=["-Wl,-Bsymbolic"])
    return ffi


def compile_module(recipe: Recipe) -> Path:
    """The cffi module of ``recipe`` (compiled once per source version); its path."""
    cache = c_build.cache_dir("tsan-step")
    name = recipe.module_name()
    done = [p for p in cache.glob(f"{name}.*") if p.suffix == ".so"]
    if done:
        return done[0]
    work = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=cache))
    try:
        ffi = make_ffi(recipe, compile_objects(recipe, work))
        built = Path(ffi.compile(tmpdir=str(work)))
        final = cache / built.name
        os.replace(built, final)
        return final
    finally:
        shutil.rmtree(work, ignore_errors=True)
