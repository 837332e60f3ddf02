"""The split ring against a hostile peer: one side honest (the one under test), the other
writing whatever it likes into the rings.

``ring.hostile.device``: a hostile driver writes arbitrary descriptors (loops, ``next`` and
heads out of range, chains longer than Q, bad indirect tables, buffers outside memory,
readable after writable), available-ring entries and ``avail.idx`` jumps, mixed with
well-formed chains; the device under test pops, writes and pushes, decides notifications and
re-enables kicks. ``ring.hostile.driver``: a hostile device writes arbitrary used elements
and ``used.idx`` values, mixed with well-formed ones, while the driver under test adds buffers
and takes them back.

Each operation of the side under test is checked against an independent oracle written from
spec/ring.md (RING-SPLIT-080, RING-SPLIT-081, RING-SPLIT-082, RING-SPLIT-083, RING-SPLIT-084,
RING-SPLIT-085): where the oracle sees a violation the side must raise a
:class:`RingError` whose ``req`` is one of RING-SPLIT-080, RING-SPLIT-081, RING-SPLIT-082,
RING-SPLIT-083, RING-SPLIT-084, RING-SPLIT-085 (or RING-SPLIT-092 for a head
the device already holds), and otherwise return exactly what the oracle computes. It must
never raise anything else, never access memory outside guest memory (RING-SPLIT-082), never
take more than a bounded number of accesses for one operation (a hang: RING-SPLIT-080), never
store during an operation that fails, and never store outside the fields it owns and the
writable buffers it is using (RING-SPLIT-012). After an error its state is unchanged and every
further operation raises :class:`NeedsReset` without touching memory (RING-SPLIT-084,
RING-SPLIT-085). The driver never frees a descriptor of an outstanding chain (RING-SPLIT-093).

A known-bad variant is refuted differentially (``reference=``): by a scenario on which it
breaks a requirement and the reference does not break the same one at the same action.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from virtiospec.models import registry
from virtiospec.models.hypothesis_run import RunRecord, Violation
from virtiospec.models.memory.tso import Action, Side
from virtiospec.models.ring.hostile_harness import (
    DEVICE_ERRORS,
    DRIVER_ERRORS,
    INDIRECT_MAX,
    ITAB,
    Geometry,
    Harness,
    HostileConfig,
    Scenario,
    run_scenarios,
)
from virtiospec.models.ring.hostile_oracle import Held, Refused, expect_get, expect_pop
from virtiospec.models.ring.names import name_table
from virtiospec.reference.access import GuestMemory, Store, run
from virtiospec.reference.ring import RingError, SplitDevice, SplitDriver, SplitLayout
from virtiospec.reference.ring.device import Chain
from virtiospec.reference.ring.layout import (
    DESC_SIZE,
    U16,
    VIRTQ_DESC_F_INDIRECT,
    VIRTQ_DESC_F_NEXT,
    VIRTQ_DESC_F_WRITE,
    used_ring_size,
)

__all__ = ["HostileConfig", "run_hostile_device", "run_hostile_driver"]


# -- the device under test -----------------------------------------------------------------
def _pattern(n: int) -> bytes:
    return bytes((5 * i + 1) & 0xFF for i in range(n))


def device_scenario(cfg: HostileConfig, sc: Scenario, record: RunRecord) -> None:
    g = Geometry.make(sc.q, ITAB * DESC_SIZE)
    h = Harness(g, "device", lambda names: name_table(names, g.itab, ITAB, "itab"))
    h.run(lambda: _device_run(cfg, sc, g, h, record), record)


def _device_run(cfg: HostileConfig, sc: Scenario, g: Geometry, h: Harness,
                record: RunRecord) -> None:
    lay, q = g.lay, g.q
    host, dut = h.shm.side("driver"), h.shm.side("device")
    dev = cfg.device_cls(lay, g.size, event_idx=sc.event_idx, indirect=sc.indirect)
    run(dev.init(), h.guest)
    h.start_at(sc.start)
    dev.last_avail = dev.used_idx = sc.start
    owned = {lay.used_flags, lay.used_idx, lay.avail_event}
    owned |= {lay.used_ring(s) + k for s in range(q) for k in (0, 4)}
    h.shm.watchers.append(h.watch(owned))
    h.shm.note("env", f"Q={q} start={sc.start} {'event_idx' if sc.event_idx else 'flags'}"
               f"{' indirect' if sc.indirect else ''}; hostile driver")
    avail = sc.start  # the hostile driver's avail.idx
    held: list[Chain] = []  # popped, not pushed
    budget = 16 * q + 32
    for h.at, act in enumerate(sc.actions):
        kind = act[0]
        if kind in ("desc", "itab"):
            _, i, addr, length, flags, nxt = act
            base = (lay.desc if kind == "desc" else g.itab) + DESC_SIZE * i
            h.write(host, [(base, 8, addr), (base + 8, 4, length), (base + 12, 2, flags),
                           (base + 14, 2, nxt)])
        elif kind == "good":
            _, head, n, n_write, via_table, mask = act
            h.write(host, _good_chain(g, head, n, n_write, via_table and sc.indirect, mask))
        elif kind == "table":
            _, i, addr, length, flags = act
            at = lay.desc + DESC_SIZE * i
            h.write(host, _desc_stores(at, addr, length, flags))
            avail = _publish(h, host, lay, avail, i, dev.last_avail)
        elif kind == "nested":
            inner = g.itab + DESC_SIZE * (ITAB // 2)
            h.write(host, [*_desc_stores(lay.desc + DESC_SIZE * act[1], g.itab, DESC_SIZE,
                                         VIRTQ_DESC_F_INDIRECT),
                           *_desc_stores(g.itab, inner, DESC_SIZE, VIRTQ_DESC_F_INDIRECT),
                           *_desc_stores(inner, g.data, 8, 0)])
            avail = _publish(h, host, lay, avail, act[1], dev.last_avail)
        elif kind == "slot":
            h.write(host, [(lay.avail_ring(act[1]), 2, act[2])])
        elif kind == "publish":
            avail = _publish(h, host, lay, avail, act[1], dev.last_avail)
        elif kind == "idx":
            avail = (avail + act[1]) & U16
            h.write(host, [(lay.avail_idx, 2, avail)])
        elif kind == "pop":
            last = dev.last_avail
            before = _device_state(dev, h.guest, lay)
            try:
                want: Any = expect_pop(h.guest, lay, last, {c.head for c in held}, sc.indirect)
            except Refused as refusal:
                want = refusal
            chain, err = h.op(dut, dev.pop(), "pop", budget)
            if err is not None:
                record.count(f"refused {err.req}")
                _device_failed(h, dut, dev, err, want, before, lay)
                return
            if isinstance(want, Refused):
                raise Violation(want.req, f"pop accepted {chain}; it must be refused: {want}")
            got = None if chain is None else (chain.head, chain.readable, chain.writable)
            if got != want:
                raise Violation("RING-SPLIT-025", f"pop gave {got}, by the spec {want}")
            if chain is not None:
                if dev.last_avail != (last + 1) & U16:
                    raise Violation("RING-SPLIT-092", "pop did not consume one entry")
                held.append(chain)
                record.count("chains accepted")
        elif kind == "push":
            if not held:
                continue
            chain = held.pop(act[1] % len(held))
            data = _pattern(min(act[2], chain.writable_len))
            h.allowed = list(chain.writable)
            n, err = h.op(dut, dev.write_chain(chain, data), "write", budget + len(data))
            h.allowed = []
            old = dev.used_idx
            if err is None:
                _, err = h.op(dut, dev.push([(chain.head, n)]), "push", budget)
            if err is not None:
                raise Violation("RING-SPLIT-084", f"using a valid chain raised {err}")
            elem = lay.used_ring(old % q)
            if (h.guest.read(elem, 4), h.guest.read(elem + 4, 4)) != (chain.head, n) or \
                    h.guest.read(lay.used_idx, 2) != (old + 1) & U16:
                raise Violation("RING-SPLIT-043", "push did not write the used element and idx")
        else:
            make = {"enable": dev.enable_notify, "disable": dev.disable_notify,
                    "notify": dev.should_notify}[kind]
            result, err = h.op(dut, make(), kind, budget)
            if err is not None:
                raise Violation(err.req, f"{kind} raised {err}")
            if kind == "enable" and result != (h.guest.read(lay.avail_idx, 2) != dev.last_avail):
                raise Violation("RING-SPLIT-072", f"enable_notify -> {result} with avail.idx "
                                f"{h.guest.read(lay.avail_idx, 2)}, last_avail {dev.last_avail}")


def _publish(h: Harness, host: Side, lay: SplitLayout, avail: int, head: int,
             consumed: int) -> int:
    """Put ``head`` in the next slot and move avail.idx by one, if fewer than Q entries are
    waiting (jumps come from the ``idx`` action)."""
    if (avail - consumed) & U16 >= lay.size:
        return avail
    h.write(host, [(lay.avail_ring(avail % lay.size), 2, head),
                   (lay.avail_idx, 2, (avail + 1) & U16)])
    return (avail + 1) & U16


def _desc_stores(at: int, addr: int, length: int, flags: int,
                 nxt: int = 0) -> list[tuple[int, int, int]]:
    return [(at, 8, addr), (at + 8, 4, length), (at + 12, 2, flags), (at + 14, 2, nxt)]


def _good_chain(g: Geometry, head: int, n: int, n_write: int, via_table: bool,
                mask: int | None) -> list[tuple[int, int, int]]:
    """Stores of a chain of ``n`` buffers, the last ``n_write`` writable (or buffer k
    writable if bit k of ``mask`` is set: possibly readable after writable)."""
    q, lay = g.q, g.lay
    stores: list[tuple[int, int, int]] = []
    n = min(n, ITAB) if via_table else n
    base, ids = ((g.itab, list(range(n))) if via_table
                 else (lay.desc, [(head + k) % q for k in range(n)]))
    for k in range(n):
        at = base + DESC_SIZE * ids[k]
        last = k == n - 1
        writable = k >= n - n_write if mask is None else bool(mask >> k & 1)
        flags = (VIRTQ_DESC_F_WRITE if writable else 0) | (0 if last else VIRTQ_DESC_F_NEXT)
        stores += [(at, 8, g.data + 16 * k), (at + 8, 4, 16), (at + 12, 2, flags),
                   (at + 14, 2, 0 if last else ids[k + 1])]
    if via_table:
        at = lay.desc + DESC_SIZE * head
        stores += [(at, 8, g.itab), (at + 8, 4, DESC_SIZE * n),
                   (at + 12, 2, VIRTQ_DESC_F_INDIRECT), (at + 14, 2, 0)]
    return stores


def _device_state(dev: SplitDevice, guest: GuestMemory, lay: SplitLayout) -> tuple[Any, ...]:
    return (dev.last_avail, dev.used_idx, dict(dev.in_flight),
            guest.read_bytes(lay.used, used_ring_size(lay.size)))


def _device_failed(h: Harness, dut: Side, dev: SplitDevice, err: RingError, want: Any,
                   before: tuple[Any, ...], lay: SplitLayout) -> None:
    h.refused(dut, "pop", err, want, DEVICE_ERRORS, ("RING-SPLIT-084", "RING-SPLIT-025"),
              ("080..084", "chain", "queue"), _device_state(dev, h.guest, lay) != before,
              [("pop", dev.pop), ("push", lambda: dev.push([])),
               ("should_notify", dev.should_notify), ("enable_notify", dev.enable_notify),
               ("disable_notify", dev.disable_notify)])




# -- the driver under test -----------------------------------------------------------------
def driver_scenario(cfg: HostileConfig, sc: Scenario, record: RunRecord) -> None:
    g = Geometry.make(sc.q, sc.q * INDIRECT_MAX * DESC_SIZE)
    h = Harness(g, "driver")
    h.run(lambda: _driver_run(cfg, sc, g, h, record), record)


def _driver_run(cfg: HostileConfig, sc: Scenario, g: Geometry, h: Harness,
                record: RunRecord) -> None:
    lay, q = g.lay, g.q
    host, dut = h.shm.side("device"), h.shm.side("driver")
    drv = cfg.driver_cls(lay, event_idx=sc.event_idx,
                         indirect_area=g.itab if sc.indirect else None,
                         indirect_max=INDIRECT_MAX)
    run(drv.init(), h.guest)
    h.start_at(sc.start)
    drv.avail_idx = drv.last_used = sc.start
    chains: dict[int, Held] = {}
    h.shm.watchers.append(_driver_watch(h, lay, g, chains))
    h.shm.note("env", f"Q={q} start={sc.start} {'event_idx' if sc.event_idx else 'flags'}"
               f"{' indirect' if sc.indirect else ''}; hostile device")
    used, token = sc.start, 0  # the hostile device's used.idx; the driver's tokens
    for h.at, act in enumerate(sc.actions):
        kind = act[0]
        if kind == "valid":
            if not chains:
                continue
            head = sorted(chains)[act[1] % len(chains)]
            elem = lay.used_ring(used % q)
            used = (used + 1) & U16
            h.write(host, [(elem, 4, head), (elem + 4, 4, chains[head].writable * act[2] // 4),
                           (lay.used_idx, 2, used)])
        elif kind == "elem":
            elem = lay.used_ring(act[1])
            h.write(host, [(elem, 4, act[2]), (elem + 4, 4, act[3])])
        elif kind == "uidx":
            used = (used + act[1]) & U16
            h.write(host, [(lay.used_idx, 2, used)])
        elif kind in ("uflags", "aevent"):
            h.write(host, [(lay.used_flags if kind == "uflags" else lay.avail_event, 2, act[1])])
        elif kind == "add":
            token += 1
            at = g.data
            out: list[tuple[int, int]] = []
            in_: list[tuple[int, int]] = []
            for writable, n in sorted(act[1], key=lambda t: t[0])[:q]:
                (in_ if writable else out).append((at, n))
                at += n
            head, err = h.op(dut, drv.add(out, in_, token), "add", 16 * q + 32)
            if err is not None:
                raise Violation(err.req, f"add raised {err}")
            if head is not None:
                chains[head] = Held(token, sum(n for _, n in in_), list(drv.chains[head].descs))
        elif kind == "get":
            before = _driver_state(drv)
            try:
                want: Any = expect_get(h.guest, lay, drv.last_used, drv.outstanding, chains)
            except Refused as refusal:
                want = refusal
            got, err = h.op(dut, drv.get_used(), "get_used", 32)
            if err is not None:
                record.count(f"refused {err.req}")
                _driver_failed(h, dut, drv, err, want, before)
                return
            if isinstance(want, Refused):
                raise Violation(want.req, f"get_used accepted {got}; it must be refused: {want}")
            if got != want:
                raise Violation("RING-SPLIT-092", f"get_used gave {got}, by the spec {want}")
            if got is not None:
                record.count("buffers returned")
                del chains[next(hd for hd, c in chains.items() if c.token == got[0])]
        else:
            make = {"kick": drv.kick_prepare, "disable": drv.disable_cb,
                    "enable": drv.enable_cb, "delayed": drv.enable_cb_delayed}[kind]
            _, err = h.op(dut, make(), kind, 32)
            if err is not None:
                raise Violation(err.req, f"{kind} raised {err}")
        _free_list(drv, chains, q)


def _driver_watch(h: Harness, lay: SplitLayout, g: Geometry,
                  chains: dict[int, Held]) -> Callable[[Side, Action], None]:
    def watcher(side: Side, action: Action) -> None:
        if side.name != "driver" or not isinstance(action, Store):
            return
        h.stores += 1
        a = action.addr
        if lay.desc <= a < lay.desc + DESC_SIZE * lay.size:
            d = (a - lay.desc) // DESC_SIZE
            if any(d in c.descs for c in chains.values()):
                raise Violation("RING-SPLIT-093", f"driver rewrote {h.shm.names(a)} of an "
                                "outstanding chain")
        elif not (lay.avail <= a < lay.used_event + 2 or g.itab <= a < g.data):
            raise Violation("RING-SPLIT-003", f"driver stored to {h.shm.names(a)}")

    return watcher


def _free_list(drv: SplitDriver, chains: dict[int, Held], q: int) -> None:
    """RING-SPLIT-093: the free descriptors and those of outstanding chains partition 0..Q-1."""
    held = [d for c in chains.values() for d in c.descs]
    every = sorted(list(drv.free) + held)
    if every != list(range(q)):
        raise Violation("RING-SPLIT-093", f"free list {drv.free} and outstanding chains "
                        f"{held} do not partition the {q} descriptors")


def _driver_state(drv: SplitDriver) -> tuple[Any, ...]:
    return (list(drv.free), {h: (c.token, list(c.descs), c.writable) for h, c in
                             drv.chains.items()},
            drv.last_used, drv.avail_idx, drv.num_added, drv.cb_disabled)


def _driver_failed(h: Harness, dut: Side, drv: SplitDriver, err: RingError, want: Any,
                   before: tuple[Any, ...]) -> None:
    h.refused(dut, "get_used", err, want, DRIVER_ERRORS, ("RING-SPLIT-085", "RING-SPLIT-085"),
              ("085", "used element", "driver"), _driver_state(drv) != before,
              [("add", lambda: drv.add([(h.g.data, 8)], [], "late")),
               ("kick_prepare", drv.kick_prepare), ("get_used", drv.get_used),
               ("enable_cb", drv.enable_cb), ("enable_cb_delayed", drv.enable_cb_delayed),
               ("disable_cb", drv.disable_cb)])




# -- running and registering ---------------------------------------------------------------
def run_hostile_device(cfg: HostileConfig, max_examples: int, *, derandomize: bool = False,
                       reference: HostileConfig | None = None,
                       shrink_seconds: float = 20.0) -> registry.Evidence:
    """The device of ``cfg`` against a hostile driver. With ``reference``, fail only on a
    scenario that the reference's device gets through (how a variant is refuted)."""
    return run_scenarios("device", device_scenario, cfg, max_examples, derandomize, reference,
                shrink_seconds)


def run_hostile_driver(cfg: HostileConfig, max_examples: int, *, derandomize: bool = False,
                       reference: HostileConfig | None = None,
                       shrink_seconds: float = 20.0) -> registry.Evidence:
    """The driver of ``cfg`` against a hostile device (``reference``: as above)."""
    return run_scenarios("driver", driver_scenario, cfg, max_examples, derandomize, reference,
                shrink_seconds)


@registry.check("ring.hostile.device",
                ("RING-SPLIT-012", "RING-SPLIT-025", "RING-SPLIT-080", "RING-SPLIT-081",
                 "RING-SPLIT-082", "RING-SPLIT-083", "RING-SPLIT-084"),
                "the device against a hostile driver: bounded walks, errors by the spec, "
                "state untouched after an error")
def check_hostile_device(n: int) -> registry.Evidence:
    return run_hostile_device(HostileConfig(), n)


@registry.check("ring.hostile.driver", ("RING-SPLIT-085", "RING-SPLIT-093"),
                "the driver against a hostile device: used elements checked, free list intact")
def check_hostile_driver(n: int) -> registry.Evidence:
    return run_hostile_driver(HostileConfig(), n)
