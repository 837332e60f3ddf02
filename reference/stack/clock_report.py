"""The counters of every layer of a :class:`ClockStack`, as ``(layer, counter, value)`` rows.

PCI: config cycles, BAR accesses by BAR, RAM accesses, MSI-X messages. virtio-pci: status
writes, resets, the negotiated features, DEVICE_NEEDS_RESET. virtio-shm: per region, the loads
and stores of each side and the driver stores refused; per signal, injections, coalesced ones,
notifications and what became of them; per table, updates, reads and retries. The clock: times
published, acted on, skipped because superseded or already acted on, and the failures of
:class:`ClockCheck`. The interrupt table: edges raised and handled.
"""

from __future__ import annotations

from virtiospec.reference.shm.signal import SignalReceiver
from virtiospec.reference.stack.clock_counters import CountingReader
from virtiospec.reference.stack.clock_numbers import (
    CLOCK_SHMID,
    CONFIG_VECTOR,
    IRQ_SHMID,
    signal_vector,
)
from virtiospec.reference.stack.clock_stack import ClockStack
from virtiospec.reference.virtio_pci.device import MSIX_BAR, SHM_BAR, STRUCT_BAR

Value = int | str
Row = tuple[str, str, Value]
NAMES = {CLOCK_SHMID: "clock", IRQ_SHMID: "irq table"}


def _readers(stack: ClockStack, shmid: int) -> list[CountingReader]:
    gens = stack.driver.generations()
    drivers = [c if shmid == CLOCK_SHMID else i for c, i in gens]
    return [d.reader for d in drivers if isinstance(d.reader, CountingReader)]


def _receivers(stack: ClockStack, shmid: int) -> list[SignalReceiver]:
    gens = stack.driver.generations()
    return [(c if shmid == CLOCK_SHMID else i).signal for c, i in gens]


def _pci(stack: ClockStack) -> list[Row]:
    h = stack.host.counters
    msix = stack.device.msix_table
    out: list[Row] = [("PCI", "config reads", h.config_reads),
                      ("PCI", "config writes", h.config_writes)]
    for bar, what in ((MSIX_BAR, "MSI-X"), (STRUCT_BAR, "virtio structures"),
                      (SHM_BAR, "shared memory")):
        out.append(("PCI", f"BAR{bar} ({what}) reads", h.bar_reads[bar]))
        out.append(("PCI", f"BAR{bar} ({what}) writes", h.bar_writes[bar]))
    out += [("PCI", "RAM reads (driver)", h.ram_reads),
            ("PCI", "RAM writes (driver)", h.ram_writes),
            ("PCI", "MSI-X messages", len(msix.sent) if msix is not None else 0),
            ("PCI", "master aborts", stack.machine.master_aborts)]
    return out


def _virtio(stack: ClockStack) -> list[Row]:
    dev, drv = stack.device, stack.driver
    sent = dev.msix_table.sent if dev.msix_table is not None else []
    features = drv.virtio.features if drv.virtio is not None else 0
    return [("virtio-pci", "device status writes", dev.status_writes),
            ("virtio-pci", "resets", dev.resets),
            ("virtio-pci", "bring-ups (DRIVER_OK)", drv.bring_ups),
            ("virtio-pci", "DEVICE_NEEDS_RESET", dev.failures),
            ("virtio-pci", "features negotiated", f"{features:#x}"),
            ("virtio-pci", "device configuration reads", dev.clock_backend.config.reads),
            ("virtio-pci", "configuration MSI-X messages",
             sum(v == CONFIG_VECTOR for v, _, _ in sent)),
            ("virtio-pci", "notifications ignored", dev.ignored_notifications)]


def _shm(stack: ClockStack) -> list[Row]:
    out: list[Row] = []
    dev, drv = stack.backend, stack.driver
    for shmid, name in NAMES.items():
        layer = f"region {shmid} ({name})"
        r = dev.regions[shmid].counters
        if drv.regions is not None and shmid in drv.regions:
            region = drv.regions[shmid]
            out.append((layer, "at, length", f"{region.base:#x}, {region.length:#x}"))
        out += [(layer, "driver loads", r.driver_loads), (layer, "driver stores", r.driver_stores),
                (layer, "driver stores refused", r.driver_refused),
                (layer, "device loads", r.device_loads), (layer, "device stores", r.device_stores)]
    for shmid, name in NAMES.items():
        layer = f"signal ({name})"
        sender = (dev.clock if shmid == CLOCK_SHMID else dev.irq).signal
        stats = dev.signals[shmid]
        out += [(layer, "injected", sender.injections), (layer, "coalesced", sender.coalesced),
                (layer, "notifications", sender.notifications),
                (layer, f"MSI-X messages (vector {signal_vector(shmid)})", stats.msix_sent),
                (layer, "left pending (masked)", stats.msix_pending),
                (layer, "seen by the driver", drv.irqs_seen[signal_vector(shmid)]),
                (layer, "acknowledged",
                 sum(r.acknowledgements for r in _receivers(stack, shmid)))]
    for shmid, name in NAMES.items():
        layer = f"table ({name})"
        writer = dev.clock_writer if shmid == CLOCK_SHMID else dev.irq_writer
        readers = _readers(stack, shmid)
        out += [(layer, "writes", writer.updates),
                (layer, "reads", sum(r.reads for r in readers)),
                (layer, "retries", sum(r.retries for r in readers)),
                (layer, "reads given up", sum(r.busy for r in readers))]
    return out


def _devices(stack: ClockStack) -> list[Row]:
    c, dev = stack.check, stack.backend
    failures = stack.failures()
    return [("clock", "times published", dev.published),
            ("clock", "acted on", c.acted),
            ("clock", "skipped: superseded before read", max(0, dev.published - c.acted)),
            ("clock", "skipped: version already acted on", c.unchanged),
            ("clock", "stale acted on", c.stale),
            ("clock", "torn acted on", c.torn),
            ("clock", "older than one acted on", c.backwards),
            ("clock", "newest acted on at the end",
             "no" if "latest time not acted on" in failures else "yes"),
            ("irq table", "edges raised", dev.edges_total),
            ("irq table", "edges handled", c.edges_total),
            ("irq table", "edges discarded by reset", c.edges_discarded),
            ("irq table", "edges counted twice", c.double_counted),
            ("irq table", "level changes raised", dev.level_changes),
            ("irq table", "level changes seen", c.level_changes_seen)]


def rows(stack: ClockStack) -> list[Row]:
    return _pci(stack) + _virtio(stack) + _shm(stack) + _devices(stack)


def as_dict(stack: ClockStack) -> dict[str, object]:
    """The rows grouped by layer, with the verdict: ``ok`` and the failures."""
    layers: dict[str, dict[str, Value]] = {}
    for layer, name, value in rows(stack):
        layers.setdefault(layer, {})[name] = value
    failures = stack.failures()
    return {"ok": not failures, "failures": failures, "counters": layers}
