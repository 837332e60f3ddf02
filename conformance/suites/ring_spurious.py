"""Split virtqueue, device side: spurious available-buffer notifications (VIRTIO 1.4
§2.7.10.2). The device MUST handle them (RING-SPLIT-064): a kick with nothing new to take,
before any buffer and after the last one, leaves the queue as it was; the next buffer the
driver publishes is taken as usual.
"""

from __future__ import annotations

from virtiospec.conformance.cases import case, require
from virtiospec.conformance.ring_api import RingDevice, RingSetup
from virtiospec.conformance.ring_peer import HandDriver, buf, make_setup
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
