"""Split virtqueue, device side: the suite is the driver, the target is the device.

Honest cases check what the device writes and decides; hostile cases feed it chains that
break RING-SPLIT-080, RING-SPLIT-081, RING-SPLIT-082, RING-SPLIT-083, RING-SPLIT-084 and expect a
refusal that leaves the queue as it was.
"""

from __future__ import annotations

from collections.abc import Callable

from virtiospec.conformance.cases import Result, case, expect_device_stops, require
from virtiospec.conformance.ring.api import RingDevice, RingSetup
from virtiospec.conformance.ring.peer import DATA, HandDriver, buf, make_setup
from virtiospec.conformance.suites.ring.suppression import (
    require_event_index,
    require_flag_word,
)
from virtiospec.conformance.targets import need
from virtiospec.reference.ring.layout import (
    VIRTQ_DESC_F_INDIRECT,
    VIRTQ_DESC_F_NEXT,
    VIRTQ_DESC_F_WRITE,
    used_ring_size,
)

R, W = False, True
MEM_END = 0x80000


def _device(target: object, setup: RingSetup) -> tuple[RingDevice, HandDriver]:
    factory = need(target, "ring_device")
    return factory(setup), HandDriver(setup)


def _pop(dev: RingDevice) -> object:
    chain = dev.pop()
    require(chain is not None, "a published chain is popped", "a chain", "None")
    return chain


@case("ring.split.device.pop-direct-chain", ("RING-SPLIT-003", "RING-SPLIT-031"), "device",
      "ring", "pops a published chain of readable then writable descriptors")
def pop_direct(target: object) -> None:
    setup = make_setup()
    dev, drv = _device(target, setup)
    drv.chain(3, [(*buf(0), R), (*buf(1, 32), R), (*buf(2, 128), W)])
    drv.publish(3)
    chain = dev.pop()
    require(chain is not None, "chain popped", "head 3", "None")
    assert chain is not None
    require(chain.head == 3, "head", "3", str(chain.head))
    require(chain.readable == [buf(0), buf(1, 32)], "readable buffers in chain order",
            str([buf(0), buf(1, 32)]), str(chain.readable))
    require(chain.writable == [buf(2, 128)], "writable buffers", str([buf(2, 128)]),
            str(chain.writable))
    require(dev.pop() is None, "nothing more is available", "None", "another chain")


@case("ring.split.device.pop-indirect", ("RING-SPLIT-024", "RING-SPLIT-025"), "device", "ring",
      "accepts direct descriptors followed by one indirect table, ignoring its WRITE flag")
def pop_indirect(target: object) -> None:
    setup = make_setup(indirect=True)
    dev, drv = _device(target, setup)
    table = 0x20000
    drv.chain(0, [(*buf(3, 16), R), (*buf(4, 100), W)], table=table)
    drv.desc(5, *buf(0), VIRTQ_DESC_F_NEXT, 6)
    drv.desc(6, table, 32, VIRTQ_DESC_F_INDIRECT | VIRTQ_DESC_F_WRITE)
    drv.publish(5)
    chain = dev.pop()
    require(chain is not None, "chain popped", "head 5", "None")
    assert chain is not None
    require((chain.readable, chain.writable) == ([buf(0), buf(3, 16)], [buf(4, 100)]),
            "buffers of the chain and of its indirect table",
            str(([buf(0), buf(3, 16)], [buf(4, 100)])), str((chain.readable, chain.writable)))


@case("ring.split.device.push-in-used-order", ("RING-SPLIT-040", "RING-SPLIT-043",
      "RING-SPLIT-092"), "device", "ring",
      "used elements appear in the order pushed, with their len, and used.idx counts them")
def push_order(target: object) -> None:
    setup = make_setup()
    dev, drv = _device(target, setup)
    for head in (0, 1, 2):
        drv.chain(head, [(*buf(head, 64), W)])
    drv.publish(0, 1, 2)
    heads = [_pop(dev).head for _ in range(3)]  # type: ignore[attr-defined]
    require(heads == [0, 1, 2], "pop order is avail order", "[0, 1, 2]", str(heads))
    dev.push([(2, 7), (0, 64)])
    dev.push([(1, 0)])
    got = drv.take_used()
    require(got == [(2, 7), (0, 64), (1, 0)], "used elements", "[(2, 7), (0, 64), (1, 0)]",
            str(got))


@case("ring.split.device.index-wrap", ("RING-SPLIT-043", "RING-SPLIT-092"), "device", "ring",
      "free-running indices wrap from 65535 to 0 without losing or repeating an entry")
def index_wrap(target: object) -> None:
    setup = make_setup(4, start=65533)
    dev, drv = _device(target, setup)
    for n in range(12):
        head = n % 4
        drv.chain(head, [(*buf(head), W)])
        drv.publish(head)
        chain = _pop(dev)
        dev.push([(chain.head, n)])  # type: ignore[attr-defined]
        got = drv.take_used()
        require(got == [(head, n)], f"round {n} (index {(65533 + n) & 0xFFFF})",
                str([(head, n)]), str(got))
    used_idx = setup.memory.read(setup.layout.used_idx, 2)
    require(used_idx == (65533 + 12) & 0xFFFF, "used.idx wrapped", "9", str(used_idx))


@case("ring.split.device.driver-memory-untouched", ("RING-SPLIT-012", "RING-SPLIT-014"),
      "device", "ring", "popping and pushing leaves readable buffers, the descriptor table and "
      "the available ring as the driver wrote them")
def readable_untouched(target: object) -> None:
    setup = make_setup()
    dev, drv = _device(target, setup)
    mem, lay = setup.memory, setup.layout
    mem.write_bytes(DATA, bytes(range(64)))
    drv.chain(0, [(*buf(0), R), (*buf(1), W)])
    drv.chain(2, [(*buf(2), R), (*buf(3), R), (*buf(4), W)])
    drv.publish(0, 2)
    driver_owned = mem.read_bytes(lay.desc, lay.used - lay.desc)  # table + available ring
    chains = [_pop(dev), _pop(dev)]
    dev.push([(c.head, 8) for c in chains])  # type: ignore[attr-defined]
    dev.should_notify()
    dev.enable_notify()
    require(mem.read_bytes(DATA, 64) == bytes(range(64)), "readable buffer unchanged")
    require(mem.read_bytes(lay.desc, lay.used - lay.desc) == driver_owned,
            "descriptor table and available ring unchanged")


def _one_round(dev: RingDevice, drv: HandDriver, head: int) -> bool:
    drv.chain(head, [(*buf(head), W)])
    drv.publish(head)
    dev.push([(_pop(dev).head, 1)])  # type: ignore[attr-defined]
    return dev.should_notify()


@case("ring.split.device.notify-flags", ("RING-SPLIT-052",), "device", "ring",
      "without EVENT_IDX, notifies after a push while avail.flags is 0")
def notify_flags(target: object) -> None:
    setup = make_setup()
    dev, drv = _device(target, setup)
    setup.memory.write(setup.layout.avail_flags, 2, 0)
    require(_one_round(dev, drv, 0), "notify with avail.flags = 0", "True", "False")
    setup.memory.write(setup.layout.avail_flags, 2, 1)
    _one_round(dev, drv, 1)  # SHOULD NOT notify: not a MUST, so not checked
    setup.memory.write(setup.layout.used_event, 2, 0x7777)  # ignored without EVENT_IDX
    setup.memory.write(setup.layout.avail_flags, 2, 0)
    require(_one_round(dev, drv, 2), "notify with avail.flags = 0, used_event ignored",
            "True", "False")


@case("ring.split.device.notify-event-idx", ("RING-SPLIT-053", "RING-SPLIT-100"), "device",
      "ring", "with EVENT_IDX, notifies when used.idx moves past used_event, whatever avail.flags")
def notify_event_idx(target: object) -> None:
    setup = make_setup(event_idx=True, start=65534)
    dev, drv = _device(target, setup)
    mem, lay = setup.memory, setup.layout
    mem.write(lay.avail_flags, 2, 1)  # the low bit must be ignored
    for n in range(6):
        event = (65534 + n) & 0xFFFF
        mem.write(lay.used_event, 2, event)  # ask for a notification at this very entry
        require(_one_round(dev, drv, n % 8), f"notify when used.idx crosses used_event={event}",
                "True", "False")


@case("ring.split.device.event-idx-suppresses", ("RING-SPLIT-053",), "device", "ring",
      "with EVENT_IDX, does not notify while used_event lies ahead (SHOULD NOT)")
def event_idx_suppress(target: object) -> None:
    setup = make_setup(event_idx=True)
    dev, drv = _device(target, setup)
    setup.memory.write(setup.layout.used_event, 2, 0)
    _one_round(dev, drv, 0)  # crosses 0: notified (first decision may notify anyway)
    setup.memory.write(setup.layout.used_event, 2, 100)
    for n in range(1, 4):
        require(not _one_round(dev, drv, n), f"no notification at used.idx {n + 1} "
                "while used_event is 100", "False", "True")


@case("ring.split.device.notify-flag-word", ("RING-SPLIT-060",), "device", "ring",
      "without EVENT_IDX, disable_notify sets used.flags to 1 and enable_notify to 0")
def flag_word(target: object) -> None:
    setup = make_setup()
    dev, _ = _device(target, setup)
    require_flag_word(lambda: setup.memory.read(setup.layout.used_flags, 2), "used.flags",
                      dev.disable_notify, dev.enable_notify, ("disable_notify", "enable_notify"))


@case("ring.split.device.avail-event", ("RING-SPLIT-061",), "device", "ring",
      "with EVENT_IDX, used.flags stays 0 and enable_notify writes avail_event = next entry")
def avail_event(target: object) -> None:
    setup = make_setup(event_idx=True)
    dev, drv = _device(target, setup)
    drv.chain(0, [(*buf(0), W)])
    drv.publish(0)
    dev.disable_notify()
    _pop(dev)
    dev.enable_notify()
    lay = setup.layout
    require_event_index(setup.memory.read, ("used.flags", lay.used_flags),
                        ("avail_event", lay.avail_event), "after consuming entry 0")


@case("ring.split.device.enable-rechecks", ("RING-SPLIT-072", "RING-SPLIT-110"), "device",
      "ring", "enable_notify reports buffers that arrived while notifications were off")
def enable_rechecks(target: object) -> None:
    for event_idx in (False, True):
        setup = make_setup(event_idx=event_idx)
        dev, drv = _device(target, setup)
        dev.disable_notify()
        drv.chain(0, [(*buf(0), W)])
        drv.publish(0)
        require(dev.enable_notify(), f"re-check after enable (EVENT_IDX={event_idx})",
                "True: a buffer is pending", "False: the device would sleep on it")
        require(not dev.enable_notify() or dev.pop() is not None, "pending buffer is poppable")


# -- hostile driver ---------------------------------------------------------------------

def _reject(target: object, setup: RingSetup, write: Callable[[HandDriver], None],
            reqs: set[str], what: str) -> Result:
    """The hand driver publishes a bad chain; the device must refuse it, write nothing to the
    used ring, and not go on as if nothing happened (RING-SPLIT-084)."""
    dev, drv = _device(target, setup)
    write(drv)
    lay, mem = setup.layout, setup.memory
    return expect_device_stops(dev, lambda: mem.read_bytes(lay.used, used_ring_size(lay.size)),
                               reqs, what, "the used ring", "went on with the next chain")


def _hostile(name: str, reqs: tuple[str, ...], summary: str,
             write: Callable[[HandDriver], None], **setup_args: object) -> None:
    def run(target: object) -> Result:
        return _reject(target, make_setup(**setup_args),  # type: ignore[arg-type]
                       write, set(reqs), summary)

    all_reqs = tuple(dict.fromkeys((*reqs, "RING-SPLIT-084")))
    case(f"ring.split.device.rejects-{name}", all_reqs, "device", "ring",
         summary)(run)


def _head_out_of_range(d: HandDriver) -> None:
    d.publish(8)


def _next_out_of_range(d: HandDriver) -> None:
    d.desc(0, *buf(0), VIRTQ_DESC_F_NEXT, 8)
    d.publish(0)


def _loop(d: HandDriver) -> None:
    d.desc(0, *buf(0), VIRTQ_DESC_F_NEXT, 1)
    d.desc(1, *buf(1), VIRTQ_DESC_F_NEXT, 2)
    d.desc(2, *buf(2), VIRTQ_DESC_F_NEXT, 0)
    d.publish(0)


def _self_loop(d: HandDriver) -> None:
    d.desc(3, *buf(0), VIRTQ_DESC_F_NEXT, 3)
    d.publish(3)


def _too_long(d: HandDriver) -> None:  # 6 direct + an indirect table of 4 in a queue of 8
    d.chain(0, [(*buf(n), R) for n in range(6)])
    d.desc(5, *buf(5), VIRTQ_DESC_F_NEXT, 6)
    d.chain(0, [(*buf(n), R) for n in range(4)], table=0x20000)
    d.desc(6, 0x20000, 64, VIRTQ_DESC_F_INDIRECT)
    d.publish(0)


def _indirect(flags: int = VIRTQ_DESC_F_INDIRECT, length: int = 32,
              inner: int = 0) -> Callable[[HandDriver], None]:
    def write(d: HandDriver) -> None:
        d.desc(0, *buf(0), inner, 0, table=0x20000)
        d.desc(1, *buf(1), 0, 0, table=0x20000)
        d.desc(0, 0x20000, length, flags, 1)
        d.publish(0)

    return write


def _outside(addr: int, length: int) -> Callable[[HandDriver], None]:
    def write(d: HandDriver) -> None:
        d.desc(0, addr, length, VIRTQ_DESC_F_WRITE)
        d.publish(0)

    return write


def _indirect_outside(d: HandDriver) -> None:
    d.desc(0, MEM_END - 16, 32, VIRTQ_DESC_F_INDIRECT)
    d.publish(0)


def _readable_after_writable(d: HandDriver) -> None:
    d.chain(0, [(*buf(0), W), (*buf(1), R)])
    d.publish(0)


def _avail_jump(d: HandDriver) -> None:
    d.chain(0, [(*buf(0), W)])
    d.publish(0)
    d.avail_idx = 9  # 9 entries in a queue of 8
    d.publish()


_hostile("head-out-of-range", ("RING-SPLIT-080",), "head index >= queue size",
         _head_out_of_range)
_hostile("next-out-of-range", ("RING-SPLIT-080",), "next index >= queue size",
         _next_out_of_range)
_hostile("loop", ("RING-SPLIT-080",), "chain 0 -> 1 -> 2 -> 0", _loop)
_hostile("self-loop", ("RING-SPLIT-080",), "descriptor whose next is itself", _self_loop)
_hostile("chain-longer-than-q", ("RING-SPLIT-080",),
         "6 direct + 4 indirect descriptors in a queue of 8", _too_long, indirect=True)
_hostile("indirect-without-feature", ("RING-SPLIT-081",),
         "INDIRECT without VIRTIO_F_INDIRECT_DESC", _indirect())
_hostile("indirect-with-next", ("RING-SPLIT-081",), "INDIRECT together with NEXT",
         _indirect(VIRTQ_DESC_F_INDIRECT | VIRTQ_DESC_F_NEXT), indirect=True)
_hostile("nested-indirect", ("RING-SPLIT-081",), "INDIRECT inside an indirect table",
         _indirect(inner=VIRTQ_DESC_F_INDIRECT), indirect=True)
_hostile("indirect-empty", ("RING-SPLIT-081",), "indirect table of 0 bytes",
         _indirect(length=0), indirect=True)
_hostile("indirect-ragged", ("RING-SPLIT-081",), "indirect table of 24 bytes",
         _indirect(length=24), indirect=True)
_hostile("indirect-outside", ("RING-SPLIT-082",), "indirect table beyond guest memory",
         _indirect_outside, indirect=True)
_hostile("buffer-outside", ("RING-SPLIT-082",), "buffer that runs past guest memory",
         _outside(MEM_END - 8, 64))
_hostile("buffer-overflows", ("RING-SPLIT-082",), "addr + len overflows 64 bits",
         _outside((1 << 64) - 16, 64))
_hostile("readable-after-writable", ("RING-SPLIT-083",), "readable descriptor after a writable",
         _readable_after_writable)
_hostile("avail-index-jump", ("RING-SPLIT-084",), "avail.idx 9 entries ahead in a queue of 8",
         _avail_jump)
