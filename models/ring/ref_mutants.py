"""Known-bad variants of the Python split-ring reference, and what refutes each.

Every variant is a subclass of :class:`SplitDriver` or :class:`SplitDevice` that turns off one
switch of the reference's ``lines`` (:class:`~virtiospec.reference.ring.driver.DriverLines`,
:class:`~virtiospec.reference.ring.device.DeviceLines`): the one line of the reference that
tests it is broken (marked ``BUG``, naming the requirement it breaks), and nothing else is
copied, so a variant cannot drift from the reference. The registered description names the
switch and the reference method it breaks. Each is registered as ``ring.ref.<name>`` and run
against the machine that should catch it: the interleaving machine (models/ring/machine.py)
under the memory model that exposes the bug, or the hostile-input machines
(models/ring/hostile.py). A run is derandomized, so its outcome is reproducible; a variant
counts as refuted only when the run fails with a requirement violation, and the evidence
carries the shrunk failing interleaving.

A missing ``rmb`` (``device-no-rmb``, ``driver-no-rmb``) is run under RMO, the one memory model
that reorders loads: under x86-TSO (and SC, PSO) an ``rmb`` is a no-op, so the variant's
executions are the reference's and no run can catch it. A missing forced notification
(``driver-no-forced-kick``, ``device-no-forced-notify``, RING-SPLIT-101) needs 2^16
publications between two decisions: the deterministic scenarios of ``ring.alias.event_idx``
(models/ring/machine.py) catch it, not the interleaving machine.
"""

from __future__ import annotations

from collections.abc import Callable

from virtiospec.models import registry
from virtiospec.models.hypothesis_run import mutant_evidence
from virtiospec.models.memory.tso import Mode
from virtiospec.models.ring.alias import ALIAS_SCENARIOS, check_alias
from virtiospec.models.ring.hostile import HostileConfig, run_hostile_device, run_hostile_driver
from virtiospec.models.ring.machine import RingConfig, run_ring
from virtiospec.models.variant_switch import switched
from virtiospec.reference.ring import SplitDevice, SplitDriver
from virtiospec.reference.ring.device import DeviceLines
from virtiospec.reference.ring.driver import DriverLines

# -- the driver --------------------------------------------------------------------------
# Each variant is the reference with one of its lines turned off (DriverLines, DeviceLines).


class DriverNoMbKick(SplitDriver):
    lines = DriverLines(mb_kick=False)  # BUG (RING-SPLIT-070)


class DriverNoRecheck(SplitDriver):
    lines = DriverLines(recheck=False)  # BUG (RING-SPLIT-073)


class DriverNoWmb(SplitDriver):
    lines = DriverLines(wmb_publish=False)  # BUG (RING-SPLIT-032)


class DriverUsedEventRead(SplitDriver):
    lines = DriverLines(used_event_store=False)  # BUG (RING-SPLIT-051)


class DriverTrustsUsedId(SplitDriver):
    lines = DriverLines(used_id_check=False)  # BUG (RING-SPLIT-085)


class DriverNoRmbUsed(SplitDriver):
    lines = DriverLines(rmb_used=False)  # BUG (RING-SPLIT-076)


class DriverNoForcedKick(SplitDriver):
    lines = DriverLines(forced_kick=False)  # BUG (RING-SPLIT-101)


class DriverNoLenCheck(SplitDriver):
    lines = DriverLines(used_len_check=False)  # BUG (RING-SPLIT-085)


# -- the device --------------------------------------------------------------------------


class DeviceNoMbNotify(SplitDevice):
    lines = DeviceLines(mb_notify=False)  # BUG (RING-SPLIT-071)


class DeviceNoForcedNotify(SplitDevice):
    lines = DeviceLines(forced_notify=False)  # BUG (RING-SPLIT-101)


class DeviceNoRmbPop(SplitDevice):
    lines = DeviceLines(rmb_pop=False)  # BUG (RING-SPLIT-075)


class DeviceNeedEventOffByOne(SplitDevice):
    lines = DeviceLines(need_event=False)  # BUG (RING-SPLIT-100)


class DeviceNoRecheck(SplitDevice):
    lines = DeviceLines(recheck=False)  # BUG (RING-SPLIT-072)


class DeviceNoWmb(SplitDevice):
    lines = DeviceLines(wmb_push=False)  # BUG (RING-SPLIT-043)


class DeviceUsedIdxWrap(SplitDevice):
    lines = DeviceLines(used_idx_u16=False)  # BUG (RING-SPLIT-043)


class DeviceNoAvailJumpCheck(SplitDevice):
    lines = DeviceLines(avail_jump_check=False)  # BUG (RING-SPLIT-084)


class DeviceUnboundedWalk(SplitDevice):
    lines = DeviceLines(bounded=False)  # BUG (RING-SPLIT-080): a loop never ends


class DeviceNoHeadCheck(SplitDevice):
    lines = DeviceLines(head_check=False)  # BUG (RING-SPLIT-080)


class DeviceReadableAfterWritable(SplitDevice):
    lines = DeviceLines(order_check=False)  # BUG (RING-SPLIT-083)


class DeviceNestedIndirect(SplitDevice):
    lines = DeviceLines(nested_check=False)  # BUG (RING-SPLIT-081)


class DeviceIndirectOutside(SplitDevice):
    lines = DeviceLines(table_inside=False)  # BUG (RING-SPLIT-082)


# -- registration ------------------------------------------------------------------------

MACHINE_EXAMPLES = 2000  # the hardest variants take a few hundred runs on average
MACHINE_STEPS = 200
HOSTILE_EXAMPLES = 2000
SHRINK_SECONDS = 1.0
KEEP_LAST = 80  # steps of the failing run kept in the evidence

_SWITCH: dict[Callable[[], registry.Evidence], str] = {}  # run -> the switch it turns


def _named(run: Callable[[], registry.Evidence],
           *classes: type) -> Callable[[], registry.Evidence]:
    _SWITCH[run] = switched(*(c for c in classes if c not in (SplitDriver, SplitDevice)))
    return run


def _machine(mode: Mode, event_idx: bool, *, driver: type[SplitDriver] = SplitDriver,
             device: type[SplitDevice] = SplitDevice) -> Callable[[], registry.Evidence]:
    def run() -> registry.Evidence:
        cfg = RingConfig(mode=mode, event_idx=event_idx, driver_cls=driver, device_cls=device,
                         steps=MACHINE_STEPS)
        return mutant_evidence(run_ring(cfg, MACHINE_EXAMPLES, derandomize=True,
                                        shrink_seconds=SHRINK_SECONDS), KEEP_LAST)

    return _named(run, driver, device)


def _alias(direction: str, *, driver: type[SplitDriver] = SplitDriver,
           device: type[SplitDevice] = SplitDevice) -> Callable[[], registry.Evidence]:
    """The scenarios of ring.alias.event_idx in which ``direction``'s producer is the one
    that must force its notification."""
    scenarios = tuple(sc for sc in ALIAS_SCENARIOS if sc.direction == direction)

    def run() -> registry.Evidence:
        return mutant_evidence(check_alias(scenarios, driver_cls=driver, device_cls=device))

    return _named(run, driver, device)


def _hostile_device(device: type[SplitDevice]) -> Callable[[], registry.Evidence]:
    def run() -> registry.Evidence:
        cfg = HostileConfig(device_cls=device)
        return mutant_evidence(run_hostile_device(cfg, HOSTILE_EXAMPLES, derandomize=True,
                                                  reference=HostileConfig(),
                                                  shrink_seconds=SHRINK_SECONDS), KEEP_LAST)

    return _named(run, device)


def _hostile_driver(driver: type[SplitDriver]) -> Callable[[], registry.Evidence]:
    def run() -> registry.Evidence:
        cfg = HostileConfig(driver_cls=driver)
        return mutant_evidence(run_hostile_driver(cfg, HOSTILE_EXAMPLES, derandomize=True,
                                                  reference=HostileConfig(),
                                                  shrink_seconds=SHRINK_SECONDS), KEEP_LAST)

    return _named(run, driver)


MUTANTS: list[tuple[str, str, tuple[str, ...], Callable[[], registry.Evidence]]] = [
    ("ring.ref.driver-no-mb-kick", "kick_prepare without the mb before loading used.flags",
     ("RING-SPLIT-070", "RING-SPLIT-110"), _machine("tso", False, driver=DriverNoMbKick)),
    ("ring.ref.device-no-mb-notify", "should_notify without the mb before loading avail.flags",
     ("RING-SPLIT-071", "RING-SPLIT-111"), _machine("tso", False, device=DeviceNoMbNotify)),
    ("ring.ref.device-no-recheck", "enable_notify sleeps without re-reading avail.idx",
     ("RING-SPLIT-072", "RING-SPLIT-110"), _machine("sc", False, device=DeviceNoRecheck)),
    ("ring.ref.driver-no-recheck", "enable_cb sleeps without re-reading used.idx",
     ("RING-SPLIT-073", "RING-SPLIT-111"), _machine("sc", False, driver=DriverNoRecheck)),
    ("ring.ref.driver-no-wmb", "add publishes avail.idx without a wmb after the entries",
     ("RING-SPLIT-032", "RING-SPLIT-092"), _machine("pso", False, driver=DriverNoWmb)),
    ("ring.ref.device-no-wmb", "push publishes used.idx without a wmb after the elements",
     ("RING-SPLIT-043", "RING-SPLIT-092"), _machine("pso", False, device=DeviceNoWmb)),
    ("ring.ref.need-event-off-by-one", "the device notifies when used_event is in (old, new]",
     ("RING-SPLIT-053", "RING-SPLIT-100", "RING-SPLIT-111"),
     _machine("sc", True, device=DeviceNeedEventOffByOne)),
    ("ring.ref.used-idx-wrap", "the device wraps used.idx at Q instead of 2^16",
     ("RING-SPLIT-043", "RING-SPLIT-092"), _machine("sc", False, device=DeviceUsedIdxWrap)),
    ("ring.ref.used-event-read", "get_used loads used_event instead of storing it",
     ("RING-SPLIT-051", "RING-SPLIT-111"), _machine("sc", True, driver=DriverUsedEventRead)),
    ("ring.ref.unbounded-walk", "the device walks a chain without the seen-set and the Q bound",
     ("RING-SPLIT-080",), _hostile_device(DeviceUnboundedWalk)),
    ("ring.ref.no-head-check", "the device walks a head >= Q",
     ("RING-SPLIT-080",), _hostile_device(DeviceNoHeadCheck)),
    ("ring.ref.no-avail-jump-check", "the device pops although avail.idx moved more than Q",
     ("RING-SPLIT-084",), _hostile_device(DeviceNoAvailJumpCheck)),
    ("ring.ref.readable-after-writable", "the device takes a readable buffer after a writable one",
     ("RING-SPLIT-083",), _hostile_device(DeviceReadableAfterWritable)),
    ("ring.ref.nested-indirect", "the device follows an indirect table inside an indirect table",
     ("RING-SPLIT-081",), _hostile_device(DeviceNestedIndirect)),
    ("ring.ref.indirect-outside-memory",
     "the device reads an indirect table that is outside memory",
     ("RING-SPLIT-082",), _hostile_device(DeviceIndirectOutside)),
    ("ring.ref.driver-trusts-used-id", "the driver frees whatever id the device returns",
     ("RING-SPLIT-085", "RING-SPLIT-093"), _hostile_driver(DriverTrustsUsedId)),
    ("ring.ref.driver-no-len-check", "the driver passes on a used len beyond the writable bytes",
     ("RING-SPLIT-085",), _hostile_driver(DriverNoLenCheck)),
    ("ring.ref.device-no-rmb",
     "pop loads the available ring entry and the descriptors without an rmb "
     "after loading avail.idx (RMO; not caught under x86-TSO, which never "
     "reorders loads)", ("RING-SPLIT-075", "RING-SPLIT-092"),
     _machine("rmo", False, device=DeviceNoRmbPop)),
    ("ring.ref.driver-no-rmb", "get_used loads the used element and then the buffer without an rmb "
     "after loading used.idx (RMO; not caught under x86-TSO, which never "
     "reorders loads)", ("RING-SPLIT-076", "RING-SPLIT-041", "RING-SPLIT-092"),
     _machine("rmo", False, driver=DriverNoRmbUsed)),
]

# caught by deterministic scenarios, not by a Hypothesis search
SCENARIO_MUTANTS: list[tuple[str, str, tuple[str, ...], Callable[[], registry.Evidence]]] = [
    ("ring.ref.driver-no-forced-kick", "kick_prepare does not force a kick after 2^16 - 1 or more "
     "additions since its last decision (EVENT_IDX: after 2^16 the window is empty)",
     ("RING-SPLIT-101", "RING-SPLIT-110"), _alias("avail", driver=DriverNoForcedKick)),
    ("ring.ref.device-no-forced-notify",
     "should_notify does not force an interrupt after 2^16 - 1 or "
     "more used elements since its last decision (after 2^16 used.idx looks unchanged)",
     ("RING-SPLIT-101", "RING-SPLIT-111"), _alias("used", device=DeviceNoForcedNotify)),
]

for _name, _bug, _reqs, _run in MUTANTS:
    registry.mutant(_name, f"{_bug}; {_SWITCH[_run]}", _reqs, "hypothesis")(_run)
for _name, _bug, _reqs, _run in SCENARIO_MUTANTS:
    registry.mutant(_name, f"{_bug}; {_SWITCH[_run]}", _reqs, "test")(_run)
