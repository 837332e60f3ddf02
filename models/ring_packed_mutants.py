"""Known-bad variants of the Python packed-ring reference, and what refutes each.

Every variant is a subclass of :class:`PackedDriver` or :class:`PackedDevice` that overrides one
method with a copy of the reference's body broken at one place (marked ``BUG``, naming the
requirement it breaks). Each is registered as ``ring.packed.ref.<name>`` and run against the
machine that should catch it: the interleaving machine (models/ring_packed_machine.py) under
the memory model that exposes the bug, or the hostile-input checks
(models/ring_packed_hostile.py). A run is derandomized, so its outcome is reproducible; a
variant counts as refuted only when the run fails with a requirement violation, and the
evidence carries the end of the shrunk failing interleaving.

Which memory model: a missing ``wmb`` (``driver-no-wmb``, ``device-no-wmb``) needs stores
that drain out of order, PSO (x86 never reorders stores); a missing ``rmb``
(``device-no-rmb``, ``driver-no-rmb``) needs loads satisfied early, RMO; a missing ``mb``
before reading the other side's event-suppression structure (``driver-no-mb-kick``,
``device-no-mb-notify``) loses a wakeup under x86-TSO already. The protocol bugs
(wrap counters, the window, the re-check) show under SC. ``device-avail-only`` (available when
AVAIL matches the wrap bit, USED not looked at) behaves exactly as the reference against an
honest driver, which never writes a descriptor whose AVAIL and USED both match the device's
lap: only a hostile driver exposes it (RING-PACKED-015, RING-PACKED-021).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from virtiospec.models import registry
from virtiospec.models.hypothesis_run import mutant_evidence
from virtiospec.models.ring_packed_hostile import (
    HostileConfig,
    run_hostile_device,
    run_hostile_driver,
)
from virtiospec.models.ring_packed_machine import PackedConfig, run_packed
from virtiospec.models.tso import Mode
from virtiospec.reference.access import Op, fence, load, store
from virtiospec.reference.ring import Chain, PackedDevice, PackedDriver, QueueFull, RingError
from virtiospec.reference.ring.errors import BadUsedElement, BufferIdInUse, ChainTooLong
from virtiospec.reference.ring.packed_device import Held
from virtiospec.reference.ring.packed_driver import PackedOutstanding, Segment
from virtiospec.reference.ring.packed_layout import (
    DESC_FLAGS,
    DESC_ID,
    DESC_LEN,
    EVENT_FLAGS_MASK,
    EVENT_OFF_MASK,
    EVENT_SIZE,
    EVENT_WRAP_BIT,
    PACKED_DESC_SIZE,
    RING_EVENT_FLAGS_DESC,
    RING_EVENT_FLAGS_DISABLE,
    RING_EVENT_FLAGS_ENABLE,
    VIRTQ_DESC_F_AVAIL,
    VIRTQ_DESC_F_INDIRECT,
    VIRTQ_DESC_F_NEXT,
    VIRTQ_DESC_F_USED,
    VIRTQ_DESC_F_WRITE,
    advance,
    avail_marks,
    decide,
    is_avail,
    is_used,
    lap_index,
    off_wrap,
    used_marks,
)

# -- the driver --------------------------------------------------------------------------


class _Add(PackedDriver):
    """The reference's ``add`` with hooks at the places the variants below break."""

    wmb = True
    flip = True

    def add(self, out: Sequence[Segment], in_: Sequence[Segment], token: object) -> Op[int]:
        self._check()
        items = [(a, n, 0) for a, n in out] + [(a, n, VIRTQ_DESC_F_WRITE) for a, n in in_]
        if not items:
            raise ValueError("a list needs at least one buffer")
        if any(not 0 <= n < 1 << 32 for _, n, _ in items):
            raise ValueError("an element's length does not fit le32 len (RING-PACKED-003)")
        if len(items) > self.q:
            raise ChainTooLong(f"{len(items)} descriptors in a queue of {self.q}",
                               "RING-PACKED-030")
        indirect = self.indirect_area is not None and 1 < len(items) <= self.indirect_max
        need = 1 if indirect else len(items)
        if need > self.free_descs or not self.free_ids:
            raise QueueFull(f"{need} descriptors needed, {self.free_descs} free "
                            "(RING-PACKED-032)")
        buf_id = self.free_ids.pop(0)
        if indirect:
            assert self.indirect_area is not None
            table = self.indirect_area + buf_id * self.indirect_max * PACKED_DESC_SIZE
            for k, (addr, length, flags) in enumerate(items):
                yield from self._write_fields(table + PACKED_DESC_SIZE * k, addr, length, 0)
                yield from store(table + PACKED_DESC_SIZE * k + DESC_FLAGS, 2, flags)
            ring = [(table, PACKED_DESC_SIZE * len(items), VIRTQ_DESC_F_INDIRECT)]
        else:
            ring = items
        lay = self.layout
        pos, wrap = self.next_avail, self.avail_wrap
        head_flags = 0
        for k, (addr, length, flags) in enumerate(ring):
            last = k == len(ring) - 1
            flags |= avail_marks(wrap) | (0 if last else VIRTQ_DESC_F_NEXT)
            at = lay.desc_addr(pos)
            yield from self._write_fields(at, addr, length, buf_id)
            if k == 0:
                head_flags = flags
            else:
                yield from store(at + DESC_FLAGS, 2, flags)
            pos += 1
            if pos == self.q:
                pos = 0
                if self.flip:
                    wrap ^= 1
        if self.wmb:
            yield from fence("wmb")
        yield from store(lay.desc_addr(self.next_avail) + DESC_FLAGS, 2, head_flags)
        self.next_avail, self.avail_wrap = pos, wrap
        self.free_descs -= need
        self.num_added += need
        self.ids[buf_id] = PackedOutstanding(token, need, sum(n for _, n, f in items if f))
        return buf_id


class DriverNoWmb(_Add):
    wmb = False  # BUG (RING-PACKED-050): no wmb before the flags store that exposes the list


class DriverNoWrapFlip(_Add):
    flip = False  # BUG (RING-PACKED-012): the Driver Ring Wrap Counter never flips


class DriverNoMbKick(PackedDriver):
    def kick_prepare(self) -> Op[bool]:
        self._check()
        if self.num_added == 0:
            return False
        # BUG (RING-PACKED-051): no mb between the flags stores and the structure load
        passed, self.num_added = self.num_added, 0
        word = yield from load(self.layout.device_event, EVENT_SIZE)
        new = lap_index(self.q, self.next_avail, self.avail_wrap)
        return decide(self.q, word, self.event_idx, new, passed)


class _GetUsed(PackedDriver):
    """The reference's ``get_used`` with hooks at the places the variants below break."""

    rmb = True
    check_id = True

    def get_used(self) -> Op[tuple[object, int] | None]:
        self._check()
        lay = self.layout
        at = lay.desc_addr(self.last_used)
        flags = yield from load(at + DESC_FLAGS, 2)
        if not is_used(flags, self.used_wrap):
            return None
        if self.rmb:
            yield from fence("rmb")
        buf_id = yield from load(at + DESC_ID, 2)
        length = yield from load(at + DESC_LEN, 4)
        out = self.ids.get(buf_id)
        if out is None:
            if self.check_id:
                raise self._fail(BadUsedElement(f"ID {buf_id} is not outstanding",
                                                "RING-PACKED-086"))
            out = PackedOutstanding(None, 1, 1 << 32)
        written = length if flags & VIRTQ_DESC_F_WRITE else 0
        if written > out.writable:
            raise self._fail(BadUsedElement(f"used len {written} exceeds {out.writable}",
                                            "RING-PACKED-086"))
        self.ids.pop(buf_id, None)
        self.free_ids.append(buf_id)
        self.free_descs += out.ndesc
        self.last_used, self.used_wrap = advance(self.q, self.last_used, self.used_wrap,
                                                 out.ndesc)
        if self.event_idx and not self.cb_disabled:
            yield from store(lay.driver_event, 2, off_wrap(self.last_used, self.used_wrap))
            yield from fence("mb")
        return out.token, written


class DriverNoRmb(_GetUsed):
    rmb = False  # BUG (RING-PACKED-055): id and len loaded without an rmb after the flags


class DriverTrustsUsedId(_GetUsed):
    check_id = False  # BUG (RING-PACKED-086): an ID that is not outstanding is freed anyway


class DriverNoRecheck(PackedDriver):
    def enable_cb(self) -> Op[bool]:
        self._check()
        yield from self.enable_cb_prepare()
        return False  # BUG (RING-PACKED-071): no mb and no re-read before sleeping


# -- the device --------------------------------------------------------------------------


class _Pop(PackedDevice):
    """The reference's ``pop`` with hooks at the places the variants below break."""

    rmb = True

    def available(self, flags: int, wrap: int) -> bool:
        return is_avail(flags, wrap)

    def pop(self) -> Op[Chain | None]:
        self._check()
        flags = yield from load(self.layout.desc_addr(self.last_avail) + DESC_FLAGS, 2)
        if not self.available(flags, self.avail_wrap):
            return None
        if self.rmb:
            yield from fence("rmb")
        try:
            chain, ndesc = yield from self._walk(flags)
        except RingError as err:
            raise self._fail(err) from None
        if chain.head in self.in_flight:
            raise self._fail(BufferIdInUse(f"buffer ID {chain.head} is already held"))
        self.last_avail, self.avail_wrap = advance(self.q, self.last_avail, self.avail_wrap,
                                                   ndesc)
        self.held += ndesc
        self.in_flight[chain.head] = Held(ndesc, chain.writable_len)
        return chain


class DeviceNoRmb(_Pop):
    rmb = False  # BUG (RING-PACKED-054): the list loaded without an rmb after the flags


class DeviceIgnoresWrap(_Pop):
    def available(self, flags: int, wrap: int) -> bool:
        # BUG (RING-PACKED-015): AVAIL differs from USED, whatever the lap
        return bool(flags & VIRTQ_DESC_F_AVAIL) != bool(flags & VIRTQ_DESC_F_USED)


class DeviceAvailOnly(_Pop):
    def available(self, flags: int, wrap: int) -> bool:
        # BUG (RING-PACKED-015, RING-PACKED-021): AVAIL matches the lap, USED not looked at
        return bool(flags & VIRTQ_DESC_F_AVAIL) == bool(wrap)


class DeviceNoWmb(PackedDevice):
    def push(self, used: Sequence[tuple[int, int]]) -> Op[None]:
        self._check()
        for buf_id, length in used:
            if buf_id not in self.in_flight or length > self.in_flight[buf_id].writable:
                raise ValueError(f"bad push ({buf_id}, {length})")
        lay = self.layout
        for buf_id, length in used:
            at = lay.desc_addr(self.used_pos)
            yield from store(at + DESC_ID, 2, buf_id)
            yield from store(at + DESC_LEN, 4, length)
            # BUG (RING-PACKED-052): no wmb before the flags store that marks it used
            flags = used_marks(self.used_wrap) | (VIRTQ_DESC_F_WRITE if length else 0)
            yield from store(at + DESC_FLAGS, 2, flags)
            ndesc = self.in_flight.pop(buf_id).ndesc
            self.used_pos, self.used_wrap = advance(self.q, self.used_pos, self.used_wrap,
                                                    ndesc)
            self.held -= ndesc
            self.num_pushed += ndesc


class _Notify(PackedDevice):
    """The reference's ``should_notify`` with hooks at the places the variants below break."""

    mb = True
    off_by_one = False

    def should_notify(self) -> Op[bool]:
        self._check()
        if self.num_pushed == 0:
            return False
        if self.mb:
            yield from fence("mb")
        passed, self.num_pushed = self.num_pushed, 0
        word = yield from load(self.layout.driver_event, EVENT_SIZE)
        new = lap_index(self.q, self.used_pos, self.used_wrap)
        if not self.off_by_one:
            return decide(self.q, word, self.event_idx, new, passed)
        flags = (word >> 16) & EVENT_FLAGS_MASK
        if self.event_idx and flags == RING_EVENT_FLAGS_DESC:
            q2 = 2 * self.q
            e = lap_index(self.q, word & EVENT_OFF_MASK, (word >> EVENT_WRAP_BIT) & 1)
            old = (new - passed) % q2
            # BUG (RING-PACKED-064): the window is (old, new] instead of [old, new)
            return passed >= q2 or 0 < (e - old) % q2 <= passed
        return flags != RING_EVENT_FLAGS_DISABLE


class DeviceNoMbNotify(_Notify):
    mb = False  # BUG (RING-PACKED-053): no mb between marking used and the structure load


class DeviceEventOffByOne(_Notify):
    off_by_one = True


class DeviceNoRecheck(PackedDevice):
    def enable_notify(self) -> Op[bool]:
        self._check()
        self.notify_disabled = False
        lay = self.layout
        if self.event_idx:
            yield from store(lay.device_event, EVENT_SIZE,
                             off_wrap(self.last_avail, self.avail_wrap)
                             | RING_EVENT_FLAGS_DESC << 16)
        else:
            yield from store(lay.device_event + 2, 2, RING_EVENT_FLAGS_ENABLE)
        return False  # BUG (RING-PACKED-070): no mb and no re-read before sleeping


# -- registration ------------------------------------------------------------------------

MACHINE_EXAMPLES = 2000  # a budget; the variants below are caught in far fewer runs
MACHINE_STEPS = 200
HOSTILE_EXAMPLES = 2000
SHRINK_SECONDS = 1.0
KEEP_LAST = 80  # steps of the failing run kept in the evidence
BOTH, DESC = (False, True), (True,)


def _machine(mode: Mode, *, driver: type[PackedDriver] = PackedDriver,
             device: type[PackedDevice] = PackedDevice,
             event_idx: tuple[bool, ...] = BOTH) -> Callable[[], registry.Evidence]:
    def run() -> registry.Evidence:
        cfg = PackedConfig(mode=mode, driver_cls=driver, device_cls=device,
                           event_idx=event_idx, steps=MACHINE_STEPS)
        return mutant_evidence(run_packed(cfg, MACHINE_EXAMPLES, derandomize=True,
                                          shrink_seconds=SHRINK_SECONDS), KEEP_LAST)

    return run


def _hostile_device(device: type[PackedDevice]) -> Callable[[], registry.Evidence]:
    def run() -> registry.Evidence:
        return mutant_evidence(run_hostile_device(HostileConfig(device_cls=device),
                                                  HOSTILE_EXAMPLES, derandomize=True,
                                                  shrink_seconds=SHRINK_SECONDS), KEEP_LAST)

    return run


def _hostile_driver(driver: type[PackedDriver]) -> Callable[[], registry.Evidence]:
    def run() -> registry.Evidence:
        return mutant_evidence(run_hostile_driver(HostileConfig(driver_cls=driver),
                                                  HOSTILE_EXAMPLES, derandomize=True,
                                                  shrink_seconds=SHRINK_SECONDS), KEEP_LAST)

    return run


MUTANTS: list[tuple[str, str, tuple[str, ...], Callable[[], registry.Evidence]]] = [
    ("driver-no-wmb", "add stores the first descriptor's flags without a wmb after the list "
     "(PSO; not caught under x86-TSO, which never reorders stores)",
     ("RING-PACKED-050", "RING-PACKED-033", "RING-PACKED-092"),
     _machine("pso", driver=DriverNoWmb)),
    ("device-no-wmb", "push stores a used descriptor's flags without a wmb after its id and "
     "len (PSO; not caught under x86-TSO)", ("RING-PACKED-052", "RING-PACKED-092"),
     _machine("pso", device=DeviceNoWmb)),
    ("device-no-rmb", "pop loads the list without an rmb after the flags that show it "
     "available (RMO; not caught under x86-TSO, which never reorders loads)",
     ("RING-PACKED-054", "RING-PACKED-092"), _machine("rmo", device=DeviceNoRmb)),
    ("driver-no-rmb", "get_used loads id and len without an rmb after the flags that show "
     "the descriptor used (RMO; not caught under x86-TSO)",
     ("RING-PACKED-055", "RING-PACKED-092"), _machine("rmo", driver=DriverNoRmb)),
    ("driver-no-mb-kick", "kick_prepare loads the device's event suppression without the mb "
     "after making descriptors available", ("RING-PACKED-051", "RING-PACKED-110"),
     _machine("tso", driver=DriverNoMbKick)),
    ("device-no-mb-notify", "should_notify loads the driver's event suppression without the "
     "mb after marking descriptors used", ("RING-PACKED-053", "RING-PACKED-111"),
     _machine("tso", device=DeviceNoMbNotify)),
    ("driver-no-wrap-flip", "the driver never flips its wrap counter at the end of the ring",
     ("RING-PACKED-012", "RING-PACKED-013", "RING-PACKED-092"),
     _machine("sc", driver=DriverNoWrapFlip)),
    ("device-ignores-wrap", "the device takes AVAIL != USED as available, whatever its wrap "
     "counter", ("RING-PACKED-015", "RING-PACKED-021", "RING-PACKED-092"),
     _machine("sc", device=DeviceIgnoresWrap)),
    ("event-off-by-one", "the device notifies when the driver's off_wrap is in (old, new] "
     "instead of [old, new)", ("RING-PACKED-062", "RING-PACKED-064", "RING-PACKED-111"),
     _machine("sc", device=DeviceEventOffByOne, event_idx=DESC)),
    ("device-no-recheck", "enable_notify sleeps without the mb and re-read of its read "
     "position", ("RING-PACKED-070", "RING-PACKED-110"),
     _machine("sc", device=DeviceNoRecheck)),
    ("driver-no-recheck", "enable_cb sleeps without the mb and re-read of its used position",
     ("RING-PACKED-071", "RING-PACKED-111"), _machine("sc", driver=DriverNoRecheck)),
    ("device-avail-only", "the device takes AVAIL matching its wrap counter as available, "
     "without looking at USED (a hostile driver's used marks are taken)",
     ("RING-PACKED-015", "RING-PACKED-021"), _hostile_device(DeviceAvailOnly)),
    ("driver-trusts-used-id", "the driver frees whatever ID a used descriptor names",
     ("RING-PACKED-086",), _hostile_driver(DriverTrustsUsedId)),
]

for _name, _bug, _reqs, _run in MUTANTS:
    registry.mutant(f"ring.packed.ref.{_name}", _bug, _reqs, "hypothesis")(_run)
