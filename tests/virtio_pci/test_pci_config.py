"""The PCI reference: configuration space, mechanism #1, BARs, decoding, bus mastering,
capability walks and MSI-X, including hostile accesses that must change nothing."""

from __future__ import annotations

import itertools

import pytest
from virtiospec.reference.pci import (
    BarKind,
    BarSpec,
    Bdf,
    ConfigMechanism1,
    Machine,
    Msix,
    PciFunction,
    Window,
    assign_bars,
    capabilities,
    enable,
    scan,
    size_bars,
)
from virtiospec.reference.pci.config import ConfigSpace
from virtiospec.reference.pci.errors import (
    BadAccess,
    BadBar,
    BadCapabilityList,
    BusMasterDisabled,
    OutOfRange,
    PciError,
)
from virtiospec.reference.pci.regs import (
    CAPABILITY_POINTER,
    CMD_BUS_MASTER,
    CMD_INTX_DISABLE,
    COMMAND,
    MSIX_CONTROL,
    MSIX_ENABLE,
    MSIX_FUNCTION_MASK,
    STATUS,
    STATUS_CAP_LIST,
    STATUS_INTERRUPT,
)

MMIO = 0xE000_0000


def _machine() -> tuple[Machine, PciFunction, ConfigMechanism1, Bdf]:
    m = Machine(1 << 20)
    f = PciFunction(vendor=0x1AF4, device=0x1041, class_code=0x020000, revision=1,
                    subsystem=0x40)
    f.add_bar(BarSpec(0, BarKind.MEM32, 0x1000))
    f.add_bar(BarSpec(2, BarKind.MEM64, 0x4000, prefetchable=True))
    f.add_bar(BarSpec(5, BarKind.IO, 0x20))
    m.plug(3, 0, f)
    return m, f, ConfigMechanism1(m), Bdf(0, 3, 0)


@pytest.mark.req("PCI-CFG-001")
def test_mechanism1_reads_ids_and_all_ones_for_absent_functions() -> None:
    _m, _, cfg, bdf = _machine()
    assert cfg.read(bdf, 0, 4) == 0x1041_1AF4
    assert cfg.read(bdf, 2, 2) == 0x1041
    assert cfg.read(bdf, 1, 1) == 0x1A
    assert cfg.read(Bdf(0, 4, 0), 0, 4) == 0xFFFF_FFFF
    assert cfg.read(Bdf(1, 3, 0), 0, 2) == 0xFFFF  # another bus
    assert [f.bdf for f in scan(cfg)] == [bdf]


@pytest.mark.req("PCI-CFG-001", "PCI-CFG-008")
def test_config_data_port_rules() -> None:
    m, _f, _cfg, _bdf = _machine()
    m.io_write(0xCF8, 4, 0x8000_1800)  # bus 0, dev 3, fn 0, register 0
    assert m.io_read(0xCFE, 2) == 0x1041
    with pytest.raises(BadAccess):
        m.io_read(0xCFD, 4)  # would cross the data dword
    with pytest.raises(BadAccess):
        m.io_read(0xCFD, 2)  # not aligned inside it
    m.io_write(0xCF8, 2, 0x1234)  # not a dword: not the address latch
    assert m.io_read(0xCF8, 4) == 0x8000_1800
    m.io_write(0xCF8, 4, 0x0000_1800)  # enable bit clear: no config cycle
    aborts = m.master_aborts
    assert m.io_read(0xCFC, 4) == 0xFFFF_FFFF
    assert m.master_aborts == aborts + 1


@pytest.mark.req("PCI-CFG-008")
@pytest.mark.parametrize(("offset", "size", "value"), [
    (1, 2, 0), (2, 4, 0), (0xFE, 4, 0), (0x100, 1, 0), (-1, 1, 0), (4, 3, 0), (4, 2, 0x10000),
    (4, 1, -1),
])
def test_hostile_config_writes_are_refused_and_change_nothing(offset: int, size: int,
                                                             value: int) -> None:
    _, f, _, _ = _machine()
    before = bytes(f.config.data)
    with pytest.raises(PciError) as err:
        f.config.write(offset, size, value)
    assert err.value.req == "PCI-CFG-008"
    assert bytes(f.config.data) == before


@pytest.mark.req("PCI-CFG-002")
def test_read_only_header_and_write_one_to_clear_status() -> None:
    _, f, cfg, bdf = _machine()
    for offset, size in ((0, 2), (2, 2), (8, 4), (0x2C, 4), (CAPABILITY_POINTER, 1)):
        before = cfg.read(bdf, offset, size)
        cfg.write(bdf, offset, size, ~before & ((1 << (8 * size)) - 1))
        assert cfg.read(bdf, offset, size) == before
    cfg.write(bdf, COMMAND, 2, 0xFFFF)
    assert cfg.read(bdf, COMMAND, 2) == 0x0547  # only the implemented bits
    f.config.put(STATUS, 2, 0x2000)  # received master abort
    cfg.write(bdf, STATUS, 2, 0x2000)
    assert cfg.read(bdf, STATUS, 2) == 0


@pytest.mark.req("PCI-CFG-003")
def test_bar_sizing_reads_back_size_and_type() -> None:
    _, _, cfg, bdf = _machine()
    bars = {b.index: b for b in size_bars(cfg, bdf)}
    assert set(bars) == {0, 2, 5}
    assert (bars[0].kind, bars[0].size) == (BarKind.MEM32, 0x1000)
    assert (bars[2].kind, bars[2].size, bars[2].prefetchable) == (BarKind.MEM64, 0x4000, True)
    assert (bars[5].kind, bars[5].size) == (BarKind.IO, 0x20)
    cfg.write(bdf, 0x10, 4, 0xFFFF_FFFF)
    assert cfg.read(bdf, 0x10, 4) == 0xFFFF_F000
    cfg.write(bdf, 0x18, 4, 0xFFFF_FFFF)
    assert cfg.read(bdf, 0x18, 4) == 0xFFFF_C00C  # 64-bit, prefetchable
    cfg.write(bdf, 0x24, 4, 0xFFFF_FFFF)
    assert cfg.read(bdf, 0x24, 4) == 0xFFFF_FFE1  # I/O


@pytest.mark.req("PCI-CFG-003")
@pytest.mark.parametrize("spec", [
    dict(index=0, kind=BarKind.MEM32, size=8), dict(index=0, kind=BarKind.MEM32, size=0x3000),
    dict(index=5, kind=BarKind.MEM64, size=0x1000), dict(index=6, kind=BarKind.MEM32, size=16),
    dict(index=1, kind=BarKind.IO, size=0x200),
])
def test_impossible_bars_are_refused(spec: dict) -> None:  # type: ignore[type-arg]
    with pytest.raises(BadBar):
        BarSpec(**spec)


@pytest.mark.req("PCI-CFG-004", "PCI-CFG-008")
def test_decoding_follows_the_command_register_and_bar_ends() -> None:
    m, f, cfg, bdf = _machine()
    seen: list[tuple[int, int]] = []

    class Probe:
        size = 0x10

        def read(self, offset: int, size: int) -> int:
            return 0xAB

        def write(self, offset: int, size: int, value: int) -> None:
            seen.append((offset, value))

    f.map(0, 0x100, Probe())
    bars = assign_bars(cfg, bdf, size_bars(cfg, bdf), Window(MMIO, 0x10_0000))
    base = next(b.address for b in bars if b.index == 0)
    m.mem_write(base + 0x100, 4, 1)
    assert seen == [] and m.mem_read(base + 0x100, 1) == 0xFF  # decoding off: master abort
    enable(cfg, bdf, memory=True)
    m.mem_write(base + 0x104, 4, 2)
    assert seen == [(4, 2)] and m.mem_read(base + 0x100, 1) == 0xAB
    assert m.mem_read(base + 0x200, 4) == 0  # a hole inside the BAR
    with pytest.raises(BadAccess):
        m.mem_read(base + 0x10C, 8)  # splits the register block's end
    with pytest.raises(OutOfRange):
        m.mem_read(m.ram.size - 4, 8)  # straddles the end of RAM
    with pytest.raises(BadAccess):
        m.mem_read(base + 0x101, 2)  # unaligned MMIO
    assert seen == [(4, 2)]


@pytest.mark.req("PCI-CFG-005", "PCI-CFG-011")
def test_bus_master_enable_gates_dma_and_msix() -> None:
    m, f, cfg, bdf = _machine()
    msix = Msix(f, 2, 0, 0, 0, 0x800)
    with pytest.raises(BusMasterDisabled):
        f.dma().write(0x1000, 4, 1)
    bars = assign_bars(cfg, bdf, size_bars(cfg, bdf), Window(MMIO, 0x10_0000))
    table = next(b.address for b in bars if b.index == 0)
    enable(cfg, bdf, memory=True, bus_master=False)
    m.mem_write(table, 4, 0x2000)  # entry 0 -> guest RAM word 0x2000
    m.mem_write(table + 8, 4, 0x77)
    m.mem_write(table + 12, 4, 0)  # unmask
    cfg.write(bdf, msix.cap + MSIX_CONTROL, 2, MSIX_ENABLE)
    assert not msix.notify(0)
    assert m.ram.read(0x2000, 4) == 0 and msix.pending == {0}
    cfg.write(bdf, COMMAND, 2, cfg.read(bdf, COMMAND, 2) | CMD_BUS_MASTER)
    f.dma().write(0x1000, 4, 5)
    assert m.ram.read(0x1000, 4) == 5
    cfg.write(bdf, msix.cap + MSIX_CONTROL, 2, MSIX_ENABLE)  # any control write re-delivers
    assert m.ram.read(0x2000, 4) == 0x77 and msix.pending == set()


@pytest.mark.req("PCI-CFG-010", "PCI-CFG-011")
def test_msix_masking_pending_bits_and_table_access_rules() -> None:
    m, f, cfg, bdf = _machine()
    msix = Msix(f, 3, 0, 0, 0, 0x800)
    bars = assign_bars(cfg, bdf, size_bars(cfg, bdf), Window(MMIO, 0x10_0000))
    base = next(b.address for b in bars if b.index == 0)
    enable(cfg, bdf, memory=True, bus_master=True)
    assert [m.mem_read(base + 16 * v + 12, 4) for v in range(3)] == [1, 1, 1]  # masked
    assert cfg.read(bdf, msix.cap + MSIX_CONTROL, 2) == 2  # table size 3 - 1, disabled
    m.mem_write(base + 16, 8, 0x3000)  # qword write of entry 1's address
    m.mem_write(base + 24, 4, 0xAA)
    cfg.write(bdf, msix.cap + MSIX_CONTROL, 2, MSIX_ENABLE | MSIX_FUNCTION_MASK)
    m.mem_write(base + 28, 4, 0)  # entry unmasked, function still masked
    msix.notify(1)
    assert m.mem_read(base + 0x800, 4) == 0b10 and m.ram.read(0x3000, 4) == 0
    cfg.write(bdf, msix.cap + MSIX_CONTROL, 2, MSIX_ENABLE)
    assert m.ram.read(0x3000, 4) == 0xAA and m.mem_read(base + 0x800, 4) == 0
    with pytest.raises(BadAccess):
        m.mem_write(base + 2, 2, 0)  # word access to the table
    m.mem_write(base + 0x800, 4, 0xFF)  # the PBA is read-only
    assert m.mem_read(base + 0x800, 4) == 0
    msix.reset()
    assert not msix.enabled and all(e.masked for e in msix.entries)


@pytest.mark.req("PCI-CFG-012")
def test_intx_status_bit_and_interrupt_disable() -> None:
    _, f, cfg, bdf = _machine()
    f.set_irq(True)
    assert cfg.read(bdf, STATUS, 2) & STATUS_INTERRUPT and f.intx_asserted
    cfg.write(bdf, COMMAND, 2, CMD_INTX_DISABLE)
    assert cfg.read(bdf, STATUS, 2) & STATUS_INTERRUPT and not f.intx_asserted
    f.set_irq(False)
    assert not cfg.read(bdf, STATUS, 2) & STATUS_INTERRUPT


def _looping_function(pointers: list[int]) -> tuple[ConfigMechanism1, Bdf]:
    m = Machine(1 << 16)
    f = PciFunction(vendor=0x1234, device=1, class_code=0)
    f.config.put(STATUS, 2, STATUS_CAP_LIST)
    f.config.put(CAPABILITY_POINTER, 1, pointers[0])
    for here, nxt in itertools.pairwise(pointers):
        f.config.put(here, 1, 0x09)
        f.config.put(here + 1, 1, nxt)
    m.plug(0, 0, f)
    return ConfigMechanism1(m), Bdf(0, 0, 0)


@pytest.mark.req("PCI-CFG-006", "PCI-CFG-007")
@pytest.mark.parametrize("pointers", [[0x40, 0x50, 0x40], [0x40, 0x20], [0x40, 0x40], [0x3C]])
def test_capability_walk_refuses_loops_and_stray_pointers(pointers: list[int]) -> None:
    cfg, bdf = _looping_function(pointers)
    with pytest.raises(BadCapabilityList) as err:
        capabilities(cfg, bdf)
    assert err.value.req == "PCI-CFG-007"


@pytest.mark.req("PCI-CFG-006")
def test_capability_list_is_built_linked_and_walked() -> None:
    space = ConfigSpace()
    a = space.add_capability(0x09, bytes(14))
    b = space.add_capability(0x11, bytes(10))
    assert (a, b) == (0x40, 0x50)
    assert space.get(CAPABILITY_POINTER, 1) == 0x40 and space.get(a + 1, 1) == b
    assert space.get(STATUS, 2) & STATUS_CAP_LIST
    with pytest.raises(BadCapabilityList):
        for _ in range(20):
            space.add_capability(0x09, bytes(14))
