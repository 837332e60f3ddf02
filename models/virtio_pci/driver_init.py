"""The reference driver's initialization (VIRTIO-STATUS-008) against devices that refuse,
stall and offer odd features, checked on the exact sequence of register accesses.

Each example draws a device (offered features, with or without VERSION_1; whether it refuses
FEATURES_OK; how many reads its reset takes, or never completing) and the driver's wanted
features, runs :meth:`VirtioPciDriver.negotiate` through the PCI layer of an in-process
machine, and records every access to the common configuration. On that log:

* VIRTIO-STATUS-006: after the reset write, no status write until a status read returned 0;
  a reset that never completes ends in an error with nothing written after it;
* VIRTIO-STATUS-002: every status write after the reset keeps every bit of the one before;
* VIRTIO-STATUS-008: the status writes are 0, ACKNOWLEDGE, +DRIVER, +FEATURES_OK (+FAILED);
* VIRTIO-FEAT-002 / -003: the features written are offered, and include VERSION_1;
* VIRTIO-FEAT-007: no new feature bit is written after FEATURES_OK;
* VIRTIO-FEAT-009: a device that refused leaves the driver with an error, FAILED written and
  no DRIVER_OK; one that accepted gives back exactly the features written;
* VIRTIO-STATUS-010: no notification is possible before DRIVER_OK.

Mutants (``pci.mutant.driver.*``) each turn one switch of the driver's lines off; each
must be caught.
"""

from __future__ import annotations

import itertools

from hypothesis import given
from hypothesis import strategies as st
from virtiospec.models import registry
from virtiospec.models.registry import Evidence
from virtiospec.models.variant_switch import switched
from virtiospec.models.virtio_pci.harness import Log, caught, evidence, pci_settings, violated
from virtiospec.reference.access import Op, run
from virtiospec.reference.net.pci import PciNetDevice as NetDevice
from virtiospec.reference.pci import Machine, PhysMemory, Window
from virtiospec.reference.virtio_pci import VirtioPciDevice, VirtioPciTransport
from virtiospec.reference.virtio_pci.errors import (
    FeaturesRefused,
    NotLive,
    ResetTimeout,
    VersionNotOffered,
)
from virtiospec.reference.virtio_pci.init import VirtioPciDriver, VirtioPciDriverLines
from virtiospec.reference.virtio_pci.regs import (
    ACKNOWLEDGE,
    COMMON_FIELDS,
    DRIVER,
    DRIVER_OK,
    F_VERSION_1,
    FAILED,
    FEATURES_OK,
    bit,
    status_names,
)

REQS = ("VIRTIO-STATUS-002", "VIRTIO-STATUS-006", "VIRTIO-STATUS-008", "VIRTIO-STATUS-010",
        "VIRTIO-FEAT-002", "VIRTIO-FEAT-003", "VIRTIO-FEAT-007", "VIRTIO-FEAT-009")
RESET_POLLS = 50
NEVER = -1


class ScriptedDevice(VirtioPciDevice):
    """The reference device, with a reset that takes ``lag`` status reads (NEVER: forever)
    and an optional refusal of every FEATURES_OK."""

    lag = 0
    refuse = False
    pending = 0  # status reads left before a reset completes

    def write_status(self, value: int) -> None:
        super().write_status(value)
        if value == 0:
            self.pending = self.lag

    def common_read(self, name: str) -> int:
        if name == "device_status" and self.pending:
            if self.pending > 0:
                self.pending -= 1
            return ACKNOWLEDGE  # still resetting
        return super().common_read(name)

    def accept_features(self) -> bool:
        return False if self.refuse else super().accept_features()


class Recorder:
    """Physical memory that logs every access to the common configuration by field name."""

    def __init__(self, memory: PhysMemory, common: int) -> None:
        self.memory = memory
        self.common = common
        self.events: list[tuple[str, str, int]] = []  # (load|store, field, value)

    def _name(self, addr: int) -> str | None:
        offset = addr - self.common
        entry = COMMON_FIELDS.get(offset) or COMMON_FIELDS.get(offset - 4)
        return entry[0] if entry else None

    def read(self, addr: int, size: int) -> int:
        value = self.memory.read(addr, size)
        name = self._name(addr)
        if name:
            self.events.append(("load", name, value))
        return value

    def write(self, addr: int, size: int, value: int) -> None:
        name = self._name(addr)
        if name:
            self.events.append(("store", name, value))
        self.memory.write(addr, size, value)


def _features_written(events: list[tuple[str, str, int]], upto: int) -> int:
    select, features = 0, 0
    for kind, name, value in events[:upto]:
        if kind != "store":
            continue
        if name == "driver_feature_select":
            select = value
        elif name == "driver_feature" and select < 2:
            mask = 0xFFFF_FFFF << (32 * select)
            features = (features & ~mask) | value << (32 * select)
    return features


def check_log(events: list[tuple[str, str, int]], offered: int, refused: bool, lag: int,
              outcome: object) -> None:
    stores = [(i, v) for i, (k, n, v) in enumerate(events) if k == "store" and n == "device_status"]
    violated(bool(stores) and stores[0][1] == 0, "VIRTIO-STATUS-008", "the first status write "
             "is not a reset")
    first = stores[0][0]
    after_reset = [i for i, v in stores[1:]]
    zero_read = next((i for i, (k, n, v) in enumerate(events)
                      if i > first and k == "load" and n == "device_status" and v == 0), None)
    if lag == NEVER:
        violated(isinstance(outcome, ResetTimeout), "VIRTIO-STATUS-006",
                 f"a reset that never completes gave {outcome!r}")
        violated(not after_reset, "VIRTIO-STATUS-006", "status written while still resetting")
        return
    violated(zero_read is not None and all(i > zero_read for i in after_reset),
             "VIRTIO-STATUS-006", "status written before the reset read back 0")
    values = [v for _, v in stores[1:]]
    for prev, cur in itertools.pairwise(values):
        violated(cur & prev == prev, "VIRTIO-STATUS-002",
                 f"status went from {status_names(prev)} to {status_names(cur)}")
    steps: list[int] = []
    for v in values:
        if not steps or steps[-1] != v & ~FAILED:
            steps.append(v & ~FAILED)
    order = [ACKNOWLEDGE, ACKNOWLEDGE | DRIVER, ACKNOWLEDGE | DRIVER | FEATURES_OK]
    violated(steps == order[: len(steps)], "VIRTIO-STATUS-008",
             f"status writes {[status_names(v) for v in values]}")
    violated(not any(v & DRIVER_OK for v in values), "VIRTIO-STATUS-008",
             "DRIVER_OK written during negotiation")
    ok_at = next((i for i, v in stores if v & FEATURES_OK), None)
    if not offered & bit(F_VERSION_1):
        violated(isinstance(outcome, VersionNotOffered), "VIRTIO-FEAT-003",
                 f"no VERSION_1 offered, the driver went on ({outcome!r})")
        violated(ok_at is None and bool(values) and values[-1] & FAILED != 0,
                 "VIRTIO-FEAT-003", "no FAILED after giving up")
        return
    violated(ok_at is not None, "VIRTIO-STATUS-008", "FEATURES_OK never written")
    assert ok_at is not None
    written = _features_written(events, ok_at)
    violated(not written & ~offered, "VIRTIO-FEAT-002",
             f"accepted {written:#x}, offered {offered:#x}")
    violated(bool(written & bit(F_VERSION_1)), "VIRTIO-FEAT-003", "VERSION_1 not accepted")
    later = _features_written(events, len(events))
    violated(not later & ~written, "VIRTIO-FEAT-007",
             f"features {later & ~written:#x} written after FEATURES_OK")
    if refused:
        violated(isinstance(outcome, FeaturesRefused), "VIRTIO-FEAT-009",
                 f"device refused FEATURES_OK, the driver gave {outcome!r}")
        violated(values[-1] & FAILED != 0, "VIRTIO-FEAT-009", "no FAILED after the refusal")
    else:
        violated(outcome == written, "VIRTIO-FEAT-009",
                 f"negotiated {outcome!r}, written {written:#x}")


def _attempt(op: Op[int], memory: Recorder) -> object:
    try:
        return run(op, memory)
    except (ResetTimeout, FeaturesRefused, VersionNotOffered) as err:
        return err


def check_driver(driver_cls: type[VirtioPciDriver], examples: int) -> Evidence:
    log = Log()
    offered_bits = st.lists(st.sampled_from([0, 5, 16, 17, 28, 29, 33, 40]), max_size=6)

    @pci_settings(examples)
    @given(offered=offered_bits, version=st.booleans(), wanted=offered_bits,
           refuse=st.booleans(), lag=st.sampled_from([0, 0, 1, 3, NEVER]))
    def test(offered: list[int], version: bool, wanted: list[int], refuse: bool,
             lag: int) -> None:
        log.start()
        features = sum({bit(b) for b in offered}) | (bit(F_VERSION_1) if version else 0)
        net = NetDevice(features=features)
        device = type("Device", (ScriptedDevice,), {"lag": lag, "refuse": refuse})(net)
        machine = Machine(1 << 20)
        machine.plug(3, 0, device)
        t = VirtioPciTransport.probe(machine, 1, Window(0xE000_0000, 0x1000_0000))
        t.reset_polls = RESET_POLLS
        memory = Recorder(PhysMemory(machine), t.structures.common)
        driver = driver_cls(t, sum({bit(b) for b in wanted}))
        outcome = _attempt(driver.negotiate(), memory)
        for kind, name, value in memory.events:
            log.step("driver", f"{kind} {name} {value:#x}")
        log.step("device", f"offered {features:#x}, refuse={refuse}, reset lag={lag}",
                 outcome=repr(outcome))
        check_log(memory.events, features, refuse, lag, outcome)
        try:
            run(driver.notify(1, t.structures.notify + 4), memory)
        except NotLive:
            pass
        else:
            violated(False, "VIRTIO-STATUS-010", "a notification before DRIVER_OK")

    return evidence(test, log)


@registry.check("pci.init.driver", REQS,
                "driver initialization against refusing, stalling and odd devices")
def init_driver(examples: int) -> Evidence:
    return check_driver(VirtioPciDriver, examples)


# -- mutants -----------------------------------------------------------------------------

# Each a subclass of the reference driver that turns one switch of its lines off
# (:class:`~virtiospec.reference.virtio_pci.init.VirtioPciDriverLines`).

class NoReread(VirtioPciDriver):
    lines = VirtioPciDriverLines(features_ok_reread=False)  # BUG (VIRTIO-FEAT-009)


class AcceptsUnoffered(VirtioPciDriver):
    lines = VirtioPciDriverLines(offered_only=False)  # BUG (VIRTIO-FEAT-002)


class NoResetWait(VirtioPciDriver):
    lines = VirtioPciDriverLines(reset_wait=False)  # BUG (VIRTIO-STATUS-006)


class ClearsStatus(VirtioPciDriver):
    lines = VirtioPciDriverLines(status_keeps_bits=False)  # BUG (VIRTIO-STATUS-002)


class LateFeatures(VirtioPciDriver):
    lines = VirtioPciDriverLines(features_once=False)  # BUG (VIRTIO-FEAT-007)


class EarlyNotify(VirtioPciDriver):
    lines = VirtioPciDriverLines(notify_when_live=False)  # BUG (VIRTIO-STATUS-010)


MUTANTS: list[tuple[str, str, tuple[str, ...], type[VirtioPciDriver]]] = [
    ("pci.mutant.driver.no-features-ok-reread",
     "driver does not re-read FEATURES_OK", ("VIRTIO-FEAT-009",),
     NoReread),
    ("pci.mutant.driver.accepts-unoffered", "driver accepts features the device did not offer",
     ("VIRTIO-FEAT-002",), AcceptsUnoffered),
    ("pci.mutant.driver.no-reset-wait", "driver goes on without waiting for the reset to read 0",
     ("VIRTIO-STATUS-006",), NoResetWait),
    ("pci.mutant.driver.clears-status",
     "driver writes each status bit alone, clearing the earlier ones",
     ("VIRTIO-STATUS-002",), ClearsStatus),
    ("pci.mutant.driver.features-after-ok", "driver writes more features after FEATURES_OK",
     ("VIRTIO-FEAT-007",), LateFeatures),
    ("pci.mutant.driver.notify-before-driver-ok", "driver notifies a queue before DRIVER_OK",
     ("VIRTIO-STATUS-010",), EarlyNotify),
]

for _name, _bug, _reqs, _cls in MUTANTS:
    def _run(cls: type[VirtioPciDriver] = _cls) -> Evidence:
        return caught(check_driver(cls, 200))

    registry.mutant(_name, f"{_bug}; {switched(_cls)}", _reqs, "hypothesis")(_run)

