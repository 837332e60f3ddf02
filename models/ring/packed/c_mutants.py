"""Known-bad variants of the C reference of the packed ring, and what catches each.

Each variant is ring_packed.c compiled with one switch of reference/ring/c/ring_packed_mutants.h
(``-DVS_PACKED_MUTANT=VS_PM_<NAME>``) in the stepped build (built at run time, cached), the
C counterpart of a Python variant of models/ring/packed/mutants.py, run against the same
check: the interleaving machine (models/ring/packed/machine.py) under the memory model
that exposes the bug, with the broken side in C and the other side the C reference, or the
hostile-input checks (models/ring/packed/hostile.py). A run is derandomized, so its outcome
is reproducible; a variant counts as caught only when the run fails with a requirement
violation, and the evidence carries the end of the shrunk failing interleaving.

``EVENT_OFF_BY_ONE`` breaks the window helper both sides share, so both sides run it.
Registered as ``ring.packed.c.mutant.<name>``; ``ok`` is True when the variant is caught.
"""

from __future__ import annotations

from collections.abc import Callable

from virtiospec.models import registry
from virtiospec.models.hypothesis_run import mutant_evidence
from virtiospec.models.memory.tso import Mode
from virtiospec.models.ring.packed.c_checks import c_device_class, c_driver_class, run_c_packed
from virtiospec.models.ring.packed.hostile import (
    HostileConfig,
    run_hostile_device,
    run_hostile_driver,
)
from virtiospec.models.ring.packed.machine import PackedConfig
from virtiospec.reference.ring.c.stepped import abort_all

MACHINE_EXAMPLES = 2000  # a budget; the variants below are caught in far fewer runs
MACHINE_STEPS = 200
HOSTILE_EXAMPLES = 2000
SHRINK_SECONDS = 1.0
KEEP_LAST = 80  # steps of the failing run kept in the evidence
BOTH, DESC = (False, True), (True,)


def by_machine(mode: Mode, mutant: str, side: str, event_idx: tuple[bool, ...] = BOTH,
               ) -> Callable[[], registry.Evidence]:
    """The packed machine under ``mode`` with ``side`` ("driver", "device" or "both") built
    with ``mutant``, the other side the C reference."""

    def run() -> registry.Evidence:
        drv = c_driver_class(mutant if side in ("driver", "both") else None)
        dev = c_device_class(mutant if side in ("device", "both") else None)
        cfg = PackedConfig(mode=mode, driver_cls=drv, device_cls=dev,  # type: ignore[arg-type]
                           event_idx=event_idx, steps=MACHINE_STEPS)
        return mutant_evidence(run_c_packed(cfg, MACHINE_EXAMPLES, derandomize=True,
                                            shrink_seconds=SHRINK_SECONDS), KEEP_LAST)

    return run


def by_hostile(mutant: str, side: str) -> Callable[[], registry.Evidence]:
    """The hostile-input check of ``side`` against the variant."""

    def run() -> registry.Evidence:
        try:
            if side == "device":
                ev = run_hostile_device(
                    HostileConfig(device_cls=c_device_class(mutant)),  # type: ignore[arg-type]
                    HOSTILE_EXAMPLES, derandomize=True, shrink_seconds=SHRINK_SECONDS)
            else:
                ev = run_hostile_driver(
                    HostileConfig(driver_cls=c_driver_class(mutant)),  # type: ignore[arg-type]
                    HOSTILE_EXAMPLES, derandomize=True, shrink_seconds=SHRINK_SECONDS)
        finally:
            abort_all()
        return mutant_evidence(ev, KEEP_LAST)

    return run


MUTANTS: list[tuple[str, str, str, tuple[str, ...], Callable[[], registry.Evidence]]] = [
    ("ring.packed.c.mutant.driver-no-wmb",
     "DRIVER_NO_WMB", "add stores the first descriptor's flags without a wmb "
     "after the list (PSO machine)", ("RING-PACKED-050", "RING-PACKED-092"),
     by_machine("pso", "DRIVER_NO_WMB", "driver")),
    ("ring.packed.c.mutant.device-no-wmb",
     "DEVICE_NO_WMB", "push stores a used descriptor's flags without a wmb "
     "after its id and len (PSO machine)", ("RING-PACKED-052", "RING-PACKED-092"),
     by_machine("pso", "DEVICE_NO_WMB", "device")),
    ("ring.packed.c.mutant.device-no-rmb",
     "DEVICE_NO_RMB", "pop loads the list without an rmb after the flags "
     "that show it available (RMO machine)", ("RING-PACKED-054", "RING-PACKED-092"),
     by_machine("rmo", "DEVICE_NO_RMB", "device")),
    ("ring.packed.c.mutant.driver-no-rmb",
     "DRIVER_NO_RMB", "get_used loads id and len without an rmb after the "
     "flags that show the descriptor used (RMO machine)",
     ("RING-PACKED-055", "RING-PACKED-092"), by_machine("rmo", "DRIVER_NO_RMB", "driver")),
    ("ring.packed.c.mutant.driver-no-mb-kick",
     "DRIVER_NO_MB_KICK", "kick_prepare loads the device's event "
     "suppression without the mb after making descriptors available (TSO machine: lost "
     "kick)", ("RING-PACKED-051", "RING-PACKED-110"),
     by_machine("tso", "DRIVER_NO_MB_KICK", "driver")),
    ("ring.packed.c.mutant.device-no-mb-notify",
     "DEVICE_NO_MB_NOTIFY", "should_notify loads the driver's event "
     "suppression without the mb after marking descriptors used (TSO machine: lost "
     "interrupt)", ("RING-PACKED-053", "RING-PACKED-111"),
     by_machine("tso", "DEVICE_NO_MB_NOTIFY", "device")),
    ("ring.packed.c.mutant.driver-no-wrap-flip",
     "DRIVER_NO_WRAP_FLIP", "the driver never flips its wrap counter "
     "at the end of the ring (SC machine)",
     ("RING-PACKED-012", "RING-PACKED-013", "RING-PACKED-092"),
     by_machine("sc", "DRIVER_NO_WRAP_FLIP", "driver")),
    ("ring.packed.c.mutant.device-ignores-wrap",
     "DEVICE_IGNORES_WRAP", "the device takes AVAIL != USED as "
     "available, whatever its wrap counter (SC machine)",
     ("RING-PACKED-015", "RING-PACKED-021", "RING-PACKED-092"),
     by_machine("sc", "DEVICE_IGNORES_WRAP", "device")),
    ("ring.packed.c.mutant.event-off-by-one",
     "EVENT_OFF_BY_ONE", "both sides decide with the window (old, new] "
     "instead of [old, new) (SC machine, DESC suppression)",
     ("RING-PACKED-062", "RING-PACKED-063", "RING-PACKED-064"),
     by_machine("sc", "EVENT_OFF_BY_ONE", "both", DESC)),
    ("ring.packed.c.mutant.device-no-recheck",
     "DEVICE_NO_RECHECK", "enable_notify sleeps without the mb and "
     "re-read of its read position (SC machine: lost kick)",
     ("RING-PACKED-070", "RING-PACKED-110"), by_machine("sc", "DEVICE_NO_RECHECK", "device")),
    ("ring.packed.c.mutant.driver-no-recheck",
     "DRIVER_NO_RECHECK", "enable_cb sleeps without the mb and re-read "
     "of its used position (SC machine: lost interrupt)",
     ("RING-PACKED-071", "RING-PACKED-111"), by_machine("sc", "DRIVER_NO_RECHECK", "driver")),
    ("ring.packed.c.mutant.device-avail-only",
     "DEVICE_AVAIL_ONLY", "the device takes AVAIL matching its wrap "
     "counter as available, without looking at USED (hostile driver)",
     ("RING-PACKED-015", "RING-PACKED-021"), by_hostile("DEVICE_AVAIL_ONLY", "device")),
    ("ring.packed.c.mutant.driver-trusts-used-id",
     "DRIVER_TRUSTS_USED_ID", "the driver frees whatever ID a used "
     "descriptor names (hostile device)", ("RING-PACKED-086",),
     by_hostile("DRIVER_TRUSTS_USED_ID", "driver")),
]

for _name, _switch, _bug, _reqs, _run in MUTANTS:
    registry.mutant(_name, f"{_bug} ({_switch})", _reqs,
                    "hypothesis")(_run)
