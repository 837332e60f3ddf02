"""Split virtqueue: accounting, error stickiness and the suppression fields, both sides.

The gaps the first cases left: a head published while already in flight (RING-SPLIT-092),
detach_unused, num_free after chains of several descriptors, a side that goes on after an
error (RING-SPLIT-084, -085), the driver's CHAIN_DESCS and CHAIN_BYTES refusals
(RING-SPLIT-022, -010), push of an id never popped, and whether each side keeps its event
index (used_event, avail_event) where the other side's next notification needs it.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from virtiospec.conformance.cases import CaseFailed, Result, case, expect_reject, require
from virtiospec.conformance.ring.api import RingDevice, RingDriver
from virtiospec.conformance.ring.peer import HandDevice, HandDriver, buf, make_setup
from virtiospec.conformance.targets import need
from virtiospec.reference.ring.layout import used_ring_size

W = True


def _refused(action: Callable[[], object], req: str, what: str) -> None:
    """``action`` must raise an error naming ``req`` (a NEEDS_RESET refusal names -084)."""
    try:
        got = action()
    except Exception as err:
        found = getattr(err, "req", None)
        require(found == req, f"{what}: refused for the wrong reason", req,
                f"{found}: {err}")
        return
    raise CaseFailed(f"{what}: went on after the error", expected=f"a refusal naming {req}",
                     observed=f"returned {got!r}")


@case("ring.split.device.rejects-head-in-flight", ("RING-SPLIT-092", "RING-SPLIT-084"),
      "device", "ring", "a head made available again while the device still holds it")
def head_in_flight(target: object) -> Result:
    setup = make_setup()
    dev: RingDevice = need(target, "ring_device")(setup)
    drv = HandDriver(setup)
    drv.chain(2, [(*buf(2), W)])
    drv.publish(2)
    chain = dev.pop()
    require(chain is not None and chain.head == 2, "the first publication is popped", "head 2",
            str(chain))
    drv.publish(2)  # again, before the device returned it
    lay, mem = setup.layout, setup.memory
    before = mem.read_bytes(lay.used, used_ring_size(lay.size))
    result = expect_reject(dev.pop, {"RING-SPLIT-092"}, "head 2 published while in flight")
    require(mem.read_bytes(lay.used, used_ring_size(lay.size)) == before,
            "the used ring is untouched after the refusal")
    return result


def _stopped_driver(target: object) -> RingDriver:
    setup = make_setup()
    drv: RingDriver = need(target, "ring_driver")(setup)
    dev = HandDevice(setup)
    drv.add([buf(0)], [buf(1, 16)], 0)
    dev.pop_heads()
    dev.used((5, 0))  # never made available
    expect_reject(drv.get_used, {"RING-SPLIT-085"}, "used id 5 never made available")
    return drv


@case("ring.split.driver.stops-after-error", ("RING-SPLIT-085", "RING-SPLIT-084"), "driver",
      "ring", "after a bad used element every further operation is refused (NEEDS_RESET)")
def driver_sticky(target: object) -> None:
    drv = _stopped_driver(target)
    for name, op in (("get_used", drv.get_used), ("add", lambda: drv.add([buf(3)], [], 3)),
                     ("kick_prepare", drv.kick_prepare), ("enable_cb", drv.enable_cb),
                     ("disable_cb", drv.disable_cb)):
        _refused(op, "RING-SPLIT-084", f"{name} after the error")
    if hasattr(drv, "needs_reset"):
        require(bool(drv.needs_reset), "needs_reset after the error", "True", "False")


@case("ring.split.device.stops-after-error", ("RING-SPLIT-084",), "device", "ring",
      "after a bad chain every further operation is refused and a good chain is not popped")
def device_sticky(target: object) -> None:
    setup = make_setup()
    dev: RingDevice = need(target, "ring_device")(setup)
    drv = HandDriver(setup)
    drv.publish(8)  # head out of range
    expect_reject(dev.pop, {"RING-SPLIT-080"}, "head 8 in a queue of 8")
    drv.chain(0, [(*buf(0), W)])
    drv.publish(0)  # a good chain after the bad one
    for name, op in (("pop", dev.pop), ("push", lambda: dev.push([])),
                     ("should_notify", dev.should_notify),
                     ("enable_notify", dev.enable_notify),
                     ("disable_notify", dev.disable_notify)):
        _refused(op, "RING-SPLIT-084", f"{name} after the error")
    require(dev.needs_reset, "needs_reset after the error", "True", "False")


@case("ring.split.driver.num-free-chains", ("RING-SPLIT-090", "RING-SPLIT-093",
      "RING-SPLIT-013"), "driver",
      "ring", "num_free counts descriptors of multi-descriptor chains out and back")
def num_free_chains(target: object) -> None:
    setup = make_setup(8)
    drv: RingDriver = need(target, "ring_driver")(setup)
    dev = HandDevice(setup)
    require(drv.num_free == 8, "num_free of a fresh queue", "8", str(drv.num_free))
    a = drv.add([buf(0), buf(1)], [buf(2)], 10)  # 3 descriptors
    b = drv.add([buf(3)], [buf(4)], 11)  # 2
    c = drv.add([], [buf(5)], 12)  # 1
    require(drv.num_free == 2, "num_free with 3 + 2 + 1 descriptors out", "2", str(drv.num_free))
    dev.pop_heads()
    dev.used((b, 0))
    require(drv.get_used() == (11, 0), "the 2-descriptor chain comes back")
    require(drv.num_free == 4, "num_free after the 2-descriptor chain came back", "4",
            str(drv.num_free))
    dev.used((a, 64), (c, 64))
    require(drv.get_used() == (10, 64) and drv.get_used() == (12, 64), "the others come back")
    require(drv.num_free == 8, "num_free with nothing out", "8", str(drv.num_free))
    heads = [drv.add([buf(n), buf(n + 1)], [], n) for n in range(4)]  # 4 x 2 descriptors
    require(drv.num_free == 0, "num_free with the queue full", "0", str(drv.num_free))
    require(len(set(heads)) == 4, "four distinct heads", "4", str(heads))
    table = [dev.read_desc(i) for i in range(8)]
    dev.pop_heads()
    dev.used((heads[2], 0))
    require(drv.get_used() == (2, 0), "chain 2 comes back")
    drv.add([buf(9)], [], 9)  # reuses only what came back
    for h in (heads[0], heads[1], heads[3]):
        for i in (h, dev.read_desc(h)[3]):
            require(dev.read_desc(i) == table[i], f"descriptor {i} of outstanding chain {h} "
                    "unchanged (RING-SPLIT-013)", str(table[i]), str(dev.read_desc(i)),
                    req="RING-SPLIT-013")


@case("ring.split.driver.detach-unused", ("RING-SPLIT-092", "RING-SPLIT-093"), "driver",
      "ring", "detach_unused hands back the tokens of every outstanding chain and frees all")
def detach_unused(target: object) -> None:
    setup = make_setup(8)
    drv = need(target, "ring_driver")(setup)
    detach = need(drv, "detach_unused")
    dev = HandDevice(setup)
    heads = [drv.add([buf(n)], [buf(n + 4, 16)], 20 + n) for n in range(3)]
    dev.pop_heads()
    dev.used((heads[1], 0))
    require(drv.get_used() == (21, 0), "chain 21 comes back")
    tokens = detach()
    want = [20 + n for n in sorted(range(3), key=lambda k: heads[k]) if n != 1]
    require(tokens == want, "tokens of the outstanding chains, in head order", str(want),
            str(tokens))
    require(drv.num_free == 8, "every descriptor free after detach_unused", "8",
            str(drv.num_free))
    require(detach() == [], "a second detach_unused finds nothing", "[]", "tokens")


@case("ring.split.driver.rejects-chain-descs", ("RING-SPLIT-022",), "driver", "ring",
      "add refuses a chain of more descriptors than Q, writing nothing")
def chain_descs(target: object) -> Result:
    for indirect in (False, True):
        setup = make_setup(8, indirect=indirect)
        drv: RingDriver = need(target, "ring_driver")(setup)
        lay, mem = setup.layout, setup.memory
        before = mem.read_bytes(lay.desc, lay.used - lay.desc)
        result = expect_reject(partial(drv.add, [buf(n) for n in range(5)],
                                       [buf(n + 5) for n in range(4)], 1),
                               {"RING-SPLIT-022"}, f"9 buffers in a queue of 8 (indirect "
                               f"{'on' if indirect else 'off'})")
        require(mem.read_bytes(lay.desc, lay.used - lay.desc) == before, "nothing written")
        require(drv.num_free == 8, "nothing taken", "8", str(drv.num_free))
    return result


@case("ring.split.driver.rejects-chain-bytes", ("RING-SPLIT-010",), "driver", "ring",
      "add refuses buffers of more than 2^32 bytes in all, writing nothing")
def chain_bytes(target: object) -> Result:
    setup = make_setup(8)
    drv: RingDriver = need(target, "ring_driver")(setup)
    lay, mem = setup.layout, setup.memory
    before = mem.read_bytes(lay.desc, lay.used - lay.desc)
    big = 1 << 31
    expect_reject(lambda: drv.add([(0x40000, big), (0x40000, big)], [(0x40000, 64)], 1),
                  {"RING-SPLIT-010"}, "2^32 + 64 bytes in three buffers")
    result = expect_reject(lambda: drv.add([], [(0x40000, 1 << 32)], 2), {"RING-SPLIT-010"},
                           "one buffer of 2^32 bytes")
    require(mem.read_bytes(lay.desc, lay.used - lay.desc) == before, "nothing written")
    require(drv.num_free == 8, "nothing taken", "8", str(drv.num_free))
    return result


@case("ring.split.device.refuses-push-not-popped", ("RING-SPLIT-092", "RING-SPLIT-041"),
      "device", "ring", "push refuses an id never popped, or pushed twice, and writes nothing")
def push_not_popped(target: object) -> None:
    setup = make_setup(8)
    dev: RingDevice = need(target, "ring_device")(setup)
    drv = HandDriver(setup)
    lay, mem = setup.layout, setup.memory
    drv.chain(1, [(*buf(1, 32), W)])
    drv.publish(1)
    require(dev.pop() is not None, "chain 1 popped")
    before = mem.read_bytes(lay.used, used_ring_size(lay.size))
    for what, used in (("id 5, never popped", [(5, 0)]), ("id 1 twice", [(1, 0), (1, 0)]),
                       ("len 33 for 32 writable bytes", [(1, 33)])):
        try:
            dev.push(used)
            accepted = True
        except Exception:
            accepted = False
        require(not accepted, f"push of {what} is refused", "a refusal", "accepted")
        require(mem.read_bytes(lay.used, used_ring_size(lay.size)) == before,
                f"push of {what}: nothing written")
    dev.push([(1, 32)])
    require(drv.take_used() == [(1, 32)], "the popped chain is still pushed afterwards")


@case("ring.split.driver.used-event-follows", ("RING-SPLIT-051", "RING-SPLIT-111"), "driver",
      "ring", "with EVENT_IDX and callbacks on, get_used moves used_event to the next entry")
def used_event_follows(target: object) -> None:
    setup = make_setup(8, event_idx=True, start=65534)
    drv: RingDriver = need(target, "ring_driver")(setup)
    dev = HandDevice(setup)
    heads = [drv.add([buf(n)], [], n) for n in range(4)]
    dev.pop_heads()
    for n, head in enumerate(heads):
        dev.used((head, 0))
        require(drv.get_used() == (n, 0), f"buffer {n} comes back")
        event = setup.memory.read(setup.layout.used_event, 2)
        want = (65534 + n + 1) & 0xFFFF
        require(event == want, f"used_event after taking back entry {65534 + n & 0xFFFF}",
                str(want), str(event))


@case("ring.split.device.avail-event-follows", ("RING-SPLIT-061", "RING-SPLIT-110"), "device",
      "ring", "with EVENT_IDX, enable_notify moves avail_event to the next entry every time")
def avail_event_follows(target: object) -> None:
    setup = make_setup(8, event_idx=True, start=65533)
    dev: RingDevice = need(target, "ring_device")(setup)
    drv = HandDriver(setup)
    index = 65533
    for n in range(4):
        dev.disable_notify()
        heads = [(2 * n + k) % 8 for k in range(2)]
        for h in heads:
            drv.chain(h, [(*buf(h), W)])
        drv.publish(*heads)
        chains = [dev.pop(), dev.pop()]
        dev.push([(c.head, 0) for c in chains if c is not None])
        drv.take_used()
        index = (index + 2) & 0xFFFF
        require(not dev.enable_notify(), "nothing pending", "False", "True")
        event = setup.memory.read(setup.layout.avail_event, 2)
        require(event == index, f"avail_event after round {n}", str(index), str(event))


@case("ring.split.driver.kick-nothing-added", ("RING-SPLIT-062",), "driver", "ring",
      "kick_prepare with nothing added since the last decision asks for no kick")
def kick_nothing_added(target: object) -> None:
    setup = make_setup(8)
    drv: RingDriver = need(target, "ring_driver")(setup)
    drv.add([buf(0)], [], 0)
    require(drv.kick_prepare(), "kick after adding with used.flags = 0", "True", "False")
    require(not drv.kick_prepare(), "no kick with nothing added since", "False", "True")


@case("ring.split.driver.enable-cb-delayed-threshold", ("RING-SPLIT-051", "RING-SPLIT-073"),
      "driver", "ring", "enable_cb_delayed reports pending buffers only past 3/4 of those out")
def enable_cb_delayed_threshold(target: object) -> None:
    setup = make_setup(8, event_idx=True)
    drv: RingDriver = need(target, "ring_driver")(setup)
    dev = HandDevice(setup)
    heads = [drv.add([buf(n)], [], n) for n in range(8)]
    dev.pop_heads()
    dev.used(*[(h, 0) for h in heads[:6]])
    require(not drv.enable_cb_delayed(), "6 used of 8 out (threshold 6)", "False", "True")
    event = setup.memory.read(setup.layout.used_event, 2)
    require(event == 6, "used_event = next entry + 8 * 3 / 4", "6", str(event))
    dev.used((heads[6], 0))
    require(drv.enable_cb_delayed(), "7 used of 8 out", "True", "False")



@case("ring.split.device.init-fields", ("RING-SPLIT-060", "RING-SPLIT-043"), "device", "ring",
      "set-up writes used.flags 0, used.idx = the start index and avail_event 0 over stale memory")
def device_init(target: object) -> None:
    _init_fields(target, "ring_device", ("used.flags", "used.idx", "avail_event"))


def _init_fields(target: object, side: str, names: tuple[str, str, str]) -> None:
    """The side's set-up over stale memory (0xFFFF in each) writes the flags word 0, the
    index it owns the start index 5, and the event word 0."""
    setup = make_setup(8, start=5)
    mem, lay = setup.memory, setup.layout
    fields = [getattr(lay, n.replace(".", "_")) for n in names]
    for at in fields:
        mem.write(at, 2, 0xFFFF)
    need(target, side)(setup)
    got = tuple(mem.read(at, 2) for at in fields)
    require(got == (0, 5, 0), f"{', '.join(names)} after set-up", "(0, 5, 0)", str(got))


@case("ring.split.driver.init-fields", ("RING-SPLIT-050", "RING-SPLIT-031"), "driver", "ring",
      "set-up writes avail.flags 0, avail.idx = the start index and used_event 0 over stale "
      "memory")
def driver_init(target: object) -> None:
    _init_fields(target, "ring_driver", ("avail.flags", "avail.idx", "used_event"))
