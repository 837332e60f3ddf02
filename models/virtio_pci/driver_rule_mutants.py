"""Known-bad drivers for the driver MUSTs of VIRTIO 1.4 that conformance cases check
(conformance/suites/net/driver_rules.py, conformance/suites/virtio_pci/driver_rules.py): each
turns off one switch of the reference driver's lines
(:class:`~virtiospec.reference.net.driver.NetDriverLines`,
:class:`~virtiospec.reference.net.pci_queues.PciNetDriverLines`,
:class:`~virtiospec.reference.virtio_pci.transport.TransportLines`) and the case must FAIL
it naming the requirement the switch keeps. Devices' switches too
(:class:`~virtiospec.reference.virtio_pci.device.VirtioPciDeviceLines`), and the packed-ring
driver's (:class:`~virtiospec.reference.ring.packed.driver.PackedDriverLines`,
conformance/suites/ring/packed/driver_rules.py). ``virtiospec prove --mutants`` runs them; the
registered description names the switch (models/variant_switch.py).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from virtiospec.conformance import cases, runner
from virtiospec.conformance.cases import FAILED
from virtiospec.conformance.ring.api import PackedRingSetup, RingSetup
from virtiospec.conformance.suites.net.api import DriverObservation
from virtiospec.conformance.suites.virtio_pci.case_driver import CaseDriver
from virtiospec.conformance.suites.virtio_pci.session import ReferenceSession
from virtiospec.conformance.target_reference import ReferencePackedDriver, ReferenceRingDriver
from virtiospec.models import registry
from virtiospec.models.variant_switch import switched
from virtiospec.reference.access import run
from virtiospec.reference.net.config import OFF_MAX_PAIRS
from virtiospec.reference.net.driver import NetDriver
from virtiospec.reference.net.features import CTRL_VQ as NET_CTRL_VQ
from virtiospec.reference.net.features import MQ as NET_MQ
from virtiospec.reference.net.pci import PciNetDevice as PciNet
from virtiospec.reference.ring import SplitDriver
from virtiospec.reference.ring.packed.driver import PackedDriver
from virtiospec.reference.virtio_pci.device import VirtioPciDevice
from virtiospec.reference.virtio_pci.regs import bit
from virtiospec.reference.virtio_pci.transport import VirtioPciTransport

V = TypeVar("V")


def variant(base: type[V], name: str, *, doc: str, **off: bool) -> type[V]:
    """A known-bad subclass of ``base`` named ``name`` whose ``lines`` turn ``off`` the
    switches given (each False): one switch of the reference, the rest of it unchanged."""
    lines = dataclasses.replace(base.lines, **off)  # type: ignore[attr-defined]
    return cast(type[V], type(name, (base,), {"__doc__": doc, "lines": lines,
                                              "__module__": __name__}))


# Each a subclass of the reference class that turns one switch of its lines off (BUG: the
# requirement in its VARIANTS row): (class name, reference class, switch, what it does).
_SWITCHED: list[tuple[str, type, str, str]] = [
    ("NoCtrlRxCheck", NetDriver, "rx_ctrl_needs_feature",  # NET-033
     "Sends RX and MAC commands whatever was negotiated."),
    ("NoCtrlRxExtraCheck", NetDriver, "rx_extra_needs_feature",  # NET-138
     "Sends ALLUNI, NOMULTI, NOUNI, NOBCAST without VIRTIO_NET_F_CTRL_RX_EXTRA."),
    ("PairsOutOfRange", NetDriver, "pairs_in_range",  # NET-037
     "Sends VQ_PAIRS_SET with any count, 0 and above max_virtqueue_pairs included."),
    ("PairsBeforeRx", NetDriver, "rx_before_pairs",  # NET-144
     "Enables more pairs before giving their receive queues any buffer."),
    ("PairsBeforeAck", NetDriver, "more_pairs_after_ack",  # NET-039
     "Transmits on the new pairs as soon as VQ_PAIRS_SET is placed."),
    ("TrustsRxChecksum", NetDriver, "check_rx_checksum",  # NET-135
     "Takes every received frame's checksum as right, DATA_VALID or not."),
    ("ShortTxHeader", NetDriver, "tx_full_header",  # NET-112
     "Puts the 10-byte header of legacy drivers (no num_buffers) in front of a frame."),
    ("GsoWithoutFeature", NetDriver, "gso_needs_feature",  # NET-113
     "Asks for segmentation whatever HOST_* features were negotiated."),
    ("IgnoresMtu", NetDriver, "tx_within_mtu",  # NET-108
     "Transmits frames up to 1514 bytes (+ a tag) whatever the device's mtu."),
    ("RxSizeWithoutHeader", NetDriver, "rx_size_counts_header",  # NET-124
     "Takes a receive buffer that holds a full frame as enough, forgetting the header."),
    ("AvailIdxFifteenBits", SplitDriver, "avail_idx_u16",  # RING-SPLIT-030
     "Counts avail.idx modulo 2^15: after 0x7FFF it publishes 0."),
    ("PackedTableBeyondQueue", PackedDriver, "list_within_queue",  # RING-PACKED-043
     "Builds an indirect table as long as its table area allows, beyond the queue size."),
    ("PackedDrivesMisplaced", PackedDriver, "placement_check",  # RING-PACKED-001
     "Drives whatever ring it is given, aligned or not."),
    ("PackedNoRoomFirst", PackedDriver, "room_first",  # RING-PACKED-037
     "Writes a list that does not fit, counting on the device to free descriptors."),
    ("TrustsHdrLen", NetDriver, "hdr_len_untrusted",  # NET-134
     "Takes a received header's hdr_len as the length of the frame's headers."),
    ("NeedsThreeVectors", CaseDriver, "any_table_size",  # VIRTIO-PCI-114
     "Gives up on a device whose MSI-X table has fewer than 3 vectors."),
    ("IgnoresTableSize", CaseDriver, "vectors_within_table",  # VIRTIO-PCI-041
     "Maps its 3 vectors whatever the MSI-X Table Size says."),
    ("NoTableCheck", VirtioPciTransport, "vector_in_table",  # VIRTIO-PCI-041
     "Writes any vector to a vector field, inside the table or not."),
    ("TakesFirstCapability", VirtioPciTransport, "pass_over_unusable",  # VIRTIO-PCI-011
     "Takes the first capability of each type, whatever its cfg_type or BAR."),
    ("NoReadBack", VirtioPciTransport, "vector_read_back",  # VIRTIO-PCI-041
     "Maps a vector without reading the mapping back."),
    ("ServesOneCause", CaseDriver, "serve_every_cause",  # VIRTIO-PCI-116
     "Serves only the configuration change of an interrupt that stands for used buffers too."),
    ("WritesMacToConfig", CaseDriver, "config_read_only",  # NET-022
     "Changes the MAC by writing it into the device configuration, as legacy drivers did."),
    ("ZeroesUnusedQueues", CaseDriver, "leave_unused_queues",  # VIRTIO-PCI-104
     "Writes 0 to queue_size of the queues it does not use, as if that turned them off."),
    ("DecodesWhileOff", VirtioPciDevice, "decode_gate",  # VIRTIO-PCI-005, PCI-CFG-004
     "A virtio-pci device that answers memory accesses with Memory Space Enable clear."),
    ("RegionOverhangs", VirtioPciDevice, "shm_inside_bar",  # VIRTIO-PCI-014
     "Sizes its shared memory BAR for every region but the last, which overhangs it."),
]
BAD: dict[str, Any] = {name: variant(base, name, doc=doc, **{switch: False})
                       for name, base, switch, doc in _SWITCHED}



@dataclass
class SplitDriverTarget:
    """A target whose split-ring driver is the reference adapter over ``cls``."""

    cls: type[SplitDriver]

    @property
    def name(self) -> str:
        return f"known-bad {self.cls.__name__}"

    def ring_driver(self, setup: RingSetup) -> ReferenceRingDriver:
        side = ReferenceRingDriver(setup)
        side.drv.__class__ = self.cls
        return side



@dataclass
class PackedDriverTarget:
    """A target whose packed-ring driver is the reference adapter over ``cls``."""

    cls: type[PackedDriver]

    @property
    def name(self) -> str:
        return f"known-bad {self.cls.__name__}"

    def ring_packed_driver(self, setup: PackedRingSetup) -> ReferencePackedDriver:
        side = object.__new__(ReferencePackedDriver)  # its __init__ over the variant class
        side.mem = setup.memory
        side.drv = self.cls(setup.layout, event_idx=setup.event_idx,
                            indirect_area=setup.indirect_area if setup.indirect else None,
                            indirect_max=setup.indirect_max)
        run(side.drv.init(), side.mem)
        return side



@dataclass
class ShmDeviceTarget:
    """A target whose device with shared memory regions is ``shm_device_cls``."""

    shm_device_cls: type[VirtioPciDevice]

    @property
    def name(self) -> str:
        return f"known-bad {self.shm_device_cls.__name__}"


class ZeroPairsNet(PciNet):
    """A network device that offers VIRTIO_NET_F_MQ (with CTRL_VQ) and says 0 pairs: the
    reference's virtio-pci network device offers no MQ, so this one is made by hand, not by a
    switch."""

    def __init__(self) -> None:
        super().__init__()
        self.features |= bit(NET_MQ) | bit(NET_CTRL_VQ)
        self.config.update(OFF_MAX_PAIRS, (0).to_bytes(2, "little"))


@dataclass
class PciBackendTarget:
    """A target whose PCI device is the reference device over the backend ``backend_cls``."""

    backend_cls: type[PciNet]

    @property
    def name(self) -> str:
        return f"known-bad {self.backend_cls.__name__}"

    @contextmanager
    def pci_session(self) -> Iterator[ReferenceSession]:
        def device(_: object) -> VirtioPciDevice:
            return VirtioPciDevice(self.backend_cls())

        yield ReferenceSession(cast(type[VirtioPciDevice], device))


@dataclass
class PciDeviceTarget:
    """A target whose PCI device is the reference session with ``cls``."""

    cls: type[VirtioPciDevice]

    @property
    def name(self) -> str:
        return f"known-bad {self.cls.__name__}"

    @contextmanager
    def pci_session(self) -> Iterator[ReferenceSession]:
        yield ReferenceSession(self.cls)


@dataclass
class PciDriverTarget:
    """A target whose virtio-pci network driver is ``driver_cls`` over ``transport_cls``."""

    driver_cls: type[CaseDriver] = CaseDriver
    transport_cls: type[VirtioPciTransport] = VirtioPciTransport

    @property
    def name(self) -> str:
        return f"known-bad {self.driver_cls.__name__}/{self.transport_cls.__name__}"

    def pci_net_driver(self, host: Any, transport: VirtioPciTransport, ram: Any,
                       **kw: Any) -> CaseDriver:
        transport.__class__ = self.transport_cls
        transport.structures = transport._locate()  # the variant walks the capabilities too
        return self.driver_cls(host, transport, ram, **kw)


@dataclass
class NetSessionTarget:
    """A target whose driver session behind vhost-user runs the driver class ``cls``."""

    cls: type[NetDriver]

    @property
    def name(self) -> str:
        return f"known-bad {self.cls.__name__} behind vhost-user"

    def net_driver_session(self) -> DriverObservation:
        from virtiospec.conformance.suites.net.reference_session import run

        return run(driver_cls=self.cls)


@dataclass
class NetDriverTarget:
    """A target whose in-process network driver class is ``cls``."""

    cls: type[NetDriver]

    @property
    def name(self) -> str:
        return f"known-bad {self.cls.__name__}"

    @property
    def net_driver_cls(self) -> type[NetDriver]:
        return self.cls


# (mutant name, case ID, the requirement the case must name, the target, its classes)
VARIANTS: list[tuple[str, str, str, Callable[[], Any], tuple[type, ...]]] = [
    ("driver-rule.mutant.ctrl-rx-without-feature",
     "net.driver.ctrl-rx-needs-feature", "NET-033",
     lambda: NetDriverTarget(BAD["NoCtrlRxCheck"]), (BAD["NoCtrlRxCheck"],)),
    ("driver-rule.mutant.ctrl-rx-extra-without-feature",
     "net.driver.ctrl-rx-needs-feature", "NET-138",
     lambda: NetDriverTarget(BAD["NoCtrlRxExtraCheck"]), (BAD["NoCtrlRxExtraCheck"],)),
    ("driver-rule.mutant.pairs-out-of-range",
     "net.driver.mq-pairs", "NET-037",
     lambda: NetDriverTarget(BAD["PairsOutOfRange"]), (BAD["PairsOutOfRange"],)),
    ("driver-rule.mutant.pairs-before-rx",
     "net.driver.mq-pairs", "NET-144",
     lambda: NetDriverTarget(BAD["PairsBeforeRx"]), (BAD["PairsBeforeRx"],)),
    ("driver-rule.mutant.pairs-before-ack",
     "net.driver.mq-pairs", "NET-039",
     lambda: NetDriverTarget(BAD["PairsBeforeAck"]), (BAD["PairsBeforeAck"],)),
    ("driver-rule.mutant.rx-checksum-trusted",
     "net.driver.rx-checksum-unchecked", "NET-135",
     lambda: NetDriverTarget(BAD["TrustsRxChecksum"]), (BAD["TrustsRxChecksum"],)),
    ("driver-rule.mutant.tx-header-short",
     "net.driver.tx-header", "NET-112",
     lambda: NetDriverTarget(BAD["ShortTxHeader"]), (BAD["ShortTxHeader"],)),
    ("driver-rule.mutant.gso-without-feature",
     "net.driver.tx-header", "NET-113",
     lambda: NetDriverTarget(BAD["GsoWithoutFeature"]), (BAD["GsoWithoutFeature"],)),
    ("driver-rule.mutant.tx-header-short-vhost-user",
     "net.driver.tx-header-size", "NET-112",
     lambda: NetSessionTarget(BAD["ShortTxHeader"]), (BAD["ShortTxHeader"],)),
    ("driver-rule.mutant.gso-without-feature-vhost-user",
     "net.driver.tx-gso-negotiated", "NET-113",
     lambda: NetSessionTarget(BAD["GsoWithoutFeature"]), (BAD["GsoWithoutFeature"],)),
    ("driver-rule.mutant.rx-hdr-len-trusted",
     "net.driver.rx-hdr-len-unused", "NET-134",
     lambda: NetDriverTarget(BAD["TrustsHdrLen"]), (BAD["TrustsHdrLen"],)),
    ("driver-rule.mutant.tx-beyond-mtu",
     "net.driver.mtu", "NET-108",
     lambda: NetDriverTarget(BAD["IgnoresMtu"]), (BAD["IgnoresMtu"],)),
    ("driver-rule.mutant.rx-size-without-header",
     "net.driver.rx-buffer-header", "NET-124",
     lambda: NetDriverTarget(BAD["RxSizeWithoutHeader"]), (BAD["RxSizeWithoutHeader"],)),
    ("driver-rule.mutant.avail-idx-fifteen-bits",
     "ring.split.driver.avail-idx-forward", "RING-SPLIT-030",
     lambda: SplitDriverTarget(BAD["AvailIdxFifteenBits"]), (BAD["AvailIdxFifteenBits"],)),
    ("driver-rule.mutant.packed-table-beyond-queue",
     "ring.packed.driver.indirect-within-queue", "RING-PACKED-043",
     lambda: PackedDriverTarget(BAD["PackedTableBeyondQueue"]), (BAD["PackedTableBeyondQueue"],)),
    ("driver-rule.mutant.packed-drives-misplaced",
     "ring.packed.driver.rejects-misplaced", "RING-PACKED-001",
     lambda: PackedDriverTarget(BAD["PackedDrivesMisplaced"]), (BAD["PackedDrivesMisplaced"],)),
    ("driver-rule.mutant.packed-no-room-first",
     "ring.packed.driver.no-partial-list", "RING-PACKED-037",
     lambda: PackedDriverTarget(BAD["PackedNoRoomFirst"]), (BAD["PackedNoRoomFirst"],)),
    ("driver-rule.mutant.needs-three-vectors",
     "pci.virtio.driver.msix-table-sizes", "VIRTIO-PCI-114",
     lambda: PciDriverTarget(BAD["NeedsThreeVectors"]), (BAD["NeedsThreeVectors"],)),
    ("driver-rule.mutant.vector-beyond-table",
     "pci.virtio.driver.vector-mapping", "VIRTIO-PCI-041",
     lambda: PciDriverTarget(BAD["IgnoresTableSize"], BAD["NoTableCheck"]),
     (BAD["IgnoresTableSize"], BAD["NoTableCheck"])),
    ("driver-rule.mutant.vector-not-read-back",
     "pci.virtio.driver.vector-mapping", "VIRTIO-PCI-041",
     lambda: PciDriverTarget(transport_cls=BAD["NoReadBack"]), (BAD["NoReadBack"],)),
    ("driver-rule.mutant.packed-queue-size-zero",
     "pci.virtio.driver.packed-queue-size", "VIRTIO-PCI-104",
     lambda: PciDriverTarget(BAD["ZeroesUnusedQueues"]), (BAD["ZeroesUnusedQueues"],)),
    ("driver-rule.mutant.takes-first-capability",
     "pci.virtio.driver.capabilities", "VIRTIO-PCI-011",
     lambda: PciDriverTarget(transport_cls=BAD["TakesFirstCapability"]),
     (BAD["TakesFirstCapability"],)),
    ("driver-rule.mutant.decodes-while-off",
     "pci.function.conforms", "VIRTIO-PCI-005",
     lambda: PciDeviceTarget(BAD["DecodesWhileOff"]), (BAD["DecodesWhileOff"],)),
    ("driver-rule.mutant.shm-region-overhangs",
     "pci.virtio.shm-capabilities", "VIRTIO-PCI-014",
     lambda: ShmDeviceTarget(BAD["RegionOverhangs"]), (BAD["RegionOverhangs"],)),
    ("driver-rule.mutant.mq-zero-pairs",
     "pci.net.max-pairs", "NET-025",
     lambda: PciBackendTarget(ZeroPairsNet), (ZeroPairsNet,)),
    ("driver-rule.mutant.mac-written-to-config",
     "pci.virtio.driver.config-read-only", "NET-022",
     lambda: PciDriverTarget(BAD["WritesMacToConfig"]), (BAD["WritesMacToConfig"],)),
    ("driver-rule.mutant.shared-interrupt-one-cause",
     "pci.virtio.driver.shared-interrupt", "VIRTIO-PCI-116",
     lambda: PciDriverTarget(BAD["ServesOneCause"]), (BAD["ServesOneCause"],)),
]


def caught(case_id: str, req: str, target: Any) -> registry.Evidence:
    """Evidence that ``case_id`` fails ``target`` naming ``req`` (ok: the bug is caught):
    FAIL, or EXTENSION where the case grades the bound it checks as virtiospec's reading."""
    res = runner.run_case(cases.discover()[case_id], target)
    ok = res.outcome in FAILED and res.req == req
    return registry.Evidence(ok, f"{res.outcome.value} {case_id} ({res.req or 'no req'}): "
                             f"{res.detail}; expected {res.expected}, observed {res.observed}")


def _register(name: str, case_id: str, req: str, make: Callable[[], Any],
              classes: tuple[type, ...]) -> None:
    doc = " ".join((classes[0].__doc__ or "").split())
    switches = [switched(c) for c in classes if "lines" in dir(c)]
    how = f" {'; '.join(switches)};" if switches else ""
    registry.mutant(name, f"{doc}{how} caught by {case_id}", (req,),
                    "test")(lambda: caught(case_id, req, make()))


for _v in VARIANTS:
    _register(*_v)
