"""What the stepped C builds share: loading one, and stepping its operations access by access.

A stepped build (``-DVS_STEPPED``: reference/ring/c/build.py, ring_packed_c_build.py,
shm_c_build.py) sends every load, store and barrier of the C code to a Python callback,
which hands it to the object behind the C handle (``on_access``). :class:`SteppedModule`
loads one compiled build and binds that callback.

The rings (reference/ring/c/stepped.py, ring_packed_c_stepped.py) run each C operation in
a worker thread (:class:`_Call`) and turn it into an ``Op`` generator of the access protocol
(reference/access.py) in :class:`ThreadedSide`: at each access the callback hands a
:class:`Load`, :class:`Store` or :class:`Fence` to the generator, which yields it and passes
the value sent back (a load's result) to the callback, which returns it to C. When the C
function returns, the generator returns its result (or raises the error of the Python
reference with the same ``req``). shm.c (reference/shm/c/stepped.py) replays its operations instead.

An operation abandoned mid-way (a Hypothesis example ends; the generator is closed or
collected) is aborted: the callback returns "abort", the C side longjmps out of the
operation, and the worker thread ends; starting an operation on a side whose previous one
is still suspended aborts that one first.
"""

from __future__ import annotations

import gc
import importlib.util
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from virtiospec.reference.access import Access, Fence, FenceKind, Load, Op, Store


class Aborted(RuntimeError):
    """A stepped operation was abandoned by its checker (the C libraries' E_ABORTED code:
    VIRTIOSPEC_RING_E_ABORTED, VS_SHM_E_ABORTED)."""


LOAD, STORE, FENCE = 0, 1, 2
FENCES: tuple[FenceKind, ...] = ("mb", "wmb", "rmb")
JOIN_SECONDS = 10.0
MAX_SUSPENDED = 64  # more suspended operations than this: collect the abandoned ones


class SteppedModule:
    """One compiled stepped module (the reference, or one mutant), with its callback
    ``callback`` bound: it hands each access to ``on_access`` of the object behind the
    handle the C call was given."""

    def __init__(self, mutant: str | None, path: Path, callback: str = "vs_py_access") -> None:
        self.mutant = mutant
        spec = importlib.util.spec_from_file_location(path.name.split(".")[0], path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        self.path: Path = path
        self.ffi: Any = module.ffi
        self.lib: Any = module.lib
        ffi = self.ffi

        def on_error(exc_type: type, exc: BaseException, tb: object) -> None:
            return None  # on_access records its errors; the C side aborts (result 1)

        def vs_py_access(py: Any, kind: int, addr: int, size: int, value: int,
                         loaded: Any) -> int:
            target: Any = ffi.from_handle(py)
            return int(target.on_access(kind, addr, size, value, loaded))

        ffi.def_extern(name=callback, onerror=on_error, error=1)(vs_py_access)


@dataclass(frozen=True, slots=True)
class _Finished:
    rc: int


_ABORT = object()
_LIVE: set[_Call] = set()  # operations started and not finished (each holds a thread)
_LIVE_LOCK = threading.Lock()


def live_operations() -> int:
    """C operations started and not yet finished or aborted (one worker thread each)."""
    with _LIVE_LOCK:
        return len(_LIVE)


def abort_all() -> None:
    """Abort every suspended C operation (e.g. when a checker discards its machines)."""
    with _LIVE_LOCK:
        calls = list(_LIVE)
    for call in calls:
        call.abort()


class _Call:
    """One C operation running in its own worker thread, handing over each access."""

    def __init__(self, fn: Callable[..., int], args: tuple[Any, ...], ffi: Any) -> None:
        self.fn, self.args = fn, args
        self.handle = ffi.new_handle(self)
        self.to_checker: queue.SimpleQueue[Access | _Finished] = queue.SimpleQueue()
        self.to_c: queue.SimpleQueue[object] = queue.SimpleQueue()
        self.abandoned = False
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._work, name="ring.c stepped op", daemon=True)

    def start(self) -> None:
        if live_operations() >= MAX_SUSPENDED:
            gc.collect()  # generators of abandoned examples: closing them aborts their calls
        with _LIVE_LOCK:
            _LIVE.add(self)
        self.thread.start()

    def _work(self) -> None:
        try:
            rc = self.fn(self.handle, *self.args)
        except BaseException as err:  # pragma: no cover - cffi reports via onerror
            self.error = err
            rc = -18
        finally:
            with _LIVE_LOCK:
                _LIVE.discard(self)
        self.to_checker.put(_Finished(rc))

    def on_access(self, kind: int, addr: int, size: int, value: int, loaded: Any) -> int:
        """In the worker thread, from C: hand over one access; 0 = go on, 1 = abort."""
        try:
            if self.abandoned:
                return 1
            if kind == LOAD:
                access: Access = Load(addr, size)
            elif kind == STORE:
                access = Store(addr, size, value)
            else:
                access = Fence(FENCES[value])
            self.to_checker.put(access)
            reply = self.to_c.get()
            if reply is _ABORT:
                return 1
            if kind == LOAD:
                if not isinstance(reply, int):
                    raise TypeError(f"a load of {size} bytes at {addr:#x} was answered with "
                                    f"{reply!r}, not an int")
                loaded[0] = reply & ((1 << (8 * size)) - 1)
            return 0
        except BaseException as err:
            self.error = err
            return 1

    def abort(self) -> None:
        """From the checker: the operation is abandoned; let the C side unwind and wait."""
        if self.abandoned or not self.thread.is_alive():
            return
        self.abandoned = True
        self.to_c.put(_ABORT)
        if self.thread is not threading.current_thread():
            self.thread.join(JOIN_SECONDS)


class ThreadedSide:
    """What the sides of a ring share: the build, the state block, one operation at a time.

    A subclass names its C functions (``vs_stepped_<prefix><name>``, reported as
    ``vs_<prefix><name>``), the code its C side returns when aborted, and how its build,
    its results and its error codes are had."""

    default_mutant: ClassVar[str | None] = None  # a subclass may bind a mutant build
    prefix: ClassVar[str] = ""
    aborted: ClassVar[int]
    _state: Any

    def __init__(self, build: SteppedModule | None, mutant: str | None) -> None:
        if build is None:
            build = self._stepped_build(mutant if mutant is not None else self.default_mutant)
        self.build = build
        self.ffi, self.lib = build.ffi, build.lib
        self._current: _Call | None = None

    @staticmethod
    def _stepped_build(mutant: str | None) -> SteppedModule:
        raise NotImplementedError

    @staticmethod
    def _check(rc: int, what: str) -> int:
        raise NotImplementedError

    @staticmethod
    def _error(code: int) -> Exception:
        raise NotImplementedError

    def _op(self, name: str, *args: Any) -> Op[int]:
        """Run ``vs_stepped_<prefix><name>(handle, state, *args)`` as an Op; returns its
        result."""
        if self._current is not None:  # the previous operation was abandoned: unwind it
            self._current.abort()
            self._current = None
        call = _Call(getattr(self.lib, f"vs_stepped_{self.prefix}{name}"),
                     (self._state, *args), self.ffi)
        self._current = call
        call.start()
        finished: _Finished | None = None
        try:
            while True:
                msg = call.to_checker.get()
                if isinstance(msg, _Finished):
                    finished = msg
                    break
                call.to_c.put((yield msg))
        finally:
            if finished is None:
                call.abort()
            else:
                call.thread.join(JOIN_SECONDS)
            if self._current is call:
                self._current = None
        if call.error is not None:
            raise call.error
        if finished.rc == -self.aborted:
            raise Aborted(f"vs_{self.prefix}{name} was aborted")
        return self._check(finished.rc, f"vs_{self.prefix}{name}")

    def close(self) -> None:
        """Abort an operation left suspended (also done when the next one starts)."""
        if self._current is not None:
            self._current.abort()
            self._current = None

    def _broken(self, code: int) -> Exception | None:
        """The error of the library's "broken" code (0: not broken)."""
        return None if code == 0 else self._error(-code)
