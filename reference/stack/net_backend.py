"""The network device type behind the stack's PCI function: the full reference
:class:`~virtiospec.reference.net.NetDevice` (reference/net: MRG_RXBUF, control queue,
multiqueue with per-queue classes), given its queues, configuration and notifications by
virtio-pci and virtio-shm instead of :class:`~virtiospec.reference.net.pair.NetPair`'s direct
calls.

* Configuration: the device's :class:`NetConfig` is shown through the virtio-pci device
  configuration (VIRTIO-PCI-050); a change the host makes (a link flap, new queue classes)
  is a configuration change notification (NET-021, VIRTIO-PCI-042).
* Queues: the live :class:`~.rings.DeviceRing`\\ s of the function, attached at DRIVER_OK.
* Available-buffer notifications: a write to the notification area only rings a doorbell;
  the device works when the stack runs it (:meth:`NetBackend.service`), as a device thread
  would, never inside the driver's MMIO write. It disables and acknowledges each queue's
  kick before it consumes and re-enables and re-checks before it waits (SHM-RING-004). A
  receive queue's kicks are wanted only while frames wait for its buffers.
* Used-buffer notifications: a ring decision to notify injects the queue's call signal; only
  an injection that says so becomes the transport's notification, the queue's MSI-X message
  (SHM-RING-003, SHM-RING-006).
* Errors: a queue the network device stops on (RING-SPLIT-084), an access the shm layer
  refuses or a DMA without bus mastering sets DEVICE_NEEDS_RESET (VIRTIO-STATUS-004).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from virtiospec.reference.access import run
from virtiospec.reference.net import features as F
from virtiospec.reference.net.config import NetConfig
from virtiospec.reference.net.device import NetDevice
from virtiospec.reference.net.errors import BadFeatures
from virtiospec.reference.pci.errors import PciError
from virtiospec.reference.ring import RingError
from virtiospec.reference.shm.errors import ShmError
from virtiospec.reference.stack.counters import Counters
from virtiospec.reference.stack.net_function import NetPciFunction
from virtiospec.reference.stack.rings import DeviceRing
from virtiospec.reference.virtio_pci.device import VirtioPciDevice
from virtiospec.reference.virtio_pci.device_config import DeviceConfig
from virtiospec.reference.virtio_pci.queues import QueueRegs
from virtiospec.reference.virtio_pci.regs import DEVICE_NET, F_RING_RESET

Wire = Callable[[int, bytes], None]  # (transmit pair, frame): a frame reaches the wire
MAX_PASSES = 1000


@dataclass(frozen=True)
class NetBackendLines:
    """The lines of :class:`NetBackend` a known-bad variant (models/stack/net.py) may turn
    off; every default is the protocol."""

    # service: a re-check before waiting that finds work (SHM-RING-004) runs another pass,
    # also after a pass that found none (a kick that came while the device re-enabled)
    rerun_on_recheck: bool = True
    # queue_reset: the network device drops the queue's ring, and serves the ring the driver
    # enables afterwards (VIRTIO-VQRESET-001, VIRTIO-VQRESET-002, VIRTIO-VQRESET-004)
    forget_ring_at_queue_reset: bool = True


class NetBackend:
    device_id = DEVICE_NET
    class_code = 0x020000  # network controller, Ethernet
    lines = NetBackendLines()
    faults: tuple[type[Exception], ...] = (RingError,)

    def __init__(self, config: NetConfig, queue_size: int, counters: Counters, *,
                 on_wire: Wire | None = None) -> None:
        self.net_config = config
        self.counters = counters
        self.on_wire = on_wire
        # VERSION_1 included (VIRTIO-FEAT-004); VIRTIO_F_RING_RESET: queues reset one by one
        self.features = NetDevice.offered(config) | 1 << F_RING_RESET
        self.queue_sizes = (queue_size,) * (2 * config.max_pairs + 1)
        self.config = DeviceConfig(config.layout())
        config.on_change = self._config_changed
        self.function: NetPciFunction | None = None
        self.net: NetDevice | None = None
        self.doorbells: set[int] = set()
        self.poked = False  # work that needs no doorbell: frames from the wire, link up
        self.reported: set[int] = set()  # queues whose failure broke the device already

    # -- DeviceType ------------------------------------------------------------------------------
    def attach(self, device: VirtioPciDevice) -> None:
        if not isinstance(device, NetPciFunction):
            raise TypeError("the network backend runs behind a NetPciFunction")
        self.function = device
        self.net = self._device(self.features)

    def _device(self, features: int) -> NetDevice:
        assert self.function is not None
        return NetDevice(self.net_config, features, self.function.device_memory,
                         notify=self._used, on_transmit=self._transmit)

    def validate_features(self, features: int) -> bool:
        """NET-027 on top of the transport's checks; the network device is made for the
        negotiated set, frames waiting on the wire move to it (NET-063)."""
        try:
            F.check(features)
        except BadFeatures:
            return False
        old = self.net
        if old is None or old.features != features:
            self.net = self._device(features)
            if old is not None:
                waiting = sorted(item for q in old.backlog for item in q)
                for _, frame in waiting:
                    self.net.receive(frame)
        return True

    def build_queue(self, index: int, q: QueueRegs) -> DeviceRing:
        """The queue goes live: a ring on shm in the function's region (SHM-RING-005)."""
        fn, _ = self._parts()
        return fn.ring_on_shm(index, q)

    def live(self) -> None:
        """DRIVER_OK: the network device gets its queues; each queue's kicks are enabled."""
        fn, net = self._parts()
        for index, q in enumerate(fn.queues):
            if not isinstance(q.ring, DeviceRing):
                continue
            try:
                net.attach(index, q.ring)
            except ValueError:
                continue  # a queue these features do not use
            run(q.ring.kick.enable(), fn.device_memory)
        self.poked = True

    def queue_notified(self, index: int) -> None:
        self.doorbells.add(index)

    def queue_reset(self, index: int) -> None:
        """The driver reset queue ``index`` (the function already dropped its registers):
        the network device stops using its ring, forgets what it staged on it and holds no
        buffer of it (VIRTIO-VQRESET-001); frames from the wire wait for the ring the driver
        enables next."""
        _, net = self._parts()
        self.doorbells.discard(index)
        if self.lines.forget_ring_at_queue_reset:
            net.detach(index)

    def queue_enabled(self, index: int) -> None:
        """A reset queue enabled again while the device is live: its new ring, from the
        registers the driver wrote since (VIRTIO-VQRESET-004), kicks enabled."""
        fn, net = self._parts()
        ring = fn.queues[index].ring
        if not isinstance(ring, DeviceRing):
            return
        if self.lines.forget_ring_at_queue_reset or index not in net.queues:
            net.attach(index, ring)
        run(ring.kick.enable(), fn.device_memory)
        self.poked = True

    def reset(self) -> None:
        if self.net is not None:
            self.net.reset()
        self.doorbells.clear()
        self.reported.clear()
        self.poked = False

    # -- the wire and the host ------------------------------------------------------------------
    def receive(self, frame: bytes) -> bool:
        """A frame arrives from the wire (it waits there until the driver has buffers)."""
        _, net = self._parts()
        accepted = net.receive(frame)
        self.poked = True
        return accepted

    def _transmit(self, pair: int, frame: bytes) -> None:
        c = self.counters.pair(pair)
        c.tx_frames += 1
        c.tx_bytes += len(frame)
        if self.on_wire is not None:
            self.on_wire(pair, frame)

    def _config_changed(self) -> None:
        """The host changed the configuration (NET-021): show it, tell a live driver."""
        if self.config.update(0, self.net_config.layout()) and self.function is not None:
            self.function.config_changed()
        self.poked = True

    # -- notifications ---------------------------------------------------------------------------
    def _used(self, index: int) -> None:
        """The ring decided to notify (RING-SPLIT-052, RING-SPLIT-053): inject the call signal;
        notify
        through the transport only if the injection says so (SHM-RING-003)."""
        fn, _ = self._parts()
        ring = fn.queues[index].ring
        assert isinstance(ring, DeviceRing)
        if run(ring.call.inject(), fn.device_memory):
            fn.queue_interrupt(index)

    def _wants_kicks(self, index: int) -> bool:
        _, net = self._parts()
        if index == net.ctrl_q or index % 2:
            return True  # transmit and control queues: every buffer made available is work
        return bool(net.backlog[index // 2]) and net.config.link_up

    # -- the device's work -----------------------------------------------------------------------
    @property
    def wants_service(self) -> bool:
        return bool(self.doorbells) or self.poked

    def service(self) -> int:
        """Do everything there is to do; returns the network device's work (buffers)."""
        fn, net = self._parts()
        if not fn.live or not fn.bus_master:
            self.doorbells.clear()
            self.poked = False
            return 0
        total = 0
        for _ in range(MAX_PASSES):
            self.doorbells.clear()
            self.poked = False
            rings = {i: q for i, q in net.queues.items()
                     if isinstance(q, DeviceRing) and i not in net.broken}
            mem = fn.device_memory
            try:
                for ring in rings.values():
                    run(ring.begin(), mem)
                work = net.poll()
                again = False
                for i, ring in rings.items():
                    if i not in net.broken and self._wants_kicks(i):
                        again = run(ring.finish(), mem) or again
            except (RingError, ShmError, PciError) as err:
                fn.fail(err)
                return total
            total += work
            self._report_broken()
            self.config.update(0, self.net_config.layout())  # e.g. MAC_ADDR_SET (NET-034)
            if not fn.live or not again or not (work or self.lines.rerun_on_recheck):
                break
        return total

    def _report_broken(self) -> None:
        """A queue the network device stopped on breaks the device (RING-SPLIT-084)."""
        fn, net = self._parts()
        for index, err in net.broken.items():
            if index not in self.reported:
                self.reported.add(index)
                fn.fail(err)

    def _parts(self) -> tuple[NetPciFunction, NetDevice]:
        if self.function is None or self.net is None:
            raise RuntimeError("the backend is not attached to a function")
        return self.function, self.net
