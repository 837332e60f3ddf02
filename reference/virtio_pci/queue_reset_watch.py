"""A device that checks the driver's side of a queue reset (VIRTIO_F_RING_RESET).

:class:`QueueResetWatch` is the reference device with a queue reset that takes a few reads of
``queue_reset`` to finish (the device stops using the queue at once, VIRTIO-VQRESET-001, but
reports the reset done only on the ``slow``-th read, as VIRTIO-PCI-102 allows), and it
records, in :attr:`violations` as ``(requirement ID, what)``, every driver action that breaks:

* VIRTIO-PCI-105 and VIRTIO-VQRESET-003: the driver touched the queue's registers (size,
  addresses, vector, enable) before ``queue_reset`` read 0, so it took the reset as done
  without checking;
* VIRTIO-VQRESET-005: the driver wrote ``queue_enable`` = 1 to a reset queue without having
  written ``queue_desc``, ``queue_driver`` and ``queue_device`` again since the reset (it did
  not set the queue up as it did the first time).
"""

from __future__ import annotations

from typing import Any

from virtiospec.reference.virtio_pci.device import VirtioPciDevice
from virtiospec.reference.virtio_pci.queues import QueueRegs

QUEUE_FIELDS = ("queue_size", "queue_msix_vector", "queue_enable", "queue_desc",
                "queue_driver", "queue_device")
ADDRESSES = frozenset({"queue_desc", "queue_driver", "queue_device"})


class QueueResetWatch(VirtioPciDevice):
    def __init__(self, *args: Any, slow: int = 3, **kw: Any) -> None:
        self.slow = slow
        self.pending: dict[int, int] = {}  # queue -> reads of queue_reset left until done
        self.rewritten: dict[int, set[str]] = {}  # reset queue -> addresses written since
        self.violations: list[tuple[str, str]] = []
        super().__init__(*args, **kw)

    def reset_queue(self, index: int, q: QueueRegs) -> None:
        q.ring = None  # VIRTIO-VQRESET-001 at once; the registers go back when it is done
        q.resetting = 1
        self.pending[index] = self.slow

    def common_read(self, name: str) -> int:
        sel = self.queue_select
        if name == "queue_reset" and sel in self.pending:
            self.pending[sel] -= 1
            if self.pending[sel] > 0:
                return 1
            del self.pending[sel]
            super().reset_queue(sel, self.queues[sel])
            self.rewritten[sel] = set()
            return 0
        return super().common_read(name)

    def common_write(self, name: str, value: int, half: int) -> None:
        sel = self.queue_select
        if name in QUEUE_FIELDS and sel in self.pending:
            self.violations.append(("VIRTIO-PCI-105", f"{name} of queue {sel} written while "
                                    "queue_reset still read 1"))
        elif name in ADDRESSES and sel in self.rewritten:
            self.rewritten[sel].add(name)
        elif name == "queue_enable" and value == 1 and sel in self.rewritten:
            missing = ADDRESSES - self.rewritten.pop(sel)
            if missing:
                self.violations.append(("VIRTIO-VQRESET-005", f"queue {sel} enabled again "
                                        f"without {', '.join(sorted(missing))} written"))
        super().common_write(name, value, half)
