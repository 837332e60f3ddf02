"""A paravirtual clock on virtio-shm (spec/shm.md, SHM-CLOCK-*): the device publishes the time
in a one-slot table and injects a signal; the driver, however far it lags, acts only on the
newest time.

This is the device of the 2009 thread's example: "time is now X", later "time is now Y". On a
ring both X and Y are in flight and a lagging driver processes X after Y was published; here
Y overwrites X, and the driver never sees X once Y is there (docs/shm.md measures both).
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
from virtiospec.reference.shm.table import (
    MAX_ATTEMPTS,
    U32,
    TableLayout,
    TableReader,
    TableWriter,
)

CLOCK_WORDS = 2  # nanoseconds, low and high 32 bits
CLOCK_SIZE = SIGNAL_SIZE + 4 * (1 + CLOCK_WORDS)


@dataclass(frozen=True)
class ClockLayout:
    """The clock's signal at ``offset`` of ``region``, its table 8 bytes after (SHM-CLOCK-001)."""

    region: Region
    offset: int
    signal: SignalLayout = field(init=False)
    table: TableLayout = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "signal", SignalLayout(self.region, self.offset))
        object.__setattr__(self, "table", TableLayout(self.region, self.offset + SIGNAL_SIZE,
                                                      1, CLOCK_WORDS))


def split_ns(ns: int) -> tuple[int, int]:
    return ns & U32, ns >> 32 & U32


def join_ns(words: tuple[int, ...]) -> int:
    return words[0] | words[1] << 32


class ClockDevice:
    def __init__(self, layout: ClockLayout) -> None:
        self.layout = layout
        self.writer = TableWriter(layout.table)
        self.signal = SignalSender(layout.signal)
        self.now = 0  # the last time published

    def init(self) -> Op[None]:
        yield from self.layout.signal.init()
        yield from self.writer.init()
        self.now = 0

    def publish(self, ns: int) -> Op[bool]:
        """Publish the time ``ns`` (never less than the last one, SHM-CLOCK-002): update the
        slot, then inject the signal (SHM-TABLE-012). True: send a notification."""
        if not self.now <= ns < 1 << 64:
            raise ValueError(f"time {ns} is before the last one published, {self.now}")
        self.now = ns
        yield from self.writer.update(0, split_ns(ns))
        return (yield from self.signal.inject())


@dataclass(frozen=True)
class ClockLines:
    """The lines of this file's classes that a known-bad variant may break. Every default is
    the protocol; a switch turned off breaks the one line that names it, which is how
    models/shm/ref_mutants.py states each variant as the change it makes."""

    ack_before_read: bool = True  # service: acknowledge, then read (SHM-SIGNAL-005)
    new_time_only: bool = True  # service: poll, not read: a time acted on once (SHM-TABLE-009)


PROTOCOL = ClockLines()


class ClockDriver:
    """Lags as it likes; :meth:`service` acts on the newest time or on nothing
    (SHM-CLOCK-003)."""

    lines: ClockLines = PROTOCOL  # the protocol's lines a known-bad variant turns off

    def __init__(self, layout: ClockLayout, max_attempts: int = MAX_ATTEMPTS) -> None:
        self.layout = layout
        self.reader = TableReader(layout.table, max_attempts)
        self.signal = SignalReceiver(layout.signal)
        self.now: int | None = None  # the time last acted on
        self.actions = 0

    def service(self) -> Op[int | None]:
        """Disable and acknowledge the signal, then read the clock: the new time acted on, or
        None if it has not changed since the last one."""
        yield from self.signal.disable()
        if self.lines.ack_before_read:
            yield from self.signal.acknowledge()
        if self.lines.new_time_only:
            snap = yield from self.reader.poll(0)
        else:  # acts on the signal alone, whatever the table's version says
            snap = yield from self.reader.read(0)
        if not self.lines.ack_before_read:
            yield from self.signal.acknowledge()  # pending cleared after the read: too late
        if snap is None:
            return None
        self.now = join_ns(snap.value)
        self.actions += 1
        return self.now

    def wait_prepare(self) -> Op[bool]:
        """Enable the signal and re-check. True: a time is pending; call :meth:`service`
        again instead of waiting."""
        return (yield from self.signal.enable())
