"""What the layers' counters must say about each other once the stack has settled.

Each layer counts on its own (:mod:`.counters`); here the counts of one layer are set against
those of the layer below or above, each comparison naming the requirements that make it hold.
A check that fails means a notification, a buffer or an access went missing or appeared
between two layers.
"""

from __future__ import annotations

from dataclasses import dataclass

from virtiospec.reference.stack.net_driver import CONFIG_VECTOR
from virtiospec.reference.stack.net_stack import Stack
from virtiospec.reference.virtio_pci.device import SHM_BAR


@dataclass(frozen=True)
class Check:
    name: str
    left: int
    right: int
    reqs: tuple[str, ...]
    relation: str = "=="

    @property
    def ok(self) -> bool:
        return self.left == self.right if self.relation == "==" else self.left <= self.right


def _irq_faults(stack: Stack) -> int:
    """MSI-X messages a notification fault dropped, minus those it delivered twice."""
    f = stack.faults
    return 0 if f is None else f.irqs_dropped - f.irqs_doubled


def cross_layer(stack: Stack) -> list[Check]:
    c = stack.counters
    vp, shm = c.virtio_pci, c.shm
    kick, call = shm.signals("kick"), shm.signals("call")
    queues = c.queues
    ctrl = stack.driver.net.ctrl_q if stack.driver.net is not None else None
    tx = [q for i, q in queues.items() if i != ctrl and i % 2]
    rx = [q for i, q in queues.items() if i != ctrl and not i % 2]
    sent = stack.function.msix_table.sent if stack.function.msix_table is not None else []
    config_msgs = sum(1 for v, _, _ in sent if v == CONFIG_VECTOR)
    dev = stack.backend.net.stats if stack.backend.net is not None else None
    wire = sum(p.tx_frames for p in c.pairs.values())
    received = sum(p.rx_frames for p in c.pairs.values())
    out = [
        Check("ring kicks = kick-signal injections", sum(q.kicks for q in queues.values()),
              kick["injected"], ("SHM-RING-003", "RING-SPLIT-062")),
        Check("kick-signal notifications = notify writes", kick["delivered"], vp.notify_writes,
              ("SHM-RING-006", "VIRTIO-PCI-030")),
        Check("ring interrupts = call-signal injections",
              sum(q.interrupts for q in queues.values()), call["injected"],
              ("SHM-RING-003", "RING-SPLIT-052")),
        Check("call-signal notifications = queue interrupts", call["delivered"],
              vp.queue_interrupts, ("SHM-RING-006",)),
        Check("queue interrupts = MSI-X queue messages", vp.queue_interrupts,
              len(sent) - config_msgs, ("VIRTIO-PCI-042", "PCI-CFG-011")),
        Check("config interrupts = MSI-X config messages", vp.config_interrupts, config_msgs,
              ("VIRTIO-PCI-042", "VIRTIO-STATUS-004")),
        Check("MSI-X messages = interrupts handled (+ dropped - doubled by a fault)", len(sent),
              sum(vp.irqs_delivered.values()) + _irq_faults(stack),
              ("PCI-CFG-011",)),
        Check("kick notifications <= acknowledgements + signals", kick["delivered"],
              kick["acknowledged"] + len(shm.senders["kick"]), ("SHM-SIGNAL-011",), "<="),
        Check("call notifications <= acknowledgements + signals", call["delivered"],
              call["acknowledged"] + len(shm.senders["call"]), ("SHM-SIGNAL-011",), "<="),
        Check("BAR4 reads = driver loads of the region", c.pci.bar_reads[SHM_BAR],
              shm.driver_loads, ("SHM-REGION-004",)),
        Check("BAR4 writes = driver stores (applied + refused)", c.pci.bar_writes[SHM_BAR],
              shm.driver_stores + shm.driver_refused, ("SHM-REGION-004", "SHM-RING-007")),
        Check("tx buffers used = frames on the wire", sum(q.used for q in tx),
              wire + (dev.tx_refused if dev else 0), ("NET-061", "RING-SPLIT-040")),
        Check("tx buffers used = tx buffers taken back", sum(q.used for q in tx),
              sum(q.taken for q in tx), ("NET-062", "RING-SPLIT-093")),
        Check("rx buffers used = buffers the device filled", sum(q.used for q in rx),
              dev.rx_buffers if dev else 0, ("NET-011", "RING-SPLIT-040")),
        Check("rx buffers used = rx buffers taken back", sum(q.used for q in rx),
              sum(q.taken for q in rx), ("NET-062", "RING-SPLIT-093")),
        Check("frames delivered by the device = frames received by the driver",
              dev.rx_frames if dev else 0, received, ("NET-060",)),
    ]
    if ctrl is not None and dev is not None:
        out.append(Check("ctrl buffers used = commands answered", queues[ctrl].used
                         if ctrl in queues else 0, dev.ctrl_ok + dev.ctrl_err,
                         ("NET-030", "NET-031")))
    return out
