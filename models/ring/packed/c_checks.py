"""The C reference of the packed ring (reference/ring/c/ring_packed.c) in the packed-ring machines.

The stepped build of ring_packed.c (reference/ring/c/packed_stepped.py) makes every access
of the C code an access of the access protocol, so :mod:`virtiospec.models.ring.packed.machine`
steps the C driver and device exactly as it steps the Python ones, under SC, x86-TSO, PSO
and RMO: both sides in C (``ring.packed.c.<mode>``), or one side in C and the other in
Python over the same memory (``ring.packed.mixed.c_driver.<mode>``,
``ring.packed.mixed.c_device.<mode>``). ``ring.packed.c.hostile.*`` run the hostile-input
checks of :mod:`virtiospec.models.ring.packed.hostile` against the C sides.
"""

from __future__ import annotations

from virtiospec.models import registry
from virtiospec.models.memory.tso import Mode
from virtiospec.models.ring.c_sides import aborting, with_mutant
from virtiospec.models.ring.packed.hostile import (
    DEVICE_REQS,
    DRIVER_REQS,
    HostileConfig,
    run_hostile_device,
    run_hostile_driver,
)
from virtiospec.models.ring.packed.machine import (
    REQS,
    RMO_REQS,
    STORE_ORDER_REQS,
    PackedConfig,
    run_packed,
)
from virtiospec.reference.ring import PackedDevice, PackedDriver
from virtiospec.reference.ring.c.packed_stepped import CPackedDevice, CPackedDriver


def c_driver_class(mutant: str | None = None) -> type[CPackedDriver]:
    """CPackedDriver of the reference build, or of one mutant of ring_packed_mutants.h."""
    return with_mutant(CPackedDriver, mutant)


def c_device_class(mutant: str | None = None) -> type[CPackedDevice]:
    return with_mutant(CPackedDevice, mutant)


def run_c_packed(cfg: PackedConfig, max_examples: int, **kwargs: object) -> registry.Evidence:
    """:func:`run_packed`, then abort any C operation an abandoned example left suspended."""
    return aborting(lambda: run_packed(cfg, max_examples, **kwargs))  # type: ignore[arg-type]


PAIRS: dict[str, tuple[type[PackedDriver], type[PackedDevice], str]] = {
    "c": (CPackedDriver, CPackedDevice,  # type: ignore[dict-item]
          "C driver and C device (ring_packed.c, stepped)"),
    "mixed.c_driver": (CPackedDriver, PackedDevice,  # type: ignore[dict-item]
                       "C driver (ring_packed.c, stepped) with the Python device"),
    "mixed.c_device": (PackedDriver, CPackedDevice,  # type: ignore[dict-item]
                       "Python driver with the C device (ring_packed.c, stepped)"),
}
WHERE: dict[Mode, tuple[str, tuple[str, ...]]] = {
    "sc": ("SC", REQS), "tso": ("x86-TSO store buffers", REQS),
    "pso": ("PSO store buffers", STORE_ORDER_REQS),
    "rmo": ("RMO (PSO store buffers, loads satisfied early)", RMO_REQS)}
MODES: tuple[Mode, ...] = ("sc", "tso", "pso", "rmo")
MIXED_MODES: tuple[Mode, ...] = ("sc", "tso", "rmo")


def _register(name: str, pair: str, mode: Mode) -> None:
    drv, dev, who = PAIRS[pair]
    where, reqs = WHERE[mode]

    @registry.check(name, reqs,
                    f"packed ring: {who} interleaved access by access over {where}, Q in "
                    "1..4, ENABLE/DISABLE or DESC, direct or indirect lists, out-of-order "
                    "completion")
    def check(n: int) -> registry.Evidence:
        return run_c_packed(PackedConfig(mode=mode, driver_cls=drv, device_cls=dev), n)


# name, pair (PAIRS), memory model
_CHECKS: tuple[tuple[str, str, Mode], ...] = (
    ("ring.packed.c.sc", "c", "sc"),
    ("ring.packed.c.tso", "c", "tso"),
    ("ring.packed.c.pso", "c", "pso"),
    ("ring.packed.c.rmo", "c", "rmo"),
    ("ring.packed.mixed.c_driver.sc", "mixed.c_driver", "sc"),
    ("ring.packed.mixed.c_driver.tso", "mixed.c_driver", "tso"),
    ("ring.packed.mixed.c_driver.rmo", "mixed.c_driver", "rmo"),
    ("ring.packed.mixed.c_device.sc", "mixed.c_device", "sc"),
    ("ring.packed.mixed.c_device.tso", "mixed.c_device", "tso"),
    ("ring.packed.mixed.c_device.rmo", "mixed.c_device", "rmo"),
)
for _name, _pair, _mode in _CHECKS:
    _register(_name, _pair, _mode)


@registry.check("ring.packed.c.hostile.device", DEVICE_REQS,
                "packed ring: the C device (ring_packed.c, stepped) against a hostile "
                "driver's descriptors and tables, every pop checked against an oracle")
def check_hostile_device(n: int) -> registry.Evidence:
    return aborting(lambda: run_hostile_device(
        HostileConfig(device_cls=CPackedDevice), n))  # type: ignore[arg-type]


@registry.check("ring.packed.c.hostile.driver", DRIVER_REQS,
                "packed ring: the C driver (ring_packed.c, stepped) against a hostile "
                "device's used descriptors, every get_used checked against an oracle")
def check_hostile_driver(n: int) -> registry.Evidence:
    return aborting(lambda: run_hostile_driver(
        HostileConfig(driver_cls=CPackedDriver), n))  # type: ignore[arg-type]
