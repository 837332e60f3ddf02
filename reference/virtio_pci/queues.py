"""Per-queue state of the device side: the registers of one queue (VIRTIO-PCI-020, -024,
-026, -040) and, once the device is live, the split ring it runs (a
:class:`~virtiospec.reference.ring.SplitDevice` over the function's bus-master view)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from virtiospec.reference.access import Memory, run
from virtiospec.reference.ring import Chain, SplitDevice
from virtiospec.reference.virtio_pci.regs import NO_VECTOR

if TYPE_CHECKING:
    from virtiospec.reference.virtio_pci.device import VirtioPciDevice


@dataclass
class QueueRegs:
    max_size: int
    size: int = 0
    msix_vector: int = NO_VECTOR
    enable: int = 0
    desc: int = 0
    driver: int = 0
    device: int = 0
    ring: SplitDevice | None = None
    resetting: int = 0  # what queue_reset reads (VIRTIO-PCI-102)

    def __post_init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """VIRTIO-STATUS-007: disabled, largest size, no vector, zero addresses, no ring."""
        self.size = self.max_size
        self.msix_vector = NO_VECTOR
        self.enable = 0
        self.desc = self.driver = self.device = 0
        self.ring = None

    @property
    def initial(self) -> bool:
        return (self.size, self.msix_vector, self.enable, self.desc, self.driver, self.device,
                self.ring) == (self.max_size, NO_VECTOR, 0, 0, 0, 0, None)


class LiveQueue:
    """What a device type uses to work a live queue; every access goes through the bus-master
    view of the function (PCI-CFG-005)."""

    def __init__(self, device: VirtioPciDevice, index: int, ring: SplitDevice,
                 memory: Memory) -> None:
        self.device = device
        self.index = index
        self.ring = ring
        self.memory = memory

    def pop(self) -> Chain | None:
        return run(self.ring.pop(), self.memory)

    def read(self, chain: Chain) -> bytes:
        return run(SplitDevice.read_chain(chain), self.memory)

    def write(self, chain: Chain, data: bytes) -> int:
        return run(SplitDevice.write_chain(chain, data), self.memory)

    def push(self, used: Sequence[tuple[int, int]]) -> None:
        run(self.ring.push(used), self.memory)

    def notify(self) -> bool:
        """Send a used-buffer notification if the ring asks for one (RING-SPLIT-052,
        RING-SPLIT-053)."""
        if run(self.ring.should_notify(), self.memory):
            self.device.queue_interrupt(self.index)
            return True
        return False
