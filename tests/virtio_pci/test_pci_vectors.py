"""VIRTIO-PCI-111: the any-vector case passes on the reference device and fails devices that
restrict which event may use which vector (its known-bad variants)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from virtiospec.conformance import cases, runner, targets
from virtiospec.conformance.cases import Outcome
from virtiospec.conformance.suites.virtio_pci.session import ReferenceSession
from virtiospec.reference.virtio_pci import VirtioPciDevice
from virtiospec.reference.virtio_pci.regs import NO_VECTOR

CASE = "pci.virtio.any-vector"


class ConfigOnVectorZero(VirtioPciDevice):
    """Known-bad: the configuration event can only use vector 0."""

    def common_write(self, name: str, value: int, half: int) -> None:
        if name == "config_msix_vector" and value not in (0, NO_VECTOR):
            value = NO_VECTOR
        super().common_write(name, value, half)


class NoSharing(VirtioPciDevice):
    """Known-bad: refuses a vector another queue already uses."""

    def common_write(self, name: str, value: int, half: int) -> None:
        if name == "queue_msix_vector" and value != NO_VECTOR and any(
                q.msix_vector == value for i, q in enumerate(self.queues)
                if i != self.queue_select):
            value = NO_VECTOR
        super().common_write(name, value, half)


class HiddenVector(VirtioPciDevice):
    """Known-bad: maps one vector more than the Table Size its capability reports."""

    def _map_vector(self, vector: int) -> int:
        assert self.msix_table is not None
        return vector if vector <= self.msix_table.vectors else NO_VECTOR


class OneVector(VirtioPciDevice):
    """Known-bad for the SHOULD: an MSI-X table of a single vector."""

    def __init__(self, *args: object, **kw: object) -> None:
        kw["msix_vectors"] = 1
        super().__init__(*args, **kw)  # type: ignore[arg-type]


class Broken:
    def __init__(self, device_cls: type[VirtioPciDevice]) -> None:
        self.name = f"broken-{device_cls.__name__}"
        self.device_cls = device_cls

    @contextmanager
    def pci_session(self) -> Iterator[ReferenceSession]:
        yield ReferenceSession(self.device_cls)


@pytest.mark.req("VIRTIO-PCI-111")
def test_reference_maps_any_event_to_any_vector() -> None:
    res = runner.run_case(cases.discover()[CASE], targets.make("reference"))
    assert res.outcome is Outcome.PASS, (res.detail, res.expected, res.observed)


@pytest.mark.req("VIRTIO-PCI-111")
@pytest.mark.parametrize(("device_cls", "req"), [(ConfigOnVectorZero, "VIRTIO-PCI-111"),
                                                  (NoSharing, "VIRTIO-PCI-111"),
                                                  (HiddenVector, "VIRTIO-PCI-112")])
def test_known_bad_devices_fail(device_cls: type[VirtioPciDevice], req: str) -> None:
    res = runner.run_case(cases.discover()[CASE], Broken(device_cls))
    assert res.outcome is Outcome.FAIL, (res.outcome, res.detail)
    assert res.req == req


@pytest.mark.req("VIRTIO-PCI-113")
def test_a_one_vector_table_is_graded_as_a_should() -> None:
    res = runner.run_case(cases.discover()[CASE], Broken(OneVector))
    assert res.outcome is Outcome.NON_STRICT, (res.outcome, res.detail)
    assert res.req == "VIRTIO-PCI-113"
