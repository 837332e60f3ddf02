"""The virtio-net PCI function of the stack: a :class:`VirtioPciDevice` whose queues live in
its shared memory region.

It is the reference virtio-pci device unchanged in what it does (status machine, features,
common configuration, notifications, MSI-X; VIRTIO-PCI-*, VIRTIO-STATUS-*), plus:

* one shared memory region, ``shmid`` 0, at offset 0 of BAR4 (SHM-REGION-004, SHM-REGION-005), whose
  bytes are a :class:`~.region.ShmWindow`;
* queues placed in that region (SHM-RING-005): when a queue goes live the device takes its
  registers as the guest-physical addresses of a ring on shm, checks that the ring and its
  signals lie inside the region, packed as :class:`ShmRingLayout` places them and clear of
  every other queue, and refuses the queue otherwise (DEVICE_NEEDS_RESET, never a crash);
* the judgement of the driver's stores to the region (SHM-RING-007): a store to a part or a
  signal word the driver does not own changes nothing and breaks the device;
* the counters of the PCI and virtio-pci layers, counted here where the accesses, status
  writes, notifications and interrupts happen.
"""

from __future__ import annotations

from virtiospec.reference.access import GuestMemory, Store, run
from virtiospec.reference.ring.on_shm import ShmRingLayout
from virtiospec.reference.shm.errors import BadLayout, RegionOutOfBounds, ShmError, WrongWriter
from virtiospec.reference.shm.region import Region
from virtiospec.reference.shm.signal import SignalLayout
from virtiospec.reference.stack.counters import Counters
from virtiospec.reference.stack.region import DeviceMemory, ShmWindow
from virtiospec.reference.stack.rings import DeviceRing
from virtiospec.reference.virtio_pci.backend import DeviceType
from virtiospec.reference.virtio_pci.device import SHM_BAR, VirtioPciDevice
from virtiospec.reference.virtio_pci.queues import QueueRegs
from virtiospec.reference.virtio_pci.regs import (
    DEVICE_NEEDS_RESET,
    DRIVER_OK,
    F_EVENT_IDX,
    F_INDIRECT_DESC,
)

SHM_ID = 0
RING_ALIGN = 64  # the driver starts each queue's span on a cache line (not required)


def ring_span(size: int) -> int:
    """Bytes of one queue of ``size`` on shm, ring and both signals, rounded to RING_ALIGN."""
    probe = ShmRingLayout(Region(SHM_ID, 0, 1 << 32), 0, size)
    return (probe.end + RING_ALIGN - 1) & ~(RING_ALIGN - 1)


def region_length(queue_sizes: tuple[int, ...]) -> int:
    """A region that holds every queue at its largest size, in 4 KiB pages."""
    total = sum(ring_span(q) for q in queue_sizes)
    return (total + 0xFFF) & ~0xFFF


class NetPciFunction(VirtioPciDevice):
    """``backend``: the device type (reference/stack/net_backend.py); ``ram``: guest RAM as
    the function reaches it as a bus master (where the driver's buffers are)."""

    def __init__(self, backend: DeviceType, counters: Counters, ram: GuestMemory) -> None:
        self.counters = counters
        self.layouts: dict[int, ShmRingLayout] = {}  # live queues, by index
        self.window = ShmWindow(SHM_ID, region_length(backend.queue_sizes), counters.shm)
        self.device_memory = DeviceMemory(self, ram, self.window,
                                          lambda: self.bar_address(SHM_BAR))
        super().__init__(backend, msix_vectors=1 + len(backend.queue_sizes),
                         shm_regions={SHM_ID: self.window.size})
        self.map(SHM_BAR, 0, self.window)  # the only region: at offset 0 of its BAR
        self.window.guard = self._judge
        self.window.refuse = self.fail

    def region(self) -> Region:
        """Region 0 where the BAR is now (SHM-REGION-004)."""
        return Region(SHM_ID, self.bar_address(SHM_BAR), self.window.size)

    # -- PCI: BAR accesses, counted as the function decodes them ------------------------------
    def bar_read(self, index: int, offset: int, size: int) -> int:
        value = super().bar_read(index, offset, size)
        self.counters.pci.bar_reads[index] += 1
        return value

    def bar_write(self, index: int, offset: int, size: int, value: int) -> None:
        super().bar_write(index, offset, size, value)
        self.counters.pci.bar_writes[index] += 1

    # -- virtio-pci: status, notifications, interrupts ------------------------------------------
    def write_status(self, value: int) -> None:
        old = self.status
        super().write_status(value)
        vp = self.counters.virtio_pci
        vp.status_writes += 1
        if self.status != old:
            vp.status_transitions += 1

    def reset(self) -> None:
        self.counters.virtio_pci.resets += 1
        self.layouts.clear()
        super().reset()

    # -- one queue reset and enabled again (VIRTIO_F_RING_RESET) -------------------------------
    def reset_queue(self, index: int, q: QueueRegs) -> None:
        """The queue leaves the region's layout with its registers (VIRTIO-VQRESET-002), so
        that the driver may place it again, at the same offset or another
        (VIRTIO-VQRESET-004); the back-end drops its ring (VIRTIO-VQRESET-001)."""
        self.counters.virtio_pci.queue_resets += 1
        self.layouts.pop(index, None)
        super().reset_queue(index, q)

    def _enable_queue(self, index: int, q: QueueRegs) -> None:
        """A queue enabled while the device is live (after its reset): the new ring goes to
        the back-end at once."""
        super()._enable_queue(index, q)
        hook = getattr(self.backend, "queue_enabled", None)
        if self.status & DRIVER_OK and q.ring is not None and hook is not None:
            self.guarded(lambda: hook(index))

    def notified(self, offset: int, value: int, data: int | None = None) -> None:
        ignored = self.ignored_notifications
        super().notified(offset, value, data)
        vp = self.counters.virtio_pci
        vp.notify_writes += 1
        vp.notify_ignored += self.ignored_notifications - ignored

    def queue_interrupt(self, index: int) -> None:
        self.counters.virtio_pci.queue_interrupts += 1
        super().queue_interrupt(index)

    def config_interrupt(self) -> None:
        self.counters.virtio_pci.config_interrupts += 1
        super().config_interrupt()

    def fail(self, err: Exception) -> None:
        if not self.status & DEVICE_NEEDS_RESET:
            self.counters.virtio_pci.needs_reset += 1
        super().fail(err)

    @property
    def live(self) -> bool:
        """DRIVER_OK set, DEVICE_NEEDS_RESET clear (VIRTIO-STATUS-003, -004)."""
        return bool(self.status & DRIVER_OK) and not self.status & DEVICE_NEEDS_RESET

    # -- queues in the region (SHM-RING-005) ----------------------------------------------------
    def placement(self, index: int, q: QueueRegs) -> ShmRingLayout:
        """Queue ``index`` as a ring on shm, from its registers, or the refusal."""
        region = self.region()
        if not region.contains(q.desc, 1):
            raise RegionOutOfBounds(
                f"queue {index}: queue_desc {q.desc:#x} is not inside region {SHM_ID} "
                f"[{region.base:#x}, {region.end:#x})", "SHM-RING-001")
        layout = ShmRingLayout(region, q.desc - region.base, q.size)
        ring = layout.ring
        if (ring.desc, ring.avail, ring.used) != (q.desc, q.driver, q.device):
            raise BadLayout(
                f"queue {index}: desc {q.desc:#x}, driver {q.driver:#x}, device {q.device:#x} "
                f"is not a ring on shm (packed: {ring.desc:#x}, {ring.avail:#x}, "
                f"{ring.used:#x})", "SHM-RING-005")
        for other, at in self.layouts.items():
            if at.offset < layout.end and layout.offset < at.end:
                raise BadLayout(f"queue {index} [{layout.offset:#x}, {layout.end:#x}) overlaps "
                                f"queue {other} [{at.offset:#x}, {at.end:#x})", "SHM-RING-005")
        return layout

    def ring_on_shm(self, index: int, q: QueueRegs) -> DeviceRing:
        """Queue ``index`` as the device type builds it when it goes live: a ring on shm at
        the registers' addresses; the device initialises its fields and both signals (they
        are in its region)."""
        layout = self.placement(index, q)
        ring = DeviceRing(index, layout, self.device_memory.size, self.counters,
                          event_idx=self.has(F_EVENT_IDX),
                          indirect=self.has(F_INDIRECT_DESC))
        run(ring.init(), self.device_memory)
        self.layouts[index] = layout
        return ring

    def _make_ring(self, index: int, q: QueueRegs) -> None:
        """The transport asks the device type for the queue; a placement the shm layer
        refuses breaks the device as a refused ring does."""
        try:
            super()._make_ring(index, q)
        except ShmError as err:
            self.fail(err)

    # -- the driver's stores to the region (SHM-RING-007) ---------------------------------------
    def _judge(self, offset: int, size: int, value: int) -> ShmError | None:
        for index, layout in self.layouts.items():
            if not layout.offset <= offset < layout.end:
                continue
            try:
                layout.check("driver", Store(layout.region.base + offset, size, value))
            except ShmError as err:
                return err
            return _signal_store(index, layout.kick, layout.call, offset, size, value)
        return None


def _signal_store(index: int, kick: SignalLayout, call: SignalLayout, offset: int, size: int,
                  value: int) -> ShmError | None:
    """SHM-SIGNAL-001 from the driver's side: it sends kicks (stores 1 to kick.pending) and
    receives calls (stores 0 or 1 to call.enabled, 0 to call.pending), 4 bytes at a time."""
    allowed = {kick.pending: (1,), call.enabled: (0, 1), call.pending: (0,)}
    for word in (kick.enabled, kick.pending, call.enabled, call.pending):
        if offset < word + 4 and word < offset + size:
            if offset == word and size == 4 and value in allowed.get(word, ()):
                return None
            return WrongWriter(f"queue {index}: driver store of {value:#x} ({size} bytes) at "
                               f"offset {offset:#x} to a signal word it may not write so",
                               "SHM-SIGNAL-001")
    return None
