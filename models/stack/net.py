"""The whole network stack interleaved, registered: **PCI → virtio-pci → virtio-shm →
virtio-ring → virtio-net**, the stack's own driver and device stepped access by access under
SC and x86-TSO (the machine, its rules and properties: models/stack/net_machine.py; queue
resets and both pairs: models/stack/net_resets.py; the layers' switches and the mixed C
builds: models/stack/net_layers.py), and the known-bad variants planted in one layer each
that the stack-level machine catches.

The checks, one row each of :data:`CHECKS`: ``stack.net`` (Python on both sides, a device
reset and a queue reset of rx0 or tx0 with frames in flight), ``stack.net.c_device`` (the
device's rings in ring.c), ``stack.net.c_shm`` (the device's signals in shm.c),
``stack.net.mq`` (both pairs carrying frames, resets of any queue any number of times, the
pairs asked for again after a device reset) and ``stack.net.c_device.reset`` (the same with
the device's rings in ring.c, every ring the device builds after a reset C from its creation).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from virtiospec.models import registry
from virtiospec.models.hypothesis_run import mutant_evidence
from virtiospec.models.machine_base import WHERE
from virtiospec.models.memory.tso import Mode
from virtiospec.models.net.mutants import DeviceIgnoresLinkDown, DriverDetachOnly, DriverNoRecover
from virtiospec.models.ring.ref_mutants import DeviceNoRecheck, DeviceUsedIdxWrap
from virtiospec.models.shm.ref_mutants import ReceiverNoRecheck
from virtiospec.models.stack.net_layers import (
    RX0,
    BackendKeepsOldRing,
    BackendResetsPairZero,
    BackendStopsAfterIdlePass,
    DeviceTransmitsNewestFirst,
    StackNetConfig,
    TornConfigDriver,
)
from virtiospec.models.stack.net_resets import run_stack_net
from virtiospec.models.variant_switch import switched
from virtiospec.reference.stack.net_driver import queue_vector

__all__ = ["CHECKS", "PLANTED", "run_stack_net"]

REQS = ("NET-021", "NET-026", "NET-060", "NET-062", "VIRTIO-PCI-042", "VIRTIO-PCI-051",
        "VIRTIO-PCI-053", "VIRTIO-STATUS-004", "SHM-RING-003", "SHM-RING-004",
        "SHM-RING-007", "RING-SPLIT-110", "RING-SPLIT-111")
QUEUE_RESET_REQS = ("VIRTIO-PCI-102", "VIRTIO-PCI-105", "VIRTIO-VQRESET-001",
                    "VIRTIO-VQRESET-002", "VIRTIO-VQRESET-003", "VIRTIO-VQRESET-004",
                    "VIRTIO-VQRESET-005")
C_SHM_REQS = ("SHM-SIGNAL-004", "SHM-SIGNAL-005", "SHM-SIGNAL-006")
MQ_REQS = ("NET-037", "NET-038", "NET-039", "NET-051", "NET-053")
RUN = 60  # queue resets a run may do: as many as it has steps (StackNetConfig.steps)

TRAFFIC = ("frames both ways, configuration changes and link flaps during the generation "
           "loop")
C_DEVICE = ("the whole network stack with the device's rings in C (ring.c, stepped build) "
            "and the driver in Python")
# one row per check, under SC and x86-TSO: the two names, requirements, text, configuration
CHECKS: list[tuple[tuple[str, str], tuple[str, ...], str, StackNetConfig]] = [
    (("stack.net.sc", "stack.net.tso"), REQS + QUEUE_RESET_REQS,
     "the whole network stack, its driver and device stepped access by access over {where}: "
     f"{TRAFFIC}, a device reset with frames in flight, one queue reset and enabled again "
     "with frames in flight", StackNetConfig(queue_resets=1)),
    (("stack.net.c_device.sc", "stack.net.c_device.tso"), REQS,
     f"{C_DEVICE}, stepped access by access over {{where}}: frames both ways, configuration "
     "changes and link flaps (no reset; with resets: stack.net.c_device.reset)",
     StackNetConfig(c_device=True, resets=0)),
    (("stack.net.c_shm.sc", "stack.net.c_shm.tso"), REQS + QUEUE_RESET_REQS + C_SHM_REQS,
     "the whole network stack with the device's signals in C (shm.c, stepped build: every "
     "kick received and every call injected) and the driver's in Python, stepped access by "
     "access over {where}: frames both ways, configuration changes and link flaps, a device "
     "reset and a queue reset with frames in flight",
     StackNetConfig(c_shm=True, queue_resets=1)),
    (("stack.net.mq.sc", "stack.net.mq.tso"), REQS + QUEUE_RESET_REQS + MQ_REQS,
     "the whole network stack with two queue pairs (VIRTIO_NET_F_MQ), stepped access by "
     "access over {where}: frames of every class on both pairs both ways, exactly once and "
     f"in order per queue; {TRAFFIC}; resets of any queue (rx0, tx0, rx1, tx1, ctrl) any "
     "number of times with frames in flight, every buffer back after each; a device reset "
     "and VQ_PAIRS_SET again", StackNetConfig(mq=True, queue_resets=RUN)),
    (("stack.net.c_device.reset.sc", "stack.net.c_device.reset.tso"),
     REQS + QUEUE_RESET_REQS + MQ_REQS,
     f"{C_DEVICE} (each ring the device builds after a device or queue reset is C from its "
     "creation), two queue pairs, stepped access by access over {where}: frames of every "
     "class both ways, resets of any queue any number of times and a device reset, with "
     "frames in flight", StackNetConfig(mq=True, c_device=True, queue_resets=RUN)),
]


def _register(name: str, reqs: tuple[str, ...], what: str, cfg: StackNetConfig) -> None:
    @registry.check(name, reqs, what.format(where=WHERE[cfg.mode]))
    def check(n: int) -> registry.Evidence:
        return run_stack_net(cfg, n)


_mode: Mode
for _names, _reqs, _what, _cfg in CHECKS:
    for _name, _mode in ((_names[0], "sc"), (_names[1], "tso")):
        _register(_name, _reqs, _what, dataclasses.replace(_cfg, mode=_mode))


# -- known-bad variants, one layer each, caught by the whole-stack machine ---------------------

PLANTED: list[tuple[str, str, tuple[str, ...], StackNetConfig]] = [
    ("stack.net.mutant.pci.config_no_generation_loop",
     "PCI configuration: " + switched(TornConfigDriver)
     + ": status and queue classes read without re-reading config_generation",
     ("VIRTIO-PCI-051", "VIRTIO-PCI-053"),
     StackNetConfig(mode="sc", driver_bug=TornConfigDriver, resets=0, changes=6)),
    ("stack.net.mutant.virtio_pci.tx_vector_of_rx",
     "virtio-pci: tx0's queue_msix_vector programmed with "
     "rx0's vector, so its used-buffer notifications run the receive handler",
     ("VIRTIO-PCI-042", "SHM-RING-004"),
     StackNetConfig(mode="sc", tx_vector=queue_vector(RX0), resets=0)),
    ("stack.net.mutant.shm.receiver_no_recheck",
     "shm: " + switched(ReceiverNoRecheck) + ", in every "
     "queue of the stack", ("SHM-SIGNAL-006", "SHM-RING-004"),
     StackNetConfig(mode="sc", receiver_cls=ReceiverNoRecheck, resets=0, changes=0)),
    ("stack.net.mutant.shm_ring.device_stops_after_idle_pass",
     "the ring on shm in the stack's device: "
     + switched(BackendStopsAfterIdlePass) + ": a kick that lands while the device "
     "re-enables is seen by the re-check and then ignored", ("SHM-RING-004", "RING-SPLIT-110"),
     StackNetConfig(mode="sc", backend_bug=BackendStopsAfterIdlePass)),
    ("stack.net.mutant.ring.device_no_recheck",
     "ring: " + switched(DeviceNoRecheck) + ", in every queue "
     "of the stack (flags)", ("RING-SPLIT-072", "SHM-RING-004"),
     StackNetConfig(mode="sc", event_idx=False, device_ring_bug=DeviceNoRecheck, resets=0,
                    changes=0)),
    ("stack.net.mutant.ring.used_idx_wrap",
     "ring: the device wraps used.idx at Q instead of 2^16, in every "
     "queue of the stack", ("RING-SPLIT-043", "SHM-RING-004"),
     StackNetConfig(mode="sc", device_ring_bug=DeviceUsedIdxWrap, resets=0, changes=0)),
    ("stack.net.mutant.c_ring.device_no_recheck",
     "ring, in C: the device's rings are ring.c built with "
     "NO_RECHECK_NOTIFY (enable_notify without the re-check of avail.idx), the driver Python "
     "(flags)", ("RING-SPLIT-072", "SHM-RING-004"),
     StackNetConfig(mode="sc", event_idx=False, c_device=True, c_mutant="NO_RECHECK_NOTIFY",
                    resets=0, changes=0)),
    ("stack.net.mutant.net.driver_no_recover",
     "net: " + switched(DriverNoRecover) + ": at a device reset "
     "the driver forgets the buffers in flight", ("NET-062", "NET-061"),
     StackNetConfig(mode="sc", driver_bug=DriverNoRecover, changes=0)),
    ("stack.net.mutant.net.device_ignores_link_down",
     "net: " + switched(DeviceIgnoresLinkDown) + ", in the "
     "stack's back-end", ("NET-026", "NET-060"),
     StackNetConfig(mode="sc", device_bug=DeviceIgnoresLinkDown, resets=0)),
    ("stack.net.mutant.shm.c_receiver_no_recheck",
     "shm, in C: the device's signals are shm.c built with NO_RECHECK_ENABLE (the kick "
     "receiver enables without re-reading pending), the driver's Python",
     ("SHM-SIGNAL-006", "SHM-RING-004"),
     StackNetConfig(mode="sc", c_shm=True, c_shm_mutant="NO_RECHECK_ENABLE", resets=0,
                    changes=0)),
    ("stack.net.mutant.virtio_pci.queue_reset_keeps_old_ring",
     "virtio-pci queue reset: " + switched(BackendKeepsOldRing) + ": the device serves the "
     "reset queue's old ring state after the driver enabled it again",
     ("VIRTIO-VQRESET-002", "VIRTIO-VQRESET-004", "NET-060"),
     StackNetConfig(mode="sc", backend_bug=BackendKeepsOldRing, resets=0, changes=0,
                    queue_resets=1)),
    ("stack.net.mutant.net.driver_forgets_reset_queue",
     "net: " + switched(DriverNoRecover) + ": at a queue reset "
     "the driver forgets the buffers of the reset queue", ("NET-062", "VIRTIO-VQRESET-003"),
     StackNetConfig(mode="sc", driver_bug=DriverNoRecover, resets=0, changes=0,
                    queue_resets=1)),
    ("stack.net.mutant.virtio_pci.queue_reset_of_pair0",
     "virtio-pci queue reset with two pairs: the back-end drops the queue of the same "
     "direction in pair 0 (index % 2) instead of the one the driver reset, so after a reset "
     "of rx1 or tx1, rx0 or tx0 stays live in the driver and is never served again",
     ("VIRTIO-VQRESET-001", "NET-060", "SHM-RING-004"),
     StackNetConfig(mode="sc", mq=True, backend_bug=BackendResetsPairZero, resets=0,
                    changes=0, queue_resets=RUN)),
    ("stack.net.mutant.net.driver_keeps_used_at_queue_reset",
     "net: " + switched(DriverDetachOnly) + ": at a reset of any queue the driver takes "
     "every buffer back as unused, also those the device made used: frames transmitted are "
     "sent again, frames received are lost", ("NET-062", "NET-060", "VIRTIO-VQRESET-003"),
     StackNetConfig(mode="sc", mq=True, driver_bug=DriverDetachOnly, resets=0, changes=0,
                    queue_resets=RUN)),
    ("stack.net.mutant.net.device_transmits_newest_first",
     "net: the device takes every buffer available on a transmit queue, then puts their "
     "frames on the wire newest first; with two pairs and frames of every class, the frames "
     "of one queue are of different classes, so only the order per queue sees it",
     ("NET-060",),
     StackNetConfig(mode="sc", mq=True, device_bug=DeviceTransmitsNewestFirst, resets=0,
                    changes=0)),
    ("stack.net.mutant.c_ring.queue_reset_keeps_indices",
     "ring, in C: the device's ring.c ring of a reset queue starts at the avail and used "
     "positions its old ring had reached, not at 0, the driver Python (two pairs, resets of "
     "any queue)", ("VIRTIO-VQRESET-002", "SHM-RING-004", "RING-SPLIT-084"),
     StackNetConfig(mode="sc", mq=True, c_device=True, c_keeps_indices=True, resets=0,
                    changes=0, queue_resets=RUN)),
]


def _planted(cfg: StackNetConfig) -> Any:
    runs = 600 if cfg.c_device else 300  # ring.c steps each access through two threads

    def run_it() -> registry.Evidence:
        return mutant_evidence(run_stack_net(cfg, runs, derandomize=True, shrink=False),
                               keep_last=60)

    return run_it


for _name, _what, _reqs, _cfg in PLANTED:
    registry.mutant(_name, _what, _reqs, "hypothesis")(_planted(_cfg))
