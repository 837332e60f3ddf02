"""The Python reference of the packed ring, run straight through: round trips over many laps,
lists, out-of-order completion, the wrap counters, event suppression, and hostile input on
both sides, each refused with its requirement and nothing corrupted."""

from __future__ import annotations

import random

import pytest
from virtiospec.conformance.suites.ring.packed.peer import (
    PackedHandDevice,
    make_packed_setup,
)
from virtiospec.reference.access import GuestMemory, Load, Op, Store, run
from virtiospec.reference.ring import (
    Chain,
    PackedDevice,
    PackedDriver,
    PackedLayout,
    QueueFull,
)
from virtiospec.reference.ring.errors import ChainTooLong
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
    off_wrap,
)

DATA = 0x10000
IND = 0x8000


def _pair(q: int = 8, *, event_idx: bool = False,
          indirect: bool = False) -> tuple[GuestMemory, PackedDriver, PackedDevice]:
    mem = GuestMemory(0x20000)
    lay = PackedLayout.packed_at(0x1000, q)
    drv = PackedDriver(lay, event_idx=event_idx, indirect_area=IND if indirect else None,
                       indirect_max=4)
    dev = PackedDevice(lay, mem.size, event_idx=event_idx, indirect=indirect)
    run(drv.init(), mem)
    run(dev.init(), mem)
    return mem, drv, dev


def _flags(mem: GuestMemory, drv: PackedDriver, pos: int) -> int:
    return mem.read(drv.layout.desc_addr(pos) + 14, 2)


# -- round trips ------------------------------------------------------------------------------
@pytest.mark.req("RING-PACKED-010", "RING-PACKED-011", "RING-PACKED-012", "RING-PACKED-026",
                 "RING-PACKED-027", "RING-PACKED-034", "RING-PACKED-090", "RING-PACKED-092")
@pytest.mark.parametrize("q", [1, 2, 3, 5, 8])
@pytest.mark.parametrize("indirect", [False, True])
def test_round_trips_over_many_laps(q: int, indirect: bool) -> None:
    """Lists of 1..3 elements, completed in random order, over many laps: every token comes
    back once, in the order the device used them, with the bytes and len it wrote."""
    rnd = random.Random(q * 2 + indirect)
    mem, drv, dev = _pair(q, indirect=indirect)
    wraps = 0
    token = 0
    token_of: dict[int, int] = {}  # buffer ID -> token, while outstanding
    sent: dict[int, tuple[bytes, list[tuple[int, int]]]] = {}  # token -> (readable, writable)
    held: list[int] = []  # buffer IDs popped, not pushed
    expect: list[tuple[int, int]] = []  # (token, len) in the order pushed
    replies: dict[int, bytes] = {}

    def push(buf_id: int, length: int) -> None:
        tok = token_of[buf_id]
        reply = bytes((tok + k) & 0xFF for k in range(length))
        chain_in = sent[tok][1]
        written = run(dev.write_chain(Chain(buf_id, [], chain_in), reply), mem)
        assert written == length
        run(dev.push([(buf_id, length)]), mem)
        expect.append((tok, length))
        replies[tok] = reply

    def take() -> bool:
        got = run(drv.get_used(), mem)
        if got is None:
            return False
        assert expect and got == expect[0], (got, expect)
        tok, length = expect.pop(0)
        data = b"".join(mem.read_bytes(a, n) for a, n in sent[tok][1])[:length]
        assert data == replies.pop(tok)
        return True

    for _ in range(100 * q + 200):
        r = rnd.random()
        if r < 0.45:
            n = rnd.randint(1, min(3, q))  # never longer than Q (RING-PACKED-030)
            base = DATA + 0x100 * (token % 64)
            n_out = rnd.randint(0, n - 1)
            out = [(base + 16 * k, 8) for k in range(n_out)]
            in_ = [(base + 0x80 + 16 * k, 16) for k in range(n - n_out)]
            readable = bytes((token * 7 + k) & 0xFF for k in range(8 * n_out))
            for k, (a, _) in enumerate(out):
                mem.write_bytes(a, readable[8 * k : 8 * k + 8])
            before = drv.avail_wrap
            try:
                buf_id = run(drv.add(out, in_, token), mem)
            except QueueFull:
                continue
            wraps += drv.avail_wrap != before
            token_of[buf_id] = token
            sent[token] = (readable, in_)
            token += 1
        elif r < 0.7:
            chain = run(dev.pop(), mem)
            if chain is not None:
                tok = token_of[chain.head]
                assert run(dev.read_chain(chain), mem) == sent[tok][0]
                assert chain.writable == sent[tok][1]
                held.append(chain.head)
        elif r < 0.85 and held:
            buf_id = held.pop(rnd.randrange(len(held)))  # out of order (RING-PACKED-011)
            push(buf_id, rnd.randint(0, dev.in_flight[buf_id].writable))
        else:
            take()
        assert 0 <= drv.outstanding <= q and 0 <= dev.held <= q
    for buf_id in held:
        push(buf_id, 0)
    while (chain := run(dev.pop(), mem)) is not None:
        push(chain.head, 0)
    while take():
        pass
    assert not expect and drv.num_free == q and not drv.ids and dev.held == 0
    assert wraps >= 10, wraps


@pytest.mark.req("RING-PACKED-004", "RING-PACKED-012", "RING-PACKED-013", "RING-PACKED-014")
def test_marks_in_memory_follow_the_wrap_counters() -> None:
    mem = GuestMemory(0x20000)
    mem.write_bytes(0x1000, b"\xff" * 0x100)  # stale memory: init zeroes it
    lay = PackedLayout.packed_at(0x1000, 3)
    drv, dev = PackedDriver(lay), PackedDevice(lay, mem.size)
    run(drv.init(), mem)
    run(dev.init(), mem)
    assert mem.read_bytes(0x1000, lay.end - 0x1000) == bytes(lay.end - 0x1000)
    for lap in range(4):
        wrap = 1 - lap % 2
        for pos in range(3):
            assert (drv.next_avail, drv.avail_wrap) == (pos, wrap)
            run(drv.add([(DATA, 4)], [], pos), mem)
            marks = _flags(mem, drv, pos) & MARKS
            assert marks == (VIRTQ_DESC_F_AVAIL if wrap else VIRTQ_DESC_F_USED)
            chain = run(dev.pop(), mem)
            assert chain is not None and run(dev.pop(), mem) is None
            run(dev.push([(chain.head, 0)]), mem)
            assert _flags(mem, drv, pos) & MARKS == (MARKS if wrap else 0)
            assert (dev.used_pos, dev.used_wrap) == ((pos + 1) % 3, wrap ^ (pos == 2))
            assert run(drv.get_used(), mem) == (pos, 0)
        assert drv.avail_wrap == dev.avail_wrap == dev.used_wrap == drv.used_wrap == 1 - wrap


@pytest.mark.req("RING-PACKED-025", "RING-PACKED-026", "RING-PACKED-033", "RING-PACKED-035")
def test_a_list_takes_one_used_descriptor_and_the_driver_skips_it() -> None:
    mem, drv, dev = _pair(4)
    a = run(drv.add([(DATA, 8)], [(DATA + 0x100, 32), (DATA + 0x200, 32)], "A"), mem)
    b = run(drv.add([(DATA + 0x300, 8)], [], "B"), mem)
    assert (drv.next_avail, drv.avail_wrap, drv.num_free) == (0, 0, 0)
    for pos in range(3):  # every descriptor of the list carries the ID and its marks
        assert mem.read(drv.layout.desc_addr(pos) + 12, 2) == a
        assert _flags(mem, drv, pos) & MARKS == VIRTQ_DESC_F_AVAIL
    assert [bool(_flags(mem, drv, p) & VIRTQ_DESC_F_NEXT) for p in range(4)] == [True] * 2 + \
        [False] * 2
    ca, cb = run(dev.pop(), mem), run(dev.pop(), mem)
    assert ca is not None and cb is not None and (ca.head, cb.head) == (a, b)
    assert ca.readable == [(DATA, 8)] and ca.writable == [(DATA + 0x100, 32), (DATA + 0x200, 32)]
    run(dev.push([(b, 0), (a, 40)]), mem)  # out of order: B's used descriptor at 0, A's at 1
    assert mem.read(drv.layout.desc_addr(0) + 12, 2) == b
    assert mem.read(drv.layout.desc_addr(1) + 12, 2) == a
    assert _flags(mem, drv, 1) == MARKS | VIRTQ_DESC_F_WRITE
    assert _flags(mem, drv, 2) & MARKS == VIRTQ_DESC_F_AVAIL  # skipped: left as it was
    assert run(drv.get_used(), mem) == ("B", 0)
    assert (drv.last_used, drv.num_free) == (1, 1)
    assert run(drv.get_used(), mem) == ("A", 40)
    assert (drv.last_used, drv.used_wrap, drv.num_free) == (0, 0, 4)
    assert run(drv.get_used(), mem) is None


@pytest.mark.req("RING-PACKED-040", "RING-PACKED-042")
def test_indirect_lists_take_one_ring_descriptor() -> None:
    mem, drv, dev = _pair(3, indirect=True)
    for n in range(7):
        run(drv.add([(DATA, 8), (DATA + 8, 8)], [(DATA + 0x100, 64)], n), mem)
        assert _flags(mem, drv, n % 3) & VIRTQ_DESC_F_INDIRECT
        table = mem.read(drv.layout.desc_addr(n % 3), 8)
        assert [mem.read(table + 16 * k + 14, 2) for k in range(3)] == [0, 0, VIRTQ_DESC_F_WRITE]
        chain = run(dev.pop(), mem)
        assert chain is not None and chain.readable == [(DATA, 8), (DATA + 8, 8)]
        run(dev.push([(chain.head, 5)]), mem)
        assert run(drv.get_used(), mem) == (n, 5)
    assert run(drv.add([(DATA, 8)], [], 9), mem) is not None  # one element: no table
    assert not _flags(mem, drv, 1) & VIRTQ_DESC_F_INDIRECT
    with pytest.raises(ChainTooLong):  # a table longer than Q (RING-PACKED-030)
        run(drv.add([(DATA, 8)] * 4, [], 10), mem)


@pytest.mark.req("RING-PACKED-030", "RING-PACKED-032", "RING-PACKED-090")
def test_full_ring_and_oversized_lists_are_refused() -> None:
    mem, drv, _ = _pair(3)
    with pytest.raises(ChainTooLong) as err:
        run(drv.add([(DATA, 1)] * 4, [], 0), mem)
    assert err.value.req == "RING-PACKED-030"
    run(drv.add([(DATA, 1)] * 2, [], 0), mem)
    snapshot = bytes(mem.buf)
    with pytest.raises(QueueFull):
        run(drv.add([(DATA, 1)] * 2, [], 1), mem)
    assert bytes(mem.buf) == snapshot and drv.num_free == 1
    run(drv.add([(DATA, 1)], [], 1), mem)
    assert drv.num_free == 0


@pytest.mark.req("RING-PACKED-024")
def test_kick_data_names_the_next_position() -> None:
    mem, drv, dev = _pair(3)
    assert drv.kick_data() == off_wrap(0, 1)
    for n in range(4):
        run(drv.add([(DATA, 1)], [], n), mem)
        run(dev.push([(run(dev.pop(), mem).head, 0)]), mem)  # type: ignore[union-attr]
        run(drv.get_used(), mem)
    assert drv.kick_data() == off_wrap(1, 0)


# -- notifications ----------------------------------------------------------------------------
def _kick_after_add(mem: GuestMemory, drv: PackedDriver, dev: PackedDevice, n: int = 1) -> bool:
    for _ in range(n):
        run(drv.add([(DATA, 1)], [], 0), mem)
    return run(drv.kick_prepare(), mem)


def _notify_after_push(mem: GuestMemory, drv: PackedDriver, dev: PackedDevice) -> bool:
    while (chain := run(dev.pop(), mem)) is not None:
        run(dev.push([(chain.head, 0)]), mem)
    decision = run(dev.should_notify(), mem)
    while run(drv.get_used(), mem) is not None:
        pass
    return decision


@pytest.mark.req("RING-PACKED-060", "RING-PACKED-061", "RING-PACKED-062", "RING-PACKED-063")
def test_enable_disable_suppression() -> None:
    mem, drv, dev = _pair(4)
    assert _kick_after_add(mem, drv, dev) and _notify_after_push(mem, drv, dev)
    run(dev.disable_notify(), mem)
    run(drv.disable_cb(), mem)
    assert drv.layout and mem.read(drv.layout.device_event + 2, 2) == RING_EVENT_FLAGS_DISABLE
    assert mem.read(drv.layout.driver_event + 2, 2) == RING_EVENT_FLAGS_DISABLE
    assert not _kick_after_add(mem, drv, dev) and not _notify_after_push(mem, drv, dev)
    assert not run(dev.enable_notify(), mem) and not run(drv.enable_cb(), mem)
    assert mem.read(drv.layout.device_event + 2, 2) == RING_EVENT_FLAGS_ENABLE
    assert _kick_after_add(mem, drv, dev) and _notify_after_push(mem, drv, dev)
    mem.write(drv.layout.driver_event, 4, RING_EVENT_FLAGS_DESC << 16 | 0x7777)
    assert _kick_after_add(mem, drv, dev)
    assert _notify_after_push(mem, drv, dev)  # DESC without EVENT_IDX: taken as ENABLE
    mem.write(drv.layout.driver_event, 4, 3 << 16)
    assert _kick_after_add(mem, drv, dev) and _notify_after_push(mem, drv, dev)  # reserved 3


@pytest.mark.req("RING-PACKED-060", "RING-PACKED-061", "RING-PACKED-062", "RING-PACKED-063",
                 "RING-PACKED-064", "RING-PACKED-066")
@pytest.mark.parametrize("q", [1, 3, 4])
def test_desc_suppression_notifies_exactly_at_the_event(q: int) -> None:
    """With EVENT_IDX, each side asks for the other's next position: every decision that
    passes it notifies, and one whose event lies ahead does not."""
    mem, drv, dev = _pair(q, event_idx=True)
    lay = drv.layout
    for rnd in range(4 * q + 2):
        assert not run(dev.enable_notify(), mem)
        word = mem.read(lay.device_event, 4)
        assert word == RING_EVENT_FLAGS_DESC << 16 | off_wrap(dev.last_avail, dev.avail_wrap)
        assert _kick_after_add(mem, drv, dev), f"round {rnd}: kick when passing the event"
        assert not run(drv.enable_cb(), mem)
        assert mem.read(lay.driver_event, 4) == RING_EVENT_FLAGS_DESC << 16 | off_wrap(
            drv.last_used, drv.used_wrap)
        assert _notify_after_push(mem, drv, dev), f"round {rnd}: notify when passing it"
    # an event one lap ahead is not passed by one position
    ahead = off_wrap(dev.last_avail, dev.avail_wrap ^ 1)
    mem.write(lay.device_event, 4, RING_EVENT_FLAGS_DESC << 16 | ahead)
    assert not _kick_after_add(mem, drv, dev)
    # 2Q positions without a decision: notify whatever the event says (RING-PACKED-064)
    mem.write(lay.driver_event, 4, RING_EVENT_FLAGS_DESC << 16 | off_wrap(dev.used_pos,
                                                                         dev.used_wrap ^ 1))
    for _ in range(2 * q):
        run(dev.push([(run(dev.pop(), mem).head, 0)]), mem)  # type: ignore[union-attr]
        run(drv.get_used(), mem)
        run(drv.add([(DATA, 1)], [], 0), mem)
    assert run(dev.should_notify(), mem)


@pytest.mark.req("RING-PACKED-070", "RING-PACKED-071", "RING-PACKED-110", "RING-PACKED-111")
@pytest.mark.parametrize("event_idx", [False, True])
def test_enable_rechecks(event_idx: bool) -> None:
    mem, drv, dev = _pair(2, event_idx=event_idx)
    for _ in range(3):  # across a wrap
        run(dev.disable_notify(), mem)
        run(drv.disable_cb(), mem)
        run(drv.add([(DATA, 1)], [], 0), mem)
        assert run(dev.enable_notify(), mem), "a list arrived while kicks were off"
        run(dev.push([(run(dev.pop(), mem).head, 0)]), mem)  # type: ignore[union-attr]
        assert run(drv.enable_cb(), mem), "a used buffer arrived while callbacks were off"
        assert run(drv.get_used(), mem) == (0, 0)
        assert not run(dev.enable_notify(), mem) and not run(drv.enable_cb(), mem)


@pytest.mark.req("RING-PACKED-027")
def test_len_without_write_is_taken_as_zero() -> None:
    setup = make_packed_setup(8)
    drv = PackedDriver(setup.layout)
    run(drv.init(), setup.memory)
    dev = PackedHandDevice(setup)
    buf_id = run(drv.add([(0x40000, 8)], [], 0), setup.memory)
    dev.pop_all()
    dev.used(buf_id, 0xFFFF_FFFF, write=False)  # len reserved without WRITE
    assert run(drv.get_used(), setup.memory) == (0, 0)


def test_every_access_is_a_yielded_load_or_store() -> None:
    """The reference never touches memory behind the access protocol's back."""
    mem, drv, dev = _pair(2)
    seen: list[object] = []
    op = drv.add([(DATA, 8)], [], 0)
    value = None
    try:
        while True:
            access = op.send(value)
            seen.append(access)
            value = mem.read(access.addr, access.size) if isinstance(access, Load) else None
            if isinstance(access, Store):
                mem.write(access.addr, access.size, access.value)
    except StopIteration:
        pass
    assert isinstance(seen[-1], Store) and seen[-1].addr == drv.layout.desc_addr(0) + 14
    assert run(dev.pop(), mem) is not None


# -- the barriers sit where the spec puts them --------------------------------------------------
def _accesses(op: Op[object], mem: GuestMemory) -> list[object]:
    out: list[object] = []
    value: int | None = None
    try:
        while True:
            access = op.send(value)
            out.append(access)
            value = None
            if isinstance(access, Load):
                value = mem.read(access.addr, access.size)
            elif isinstance(access, Store):
                mem.write(access.addr, access.size, access.value)
    except StopIteration:
        return out


@pytest.mark.req("RING-PACKED-033", "RING-PACKED-050", "RING-PACKED-051", "RING-PACKED-052",
                 "RING-PACKED-053", "RING-PACKED-054", "RING-PACKED-055", "RING-PACKED-070",
                 "RING-PACKED-071")
@pytest.mark.parametrize("event_idx", [False, True])
def test_barriers_sit_where_the_spec_puts_them(event_idx: bool) -> None:
    from virtiospec.reference.access import Fence

    mem, drv, dev = _pair(4, event_idx=event_idx)
    lay = drv.layout
    flags_at = lay.desc_addr(0) + 14
    add = _accesses(drv.add([(DATA, 8), (DATA + 8, 8)], [(DATA + 16, 8)], 0), mem)
    assert add[-2:] == [Fence("wmb"), Store(flags_at, 2, mem.read(flags_at, 2))]
    assert all(isinstance(a, Store) for a in add[:-2])  # the rest of the list before the wmb
    kick = _accesses(drv.kick_prepare(), mem)
    assert kick == [Fence("mb"), Load(lay.device_event, 4)]
    pop = _accesses(dev.pop(), mem)
    assert pop[:2] == [Load(flags_at, 2), Fence("rmb")]
    assert Fence("rmb") not in pop[2:] and all(isinstance(a, Load) for a in pop[2:])
    push = _accesses(dev.push([(0, 8)]), mem)
    assert [type(a).__name__ for a in push] == ["Store", "Store", "Fence", "Store"]
    assert push[2] == Fence("wmb") and push[3] == Store(flags_at, 2, mem.read(flags_at, 2))
    notify = _accesses(dev.should_notify(), mem)
    assert notify == [Fence("mb"), Load(lay.driver_event, 4)]
    used = _accesses(drv.get_used(), mem)
    assert used[:4] == [Load(flags_at, 2), Fence("rmb"), Load(lay.desc_addr(0) + 12, 2),
                        Load(lay.desc_addr(0) + 8, 4)]
    enable = _accesses(dev.enable_notify(), mem)
    assert isinstance(enable[0], Store) and enable[1:] == [
        Fence("mb"), Load(lay.desc_addr(dev.last_avail) + 14, 2)]
    enable = _accesses(drv.enable_cb(), mem)
    assert isinstance(enable[0], Store) and enable[1:] == [
        Fence("mb"), Load(lay.desc_addr(drv.last_used) + 14, 2)]


@pytest.mark.req("RING-PACKED-065")
def test_spurious_notifications_are_harmless() -> None:
    """A kick or an interrupt with nothing behind it: each side looks, finds nothing, goes on."""
    mem, drv, dev = _pair(2)
    for _ in range(3):
        assert run(dev.pop(), mem) is None and run(drv.get_used(), mem) is None
        assert not dev.needs_reset and drv.broken is None
    run(drv.add([(DATA, 8)], [], 0), mem)
    assert run(dev.pop(), mem) is not None
