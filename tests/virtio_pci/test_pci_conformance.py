"""The pci suite against the reference device passes, and fails devices that break the
transport's rules (the mutant devices of models/virtio_pci/status.py)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from virtiospec.conformance import cases, runner, targets
from virtiospec.conformance.cases import Outcome
from virtiospec.conformance.suites.virtio_pci.session import ReferenceSession
from virtiospec.models.virtio_pci.status import (
    EarlyQueues,
    KeepsUnoffered,
    LateFeatures,
    ResetKeepsQueues,
)
from virtiospec.reference.virtio_pci import VirtioPciDevice

ALL = cases.discover()
PCI = [c for c in ALL.values() if c.layer == "pci"]


def test_the_suite_covers_every_part_of_the_transport() -> None:
    assert len(PCI) >= 30
    reqs = {r for c in PCI for r in c.reqs}
    for prefix in ("PCI-CFG-", "VIRTIO-PCI-", "VIRTIO-STATUS-", "VIRTIO-FEAT-"):
        assert any(r.startswith(prefix) for r in reqs), prefix
    # the driver side of the transport: pci.virtio.driver.* (a watching device, our machine)
    assert all(c.side == "device" or c.id.startswith("pci.virtio.driver.") for c in PCI)


@pytest.mark.parametrize("case", PCI, ids=[c.id for c in PCI])
def test_reference_device_conforms(case: cases.Case) -> None:
    res = runner.run_case(case, targets.make("reference"))
    if case.id == "pci.net.max-pairs":  # the reference's virtio-pci network device has no
        # control queue, so no MQ; the case runs against QEMU with mq=on (test_driver_rules.py)
        assert res.outcome is Outcome.SKIP and "VIRTIO_NET_F_MQ" in res.detail, res.detail
        return
    assert res.outcome in (Outcome.PASS, Outcome.REJECT), (res.detail, res.expected,
                                                           res.observed)
    assert (res.outcome is Outcome.REJECT) == (".rejects-" in case.id)


class BrokenTarget:
    """The reference machine with a device that breaks one rule."""

    def __init__(self, device_cls: type[VirtioPciDevice]) -> None:
        self.name = f"broken-{device_cls.__name__}"
        self.device_cls = device_cls

    @contextmanager
    def pci_session(self) -> Iterator[ReferenceSession]:
        yield ReferenceSession(self.device_cls)


@pytest.mark.parametrize(("device_cls", "case_id", "grade"), [
    # VIRTIO-FEAT-006 and VIRTIO-FEAT-008 are virtiospec's rules: EXTENSION, not FAIL
    (KeepsUnoffered, "pci.virtio.rejects-unoffered-feature", Outcome.EXTENSION),
    (LateFeatures, "pci.virtio.rejects-late-features", Outcome.EXTENSION),
    (EarlyQueues, "pci.status.rejects-notify-before-driver-ok", Outcome.FAIL),
    (ResetKeepsQueues, "pci.virtio.reset", Outcome.FAIL),  # VIRTIO-PCI-024, a VIRTIO MUST
    (ResetKeepsQueues, "pci.virtio.reset-forgets", Outcome.EXTENSION),  # VIRTIO-STATUS-007
])
def test_the_suite_fails_a_broken_device(device_cls: type[VirtioPciDevice],
                                         case_id: str, grade: Outcome) -> None:
    res = runner.run_case(ALL[case_id], BrokenTarget(device_cls))
    assert res.outcome is grade, (res.outcome, res.detail, res.graded)


def test_targets_without_pci_skip() -> None:
    class Bare:
        name = "bare"

    res = runner.run_case(ALL["pci.net.transmit"], Bare())
    assert res.outcome is Outcome.SKIP and "no PCI device" in res.detail
