"""The virtio-pci reference, both sides, through the in-process PCI bus: the device's status
machine, features, queue registers, notifications, ISR, configuration generation, the PCI
access window and shared memory capabilities; the driver's checks of what it finds."""

from __future__ import annotations

import pytest
from virtiospec.conformance.suites.virtio_pci.case_driver import CaseDriver
from virtiospec.reference.access import run
from virtiospec.reference.net.pci import PciNetDevice as NetDevice
from virtiospec.reference.pci import Machine, PhysMemory, Window
from virtiospec.reference.virtio_pci import (
    DeviceConfig,
    VirtioPciDevice,
    VirtioPciDriver,
    VirtioPciTransport,
)
from virtiospec.reference.virtio_pci.errors import (
    BadCapability,
    BadRegisterAccess,
    FeaturesRefused,
    GenerationUnstable,
    NotLive,
    QueueUnavailable,
    ResetTimeout,
    VectorRefused,
)
from virtiospec.reference.virtio_pci.regs import (
    ACKNOWLEDGE,
    CAP_BAR,
    CAP_LENGTH,
    CAP_OFFSET,
    CAP_PCI_CFG_DATA,
    DEVICE_NEEDS_RESET,
    DRIVER,
    DRIVER_OK,
    F_VERSION_1,
    FAILED,
    FEATURES_OK,
    ISR_CONFIG,
    ISR_QUEUE,
    NET_F_MAC,
    NO_VECTOR,
    bit,
)

MMIO = Window(0xE000_0000, 0x1000_0000)
V1 = bit(F_VERSION_1)


class Rig:
    def __init__(self, **device_options: object) -> None:
        self.machine = Machine(2 << 20)
        self.net = NetDevice(queue_size=8)
        self.dev = VirtioPciDevice(self.net, **device_options)  # type: ignore[arg-type]
        self.machine.plug(3, 0, self.dev)
        self.t = VirtioPciTransport.probe(self.machine, 1, MMIO)
        self.mem = PhysMemory(self.machine)

    def read(self, name: str) -> int:
        return run(self.t.read(name), self.mem)

    def write(self, name: str, value: int) -> None:
        run(self.t.write(name, value), self.mem)

    def status(self) -> int:
        return run(self.t.status(), self.mem)

    def set_status(self, value: int) -> None:
        run(self.t.set_status(value), self.mem)

    def features(self, value: int) -> None:
        run(self.t.set_driver_features(value), self.mem)

    def negotiate(self, value: int = V1 | bit(NET_F_MAC)) -> int:
        self.set_status(0)
        self.set_status(ACKNOWLEDGE | DRIVER)
        self.features(value)
        self.set_status(ACKNOWLEDGE | DRIVER | FEATURES_OK)
        return self.status()

    def driver(self, **options: object) -> CaseDriver:
        return CaseDriver(self.machine, self.t, Window(0x10_0000, 0x10_0000), **options)  # type: ignore[arg-type]


@pytest.mark.req("VIRTIO-FEAT-005", "VIRTIO-FEAT-006", "VIRTIO-PCI-022")
def test_features_ok_only_for_an_offered_subset_with_version_1() -> None:
    rig = Rig()
    assert rig.negotiate() & FEATURES_OK
    assert run(rig.t.driver_features(), rig.mem) == V1 | bit(NET_F_MAC)
    assert not rig.negotiate(V1 | bit(0)) & FEATURES_OK  # CSUM is not offered
    assert run(rig.t.driver_features(), rig.mem) == V1  # only valid bits are shown
    assert not rig.negotiate(bit(NET_F_MAC)) & FEATURES_OK  # no VERSION_1


@pytest.mark.req("VIRTIO-FEAT-008")
def test_features_frozen_after_features_ok() -> None:
    rig = Rig()
    rig.negotiate(V1)
    rig.features(V1 | bit(NET_F_MAC))
    assert rig.dev.negotiated == V1
    assert run(rig.t.driver_features(), rig.mem) == V1
    rig.set_status(0)
    rig.features(V1 | bit(NET_F_MAC))
    assert rig.dev.driver_features == V1 | bit(NET_F_MAC)


@pytest.mark.req("VIRTIO-STATUS-001", "VIRTIO-STATUS-002")
def test_status_bits_only_go_away_by_reset_and_driver_ok_needs_features() -> None:
    rig = Rig()
    rig.set_status(ACKNOWLEDGE | DRIVER)
    rig.set_status(DRIVER_OK)
    assert rig.status() == ACKNOWLEDGE | DRIVER  # no DRIVER_OK without FEATURES_OK
    rig.set_status(ACKNOWLEDGE)
    assert rig.status() == ACKNOWLEDGE | DRIVER  # clearing DRIVER is ignored
    rig.set_status(ACKNOWLEDGE | DRIVER | DEVICE_NEEDS_RESET)
    assert not rig.status() & DEVICE_NEEDS_RESET  # the device's bit
    rig.set_status(ACKNOWLEDGE | DRIVER | FAILED)
    assert rig.status() == ACKNOWLEDGE | DRIVER | FAILED
    rig.set_status(0)
    assert rig.status() == 0


@pytest.mark.req("VIRTIO-PCI-024", "VIRTIO-PCI-026", "VIRTIO-STATUS-007", "VIRTIO-PCI-040")
def test_queue_registers_sizes_freeze_and_reset() -> None:
    rig = Rig()
    rig.write("queue_select", 0)
    assert rig.read("queue_size") == 8
    for bad in (0, 3, 16):
        rig.write("queue_size", bad)
        assert rig.read("queue_size") == 8
    rig.write("queue_size", 4)
    rig.write("queue_desc", 0x1_0000)
    rig.write("queue_msix_vector", 2)
    rig.write("queue_enable", 1)
    rig.write("queue_size", 2)  # the queue is enabled: fixed
    rig.write("queue_enable", 0)  # drivers never write 0; ignored
    assert (rig.read("queue_size"), rig.read("queue_enable"), rig.read("queue_desc")) == \
        (4, 1, 0x1_0000)
    assert rig.read("queue_msix_vector") == 2
    rig.write("queue_msix_vector", 4)  # the table has 4 vectors: 0..3
    assert rig.read("queue_msix_vector") == NO_VECTOR
    rig.write("queue_select", 2)
    assert rig.read("queue_size") == 0
    rig.write("queue_enable", 1)
    rig.set_status(0)
    rig.write("queue_select", 0)
    assert (rig.read("queue_size"), rig.read("queue_enable"), rig.read("queue_desc"),
            rig.read("queue_msix_vector")) == (8, 0, 0, NO_VECTOR)


@pytest.mark.req("VIRTIO-PCI-004", "PCI-CFG-008")
def test_wrong_register_widths_are_refused_without_effect() -> None:
    rig = Rig()
    common = rig.t.structures.common
    for addr, size in ((common + 20, 2), (common + 32, 8), (common + 22, 1), (common + 5, 1)):
        with pytest.raises(BadRegisterAccess):
            rig.machine.mem_write(addr, size, 1)
    with pytest.raises(BadRegisterAccess):
        rig.machine.mem_read(rig.t.structures.isr, 4)
    with pytest.raises(BadRegisterAccess):
        rig.machine.mem_write(rig.t.structures.notify, 4, 0)
    assert rig.status() == 0 and rig.read("queue_desc") == 0 and rig.read("queue_select") == 0


@pytest.mark.req("VIRTIO-PCI-023")
def test_read_only_fields_ignore_writes() -> None:
    rig = Rig()
    for name in ("num_queues", "device_feature", "config_generation", "queue_notify_off"):
        before = rig.read(name)
        rig.write(name, 0)
        assert rig.read(name) == before


@pytest.mark.req("VIRTIO-STATUS-003", "VIRTIO-STATUS-010", "VIRTIO-PCI-030")
def test_notifications_before_driver_ok_or_at_the_wrong_address_are_ignored() -> None:
    rig = Rig()
    drv = rig.driver()
    drv.negotiate()
    drv.setup_queue(0, None)
    tx = drv.setup_queue(1, None)
    rig.machine.write_bytes(tx.buffers[0], bytes(12) + b"x" * 60)
    run(tx.ring.add([(tx.buffers[0], 72)], [], 0), rig.mem)
    with pytest.raises(NotLive):
        run(drv.driver.notify(1, tx.notify_addr), rig.mem)
    run(rig.t.notify(1, tx.notify_addr), rig.mem)
    assert rig.dev.ignored_notifications == 1 and not rig.net.wire.sent
    run(drv.driver.go_live(), rig.mem)
    run(rig.t.notify(1, tx.notify_addr - 4), rig.mem)  # queue 1 at queue 0's address
    assert rig.dev.ignored_notifications == 2 and not rig.net.wire.sent
    run(drv.driver.notify(1, tx.notify_addr), rig.mem)
    assert list(rig.net.wire.sent) == [b"x" * 60]


@pytest.mark.req("VIRTIO-PCI-031", "VIRTIO-PCI-032", "PCI-CFG-012")
def test_isr_with_intx_reads_and_clears() -> None:
    rig = Rig()
    drv = rig.driver(msix=False)
    drv.bring_up()
    drv.send(b"y" * 60)
    assert rig.dev.irq_level and rig.dev.intx_asserted
    assert run(rig.t.read_isr(), rig.mem) == ISR_QUEUE
    assert run(rig.t.read_isr(), rig.mem) == 0 and not rig.dev.intx_asserted
    rig.net.set_link(False)
    assert run(rig.t.read_isr(), rig.mem) == ISR_CONFIG


@pytest.mark.req("VIRTIO-STATUS-004", "RING-SPLIT-080", "VIRTIO-PCI-042")
def test_hostile_ring_sets_needs_reset_and_config_interrupt() -> None:
    rig = Rig()
    drv = rig.driver()
    drv.bring_up()
    tx = drv.queues[1]
    lay = tx.ring.layout
    rig.machine.ram.write(lay.avail_ring(0), 2, 99)
    rig.machine.ram.write(lay.avail_idx, 2, 1)
    run(rig.t.notify(1, tx.notify_addr), rig.mem)
    assert rig.status() & DEVICE_NEEDS_RESET
    assert rig.dev.error is not None and getattr(rig.dev.error, "req", "") == "RING-SPLIT-080"
    assert drv.irq_count(0) == 1  # the configuration vector
    run(rig.t.notify(1, tx.notify_addr), rig.mem)  # a broken device uses nothing
    assert not rig.net.wire.sent and rig.machine.ram.read(lay.used_idx, 2) == 0
    again = rig.driver()
    again.bring_up()
    again.send(b"z" * 60)
    assert list(rig.net.wire.sent) == [b"z" * 60]


@pytest.mark.req("VIRTIO-PCI-050")
def test_generation_moves_once_per_read_of_changed_configuration() -> None:
    config = DeviceConfig(bytes(8))
    g = config.generation
    for n in range(300):
        config.update(0, n.to_bytes(2, "little"))
    assert config.generation == g  # nothing read yet
    config.read(0, 2)
    assert config.generation == (g + 1) & 0xFF
    config.read(0, 2)
    assert config.generation == (g + 1) & 0xFF
    assert not config.update(0, (299).to_bytes(2, "little"))  # no change, no flag


@pytest.mark.req("VIRTIO-PCI-051")
def test_generation_loop_is_bounded() -> None:
    class Restless(DeviceConfig):
        def read(self, offset: int, size: int) -> int:
            value = super().read(offset, size)
            self.changed = True
            return value

    net = NetDevice()
    net.config = Restless(net.config.snapshot())
    m = Machine(1 << 20)
    m.plug(3, 0, VirtioPciDevice(net))
    t = VirtioPciTransport.probe(m, 1, MMIO)
    with pytest.raises(GenerationUnstable):
        run(t.config_fields([(0, 1), (1, 1)]), PhysMemory(m))
    with pytest.raises(GenerationUnstable):
        run(t.config_fields([(0, 1)] * 256), PhysMemory(m))


@pytest.mark.req("VIRTIO-PCI-015")
def test_pci_cfg_window_ignores_bad_requests() -> None:
    rig = Rig()
    at = rig.t.structures.pci_cfg
    assert at is not None
    cfg, bdf = rig.t.cfg, rig.t.bdf
    for bar, offset, length in ((2, 20, 3), (2, 21, 2), (2, 0x3FF0, 4), (0, 0, 4)):
        cfg.write(bdf, at + CAP_BAR, 1, bar)
        cfg.write(bdf, at + CAP_OFFSET, 4, offset)
        cfg.write(bdf, at + CAP_LENGTH, 4, length)
        cfg.write(bdf, at + CAP_PCI_CFG_DATA, 4, ACKNOWLEDGE)
    assert rig.status() == 0
    cfg.write(bdf, at + CAP_BAR, 1, 2)
    cfg.write(bdf, at + CAP_OFFSET, 4, 20)
    cfg.write(bdf, at + CAP_LENGTH, 4, 1)
    cfg.write(bdf, at + CAP_PCI_CFG_DATA, 4, ACKNOWLEDGE)
    assert rig.status() == ACKNOWLEDGE


@pytest.mark.req("VIRTIO-PCI-014", "VIRTIO-PCI-010")
def test_shared_memory_regions_are_found_through_64_bit_capabilities() -> None:
    rig = Rig(shm_regions={3: 0x2000, 1: 0x1000})
    shm = rig.t.structures.shm
    bar4 = rig.t.bars[4]
    assert set(shm) == {1, 3}
    assert shm[1] == (bar4.address, 0x1000) and shm[3] == (bar4.address + 0x1000, 0x2000)
    assert all(c.cap_len == 24 for c in rig.t.structures.caps if c.cfg_type == 8)


@pytest.mark.req("VIRTIO-PCI-013")
def test_driver_refuses_an_odd_notify_multiplier() -> None:
    m = Machine(1 << 20)
    m.plug(3, 0, VirtioPciDevice(NetDevice(), notify_multiplier=6))
    with pytest.raises(BadCapability):
        VirtioPciTransport.probe(m, 1, MMIO)


@pytest.mark.req("VIRTIO-PCI-041", "VIRTIO-PCI-024")
def test_driver_checks_vectors_and_queue_sizes() -> None:
    rig = Rig(msix_vectors=0)
    with pytest.raises(VectorRefused):
        run(rig.t.map_vector("config_msix_vector", 0), rig.mem)
    run(rig.t.map_vector("config_msix_vector", NO_VECTOR), rig.mem)
    from virtiospec.reference.ring import SplitLayout

    with pytest.raises(QueueUnavailable):
        run(rig.t.setup_queue(5, SplitLayout.packed_at(0x1000, 4), None), rig.mem)
    with pytest.raises(QueueUnavailable):
        run(rig.t.setup_queue(0, SplitLayout.packed_at(0x1000, 16), None), rig.mem)


@pytest.mark.req("VIRTIO-STATUS-006", "VIRTIO-FEAT-009", "VIRTIO-STATUS-009")
def test_driver_gives_up_cleanly() -> None:
    class Stuck(VirtioPciDevice):
        def common_read(self, name: str) -> int:
            return 1 if name == "device_status" else super().common_read(name)

    m = Machine(1 << 20)
    m.plug(3, 0, Stuck(NetDevice()))
    t = VirtioPciTransport.probe(m, 1, MMIO)
    t.reset_polls = 10
    with pytest.raises(ResetTimeout):
        run(VirtioPciDriver(t, 0).negotiate(), PhysMemory(m))

    class Refusing(VirtioPciDevice):
        def accept_features(self) -> bool:
            return False

    m = Machine(1 << 20)
    dev = Refusing(NetDevice())
    m.plug(3, 0, dev)
    t = VirtioPciTransport.probe(m, 1, MMIO)
    driver = VirtioPciDriver(t, bit(NET_F_MAC))
    with pytest.raises(FeaturesRefused):
        run(driver.negotiate(), PhysMemory(m))
    assert dev.status & FAILED and not dev.status & DRIVER_OK


@pytest.mark.req("VIRTIO-PCI-001", "VIRTIO-PCI-003", "VIRTIO-PCI-020", "VIRTIO-PCI-021",
                 "VIRTIO-FEAT-004")
def test_identity_layout_and_offered_features() -> None:
    rig = Rig()
    f = rig.t.function
    assert (f.vendor, f.device, f.revision) == (0x1AF4, 0x1041, 1) and f.subsystem >= 0x40
    common = rig.t.structures.common
    assert rig.machine.mem_read(common + 18, 2) == 2  # num_queues at offset 18
    rig.machine.mem_write(common + 22, 2, 1)  # queue_select at 22
    assert rig.machine.mem_read(common + 24, 2) == 8  # queue_size at 24
    assert rig.machine.mem_read(common + 30, 2) == 1  # queue_notify_off at 30
    words = []
    for select in range(4):
        rig.write("device_feature_select", select)
        words.append(rig.read("device_feature"))
    assert words[1] & 1 and words[2:] == [0, 0]  # VERSION_1 offered, nothing above bit 63


@pytest.mark.req("VIRTIO-PCI-011")
def test_driver_ignores_reserved_capabilities_and_takes_the_first_of_each_type() -> None:
    from virtiospec.reference.pci.regs import CAPABILITY_POINTER
    from virtiospec.reference.virtio_pci import caps

    m = Machine(1 << 20)
    dev = VirtioPciDevice(NetDevice())
    head = dev.config.get(CAPABILITY_POINTER, 1)
    reserved_type = dev.config.add_capability(0x09, caps.body(7, 2, 0, 64))
    reserved_bar = dev.config.add_capability(0x09, caps.body(1, 6, 0x100, 64))
    last = dev.config.capabilities[-3][0]
    dev.config.put(last + 1, 1, 0)  # unlink the two new ones from the end of the list ...
    dev.config.put(CAPABILITY_POINTER, 1, reserved_type)  # ... and put them in front
    dev.config.put(reserved_type + 1, 1, reserved_bar)
    dev.config.put(reserved_bar + 1, 1, head)
    m.plug(3, 0, dev)
    t = VirtioPciTransport.probe(m, 1, MMIO)
    assert [c.cfg_type for c in t.structures.caps][:2] == [7, 1]
    assert t.structures.common == t.bars[2].address  # the real one, at offset 0 of BAR2
    assert run(t.status(), PhysMemory(m)) == 0


@pytest.mark.req("VIRTIO-PCI-052", "VIRTIO-PCI-053")
def test_configuration_read_before_features_and_under_change() -> None:
    class Flips(DeviceConfig):
        """Changes the MAC the first time its third byte is read."""

        flipped = False

        def read(self, offset: int, size: int) -> int:
            value = super().read(offset, size)
            if offset == 2 and not self.flipped:
                self.flipped = True
                self.update(0, bytes(range(10, 16)))
            return value

    net = NetDevice()
    net.config = Flips(net.config.snapshot())
    m = Machine(1 << 20)
    m.plug(3, 0, VirtioPciDevice(net))
    t = VirtioPciTransport.probe(m, 1, MMIO)
    mem = PhysMemory(m)
    run(t.set_status(ACKNOWLEDGE | DRIVER), mem)  # before FEATURES_OK
    mac = bytes(run(t.config_fields([(i, 1) for i in range(6)]), mem))
    assert mac == bytes(range(10, 16))  # not 52:54:00 followed by 0d:0e:0f


@pytest.mark.req("VIRTIO-FEAT-002", "VIRTIO-FEAT-003", "VIRTIO-FEAT-007", "VIRTIO-FEAT-010")
def test_driver_negotiation_and_renegotiation() -> None:
    from virtiospec.models.virtio_pci.driver_init import Recorder

    rig = Rig()
    driver = VirtioPciDriver(rig.t, bit(NET_F_MAC) | bit(0) | bit(44))  # 0, 44: not offered
    log = Recorder(rig.mem, rig.t.structures.common)
    got = run(driver.negotiate(), log)
    assert got == V1 | bit(NET_F_MAC) and rig.dev.negotiated == got
    ok_at = next(i for i, (kind, name, value) in enumerate(log.events)
                 if kind == "store" and name == "device_status" and value & FEATURES_OK)
    assert not [e for e in log.events[ok_at:] if e[0] == "store" and e[1] == "driver_feature"]
    again = run(VirtioPciDriver(rig.t, bit(NET_F_MAC)).negotiate(), rig.mem)
    assert again == got and rig.status() & FEATURES_OK  # the same set, accepted again

    no_v1 = Machine(1 << 20)
    dev = VirtioPciDevice(NetDevice(features=bit(NET_F_MAC)))
    no_v1.plug(3, 0, dev)
    t = VirtioPciTransport.probe(no_v1, 1, MMIO)
    from virtiospec.reference.virtio_pci.errors import VersionNotOffered

    with pytest.raises(VersionNotOffered):
        run(VirtioPciDriver(t, bit(NET_F_MAC)).negotiate(), PhysMemory(no_v1))
    assert dev.status & FAILED and not dev.status & FEATURES_OK
    assert dev.driver_features == 0  # nothing accepted, nothing written
