"""What the builds of the C references share (reference/ring/c/build.py, reference/shm/c/build.py,
reference/vhost_user/c/build.py, ...): where the C sources are, finding the C compiler, the
warning flags, reading a header's cdef block, and compiling a stepped build once into a
per-user cache.

The C sources live with their layer: reference/ring.c (the place the design card fixes) with
ring.h and the access macros every C layer shares (ring_access.h, stepped_access.h) here,
the rest of the rings' C in reference/ring/c/, the table and shm-signal in reference/shm/c/,
the vhost-user fast path in reference/vhost_user/c/, and the C ABIs that other libraries
implement in conformance/ring/ and conformance/shm/. :data:`C_DIRS` lists those folders (every
build passes them all as include directories, so a C file includes another by name) and
:func:`src` finds a file by name in them.

The build files are run by cffi at install time (setup.py's ``cffi_modules``), before the
package exists, so this file imports only the standard library and cffi, and they import it
as ``from virtiospec.reference import c_build`` when they are part of the package, else load
it by its path (see reference/ring/c/build.py).
"""

from __future__ import annotations

import hashlib
import os
import shlex
import shutil
import sys
import sysconfig
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path

from cffi import FFI

REFERENCE = Path(__file__).resolve().parent
#: every folder holding C of the reference or a C ABI header, searched in this order.
C_DIRS: tuple[Path, ...] = (
    REFERENCE, REFERENCE / "ring" / "c", REFERENCE / "shm" / "c", REFERENCE / "vhost_user" / "c",
    REFERENCE.parent / "conformance" / "ring", REFERENCE.parent / "conformance" / "shm")


def src(name: str) -> Path:
    """The C source or header ``name`` (e.g. ``"ring_abi.c"``) in its layer's folder."""
    for folder in C_DIRS:
        if (folder / name).is_file():
            return folder / name
    raise FileNotFoundError(f"no C file {name!r} in {', '.join(map(str, C_DIRS))}")


def include_flags() -> list[str]:
    """``-I`` for every folder of :data:`C_DIRS`."""
    return [f"-I{d}" for d in C_DIRS]


WARNINGS = ("-std=c11", "-Wall", "-Wextra")
STRICT = (*WARNINGS, "-Werror")


class MissingCompiler(RuntimeError):
    """No C compiler: a C reference cannot be built."""


def find_compiler(what: str, env: Mapping[str, str] | None = None,
                  which: Callable[[str], str | None] = shutil.which) -> list[str]:
    """The C compiler command (``$CC``, else Python's configured one, else ``cc``), checked to
    exist on PATH. Raises :class:`MissingCompiler` naming the missing program and ``what``
    (e.g. "its C reference of the split ring (...)") needed it."""
    env = os.environ if env is None else env
    cc = env.get("CC") or sysconfig.get_config_var("CC") or "cc"
    words = shlex.split(cc)
    if not words or which(words[0]) is None:
        name = words[0] if words else "(empty $CC)"
        raise MissingCompiler(
            f"virtiospec builds {what} with a C compiler, but {name!r} was not found on "
            "PATH. Install a C compiler (Debian/Ubuntu: apt-get install gcc; Fedora: dnf "
            "install gcc; macOS: xcode-select --install) or point $CC at one, then try again.")
    return words


def header_cdef(header: Path) -> str:
    """The declarations of a header that cffi reads (between cdef-begin and cdef-end)."""
    text = header.read_text(encoding="utf-8")
    start = text.index("/* cdef-begin */") + len("/* cdef-begin */")
    return text[start : text.index("/* cdef-end */")]


def rel(path: Path) -> str:
    """Source paths relative to the current directory when below it (setuptools prefers so)."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


# -- stepped builds -------------------------------------------------------------------------

def stepped_defines(mutant: str | None, mutants: Sequence[str], switch: str,
                    prefix: str) -> str:
    """``#define VS_STEPPED 1``, and for a known mutant ``#define <switch> <prefix><mutant>``;
    ValueError for an unknown one."""
    if mutant is not None and mutant not in mutants:
        raise ValueError(f"unknown C mutant {mutant!r}; known: {', '.join(mutants)}")
    defines = "#define VS_STEPPED 1\n"
    if mutant:
        defines += f"#define {switch} {prefix}{mutant}\n"
    return defines


def stepped_module_name(kind: str, sources: Iterable[Path], cdef: str,
                        mutant: str | None) -> str:
    """A module name ``_vs_<kind>_stepped_<variant>_<hash>`` unique to the sources, the cdef,
    the variant, cffi and this Python."""
    import cffi

    h = hashlib.sha256()
    for path in sources:
        h.update(path.read_bytes())
    h.update(cdef.encode())
    h.update(f"{mutant}|{sys.implementation.cache_tag}|{cffi.__version__}".encode())
    return f"_vs_{kind}_stepped_{(mutant or 'reference').lower()}_{h.hexdigest()[:12]}"


def stepped_ffi(module: str, cdef: str, source: str, include_dir: Path) -> FFI:
    """A cffi builder of one stepped build: ``source`` includes the C files, compiled strict."""
    ffi = FFI()
    ffi.cdef(cdef)
    ffi.set_source(module, source, include_dirs=[str(include_dir), *map(str, C_DIRS)],
                   extra_compile_args=[*STRICT, "-O1"])
    return ffi


def cache_dir(kind: str) -> Path:
    """Where run-time builds go: $VIRTIOSPEC_CACHE, else a per-user folder
    ``virtiospec-<kind>-<uid>`` in the temp dir."""
    base = os.environ.get("VIRTIOSPEC_CACHE")
    uid = os.getuid() if hasattr(os, "getuid") else 0
    path = Path(base) if base else Path(tempfile.gettempdir()) / f"virtiospec-{kind}-{uid}"
    path.mkdir(parents=True, exist_ok=True)
    return path


def compile_once(name: str, make_ffi: Callable[[], FFI], cache: Path,
                 check_compiler: Callable[[], object]) -> Path:
    """Compile (once per ``name``) the extension that ``make_ffi`` describes into ``cache``;
    returns its path. Each build runs in its own temp dir and is renamed into the cache, so
    concurrent processes never see a half-written module."""
    done = [p for p in cache.glob(f"{name}.*") if p.suffix in (".so", ".pyd")]
    if done:
        return done[0]
    check_compiler()
    ffi = make_ffi()
    work = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=cache))
    try:
        built = Path(ffi.compile(tmpdir=str(work)))
        final = cache / built.name
        os.replace(built, final)
        return final
    finally:
        shutil.rmtree(work, ignore_errors=True)
