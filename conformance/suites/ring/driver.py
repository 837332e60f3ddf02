"""Split virtqueue, driver side: the suite is the device, the target is the driver.

Honest cases check what the driver writes and decides; hostile cases return used elements
that break RING-SPLIT-085 and expect a refusal that frees nothing.
"""

from __future__ import annotations

from collections.abc import Callable

from virtiospec.conformance.cases import Result, case, expect_reject, require
from virtiospec.conformance.ring.api import RingDriver, RingSetup
from virtiospec.conformance.ring.peer import HandDevice, buf, make_setup
from virtiospec.conformance.suites.ring.suppression import (
    require_event_index,
    require_flag_word,
)
from virtiospec.conformance.targets import need
from virtiospec.reference.ring.layout import (
    VIRTQ_DESC_F_INDIRECT,
    VIRTQ_DESC_F_NEXT,
    VIRTQ_DESC_F_WRITE,
)


def _driver(target: object, setup: RingSetup) -> tuple[RingDriver, HandDevice]:
    factory = need(target, "ring_driver")
    return factory(setup), HandDevice(setup)


@case("ring.split.driver.add-writes-chain", ("RING-SPLIT-003", "RING-SPLIT-011",
      "RING-SPLIT-031"), "driver", "ring",
      "add writes linked descriptors, readable first, then the avail entry and avail.idx")
def add_writes_chain(target: object) -> None:
    setup = make_setup()
    drv, dev = _driver(target, setup)
    head = drv.add([buf(0), buf(1, 32)], [buf(2, 128)], 1)
    heads = dev.pop_heads()
    require(heads == [head], "avail ring entry and avail.idx", str([head]), str(heads))
    chain = dev.walk(head)
    shape = [(a, n, f & VIRTQ_DESC_F_WRITE) for a, n, f in chain]
    want = [(*buf(0), 0), (*buf(1, 32), 0), (*buf(2, 128), VIRTQ_DESC_F_WRITE)]
    require(shape == want, "descriptors of the chain", str(want), str(shape))


@case("ring.split.driver.initialises-used-flags", ("RING-SPLIT-065",), "driver", "ring",
      "the driver sets used.flags to 0 when it sets up the queue")
def initialises_used_flags(target: object) -> None:
    setup = make_setup()
    setup.memory.write(setup.layout.used_flags, 2, 0xFFFF)  # stale memory
    _driver(target, setup)
    flags = setup.memory.read(setup.layout.used_flags, 2)
    require(flags == 0, "used.flags after set-up", "0", str(flags))


@case("ring.split.driver.no-indirect-without-feature", ("RING-SPLIT-020",), "driver", "ring",
      "without VIRTIO_F_INDIRECT_DESC the driver never sets INDIRECT")
def no_indirect(target: object) -> None:
    setup = make_setup(indirect=False)
    drv, dev = _driver(target, setup)
    head = drv.add([buf(0), buf(1)], [buf(2), buf(3)], 1)
    flags = [dev.read_desc(i)[2] for i in range(setup.layout.size)]  # (addr, len, flags, next)
    require(not any(f & VIRTQ_DESC_F_INDIRECT for f in flags), f"no INDIRECT (head {head})")


@case("ring.split.driver.indirect-table", ("RING-SPLIT-021", "RING-SPLIT-023"), "driver",
      "ring", "an indirect table holds no INDIRECT, and INDIRECT never comes with NEXT")
def indirect_table(target: object) -> None:
    setup = make_setup(indirect=True)
    drv, dev = _driver(target, setup)
    head = drv.add([buf(0), buf(1)], [buf(2)], 1)
    addr, length, flags, _ = dev.read_desc(head)
    if flags & VIRTQ_DESC_F_INDIRECT:
        require(not flags & VIRTQ_DESC_F_NEXT, "INDIRECT without NEXT")
        inner = [dev.read_desc(i, addr)[2] for i in range(length // 16)]
        require(not any(f & VIRTQ_DESC_F_INDIRECT for f in inner), "no INDIRECT in the table")
    chain = dev.walk(head)
    require([n for _, n, _ in chain] == [64, 64, 64], "three buffers reachable", "3",
            str(len(chain)))


@case("ring.split.driver.kick-flags", ("RING-SPLIT-062",), "driver", "ring",
      "without EVENT_IDX, asks for a kick after adding while used.flags is 0")
def kick_flags(target: object) -> None:
    setup = make_setup()
    drv, _ = _driver(target, setup)
    setup.memory.write(setup.layout.avail_event, 2, 0x5555)  # ignored without EVENT_IDX
    drv.add([buf(0)], [], 1)
    require(drv.kick_prepare(), "kick with used.flags = 0", "True", "False")


@case("ring.split.driver.kick-event-idx", ("RING-SPLIT-063", "RING-SPLIT-100"), "driver",
      "ring", "with EVENT_IDX, kicks when avail.idx moves past avail_event, whatever used.flags")
def kick_event_idx(target: object) -> None:
    setup = make_setup(event_idx=True, start=65534)
    drv, dev = _driver(target, setup)
    mem, lay = setup.memory, setup.layout
    mem.write(lay.used_flags, 2, 1)  # the low bit must be ignored
    for n in range(5):
        event = (65534 + n) & 0xFFFF
        mem.write(lay.avail_event, 2, event)
        head = drv.add([buf(n)], [], n)
        require(drv.kick_prepare(), f"kick when avail.idx crosses avail_event={event}",
                "True", "False")
        dev.pop_heads()
        dev.used((head, 0))
        require(drv.get_used() == (n, 0), "buffer returned")


@case("ring.split.driver.batch-kick", ("RING-SPLIT-063",), "driver", "ring",
      "with EVENT_IDX, one kick decision covers every chain added since the last one")
def batch_kick(target: object) -> None:
    setup = make_setup(event_idx=True)
    drv, _ = _driver(target, setup)
    setup.memory.write(setup.layout.avail_event, 2, 1)  # the second of three chains
    for n in range(3):
        drv.add([buf(n)], [], n)
    require(drv.kick_prepare(), "avail_event = 1 lies in [0, 3)", "True", "False")


@case("ring.split.driver.used-in-order", ("RING-SPLIT-092", "RING-SPLIT-042"), "driver",
      "ring", "get_used returns each token once, in used order, with the device's len")
def used_in_order(target: object) -> None:
    setup = make_setup()
    drv, dev = _driver(target, setup)
    heads = [drv.add([], [buf(n, 100)], 10 + n) for n in range(3)]
    dev.pop_heads()
    dev.used((heads[2], 5), (heads[0], 100), (heads[1], 0))
    got = [drv.get_used() for _ in range(4)]
    want = [(12, 5), (10, 100), (11, 0), None]
    require(got == want, "tokens and lens", str(want), str(got))


@case("ring.split.driver.index-wrap", ("RING-SPLIT-031", "RING-SPLIT-092"), "driver", "ring",
      "free-running indices wrap from 65535 to 0 without losing or repeating a buffer")
def driver_wrap(target: object) -> None:
    setup = make_setup(4, start=65533)
    drv, dev = _driver(target, setup)
    for n in range(12):
        head = drv.add([], [buf(n % 4)], n)
        require(dev.pop_heads() == [head], f"round {n}: published")
        dev.used((head, 3))
        got = drv.get_used()
        require(got == (n, 3), f"round {n}: returned", str((n, 3)), str(got))


@case("ring.split.driver.full-queue", ("RING-SPLIT-090", "RING-SPLIT-093"), "driver", "ring",
      "never more than Q outstanding, and no descriptor reused before the device returns it")
def full_queue(target: object) -> None:
    setup = make_setup(4)
    drv, dev = _driver(target, setup)
    heads = [drv.add([buf(n)], [], n) for n in range(4)]
    descs = [dev.read_desc(i) for i in range(4)]
    avail_idx = setup.memory.read(setup.layout.avail_idx, 2)
    try:
        drv.add([buf(9)], [], 9)
        accepted = True
    except Exception:
        accepted = False
    require(not accepted, "a fifth chain in a queue of 4 is refused", "refusal", "accepted")
    require(setup.memory.read(setup.layout.avail_idx, 2) == avail_idx, "avail.idx unchanged")
    dev.pop_heads()
    dev.used((heads[1], 0))
    require(drv.get_used() == (1, 0), "buffer 1 returned")
    new = drv.add([buf(7)], [], 7)
    require(new == heads[1], "only the returned descriptor is reused", str(heads[1]), str(new))
    for i in set(range(4)) - {heads[1]}:
        require(dev.read_desc(i) == descs[i], f"descriptor {i} of an outstanding chain unchanged")


@case("ring.split.driver.interrupt-flag-word", ("RING-SPLIT-050",), "driver", "ring",
      "without EVENT_IDX, disable_cb sets avail.flags to 1 and enable_cb to 0")
def interrupt_flags(target: object) -> None:
    setup = make_setup()
    drv, _ = _driver(target, setup)
    require_flag_word(lambda: setup.memory.read(setup.layout.avail_flags, 2), "avail.flags",
                      drv.disable_cb, drv.enable_cb, ("disable_cb", "enable_cb"))


@case("ring.split.driver.used-event", ("RING-SPLIT-051",), "driver", "ring",
      "with EVENT_IDX, avail.flags stays 0 and enable_cb writes used_event = next used entry")
def used_event(target: object) -> None:
    setup = make_setup(event_idx=True)
    drv, dev = _driver(target, setup)
    head = drv.add([buf(0)], [], 0)
    drv.disable_cb()
    dev.pop_heads()
    dev.used((head, 0))
    drv.get_used()
    drv.enable_cb()
    lay = setup.layout
    require_event_index(setup.memory.read, ("avail.flags", lay.avail_flags),
                        ("used_event", lay.used_event), "after taking entry 0 back")


@case("ring.split.driver.enable-rechecks", ("RING-SPLIT-073", "RING-SPLIT-111"), "driver",
      "ring", "enable_cb reports used buffers that arrived while callbacks were off")
def enable_cb_rechecks(target: object) -> None:
    for event_idx in (False, True):
        setup = make_setup(event_idx=event_idx)
        drv, dev = _driver(target, setup)
        head = drv.add([buf(0)], [], 0)
        drv.disable_cb()
        dev.pop_heads()
        dev.used((head, 0))
        require(drv.enable_cb(), f"re-check after enable (EVENT_IDX={event_idx})",
                "True: a used buffer is pending", "False: the driver would sleep on it",
                req="RING-SPLIT-073")


@case("ring.split.driver.enable-cb-delayed", ("RING-SPLIT-051", "RING-SPLIT-073"), "driver",
      "ring", "enable_cb_delayed asks for an event within the outstanding buffers")
def enable_cb_delayed(target: object) -> None:
    setup = make_setup(event_idx=True)
    drv, _ = _driver(target, setup)
    for n in range(8):
        drv.add([buf(n)], [], n)
    require(not drv.enable_cb_delayed(), "nothing used yet", "False", "True")
    event = setup.memory.read(setup.layout.used_event, 2)
    require(0 <= event < 8, "used_event lies within the outstanding buffers", "[0, 8)",
            str(event))


# -- hostile device ---------------------------------------------------------------------

def _hostile(name: str, summary: str, lie: Callable[[HandDevice, list[int]], None]) -> None:
    """A used element that breaks RING-SPLIT-085 must be refused with nothing taken back and
    nothing written. num_free is read only while the driver is healthy (after the refusal a
    side may answer it with -NEEDS_RESET, which is no count): what the driver still holds is
    asked with detach_unused, which works in every state (virtiospec_ring.h)."""

    def run(target: object) -> Result:
        setup = make_setup(event_idx=True)  # used_event shows whether last_used moved
        drv, dev = _driver(target, setup)
        heads = [drv.add([buf(0)], [buf(n + 1, 16)], n) for n in range(2)]
        dev.pop_heads()
        mem, lay = setup.memory, setup.layout
        require(drv.num_free == setup.layout.size - 4, "num_free with two chains of two "
                "descriptors out", str(setup.layout.size - 4), str(drv.num_free))
        driver_owned = mem.read_bytes(lay.desc, lay.used - lay.desc)  # table, avail, used_event
        lie(dev, heads)
        result = expect_reject(drv.get_used, {"RING-SPLIT-085"}, summary)
        require(mem.read_bytes(lay.desc, lay.used - lay.desc) == driver_owned,
                f"{summary}: the refusal writes nothing (used_event does not move past the bad "
                "element)")
        detach = getattr(drv, "detach_unused", None)
        if detach is not None:
            tokens = sorted(detach())
            require(tokens == [0, 1], f"{summary}: no chain taken back (detach_unused after "
                    "the refusal)", "[0, 1]", str(tokens))
        return result

    case(f"ring.split.driver.rejects-{name}", ("RING-SPLIT-085",), "driver", "ring", summary)(run)


_hostile("unknown-id", "used id 7 was never made available",
         lambda d, heads: d.used((7, 0)))
_hostile("id-beyond-q", "used id 4096 in a queue of 8", lambda d, heads: d.used((4096, 0)))
_hostile("len-too-long", "used len 17 for 16 writable bytes",
         lambda d, heads: d.used((heads[0], 17)))
_hostile("used-index-jump", "used.idx 3 ahead with 2 outstanding",
         lambda d, heads: d.used((heads[0], 0), (heads[1], 0), (heads[0], 0)))
