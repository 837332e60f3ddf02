"""PCI function, seen from the driver's seat: configuration mechanism #1, the type-0 header,
BAR sizing, decoding and bus mastering, the capability list, MSI-X (PCI-CFG-*).

The suite is the driver; the target is the device (side "device"). Every case starts from a
freshly powered-on device (a new session).
"""

from __future__ import annotations

from virtiospec.conformance.cases import CaseSkipped, Outcome, Result, case, require
from virtiospec.conformance.suites.virtio_pci.case_driver import IRQ_DATA, TX, TX_VECTOR
from virtiospec.conformance.suites.virtio_pci.session import (
    do,
    frame,
    net_config,
    net_driver,
    session,
    up_session,
)
from virtiospec.reference.pci import (
    Bdf,
    ConfigMechanism1,
    Window,
    assign_bars,
    capabilities,
    enable,
    scan,
    size_bars,
)
from virtiospec.reference.pci.discovery import read_function
from virtiospec.reference.pci.regs import (
    BAR0,
    CAPABILITY_POINTER,
    CMD_BUS_MASTER,
    CMD_MEMORY,
    COMMAND,
    HEADER_TYPE,
    INTERRUPT_LINE,
    INTERRUPT_PIN,
    MSIX_CONTROL,
    MSIX_ENABLE,
    MSIX_ENTRY_CONTROL,
    MSIX_ENTRY_MASKED,
    MSIX_ENTRY_SIZE,
    STATUS,
    STATUS_CAP_LIST,
    SUBSYSTEM_ID,
    SUBSYSTEM_VENDOR_ID,
)
from virtiospec.reference.virtio_pci.regs import (
    ACKNOWLEDGE,
    DEVICE_NET,
    DEVICE_STATUS,
    DRIVER_OK,
    MODERN_BASE,
    VIRTIO_VENDOR,
)
from virtiospec.reference.virtio_pci.transport import VirtioPciTransport, virtio_type
from virtiospec.reference.virtio_pci.wait import poll, quiet

ALL = 0xFFFF_FFFF


@case("pci.config.scan", ("PCI-CFG-001", "VIRTIO-PCI-001", "VIRTIO-PCI-002"), "device", "pci",
      "mechanism #1 finds exactly one virtio-net function; absent functions read all ones")
def scan_bus(target: object) -> None:
    with session(target) as s:
        cfg = ConfigMechanism1(s.host)
        found = scan(cfg)
        nets = [f for f in found if virtio_type(f) == DEVICE_NET]
        require(len(nets) == 1, "one virtio-net function on bus 0", "1", str(len(nets)))
        f = nets[0]
        require(f.vendor == VIRTIO_VENDOR, "vendor ID", f"{VIRTIO_VENDOR:#x}", f"{f.vendor:#x}")
        ok_id = f.device == MODERN_BASE + DEVICE_NET or (f.device == 0x1000 and f.subsystem == 1)
        require(ok_id, "device ID 0x1041, or transitional 0x1000 with subsystem 1",
                "0x1041", f"{f.device:#x} (subsystem {f.subsystem:#x})")
        present = {g.bdf.dev for g in found}
        absent = next(d for d in range(32) if d not in present)
        got = cfg.read(Bdf(0, absent, 0), 0, 4)
        require(got == ALL, f"dword 0 of the empty slot 00:{absent:02x}.0", f"{ALL:#x}",
                f"{got:#x}")
        got = cfg.read(Bdf(7, 0, 0), 0, 4)
        require(got == ALL, "dword 0 on bus 7, where nothing is", f"{ALL:#x}", f"{got:#x}")
        dword = cfg.read(f.bdf, 0, 4)
        by_bytes = sum(cfg.read(f.bdf, k, 1) << (8 * k) for k in range(4))
        by_words = cfg.read(f.bdf, 0, 2) | cfg.read(f.bdf, 2, 2) << 16
        require(by_bytes == dword == by_words, "byte, word and dword reads through 0xCFC+n agree",
                f"{dword:#x}", f"bytes {by_bytes:#x}, words {by_words:#x}")


@case("pci.config.non-transitional-ids", ("VIRTIO-PCI-003",), "device", "pci",
      "a non-transitional device: ID 0x1040+, revision >= 1, subsystem ID >= 0x40")
def modern_ids(target: object) -> None:
    with session(target) as s:
        cfg, bdf = net_config(s)
        f = read_function(cfg, bdf)
        assert f is not None
        require(0x1040 <= f.device <= 0x107F, "device ID in 0x1040..0x107f", "0x1041",
                f"{f.device:#x}")
        require(f.revision >= 1, "revision ID", ">= 1", str(f.revision))
        require(f.subsystem >= 0x40, "subsystem device ID", ">= 0x40", f"{f.subsystem:#x}")


@case("pci.config.header-read-only", ("PCI-CFG-002",), "device", "pci",
      "identification fields, capability pointer and capability headers ignore writes")
def header_read_only(target: object) -> None:
    with session(target) as s:
        cfg, bdf = net_config(s)
        caps = capabilities(cfg, bdf)
        fixed = [(0, 2), (2, 2), (8, 1), (9, 1), (10, 1), (11, 1), (HEADER_TYPE, 1),
                 (SUBSYSTEM_VENDOR_ID, 2), (SUBSYSTEM_ID, 2), (CAPABILITY_POINTER, 1),
                 (INTERRUPT_PIN, 1)] + [(at, 2) for at, _ in caps]
        before = {reg: cfg.read(bdf, *reg) for reg in fixed}
        for (at, size), value in before.items():
            cfg.write(bdf, at, size, value ^ ((1 << (8 * size)) - 1))
        changed = {f"{at:#04x}": (f"{value:#x}", f"{cfg.read(bdf, at, size):#x}")
                   for (at, size), value in before.items() if cfg.read(bdf, at, size) != value}
        require(not changed, "read-only registers unchanged after writing their complement",
                "no change", str(changed))
        cfg.write(bdf, INTERRUPT_LINE, 1, 0x0B)
        got = cfg.read(bdf, INTERRUPT_LINE, 1)
        require(got == 0x0B, "the interrupt line register is writable", "0xb", f"{got:#x}")


@case("pci.config.bar-sizing", ("PCI-CFG-003",), "device", "pci",
      "all ones written to each BAR read back as a size mask with its type bits unchanged")
def bar_sizing(target: object) -> None:
    with session(target) as s:
        cfg, bdf = net_config(s)
        originals = [cfg.read(bdf, BAR0 + 4 * i, 4) for i in range(6)]
        bars = size_bars(cfg, bdf)
        require(any(b.is_memory for b in bars), "at least one memory BAR", ">= 1", "0")
        for b in bars:
            at = BAR0 + 4 * b.index
            cfg.write(bdf, at, 4, ALL)
            probe = cfg.read(bdf, at, 4)
            cfg.write(bdf, at, 4, originals[b.index])
            low = 0xF if b.is_memory else 0x3
            require(probe & low == originals[b.index] & low, f"BAR{b.index} type bits read-only",
                    f"{originals[b.index] & low:#x}", f"{probe & low:#x}")
            require(b.size & (b.size - 1) == 0 and b.size >= (16 if b.is_memory else 4),
                    f"BAR{b.index} size is a power of two", "power of 2", f"{b.size:#x}")
            require(probe & ~low & (b.size - 1) & ALL == 0,
                    f"BAR{b.index} bits below its size read 0", "0", f"{probe:#x}")
        after = [cfg.read(bdf, BAR0 + 4 * i, 4) for i in range(6)]
        require(after == originals, "every BAR holds its value again after sizing",
                str([hex(v) for v in originals]), str([hex(v) for v in after]))


@case("pci.config.decode-enable", ("PCI-CFG-004",), "device", "pci",
      "with Memory Space Enable clear, a write to a BAR does not reach the device")
def decode_enable(target: object) -> Result:
    with session(target) as s:
        cfg, bdf = net_config(s)
        function = read_function(cfg, bdf)
        assert function is not None
        bars = assign_bars(cfg, bdf, size_bars(cfg, bdf), Window(*s.mmio))
        enable(cfg, bdf, memory=False, bus_master=False)
        t = VirtioPciTransport(s.host, cfg, function, bars)
        status_at = t.structures.common + DEVICE_STATUS
        s.host.mem_write(status_at, 1, ACKNOWLEDGE)
        seen_off = s.host.mem_read(status_at, 1)
        enable(cfg, bdf, memory=True, bus_master=False)
        status = s.host.mem_read(status_at, 1)
        require(status == 0, "device_status after a write made with decoding off", "0",
                f"{status:#x}")
        s.host.mem_write(status_at, 1, ACKNOWLEDGE)
        status = s.host.mem_read(status_at, 1)
        require(status == ACKNOWLEDGE, "the same write with decoding on reaches the register",
                f"{ACKNOWLEDGE:#x}", f"{status:#x}")
        return Result(Outcome.PASS, f"a read with decoding off returned {seen_off:#x}")


@case("pci.config.bus-master", ("PCI-CFG-005",), "device", "pci",
      "with Bus Master Enable clear the device does not take a frame from memory")
def bus_master(target: object) -> Result:
    with up_session(target) as (s, drv):
        cfg, bdf = ConfigMechanism1(s.host), drv.transport.bdf
        command = cfg.read(bdf, COMMAND, 2)
        cfg.write(bdf, COMMAND, 2, command & ~CMD_BUS_MASTER)
        sent = frame(1)
        drv.send(sent)
        got = s.capture(0.3)
        require(got is None, "no frame leaves while bus mastering is off", "nothing",
                f"{len(got or b'')} bytes")
        cfg.write(bdf, COMMAND, 2, command | CMD_BUS_MASTER | CMD_MEMORY)
        detail = ""
        status = do(s, drv.transport.status())
        if not status & DRIVER_OK:  # QEMU drops DRIVER_OK with bus mastering (docs/pci.md)
            detail = (f"device_status fell to {status:#x} (DRIVER_OK cleared by the device) "
                      f"when bus mastering was turned off; set again")
            do(s, drv.transport.set_status(drv.driver.status))
        q = drv.queues[TX]
        do(s, drv.transport.notify(TX, q.notify_addr))
        got = s.capture(2.0)
        require(got == sent, "the frame leaves once bus mastering is on and the queue notified",
                sent.hex(), (got or b"").hex())
        return Result(Outcome.PASS, detail)


@case("pci.config.capability-list", ("PCI-CFG-006",), "device", "pci",
      "the capability list is flagged, inside 0x40..0xff, dword aligned and finite")
def capability_list(target: object) -> None:
    with session(target) as s:
        cfg, bdf = net_config(s)
        status = cfg.read(bdf, STATUS, 2)
        require(bool(status & STATUS_CAP_LIST), "status bit 4 (capability list)", "set",
                f"status {status:#x}")
        pointer = cfg.read(bdf, CAPABILITY_POINTER, 1)
        require(pointer & 3 == 0 and pointer >= 0x40, "capability pointer", ">= 0x40, aligned",
                f"{pointer:#x}")
        caps = capabilities(cfg, bdf)  # refuses loops and stray pointers (PCI-CFG-007)
        require(all(0x40 <= at <= 0xFC and at % 4 == 0 for at, _ in caps),
                "every capability inside 0x40..0xfc on a dword boundary", "yes",
                str([hex(at) for at, _ in caps]))
        ids = {cap_id for _, cap_id in caps}
        # MSI-X is optional (a device may interrupt with INTx only): the vendor ones are not
        require(0x09 in ids, "vendor-specific (virtio) capabilities present", "0x9",
                str(sorted(hex(i) for i in ids)))


@case("pci.config.msix-table", ("PCI-CFG-010",), "device", "pci",
      "MSI-X: table and PBA inside their BARs; after reset disabled, every entry masked")
def msix_table(target: object) -> None:
    with session(target) as s:
        drv = net_driver(s)
        t = drv.transport
        if t.msix is None:  # optional: e.g. QEMU's virtio-net-pci with vectors=0
            raise CaseSkipped("the device has no MSI-X capability")
        control = t.cfg.read(t.bdf, t.msix.cap + MSIX_CONTROL, 2)
        require(not control & MSIX_ENABLE, "MSI-X disabled after reset", "enable bit 0",
                f"control {control:#x}")
        masks = [s.host.mem_read(t.msix.table + MSIX_ENTRY_SIZE * v + MSIX_ENTRY_CONTROL, 4)
                 & MSIX_ENTRY_MASKED for v in range(t.msix.vectors)]
        require(all(masks), "every vector masked after reset", "all 1", str(masks))
        pba = s.host.mem_read(t.msix.pba, 4)
        require(pba == 0, "nothing pending after reset", "0", f"{pba:#x}")


@case("pci.config.msix-masking", ("PCI-CFG-011",), "device", "pci",
      "a masked vector's message waits in the PBA and is sent when the vector is unmasked")
def msix_masking(target: object) -> None:
    with up_session(target) as (s, drv):
        t = drv.transport
        assert t.msix is not None
        control_at = t.msix.table + MSIX_ENTRY_SIZE * TX_VECTOR + MSIX_ENTRY_CONTROL
        s.host.mem_write(control_at, 4, MSIX_ENTRY_MASKED)
        drv.send(frame(1))
        drv.wait_tx()
        require(quiet(lambda: drv.irq_count(TX_VECTOR) > 0, 0.2),
                "no message for the masked transmit vector", "no word written",
                f"{s.host.mem_read(drv.irq_page or 0, 4):#x}")
        pba = s.host.mem_read(t.msix.pba, 4)
        require(bool(pba & (1 << TX_VECTOR)), "the vector's pending bit is set", "bit 2 set",
                f"PBA {pba:#x}")
        s.host.mem_write(control_at, 4, 0)
        poll(lambda: drv.irq_count(TX_VECTOR) or None, 2.0, "the message after unmasking")
        word = s.host.mem_read((drv.irq_page or 0) + 4 * TX_VECTOR, 4)
        require(word == IRQ_DATA + TX_VECTOR, "message data", f"{IRQ_DATA + TX_VECTOR:#x}",
                f"{word:#x}")
        pba = s.host.mem_read(t.msix.pba, 4)
        require(not pba & (1 << TX_VECTOR), "pending bit clear once sent", "0", f"{pba:#x}")

