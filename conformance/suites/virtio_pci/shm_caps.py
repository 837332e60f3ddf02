"""VIRTIO-PCI-014 (VIRTIO 1.4 §4.1.4.7.1): each shared memory region of a device is described
by one capability of type 8, a ``virtio_pci_cap64`` (64-bit offset and length), whose region
lies inside its BAR; no two of the device's regions share an ``id``.

The case walks the capability list and sizes the BARs itself (pci/discovery.py). A device
without shared memory regions (a network device) has nothing to check: SKIP. For the
reference target the case uses the reference device with two regions (ids 0 and 7), since
the reference network device has none.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any, cast

from virtiospec.conformance.cases import CaseSkipped, case, require
from virtiospec.conformance.suites.virtio_pci.session import (
    PciSession,
    ReferenceSession,
    net_config,
    session,
)
from virtiospec.reference.pci.discovery import capabilities, size_bars
from virtiospec.reference.virtio_pci import caps
from virtiospec.reference.virtio_pci.device import VirtioPciDevice
from virtiospec.reference.virtio_pci.regs import CAP64_SIZE, SHARED_MEMORY_CFG

CAP_ID_VENDOR = 0x09
REGIONS = {0: 0x1000, 7: 0x3000}


@contextmanager
def _reference_with_regions(device_cls: type[VirtioPciDevice]) -> Iterator[ReferenceSession]:
    def device(backend: Any) -> VirtioPciDevice:
        return device_cls(backend, shm_regions=REGIONS)

    yield ReferenceSession(cast(type[VirtioPciDevice], device))


def shm_session(target: Any) -> AbstractContextManager[PciSession]:
    """The target's PCI session; for the reference, its device with shared memory regions
    (``shm_device_cls``: a known-bad variant of it, for the models)."""
    if getattr(target, "name", None) == "reference" or hasattr(target, "shm_device_cls"):
        cls = getattr(target, "shm_device_cls", VirtioPciDevice)
        return cast(AbstractContextManager[PciSession], _reference_with_regions(cls))
    return session(target)


@case("pci.virtio.shm-capabilities", ("VIRTIO-PCI-014",), "device", "pci",
      "every shared memory capability is a virtio_pci_cap64 whose region lies inside its "
      "BAR, with an id no other region of the device has")
def shm_capabilities(target: object) -> None:
    with shm_session(target) as s:
        cfg, bdf = net_config(s)
        bars = {b.index: b for b in size_bars(cfg, bdf)}
        found = [caps.parse(lambda at, n: cfg.read(bdf, at, n), at)
                 for at, cap_id in capabilities(cfg, bdf) if cap_id == CAP_ID_VENDOR]
        shm = [c for c in found if c.cfg_type == SHARED_MEMORY_CFG]
        if not shm:
            raise CaseSkipped("the device describes no shared memory region")
        ids: dict[int, int] = {}
        for c in shm:
            require(c.cap_len >= CAP64_SIZE, f"cap_len of shared memory capability at "
                    f"{c.at:#x}", f">= {CAP64_SIZE} (virtio_pci_cap64)", str(c.cap_len),
                    req="VIRTIO-PCI-014")
            bar = bars.get(c.bar)
            require(bar is not None and c.offset + c.length <= bar.size,
                    f"region {c.id} inside BAR{c.bar}",
                    f"[{c.offset:#x}, +{c.length:#x}) within {bar.size if bar else 0:#x} bytes",
                    "outside" if bar else "no such BAR", req="VIRTIO-PCI-014")
            require(c.id not in ids, f"shared memory id {c.id} unique", "one capability",
                    f"capabilities at {ids.get(c.id, 0):#x} and {c.at:#x}",
                    req="VIRTIO-PCI-014")
            ids[c.id] = c.at
