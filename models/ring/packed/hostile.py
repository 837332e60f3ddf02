"""The packed ring against a hostile peer: one side honest (the one under test), the other
writing whatever it likes into the ring.

``ring.packed.hostile.device``: a hostile driver writes whole descriptors at and after the
device's read position (any marks: available, used, last lap's, zero; any NEXT, WRITE,
INDIRECT; addresses inside, across the end of and outside guest memory, or overflowing; any
length and buffer ID), indirect tables, and well-formed lists; the device under test pops,
pushes, decides notifications and re-enables kicks. ``ring.packed.hostile.driver``: a hostile
device writes used descriptors with any ID, length, WRITE and marks at the driver's used
position, mixed with honest ones, while the driver under test adds buffers and takes them
back.

Each operation of the side under test is checked against an oracle written from
spec/ring_packed.md that keeps its own copy of the side's positions, wrap bits and held lists:
where the oracle sees a violation the side must raise a :class:`RingError` naming the
requirement the oracle names (RING-PACKED-080, RING-PACKED-081, RING-PACKED-082, RING-PACKED-083,
RING-PACKED-084, RING-PACKED-085, RING-PACKED-086), and otherwise return exactly what the
oracle computes. It must never raise anything else, never access memory outside guest memory
(RING-PACKED-083), never take more than a bounded number of accesses for one operation,
never store during an operation that fails, and store only the fields it owns. After an error
its state is unchanged and every further operation raises :class:`NeedsReset` without
touching memory (RING-PACKED-085, RING-PACKED-086).

The oracles are in models/ring/packed/hostile_oracle.py.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from virtiospec.models import registry
from virtiospec.models.hypothesis_run import (
    RunRecord,
    Violation,
    hypothesis_settings,
    run_hypothesis,
)
from virtiospec.models.ring.packed.hostile_oracle import (
    INDIRECT_MAX,
    ITAB,
    DeviceModel,
    DriverModel,
    Geometry,
    Refused,
    _avail,
    _step,
    expect_get,
    expect_pop,
)
from virtiospec.reference.access import GuestMemory, Load, OutOfBounds, Store
from virtiospec.reference.ring import NeedsReset, PackedDevice, PackedDriver, QueueFull, RingError
from virtiospec.reference.ring.packed.layout import (
    MARKS,
    RING_EVENT_FLAGS_DESC,
    RING_EVENT_FLAGS_DISABLE,
    RING_EVENT_FLAGS_ENABLE,
    VIRTQ_DESC_F_AVAIL,
    VIRTQ_DESC_F_INDIRECT,
    VIRTQ_DESC_F_NEXT,
    VIRTQ_DESC_F_USED,
    VIRTQ_DESC_F_WRITE,
)

Act = tuple[Any, ...]


@dataclass(frozen=True)
class HostileConfig:
    device_cls: type[PackedDevice] = PackedDevice
    driver_cls: type[PackedDriver] = PackedDriver
    sizes: tuple[int, ...] = (1, 2, 3, 4, 8)
    actions: int = 40


# -- running one operation -----------------------------------------------------------------
class Runner:
    """Runs operations straight through over guest memory, counting accesses and stores."""

    def __init__(self, g: GuestMemory, limit: int, record: RunRecord) -> None:
        self.g, self.limit, self.record = g, limit, record
        self.stores: list[Store] = []
        self.accesses = 0

    def __call__(self, op: Generator[Any, int | None, Any]) -> Any:
        self.stores, self.accesses = [], 0
        value: int | None = None
        try:
            while True:
                access = op.send(value)
                self.accesses += 1
                self.record.steps += 1
                if self.accesses > self.limit:
                    raise Violation("RING-PACKED-080", f"more than {self.limit} accesses in "
                                    "one operation")
                value = None
                if isinstance(access, Load):
                    value = self.g.read(access.addr, access.size)
                elif isinstance(access, Store):
                    self.stores.append(access)
                    self.g.write(access.addr, access.size, access.value)
        except StopIteration as done:
            return done.value
        except OutOfBounds as err:
            raise Violation("RING-PACKED-083", str(err)) from err


def _refusal(run: Runner, g: GuestMemory, op: Generator[Any, int | None, Any],
             want: Refused, state: object, now: Any) -> RingError:
    before = bytes(g.buf)
    try:
        got = run(op)
    except RingError as err:
        if err.req != want.req:
            raise Violation(want.req, f"refused with {err.req} ({err}), the oracle says "
                            f"{want}") from err
        if bytes(g.buf) != before or run.stores:
            raise Violation(want.req, "stored during a refused operation") from err
        if now() != state:
            raise Violation(want.req, "state changed by a refused operation") from err
        return err
    raise Violation(want.req, f"accepted ({got!r}); the oracle refuses: {want}")


def _stays_stopped(run: Runner, ops: list[Generator[Any, int | None, Any]], req: str) -> None:
    for op in ops:
        try:
            run(op)
        except NeedsReset:
            if run.accesses:
                raise Violation(req, "touched memory while stopped") from None
            continue
        raise Violation(req, "went on after an error")


# -- the device under a hostile driver -----------------------------------------------------
ADDRS = ("data", "data", "data+100", "end-8", "end", "overflow", "itab", "itab")
LENS = (0, 8, 16, 24, 32, 64, 1 << 20)
MARK_KINDS = ("avail", "used", "last-lap", "zero")


def _addr(geo: Geometry, kind: str) -> int:
    return {"data": geo.data, "data+100": geo.data + 100, "end-8": geo.size - 8,
            "end": geo.size, "overflow": (1 << 64) - 16, "itab": geo.itab}[kind]


def _marks(kind: str, wrap: int) -> int:
    if kind == "avail":
        return VIRTQ_DESC_F_AVAIL if wrap else VIRTQ_DESC_F_USED
    if kind == "used":
        return MARKS if wrap else 0
    if kind == "last-lap":
        return VIRTQ_DESC_F_USED if wrap else VIRTQ_DESC_F_AVAIL
    return 0


LIST_DESC = st.tuples(
    st.sampled_from(("avail", "avail", *MARK_KINDS)),
    st.sampled_from((0, 0, VIRTQ_DESC_F_WRITE, VIRTQ_DESC_F_WRITE, VIRTQ_DESC_F_INDIRECT,
                     VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_INDIRECT)),
    st.sampled_from(("data", "data+100", *ADDRS)), st.sampled_from((8, 16, *LENS)))
DEVICE_ACTS = st.one_of(
    st.tuples(st.just("honest"), st.integers(1, 3), st.integers(0, 3), st.booleans(),
              st.just(False), st.just(False)),
    st.tuples(st.just("honest"), st.integers(1, 3), st.integers(0, 3), st.booleans(),
              st.booleans(), st.booleans()),
    st.tuples(st.just("list"), st.lists(LIST_DESC, min_size=1, max_size=3), st.booleans(),
              st.integers(0, 5)),
    st.tuples(st.just("desc"), st.integers(0, 3), st.sampled_from(MARK_KINDS),
              st.integers(0, 7), st.sampled_from(ADDRS), st.sampled_from(LENS),
              st.integers(0, 5)),
    st.tuples(st.just("table"), st.integers(0, ITAB - 1), st.sampled_from(ADDRS),
              st.sampled_from(LENS), st.integers(0, 0xFFFF)),
    st.tuples(st.just("pop")), st.tuples(st.just("pop")), st.tuples(st.just("pop")),
    st.tuples(st.just("push"), st.integers(0, 3), st.integers(0, 64)),
    st.tuples(st.just("push"), st.integers(0, 3), st.integers(0, 64)),
    st.tuples(st.just("notify")), st.tuples(st.just("enable")), st.tuples(st.just("disable")),
)


def device_scenario(cfg: HostileConfig, record: RunRecord, q: int, indirect: bool,
                    event_idx: bool, actions: list[Act]) -> None:
    geo = Geometry.make(q)
    g = GuestMemory(geo.size)
    dev = cfg.device_cls(geo.lay, geo.size, event_idx=event_idx, indirect=indirect)
    run = Runner(g, 64 * (q + ITAB) + 64, record)
    run(dev.init())
    m = DeviceModel()
    next_id = 100
    record.trace = [registry.Step("env", f"Q={q} indirect={indirect} event_idx={event_idx}")]

    def state() -> tuple[Any, ...]:
        return (dev.last_avail, dev.avail_wrap, dev.used_pos, dev.used_wrap, dev.held,
                sorted(dev.in_flight))

    def held_id() -> int:
        """The ID of a list the device holds (RING-PACKED-085), or the last honest one."""
        return min(m.held) if m.held else (next_id - 1) & 0xFFFF

    for act in actions:
        record.trace.append(registry.Step("driver" if act[0] in ("honest", "desc", "table")
                                          else "device", repr(act)))
        kind = act[0]
        if kind == "honest":  # a list at the read position, well-formed unless ``swap``
            _, n, n_in, table, swap, reuse = act
            n_in = min(n_in, n)
            elems = [(geo.data + 16 * k, 16, (k < n_in) if swap else (k >= n - n_in))
                     for k in range(n)]
            next_id += 1
            buf_id = held_id() if reuse else next_id & 0xFFFF
            if table and indirect:
                for k, (a, ln, w) in enumerate(elems):
                    at = geo.itab + 16 * k
                    g.write(at, 8, a)
                    g.write(at + 8, 4, ln)
                    g.write(at + 14, 2, VIRTQ_DESC_F_WRITE if w else 0)
                ring = [(geo.itab, 16 * n, VIRTQ_DESC_F_INDIRECT)]
            else:
                ring = [(a, ln, VIRTQ_DESC_F_WRITE if w else 0) for a, ln, w in elems]
            pos, wrap, first = m.pos, m.wrap, 0
            for k, (a, ln, f) in enumerate(ring):
                f |= _marks("avail", wrap) | (VIRTQ_DESC_F_NEXT if k < len(ring) - 1 else 0)
                at = geo.lay.desc_addr(pos)
                g.write(at, 8, a)
                g.write(at + 8, 4, ln)
                g.write(at + 12, 2, buf_id)
                if k:
                    g.write(at + 14, 2, f)
                else:
                    first = f
                pos, wrap = _step(q, pos, wrap)
            g.write(geo.lay.desc_addr(m.pos) + 14, 2, first)
        elif kind == "list":  # a list of whatever, its first descriptor available last
            _, descs, next_on_last, buf_id = act
            pos, wrap = m.pos, m.wrap
            ats = []
            for k, (marks, bits, addr, length) in enumerate(descs):
                nxt = k < len(descs) - 1 or next_on_last
                flags = (_marks("avail" if k == 0 else marks, wrap) | bits
                         | (VIRTQ_DESC_F_NEXT if nxt else 0))
                at = geo.lay.desc_addr(pos)
                g.write(at, 8, _addr(geo, addr))
                g.write(at + 8, 4, length & 0xFFFFFFFF)
                g.write(at + 12, 2, [0, 1, q - 1, q, 4096, held_id()][buf_id])
                ats.append((at, flags))
                pos, wrap = _step(q, pos, wrap)
            for at, flags in ats[1:] + ats[:1]:
                g.write(at + 14, 2, flags)
        elif kind == "desc":
            _, k, marks, bits, addr, length, buf_id = act
            pos, wrap = m.pos, m.wrap
            for _ in range(k % q):
                pos, wrap = _step(q, pos, wrap)
            at = geo.lay.desc_addr(pos)
            g.write(at, 8, _addr(geo, addr))
            g.write(at + 8, 4, length & 0xFFFFFFFF)
            g.write(at + 12, 2, [0, 1, q - 1, q, 4096, held_id()][buf_id])
            g.write(at + 14, 2, _marks(marks, wrap) | bits)
        elif kind == "table":
            _, k, addr, length, flags = act
            at = geo.itab + 16 * k
            g.write(at, 8, _addr(geo, addr))
            g.write(at + 8, 4, length & 0xFFFFFFFF)
            g.write(at + 14, 2, flags)
        elif kind == "pop":
            try:
                want = expect_pop(geo, g, m, indirect)
            except Refused as refused:
                err = _refusal(run, g, dev.pop(), refused, state(), state)
                record.count(f"refused {err.req}")
                _stays_stopped(run, [dev.pop(), dev.push([]), dev.should_notify(),
                                     dev.enable_notify(), dev.disable_notify()], refused.req)
                return
            before = bytes(g.buf)
            try:
                got = run(dev.pop())
            except RingError as err:
                raise Violation(err.req, f"refused ({err}); the oracle accepts {want}") from err
            if run.stores or bytes(g.buf) != before:
                raise Violation("RING-PACKED-020", "pop stored")
            if want is None:
                if got is not None:
                    raise Violation("RING-PACKED-021", f"popped {got}; nothing is available "
                                    "by the marks of RING-PACKED-015")
                continue
            chain, ndesc = want
            if got is None or (got.head, got.readable, got.writable) != (
                    chain.head, chain.readable, chain.writable):
                raise Violation("RING-PACKED-092", f"popped {got}, the oracle says {chain}")
            m.held[chain.head] = (ndesc, chain.writable_len)
            for _ in range(ndesc):
                m.pos, m.wrap = _step(q, m.pos, m.wrap)
            record.count("lists accepted")
        elif kind == "push" and m.held:
            _, k, length = act
            buf_id = sorted(m.held)[k % len(m.held)]
            ndesc, writable = m.held.pop(buf_id)
            length = min(length, writable)
            at = geo.lay.desc_addr(m.used_pos)
            run(dev.push([(buf_id, length)]))
            want_flags = (MARKS if m.used_wrap else 0) | (VIRTQ_DESC_F_WRITE if length else 0)
            got4 = geo.desc(g, at)
            if got4[1:] != (length, buf_id, want_flags) or any(
                    not at + 8 <= s.addr < at + 16 for s in run.stores):
                raise Violation("RING-PACKED-026", f"used descriptor {got4} at "
                                f"{m.used_pos}, want len {length}, ID {buf_id}, flags "
                                f"{want_flags:#06x}")
            for _ in range(ndesc):
                m.used_pos, m.used_wrap = _step(q, m.used_pos, m.used_wrap)
            record.count("used written")
        elif kind == "notify":
            run(dev.should_notify())
            if run.stores:
                raise Violation("RING-PACKED-060", "should_notify stored")
        elif kind == "enable":
            got = run(dev.enable_notify())
            word = g.read(geo.lay.device_event, 4)
            want_word = (RING_EVENT_FLAGS_DESC << 16 | m.pos | m.wrap << 15 if event_idx
                         else RING_EVENT_FLAGS_ENABLE << 16)
            if (word if event_idx else word & 0xFFFF0000) != want_word:
                raise Violation("RING-PACKED-061", f"device structure {word:#x} after enable")
            if got != _avail(geo.desc(g, geo.lay.desc_addr(m.pos))[3], m.wrap):
                raise Violation("RING-PACKED-070", f"enable_notify re-check returned {got}")
        elif kind == "disable":
            run(dev.disable_notify())
            if g.read(geo.lay.device_event + 2, 2) != RING_EVENT_FLAGS_DISABLE:
                raise Violation("RING-PACKED-061", "disable_notify did not write DISABLE")


# -- the driver under a hostile device -----------------------------------------------------
ID_KINDS = ("outstanding", "returned", "unknown", "beyond-q")
DRIVER_ACTS = st.one_of(
    st.tuples(st.just("add"), st.integers(0, 2), st.integers(0, 2)),
    st.tuples(st.just("add"), st.integers(0, 2), st.integers(0, 2)),
    st.tuples(st.just("used"), st.integers(0, 3), st.integers(0, 64), st.booleans()),
    st.tuples(st.just("lie"), st.sampled_from(ID_KINDS), st.integers(0, 3),
              st.sampled_from((0, 8, 16, 17, 48, 0xFFFFFFFF)), st.booleans(),
              st.sampled_from(("used", "used", "used", *MARK_KINDS))),
    st.tuples(st.just("get")), st.tuples(st.just("get")), st.tuples(st.just("get")),
)


def driver_scenario(cfg: HostileConfig, record: RunRecord, q: int, indirect: bool,
                    event_idx: bool, actions: list[Act]) -> None:
    geo = Geometry.make(q)
    g = GuestMemory(geo.size)
    drv = cfg.driver_cls(geo.lay, event_idx=event_idx,
                         indirect_area=geo.itab if indirect else None, indirect_max=INDIRECT_MAX)
    run = Runner(g, 64 * (q + ITAB) + 64, record)
    run(drv.init())
    m = DriverModel()
    returned: list[int] = []
    token = 0
    record.trace = [registry.Step("env", f"Q={q} indirect={indirect} event_idx={event_idx}")]

    def state() -> tuple[Any, ...]:
        return (drv.last_used, drv.used_wrap, drv.free_descs, list(drv.free_ids),
                sorted(drv.ids))

    for act in actions:
        record.trace.append(registry.Step("device" if act[0] in ("used", "lie") else "driver",
                                          repr(act)))
        kind = act[0]
        if kind == "add":
            _, n_out, n_in = act
            n = max(n_out + n_in, 1)
            out = [(geo.data + 16 * k, 16) for k in range(n - n_in)]
            in_ = [(geo.data + 64 + 16 * k, 16) for k in range(n_in)]
            if n > q:
                continue
            try:
                buf_id = run(drv.add(out, in_, token))
            except QueueFull:
                continue
            ndesc = 1 if indirect and 1 < n <= INDIRECT_MAX else n
            m.outstanding[buf_id] = (token, ndesc, 16 * n_in)
            token += 1
        elif kind in ("used", "lie"):
            if kind == "used":  # an honest used descriptor for an outstanding list
                if not m.outstanding:
                    continue
                _, k, length, _ = act
                buf_id = sorted(m.outstanding)[k % len(m.outstanding)]
                length = min(length, m.outstanding[buf_id][2])
                write, marks = length > 0, "used"
            else:
                _, ids, k, length, write, marks = act
                pool = {"outstanding": sorted(m.outstanding), "returned": returned,
                        "unknown": [q + 7], "beyond-q": [4096 + k]}[ids]
                if not pool:
                    continue
                buf_id = pool[k % len(pool)]
            at = geo.lay.desc_addr(m.pos)  # at the driver's used position (RING-PACKED-015)
            g.write(at + 8, 4, length)
            g.write(at + 12, 2, buf_id)
            g.write(at + 14, 2, _marks(marks, m.wrap) | (VIRTQ_DESC_F_WRITE if write else 0))
        elif kind == "get":
            try:
                want = expect_get(geo, g, m)
            except Refused as refused:
                err = _refusal(run, g, drv.get_used(), refused, state(), state)
                record.count(f"refused {err.req}")
                _stays_stopped(run, [drv.get_used(), drv.add([(geo.data, 1)], [], 0),
                                     drv.kick_prepare(), drv.enable_cb(), drv.disable_cb()],
                               refused.req)
                return
            try:
                got = run(drv.get_used())
            except RingError as err:
                raise Violation(err.req, f"refused ({err}); the oracle accepts {want}") from err
            if want is None:
                if got is not None:
                    raise Violation("RING-PACKED-015", f"got {got}; nothing is used")
                continue
            buf_id, tok, written = want
            if got != (tok, written):
                raise Violation("RING-PACKED-092", f"got {got}, the oracle says "
                                f"{(tok, written)}")
            _, ndesc, _ = m.outstanding.pop(buf_id)
            returned.append(buf_id)
            for _ in range(ndesc):
                m.pos, m.wrap = _step(q, m.pos, m.wrap)
            record.count("buffers returned")
            if any(s.addr < geo.lay.driver_event or s.addr >= geo.lay.end for s in run.stores):
                raise Violation("RING-PACKED-023", f"get_used stored {run.stores}")


# -- running and registering -----------------------------------------------------------------
def _run(scenario: Any, cfg: HostileConfig, acts: st.SearchStrategy[Act], max_examples: int,
         derandomize: bool, shrink_seconds: float | None) -> registry.Evidence:
    record = RunRecord()

    @given(q=st.sampled_from(cfg.sizes), indirect=st.booleans(), event_idx=st.booleans(),
           actions=st.lists(acts, min_size=cfg.actions // 4, max_size=cfg.actions))
    def test(q: int, indirect: bool, event_idx: bool, actions: list[Act]) -> None:
        record.examples += 1
        scenario(cfg, record, q, indirect, event_idx, actions)

    test = hypothesis_settings(max_examples, derandomize=derandomize)(test)
    return run_hypothesis(test, record, shrink_seconds=shrink_seconds)


def run_hostile_device(cfg: HostileConfig, max_examples: int, *, derandomize: bool = False,
                       shrink_seconds: float | None = 20.0) -> registry.Evidence:
    return _run(device_scenario, cfg, DEVICE_ACTS, max_examples, derandomize, shrink_seconds)


def run_hostile_driver(cfg: HostileConfig, max_examples: int, *, derandomize: bool = False,
                       shrink_seconds: float | None = 20.0) -> registry.Evidence:
    return _run(driver_scenario, cfg, DRIVER_ACTS, max_examples, derandomize, shrink_seconds)


DEVICE_REQS = ("RING-PACKED-015", "RING-PACKED-020", "RING-PACKED-021", "RING-PACKED-026",
               "RING-PACKED-042", "RING-PACKED-061", "RING-PACKED-070", "RING-PACKED-080",
               "RING-PACKED-081", "RING-PACKED-082", "RING-PACKED-083", "RING-PACKED-084",
               "RING-PACKED-085")
DRIVER_REQS = ("RING-PACKED-015", "RING-PACKED-026", "RING-PACKED-027", "RING-PACKED-086",
               "RING-PACKED-092")


@registry.check("ring.packed.hostile.device", DEVICE_REQS,
                "packed ring: the device against a hostile driver's descriptors and tables, "
                "every pop checked against an oracle; errors refused, nothing stored")
def check_hostile_device(n: int) -> registry.Evidence:
    return run_hostile_device(HostileConfig(), n)


@registry.check("ring.packed.hostile.driver", DRIVER_REQS,
                "packed ring: the driver against a hostile device's used descriptors, every "
                "get_used checked against an oracle; errors refused, nothing freed")
def check_hostile_driver(n: int) -> registry.Evidence:
    return run_hostile_driver(HostileConfig(), n)
