"""Linux's own ring code built in user space behind virtiospec_ring.h (``--target linux-vring``).

drivers/virtio/virtio_ring.c (the driver side) and drivers/vhost/vringh.c (the device side)
are compiled the way ``make -C tools/virtio vringh_test`` compiles them (tools/virtio's
user-space shims, ``-D'data_race(e)=(e)'`` which 6.1 lacks), each inside a glue file of
ours (driver_glue.c, device_glue.c beside this module) that implements the ABI of
conformance/ring/virtiospec_ring.h on top of Linux's functions; include/linux/ here replaces two
of tools/virtio's shims (the log, so that vringh's refusal reasons reach the glue).

Reusable API (signatures stable; other builds, such as a TSan-hooked stepped build, call it):

``linux_tree(src: str | Path | None = None) -> Path``
    A Linux source tree holding what the build needs. ``None``: Debian's linux-source-6.1
    (DEFAULT_TARBALL), extracted once into the cache (only the ~80 files needed). A
    directory: used in place (a kernel checkout or an unpacked tree). A ``.tar[.xz|.gz|.bz2]``
    file: extracted like the default. Raises :class:`LinuxSourceError` (one line) when the
    source is missing or lacks a needed file.

``compile_objects(tree: Path, out_dir: Path, cflags: Sequence[str] = DEFAULT_CFLAGS,
cc: Sequence[str] | None = None) -> list[Path]``
    Compiles driver_glue.c (which #includes virtio_ring.c) and device_glue.c (which
    #includes vringh.c) into ``out_dir/driver_glue.o`` and ``out_dir/device_glue.o``, with
    :func:`base_flags` (include paths, tools/virtio's flags, -fPIC -fvisibility=hidden)
    followed by ``cflags`` (e.g. ``["-O1", "-fsanitize=thread", "--param",
    "tsan-distinguish-volatile=1"]``). Returns the two object paths. Raises
    :class:`LinuxBuildError` with the compiler's first error line.

``build_library(src: str | Path | None = None, out: Path | None = None,
cflags: Sequence[str] = DEFAULT_CFLAGS, ldflags: Sequence[str] = (),
extra_objects: Sequence[Path] = ()) -> Path``
    :func:`linux_tree` + :func:`compile_objects` + link into a shared library exporting
    exactly the functions of virtiospec_ring.h (plus whatever ``extra_objects`` export).
    Without ``out`` the library is cached per content (sources, flags, compiler) and reused.

The Linux sources are GPL-2.0; they are compiled on the user's machine from the user's copy
and never stored in this repository.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

from virtiospec.reference import c_build

HERE = Path(__file__).resolve().parent  # conformance/ring/linux_vring/
ABI_DIR = HERE.parent  # conformance/: virtiospec_ring.h
GLUE = ("driver_glue.c", "device_glue.c")
OURS = (*GLUE, "shim.h", "driver_packed.c", "linux_packed.h", "include/linux/printk.h",
        "include/linux/ratelimit.h")
DEFAULT_TARBALL = Path("/usr/src/linux-source-6.1.tar.xz")
DEFAULT_CFLAGS: tuple[str, ...] = ("-O2", "-g")
# tools/virtio/Makefile's flags, and the definition 6.1's user-space build lacks.
LINUX_FLAGS = ("-Wall", "-Werror", "-Wno-maybe-uninitialized", "-Wno-pointer-sign",
               "-fno-strict-overflow", "-fno-strict-aliasing", "-fno-common",
               "-U_FORTIFY_SOURCE", "-pthread", "-Ddata_race(e)=(e)")
# What the build reads from a Linux tree (the tarball members are extracted by these).
NEEDED = ("drivers/virtio/virtio_ring.c", "drivers/vhost/vringh.c", "include/linux/kconfig.h",
          "tools/virtio/linux/kernel.h", "tools/virtio/asm/barrier.h",
          "tools/include/linux/types.h", "include/linux/vringh.h",
          "include/uapi/linux/virtio_ring.h")
MEMBERS = ("tools/virtio/*", "tools/include/*", "drivers/virtio/virtio_ring.c",
           "drivers/vhost/vringh.c", "include/linux/kconfig.h", "include/linux/byteorder/*",
           "include/linux/virtio_byteorder.h", "include/linux/irqreturn.h",
           "include/linux/kern_levels.h", "include/linux/uio.h", "include/linux/virtio_ring.h",
           "include/linux/vringh.h", "include/uapi/linux/virtio_types.h",
           "include/uapi/linux/virtio_config.h", "include/uapi/linux/virtio_ring.h",
           "include/uapi/linux/uio.h", "include/uapi/linux/const.h")
WHAT = "Linux's virtio_ring.c and vringh.c (--target linux-vring)"


class LinuxSourceError(ValueError):
    """The Linux source is missing or incomplete (one line, for the command line)."""


class LinuxBuildError(ValueError):
    """Linux's ring code did not compile or link with the glue (one line)."""


def cache_dir() -> Path:
    """Where extracted trees and built libraries go ($VIRTIOSPEC_CACHE, else a temp folder)."""
    return c_build.cache_dir("linux-vring")


def _missing(tree: Path) -> list[str]:
    return [n for n in NEEDED if not (tree / n).is_file()]


def _extract(tarball: Path) -> Path:
    st = tarball.stat()
    key = hashlib.sha256(f"{tarball.resolve()}|{st.st_size}|{st.st_mtime_ns}|{MEMBERS}"
                         .encode()).hexdigest()[:12]
    final = cache_dir() / f"tree-{tarball.name.split('.tar')[0]}-{key}"
    if final.is_dir() and not _missing(final):
        return final
    work = Path(tempfile.mkdtemp(prefix="extract-", dir=cache_dir()))
    try:
        cmd = ["tar", "-xf", str(tarball), "-C", str(work), "--strip-components=1",
               "--wildcards", *(f"*/{m}" for m in MEMBERS)]
        subprocess.run(["nice", "-n", "10", *cmd], check=True, capture_output=True)
        if missing := _missing(work):
            raise LinuxSourceError(f"{tarball} has no {missing[0]}: not a Linux source tarball")
        try:
            os.replace(work, final)
        except OSError:  # another process extracted it first
            if _missing(final):
                raise
        return final
    except subprocess.CalledProcessError as err:
        msg = err.stderr.decode(errors="replace").strip().splitlines()
        raise LinuxSourceError(f"cannot extract {tarball}: {msg[0] if msg else err}") from None
    finally:
        shutil.rmtree(work, ignore_errors=True)


def linux_tree(src: str | Path | None = None) -> Path:
    """A Linux tree with everything in NEEDED (see the module docstring)."""
    if src is None or str(src) == "":
        if not DEFAULT_TARBALL.is_file():
            raise LinuxSourceError(f"{DEFAULT_TARBALL} not found: install Debian's "
                                   "linux-source-6.1 (apt-get install linux-source-6.1), or "
                                   "give a tree: --target linux-vring:/path/to/linux")
        return _extract(DEFAULT_TARBALL)
    path = Path(src).expanduser().resolve()
    if path.is_file() and ".tar" in path.name:
        return _extract(path)
    if not path.is_dir():
        raise LinuxSourceError(f"linux-vring: no such Linux tree or tarball {path}")
    if missing := _missing(path):
        raise LinuxSourceError(f"linux-vring: {path} is not a Linux tree with the ring code "
                               f"(no {missing[0]})")
    return path


def base_flags(tree: Path) -> list[str]:
    """Include paths and flags of every glue compile, before the caller's cflags."""
    return [f"-I{HERE / 'include'}", f"-I{tree / 'tools/virtio'}", f"-I{tree / 'tools/include'}",
            f"-iquote{tree}", f"-I{ABI_DIR}", "-include", str(tree / "include/linux/kconfig.h"),
            *LINUX_FLAGS, "-fPIC", "-fvisibility=hidden"]


def find_compiler() -> list[str]:
    """$CC, else Python's configured compiler, else cc (checked to exist)."""
    return c_build.find_compiler(WHAT)


def _run(cmd: list[str], what: str) -> None:
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        lines = [ln for ln in done.stderr.splitlines() if "error" in ln] or \
            done.stderr.splitlines() or [f"exit status {done.returncode}"]
        raise LinuxBuildError(f"{what} failed: {lines[0].strip()}")


def compile_objects(tree: Path, out_dir: Path, cflags: Sequence[str] = DEFAULT_CFLAGS,
                    cc: Sequence[str] | None = None) -> list[Path]:
    """driver_glue.o and device_glue.o in out_dir (see the module docstring)."""
    compiler = list(cc) if cc is not None else find_compiler()
    out_dir.mkdir(parents=True, exist_ok=True)
    objects = []
    for glue in GLUE:
        obj = out_dir / glue.replace(".c", ".o")
        linux = "virtio_ring.c" if glue.startswith("driver") else "vringh.c"
        _run([*compiler, *base_flags(tree), *cflags, "-c", str(HERE / glue), "-o", str(obj)],
             f"compiling {linux} from {tree} with {glue}")
        objects.append(obj)
    return objects


def _digest(tree: Path, cflags: Sequence[str], ldflags: Sequence[str],
            extra: Sequence[Path], compiler: Sequence[str]) -> str:
    h = hashlib.sha256()
    files = [HERE / f for f in OURS] + [ABI_DIR / "virtiospec_ring.h"]
    files += [tree / n for n in ("drivers/virtio/virtio_ring.c", "drivers/vhost/vringh.c")]
    files += sorted((tree / "tools/virtio").rglob("*.h")) + [Path(p) for p in extra]
    for f in files:
        h.update(str(f.relative_to(tree) if f.is_relative_to(tree) else f.name).encode())
        h.update(f.read_bytes())
    h.update(repr((list(cflags), list(ldflags), list(compiler))).encode())
    return h.hexdigest()[:16]


def build_library(src: str | Path | None = None, out: Path | None = None,
                  cflags: Sequence[str] = DEFAULT_CFLAGS, ldflags: Sequence[str] = (),
                  extra_objects: Sequence[Path] = ()) -> Path:
    """The shared library of Linux's ring code behind virtiospec_ring.h (module docstring)."""
    tree = linux_tree(src)
    compiler = find_compiler()
    if out is None:
        key = _digest(tree, cflags, ldflags, extra_objects, compiler)
        out = cache_dir() / f"liblinux_vring-{key}.so"
        if out.is_file():
            return out
    out = Path(out).resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="build-", dir=out.parent))
    try:
        objects = compile_objects(tree, work, cflags, compiler)
        lib = work / out.name
        _run([*compiler, "-shared", "-pthread", *cflags, *map(str, objects),
              *map(str, extra_objects), *ldflags, "-o", str(lib)], f"linking {out.name}")
        os.replace(lib, out)
        return out
    finally:
        shutil.rmtree(work, ignore_errors=True)
