"""The cases of the driver (and two device) MUSTs added for issue 12: each passes on the
reference, each FAILs its known-bad variant (models/virtio_pci/driver_rule_mutants.py) naming the
requirement the variant's switch keeps, and the watching devices see what they must."""

from __future__ import annotations

import pytest
from virtiospec.conformance import cases, runner, targets
from virtiospec.conformance.cases import Outcome
from virtiospec.conformance.ring.linux_vring import build
from virtiospec.conformance.suites.net import driver_observed as net_driver_observed
from virtiospec.conformance.suites.virtio_pci.session import ReferenceSession, find_net, transport
from virtiospec.models import registry
from virtiospec.models.virtio_pci import driver_rule_mutants as M
from virtiospec.reference.net import ctrl as C
from virtiospec.reference.net import frames as FR
from virtiospec.reference.net.config import NetConfig
from virtiospec.reference.net.driver_watch import DriverWatch as NetWatch
from virtiospec.reference.net.pair import NetPair
from virtiospec.reference.pci import ConfigMechanism1
from virtiospec.reference.pci.discovery import capabilities
from virtiospec.reference.virtio_pci.driver_watch import DriverWatch as PciWatch
from virtiospec.reference.virtio_pci.regs import NO_VECTOR
from virtiospec.spec import catalogue

NEW_CASES = {
    "net.driver.ctrl-rx-needs-feature": ("NET-033", "NET-138"),
    "net.driver.mq-pairs": ("NET-037", "NET-039", "NET-144"),
    "net.driver.rx-checksum-unchecked": ("NET-135",),
    "net.driver.rx-hdr-len-unused": ("NET-134",),
    "net.driver.tx-header": ("NET-112", "NET-113"),
    "net.driver.mtu": ("NET-108",),
    "net.driver.rx-buffer-header": ("NET-124",),
    "net.driver.tx-header-size": ("NET-112",),
    "net.driver.tx-gso-negotiated": ("NET-113",),
    "pci.virtio.driver.msix-table-sizes": ("VIRTIO-PCI-114", "VIRTIO-PCI-041"),
    "pci.virtio.driver.vector-mapping": ("VIRTIO-PCI-041",),
    "pci.virtio.driver.shared-interrupt": ("VIRTIO-PCI-116",),
    "pci.virtio.driver.config-read-only": ("NET-022",),
    "pci.virtio.driver.packed-queue-size": ("VIRTIO-PCI-104",),
    "pci.virtio.driver.capabilities": ("VIRTIO-PCI-011",),
    "pci.virtio.shm-capabilities": ("VIRTIO-PCI-014",),
    "pci.function.conforms": ("VIRTIO-PCI-005",),
    "ring.packed.driver.indirect-within-queue": ("RING-PACKED-043",),
    "ring.packed.driver.no-partial-list": ("RING-PACKED-037",),
    "ring.split.driver.avail-idx-forward": ("RING-SPLIT-030",),
    "ring.packed.driver.rejects-misplaced": ("RING-PACKED-001",),
}
REFUSALS = {"ring.packed.driver.rejects-misplaced"}  # fed bad input: REJECT is the pass


@pytest.mark.parametrize("case_id", [pytest.param(c, marks=pytest.mark.req(*NEW_CASES[c]), id=c)
                                     for c in sorted(NEW_CASES)])
def test_reference_passes(case_id: str) -> None:
    case = cases.discover()[case_id]
    assert case.reqs == NEW_CASES[case_id]
    res = runner.run_case(case, targets.make("reference"))
    want = Outcome.REJECT if case_id in REFUSALS else Outcome.PASS
    assert res.outcome is want, (res.detail, res.expected, res.observed)


# the queue size as the bound of a packed indirect table is virtiospec's reading of §2.8.19
EXPECTED = {"driver-rule.mutant.packed-table-beyond-queue": Outcome.EXTENSION}


@pytest.mark.parametrize("variant", [pytest.param(v, marks=pytest.mark.req(v[2]), id=v[0])
                                     for v in M.VARIANTS])
def test_each_variant_fails_naming_its_requirement(variant: tuple) -> None:  # type: ignore[type-arg]
    name, case_id, req, make, _ = variant
    res = runner.run_case(cases.discover()[case_id], make())
    assert res.outcome is EXPECTED.get(name, Outcome.FAIL), (name, res.outcome, res.detail)
    assert res.req == req, (name, res.req, res.detail)
    assert cases.grade_of(req)[0] is Outcome.FAIL  # each is a VIRTIO MUST or MUST NOT
    assert catalogue.get(req).level in ("MUST", "MUST NOT")


class Bare:
    """A target that provides nothing: every new case must SKIP, never fail, on it."""

    name = "bare"


@pytest.mark.parametrize("case_id", [*sorted(NEW_CASES), "pci.net.max-pairs"])
def test_a_target_without_the_side_skips(case_id: str) -> None:
    res = runner.run_case(cases.discover()[case_id], Bare())
    assert res.outcome is Outcome.SKIP, (res.outcome, res.detail)


@pytest.mark.req("NET-025")
def test_max_pairs_skips_on_the_reference_whose_pci_device_offers_no_mq() -> None:
    res = runner.run_case(cases.discover()["pci.net.max-pairs"], targets.make("reference"))
    assert res.outcome is Outcome.SKIP and "VIRTIO_NET_F_MQ" in res.detail


def test_variants_are_registered_and_name_their_switch() -> None:
    registry.discover()
    for name, case_id, req, _, _ in M.VARIANTS:
        mutant = registry.MUTANTS[name]
        assert mutant.reqs == (req,)
        assert case_id in mutant.bug
        assert "switch " in mutant.bug or "not by a switch" in mutant.bug
        assert mutant.run().ok, name


def test_every_new_requirement_is_covered_by_a_case_and_a_variant() -> None:
    reqs = {r for ids in NEW_CASES.values() for r in ids} | {"NET-025"}
    caught = {v[2] for v in M.VARIANTS}
    assert reqs <= caught, reqs - caught


# -- the watching devices ---------------------------------------------------------------------

def test_net_watch_sees_each_breach_of_the_control_queue() -> None:
    pair = NetPair(NetConfig(max_pairs=2), device_cls=NetWatch, auto=False)
    dev = pair.device
    assert isinstance(dev, NetWatch)
    for command in (C.vq_pairs(0), C.vq_pairs(3), C.rx_mode(C.RX_NOBCAST, True)):
        dev.command_seen(command)
    assert [r for r, _ in dev.violations] == ["NET-037", "NET-037", "NET-138"]
    dev.command_seen(C.vq_pairs(2))  # receiveq2 never had a buffer (start() fills pair 1 only)
    assert dev.violations[-1][0] == "NET-144"


def test_pci_watch_records_unverified_and_out_of_table_vectors() -> None:
    s = ReferenceSession(lambda backend: PciWatch(backend, msix_vectors=2))  # type: ignore[arg-type]
    t = transport(s)
    dev = s.device
    assert isinstance(dev, PciWatch)
    t.host.mem_write(t.structures.common + 16, 2, 5)  # config_msix_vector := 5, no read
    t.host.mem_write(t.structures.common + 22, 2, 0)  # queue_select: a checkpoint
    got = [what for _, what in dev.violations]
    assert any("outside the MSI-X table of 2" in w for w in got), got
    assert any("never read back" in w for w in got), got
    assert dev.common_read("config_msix_vector") == NO_VECTOR


def test_pci_watch_decoys_lead_the_capability_list_and_keep_it_walkable() -> None:
    s = ReferenceSession(lambda backend: PciWatch(backend, decoys=True))  # type: ignore[arg-type]
    cfg = ConfigMechanism1(s.host)
    assert isinstance(s.device, PciWatch)
    bdf = find_net(s)
    walked = capabilities(cfg, bdf)
    vendor = [at for at, cap_id in walked if cap_id == 0x09]
    assert [cfg.read(bdf, at + 3, 1) for at in vendor[:3]] == [0x30, 1, 1]
    assert len(walked) == len(s.device.config.capabilities)


# -- helpers of the observation cases ---------------------------------------------------------

def test_frame_starts_right_finds_a_shifted_frame() -> None:
    f = FR.udp_frame(b"\x02" * 6, b"\x04" * 6, "10.0.0.1", "10.0.0.2", 1, 2, b"x" * 20)
    assert net_driver_observed.frame_starts_right(f) is None
    assert net_driver_observed.frame_starts_right(f[2:]) is not None  # a 10-byte header
    assert net_driver_observed.frame_starts_right(f[:20]) is not None  # IPv4 cut short


# -- a finding on a real peer ------------------------------------------------------------------

@pytest.mark.skipif(not build.DEFAULT_TARBALL.is_file(),
                    reason=f"{build.DEFAULT_TARBALL} absent: linux-source-6.1 not installed")
@pytest.mark.req("RING-PACKED-043", "RING-PACKED-037", "RING-PACKED-001", "RING-SPLIT-030")
def test_linux_packed_driver_builds_tables_beyond_the_queue_size(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Linux 6.1's virtqueue_add_packed takes 5 buffers in a queue of 4 as one indirect table
    of 5: graded EXTENSION (the queue size as the bound is virtiospec's reading). The other
    new ring cases pass (or refuse) on Linux."""
    monkeypatch.setenv("VIRTIOSPEC_ISOLATED_CHILD", "1")
    linux = targets.make("linux-vring")
    got = {c: runner.run_case(cases.discover()[c], linux) for c in (
        "ring.packed.driver.indirect-within-queue", "ring.packed.driver.no-partial-list",
        "ring.packed.driver.rejects-misplaced", "ring.split.driver.avail-idx-forward")}
    res = got["ring.packed.driver.indirect-within-queue"]
    assert res.outcome is Outcome.EXTENSION and res.req == "RING-PACKED-043", res.detail
    assert res.observed.startswith("5 "), res.observed
    assert [r.outcome for r in list(got.values())[1:]] == [Outcome.PASS, Outcome.REJECT,
                                                           Outcome.PASS]
