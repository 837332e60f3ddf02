"""Split virtqueue, driver side: VIRTIO 1.4 §2.7.6.1, the driver never decrements the
available ``idx`` (RING-SPLIT-030): once made available a buffer stays so. The suite is the
device (ring_peer.HandDevice); the target's ``ring_driver`` is the driver. The queue starts
just below each point where a counter narrower than 16 bits (or a signed one) would go
back: 0x7FF0 and 0xFFF0.
"""

from __future__ import annotations

from virtiospec.conformance.cases import case, require
from virtiospec.conformance.ring.peer import buf, make_setup
from virtiospec.conformance.suites.ring.driver import _driver

ROUNDS = 40
STARTS = (0x7FF0, 0xFFF0)


@case("ring.split.driver.avail-idx-forward", ("RING-SPLIT-030",), "driver", "ring",
      "avail.idx moves one step forward per buffer, modulo 2^16, across 0x8000 and 0x10000: "
      "it never goes back")
def avail_idx_forward(target: object) -> None:
    for start in STARTS:
        setup = make_setup(4, start=start)
        drv, dev = _driver(target, setup)
        before = setup.memory.read(setup.layout.avail_idx, 2)
        for n in range(ROUNDS):
            head = drv.add([buf(n % 4)], [], n)
            now = setup.memory.read(setup.layout.avail_idx, 2)
            step = (now - before) & 0xFFFF
            require(step == 1, f"avail.idx after buffer {n} from {start:#x}",
                    f"{(before + 1) & 0xFFFF:#x}", f"{now:#x}", req="RING-SPLIT-030")
            before = now
            require(dev.pop_heads() == [head], f"buffer {n} made available", str([head]))
            dev.used((head, 0))
            require(drv.get_used() == (n, 0), f"buffer {n} comes back", str((n, 0)))
