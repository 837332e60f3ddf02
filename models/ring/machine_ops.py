"""What the split and the packed ring machines share: the harness around a ring's operations.

models/machine_base.py holds what every driver/device machine shares (stepping, draining,
the end of a run). This module holds what the two ring machines (models/ring/machine.py,
models/ring/packed/machine.py) share on top of it, apart from what the spec makes
different: the memory they lay out (the ring, then indirect tables, then one data slot a
chain), the bytes the application and the device write, the set-up rule (what it draws is
the ring's: :meth:`_draws`), the driver's rules and operations that only call the reference
(``add``'s buffers, ``kick``, ``get``, ``disable_cb``, ``isr_sleep``, the re-check before
sleeping), the device's ``serve`` around a batch and popping and writing one chain
(:meth:`_pop_one`), and store ownership dispatched to the ring's own checks. What a ring's
layout, suppression and completion order decide (its descriptors and indices, ``sleep``, a
batch, the invariants) stays in the ring's machine.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, ClassVar, Protocol

from hypothesis import strategies as st
from hypothesis.stateful import initialize, precondition, rule
from virtiospec.models.hypothesis_run import Violation
from virtiospec.models.machine_base import DriverDeviceMachine, guarded
from virtiospec.models.memory.tso import (
    Action,
    AddressNames,
    Notify,
    Program,
    SharedMemory,
    Side,
    Wait,
)
from virtiospec.reference.access import GuestMemory, Load, Store, run
from virtiospec.reference.ring.device import Chain

Segment = tuple[int, int]
Draws = tuple[tuple[str, Sequence[Any]], ...]  # (label, choices) a run draws, in order
SLOT = 64  # bytes of data area per chain: up to 4 buffers of up to 16 bytes
MAX_BUF = 16
INDIRECT_MAX = 4
RUN = st.sampled_from(["", "to_load", "finish"])
SHAPE = st.lists(st.tuples(st.booleans(), st.integers(1, MAX_BUF)), min_size=1, max_size=3)


def out_pattern(token: int, n: int) -> bytes:
    """The bytes the application puts in the readable buffers of chain ``token``."""
    return bytes((token * 17 + 3 * i + 5) & 0xFF for i in range(n))


def reply_pattern(token: int, n: int) -> bytes:
    """The bytes the device writes to the writable buffers of chain ``token``."""
    return bytes((token * 29 + 7 * i + 1) & 0xFF for i in range(n))


def write_segments(segs: list[Segment], data: bytes) -> Program[None]:
    done = 0
    for addr, length in segs:
        for off in range(0, length, 8):
            piece = data[done + off : done + min(off + 8, length)]
            yield Store(addr + off, len(piece), int.from_bytes(piece, "little"))
        done += length


def read_segments(segs: list[Segment], n: int) -> Program[bytes]:
    """The first ``n`` bytes of a list of buffers, loaded 8 bytes at a time."""
    out = bytearray()
    for addr, length in segs:
        for off in range(0, min(length, n - len(out)), 8):
            size = min(8, length - off, n - len(out))
            value = yield Load(addr + off, size)
            assert value is not None
            out += value.to_bytes(size, "little")
        if len(out) >= n:
            break
    return bytes(out)


def inside(segs: list[Segment], addr: int, size: int) -> bool:
    return any(a <= addr and addr + size <= a + n for a, n in segs)


class HarnessBuf(Protocol):
    """A chain as the harness knows it (each machine's own dataclass)."""

    token: int
    slot: int
    out: list[Segment]
    in_: list[Segment]
    out_data: bytes
    reply: bytes


TableNamer = Callable[[AddressNames, int, int, str], None]


class RingOpsMachine(DriverDeviceMachine):
    """A ring's driver ``drv`` and device ``dev`` (the reference or a variant) over memory
    laid out as ring, indirect tables, data slots; the operations both rings run alike."""

    cfg: ClassVar[Any]
    POP_WORD: ClassVar[str]  # what the device's pop names a chain by ("head", "ID")
    drv: Any
    dev: Any
    bufs: dict[int, Any]
    guest: GuestMemory
    ind_area: int
    data_area: int
    next_token: int
    free_slots: list[int]
    filling: Any
    undecided: int
    cb_enabled: bool

    # -- what a ring supplies ------------------------------------------------------------
    def _add(self, shape: list[tuple[bool, int]], kick: bool) -> Program[None]:
        raise NotImplementedError

    def _driver_store(self, st_: Store) -> None:
        raise NotImplementedError

    def _device_store(self, st_: Store) -> None:
        raise NotImplementedError

    def _buf_id(self, buf: Any) -> int:
        """What the device's pop must name ``buf`` by."""
        raise NotImplementedError

    def _took(self, buf: Any) -> None:
        """The ring's bookkeeping when the driver took ``buf`` back (before its bytes)."""
        raise NotImplementedError

    def _draws(self) -> Draws:
        """What a run draws before it starts, in order: (label, choices) each, the queue
        size first; :meth:`build` takes the values drawn."""
        raise NotImplementedError

    build: Callable[..., None]  # lays out a fresh queue for the values _draws() drew

    # -- set-up --------------------------------------------------------------------------
    @initialize(data=st.data())
    @guarded
    def setup(self, data: st.DataObject) -> None:
        self.build(*(data.draw(st.sampled_from(choices), label=label)
                     for label, choices in self._draws()))

    def _lay_out(self, lay: Any, desc_size: int, names: AddressNames, table: TableNamer,
                 event_idx: bool, indirect: bool) -> None:
        """Indirect tables after the ring ``lay``, a data slot a chain after them; the two
        sides over that memory, both initialised."""
        cfg, q = self.cfg, self.q
        self.ind_area = (lay.end + 15) & ~15
        ind_size = q * INDIRECT_MAX * desc_size if indirect else 0
        self.data_area = self.ind_area + ind_size
        size = self.data_area + (q + 1) * SLOT
        if indirect:
            for i in range(q):
                table(names, self.ind_area + i * INDIRECT_MAX * desc_size, INDIRECT_MAX,
                      f"ind{i}")
        for s in range(q + 1):
            names.region(self.data_area + s * SLOT, SLOT, f"buf{s}")
        self.guest = GuestMemory(size)
        self.shm = SharedMemory(self.guest, cfg.mode, names)
        self.dside, self.vside = self.shm.side("driver"), self.shm.side("device")
        self.drv = cfg.driver_cls(lay, event_idx=event_idx,
                                  indirect_area=self.ind_area if indirect else None,
                                  indirect_max=INDIRECT_MAX)
        self.dev = cfg.device_cls(lay, size, event_idx=event_idx, indirect=indirect)
        run(self.drv.init(), self.guest)
        run(self.dev.init(), self.guest)
        self.next_token = 1
        self.free_slots = list(range(q + 1))
        self.filling = None
        self.undecided = 0  # chains added since the driver's last kick decision
        self.cb_enabled = True

    # -- rules: starting operations ------------------------------------------------------
    @precondition(lambda m: m.ready and not m.dside.busy)
    @rule(shape=SHAPE, kick=st.booleans(), run=RUN)
    @guarded
    def driver_add(self, shape: list[tuple[bool, int]], kick: bool, run: str) -> None:
        self._start(self.dside, self._add(shape, kick), f"add{' + kick' if kick else ''}",
                    run)

    @precondition(lambda m: m.ready and not m.dside.busy and m.undecided > 0)
    @rule(run=RUN)
    @guarded
    def driver_kick(self, run: str) -> None:
        self._start(self.dside, self._kick(), "kick", run)

    @precondition(lambda m: m.ready and not m.dside.busy)
    @rule(run=RUN)
    @guarded
    def driver_get(self, run: str) -> None:
        self._start(self.dside, self._get(), "get", run)

    @precondition(lambda m: m.ready and not m.dside.busy and m.cb_enabled)
    @rule(run=RUN)
    @guarded
    def driver_disable_cb(self, run: str) -> None:
        self._start(self.dside, self._disable_cb(), "disable_cb", run)

    @precondition(lambda m: m.ready and not m.dside.busy and m.cb_enabled)
    @rule(run=RUN)
    @guarded
    def driver_isr_sleep(self, run: str) -> None:
        self._start(self.dside, self._isr_sleep(), "get, sleep if none", run)

    # -- driver operations ---------------------------------------------------------------
    def _buffers(self, shape: list[tuple[bool, int]]
                 ) -> tuple[int, int, list[Segment], list[Segment]]:
        """A new token, its data slot and its buffers in the slot (readable first, at most
        Q of them: RING-SPLIT-011, RING-PACKED-031)."""
        items = sorted(shape, key=lambda t: t[0])[: self.q]
        token = self.next_token
        self.next_token += 1
        slot = self.free_slots[0]
        at = self.data_area + slot * SLOT
        out: list[Segment] = []
        in_: list[Segment] = []
        for writable, n in items:
            (in_ if writable else out).append((at, n))
            at += n
        return token, slot, out, in_

    def _fill(self, buf: HarnessBuf) -> Program[None]:
        """The application writes the readable bytes of ``buf``, which is then made
        available (as far as the harness knows)."""
        self.filling = buf
        yield from write_segments(buf.out, buf.out_data)
        self.filling = None
        self.avail_fifo.append(buf.token)

    def _kick(self) -> Program[None]:
        need = yield from self.drv.kick_prepare()
        self.undecided = 0
        self.shm.note("driver", f"kick_prepare -> {need}")
        if need:
            yield Notify("device", "kick")

    def _get(self) -> Program[bool]:
        got = yield from self.drv.get_used()
        if got is None:
            self.shm.note("driver", "get_used -> none")
            return False
        token, length = got
        self.shm.note("driver", f"get_used -> t{token} len {length}")
        if not self.used_fifo:
            raise Violation(self.NO_LOSS_REQ, f"driver got t{token} back, the device used "
                            "nothing")
        want = self.used_fifo.popleft()
        if (token, length) != want:
            raise Violation(self.NO_LOSS_REQ, f"driver got (t{token}, len {length}) back, "
                            f"the device used (t{want[0]}, len {want[1]}) next")
        buf = self.bufs.pop(want[0])  # == token (checked above)
        self._took(buf)
        data = yield from read_segments(buf.in_, length)
        if data != buf.reply[:length]:
            raise Violation(self.READ_BACK_REQ, f"driver read {data.hex()} from t{token}, "
                            f"the device wrote {buf.reply[:length].hex()}")
        self._returned(buf)
        self.free_slots.append(buf.slot)
        self._count("buffers returned")
        return True

    READ_BACK_REQ: ClassVar[str]  # the driver reads back the bytes the device wrote

    def _returned(self, buf: Any) -> None:
        """The ring's bookkeeping after the driver read ``buf``'s bytes back."""

    def _disable_cb(self) -> Program[None]:
        yield from self.drv.disable_cb()
        self.cb_enabled = False

    def _before_sleep(self) -> Program[None]:
        """Take a pending interrupt (the ring is re-checked before sleeping) and kick if a
        kick decision is still open."""
        self.dside.consume("irq")
        if self.undecided:
            yield from self._kick()

    def _isr_sleep(self) -> Program[None]:
        yield from self._before_sleep()
        if not (yield from self._get()):
            yield Wait("irq")

    # -- device operations ---------------------------------------------------------------
    def _serve_or_sleep(self, disable: bool, batch: Program[bool]) -> Program[None]:
        """Take a pending kick, maybe disable kicks, run ``batch``; if it did nothing,
        re-enable kicks and sleep unless that reports work."""
        self.vside.consume("kick")  # the ring is re-checked below before sleeping
        if disable:
            yield from self.dev.disable_notify()
        if (yield from batch):
            return
        pending = yield from self.dev.enable_notify()
        self.shm.note("device", f"enable_notify -> {pending}")
        if not pending:
            yield Wait("kick")

    def _next_available(self, chain: Chain) -> tuple[int, Any]:
        """The token the driver made available next and its buffer, checked against the
        chain the device popped (:attr:`NO_LOSS_REQ`)."""
        word = self.POP_WORD
        if not self.avail_fifo:
            raise Violation(self.NO_LOSS_REQ, f"device popped {word} {chain.head}, nothing "
                            "was made available")
        token = self.avail_fifo.popleft()
        buf = self.bufs.get(token)
        self.shm.note("device", f"pop -> {word} {chain.head}")
        if buf is None or (chain.head, chain.readable, chain.writable) != (
                self._buf_id(buf), buf.out, buf.in_):
            want = (self._buf_id(buf), buf.out, buf.in_) if buf else None
            raise Violation(self.NO_LOSS_REQ, f"device popped {chain}, the driver made "
                            f"available t{token} = {want} next")
        return token, buf

    def _read_and_reply(self, chain: Chain, buf: HarnessBuf, nbytes: int,
                        req: str) -> Program[bytes]:
        """The device reads ``chain`` (it must hold what the application wrote: ``req``)
        and returns the reply it will write, up to ``nbytes`` bytes."""
        data = yield from self.dev.read_chain(chain)
        if data != buf.out_data:
            raise Violation(req, f"device read {data.hex()} from t{buf.token}, the "
                            f"application wrote {buf.out_data.hex()}")
        return reply_pattern(buf.token, min(nbytes, chain.writable_len))

    def _hold(self, chain: Chain, buf: Any) -> None:
        """The ring's bookkeeping when the device holds ``buf`` (before it writes)."""
        raise NotImplementedError

    def _pop_one(self, nbytes: int, req: str) -> Program[tuple[Chain, Any, int] | None]:
        """The device pops a chain, checks and reads it (``req``: what the application
        wrote), holds it and writes up to ``nbytes`` bytes of reply: (chain, its buffer,
        bytes written), or None if nothing was available."""
        chain = yield from self.dev.pop()
        if chain is None:
            self.shm.note("device", "pop -> none")
            return None
        buf = self._popped(chain)
        reply = yield from self._read_and_reply(chain, buf, nbytes, req)
        self._hold(chain, buf)
        written = yield from self.dev.write_chain(chain, reply)
        buf.reply = reply[:written]
        return chain, buf, written

    def _popped(self, chain: Chain) -> Any:
        """The buffer the driver made available next, checked against ``chain``."""
        raise NotImplementedError

    def _interrupt(self) -> Program[None]:
        notify = yield from self.dev.should_notify()
        self.shm.note("device", f"should_notify -> {notify}")
        if notify:
            yield Notify("driver", "irq")

    # -- store ownership (checked as each store is issued) -------------------------------
    def _watch(self, side: Side, action: Action) -> None:
        if isinstance(action, Store):
            if side is self.dside:
                self._driver_store(action)
            else:
                self._device_store(action)
