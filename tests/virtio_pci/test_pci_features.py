"""VIRTIO-FEAT-011: the offered-dependencies case passes on the reference device and fails a
device that offers CTRL_RX without CTRL_VQ (its known-bad variant)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from virtiospec.conformance import cases, runner, targets
from virtiospec.conformance.cases import Outcome
from virtiospec.conformance.suites.virtio_pci.features import missing_prerequisites
from virtiospec.conformance.suites.virtio_pci.session import ReferenceSession
from virtiospec.reference.net import features as F
from virtiospec.reference.virtio_pci import VirtioPciDevice

CASE = "pci.net.offers-dependencies"


class RxWithoutCtrlVq(VirtioPciDevice):
    """Known-bad: offers VIRTIO_NET_F_CTRL_RX and hides VIRTIO_NET_F_CTRL_VQ."""

    def common_read(self, name: str) -> int:
        value = super().common_read(name)
        if name == "device_feature" and self.device_feature_select == 0:
            value = (value | F.bit(F.CTRL_RX)) & ~F.bit(F.CTRL_VQ)
        return value


class Broken:
    name = "broken-RxWithoutCtrlVq"

    @contextmanager
    def pci_session(self) -> Iterator[ReferenceSession]:
        yield ReferenceSession(RxWithoutCtrlVq)


@pytest.mark.req("VIRTIO-FEAT-011")
def test_reference_offers_prerequisites() -> None:
    res = runner.run_case(cases.discover()[CASE], targets.make("reference"))
    assert res.outcome is Outcome.PASS, (res.detail, res.observed)


@pytest.mark.req("VIRTIO-FEAT-011")
def test_a_feature_without_its_prerequisite_fails() -> None:
    res = runner.run_case(cases.discover()[CASE], Broken())
    assert res.outcome is Outcome.FAIL, (res.outcome, res.detail)
    assert "CTRL_RX without CTRL_VQ" in res.observed


def test_either_prerequisite_is_enough() -> None:
    assert missing_prerequisites(F.of(F.GUEST_ECN, F.GUEST_TSO6, F.GUEST_CSUM)) == []
    assert missing_prerequisites(F.of(F.GUEST_ECN)) == ["GUEST_ECN without GUEST_TSO4 or "
                                                        "GUEST_TSO6"]
