"""Stepping the stack's own code access by access: a call of reference/stack/ (the network
driver's ``send``, its interrupt handler, a device reset; the back-end's ``service``) run in a
worker thread, its accesses to one memory handed to a :class:`~models.tso.Side` one at a time.

The stack's code is synchronous (``run(op, mem)`` all the way down: reference/net, the
transport, the rings on shm), so it cannot be turned into a generator by hand without copying
it. Instead the side's memory is a :class:`SteppedMemory`: in the worker thread of the call
that runs now, each load and store of 1, 2, 4 or 8 bytes and each barrier (the hook of
:func:`~virtiospec.reference.access.run`) is handed to the machine's thread, which yields it
from :meth:`SteppedCall.program` and sends the value back; the worker waits meanwhile, so
exactly one of the two threads runs at any time and a run is as deterministic as a
generator's. The same scheme as the stepped C builds (reference/c_stepping.py).

What is stepped and what is not:

* shared memory (guest RAM and the shm region, as either side addresses it) is stepped: a
  load or store the machine performs under SC or x86-TSO, with the side's store buffer;
* a register access (the common configuration, the notify area, the device configuration,
  the MSI-X table: MMIO that is not the region) is a full barrier, performed as a step, and
  then the access itself, at once, in the worker (uncached MMIO is ordered after every
  earlier store and is not buffered);
* the bytes of a frame (``read_bytes``/``write_bytes``) go straight to memory: a buffer is
  only ever touched by the side that owns it at that moment, the ring's indices (stepped)
  hand it over.

A call abandoned mid-way (a run ends on a violation) is aborted: the worker's pending access
raises :class:`Aborted`, which no handler of the stack catches, and the thread ends.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import Any, Protocol

from virtiospec.models.memory.tso import Program
from virtiospec.reference.access import Access, Fence, FenceKind, Load, Store

JOIN_SECONDS = 10.0


class Aborted(BaseException):
    """Raised in a worker whose call the machine abandoned."""


class ByteMemory(Protocol):
    def read(self, addr: int, size: int) -> int: ...
    def write(self, addr: int, size: int, value: int) -> None: ...
    def read_bytes(self, addr: int, size: int) -> bytes: ...
    def write_bytes(self, addr: int, data: bytes) -> None: ...


_ABORT = object()


class SteppedCall:
    """``fn()`` in a worker thread; :meth:`program` is the side's program."""

    def __init__(self, fn: Callable[[], object], memory: SteppedMemory) -> None:
        self.fn = fn
        self.memory = memory
        self.to_main: queue.SimpleQueue[tuple[str, Any]] = queue.SimpleQueue()
        self.to_worker: queue.SimpleQueue[object] = queue.SimpleQueue()
        self.thread = threading.Thread(target=self._work, name="stack stepped call",
                                       daemon=True)
        self.done = False

    def _work(self) -> None:
        self.memory.owner = self
        try:
            result = self.fn()
        except Aborted:
            self.to_main.put(("aborted", None))
        except BaseException as err:  # handed to the machine's thread, raised there
            self.to_main.put(("error", err))
        else:
            self.to_main.put(("done", result))
        finally:
            if self.memory.owner is self:
                self.memory.owner = None

    def hand(self, access: Access) -> int | None:
        """In the worker: hand one access over and wait for the machine to perform it."""
        self.to_main.put(("access", access))
        reply = self.to_worker.get()
        if reply is _ABORT:
            raise Aborted
        assert reply is None or isinstance(reply, int)
        return reply

    def program(self) -> Program[object]:
        self.thread.start()
        try:
            while True:
                kind, item = self.to_main.get()
                if kind == "done":
                    self.done = True
                    return item
                if kind in ("error", "aborted"):
                    self.done = True
                    if kind == "error":
                        raise item
                    return None
                value = yield item
                self.to_worker.put(value)
        finally:
            if not self.done:  # closed at a yield: abort the worker
                self.to_worker.put(_ABORT)
                self.to_main.get()
                self.done = True
            self.thread.join(JOIN_SECONDS)


class SteppedMemory:
    """A side's memory: ``inner`` as the side reaches it; ``stepped(addr)``: whether an
    address is shared memory (stepped) rather than a register (barrier, then at once);
    ``tag``: added to the addresses the machine sees (the device's are apart from the
    driver's, as in models/stack/ring.py)."""

    def __init__(self, inner: ByteMemory, stepped: Callable[[int], bool], tag: int = 0,
                 note: Callable[[str], object] | None = None) -> None:
        self.inner = inner
        self.stepped = stepped
        self.tag = tag
        self.note = note  # told each register access, after its barrier
        self.owner: SteppedCall | None = None

    def _call(self) -> SteppedCall | None:
        owner = self.owner
        if owner is not None and owner.thread is threading.current_thread():
            return owner
        return None  # the machine itself, between steps: straight through

    def read(self, addr: int, size: int) -> int:
        call = self._call()
        if call is None:
            return self.inner.read(addr, size)
        if self.stepped(addr):
            value = call.hand(Load(addr + self.tag, size))
            assert value is not None
            return value
        call.hand(Fence("mb"))
        value = self.inner.read(addr, size)
        if self.note is not None:
            self.note(f"register read [{addr:#x}] -> {value:#x}")
        return value

    def write(self, addr: int, size: int, value: int) -> None:
        call = self._call()
        if call is None:
            self.inner.write(addr, size, value)
        elif self.stepped(addr):
            call.hand(Store(addr + self.tag, size, value))
        else:
            call.hand(Fence("mb"))
            if self.note is not None:
                self.note(f"register write [{addr:#x}] := {value:#x}")
            self.inner.write(addr, size, value)

    def barrier(self, kind: FenceKind) -> None:
        call = self._call()
        if call is not None:
            call.hand(Fence(kind))

    def read_bytes(self, addr: int, size: int) -> bytes:
        return self.inner.read_bytes(addr, size)

    def write_bytes(self, addr: int, data: bytes) -> None:
        self.inner.write_bytes(addr, data)

    def __getattr__(self, name: str) -> Any:  # size, check, ... of the memory it steps
        return getattr(self.inner, name)
