"""RING-SPLIT-101: 2^16 publications between two decisions.

``ring.alias.event_idx`` is a deterministic scenario, run straight through (SC, no
interleaving) because it needs 2^16 publications: the consumer keeps up with a producer that
publishes 2^16 (or more) entries without deciding, then re-enables notifications and sleeps;
the producer publishes the last entries and decides. With the event window aliased, only
the forced notification of RING-SPLIT-101 wakes the consumer. (The interleaved machine of
the split ring is models/ring/machine.py.)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from virtiospec.models import registry
from virtiospec.models.hypothesis_run import Violation
from virtiospec.models.memory.tso import Program
from virtiospec.reference.access import GuestMemory, Load, Store, run
from virtiospec.reference.ring import SplitDevice, SplitDriver, SplitLayout
from virtiospec.reference.ring.device import Chain

ALIAS_Q = 2
ALIAS_START = 65530  # the indices wrap during the run


@dataclass(frozen=True)
class AliasScenario:
    """The producer of ``direction`` publishes ``published`` entries between two decisions;
    the consumer keeps up with all but the last ``tail`` (1 ≤ tail ≤ Q), then re-enables
    notifications and sleeps; the producer publishes the tail and decides."""

    direction: Literal["avail", "used"]
    published: int
    tail: int = 1


# the first two are the shortest runs on which the window aliases, one per direction
ALIAS_SCENARIOS = (AliasScenario("avail", 1 << 16), AliasScenario("used", 1 << 16),
                   AliasScenario("avail", (1 << 16) + 1, 2),
                   AliasScenario("used", (1 << 16) + 1, 2))


def run_alias(sc: AliasScenario, driver_cls: type[SplitDriver] = SplitDriver,
              device_cls: type[SplitDevice] = SplitDevice) -> int:
    """Play ``sc`` with VIRTIO_F_EVENT_IDX, straight through over SC memory; raise a
    :class:`Violation` if the consumer is left asleep with work (RING-SPLIT-110, RING-SPLIT-111
    broken
    by a decision that RING-SPLIT-101 requires to notify). Returns the accesses made."""
    q = ALIAS_Q
    if not 1 <= sc.tail <= q or sc.published < sc.tail:
        raise ValueError(f"bad scenario {sc}")
    lay = SplitLayout.packed_at(0, q)
    data = (lay.end + 15) & ~15
    guest = GuestMemory(data + 16 * q)
    drv = driver_cls(lay, event_idx=True)
    dev = device_cls(lay, guest.size, event_idx=True)
    run(drv.init(), guest)
    run(dev.init(), guest)
    drv.avail_idx = drv.last_used = dev.last_avail = dev.used_idx = ALIAS_START
    for addr in (lay.avail_idx, lay.used_idx, lay.used_event, lay.avail_event):
        guest.write(addr, 2, ALIAS_START)
    accesses = 0

    def do(op: Program[Any]) -> Any:
        nonlocal accesses
        value: int | None = None
        try:
            while True:
                access = op.send(value)
                accesses += 1
                if isinstance(access, Load):
                    value = guest.read(access.addr, access.size)
                else:
                    if isinstance(access, Store):
                        guest.write(access.addr, access.size, access.value)
                    value = None
        except StopIteration as done:
            return done.value

    def add(n: int) -> None:
        for _ in range(n):
            do(drv.add([(data + 16 * len(drv.chains), 16)], [], len(drv.chains)))

    def pop(n: int) -> list[Chain]:
        chains = [do(dev.pop()) for _ in range(n)]
        if None in chains:
            raise Violation("RING-SPLIT-092", f"the device found {chains.count(None)} of {n} "
                            "published chains missing")
        return chains

    def take(n: int) -> None:
        got = [do(drv.get_used()) for _ in range(n)]
        if None in got:
            raise Violation("RING-SPLIT-092", "the driver found a used element missing")

    avail = sc.direction == "avail"
    # both sides poll (notifications off); each side's last decision is taken here
    do(drv.disable_cb())
    do(dev.disable_notify())
    add(1)
    do(drv.kick_prepare())
    do(dev.push([(c.head, 0) for c in pop(1)]))
    do(dev.should_notify())
    take(1)
    # the consumer keeps up with all but the tail; the producer never decides
    for _ in range(sc.published - sc.tail):
        add(1)
        if not avail:
            do(drv.kick_prepare())  # the driver decides its own kicks as it likes
        chains = pop(1)
        do(dev.push([(c.head, 0) for c in chains]))
        if avail:
            do(dev.should_notify())  # and the device its own interrupts
        take(1)
    if avail:
        # the device finds nothing, re-enables kicks and sleeps (RING-SPLIT-072)
        if do(dev.pop()) is not None or do(dev.enable_notify()):
            raise Violation("RING-SPLIT-092", "the device saw a chain that was not published")
        add(sc.tail)
        if not do(drv.kick_prepare()):
            raise Violation("RING-SPLIT-101", f"lost kick (RING-SPLIT-110): the device sleeps "
                            f"with avail_event {guest.read(lay.avail_event, 2)}, the driver "
                            f"published {sc.published} chains since its last decision and "
                            f"does not kick after avail.idx := {drv.avail_idx}")
    else:
        # the driver adds the tail, the device holds it; the driver finds nothing, re-enables
        # interrupts and sleeps (RING-SPLIT-073)
        add(sc.tail)
        do(drv.kick_prepare())
        held = pop(sc.tail)
        if do(drv.get_used()) is not None or do(drv.enable_cb()):
            raise Violation("RING-SPLIT-092", "the driver saw a used element that was not "
                            "pushed")
        do(dev.push([(c.head, 0) for c in held]))
        if not do(dev.should_notify()):
            raise Violation("RING-SPLIT-101", f"lost interrupt (RING-SPLIT-111): the driver "
                            f"sleeps with used_event {guest.read(lay.used_event, 2)}, the "
                            f"device pushed {sc.published} used elements since its last "
                            f"decision and does not interrupt after used.idx := {dev.used_idx}")
    return accesses


def check_alias(scenarios: tuple[AliasScenario, ...] = ALIAS_SCENARIOS, *,
                driver_cls: type[SplitDriver] = SplitDriver,
                device_cls: type[SplitDevice] = SplitDevice) -> registry.Evidence:
    """Run ``scenarios`` in order; ok=False at the first that leaves a consumer asleep."""
    accesses = 0
    for k, sc in enumerate(scenarios):
        try:
            accesses += run_alias(sc, driver_cls, device_cls)
        except Violation as v:
            stats = {"examples": float(k + 1), "accesses": float(accesses), "violation": 1.0}
            trace = [registry.Step("env", f"{sc.direction} direction: {sc.published} "
                                   f"publications since the last decision, the last "
                                   f"{sc.tail} after the consumer slept"),
                     registry.Step(v.req, str(v))]
            return registry.Evidence(False, f"violation: {v}", trace, stats=stats)
    # one fixed interleaving each: its accesses are not counted as interleaving steps
    return registry.Evidence(True, f"{len(scenarios)} scenarios, {accesses} accesses: every "
                             "decision after 2^16 - 1 or more publications notified",
                             stats={"examples": float(len(scenarios)),
                                    "accesses": float(accesses)})


@registry.check("ring.alias.event_idx", ("RING-SPLIT-101", "RING-SPLIT-100", "RING-SPLIT-110",
                                         "RING-SPLIT-111"),
                "2^16 publications between two decisions alias the event window: the "
                "producer notifies anyway (deterministic, both directions, EVENT_IDX)")
def check_alias_event_idx(n: int) -> registry.Evidence:
    return check_alias(ALIAS_SCENARIOS[: max(2, min(n, len(ALIAS_SCENARIOS)))])
