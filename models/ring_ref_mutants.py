"""Known-bad variants of the Python split-ring reference, and what refutes each.

Every variant is a subclass of :class:`SplitDriver` or :class:`SplitDevice` that overrides one
method with a copy of the reference's body broken at one place (marked ``BUG``, naming the
requirement it breaks). Each is registered as ``ring.ref.<name>`` and run against the machine
that should catch it: the interleaving machine (models/ring_machine.py) under the memory
model that exposes the bug, or the hostile-input machines (models/ring_hostile.py). A run is
derandomized, so its outcome is reproducible; a variant counts as refuted only when the run
fails with a requirement violation, and the evidence carries the shrunk failing interleaving.

A missing ``rmb`` (``device-no-rmb``, ``driver-no-rmb``) is run under RMO, the one memory model
that reorders loads: under x86-TSO (and SC, PSO) an ``rmb`` is a no-op, so the variant's
executions are the reference's and no run can catch it. A missing forced notification
(``driver-no-forced-kick``, ``device-no-forced-notify``, RING-SPLIT-101) needs 2^16
publications between two decisions: the deterministic scenarios of ``ring.alias.event_idx``
(models/ring_machine.py) catch it, not the interleaving machine.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from virtiospec.models import registry
from virtiospec.models.hypothesis_run import mutant_evidence
from virtiospec.models.ring_hostile import HostileConfig, run_hostile_device, run_hostile_driver
from virtiospec.models.ring_machine import (
    ALIAS_SCENARIOS,
    RingConfig,
    check_alias,
    run_ring,
)
from virtiospec.models.tso import Mode
from virtiospec.reference.access import Op, fence, load, store
from virtiospec.reference.ring import SplitDevice, SplitDriver
from virtiospec.reference.ring.device import Chain, Segment
from virtiospec.reference.ring.driver import Outstanding
from virtiospec.reference.ring.errors import (
    AvailIndexJump,
    BadDescriptorIndex,
    BadIndirect,
    BadUsedElement,
    ChainTooLong,
    DescriptorLoop,
    QueueFull,
    ReadableAfterWritable,
    RingError,
)
from virtiospec.reference.ring.layout import (
    DESC_SIZE,
    U16,
    VIRTQ_AVAIL_F_NO_INTERRUPT,
    VIRTQ_DESC_F_INDIRECT,
    VIRTQ_DESC_F_NEXT,
    VIRTQ_DESC_F_WRITE,
    VIRTQ_USED_F_NO_NOTIFY,
    vring_need_event,
)

# -- the driver --------------------------------------------------------------------------


class DriverNoMbKick(SplitDriver):
    def kick_prepare(self) -> Op[bool]:
        self._check()
        if self.num_added == 0:
            return False
        # BUG (RING-SPLIT-070): no mb between the avail.idx store and the suppression load
        new = self.avail_idx
        old = (new - self.num_added) & U16
        self.num_added = 0
        if self.event_idx:
            event = yield from load(self.layout.avail_event, 2)
            return vring_need_event(event, new, old)
        flags = yield from load(self.layout.used_flags, 2)
        return not flags & VIRTQ_USED_F_NO_NOTIFY


class DriverNoRecheck(SplitDriver):
    def enable_cb(self) -> Op[bool]:
        self._check()
        yield from self.enable_cb_prepare()
        return False  # BUG (RING-SPLIT-073): no mb and no re-read of used.idx before sleeping


class DriverNoWmb(SplitDriver):
    def add(self, out: Sequence[Segment], in_: Sequence[Segment], token: object) -> Op[int]:
        self._check()
        items = [(a, n, 0) for a, n in out] + [(a, n, VIRTQ_DESC_F_WRITE) for a, n in in_]
        if not items:
            raise ValueError("a chain needs at least one buffer")
        if sum(n for _, n, _ in items) > 1 << 32 or any(n >= 1 << 32 for _, n, _ in items):
            raise ChainTooLong("buffers longer than 2^32 bytes in total", "RING-SPLIT-010")
        if len(items) > self.q:
            raise ChainTooLong(f"{len(items)} descriptors in a queue of {self.q}",
                               "RING-SPLIT-022")
        indirect = (self.indirect_area is not None and 1 < len(items) <= self.indirect_max)
        need = 1 if indirect else len(items)
        if need > len(self.free):
            raise QueueFull(f"{need} descriptors needed, {len(self.free)} free")
        descs = [self.free.pop(0) for _ in range(need)]
        head = descs[0]
        lay = self.layout
        if indirect:
            assert self.indirect_area is not None
            table = self.indirect_area + head * self.indirect_max * DESC_SIZE
            yield from self._write_chain(table, list(range(len(items))), items)
            yield from self._write_desc(lay.desc_addr(head), table, DESC_SIZE * len(items),
                                        VIRTQ_DESC_F_INDIRECT, 0)
        else:
            yield from self._write_chain(lay.desc, descs, items)
        yield from store(lay.avail_ring(lay.slot(self.avail_idx)), 2, head)
        # BUG (RING-SPLIT-032): no wmb before the store to avail.idx that publishes the chain
        self.avail_idx = (self.avail_idx + 1) & U16
        yield from store(lay.avail_idx, 2, self.avail_idx)
        self.num_added += 1
        self.chains[head] = Outstanding(token, descs, sum(n for _, n, f in items if f))
        return head


class DriverUsedEventRead(SplitDriver):
    def get_used(self) -> Op[tuple[object, int] | None]:
        self._check()
        lay = self.layout
        used_idx = yield from load(lay.used_idx, 2)
        if used_idx == self.last_used:
            return None
        if (used_idx - self.last_used) & U16 > self.outstanding:
            raise self._fail(BadUsedElement(
                f"used.idx {used_idx} is {(used_idx - self.last_used) & U16} past "
                f"{self.last_used} with only {self.outstanding} buffers outstanding"))
        yield from fence("rmb")
        at = lay.used_ring(lay.slot(self.last_used))
        head = yield from load(at, 4)
        length = yield from load(at + 4, 4)
        chain = self.chains.get(head)
        if chain is None:
            raise self._fail(BadUsedElement(f"used id {head} is not an outstanding head"))
        if length > chain.writable:
            raise self._fail(BadUsedElement(
                f"used len {length} exceeds the {chain.writable} writable bytes of head {head}"))
        del self.chains[head]
        self.free.extend(chain.descs)
        self.last_used = (self.last_used + 1) & U16
        if self.event_idx and not self.cb_disabled:
            # BUG (RING-SPLIT-051): used_event is loaded instead of stored
            yield from load(lay.used_event, 2)
            yield from fence("mb")
        return chain.token, length


class DriverTrustsUsedId(SplitDriver):
    def get_used(self) -> Op[tuple[object, int] | None]:
        self._check()
        lay = self.layout
        used_idx = yield from load(lay.used_idx, 2)
        if used_idx == self.last_used:
            return None
        if (used_idx - self.last_used) & U16 > self.outstanding:
            raise self._fail(BadUsedElement(
                f"used.idx {used_idx} is {(used_idx - self.last_used) & U16} past "
                f"{self.last_used} with only {self.outstanding} buffers outstanding"))
        yield from fence("rmb")
        at = lay.used_ring(lay.slot(self.last_used))
        head = yield from load(at, 4)
        length = yield from load(at + 4, 4)
        # BUG (RING-SPLIT-085): an id that is no outstanding head is freed as a 1-descriptor chain
        chain = self.chains.get(head) or Outstanding(None, [head], 1 << 32)
        if length > chain.writable:
            raise self._fail(BadUsedElement(
                f"used len {length} exceeds the {chain.writable} writable bytes of head {head}"))
        self.chains.pop(head, None)
        self.free.extend(chain.descs)
        self.last_used = (self.last_used + 1) & U16
        if self.event_idx and not self.cb_disabled:
            yield from store(lay.used_event, 2, self.last_used)
            yield from fence("mb")
        return chain.token, length


class DriverNoRmbUsed(SplitDriver):
    def get_used(self) -> Op[tuple[object, int] | None]:
        self._check()
        lay = self.layout
        used_idx = yield from load(lay.used_idx, 2)
        if used_idx == self.last_used:
            return None
        if (used_idx - self.last_used) & U16 > self.outstanding:
            raise self._fail(BadUsedElement(
                f"used.idx {used_idx} is {(used_idx - self.last_used) & U16} past "
                f"{self.last_used} with only {self.outstanding} buffers outstanding"))
        # BUG (RING-SPLIT-076): no rmb between loading used.idx and loading the used element
        at = lay.used_ring(lay.slot(self.last_used))
        head = yield from load(at, 4)
        length = yield from load(at + 4, 4)
        chain = self.chains.get(head)
        if chain is None:
            raise self._fail(BadUsedElement(f"used id {head} is not an outstanding head"))
        if length > chain.writable:
            raise self._fail(BadUsedElement(
                f"used len {length} exceeds the {chain.writable} writable bytes of head {head}"))
        del self.chains[head]
        self.free.extend(chain.descs)
        self.last_used = (self.last_used + 1) & U16
        if self.event_idx and not self.cb_disabled:
            yield from store(lay.used_event, 2, self.last_used)
            yield from fence("mb")
        return chain.token, length


class DriverNoForcedKick(SplitDriver):
    def kick_prepare(self) -> Op[bool]:
        self._check()
        if self.num_added == 0:
            return False
        yield from fence("mb")
        new = self.avail_idx
        old = (new - self.num_added) & U16
        # BUG (RING-SPLIT-101): no forced kick after 2^16 - 1 or more additions; after 2^16
        # the window [old, new) is empty and the device's avail_event is never in it
        self.num_added = 0
        if self.event_idx:
            event = yield from load(self.layout.avail_event, 2)
            return vring_need_event(event, new, old)
        flags = yield from load(self.layout.used_flags, 2)
        return not flags & VIRTQ_USED_F_NO_NOTIFY


class DriverNoLenCheck(SplitDriver):
    def get_used(self) -> Op[tuple[object, int] | None]:
        self._check()
        lay = self.layout
        used_idx = yield from load(lay.used_idx, 2)
        if used_idx == self.last_used:
            return None
        if (used_idx - self.last_used) & U16 > self.outstanding:
            raise self._fail(BadUsedElement(
                f"used.idx {used_idx} is {(used_idx - self.last_used) & U16} past "
                f"{self.last_used} with only {self.outstanding} buffers outstanding"))
        yield from fence("rmb")
        at = lay.used_ring(lay.slot(self.last_used))
        head = yield from load(at, 4)
        length = yield from load(at + 4, 4)
        chain = self.chains.get(head)
        if chain is None:
            raise self._fail(BadUsedElement(f"used id {head} is not an outstanding head"))
        # BUG (RING-SPLIT-085): a len beyond the chain's writable bytes is passed on
        del self.chains[head]
        self.free.extend(chain.descs)
        self.last_used = (self.last_used + 1) & U16
        if self.event_idx and not self.cb_disabled:
            yield from store(lay.used_event, 2, self.last_used)
            yield from fence("mb")
        return chain.token, length


# -- the device --------------------------------------------------------------------------


class DeviceNoMbNotify(SplitDevice):
    def should_notify(self) -> Op[bool]:
        self._check()
        old, new = self.signalled_used, self.used_idx
        if old == new:
            return False
        # BUG (RING-SPLIT-071): no mb between the used.idx store and the suppression load
        self.signalled_used = new
        if self.event_idx:
            event = yield from load(self.layout.used_event, 2)
            return old is None or vring_need_event(event, new, old)
        flags = yield from load(self.layout.avail_flags, 2)
        return not flags & VIRTQ_AVAIL_F_NO_INTERRUPT


class DeviceNoForcedNotify(SplitDevice):
    def should_notify(self) -> Op[bool]:
        self._check()
        old, new = self.signalled_used, self.used_idx
        # BUG (RING-SPLIT-101): no forced interrupt after 2^16 - 1 or more used elements;
        # after 2^16 used.idx is back where it was and the decision sees nothing pushed
        self.num_pushed = 0
        if old == new:
            return False
        yield from fence("mb")
        self.signalled_used = new
        if self.event_idx:
            event = yield from load(self.layout.used_event, 2)
            return old is None or vring_need_event(event, new, old)
        flags = yield from load(self.layout.avail_flags, 2)
        return not flags & VIRTQ_AVAIL_F_NO_INTERRUPT


class DeviceNoRmbPop(SplitDevice):
    def pop(self) -> Op[Chain | None]:
        self._check()
        lay = self.layout
        avail_idx = yield from load(lay.avail_idx, 2)
        if avail_idx == self.last_avail:
            return None
        if (avail_idx - self.last_avail) & U16 > self.q:
            raise self._fail(AvailIndexJump(
                f"avail.idx {avail_idx} is {(avail_idx - self.last_avail) & U16} entries past "
                f"{self.last_avail} in a queue of {self.q}"))
        # BUG (RING-SPLIT-075): no rmb between loading avail.idx and loading the available
        # ring entry and the descriptors it publishes
        head = yield from load(lay.avail_ring(lay.slot(self.last_avail)), 2)
        try:
            chain = yield from self._walk(head)
        except RingError as err:
            raise self._fail(err) from None
        if head in self.in_flight:
            raise self._fail(BadDescriptorIndex(f"head {head} is already in flight",
                                                "RING-SPLIT-092"))
        self.last_avail = (self.last_avail + 1) & U16
        self.in_flight[head] = chain.writable_len
        return chain


class DeviceNeedEventOffByOne(SplitDevice):
    def should_notify(self) -> Op[bool]:
        self._check()
        old, new = self.signalled_used, self.used_idx
        if old == new:
            return False
        yield from fence("mb")
        self.signalled_used = new
        if self.event_idx:
            event = yield from load(self.layout.used_event, 2)
            # BUG (RING-SPLIT-100): the window is (old, new] instead of [old, new)
            return old is None or ((new - event) & U16) < ((new - old) & U16)
        flags = yield from load(self.layout.avail_flags, 2)
        return not flags & VIRTQ_AVAIL_F_NO_INTERRUPT


class DeviceNoRecheck(SplitDevice):
    def enable_notify(self) -> Op[bool]:
        self._check()
        self.notify_disabled = False
        if self.event_idx:
            yield from store(self.layout.avail_event, 2, self.last_avail)
        else:
            yield from store(self.layout.used_flags, 2, 0)
        return False  # BUG (RING-SPLIT-072): no mb and no re-read of avail.idx before sleeping


class DeviceNoWmb(SplitDevice):
    def push(self, used: Sequence[tuple[int, int]]) -> Op[None]:
        self._check()
        for head, length in used:
            if head not in self.in_flight:
                raise ValueError(f"head {head} was not popped (or was pushed already)")
            if length > self.in_flight[head]:
                raise ValueError(f"len {length} exceeds the chain's writable "
                                 f"{self.in_flight[head]} bytes")
        lay = self.layout
        idx = self.used_idx
        for head, length in used:
            at = lay.used_ring(lay.slot(idx))
            yield from store(at, 4, head)
            yield from store(at + 4, 4, length)
            del self.in_flight[head]
            idx = (idx + 1) & U16
        # BUG (RING-SPLIT-043): no wmb before the store to used.idx that publishes the elements
        self.used_idx = idx
        yield from store(lay.used_idx, 2, idx)


class DeviceUsedIdxWrap(SplitDevice):
    def push(self, used: Sequence[tuple[int, int]]) -> Op[None]:
        self._check()
        for head, length in used:
            if head not in self.in_flight:
                raise ValueError(f"head {head} was not popped (or was pushed already)")
            if length > self.in_flight[head]:
                raise ValueError(f"len {length} exceeds the chain's writable "
                                 f"{self.in_flight[head]} bytes")
        lay = self.layout
        idx = self.used_idx
        for head, length in used:
            at = lay.used_ring(lay.slot(idx))
            yield from store(at, 4, head)
            yield from store(at + 4, 4, length)
            del self.in_flight[head]
            idx = (idx + 1) % self.q  # BUG (RING-SPLIT-043): wraps at Q instead of 2^16
        yield from fence("wmb")
        self.used_idx = idx
        yield from store(lay.used_idx, 2, idx)


class DeviceNoAvailJumpCheck(SplitDevice):
    def pop(self) -> Op[Chain | None]:
        self._check()
        lay = self.layout
        avail_idx = yield from load(lay.avail_idx, 2)
        if avail_idx == self.last_avail:
            return None
        # BUG (RING-SPLIT-084): avail.idx more than Q past last_avail is not an error
        yield from fence("rmb")
        head = yield from load(lay.avail_ring(lay.slot(self.last_avail)), 2)
        try:
            chain = yield from self._walk(head)
        except RingError as err:
            raise self._fail(err) from None
        if head in self.in_flight:
            raise self._fail(BadDescriptorIndex(f"head {head} is already in flight",
                                                "RING-SPLIT-092"))
        self.last_avail = (self.last_avail + 1) & U16
        self.in_flight[head] = chain.writable_len
        return chain


class _Walk(SplitDevice):
    """The reference's walk with hooks at the places the variants below break."""

    head_check = True
    bounded = True
    order_check = True
    nested_check = True
    table_inside = True

    def _walk(self, head: int) -> Op[Chain]:
        q = self.q
        if self.head_check and head >= q:
            raise BadDescriptorIndex(f"head {head} is not below the queue size {q}")
        chain = Chain(head)
        table, limit, index = self.layout.desc, q, head
        seen: set[int] = set()
        count = 0
        in_indirect = False
        while True:
            if self.bounded and index in seen:
                raise DescriptorLoop(f"descriptor {index} revisited in the chain of head {head}")
            seen.add(index)
            at = table + DESC_SIZE * index
            addr = yield from load(at, 8)
            length = yield from load(at + 8, 4)
            flags = yield from load(at + 12, 2)
            nxt = yield from load(at + 14, 2)
            if flags & VIRTQ_DESC_F_INDIRECT:
                if not self.indirect:
                    raise BadIndirect("INDIRECT without VIRTIO_F_INDIRECT_DESC")
                if self.nested_check and in_indirect:
                    raise BadIndirect("INDIRECT inside an indirect table")
                if flags & VIRTQ_DESC_F_NEXT:
                    raise BadIndirect("INDIRECT together with NEXT")
                if length == 0 or length % DESC_SIZE:
                    raise BadIndirect(f"indirect table of {length} bytes")
                if self.table_inside:
                    self._inside(addr, length, "indirect table")
                if self.bounded and count + length // DESC_SIZE > q:
                    raise ChainTooLong(f"chain of head {head} exceeds {q} descriptors")
                table, limit, index = addr, length // DESC_SIZE, 0
                seen = set()
                in_indirect = True
                continue
            count += 1
            if self.bounded and count > q:
                raise ChainTooLong(f"chain of head {head} exceeds {q} descriptors")
            self._inside(addr, length, f"buffer of descriptor {index}")
            if flags & VIRTQ_DESC_F_WRITE:
                chain.writable.append((addr, length))
            elif self.order_check and chain.writable:
                raise ReadableAfterWritable(f"readable descriptor {index} after a writable one")
            else:
                chain.readable.append((addr, length))
            if not flags & VIRTQ_DESC_F_NEXT:
                return chain
            if nxt >= limit:
                raise BadDescriptorIndex(f"next {nxt} of descriptor {index} is not below {limit}")
            index = nxt


class DeviceUnboundedWalk(_Walk):
    bounded = False  # BUG (RING-SPLIT-080): no seen-set and no Q bound: a loop never ends


class DeviceNoHeadCheck(_Walk):
    head_check = False  # BUG (RING-SPLIT-080): a head >= Q is walked


class DeviceReadableAfterWritable(_Walk):
    order_check = False  # BUG (RING-SPLIT-083): a readable buffer after a writable one is taken


class DeviceNestedIndirect(_Walk):
    nested_check = False  # BUG (RING-SPLIT-081): an indirect table inside one is followed


class DeviceIndirectOutside(_Walk):
    table_inside = False  # BUG (RING-SPLIT-082): an indirect table outside memory is read


# -- registration ------------------------------------------------------------------------

MACHINE_EXAMPLES = 2000  # the hardest variants take a few hundred runs on average
MACHINE_STEPS = 200
HOSTILE_EXAMPLES = 2000
SHRINK_SECONDS = 1.0
KEEP_LAST = 80  # steps of the failing run kept in the evidence


def _machine(mode: Mode, event_idx: bool, *, driver: type[SplitDriver] = SplitDriver,
             device: type[SplitDevice] = SplitDevice) -> Callable[[], registry.Evidence]:
    def run() -> registry.Evidence:
        cfg = RingConfig(mode=mode, event_idx=event_idx, driver_cls=driver, device_cls=device,
                         steps=MACHINE_STEPS)
        return mutant_evidence(run_ring(cfg, MACHINE_EXAMPLES, derandomize=True,
                                        shrink_seconds=SHRINK_SECONDS), KEEP_LAST)

    return run


def _alias(direction: str, *, driver: type[SplitDriver] = SplitDriver,
           device: type[SplitDevice] = SplitDevice) -> Callable[[], registry.Evidence]:
    """The scenarios of ring.alias.event_idx in which ``direction``'s producer is the one
    that must force its notification."""
    scenarios = tuple(sc for sc in ALIAS_SCENARIOS if sc.direction == direction)

    def run() -> registry.Evidence:
        return mutant_evidence(check_alias(scenarios, driver_cls=driver, device_cls=device))

    return run


def _hostile_device(device: type[SplitDevice]) -> Callable[[], registry.Evidence]:
    def run() -> registry.Evidence:
        cfg = HostileConfig(device_cls=device)
        return mutant_evidence(run_hostile_device(cfg, HOSTILE_EXAMPLES, derandomize=True,
                                                  reference=HostileConfig(),
                                                  shrink_seconds=SHRINK_SECONDS), KEEP_LAST)

    return run


def _hostile_driver(driver: type[SplitDriver]) -> Callable[[], registry.Evidence]:
    def run() -> registry.Evidence:
        cfg = HostileConfig(driver_cls=driver)
        return mutant_evidence(run_hostile_driver(cfg, HOSTILE_EXAMPLES, derandomize=True,
                                                  reference=HostileConfig(),
                                                  shrink_seconds=SHRINK_SECONDS), KEEP_LAST)

    return run


MUTANTS: list[tuple[str, str, tuple[str, ...], Callable[[], registry.Evidence]]] = [
    ("driver-no-mb-kick", "kick_prepare without the mb before loading used.flags",
     ("RING-SPLIT-070", "RING-SPLIT-110"), _machine("tso", False, driver=DriverNoMbKick)),
    ("device-no-mb-notify", "should_notify without the mb before loading avail.flags",
     ("RING-SPLIT-071", "RING-SPLIT-111"), _machine("tso", False, device=DeviceNoMbNotify)),
    ("device-no-recheck", "enable_notify sleeps without re-reading avail.idx",
     ("RING-SPLIT-072", "RING-SPLIT-110"), _machine("sc", False, device=DeviceNoRecheck)),
    ("driver-no-recheck", "enable_cb sleeps without re-reading used.idx",
     ("RING-SPLIT-073", "RING-SPLIT-111"), _machine("sc", False, driver=DriverNoRecheck)),
    ("driver-no-wmb", "add publishes avail.idx without a wmb after the entries",
     ("RING-SPLIT-032", "RING-SPLIT-092"), _machine("pso", False, driver=DriverNoWmb)),
    ("device-no-wmb", "push publishes used.idx without a wmb after the elements",
     ("RING-SPLIT-043", "RING-SPLIT-092"), _machine("pso", False, device=DeviceNoWmb)),
    ("need-event-off-by-one", "the device notifies when used_event is in (old, new]",
     ("RING-SPLIT-053", "RING-SPLIT-100", "RING-SPLIT-111"),
     _machine("sc", True, device=DeviceNeedEventOffByOne)),
    ("used-idx-wrap", "the device wraps used.idx at Q instead of 2^16",
     ("RING-SPLIT-043", "RING-SPLIT-092"), _machine("sc", False, device=DeviceUsedIdxWrap)),
    ("used-event-read", "get_used loads used_event instead of storing it",
     ("RING-SPLIT-051", "RING-SPLIT-111"), _machine("sc", True, driver=DriverUsedEventRead)),
    ("unbounded-walk", "the device walks a chain without the seen-set and the Q bound",
     ("RING-SPLIT-080",), _hostile_device(DeviceUnboundedWalk)),
    ("no-head-check", "the device walks a head >= Q",
     ("RING-SPLIT-080",), _hostile_device(DeviceNoHeadCheck)),
    ("no-avail-jump-check", "the device pops although avail.idx moved more than Q",
     ("RING-SPLIT-084",), _hostile_device(DeviceNoAvailJumpCheck)),
    ("readable-after-writable", "the device takes a readable buffer after a writable one",
     ("RING-SPLIT-083",), _hostile_device(DeviceReadableAfterWritable)),
    ("nested-indirect", "the device follows an indirect table inside an indirect table",
     ("RING-SPLIT-081",), _hostile_device(DeviceNestedIndirect)),
    ("indirect-outside-memory", "the device reads an indirect table that is outside memory",
     ("RING-SPLIT-082",), _hostile_device(DeviceIndirectOutside)),
    ("driver-trusts-used-id", "the driver frees whatever id the device returns",
     ("RING-SPLIT-085", "RING-SPLIT-093"), _hostile_driver(DriverTrustsUsedId)),
    ("driver-no-len-check", "the driver passes on a used len beyond the writable bytes",
     ("RING-SPLIT-085",), _hostile_driver(DriverNoLenCheck)),
    ("device-no-rmb", "pop loads the available ring entry and the descriptors without an rmb "
     "after loading avail.idx (RMO; not caught under x86-TSO, which never "
     "reorders loads)", ("RING-SPLIT-075", "RING-SPLIT-092"),
     _machine("rmo", False, device=DeviceNoRmbPop)),
    ("driver-no-rmb", "get_used loads the used element and then the buffer without an rmb "
     "after loading used.idx (RMO; not caught under x86-TSO, which never "
     "reorders loads)", ("RING-SPLIT-076", "RING-SPLIT-041", "RING-SPLIT-092"),
     _machine("rmo", False, driver=DriverNoRmbUsed)),
]

# caught by deterministic scenarios, not by a Hypothesis search
SCENARIO_MUTANTS: list[tuple[str, str, tuple[str, ...], Callable[[], registry.Evidence]]] = [
    ("driver-no-forced-kick", "kick_prepare does not force a kick after 2^16 - 1 or more "
     "additions since its last decision (EVENT_IDX: after 2^16 the window is empty)",
     ("RING-SPLIT-101", "RING-SPLIT-110"), _alias("avail", driver=DriverNoForcedKick)),
    ("device-no-forced-notify", "should_notify does not force an interrupt after 2^16 - 1 or "
     "more used elements since its last decision (after 2^16 used.idx looks unchanged)",
     ("RING-SPLIT-101", "RING-SPLIT-111"), _alias("used", device=DeviceNoForcedNotify)),
]

for _name, _bug, _reqs, _run in MUTANTS:
    registry.mutant(f"ring.ref.{_name}", _bug, _reqs, "hypothesis")(_run)
for _name, _bug, _reqs, _run in SCENARIO_MUTANTS:
    registry.mutant(f"ring.ref.{_name}", _bug, _reqs, "test")(_run)
