"""VIRTIO_F_NOTIFICATION_DATA over PCI (VIRTIO 1.4 §4.1.4.4, §4.1.5.2): the notification
area of a device that offers it (VIRTIO-PCI-101) and the 32-bit notification a driver writes
once it is negotiated (VIRTIO-PCI-115): queue index in bits 0..15, next available position in
bits 16..31 (split: ``avail.idx``; packed: ``next_off | next_wrap << 15``, RING-PACKED-024).

The device cases read the capability and pass frames with 32-bit notifications; the driver
case runs the target's driver against :class:`NotifyWatch`, a reference device that checks
every notification against the ring in guest memory.
"""

from __future__ import annotations

from typing import Any

from virtiospec.conformance.cases import CaseSkipped, case, require
from virtiospec.conformance.suites.virtio_pci.case_driver import DEFAULT_FEATURES
from virtiospec.conformance.suites.virtio_pci.queue_reset import pci_net_driver_of
from virtiospec.conformance.suites.virtio_pci.session import (
    ReferenceSession,
    do,
    frame,
    net_driver,
    session,
    transport,
)
from virtiospec.reference.pci import Window
from virtiospec.reference.ring import SplitDevice
from virtiospec.reference.virtio_pci import VirtioPciDevice
from virtiospec.reference.virtio_pci.errors import BadRegisterAccess, Timeout
from virtiospec.reference.virtio_pci.regs import (
    F_NOTIF_CONFIG_DATA,
    F_NOTIFICATION_DATA,
    NOTIFY_CFG,
    bit,
)

NOTIFY_FEATURES = bit(F_NOTIFICATION_DATA) | bit(F_NOTIF_CONFIG_DATA)
WANTED = DEFAULT_FEATURES | NOTIFY_FEATURES


class NotifyWatch(VirtioPciDevice):
    """The reference device, recording in :attr:`violations` as ``(requirement ID, what)``
    every notification that does not identify its queue as negotiated (the index, or with
    VIRTIO_F_NOTIF_CONFIG_DATA the queue's ``queue_notif_config_data``, which this device
    makes ``CONFIG_DATA + index``) or, with VIRTIO_F_NOTIFICATION_DATA, is not one 32-bit
    write carrying the next available position of its split ring (``avail.idx`` as the
    driver left it in memory). ``features``: the notification features it offers."""

    CONFIG_DATA = 0x7A00
    offer = bit(F_NOTIFICATION_DATA)

    def __init__(self, backend: Any, **kw: Any) -> None:
        self.violations: list[tuple[str, str]] = []
        self.checked = 0
        backend.features = (backend.features & ~NOTIFY_FEATURES) | self.offer
        super().__init__(backend, **kw)

    def common_read(self, name: str) -> int:
        value = super().common_read(name)
        if name == "queue_notif_config_data" and self.has(F_NOTIF_CONFIG_DATA):
            return self.CONFIG_DATA + value
        return value

    def notified(self, offset: int, value: int, data: int | None = None) -> None:
        index = value
        if self.has(F_NOTIF_CONFIG_DATA):
            index = value - self.CONFIG_DATA
            if not 0 <= index < len(self.queues):
                self.violations.append(("VIRTIO-PCI-115", f"notification value {value:#x} is "
                                        "no queue's queue_notif_config_data"))
                return
        if self.has(F_NOTIFICATION_DATA):
            if data is None:
                self.violations.append(("VIRTIO-PCI-115", f"queue {index}: a 16-bit "
                                        "notification without data"))
            elif index < len(self.queues) and self.queues[index].ring is not None:
                ring = self.queues[index].ring
                assert isinstance(ring, SplitDevice)  # what reference/net/pci.py builds
                avail = self.dma().read(ring.layout.avail_idx, 2)
                self.checked += 1
                if data != avail:
                    self.violations.append(("VIRTIO-PCI-115", f"queue {index}: data {data:#x}, "
                                            f"avail.idx is {avail:#x}"))
        else:
            self.checked += 1
        super().notified(offset, index, data)


class NotifyConfigWatch(NotifyWatch):
    offer = bit(F_NOTIF_CONFIG_DATA)


class NotifyBothWatch(NotifyWatch):
    offer = NOTIFY_FEATURES


VARIANTS: dict[str, type[NotifyWatch]] = {"NOTIFICATION_DATA": NotifyWatch,
                                          "NOTIF_CONFIG_DATA": NotifyConfigWatch,
                                          "both": NotifyBothWatch}


@case("pci.virtio.notification-data", ("VIRTIO-PCI-101",), "device", "pci",
      "with VIRTIO_F_NOTIFICATION_DATA offered, the notification area is 4-byte aligned, the "
      "multiplier 0 or a power of 2 that is a multiple of 4, every queue's 32-bit "
      "notification fits, and frames pass with 32-bit notifications")
def notification_data(target: object) -> None:
    with session(target) as s:
        drv = net_driver(s, wanted=WANTED)
        t = drv.transport
        drv.negotiate()
        if not drv.driver.offered & bit(F_NOTIFICATION_DATA):
            raise CaseSkipped("the device does not offer VIRTIO_F_NOTIFICATION_DATA")
        cap = next(c for c in t.structures.caps if c.cfg_type == NOTIFY_CFG)
        require(cap.offset % 4 == 0, "notification area offset", "a multiple of 4",
                f"{cap.offset:#x}", req="VIRTIO-PCI-101")
        m = cap.notify_off_multiplier
        require(m == 0 or (m % 4 == 0 and not m & (m - 1)), "notify_off_multiplier",
                "0 or a power of 2 that is a multiple of 4", str(m), req="VIRTIO-PCI-101")
        require(cap.length >= 4, "notification area length", ">= 4", str(cap.length),
                req="VIRTIO-PCI-101")
        for q in range(do(s, t.read("num_queues"))):
            do(s, t.write("queue_select", q))
            off = do(s, t.read("queue_notify_off"))
            require(off * m + 4 <= cap.length, f"queue {q}'s 32-bit notification fits",
                    f"{off} x {m} + 4 <= {cap.length}", f"{off * m + 4}", req="VIRTIO-PCI-101")
        drv = net_driver(s, wanted=WANTED)
        drv.bring_up()
        require(drv.driver.has(F_NOTIFICATION_DATA), "VIRTIO_F_NOTIFICATION_DATA negotiated",
                "negotiated", f"features {drv.driver.features:#x}")
        for n in range(3):
            sent = frame(n)
            drv.send(sent)
            try:
                drv.wait_tx()
            except Timeout:
                require(False, "a frame sent with a 32-bit notification comes back",
                        "used within 2 s", "nothing", req="VIRTIO-PCI-101")
            got = s.capture(2.0)
            require(got == sent, f"frame {n} on the wire", sent.hex()[:40],
                    "nothing" if got is None else got.hex()[:40], req="VIRTIO-PCI-101")
        back = frame(7)
        s.inject(back)
        _, got_rx = drv.wait_rx()
        require(got_rx == back, "a frame received after 32-bit receive notifications",
                back.hex()[:40], got_rx.hex()[:40], req="VIRTIO-PCI-101")


@case("pci.virtio.driver.notification-data", ("VIRTIO-PCI-115",), "driver", "pci",
      "with VIRTIO_F_NOTIFICATION_DATA and/or VIRTIO_F_NOTIF_CONFIG_DATA negotiated, every "
      "notification names its queue as negotiated (index or queue_notif_config_data) and, "
      "with NOTIFICATION_DATA, is a 32-bit write carrying the ring's next available position")
def driver_notification_data(target: object) -> None:
    factory = pci_net_driver_of(target)
    for variant, watch in VARIANTS.items():
        features = watch.offer
        s = ReferenceSession(watch)
        drv = factory(s.host, transport(s), Window(*s.ram), wanted=WANTED)
        try:
            drv.bring_up()
            require(drv.driver.features & NOTIFY_FEATURES == features, f"{variant}: the "
                    "driver negotiates the notification features offered", f"{features:#x}",
                    f"{drv.driver.features & NOTIFY_FEATURES:#x}")
            for n in range(5):
                drv.send(frame(n))
                drv.wait_tx()
                s.inject(frame(10 + n))
                drv.wait_rx()
        except BadRegisterAccess as err:  # the device refused the notification's width
            require(False, f"{variant}: the driver's notifications", "aligned 32-bit writes",
                    str(err), req="VIRTIO-PCI-115")
        except Timeout as err:
            require(False, f"{variant}: frames pass", "both ways", str(err),
                    req="VIRTIO-PCI-115")
        assert isinstance(s.device, NotifyWatch)
        for req, what in s.device.violations:
            require(False, f"{variant}: the driver's notifications", "as negotiated", what,
                    req=req)
        require(s.device.checked >= 2, f"{variant}: notifications checked", ">= 2",
                str(s.device.checked), req="VIRTIO-PCI-115")
