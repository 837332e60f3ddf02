"""Per-queue state of the device side: the registers of one queue (VIRTIO-PCI-020, -024,
-026, -040), and, once the device is live, the queue the layer above built on them.

The transport provides a queue's memory (size and the three area addresses the driver wrote)
and its signal path (the notification address, the MSI-X vector); it does not build the
ring. When a queue goes live it asks the device type for the queue
(:meth:`~.backend.DeviceType.build_queue`), which builds the ring (reference/ring) on these
registers, and keeps what it gets in :attr:`QueueRegs.ring` until the queue or the device
is reset."""

from __future__ import annotations

from dataclasses import dataclass

from virtiospec.reference.virtio_pci.regs import NO_VECTOR


@dataclass
class QueueRegs:
    max_size: int
    size: int = 0
    msix_vector: int = NO_VECTOR
    enable: int = 0
    desc: int = 0
    driver: int = 0
    device: int = 0
    ring: object | None = None  # what the device type built on the registers, once live
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
