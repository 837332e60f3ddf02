"""A device that watches the driver's MSI-X vector mappings (VIRTIO 1.4 §4.1.5.1.2.2).

:class:`DriverWatch` is the reference device, with an MSI-X table of any size
(``msix_vectors``, 0 for none) and, optionally, vectors it refuses to map (``refuse``: a
mapping of one reads back NO_VECTOR, as a device short of resources answers). It records in
:attr:`violations`, as ``(requirement ID, what)``, every driver action that breaks
VIRTIO-PCI-041:

* a vector written to ``config_msix_vector`` or ``queue_msix_vector`` that is neither
  NO_VECTOR nor inside the table;
* a mapping the driver did not read back before it went on: the checkpoints are the next
  write of ``queue_select``, ``queue_enable`` or ``device_status``;

NET-022: any write to the device configuration structure (the network device's fields
are the driver's to read only); and, with ``packed=True`` (the device then offers
VIRTIO_F_RING_PACKED, and watches the set-up only: it runs no packed ring), VIRTIO-PCI-104:
a 0 written to ``queue_size`` once that feature is negotiated. ``extra_queues`` adds queues
the network driver has no use for (as a control queue would be).

With ``decoys=True`` the capability list starts with vendor capabilities a driver must pass
over (VIRTIO-PCI-011): a reserved ``cfg_type``, then common configuration structures in a
reserved BAR number and in a BAR the device does not have; the real common configuration
capability says a ``cap_len`` and a ``length`` larger than its structure needs. Every write
to a vendor capability other than the PCI configuration access one is recorded as breaking
VIRTIO-PCI-011.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from virtiospec.reference.pci.function import Region
from virtiospec.reference.pci.regs import CAPABILITY_POINTER
from virtiospec.reference.virtio_pci import caps
from virtiospec.reference.virtio_pci.device import DEVICE_AT, STRUCT_BAR, VirtioPciDevice
from virtiospec.reference.virtio_pci.regs import (
    CAP_LEN,
    CAP_LENGTH,
    COMMON_CFG,
    F_RING_PACKED,
    NO_VECTOR,
    bit,
)

VECTOR_FIELDS = ("config_msix_vector", "queue_msix_vector")
CHECKPOINTS = ("queue_select", "queue_enable", "device_status")
CAP_ID_VENDOR = 0x09
RESERVED_CFG_TYPE = 0x30
RESERVED_BAR = 6
ABSENT_BAR = 5  # the reference device has BAR0 (MSI-X), BAR2/3 (structures), BAR4 (shm) only


class _Written:
    """A region that reports every write before passing it on."""

    def __init__(self, inner: Region, seen: list[tuple[str, str]]) -> None:
        self.inner, self.seen = inner, seen

    @property
    def size(self) -> int:
        return self.inner.size

    def read(self, offset: int, size: int) -> int:
        return self.inner.read(offset, size)

    def write(self, offset: int, size: int, value: int) -> None:
        self.seen.append(("NET-022", f"device configuration written: {size} bytes at offset "
                          f"{offset:#x} := {value:#x}"))
        self.inner.write(offset, size, value)


class DriverWatch(VirtioPciDevice):
    def __init__(self, backend: Any, *args: Any, refuse: Iterable[int] = (),
                 packed: bool = False, extra_queues: int = 0, decoys: bool = False,
                 **kw: Any) -> None:
        if packed:
            backend.features |= bit(F_RING_PACKED)
        backend.queue_sizes = tuple(backend.queue_sizes) + (backend.queue_sizes[0],) * extra_queues
        self.refuse = frozenset(refuse)
        self.violations: list[tuple[str, str]] = []
        self.unverified: dict[tuple[str, int], int] = {}  # (field, queue or -1) -> vector
        self.mapped: list[tuple[str, int]] = []  # every vector write, in order
        super().__init__(backend, *args, **kw)
        self.regions[STRUCT_BAR] = [(at, _Written(r, self.violations) if at == DEVICE_AT else r)
                                    for at, r in self.regions[STRUCT_BAR]]
        if decoys:
            self._add_decoys()
        for at, cap_id in self.config.capabilities:
            if cap_id == CAP_ID_VENDOR and at != self.pci_cfg_cap:
                self.config.hook(at, at + self.config.get(at + CAP_LEN, 1),
                                 on_write=self._cap_written)

    def _cap_written(self, offset: int, size: int, value: int) -> None:
        self.violations.append(("VIRTIO-PCI-011", f"vendor capability written: {size} bytes "
                                f"at {offset:#x} := {value:#x}"))

    def _add_decoys(self) -> None:
        """Put three capabilities to pass over at the head of the list, and make the real
        common configuration capability longer than its structure."""
        cfg = self.config
        common = next(at for at, cap_id in cfg.capabilities if cap_id == CAP_ID_VENDOR
                      and cfg.get(at + 3, 1) == COMMON_CFG)
        cfg.data[common + CAP_LEN] += 4  # cap_len beyond the 16 bytes of virtio_pci_cap
        cfg.put(common + CAP_LENGTH, 4, 0x1000)  # more than the structure's 56 bytes
        head = cfg.get(CAPABILITY_POINTER, 1)
        last_real = cfg.capabilities[-1][0]
        added = [cfg.add_capability(CAP_ID_VENDOR, caps.body(t, b, 0, 0x1000))
                 for t, b in ((RESERVED_CFG_TYPE, STRUCT_BAR), (COMMON_CFG, RESERVED_BAR),
                              (COMMON_CFG, ABSENT_BAR))]
        cfg.data[last_real + 1] = 0  # the real list ends where it did
        cfg.data[added[-1] + 1] = head  # the decoys lead into it
        cfg.data[CAPABILITY_POINTER] = added[0]
        cfg.capabilities[:] = [c for c in cfg.capabilities if c[0] in added] + \
            [c for c in cfg.capabilities if c[0] not in added]

    @property
    def table_size(self) -> int:
        return 0 if self.msix_table is None else self.msix_table.vectors

    def _key(self, name: str) -> tuple[str, int]:
        return name, self.queue_select if name == "queue_msix_vector" else -1

    def _map_vector(self, vector: int) -> int:
        if vector in self.refuse:
            return NO_VECTOR
        return super()._map_vector(vector)

    def common_read(self, name: str) -> int:
        if name in VECTOR_FIELDS:
            self.unverified.pop(self._key(name), None)
        return super().common_read(name)

    def _make_ring(self, index: int, q: Any) -> None:
        if not self.has(F_RING_PACKED):  # a packed ring is only watched being set up
            super()._make_ring(index, q)

    def common_write(self, name: str, value: int, half: int) -> None:
        if name == "queue_size" and value == 0 and self.has(F_RING_PACKED):
            self.violations.append(("VIRTIO-PCI-104", f"queue_size of queue "
                                    f"{self.queue_select} := 0 with VIRTIO_F_RING_PACKED"))
        if name in VECTOR_FIELDS:
            self.mapped.append((name, value))
            if value != NO_VECTOR and value >= self.table_size:
                self.violations.append(("VIRTIO-PCI-041", f"{name} := {value}, outside the "
                                        f"MSI-X table of {self.table_size} vectors"))
            self.unverified[self._key(name)] = value
        elif name in CHECKPOINTS and self.unverified:
            for (field, queue), vector in self.unverified.items():
                where = f" of queue {queue}" if queue >= 0 else ""
                self.violations.append(("VIRTIO-PCI-041", f"{field}{where} := {vector} never "
                                        f"read back before {name} was written"))
            self.unverified.clear()
        super().common_write(name, value, half)
