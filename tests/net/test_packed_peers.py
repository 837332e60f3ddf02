"""Packed rings on real peers: our qtest driver drives QEMU's virtio-net-pci with
``packed=on`` (the ``pci.packed.*`` cases), and DPDK's virtio-user drives our vhost-user
device with ``packed_vq=1``.

Without the peer these tests skip, except in CI (``CI=true``), where .ci/system-deps installs
it and a missing peer is a failure.
"""

from __future__ import annotations

import os
from typing import Any

import pytest
from virtiospec.conformance import cases, deviation_files, runner, targets
from virtiospec.conformance.cases import Outcome, Result
from virtiospec.conformance.net.target_dpdk import ToolMissing, require_testpmd
from virtiospec.conformance.suites.net.api import DriverObservation
from virtiospec.conformance.virtio_pci.target_qemu import qemu_binary
from virtiospec.reference.net import features as NF

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

# QEMU 7.2 with packed=on, as docs/pci.md describes it: the listed VIRTIO MUST broken
# (conformance/deviations/qemu.toml) and the rules of virtiospec's own it does not follow.
QEMU_PACKED = {
    "pci.packed.receive-written": Outcome.XFAIL,  # used descriptors never carry WRITE
    "pci.packed.receive-laps": Outcome.XFAIL,
    "pci.packed.rejects-buffer-outside": Outcome.EXTENSION,  # reads unassigned memory, sends it
}


def _packed_cases() -> list[cases.Case]:
    return [c for c in cases.discover().values() if c.id.startswith("pci.packed.")]


def _need_qemu() -> None:
    if qemu_binary() is None:
        if IN_CI:
            pytest.fail("qemu-system-x86_64 is missing in CI (.ci/system-deps)")
        pytest.skip("qemu-system-x86_64 is not installed")


@pytest.fixture(scope="module")
def qemu_packed() -> dict[str, Result]:
    _need_qemu()
    target = targets.make("qemu,packed=on")
    known = deviation_files.load([target.deviations], cases.discover())
    return {c.id: r for c, r in runner.run(_packed_cases(), target, deviations=known)}


@pytest.mark.req("RING-PACKED-014", "RING-PACKED-026", "RING-PACKED-034", "RING-PACKED-062")
def test_qemu_packed_cases_run_and_fail_only_where_qemu_deviates(
        qemu_packed: dict[str, Result]) -> None:
    got = {i: r.outcome for i, r in qemu_packed.items()}
    assert Outcome.SKIP not in got.values() and Outcome.WEDGED not in got.values()
    odd = {i: o for i, o in got.items() if o in (*cases.FAILED, Outcome.XFAIL)}
    assert odd == QEMU_PACKED, {i: qemu_packed[i].detail for i in odd}
    for i, outcome in got.items():
        if i not in QEMU_PACKED:
            assert outcome is (Outcome.REJECT if ".rejects-" in i else Outcome.PASS), \
                (i, qemu_packed[i].detail)


def test_qemu_packed_findings_name_what_was_seen(qemu_packed: dict[str, Result]) -> None:
    written = qemu_packed["pci.packed.receive-written"]
    assert written.req == "RING-PACKED-027" and written.observed == "0x8080"
    outside = qemu_packed["pci.packed.rejects-buffer-outside"]
    assert outside.req == "RING-PACKED-083" and outside.observed == "64 bytes"


def test_without_packed_the_cases_skip_saying_why() -> None:
    _need_qemu()
    chosen = [c for c in _packed_cases() if c.id == "pci.packed.chained-list"]
    for target in (targets.make("reference"), targets.make("qemu")):
        [(_, result)] = runner.run(chosen, target)
        assert result.outcome is Outcome.SKIP and "VIRTIO_F_RING_PACKED" in result.detail


# -- DPDK's virtio-user on a packed ring, against our vhost-user device --------------------

@pytest.fixture(scope="module")
def dpdk_packed() -> tuple[Any, dict[str, Result]]:
    try:
        require_testpmd()
    except ToolMissing as err:
        if IN_CI:
            pytest.fail(f"{err} (CI=true)")
        pytest.skip(str(err))
    target = targets.make("dpdk,packed_vq=1")
    chosen = [c for c in cases.discover().values() if c.id in (
        "net.driver.packed-ring", "net.driver.rings-set-up", "net.driver.round-trips",
        "net.driver.tx-frames-valid")]
    return target, {c.id: r for c, r in runner.run(chosen, target)}


@pytest.mark.req("RING-PACKED-013", "RING-PACKED-092")
def test_dpdk_runs_on_a_packed_ring_and_every_list_passes(
        dpdk_packed: tuple[Any, dict[str, Result]]) -> None:
    target, results = dpdk_packed
    got = {i: r.outcome for i, r in results.items()}
    assert set(got.values()) == {Outcome.PASS}, {i: r.detail for i, r in results.items()}
    assert "VIRTIO_F_RING_PACKED negotiated" in " ".join(target.notes())
    assert "600 of 600" in " ".join(target.notes())


class _Watched:
    """A driver session as our device saw it, without running a peer."""

    name = "watched"

    def __init__(self, features: int, errors: list[str]) -> None:
        self.obs = DriverObservation("watched")
        self.obs.features, self.obs.errors = features, errors
        self.obs.tx_frames = [b"\0" * 60]
        self.obs.round_trips["frames forwarded back"] = (10, 10)

    def net_driver_session(self) -> DriverObservation:
        return self.obs


def test_the_packed_ring_case_fails_on_a_refused_list_and_skips_without_packed() -> None:
    [chosen] = [c for c in cases.discover().values() if c.id == "net.driver.packed-ring"]
    packed = NF.of(NF.VERSION_1, NF.RING_PACKED)
    [(_, ok)] = runner.run([chosen], _Watched(packed, []))
    assert ok.outcome is Outcome.PASS, ok.detail
    refused = "vring 1: descriptor 3 of a list is not available (RING-PACKED-081)"
    [(_, bad)] = runner.run([chosen], _Watched(packed, [refused]))
    assert bad.outcome is Outcome.FAIL and "RING-PACKED-081" in bad.observed
    lost = _Watched(packed, [])
    lost.obs.round_trips["frames forwarded back"] = (10, 9)
    [(_, short)] = runner.run([chosen], lost)
    assert short.outcome is Outcome.EXTENSION  # RING-PACKED-092 is virtiospec's own rule
    [(_, split)] = runner.run([chosen], _Watched(NF.of(NF.VERSION_1), []))
    assert split.outcome is Outcome.SKIP and "VIRTIO_F_RING_PACKED" in split.detail
