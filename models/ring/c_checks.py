"""The C reference of the ring (reference/ring.c) in the ring state machine and the litmus
tests.

The stepped build of ring.c (reference/ring/c/stepped.py) makes every access of the C code
an access of the access protocol, so :mod:`virtiospec.models.ring.machine` steps the C
driver and device exactly as it steps the Python ones: under x86-TSO, with flag and
EVENT_IDX suppression, both sides in C (``ring.c.tso.*``) or one side in C and the other in
Python over the same memory (``ring.mixed.*``). ``ring.c.litmus.*`` run the lost-wakeup
races of :mod:`virtiospec.models.ring.c_litmus` on the C sides.
"""

from __future__ import annotations

from virtiospec.models import registry
from virtiospec.models.memory.tso import Mode
from virtiospec.models.ring.c_litmus import LitmusConfig, run_litmus
from virtiospec.models.ring.c_sides import aborting, with_mutant
from virtiospec.models.ring.machine import REQS, RingConfig, run_ring
from virtiospec.reference.ring import SplitDevice, SplitDriver
from virtiospec.reference.ring.c.stepped import CSplitDevice, CSplitDriver


def c_driver_class(mutant: str | None = None) -> type[CSplitDriver]:
    """CSplitDriver of the reference build, or of one mutant of ring_mutants.h."""
    return with_mutant(CSplitDriver, mutant)


def c_device_class(mutant: str | None = None) -> type[CSplitDevice]:
    return with_mutant(CSplitDevice, mutant)


def run_c_ring(cfg: RingConfig, max_examples: int) -> registry.Evidence:
    """:func:`run_ring`, then abort any C operation an abandoned example left suspended."""
    return aborting(lambda: run_ring(cfg, max_examples))


PAIRS: dict[str, tuple[type[SplitDriver], type[SplitDevice], str]] = {
    "c": (CSplitDriver, CSplitDevice, "C driver and C device (ring.c, stepped)"),  # type: ignore[dict-item]
    "mixed.c_driver": (CSplitDriver, SplitDevice,  # type: ignore[dict-item]
                       "C driver (ring.c, stepped) with the Python device"),
    "mixed.c_device": (SplitDriver, CSplitDevice,  # type: ignore[dict-item]
                       "Python driver with the C device (ring.c, stepped)"),
}


def _register(name: str, pair: str, mode: Mode, event_idx: bool) -> None:
    drv, dev, who = PAIRS[pair]

    @registry.check(name, REQS,
                    f"{who} interleaved access by access over x86-TSO store buffers, "
                    f"{'VIRTIO_F_EVENT_IDX' if event_idx else 'flag'} suppression")
    def check(n: int) -> registry.Evidence:
        return run_c_ring(RingConfig(mode=mode, event_idx=event_idx, driver_cls=drv,
                                     device_cls=dev), n)


# name, pair (PAIRS), memory model, VIRTIO_F_EVENT_IDX
_CHECKS: tuple[tuple[str, str, Mode, bool], ...] = (
    ("ring.c.tso.flags", "c", "tso", False),
    ("ring.c.tso.event_idx", "c", "tso", True),
    ("ring.mixed.c_driver.tso.flags", "mixed.c_driver", "tso", False),
    ("ring.mixed.c_driver.tso.event_idx", "mixed.c_driver", "tso", True),
    ("ring.mixed.c_device.tso.flags", "mixed.c_device", "tso", False),
    ("ring.mixed.c_device.tso.event_idx", "mixed.c_device", "tso", True),
)
for _name, _pair, _mode, _event_idx in _CHECKS:
    _register(_name, _pair, _mode, _event_idx)


LITMUS_REQS = {
    "kick": ("RING-SPLIT-070", "RING-SPLIT-072", "RING-SPLIT-074", "RING-SPLIT-110"),
    "interrupt": ("RING-SPLIT-071", "RING-SPLIT-073", "RING-SPLIT-074", "RING-SPLIT-111"),
}


def _register_litmus(name: str, race: str, event_idx: bool) -> None:
    @registry.check(name, LITMUS_REQS[race],
                    f"the {race} lost-wakeup race of the C sides under x86-TSO, every schedule "
                    f"Hypothesis tries, {'VIRTIO_F_EVENT_IDX' if event_idx else 'flag'} "
                    "suppression")
    def check(n: int) -> registry.Evidence:
        return aborting(lambda: run_litmus(race, LitmusConfig(CSplitDriver, CSplitDevice,
                                                               event_idx), n))


# name, race (LITMUS_REQS), VIRTIO_F_EVENT_IDX
_LITMUS: tuple[tuple[str, str, bool], ...] = (
    ("ring.c.litmus.kick.flags", "kick", False),
    ("ring.c.litmus.kick.event_idx", "kick", True),
    ("ring.c.litmus.interrupt.flags", "interrupt", False),
    ("ring.c.litmus.interrupt.event_idx", "interrupt", True),
)
for _name, _race, _event_idx in _LITMUS:
    _register_litmus(_name, _race, _event_idx)
