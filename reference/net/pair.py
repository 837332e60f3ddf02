"""A device and a driver in one process over one guest memory, with no transport below:
queues laid out one after the other, kicks and interrupts delivered by direct calls.

This is what the tests and the data-path model drive; the full stack (PCI → virtio-pci →
ring → net) gives the same two objects their queues, configuration and notifications
through a real transport instead.
"""

from __future__ import annotations

from collections import deque

from virtiospec.reference.access import GuestMemory, run
from virtiospec.reference.net import features as F
from virtiospec.reference.net.config import NetConfig
from virtiospec.reference.net.device import NetDevice
from virtiospec.reference.net.driver import CTRL_BUF, DEFAULT_RX_BUF, NetDriver
from virtiospec.reference.net.header import HDR_LEN, max_frame
from virtiospec.reference.ring import SplitDevice, SplitDriver, SplitLayout

RING_BASE = 0x1000


class NetPair:
    """``auto=True``: a kick runs the device and an interrupt runs the driver at once (never
    re-entrantly); ``auto=False``: notifications are only counted, the caller steps both
    sides (the data-path model does)."""

    def __init__(self, config: NetConfig | None = None, *, wanted: int | None = None,
                 queue_size: int = 16, rx_buf_size: int = DEFAULT_RX_BUF, auto: bool = True,
                 event_idx: bool = False, start: bool = True,
                 device_cls: type[NetDevice] = NetDevice,
                 driver_cls: type[NetDriver] = NetDriver) -> None:
        self.config = config or NetConfig()
        offered = NetDevice.offered(self.config)
        if not event_idx:
            offered &= ~F.bit(F.RING_EVENT_IDX)
        self.features = offered if wanted is None else offered & wanted
        self.queue_size = queue_size
        self.auto = auto
        self.event_idx = F.has(self.features, F.RING_EVENT_IDX)
        pairs = F.pairs(self.features, self.config.max_pairs)
        self.n_queues = 2 * pairs + (1 if F.has(self.features, F.CTRL_VQ) else 0)
        self.layouts: list[SplitLayout] = []
        at = RING_BASE
        for _ in range(self.n_queues):
            lay = SplitLayout.packed_at(at, queue_size)
            self.layouts.append(lay)
            at = (lay.end + 0xFFF) & ~0xFFF
        area_size = queue_size * pairs * (rx_buf_size + HDR_LEN + max_frame(self.features,
                                                                             self.config.mtu)
                                          + 64) + queue_size * CTRL_BUF
        self.area = (at, area_size)
        self.mem = GuestMemory(at + area_size)
        self.kicks: deque[int] = deque()
        self.interrupts: deque[int] = deque()
        self.kick_count = [0] * self.n_queues
        self.interrupt_count = [0] * self.n_queues
        self.config_notifications = 0
        self._busy = False
        self.config.on_change = self._config_changed
        self.device = device_cls(self.config, self.features, self.mem, notify=self._interrupt)
        self.driver = driver_cls(self.features, self.config, self.mem, self.area, queue_size,
                                notify=self._kick, rx_buf_size=rx_buf_size)
        self._setup_queues()
        if start:
            self.driver.start()
            self.pump()

    def _setup_queues(self) -> None:
        drivers = {}
        for i, lay in enumerate(self.layouts):
            self.mem.write_bytes(lay.desc, bytes(lay.end - lay.desc))
            drv = SplitDriver(lay, event_idx=self.event_idx)
            run(drv.init(), self.mem)
            dev = SplitDevice(lay, self.mem.size, event_idx=self.event_idx)
            run(dev.init(), self.mem)
            drivers[i] = drv
            self.device.attach(i, dev)
        self.driver.attach(drivers)

    # -- notifications ------------------------------------------------------------------------
    def _kick(self, index: int) -> None:
        self.kick_count[index] += 1
        self.kicks.append(index)
        self.pump()

    def _interrupt(self, index: int) -> None:
        self.interrupt_count[index] += 1
        self.interrupts.append(index)
        self.pump()

    def _config_changed(self) -> None:
        self.config_notifications += 1
        if self.auto:
            self.driver.config_changed()
            self.pump()

    def pump(self) -> None:
        """With ``auto``: deliver queued notifications until there are none."""
        if not self.auto or self._busy:
            return
        self._busy = True
        try:
            while self.kicks or self.interrupts:
                if self.kicks:
                    self.kicks.clear()
                    self.device.poll()
                while self.interrupts:
                    self.driver.interrupt(self.interrupts.popleft())
        finally:
            self._busy = False

    # -- what the tests and the model do --------------------------------------------------------
    def inject(self, frame: bytes) -> bool:
        """A frame arrives from the wire; with ``auto`` the device delivers it at once if it
        can. Returns whether the receive filter accepted it."""
        accepted = self.device.receive(frame)
        if self.auto and not self._busy:
            self.device.poll()
            self.pump()
        return accepted

    def reset(self) -> None:
        """Device reset with buffers in flight: the device forgets its queues, the driver
        takes every buffer back (NET-062), fresh queues are set up, the driver starts again."""
        self.device.reset()
        self.driver.recover()
        self.kicks.clear()
        self.interrupts.clear()
        self._setup_queues()
        self.driver.start()
        self.pump()

    def received(self) -> list[tuple[int, bytes]]:
        """Receive on every pair (used by tests when ``auto`` interrupts were suppressed)."""
        out = []
        for pair in range(self.driver.n_pairs):
            out += [(f.pair, f.frame) for f in self.driver.receive(pair)]
        return out
