"""shm-signal (spec/shm.md, SHM-SIGNAL-*): a notification that is not tied to a ring.

A signal descriptor is two words in a region: ``enabled`` (the receiver wants notifications)
and ``pending`` (the sender announced something the receiver has not acknowledged)::

    sender: inject                          receiver: process, then wait
      (stores it announces)                   disable:      enabled := 0
      mb                     SHM-SIGNAL-003   acknowledge:  pending := 0; mb     SHM-SIGNAL-005
      if pending: coalesced, stop             (read the state the signal announces)
      pending := 1                            enable:       enabled := 1; mb
      mb                     SHM-SIGNAL-004                 if pending: process again
      notify iff enabled                      wait for a notification

Every method is an operation of the access protocol (:mod:`virtiospec.reference.access`), so
the models step it access by access under SC, x86-TSO and PSO. Together the two sides lose no
wakeup (SHM-SIGNAL-010) and notify at most once per acknowledgement (SHM-SIGNAL-011):
models/shm/signal_z3.py proves both.
"""

from __future__ import annotations

from dataclasses import dataclass

from virtiospec.reference.access import Op, fence
from virtiospec.reference.shm.errors import BadLayout
from virtiospec.reference.shm.region import Region

SIGNAL_SIZE = 8
ENABLED = 0
PENDING = 4


@dataclass(frozen=True)
class SignalLayout:
    """A signal descriptor at ``offset`` of ``region`` (SHM-SIGNAL-001)."""

    region: Region
    offset: int

    def __post_init__(self) -> None:
        if self.offset % 4:
            raise BadLayout(f"signal at offset {self.offset:#x} is not 4-aligned",
                            "SHM-SIGNAL-001")
        self.region.check_span(self.offset, SIGNAL_SIZE, "signal")

    @property
    def enabled(self) -> int:
        return self.offset + ENABLED

    @property
    def pending(self) -> int:
        return self.offset + PENDING

    def init(self) -> Op[None]:
        """Both fields 0 when the device is set up: disabled, nothing pending."""
        yield from self.region.store(self.enabled, 4, 0)
        yield from self.region.store(self.pending, 4, 0)


@dataclass(frozen=True)
class SignalLines:
    """The lines of this file's classes that a known-bad variant may break. Every default is
    the protocol; a switch turned off breaks the one line that names it, which is how
    models/shm/ref_mutants.py states each variant as the change it makes."""

    sender_coalesce: bool = True  # inject: pending loaded, a set one coalesces (SHM-SIGNAL-002)
    sender_mb_before_enabled: bool = True  # inject: mb before loading enabled (SHM-SIGNAL-004)
    nonzero_is_set: bool = True  # inject, enable: any non-zero word is 1 (SHM-SIGNAL-001)
    receiver_enables_one: bool = True  # enable: stores 1 to enabled, no other (SHM-SIGNAL-001)
    receiver_ack_mb: bool = True  # acknowledge: mb after clearing pending (SHM-SIGNAL-005)
    receiver_recheck: bool = True  # enable: pending re-read before waiting (SHM-SIGNAL-006)


PROTOCOL = SignalLines()


class SignalSender:
    """The sending side. Counts its injections, the coalesced ones and the notifications."""

    lines: SignalLines = PROTOCOL  # the protocol's lines a known-bad variant turns off

    def __init__(self, layout: SignalLayout) -> None:
        self.layout = layout
        self.injections = 0
        self.coalesced = 0
        self.notifications = 0

    def inject(self) -> Op[bool]:
        """Announce the stores made before this call (SHM-SIGNAL-002). True: send a
        notification now (the transport's notification drains the store buffer,
        SHM-SIGNAL-008)."""
        lay = self.layout
        self.injections += 1
        yield from fence("mb")  # SHM-SIGNAL-003: the announced stores before pending's load
        pending = 0  # not loaded: every injection sets it anew
        if self.lines.sender_coalesce:
            pending = yield from lay.region.load(lay.pending, 4)
        if pending if self.lines.nonzero_is_set else pending == 1:  # SHM-SIGNAL-001
            self.coalesced += 1
            return False
        yield from lay.region.store(lay.pending, 4, 1)
        if self.lines.sender_mb_before_enabled:
            yield from fence("mb")  # SHM-SIGNAL-004: pending's store before enabled's load
        enabled = yield from lay.region.load(lay.enabled, 4)
        if enabled:
            self.notifications += 1
        return enabled != 0


class SignalReceiver:
    """The receiving side: disable, acknowledge, (read the state), enable and re-check."""

    lines: SignalLines = PROTOCOL  # the protocol's lines a known-bad variant turns off

    def __init__(self, layout: SignalLayout) -> None:
        self.layout = layout
        self.acknowledgements = 0

    def disable(self) -> Op[None]:
        """A hint: notifications are not needed while processing (SHM-SIGNAL-007)."""
        yield from self.layout.region.store(self.layout.enabled, 4, 0)

    def acknowledge(self) -> Op[None]:
        """Clear ``pending`` before reading the announced state (SHM-SIGNAL-005)."""
        yield from self.layout.region.store(self.layout.pending, 4, 0)
        if self.lines.receiver_ack_mb:
            yield from fence("mb")
        self.acknowledgements += 1

    def enable(self) -> Op[bool]:
        """Ask for notifications, then re-check (SHM-SIGNAL-006). True: something is pending
        already; process it (acknowledge first) instead of waiting."""
        lines = self.lines
        yield from self.layout.region.store(self.layout.enabled, 4,
                                            1 if lines.receiver_enables_one else 2)
        yield from fence("mb")
        if not lines.receiver_recheck:
            return False  # pending is not re-read: the receiver always waits
        pending = yield from self.layout.region.load(self.layout.pending, 4)
        return pending != 0 if lines.nonzero_is_set else pending == 1
