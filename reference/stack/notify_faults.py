"""Notification faults for the stack (``virtiospec demo --drop-notify / --double-notify``).

Between the layers that raise a notification and the side that handles it sit two
interconnects the stack models: the doorbells that notify writes ring at the back-end, and
the MSI-X messages that reach the driver's interrupt controller. A :class:`NotifyFaults`
drops or doubles every ``every``-th notification crossing either of them. A doubled one must
be harmless (the second finds nothing new: SHM-SIGNAL-007, RING-SPLIT-072, RING-SPLIT-073).
A dropped one is recovered by the two sides' timers (``timer``): when the stack has settled,
the back-end looks at every queue and the driver polls every queue, as a driver's transmit
timeout and a device's poll would; with ``timer=False`` (the known-bad variant) a dropped
notification strands buffers. The counts keep the cross-layer checks exact: MSI-X messages
sent = interrupts handled + dropped - doubled.
"""

from __future__ import annotations

from dataclasses import dataclass

MODES = ("drop", "double")


@dataclass
class NotifyFaults:
    mode: str  # "drop" or "double"
    every: int = 5
    timer: bool = True
    seen: int = 0
    kicks_dropped: int = 0
    kicks_doubled: int = 0
    irqs_dropped: int = 0
    irqs_doubled: int = 0
    timer_rounds: int = 0

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"notification fault {self.mode!r}: one of {', '.join(MODES)}")
        if self.every < 1:
            raise ValueError(f"every {self.every}: at least 1")

    def hit(self) -> bool:
        """Whether the notification crossing now is the faulty one."""
        self.seen += 1
        return self.seen % self.every == 0

    def summary(self) -> dict[str, int | str]:
        return {"mode": self.mode, "every": self.every, "kicks_dropped": self.kicks_dropped,
                "kicks_doubled": self.kicks_doubled, "irqs_dropped": self.irqs_dropped,
                "irqs_doubled": self.irqs_doubled, "timer_rounds": self.timer_rounds}
