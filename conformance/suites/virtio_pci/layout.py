"""Virtio structures on PCI, from the driver's seat: the vendor capabilities and where they
put the structures (VIRTIO-PCI-010, VIRTIO-PCI-011, VIRTIO-PCI-012, VIRTIO-PCI-013, VIRTIO-PCI-014,
VIRTIO-PCI-015), and access widths (VIRTIO-PCI-004)."""

from __future__ import annotations

from virtiospec.conformance.cases import case, require
from virtiospec.conformance.suites.virtio_pci.session import do, net_driver, session
from virtiospec.reference.pci.regs import BAR_COUNT
from virtiospec.reference.virtio_pci.regs import (
    ACKNOWLEDGE,
    CAP64_SIZE,
    CAP_BAR,
    CAP_LENGTH,
    CAP_OFFSET,
    CAP_PCI_CFG_DATA,
    CAP_SIZE,
    COMMON_CFG,
    DEVICE_CFG,
    DEVICE_FEATURE,
    DEVICE_FEATURE_SELECT,
    DEVICE_STATUS,
    ISR_CFG,
    NOTIFY_CAP_SIZE,
    NOTIFY_CFG,
    PCI_CFG,
    PCI_CFG_CAP_SIZE,
    SHARED_MEMORY_CFG,
)

LEAST_LEN = {NOTIFY_CFG: NOTIFY_CAP_SIZE, PCI_CFG: PCI_CFG_CAP_SIZE, SHARED_MEMORY_CFG: CAP64_SIZE}


@case("pci.virtio.capabilities", ("VIRTIO-PCI-010", "VIRTIO-PCI-012", "VIRTIO-PCI-013",
                                  "VIRTIO-PCI-017"),
      "device", "pci",
      "common, notify, ISR, device and PCI-access capabilities, well formed and placed")
def capabilities(target: object) -> None:
    with session(target) as s:
        t = net_driver(s).transport
        caps = t.structures.caps
        types = {c.cfg_type for c in caps}
        want = {COMMON_CFG, NOTIFY_CFG, ISR_CFG, DEVICE_CFG, PCI_CFG}
        require(want <= types, "one capability of each required type", str(sorted(want)),
                str(sorted(types)))
        for c in caps:
            least = LEAST_LEN.get(c.cfg_type, CAP_SIZE)
            require(c.cap_len >= least, f"cap_len of the type-{c.cfg_type} capability at "
                    f"{c.at:#x}", f">= {least}", str(c.cap_len), req="VIRTIO-PCI-017")
            if c.cfg_type in (COMMON_CFG, NOTIFY_CFG, ISR_CFG, DEVICE_CFG, SHARED_MEMORY_CFG):
                require(c.bar < BAR_COUNT, f"BAR of the type-{c.cfg_type} capability",
                        "0..5", str(c.bar))
                bar = t.bars.get(c.bar)
                require(bar is not None and c.end <= bar.size,
                        f"type-{c.cfg_type} structure inside BAR{c.bar}",
                        f"end <= {bar.size if bar else 0:#x}", f"end {c.end:#x}")
            align = {COMMON_CFG: 4, DEVICE_CFG: 4, NOTIFY_CFG: 2}.get(c.cfg_type, 1)
            require(c.offset % align == 0, f"offset of the type-{c.cfg_type} structure",
                    f"multiple of {align}", f"{c.offset:#x}")
        m = t.structures.notify_multiplier
        require(m == 0 or (m & (m - 1) == 0 and m % 2 == 0), "notify_off_multiplier",
                "0 or an even power of 2", str(m))
        queues = do(s, t.read("num_queues"))
        for q in range(queues):
            do(s, t.write("queue_select", q))
            off = do(s, t.read("queue_notify_off"))
            need = off * m + 2
            require(need <= t.structures.notify_length, f"notify area covers queue {q}",
                    f">= {need} bytes", str(t.structures.notify_length))


@case("pci.virtio.pci-cfg-window", ("VIRTIO-PCI-015",), "device", "pci",
      "the PCI configuration access capability reads and writes the common configuration")
def pci_cfg_window(target: object) -> None:
    with session(target) as s:
        t = net_driver(s).transport
        at = t.structures.pci_cfg
        require(at is not None, "a PCI configuration access capability", "present", "absent")
        assert at is not None
        common = next(c for c in t.structures.caps if c.cfg_type == COMMON_CFG)
        cfg, bdf = t.cfg, t.bdf

        def window(offset: int, length: int) -> None:
            cfg.write(bdf, at + CAP_BAR, 1, common.bar)
            cfg.write(bdf, at + CAP_LENGTH, 4, length)
            cfg.write(bdf, at + CAP_OFFSET, 4, common.offset + offset)

        do(s, t.write("device_feature_select", 1))
        direct = s.host.mem_read(t.structures.common + DEVICE_FEATURE, 4)
        window(DEVICE_FEATURE, 4)
        through = cfg.read(bdf, at + CAP_PCI_CFG_DATA, 4)
        require(through == direct, "device_feature read through the window", f"{direct:#x}",
                f"{through:#x}")
        window(DEVICE_FEATURE_SELECT, 4)
        cfg.write(bdf, at + CAP_PCI_CFG_DATA, 4, 0)
        sel = s.host.mem_read(t.structures.common + DEVICE_FEATURE_SELECT, 4)
        require(sel == 0, "device_feature_select written through the window", "0", str(sel))
        window(DEVICE_STATUS, 1)
        cfg.write(bdf, at + CAP_PCI_CFG_DATA, 4, ACKNOWLEDGE)
        status = do(s, t.status())
        require(status == ACKNOWLEDGE, "device_status written through the window (1 byte)",
                f"{ACKNOWLEDGE:#x}", f"{status:#x}")
        through = cfg.read(bdf, at + CAP_PCI_CFG_DATA, 4) & 0xFF
        require(through == ACKNOWLEDGE, "device_status read through the window",
                f"{ACKNOWLEDGE:#x}", f"{through:#x}")


@case("pci.virtio.access-widths", ("VIRTIO-PCI-004",), "device", "pci",
      "the two 32-bit halves of a 64-bit field are written and read independently")
def access_widths(target: object) -> None:
    with session(target) as s:
        t = net_driver(s).transport
        do(s, t.write("queue_select", 0))
        desc, _ = t.field_addr("queue_desc")
        s.host.mem_write(desc + 4, 4, 0x1)  # high half first
        s.host.mem_write(desc, 4, 0x0004_2000)
        got = (s.host.mem_read(desc, 4), s.host.mem_read(desc + 4, 4))
        require(got == (0x0004_2000, 0x1), "queue_desc halves", "(0x42000, 0x1)",
                f"({got[0]:#x}, {got[1]:#x})")
        s.host.mem_write(desc, 4, 0x0008_0000)
        got = (s.host.mem_read(desc, 4), s.host.mem_read(desc + 4, 4))
        require(got == (0x0008_0000, 0x1), "writing the low half leaves the high half",
                "(0x80000, 0x1)", f"({got[0]:#x}, {got[1]:#x})")
        s.host.mem_write(desc + 4, 4, 0)
        full = do(s, t.read("queue_desc"))
        require(full == 0x0008_0000, "the 64-bit value", "0x80000", f"{full:#x}")
