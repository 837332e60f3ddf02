"""What the tests of the C references share (test_ring_c.py, test_shm_c.py): the C compiler
and its ASan/UBSan workload, the message naming a missing compiler, and stepping a C
operation beside the Python one (lock step) or against another over one memory."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Callable, Generator, Sequence
from pathlib import Path
from typing import Any

import pytest
from virtiospec.reference import c_build
from virtiospec.reference.access import Fence, GuestMemory, Load, Op, Store
from virtiospec.reference.c_build import STRICT

TESTS = Path(__file__).resolve().parent
REFERENCE = TESTS.parent / "reference"
CC = shutil.which("cc") or shutil.which("gcc")
needs_cc = pytest.mark.skipif(CC is None, reason="no C compiler")
SANITIZE = ("-fsanitize=address,undefined", "-fno-sanitize-recover=all",
            "-fno-omit-frame-pointer")


def cc(*args: str, out: Path, include: Sequence[Path] = c_build.C_DIRS,
       ) -> subprocess.CompletedProcess[str]:
    """``cc ARGS -I<include>... -o OUT``, its output captured."""
    assert CC is not None
    return subprocess.run([CC, *args, *(f"-I{d}" for d in include), "-o", str(out)],
                          capture_output=True, text=True)


def check_compiles_cleanly(tmp_path: Path, source: Path, variant: str, mutants: Sequence[str],
                           mutant_define: str, include: Sequence[Path] = c_build.C_DIRS) -> None:
    """C11, -Wall -Wextra -Werror -pedantic: ``source`` as the reference (``variant``
    "reference"), the stepped build ("stepped"), or one of ``mutants``, normal and stepped
    (``-D<mutant_define>`` formatted with the mutant's name)."""
    flags = {"reference": [], "stepped": ["-DVS_STEPPED"]}.get(
        variant, [f"-D{mutant_define.format(variant)}"])
    for extra in ([], ["-DVS_STEPPED"]) if variant in mutants else ([],):
        done = cc(*STRICT, "-pedantic", "-O2", *flags, *extra, "-c", str(source),
                  out=tmp_path / f"{source.stem}.o", include=include)
        assert done.returncode == 0, done.stderr


def check_sanitized_workload(tmp_path: Path, *args: str, name: str,
                             include: Sequence[Path] = c_build.C_DIRS, timeout: int = 120) -> None:
    """Build a program from ``args`` (flags and sources) -- C11, -Wall -Wextra -Werror, -g
    -O1, ASan and UBSan -- and run it: it must exit 0 and print ``<name>: ok``. Skips when
    the compiler has no sanitizer runtime."""
    probe = tmp_path / "probe.c"
    probe.write_text("int main(void) { return 0; }\n")
    if cc(*SANITIZE, str(probe), out=tmp_path / "probe", include=include).returncode != 0:
        pytest.skip("the compiler has no ASan/UBSan runtime")
    exe = tmp_path / "workload"
    done = cc(*STRICT, "-g", "-O1", *SANITIZE, *args, out=exe, include=include)
    assert done.returncode == 0, done.stderr
    ran = subprocess.run([str(exe)], capture_output=True, text=True, timeout=timeout,
                         env={"ASAN_OPTIONS": "detect_leaks=1:abort_on_error=1",
                              "UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=1"})
    assert ran.returncode == 0 and f"{name}: ok" in ran.stdout, ran.stdout + ran.stderr


def check_missing_compiler_is_named(find_compiler: Callable[..., list[str]],
                                    missing: type[Exception], what: str) -> None:
    """A build's ``find_compiler`` names the missing program and ``what`` it builds, and
    returns $CC split into words when it is found."""
    with pytest.raises(missing, match="'no-such-cc' was not found on PATH"):
        find_compiler({"CC": "no-such-cc -O2"}, which=lambda _name: None)
    with pytest.raises(missing, match=rf"{re.escape(what)} .*apt-get install gcc"):
        find_compiler({"CC": "cc"}, which=lambda _name: None)
    assert find_compiler({"CC": "mycc -m64"}, which=lambda n: f"/usr/bin/{n}") == ["mycc",
                                                                                   "-m64"]


def lockstep(py_op: Op[Any], c_op: Op[Any], py_mem: GuestMemory, c_mem: GuestMemory,
             ) -> tuple[str, object]:
    """Run two operations side by side; every access must be the same, and so must the
    result or the error (class and req). Returns ("ok", result) or ("err", (class, req))."""
    try:
        sent: list[int | None] = [None, None]
        while True:
            out: list[tuple[str, Any]] = []
            for k, (op, mem) in enumerate(((py_op, py_mem), (c_op, c_mem))):
                try:
                    access = op.send(sent[k])
                except StopIteration as done:
                    out.append(("ok", done.value))
                    continue
                except Exception as err:
                    out.append(("err", (type(err).__name__, getattr(err, "req", None))))
                    continue
                out.append(("access", access))
                if isinstance(access, Load):
                    sent[k] = mem.read(access.addr, access.size)
                else:
                    if isinstance(access, Store):
                        mem.write(access.addr, access.size, access.value)
                    else:
                        assert isinstance(access, Fence)
                    sent[k] = None
            assert out[0] == out[1], f"Python {out[0]} but C {out[1]}"
            if out[0][0] != "access":
                return out[0]
    finally:
        py_op.close()
        c_op.close()  # a C call left suspended by a failure is aborted now


LINUX_RING_H = Path("/usr/include/linux/virtio_ring.h")


def linux_ring_helper(tmp_path_factory: pytest.TempPathFactory, name: str, cdef: str,
                      source: str) -> tuple[Any, Any]:
    """``(ffi, lib)`` of ``source``, which includes linux/virtio_ring.h, compiled with cffi as
    module ``name``: what the layout tests compare the reference's layout with."""
    if not LINUX_RING_H.exists():
        pytest.fail(f"{LINUX_RING_H} is missing: install linux-libc-dev (make system-deps)")
    import importlib.util

    import cffi

    ffi = cffi.FFI()
    ffi.cdef(cdef)
    ffi.set_source(name, source)
    lib_path = ffi.compile(tmpdir=str(tmp_path_factory.mktemp(name)))
    spec = importlib.util.spec_from_file_location(name, lib_path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.ffi, module.lib


def twin_sides(lay: Any, sides: tuple[type, type, type, type], event_idx: bool,
               indirect_area: int | None, memory_size: int
               ) -> tuple[tuple[GuestMemory, GuestMemory], tuple[Any, Any], tuple[Any, Any]]:
    """For the differential tests: a memory each for the Python and the C side, and
    ``(drivers, devices)``, each pair (Python, C), built from ``sides`` = (Python driver, C
    driver, Python device, C device) over ``lay`` (indirect tables of 3 entries at
    ``indirect_area`` when given)."""
    py_drv, c_drv, py_dev, c_dev = sides
    indirect = indirect_area is not None
    drivers = (py_drv(lay, event_idx=event_idx, indirect_area=indirect_area, indirect_max=3),
               c_drv(lay, event_idx=event_idx, indirect_area=indirect_area, indirect_max=3,
                     memory_size=memory_size))
    devices = (py_dev(lay, memory_size, event_idx=event_idx, indirect=indirect),
               c_dev(lay, memory_size, event_idx=event_idx, indirect=indirect))
    return (GuestMemory(memory_size), GuestMemory(memory_size)), drivers, devices


Both = Callable[[Callable[[Any], Op[Any]], tuple[Any, Any]], object]


def lockstep_shared_op(op: tuple[Any, ...], both: Both, drivers: tuple[Any, Any],
                       devices: tuple[Any, Any], token: int, data_at: int) -> int | None:
    """One op of the split and packed differential tests (test_ring_c.py,
    test_ring_packed_c.py) that both rings take alike, run on the Python and the C side by
    ``both``: the driver's add (``op[1]`` readable and ``op[2]`` writable lengths, buffers from
    ``data_at`` on), kick, get_used, callback switches and detach; the device's pop and
    notification calls. Returns the token count after it, or None for any other op."""
    kind = op[0]
    if kind == "add":
        out = [(data_at + 0x100 * i, n) for i, n in enumerate(op[1])]
        in_ = [(data_at + 0x800 + 0x100 * i, n) for i, n in enumerate(op[2])]
        token += 1
        both(lambda d, o=out, i=in_, t=token: d.add(o, i, t), drivers)  # type: ignore[misc]
    elif kind == "kick":
        both(lambda d: d.kick_prepare(), drivers)
    elif kind == "get_used":
        both(lambda d: d.get_used(), drivers)
    elif kind in ("disable_cb", "enable_cb", "enable_cb_delayed"):
        both(lambda d, k=kind: getattr(d, k)(), drivers)  # type: ignore[misc]
    elif kind == "detach":
        assert drivers[0].detach_unused() == drivers[1].detach_unused()
    elif kind == "pop":
        both(lambda d: d.pop(), devices)
    elif kind in ("should_notify", "enable_notify", "disable_notify"):
        both(lambda d, k=kind: getattr(d, k)(), devices)  # type: ignore[misc]
    else:
        return None
    return token


def interleave(mem: GuestMemory, a: Op[Any], b: Op[Any], pattern: list[int],
               ends: tuple[type[Exception], ...] = ()) -> list[Any]:
    """Step two operations over one memory (SC), ``pattern[k]`` accesses of each in turn;
    returns both results (an exception of ``ends`` raised by one is its result)."""
    ops: list[Generator[Any, Any, Any]] = [a, b]
    sent: list[int | None] = [None, None]
    results: list[Any] = [None, None]
    done = [False, False]
    k = 0
    while not all(done):
        who = k % 2
        for _ in range(pattern[k % len(pattern)]):
            if done[who]:
                break
            try:
                access = ops[who].send(sent[who])
            except StopIteration as stop:
                done[who], results[who] = True, stop.value
                break
            except ends as err:
                done[who], results[who] = True, err
                break
            if isinstance(access, Load):
                sent[who] = mem.read(access.addr, access.size)
            else:
                if isinstance(access, Store):
                    mem.write(access.addr, access.size, access.value)
                sent[who] = None
        k += 1
    return results
