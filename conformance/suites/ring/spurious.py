"""Split virtqueue: spurious notifications. The device MUST handle spurious available-buffer
notifications (VIRTIO 1.4 §2.7.10.2, RING-SPLIT-064): a kick with nothing new to take, before
any buffer and after the last one, leaves the queue as it was, and the next buffer the driver
publishes is taken as usual. The driver MUST handle spurious used-buffer notifications
(§2.7.7.1, RING-SPLIT-054) the same way.
"""

from __future__ import annotations

from virtiospec.conformance.cases import case, require
from virtiospec.conformance.ring.api import RingDevice, RingDriver, RingSetup
from virtiospec.conformance.ring.peer import HandDevice, HandDriver, buf, make_setup
from virtiospec.conformance.targets import need
from virtiospec.reference.ring.layout import used_ring_size

W = True
KICKS = 3


def _kicks(dev: RingDevice, setup: RingSetup, when: str) -> None:
    """``KICKS`` spurious kicks: each pop finds nothing, the used ring stays as it was."""
    lay = setup.layout
    before = setup.memory.read_bytes(lay.used, used_ring_size(lay.size))
    for k in range(KICKS):
        require(dev.pop() is None, f"pop on spurious kick {k + 1} {when}", "nothing",
                "a chain", req="RING-SPLIT-064")
    after = setup.memory.read_bytes(lay.used, used_ring_size(lay.size))
    require(after == before, f"used ring after {KICKS} spurious kicks {when}", "unchanged",
            "written", req="RING-SPLIT-064")


@case("ring.split.device.spurious-kicks", ("RING-SPLIT-064",), "device", "ring",
      "kicks with nothing new (before the first buffer and after the last) change nothing")
def spurious_kicks(target: object) -> None:
    for event_idx in (False, True):
        setup = make_setup(event_idx=event_idx)
        dev = need(target, "ring_device")(setup)
        drv = HandDriver(setup)
        mode = f"(EVENT_IDX={event_idx})"
        _kicks(dev, setup, f"before any buffer {mode}")
        for n in range(2):
            drv.chain(n, [(*buf(n), W)])
            drv.publish(n)
            chain = dev.pop()
            require(chain is not None and chain.head == n, f"buffer {n} after spurious kicks",
                    f"head {n}", str(chain and chain.head), req="RING-SPLIT-064")
            dev.push([(n, 0)])
            _kicks(dev, setup, f"after buffer {n} {mode}")
        require(not dev.needs_reset, f"the device after spurious kicks {mode}", "healthy",
                "DEVICE_NEEDS_RESET", req="RING-SPLIT-064")


# -- the driver side: spurious used-buffer notifications (§2.7.7.1, RING-SPLIT-054) ------------

def _interrupts(drv: RingDriver, setup: RingSetup, free: int, when: str) -> None:
    """``KICKS`` spurious interrupts: get_used finds nothing, the driver's memory and its free
    descriptors stay as they were."""
    lay = setup.layout
    before = setup.memory.read_bytes(lay.desc, lay.used - lay.desc)
    for k in range(KICKS):
        got = drv.get_used()
        require(got is None, f"get_used on spurious interrupt {k + 1} {when}", "nothing",
                str(got), req="RING-SPLIT-054")
    after = setup.memory.read_bytes(lay.desc, lay.used - lay.desc)
    require(after == before, f"descriptor table and available ring after {KICKS} spurious "
            f"interrupts {when}", "unchanged", "written", req="RING-SPLIT-054")
    require(drv.num_free == free, f"free descriptors after spurious interrupts {when}",
            str(free), str(drv.num_free), req="RING-SPLIT-054")


@case("ring.split.driver.spurious-interrupts", ("RING-SPLIT-054",), "driver", "ring",
      "interrupts with nothing used (before any buffer, with buffers outstanding, after the "
      "last) change nothing")
def spurious_interrupts(target: object) -> None:
    for event_idx in (False, True):
        setup = make_setup(event_idx=event_idx)
        drv = need(target, "ring_driver")(setup)
        dev = HandDevice(setup)
        mode = f"(EVENT_IDX={event_idx})"
        q = setup.layout.size
        _interrupts(drv, setup, q, f"before any buffer {mode}")
        heads = [drv.add([], [buf(n)], 100 + n) for n in range(2)]
        _interrupts(drv, setup, q - 2, f"with two buffers outstanding {mode}")
        dev.pop_heads()
        dev.used((heads[0], 7))
        got = drv.get_used()
        require(got == (100, 7), f"the used buffer after spurious interrupts {mode}",
                "(100, 7)", str(got), req="RING-SPLIT-054")
        _interrupts(drv, setup, q - 1, f"after a used buffer {mode}")
