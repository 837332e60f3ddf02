"""Known-bad variants of the Python packed-ring reference, and what refutes each.

Every variant is a subclass of :class:`PackedDriver` or :class:`PackedDevice` that turns off
one switch of the reference's ``lines``
(:class:`~virtiospec.reference.ring.packed.driver.PackedDriverLines`,
:class:`~virtiospec.reference.ring.packed.device.PackedDeviceLines`): the one line of the
reference that tests it is broken (marked ``BUG``, naming the requirement it breaks), and
nothing else is copied, so a variant cannot drift from the reference. The registered
description names the switch and the reference method it breaks. Each is registered as
``ring.packed.ref.<name>`` and run against the machine that should catch it: the interleaving
machine (models/ring/packed/machine.py) under the memory model that exposes the bug, or the
hostile-input checks (models/ring/packed/hostile.py). A run is derandomized, so its outcome is
reproducible; a variant counts as refuted only when the run fails with a requirement violation,
and the evidence carries the end of the shrunk failing interleaving.

Which memory model: a missing ``wmb`` (``driver-no-wmb``, ``device-no-wmb``) needs stores
that drain out of order, PSO (x86 never reorders stores); a missing ``rmb``
(``device-no-rmb``, ``driver-no-rmb``) needs loads satisfied early, RMO; a missing ``mb``
before reading the other side's event-suppression structure (``driver-no-mb-kick``,
``device-no-mb-notify``) loses a wakeup under x86-TSO already. The protocol bugs
(wrap counters, the window, the re-check) show under SC. ``device-avail-only`` (available when
AVAIL matches the wrap bit, USED not looked at) behaves exactly as the reference against an
honest driver, which never writes a descriptor whose AVAIL and USED both match the device's
lap: only a hostile driver exposes it (RING-PACKED-015, RING-PACKED-021).
"""

from __future__ import annotations

from collections.abc import Callable

from virtiospec.models import registry
from virtiospec.models.hypothesis_run import mutant_evidence
from virtiospec.models.memory.tso import Mode
from virtiospec.models.ring.packed.hostile import (
    HostileConfig,
    run_hostile_device,
    run_hostile_driver,
)
from virtiospec.models.ring.packed.machine import PackedConfig, run_packed
from virtiospec.models.variant_switch import switched
from virtiospec.reference.ring import PackedDevice, PackedDriver
from virtiospec.reference.ring.packed.device import PackedDeviceLines
from virtiospec.reference.ring.packed.driver import PackedDriverLines

# -- the driver --------------------------------------------------------------------------
# Each variant is the reference with one of its lines turned off (PackedDriverLines,
# PackedDeviceLines).


class DriverNoWmb(PackedDriver):
    lines = PackedDriverLines(wmb_publish=False)  # BUG (RING-PACKED-050)


class DriverNoWrapFlip(PackedDriver):
    lines = PackedDriverLines(wrap_flip=False)  # BUG (RING-PACKED-012)


class DriverNoMbKick(PackedDriver):
    lines = PackedDriverLines(mb_kick=False)  # BUG (RING-PACKED-051)


class DriverNoRmb(PackedDriver):
    lines = PackedDriverLines(rmb_used=False)  # BUG (RING-PACKED-055)


class DriverTrustsUsedId(PackedDriver):
    lines = PackedDriverLines(used_id_check=False)  # BUG (RING-PACKED-086)


class DriverNoRecheck(PackedDriver):
    lines = PackedDriverLines(recheck=False)  # BUG (RING-PACKED-071)


# -- the device --------------------------------------------------------------------------


class DeviceNoRmb(PackedDevice):
    lines = PackedDeviceLines(rmb_pop=False)  # BUG (RING-PACKED-054)


class DeviceIgnoresWrap(PackedDevice):
    lines = PackedDeviceLines(wrap_check=False)  # BUG (RING-PACKED-015)


class DeviceAvailOnly(PackedDevice):
    lines = PackedDeviceLines(used_check=False)  # BUG (RING-PACKED-015, RING-PACKED-021)


class DeviceNoWmb(PackedDevice):
    lines = PackedDeviceLines(wmb_push=False)  # BUG (RING-PACKED-052)


class DeviceNoMbNotify(PackedDevice):
    lines = PackedDeviceLines(mb_notify=False)  # BUG (RING-PACKED-053)


class DeviceEventOffByOne(PackedDevice):
    lines = PackedDeviceLines(need_event=False)  # BUG (RING-PACKED-064)


class DeviceNoRecheck(PackedDevice):
    lines = PackedDeviceLines(recheck=False)  # BUG (RING-PACKED-070)


# -- registration ------------------------------------------------------------------------

MACHINE_EXAMPLES = 2000  # a budget; the variants below are caught in far fewer runs
MACHINE_STEPS = 200
HOSTILE_EXAMPLES = 2000
SHRINK_SECONDS = 1.0
KEEP_LAST = 80  # steps of the failing run kept in the evidence

_SWITCH: dict[Callable[[], registry.Evidence], str] = {}  # run -> the switch it turns


def _named(run: Callable[[], registry.Evidence],
           *classes: type) -> Callable[[], registry.Evidence]:
    _SWITCH[run] = switched(*(c for c in classes if c not in (PackedDriver, PackedDevice)))
    return run
BOTH, DESC = (False, True), (True,)


def _machine(mode: Mode, *, driver: type[PackedDriver] = PackedDriver,
             device: type[PackedDevice] = PackedDevice,
             event_idx: tuple[bool, ...] = BOTH) -> Callable[[], registry.Evidence]:
    def run() -> registry.Evidence:
        cfg = PackedConfig(mode=mode, driver_cls=driver, device_cls=device,
                           event_idx=event_idx, steps=MACHINE_STEPS)
        return mutant_evidence(run_packed(cfg, MACHINE_EXAMPLES, derandomize=True,
                                          shrink_seconds=SHRINK_SECONDS), KEEP_LAST)

    return _named(run, driver, device)


def _hostile_device(device: type[PackedDevice]) -> Callable[[], registry.Evidence]:
    def run() -> registry.Evidence:
        return mutant_evidence(run_hostile_device(HostileConfig(device_cls=device),
                                                  HOSTILE_EXAMPLES, derandomize=True,
                                                  shrink_seconds=SHRINK_SECONDS), KEEP_LAST)

    return _named(run, device)


def _hostile_driver(driver: type[PackedDriver]) -> Callable[[], registry.Evidence]:
    def run() -> registry.Evidence:
        return mutant_evidence(run_hostile_driver(HostileConfig(driver_cls=driver),
                                                  HOSTILE_EXAMPLES, derandomize=True,
                                                  shrink_seconds=SHRINK_SECONDS), KEEP_LAST)

    return _named(run, driver)


MUTANTS: list[tuple[str, str, tuple[str, ...], Callable[[], registry.Evidence]]] = [
    ("ring.packed.ref.driver-no-wmb",
     "add stores the first descriptor's flags without a wmb after the list "
     "(PSO; not caught under x86-TSO, which never reorders stores)",
     ("RING-PACKED-050", "RING-PACKED-033", "RING-PACKED-092"),
     _machine("pso", driver=DriverNoWmb)),
    ("ring.packed.ref.device-no-wmb",
     "push stores a used descriptor's flags without a wmb after its id and "
     "len (PSO; not caught under x86-TSO)", ("RING-PACKED-052", "RING-PACKED-092"),
     _machine("pso", device=DeviceNoWmb)),
    ("ring.packed.ref.device-no-rmb",
     "pop loads the list without an rmb after the flags that show it "
     "available (RMO; not caught under x86-TSO, which never reorders loads)",
     ("RING-PACKED-054", "RING-PACKED-092"), _machine("rmo", device=DeviceNoRmb)),
    ("ring.packed.ref.driver-no-rmb",
     "get_used loads id and len without an rmb after the flags that show "
     "the descriptor used (RMO; not caught under x86-TSO)",
     ("RING-PACKED-055", "RING-PACKED-092"), _machine("rmo", driver=DriverNoRmb)),
    ("ring.packed.ref.driver-no-mb-kick",
     "kick_prepare loads the device's event suppression without the mb "
     "after making descriptors available", ("RING-PACKED-051", "RING-PACKED-110"),
     _machine("tso", driver=DriverNoMbKick)),
    ("ring.packed.ref.device-no-mb-notify",
     "should_notify loads the driver's event suppression without the "
     "mb after marking descriptors used", ("RING-PACKED-053", "RING-PACKED-111"),
     _machine("tso", device=DeviceNoMbNotify)),
    ("ring.packed.ref.driver-no-wrap-flip",
     "the driver never flips its wrap counter at the end of the ring",
     ("RING-PACKED-012", "RING-PACKED-013", "RING-PACKED-092"),
     _machine("sc", driver=DriverNoWrapFlip)),
    ("ring.packed.ref.device-ignores-wrap",
     "the device takes AVAIL != USED as available, whatever its wrap "
     "counter", ("RING-PACKED-015", "RING-PACKED-021", "RING-PACKED-092"),
     _machine("sc", device=DeviceIgnoresWrap)),
    ("ring.packed.ref.event-off-by-one",
     "the device notifies when the driver's off_wrap is in (old, new] "
     "instead of [old, new)", ("RING-PACKED-062", "RING-PACKED-064", "RING-PACKED-111"),
     _machine("sc", device=DeviceEventOffByOne, event_idx=DESC)),
    ("ring.packed.ref.device-no-recheck",
     "enable_notify sleeps without the mb and re-read of its read "
     "position", ("RING-PACKED-070", "RING-PACKED-110"),
     _machine("sc", device=DeviceNoRecheck)),
    ("ring.packed.ref.driver-no-recheck",
     "enable_cb sleeps without the mb and re-read of its used position",
     ("RING-PACKED-071", "RING-PACKED-111"), _machine("sc", driver=DriverNoRecheck)),
    ("ring.packed.ref.device-avail-only",
     "the device takes AVAIL matching its wrap counter as available, "
     "without looking at USED (a hostile driver's used marks are taken)",
     ("RING-PACKED-015", "RING-PACKED-021"), _hostile_device(DeviceAvailOnly)),
    ("ring.packed.ref.driver-trusts-used-id",
     "the driver frees whatever ID a used descriptor names",
     ("RING-PACKED-086",), _hostile_driver(DriverTrustsUsedId)),
]

for _name, _bug, _reqs, _run in MUTANTS:
    registry.mutant(_name, f"{_bug}; {_SWITCH[_run]}", _reqs,
                    "hypothesis")(_run)
