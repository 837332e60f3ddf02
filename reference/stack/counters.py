"""The per-layer counters of the network stack on virtio-pci.

Each counter is incremented by the code that does the thing it counts, in the layer that
does it: config cycles by the bus, BAR accesses by the function, status transitions and
notifications by the virtio-pci device, region accesses by the region's memory, refusals
where the shm layer refuses, kicks and interrupts by the rings' decisions, frames where they
reach the wire or the driver. Signals count themselves (:class:`SignalSender` and
:class:`SignalReceiver` of reference/shm): this module only keeps every one the stack made.
Nothing here is recomputed from another layer's numbers; :mod:`.checks` compares them.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Literal

from virtiospec.reference.shm.signal import SignalReceiver, SignalSender

Direction = Literal["kick", "call"]


@dataclass
class PciCounters:
    config_reads: int = 0  # config cycles through 0xCFC, whichever function (or none) answers
    config_writes: int = 0
    bar_reads: Counter[int] = field(default_factory=Counter)  # BAR index -> accesses
    bar_writes: Counter[int] = field(default_factory=Counter)


@dataclass
class VirtioPciCounters:
    status_writes: int = 0
    status_transitions: int = 0  # writes that changed device_status
    resets: int = 0  # writes of 0 (VIRTIO-STATUS-005)
    queue_resets: int = 0  # writes of 1 to queue_reset (VIRTIO-PCI-102)
    notify_writes: int = 0  # writes to the notification area (VIRTIO-PCI-030)
    notify_ignored: int = 0  # of which: not live, or at another queue's address
    queue_interrupts: int = 0  # used-buffer notifications the transport sent
    config_interrupts: int = 0  # configuration change notifications
    needs_reset: int = 0  # times DEVICE_NEEDS_RESET was set (VIRTIO-STATUS-004)
    irqs_delivered: Counter[int] = field(default_factory=Counter)  # vector -> messages handled


@dataclass
class QueueCounters:
    """One virtqueue, both sides (the ring layer's decisions, RING-SPLIT-052, RING-SPLIT-053,
    RING-SPLIT-062, RING-SPLIT-063)."""

    added: int = 0  # chains the driver made available
    kicks: int = 0  # the driver's decisions to notify
    kicks_suppressed: int = 0  # ... not to notify
    taken: int = 0  # used buffers the driver took back
    popped: int = 0  # available chains the device took
    used: int = 0  # used elements the device pushed
    interrupts: int = 0  # the device's decisions to notify
    interrupts_suppressed: int = 0  # ... not to notify


@dataclass
class RegionCounters:
    """The accesses to one shared memory region, both sides, as its memory counts them
    (:class:`~.region.ShmWindow`: the network stack's region, each of the clock's)."""

    driver_loads: int = 0  # the driver's accesses to the region, through the BAR
    driver_stores: int = 0
    driver_bytes: int = 0
    device_loads: int = 0  # the device's accesses to its own region
    device_stores: int = 0
    device_bytes: int = 0
    driver_refused: int = 0  # driver stores the device refused (they changed nothing)
    refused: Counter[str] = field(default_factory=Counter)  # requirement ID -> refusals


@dataclass
class ShmCounters(RegionCounters):
    """The network stack's region, and every signal the stack made."""

    senders: dict[Direction, list[SignalSender]] = field(
        default_factory=lambda: {"kick": [], "call": []})
    receivers: dict[Direction, list[SignalReceiver]] = field(
        default_factory=lambda: {"kick": [], "call": []})


    def signals(self, direction: Direction) -> dict[str, int]:
        """What the signals of one direction counted: injections, notifications sent
        (delivered), coalesced injections (SHM-SIGNAL-011), acknowledgements."""
        senders, receivers = self.senders[direction], self.receivers[direction]
        injected = sum(s.injections for s in senders)
        delivered = sum(s.notifications for s in senders)
        coalesced = sum(s.coalesced for s in senders)
        return {"injected": injected, "delivered": delivered, "coalesced": coalesced,
                "receiver_disabled": injected - delivered - coalesced,
                "acknowledged": sum(r.acknowledgements for r in receivers)}


@dataclass
class PairCounters:
    tx_frames: int = 0  # frames of transmitq(k+1) that reached the wire
    tx_bytes: int = 0
    rx_frames: int = 0  # frames of receiveq(k+1) that the driver received
    rx_bytes: int = 0


@dataclass
class Counters:
    pci: PciCounters = field(default_factory=PciCounters)
    virtio_pci: VirtioPciCounters = field(default_factory=VirtioPciCounters)
    shm: ShmCounters = field(default_factory=ShmCounters)
    queues: dict[int, QueueCounters] = field(default_factory=dict)
    pairs: dict[int, PairCounters] = field(default_factory=dict)

    def queue(self, index: int) -> QueueCounters:
        return self.queues.setdefault(index, QueueCounters())

    def pair(self, index: int) -> PairCounters:
        return self.pairs.setdefault(index, PairCounters())


def plain(obj: object) -> object:
    """A counters dataclass (or Counter) as JSON-ready dicts with string keys."""
    if isinstance(obj, Counter):
        return {str(k): v for k, v in sorted(obj.items())}
    if hasattr(obj, "__dataclass_fields__"):
        out = {}
        for name in obj.__dataclass_fields__:
            value = getattr(obj, name)
            if name in ("senders", "receivers"):
                continue
            out[name] = plain(value)
        return out
    if isinstance(obj, dict):
        return {str(k): plain(v) for k, v in sorted(obj.items())}
    return obj


__all__ = ["Counters", "PairCounters", "PciCounters", "QueueCounters", "RegionCounters",
           "ShmCounters", "VirtioPciCounters", "plain"]
