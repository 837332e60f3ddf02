"""The full stack in one process: **PCI → virtio-pci → virtio-shm → virtio-ring → virtio-net**,
the reference driver of every layer talking to the reference device of every layer over a
simulated machine.

* PCI: an in-process PC (:class:`~virtiospec.reference.pci.Machine`), guest RAM from 0, bus 0
  behind configuration mechanism #1; the network function in slot 3.
* virtio-pci: :class:`~.net_function.NetPciFunction` (the reference device, its queues on
  shm) and, on the driver's side, the reference transport and initialization.
* virtio-shm: region 0 in BAR4 holds every queue and its kick and call signals.
* virtio-ring: the reference split ring, every access checked by the shm layer.
* virtio-net: the reference ``NetDevice`` and ``NetDriver``, as in ``NetPair`` but through
  all of the above.

Each layer talks only to the layer below it. The device works when the stack runs it
(:meth:`Stack.pump`): doorbells rung by the driver's notify writes, frames from the wire and
configuration changes are served, and the MSI-X messages that land in the machine's MSI
window are handed to the driver's interrupt handlers, until neither side has anything to do.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from virtiospec.reference.net.config import NetConfig
from virtiospec.reference.net.driver import DEFAULT_RX_BUF, RxFrame
from virtiospec.reference.net.errors import NetError
from virtiospec.reference.pci.discovery import Window
from virtiospec.reference.stack.bus import counting_machine
from virtiospec.reference.stack.counters import Counters, plain
from virtiospec.reference.stack.net_backend import NetBackend
from virtiospec.reference.stack.net_driver import CONFIG_VECTOR, CountingNetDriver, StackDriver
from virtiospec.reference.stack.net_function import NetPciFunction
from virtiospec.reference.stack.notify_faults import NotifyFaults
from virtiospec.reference.virtio_pci.regs import status_names

SLOT = 3
MMIO = (0xE000_0000, 0x1000_0000)
BUFFERS_FROM = 0x10_0000  # guest RAM below is left alone (as firmware would)
MAX_ROUNDS = 1_000_000
CLASSES = 8  # 802.1p


def queue_classes(pairs: int) -> list[int]:
    """NET-050: the 8 classes split in contiguous runs over the pairs, so that the last pair
    carries the highest classes and has the highest priority (NET-052)."""
    masks = [0] * pairs
    for cls in range(CLASSES):
        masks[cls * min(pairs, CLASSES) // CLASSES] |= 1 << cls
    return masks


@dataclass(frozen=True)
class StackOptions:
    pairs: int = 1  # queue pairs the device has and the driver uses (MQ when > 1)
    queue_size: int = 64
    event_idx: bool = True
    ring_reset: bool = False  # the driver takes VIRTIO_F_RING_RESET (queues reset one by one)
    ram_size: int = 32 << 20
    rx_buf_size: int = DEFAULT_RX_BUF


class Stack:
    def __init__(self, options: StackOptions | None = None, *,
                 on_wire: Callable[[int, bytes], None] | None = None) -> None:
        self.options = opt = options or StackOptions()
        self.counters = Counters()
        self.on_wire = on_wire
        self.wire: list[tuple[int, bytes]] = []  # frames that reached the wire (no on_wire)
        self.machine = counting_machine(opt.ram_size, self.counters.pci)
        self.net_config = NetConfig(max_pairs=opt.pairs, queue_classes=queue_classes(opt.pairs))
        self.backend = NetBackend(self.net_config, opt.queue_size, self.counters,
                                  on_wire=self._on_wire)
        self.function = NetPciFunction(self.backend, self.counters, self.machine.ram)
        self.machine.plug(SLOT, 0, self.function)
        self.driver = StackDriver(self.machine, self.counters, mmio=Window(*MMIO),
                                  ram=Window(BUFFERS_FROM, opt.ram_size - BUFFERS_FROM),
                                  queue_size=opt.queue_size, event_idx=opt.event_idx,
                                  ring_reset=opt.ring_reset,
                                  rx_buf_size=opt.rx_buf_size)
        self.faults: NotifyFaults | None = None  # demo --drop-notify / --double-notify

    @property
    def net(self) -> CountingNetDriver:
        if self.driver.net is None:
            raise RuntimeError("the stack is not up")
        return self.driver.net

    def _on_wire(self, pair: int, frame: bytes) -> None:
        if self.on_wire is not None:
            self.on_wire(pair, frame)
        else:
            self.wire.append((pair, frame))

    # -- bring-up, pairs, reset ---------------------------------------------------------------
    def bring_up(self) -> int:
        """Enumerate, negotiate, place the queues, go live; then use every pair. Returns the
        negotiated features."""
        features = self.driver.bring_up()
        self.pump()
        if self.options.pairs > 1:
            self.set_pairs(self.options.pairs)
        return features

    def set_pairs(self, n: int) -> None:
        """VQ_PAIRS_SET through the control queue (NET-037, NET-039), waited for."""
        self.net.set_pairs(n)
        self.pump()
        if self.net.pairs_in_use != n:
            answer = self.net.ctrl_results[-1][1] if self.net.ctrl_results else None
            raise NetError(f"VQ_PAIRS_SET {n} was answered {answer}", "NET-039")

    def reset(self) -> None:
        """A device reset with buffers in flight, and everything back as it was."""
        self.driver.reset()
        self.pump()
        if self.options.pairs > 1:
            self.set_pairs(self.options.pairs)

    def reset_queue(self, index: int) -> None:
        """Queue ``index`` reset alone with buffers in flight and enabled again
        (``ring_reset``)."""
        self.driver.reset_queue(index)
        self.pump()

    # -- traffic ----------------------------------------------------------------------------
    def send(self, frame: bytes) -> int:
        """The driver transmits a frame (on the pair its class chooses, NET-053)."""
        return self.net.send(frame)

    def inject(self, frame: bytes) -> bool:
        """A frame arrives on the wire for the driver; False if the device's filter drops it."""
        return self.backend.receive(frame)

    def received(self) -> list[RxFrame]:
        """Frames the driver has received since the last call, in the order it got them."""
        out, self.net.inbox = self.net.inbox, []
        return out

    def link(self, up: bool) -> None:
        """The host changes the link status (NET-026), a configuration change (NET-021)."""
        self.net_config.set_link(up)

    # -- running it ------------------------------------------------------------------------
    def pump(self) -> int:
        """Run the device and deliver interrupts until neither has anything to do; returns the
        rounds it took. With notification faults that drop, the timers of both sides then
        look at every queue, until a timer round finds nothing either."""
        for rounds in range(MAX_ROUNDS):
            work = self._service() if self.backend.wants_service else 0
            irqs = self.deliver_interrupts()
            if not work and not irqs and not self.backend.wants_service and not self._timer():
                return rounds
        raise RuntimeError(f"the stack did not settle in {MAX_ROUNDS} rounds")

    def _service(self) -> int:
        f = self.faults
        doubled: list[int] = []
        if f is not None:
            for index in sorted(self.backend.doorbells):
                if f.hit():
                    if f.mode == "drop":
                        self.backend.doorbells.discard(index)
                        f.kicks_dropped += 1
                    else:
                        doubled.append(index)
                        f.kicks_doubled += 1
        work = self.backend.service()
        for index in doubled:  # the same doorbell again, after the first was served
            self.backend.queue_notified(index)
        return work

    def _timer(self) -> bool:
        """Both sides' timers (only under dropping faults): the back-end looks at every
        queue, the driver polls every queue. True if that moved a buffer."""
        f = self.faults
        if f is None or f.mode != "drop" or not f.timer:
            return False
        f.timer_rounds += 1
        before = self._moved()
        self.backend.poked = True
        self.backend.service()
        self.deliver_interrupts()
        self.driver.poll_queues()
        return self._moved() != before

    def _moved(self) -> int:
        return sum(q.used + q.taken for q in self.counters.queues.values())

    def deliver_interrupts(self) -> int:
        """Hand every MSI message in the machine's MSI window to the driver."""
        done = 0
        f = self.faults
        while self.machine.msi_messages:
            batch, self.machine.msi_messages[:] = list(self.machine.msi_messages), []
            for addr, data in batch:
                times = 1
                if f is not None and f.hit():
                    if f.mode == "drop":
                        f.irqs_dropped += 1
                        continue
                    f.irqs_doubled += 1
                    times = 2
                for _ in range(times):
                    self.driver.on_message(addr, data)
                done += times
        return done

    # -- what happened ---------------------------------------------------------------------------
    def queue_name(self, index: int) -> str:
        ctrl = self.driver.net.ctrl_q if self.driver.net is not None else None
        if index == ctrl:
            return "ctrl"
        return f"{'rx' if index % 2 == 0 else 'tx'}{index // 2}"

    def snapshot(self) -> dict[str, object]:
        """Every layer's counters, JSON-ready."""
        c = self.counters
        sent = self.function.msix_table.sent if self.function.msix_table is not None else []
        virtio = plain(c.virtio_pci)
        assert isinstance(virtio, dict)
        virtio["msix_messages"] = len(sent)
        virtio["msix_config_messages"] = sum(1 for v, _, _ in sent if v == CONFIG_VECTOR)
        virtio["device_status"] = status_names(self.function.status)
        shm = plain(c.shm)
        assert isinstance(shm, dict)
        shm["kick"] = c.shm.signals("kick")
        shm["call"] = c.shm.signals("call")
        net: dict[str, object] = {"pairs": plain(c.pairs)}
        if self.driver.net is not None:
            drv = self.driver.net.stats
            net["driver"] = {"tx_queued": drv.tx_queued, "tx_done": drv.tx_done,
                             "tx_requeued": drv.tx_requeued, "rx_frames": drv.rx_frames,
                             "rx_refused": drv.rx_refused, "ctrl_ok": drv.ctrl_ok,
                             "ctrl_err": drv.ctrl_err, "recoveries": drv.recoveries,
                             "config_changes": drv.config_changes}
        if self.backend.net is not None:
            dev = self.backend.net.stats
            net["device"] = {"tx_frames": dev.tx_frames, "tx_refused": dev.tx_refused,
                             "tx_discarded": dev.tx_discarded, "rx_frames": dev.rx_frames,
                             "rx_buffers": dev.rx_buffers, "rx_filtered": dev.rx_filtered,
                             "ctrl_ok": dev.ctrl_ok, "ctrl_err": dev.ctrl_err,
                             "resets": dev.resets, "waiting": self.backend.net.waiting}
        return {"pci": plain(c.pci), "virtio_pci": virtio, "shm": shm,
                "ring": {self.queue_name(i): plain(q) for i, q in sorted(c.queues.items())},
                "net": net}
