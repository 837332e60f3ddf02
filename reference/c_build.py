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
package exists, so this file imports only the standard library and cffi. They import it as
``from virtiospec.reference import c_build`` when they are part of the package; setup.py
loads it first under the name :data:`BUILD_TIME_NAME` for the time before (see
:func:`load_by_path`). Each build file keeps only its sources, names and cdef: the cffi
module ``pip install`` compiles (:func:`install_ffi`), the stepped build (:class:`Stepped`)
and the command line (:func:`main`) are made here.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shlex
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import partial
from pathlib import Path
from types import ModuleType

from cffi import FFI

REFERENCE = Path(__file__).resolve().parent
#: every folder holding C of the reference or a C ABI header, searched in this order.
C_DIRS: tuple[Path, ...] = (
    REFERENCE, REFERENCE / "ring" / "c", REFERENCE / "shm" / "c", REFERENCE / "vhost_user" / "c",
    REFERENCE.parent / "conformance" / "ring", REFERENCE.parent / "conformance" / "shm")


#: the name setup.py loads this file under before the package exists.
BUILD_TIME_NAME = "_vs_c_build"


def load_by_path(name: str, path: Path) -> ModuleType:
    """Load the Python file ``path`` as module ``name`` (and register it in sys.modules):
    how setup.py makes this file, and a build file the build of another one, importable
    while cffi runs the build files and the package does not exist yet."""
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


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


def compiler_for(what: str) -> Callable[..., list[str]]:
    """A build file's ``find_compiler(env=None, which=shutil.which)``: :func:`find_compiler`
    naming ``what`` (what the compiler is needed for)."""
    return partial(find_compiler, what)


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


def install_ffi(module: str, cdef: str, source: str, sources: Iterable[str],
                depends: Iterable[str] = (), extra_args: Sequence[str] = ()) -> FFI:
    """The cffi module ``module`` that ``pip install`` compiles (setup.py's ``cffi_modules``):
    ``cdef`` over ``source`` (the includes) and the C files named ``sources``, with the
    warnings and -O2 (and ``extra_args``); a change of a file in ``depends`` rebuilds it."""
    ffi = FFI()
    ffi.cdef(cdef)
    ffi.set_source(module, source, sources=[rel(src(s)) for s in sources],
                   depends=[rel(src(s)) for s in depends],
                   include_dirs=[rel(d) for d in C_DIRS],
                   extra_compile_args=[*WARNINGS, "-O2", *extra_args])
    return ffi


def build_lib(out: Path | str, sources: Iterable[str], cflags: Sequence[str],
              find: Callable[[], list[str]], defines: Sequence[str] = ()) -> Path:
    """Compile the C files named ``sources`` strict into a shared library ``out`` exporting
    only what they mark visible; returns its path."""
    out = Path(out).resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    cmd = [*find(), *STRICT, "-fPIC", "-shared", "-fvisibility=hidden", *cflags, *defines,
           *include_flags(), *(str(src(s)) for s in sources), "-o", str(out)]
    subprocess.run(cmd, check=True)
    return out


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


class Stepped:
    """The stepped build of one C reference: ``includes`` (the C files, ``-DVS_STEPPED``;
    the first one's folder searched first) compiled with ``cdef`` and, for a mutant ``M`` of
    ``mutants``, ``#define <switch> <prefix>M``; its module name hashes ``sources``; built
    once into the per-user cache ``cache`` (see :func:`compile_once`) with the compiler
    ``find`` names."""

    def __init__(self, kind: str, cache: str, sources: Sequence[str], cdef: str,
                 includes: Sequence[str], mutants: Sequence[str], switch: str, prefix: str,
                 find: Callable[[], list[str]]) -> None:
        self.kind, self.cache = kind, cache
        self.sources, self.cdef, self.includes = tuple(sources), cdef, tuple(includes)
        self.mutants, self.switch, self.prefix = tuple(mutants), switch, prefix
        self.find = find

    def module_name(self, mutant: str | None = None) -> str:
        """A module name unique to the sources, the variant, cffi and this Python."""
        return stepped_module_name(self.kind, (src(s) for s in self.sources), self.cdef,
                                   mutant)

    def ffi(self, mutant: str | None = None) -> FFI:
        """The C built with every access handed to Python (and one mutant switched on)."""
        defines = stepped_defines(mutant, self.mutants, self.switch, self.prefix)
        source = defines + "".join(f'#include "{name}"\n' for name in self.includes)
        return stepped_ffi(self.module_name(mutant), self.cdef, source,
                           src(self.includes[0]).parent)

    def cache_dir(self) -> Path:
        """Where run-time builds go: $VIRTIOSPEC_CACHE, else a per-user folder in the temp
        dir."""
        return cache_dir(self.cache)

    def compile(self, mutant: str | None = None) -> Path:
        """Compile (once per source version) the stepped build; returns the extension's
        path."""
        return compile_once(self.module_name(mutant), partial(self.ffi, mutant),
                            self.cache_dir(), self.find)


def main(argv: Sequence[str] | None, prog: str, stepped: Stepped,
         lib: Callable[[str, str | None], Path] | None = None, lib_mutant: bool = False) -> int:
    """A build file's command line: ``stepped reference|MUTANT`` prints the stepped build's
    path; with ``lib``, ``lib OUT.so`` (``[MUTANT]`` too when ``lib_mutant``) builds the
    shared library."""
    args = list(sys.argv[1:] if argv is None else argv)
    lib_args = (2, 3) if lib_mutant else (2,)
    if lib is not None and args[:1] == ["lib"] and len(args) in lib_args:
        print(lib(args[1], args[2] if len(args) == 3 else None))
        return 0
    if len(args) == 2 and args[0] == "stepped":
        print(stepped.compile(None if args[1] == "reference" else args[1]))
        return 0
    usage = [f"python -m {prog} stepped reference|MUTANT"]
    if lib is not None:
        usage.insert(0, f"python -m {prog} lib OUT.so" + (" [MUTANT]" if lib_mutant else ""))
    print("usage: " + "\n       ".join(usage), file=sys.stderr)
    return 2
