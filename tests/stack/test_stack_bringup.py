"""Bring-up of the full stack (reference/stack): PCI enumeration finds the virtio-net function,
the driver negotiates 128 feature bits, finds region 0 through its capability, and every
queue ends up in the region, where both sides agree it is, with its own MSI-X vector."""

from __future__ import annotations

import pytest
from virtiospec.reference.access import run
from virtiospec.reference.net import features as F
from virtiospec.reference.net.config import OFF_QUEUE_CLASSES
from virtiospec.reference.shm.region import Region
from virtiospec.reference.stack.net_function import SHM_ID
from virtiospec.reference.stack.net_stack import Stack, StackOptions, queue_classes
from virtiospec.reference.stack.rings import DeviceRing
from virtiospec.reference.virtio_pci.device import SHM_BAR
from virtiospec.reference.virtio_pci.regs import (
    ACKNOWLEDGE,
    DRIVER,
    DRIVER_OK,
    FEATURES_OK,
    MODERN_BASE,
    VIRTIO_VENDOR,
)


@pytest.mark.req("VIRTIO-PCI-001", "VIRTIO-PCI-002", "SHM-REGION-001", "SHM-REGION-004",
                 "SHM-REGION-005", "VIRTIO-FEAT-001", "NET-050", "VIRTIO-PCI-025",
                 "VIRTIO-PCI-041", "SHM-RING-005")
def test_bring_up_finds_the_region_and_places_every_queue_in_it() -> None:
    s = Stack(StackOptions(pairs=3, queue_size=16))
    features = s.bring_up()
    t = s.driver.transport
    assert t is not None
    assert (t.function.vendor, t.function.device) == (VIRTIO_VENDOR, MODERN_BASE + 1)
    assert F.has(features, F.VIRTIOSPEC_NET_F_QUEUE_CLASSES) and F.has(features, F.MQ)
    region = s.driver.region
    assert region == Region(SHM_ID, s.function.bar_address(SHM_BAR), s.function.window.size)
    assert run(t.status(), s.driver.mem) == ACKNOWLEDGE | DRIVER | FEATURES_OK | DRIVER_OK
    assert sorted(s.driver.rings) == list(range(7))  # 3 pairs and the control queue
    spans = []
    for index, ring in s.driver.rings.items():
        lay = ring.shm_layout
        run(t.write("queue_select", index), s.driver.mem)
        regs = [run(t.read(name), s.driver.mem)
                for name in ("queue_desc", "queue_driver", "queue_device", "queue_msix_vector")]
        assert regs == [lay.ring.desc, lay.ring.avail, lay.ring.used, 1 + index]
        assert region.contains(lay.ring.desc, lay.end - lay.offset)
        device = s.function.queues[index].ring
        assert isinstance(device, DeviceRing) and device.shm_layout == lay  # both agree
        spans.append((lay.offset, lay.end))
    assert all(a[1] <= b[0] for a, b in zip(sorted(spans), sorted(spans)[1:], strict=False))
    assert s.net.queue_classes == queue_classes(3) == [
        s.net.config.read(OFF_QUEUE_CLASSES + k, 1) for k in range(3)]
    assert s.net.pairs_in_use == 3
