"""The device status machine and feature negotiation of the reference device, as a Hypothesis
state machine: a driver that does anything, legal or not, in any order, through the PCI
layer (config cycles and BAR writes of an in-process machine).

Rules: write any status value, reset, write any feature word (offered, offered plus a bit
that is not, zero, random), configure and enable queues, notify queues, put frames on the
wire. The rings in guest RAM always hold a transmit chain ready to be used, so a device
that uses a queue too early is seen at once.

Invariants, after every step:

* VIRTIO-STATUS-003: until DRIVER_OK was read back since the last reset, no frame left, no
  used ring moved and no used-buffer interrupt was raised;
* VIRTIO-FEAT-006: whenever FEATURES_OK reads back set for the first time after a reset, the
  features the driver had written were all offered;
* VIRTIO-FEAT-008: from then until reset the device's negotiated features do not change;
* VIRTIO-STATUS-007: right after a reset every register reads its reset value and no queue
  keeps a ring.

Mutants (``pci.mutant.device.*``) are subclasses of the reference device with one switch of
its lines turned off; each must be caught by this machine.
"""

from __future__ import annotations

from typing import ClassVar

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test
from virtiospec.models import registry
from virtiospec.models.registry import Evidence
from virtiospec.models.variant_switch import switched
from virtiospec.models.virtio_pci.harness import Log, caught, evidence, pci_settings, violated
from virtiospec.reference.access import run
from virtiospec.reference.net.pci import PciNetDevice as NetDevice
from virtiospec.reference.pci import Machine, PhysMemory, Window
from virtiospec.reference.ring import SplitLayout
from virtiospec.reference.ring.layout import VIRTQ_DESC_F_WRITE
from virtiospec.reference.virtio_pci import VirtioPciDevice, VirtioPciTransport
from virtiospec.reference.virtio_pci.device import VirtioPciDeviceLines
from virtiospec.reference.virtio_pci.regs import (
    ACKNOWLEDGE,
    DEVICE_NEEDS_RESET,
    DRIVER,
    DRIVER_OK,
    F_NOTIFICATION_DATA,
    FAILED,
    FEATURES_OK,
    ISR_QUEUE,
    NO_VECTOR,
    SUSPEND,
    bit,
    status_names,
)

RAM = 1 << 20
RING_BASE = 0x10000
BUFFERS = 0x20000
QUEUE_SIZE = 4
STATUS_VALUES = [ACKNOWLEDGE, ACKNOWLEDGE | DRIVER, ACKNOWLEDGE | DRIVER | FEATURES_OK,
                 ACKNOWLEDGE | DRIVER | FEATURES_OK | DRIVER_OK, FEATURES_OK, DRIVER_OK,
                 FEATURES_OK | DRIVER_OK, FAILED, DEVICE_NEEDS_RESET, SUSPEND]
REQS = ("VIRTIO-STATUS-003", "VIRTIO-FEAT-006", "VIRTIO-FEAT-008", "VIRTIO-STATUS-007")


class Bench:
    """An in-process machine with one virtio-net device, probed through PCI."""

    def __init__(self, device_cls: type[VirtioPciDevice]) -> None:
        self.machine = Machine(RAM)
        self.net = NetDevice(queue_size=QUEUE_SIZE)  # this driver notifies with 16-bit writes
        self.net.features &= ~bit(F_NOTIFICATION_DATA)  # (VIRTIO-PCI-030): not offered here
        self.dev = device_cls(self.net)
        self.machine.plug(3, 0, self.dev)
        self.t = VirtioPciTransport.probe(self.machine, 1, Window(0xE000_0000, 0x1000_0000))
        self.mem = PhysMemory(self.machine)
        self.offered = self.net.features
        self.layouts = [SplitLayout.packed_at(RING_BASE + 0x1000 * q, QUEUE_SIZE) for q in (0, 1)]
        self.prepare_rings()

    def prepare_rings(self) -> None:
        """Fresh rings, each with one chain available: rx a writable buffer, tx a frame."""
        self.machine.write_bytes(RING_BASE, bytes(0x2000))
        self.net.wire.sent.clear()  # what left in an earlier life does not count
        for q, lay in enumerate(self.layouts):
            buf = BUFFERS + 0x800 * q
            self.machine.write_bytes(buf, bytes(12) + b"\xff" * 6 + bytes(54))
            at = lay.desc_addr(0)
            self.machine.ram.write(at, 8, buf)
            self.machine.ram.write(at + 8, 4, 0x800 if q == 0 else 72)
            self.machine.ram.write(at + 12, 2, VIRTQ_DESC_F_WRITE if q == 0 else 0)
            self.machine.ram.write(lay.avail_ring(0), 2, 0)
            self.machine.ram.write(lay.avail_idx, 2, 1)

    def read(self, name: str) -> int:
        return run(self.t.read(name), self.mem)

    def write(self, name: str, value: int) -> None:
        run(self.t.write(name, value), self.mem)

    def status(self) -> int:
        return run(self.t.status(), self.mem)


class StatusMachine(RuleBasedStateMachine):
    device_cls: ClassVar[type[VirtioPciDevice]] = VirtioPciDevice
    log: ClassVar[Log] = Log()

    def __init__(self) -> None:
        super().__init__()
        self.b = Bench(self.device_cls)
        self.log.start()
        self.live_seen = False  # DRIVER_OK read back since the last reset
        self.negotiated: int | None = None  # the device's features when FEATURES_OK stuck
        self.written = 0  # what this driver wrote into driver_feature since the last reset

    def _observe(self) -> None:
        status = self.b.status()
        if status & FEATURES_OK and self.negotiated is None:
            violated(not self.written & ~self.b.offered, "VIRTIO-FEAT-006",
                     f"FEATURES_OK kept with features {self.written:#x}, offered "
                     f"{self.b.offered:#x}")
            self.negotiated = self.b.dev.negotiated
        if status & DRIVER_OK:
            self.live_seen = True

    @rule(value=st.sampled_from(STATUS_VALUES) | st.integers(1, 255))
    def write_status(self, value: int) -> None:
        self.b.write("device_status", value)
        self.log.step("driver", f"status := {status_names(value)}",
                      status=status_names(self.b.status()))
        self._observe()

    @rule()
    def reset(self) -> None:
        self.b.write("device_status", 0)
        self.log.step("driver", "status := 0 (reset)")
        self._check_reset()
        self.live_seen, self.negotiated, self.written = False, None, 0
        self.b.prepare_rings()

    @rule(select=st.integers(0, 2), kind=st.sampled_from(["offered", "extra", "zero", "random"]),
          rnd=st.integers(0, 0xFFFF_FFFF))
    def write_features(self, select: int, kind: str, rnd: int) -> None:
        offered = (self.b.offered >> (32 * select)) & 0xFFFF_FFFF
        extra = next(b for b in range(32) if not offered >> b & 1)
        value = {"offered": offered, "extra": offered | 1 << extra, "zero": 0,
                 "random": rnd}[kind]
        self._features(select, value, kind)

    def _features(self, select: int, value: int, kind: str) -> None:
        self.b.write("driver_feature_select", select)
        self.b.write("driver_feature", value)
        mask = 0xFFFF_FFFF << (32 * select)
        self.written = (self.written & ~mask) | value << (32 * select)
        self.log.step("driver", f"driver_feature[{select}] := {value:#x} ({kind})")

    @rule(q=st.sampled_from([0, 1]), size=st.sampled_from([QUEUE_SIZE, QUEUE_SIZE, 2, 3]),
          vector=st.sampled_from([NO_VECTOR, 0, 9]), enable=st.booleans())
    def configure_queue(self, q: int, size: int, vector: int, enable: bool) -> None:
        lay = self.b.layouts[q]
        self.b.write("queue_select", q)
        self.b.write("queue_size", size)
        self.b.write("queue_desc", lay.desc)
        self.b.write("queue_driver", lay.avail)
        self.b.write("queue_device", lay.used)
        self.b.write("queue_msix_vector", vector)
        if enable:
            self.b.write("queue_enable", 1)
        self.log.step("driver", f"queue {q}: size {size}, vector {vector:#x}, "
                                f"{'enabled' if enable else 'not enabled'}")

    @rule(drop=st.integers(0, 0xFFFF_FFFF))
    def negotiate(self, drop: int) -> None:
        """What a driver normally does: reset, ACKNOWLEDGE, DRIVER, an offered subset with
        VERSION_1, FEATURES_OK."""
        self.reset()
        self.write_status(ACKNOWLEDGE | DRIVER)
        low = self.b.offered & 0xFFFF_FFFF & ~drop
        self._features(0, low, "offered subset")
        self._features(1, self.b.offered >> 32, "offered")
        self.write_status(ACKNOWLEDGE | DRIVER | FEATURES_OK)

    @rule()
    def go_live(self) -> None:
        """Both queues configured and enabled, then DRIVER_OK."""
        for q in (0, 1):
            self.configure_queue(q, QUEUE_SIZE, NO_VECTOR, True)
        self.write_status(ACKNOWLEDGE | DRIVER | FEATURES_OK | DRIVER_OK)

    @rule(q=st.sampled_from([0, 1]))
    def notify(self, q: int) -> None:
        s = self.b.t.structures
        self.b.machine.mem_write(s.notify + q * s.notify_multiplier, 2, q)
        self.log.step("driver", f"notify queue {q}")

    @rule()
    def frame_arrives(self) -> None:
        self.b.net.receive(b"\x52\x54\x00\x12\x34\x56" + bytes(54))
        self.log.step("env", "a frame arrives from the wire")

    def _check_reset(self) -> None:
        b = self.b
        violated(b.status() == 0, "VIRTIO-STATUS-007", "status after reset is not 0")
        violated(run(b.t.driver_features(), b.mem) == 0, "VIRTIO-STATUS-007",
                 "driver_feature shows features after reset")
        violated(b.read("config_msix_vector") == NO_VECTOR, "VIRTIO-STATUS-007",
                 "config_msix_vector is mapped after reset")
        for q in range(len(b.dev.queues)):
            b.write("queue_select", q)
            regs = {n: b.read(n) for n in ("queue_size", "queue_enable", "queue_msix_vector",
                                            "queue_desc", "queue_driver", "queue_device")}
            want = {"queue_size": QUEUE_SIZE, "queue_enable": 0,
                    "queue_msix_vector": NO_VECTOR, "queue_desc": 0, "queue_driver": 0,
                    "queue_device": 0}
            violated(regs == want, "VIRTIO-STATUS-007", f"queue {q} after reset: {regs}")
            violated(b.dev.queues[q].ring is None, "VIRTIO-STATUS-007",
                     f"queue {q} keeps its ring after reset")

    @invariant()
    def nothing_used_before_driver_ok(self) -> None:
        if self.live_seen:
            return
        b = self.b
        violated(not b.net.wire.sent, "VIRTIO-STATUS-003", "a frame left before DRIVER_OK")
        for q, lay in enumerate(b.layouts):
            used = b.machine.ram.read(lay.used_idx, 2)
            violated(used == 0, "VIRTIO-STATUS-003", f"used.idx of queue {q} is {used} "
                                                     f"before DRIVER_OK")
        violated(not b.dev.isr & ISR_QUEUE, "VIRTIO-STATUS-003",
                 "a used-buffer interrupt before DRIVER_OK")

    @invariant()
    def features_frozen(self) -> None:
        if self.negotiated is not None:
            violated(self.b.dev.negotiated == self.negotiated, "VIRTIO-FEAT-008",
                     f"negotiated features went from {self.negotiated:#x} to "
                     f"{self.b.dev.negotiated:#x} after FEATURES_OK")


def check_device(device_cls: type[VirtioPciDevice], examples: int) -> Evidence:
    machine: type[StatusMachine] = type("DeviceStatusMachine", (StatusMachine,),
                                        {"device_cls": device_cls, "log": Log()})
    return evidence(lambda: run_state_machine_as_test(machine, settings=pci_settings(examples)),
                    machine.log)


@registry.check("pci.status.device", REQS,
                "device status and feature negotiation under any driver behaviour")
def status_device(examples: int) -> Evidence:
    return check_device(VirtioPciDevice, examples)


# -- mutants -----------------------------------------------------------------------------

# Each a subclass of the reference device that turns one switch of its lines off
# (:class:`~virtiospec.reference.virtio_pci.device.VirtioPciDeviceLines`).

class LateFeatures(VirtioPciDevice):
    """Takes driver_feature writes after FEATURES_OK as the new negotiated set."""

    lines = VirtioPciDeviceLines(features_frozen=False)  # BUG (VIRTIO-FEAT-008)


class KeepsUnoffered(VirtioPciDevice):
    """Keeps FEATURES_OK whatever the driver accepted (QEMU masks the bits instead)."""

    lines = VirtioPciDeviceLines(offered_only=False)  # BUG (VIRTIO-FEAT-006)


class EarlyQueues(VirtioPciDevice):
    """Makes a queue live as soon as it is enabled, DRIVER_OK or not."""

    lines = VirtioPciDeviceLines(queues_wait_driver_ok=False)  # BUG (VIRTIO-STATUS-003)


class ResetKeepsQueues(VirtioPciDevice):
    """Resets status and features but leaves every queue as it was."""

    lines = VirtioPciDeviceLines(reset_queues=False)  # BUG (VIRTIO-STATUS-007)


MUTANTS: list[tuple[str, str, tuple[str, ...], type[VirtioPciDevice]]] = [
    ("pci.mutant.device.features-after-ok",
     "device accepts driver_feature writes after FEATURES_OK",
     ("VIRTIO-FEAT-008",), LateFeatures),
    ("pci.mutant.device.keeps-unoffered", "device keeps FEATURES_OK with features it did not offer",
     ("VIRTIO-FEAT-006",), KeepsUnoffered),
    ("pci.mutant.device.queue-before-driver-ok", "device uses an enabled queue before DRIVER_OK",
     ("VIRTIO-STATUS-003",), EarlyQueues),
    ("pci.mutant.device.reset-keeps-queues", "reset leaves queue registers and rings as they were",
     ("VIRTIO-STATUS-007",), ResetKeepsQueues),
]

MUTANT_EXAMPLES = 200

for _name, _bug, _reqs, _cls in MUTANTS:
    def _run(cls: type[VirtioPciDevice] = _cls) -> Evidence:
        return caught(check_device(cls, MUTANT_EXAMPLES))

    registry.mutant(_name, f"{_bug}; {switched(_cls)}", _reqs, "hypothesis")(_run)
