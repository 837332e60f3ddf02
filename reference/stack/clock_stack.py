"""The clock over the whole stack: **PCI → virtio-pci → virtio-shm**, in one process.

:class:`ClockStack` plugs a :class:`ClockPciDevice` into an in-process
:class:`~virtiospec.reference.pci.Machine`, and a :class:`ClockStackDriver` finds it through
configuration mechanism #1, brings it up through virtio-pci, discovers its shared memory
regions through their capabilities and maps them (spec/shm.md, SHM-CLOCK-004, SHM-CLOCK-005,
SHM-CLOCK-006, SHM-CLOCK-007, SHM-CLOCK-008, SHM-CLOCK-009, SHM-CLOCK-010, SHM-CLOCK-011). Then the
platform clock ticks: each tick the device publishes the time and an interrupt edge
(:meth:`ClockBackend.tick`); every ``lag`` ticks the driver runs a round: it takes the MSI-X
messages that arrived and services the clock and the interrupt table. A round and the tick it
coincides with are stepped against each other access by access in an order drawn from a seeded
generator, so the driver's reads overlap the device's updates.

Every layer counts (reference/stack/clock_report.py prints them); :class:`ClockCheck` judges
every time the driver acted on.
"""

from __future__ import annotations

import random

from virtiospec.reference.access import Op
from virtiospec.reference.pci.discovery import Window
from virtiospec.reference.pci.machine import Machine
from virtiospec.reference.shm.errors import TableBusy
from virtiospec.reference.stack.clock_check import ClockCheck
from virtiospec.reference.stack.clock_counters import CountingHost
from virtiospec.reference.stack.clock_device import ClockPciDevice
from virtiospec.reference.stack.clock_driver import ClockStackDriver
from virtiospec.reference.stack.clock_numbers import CONFIG_VECTOR
from virtiospec.reference.stack.clock_steps import Thread, interleave, run_alone
from virtiospec.reference.virtio_pci.regs import DEVICE_NEEDS_RESET

SLOT = 4
RAM_SIZE = 4 << 20
RAM_WINDOW = (0x10_0000, 0x30_0000)
MMIO_WINDOW = (0xE000_0000, 0x1000_0000)
TICK_NS = 1_000_000
START_NS = (1 << 32) - 16 * TICK_NS  # the high word of the time changes at the 16th tick
MAX_RECHECKS = 8  # services per round while the signal keeps finding something pending
SETTLE_ROUNDS = 4


class ClockStack:
    def __init__(self, *, irq_lines: int = 2, seed: int = 0) -> None:
        self.machine = Machine(RAM_SIZE)
        self.device = ClockPciDevice(irq_lines)
        self.backend = self.device.clock_backend
        self.machine.plug(SLOT, 0, self.device)
        self.host = CountingHost(self.machine, self.device)
        self.driver = ClockStackDriver(self.host, Window(*MMIO_WINDOW), Window(*RAM_WINDOW))
        self.rng = random.Random(seed)
        self.check = ClockCheck()
        self.needs_reset = False
        self.recoveries = 0
        self.rounds = 0
        self.clock_due = self.irq_due = False  # service without waiting for a notification

    # -- bring-up and recovery -------------------------------------------------------------
    def bring_up(self) -> None:
        """Enumerate, then :meth:`start`."""
        self.driver.probe()
        self.start()

    def start(self) -> None:
        """Bring the device up (VIRTIO-STATUS-008, SHM-CLOCK-007) and service it once, as a
        driver does before it first waits: read what is there, then enable the signals."""
        self.driver.bring_up()
        self.check.completed(self.backend.clock.now)  # published at DRIVER_OK (SHM-CLOCK-009)
        self.clock_due = self.irq_due = True
        run_alone(Thread("driver", self.driver_round(), self.driver.memory))

    def recover(self) -> None:
        """The device reported DEVICE_NEEDS_RESET: reset it and bring it up again
        (SHM-CLOCK-011)."""
        self.check.new_generation(self.backend.edges)
        self.needs_reset = False
        self.recoveries += 1
        self.start()

    # -- the driver's round ----------------------------------------------------------------
    def driver_round(self) -> Op[None]:
        """Take the MSI-X messages that arrived; on a configuration change check the status;
        service each table whose signal was notified (or is due)."""
        d = self.driver
        self.rounds += 1
        if (yield from d.take_irq(CONFIG_VECTOR)):
            status = yield from d.device_status()
            if status & DEVICE_NEEDS_RESET:
                self.needs_reset = True
                return
        if (yield from d.take_irq(d.clock_vector())) or self.clock_due:
            yield from self._serve_clock()
        if (yield from d.take_irq(d.irq_vector())) or self.irq_due:
            yield from self._serve_irq()

    def _serve_clock(self) -> Op[None]:
        clock = self.driver.clock
        assert clock is not None
        self.clock_due = True
        for _ in range(MAX_RECHECKS):
            floor = self.check.floor  # taken just before the service's first access
            try:
                ns = yield from clock.service()
            except TableBusy:  # SHM-TABLE-011: keep the last good time, try next round
                self.check.busy += 1
                return
            if ns is None:
                self.check.unchanged += 1
            else:
                self.check.act(ns, floor)
            if not (yield from clock.wait_prepare()):  # SHM-SIGNAL-006
                self.clock_due = False
                return

    def _serve_irq(self) -> Op[None]:
        irq = self.driver.irq
        assert irq is not None
        self.irq_due = True
        for _ in range(MAX_RECHECKS):
            try:
                events = yield from irq.service()
            except TableBusy:
                self.check.busy += 1
                return
            self.check.irq(events, self.backend.edges)
            if not (yield from irq.wait_prepare()):
                self.irq_due = False
                return

    # -- running ---------------------------------------------------------------------------
    def tick(self, ns: int, *, driver: bool) -> None:
        """One tick of the platform clock, stepped against a driver round if ``driver``."""
        self.check.offer(ns)

        def published(_: object) -> None:
            if self.backend.clock.now == ns:
                self.check.completed(ns)

        threads = [Thread("device", self.backend.tick(ns), self.backend.view, published)]
        if driver:
            threads.append(Thread("driver", self.driver_round(), self.driver.memory))
        interleave(threads, self.rng)
        if self.needs_reset:
            self.recover()

    def settle(self) -> None:
        """Driver rounds alone until nothing is due: the driver catches up with the device."""
        for _ in range(SETTLE_ROUNDS):
            run_alone(Thread("driver", self.driver_round(), self.driver.memory))
            if self.needs_reset:
                self.recover()
            elif not (self.clock_due or self.irq_due):
                return

    def run(self, ticks: int, lag: int, *, start_ns: int = START_NS,
            tick_ns: int = TICK_NS) -> ClockCheck:
        """``ticks`` ticks of ``tick_ns``, the driver running a round every ``lag`` ticks,
        then :meth:`settle`."""
        if ticks < 1 or lag < 1 or tick_ns < 1:
            raise ValueError("ticks, lag and tick_ns are at least 1")
        base = max(start_ns, self.backend.time_ns)
        for k in range(1, ticks + 1):
            self.tick(base + k * tick_ns, driver=k % lag == 0)
        self.settle()
        return self.check

    # -- verdict ---------------------------------------------------------------------------
    def failures(self) -> dict[str, int]:
        """Every way the run went wrong, with how often; empty if it did not."""
        c, dev, drv = self.check, self.backend, self.driver
        live = dev.is_live
        missed = int(live and drv.clock is not None and drv.clock.now != dev.clock.now)
        handled = drv.irq.handled if drv.irq is not None else []
        out = {
            "stale": c.stale,
            "torn": c.torn,
            "backwards": c.backwards,
            "edges counted twice": c.double_counted,
            "latest time not acted on": missed,
            "edges lost": int(live and handled != dev.irq.counts)
            + max(0, dev.edges_total - c.edges_total - c.edges_discarded),
            "unrecovered DEVICE_NEEDS_RESET": int(self.needs_reset),
        }
        return {k: v for k, v in out.items() if v}
