"""An interrupt controller on virtio-shm (spec/shm.md, SHM-IRQ-*): one table slot per line
holding the line's edge count and level, and one signal for the whole table.

An edge is recorded by counting, not by queueing: the driver handles ``count - handled``
edges of a line, so a burst of edges while it lags costs neither table space nor a second
notification, and no edge is handled twice (SHM-IRQ-003).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from virtiospec.reference.access import Op
from virtiospec.reference.shm.region import Region
from virtiospec.reference.shm.signal import (
    SIGNAL_SIZE,
    SignalLayout,
    SignalReceiver,
    SignalSender,
)
from virtiospec.reference.shm.table import U32, TableLayout, TableReader, TableWriter

IRQ_WORDS = 2  # edge count, level


@dataclass(frozen=True)
class IrqLayout:
    """The signal at ``offset`` of ``region``, the table of ``lines`` slots 8 bytes after
    (SHM-IRQ-001)."""

    region: Region
    offset: int
    lines: int
    signal: SignalLayout = field(init=False)
    table: TableLayout = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "signal", SignalLayout(self.region, self.offset))
        object.__setattr__(self, "table", TableLayout(self.region, self.offset + SIGNAL_SIZE,
                                                      self.lines, IRQ_WORDS))


@dataclass(frozen=True)
class IrqEvent:
    """What the driver found for one line: ``edges`` new edges (possibly 0) and the level."""

    line: int
    edges: int
    level: int


class IrqDevice:
    def __init__(self, layout: IrqLayout) -> None:
        self.layout = layout
        self.writer = TableWriter(layout.table)
        self.signal = SignalSender(layout.signal)
        self.counts = [0] * layout.lines
        self.levels = [0] * layout.lines

    def init(self) -> Op[None]:
        yield from self.layout.signal.init()
        yield from self.writer.init()

    def edge(self, line: int) -> Op[None]:
        """Record one edge on ``line`` (SHM-IRQ-002); :meth:`inject` announces it."""
        self.counts[line] = (self.counts[line] + 1) & U32
        yield from self.writer.update(line, (self.counts[line], self.levels[line]))

    def set_level(self, line: int, level: int) -> Op[None]:
        if level not in (0, 1):
            raise ValueError(f"level {level} is not 0 or 1")
        self.levels[line] = level
        yield from self.writer.update(line, (self.counts[line], level))

    def inject(self) -> Op[bool]:
        """Announce the updates made since the last injection. True: send a notification."""
        return (yield from self.signal.inject())


class IrqDriver:
    def __init__(self, layout: IrqLayout) -> None:
        self.layout = layout
        self.reader = TableReader(layout.table)
        self.signal = SignalReceiver(layout.signal)
        self.handled = [0] * layout.lines  # edge count up to which each line is handled

    def service(self) -> Op[list[IrqEvent]]:
        """Disable and acknowledge the signal, then read every line: the lines that changed."""
        yield from self.signal.disable()
        yield from self.signal.acknowledge()
        events = []
        for line in range(self.layout.lines):
            snap = yield from self.reader.poll(line)
            if snap is None:
                continue
            count, level = snap.value
            events.append(IrqEvent(line, (count - self.handled[line]) & U32, level))
            self.handled[line] = count
        return events

    def wait_prepare(self) -> Op[bool]:
        """Enable the signal and re-check. True: call :meth:`service` again."""
        return (yield from self.signal.enable())
