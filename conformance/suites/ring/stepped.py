"""Split virtqueue, stepped: the target's barriers, for targets built from source.

A target that steps its C code access by access under the memory models (``--target
src:...``, conformance/ring/tsan_step/) provides ``ring_stepped``: its driver and device classes
with the interface of the Python reference. These cases race one side of the target
against the Python reference's other side, with Hypothesis choosing the schedule
(derandomized: the verdict is reproducible), with flag and with EVENT_IDX suppression:

* the kick and interrupt races under x86-TSO (models/ring/c_litmus.py): a missing full
  barrier loses a wakeup;
* the used and avail message-passing races under RMO (models/ring/mp_litmus.py): a missing
  write or read barrier hands over a stale entry.

A failure shows the shortest schedule found, as a two-column sequence diagram. Every other
target SKIPs these cases (their operations run whole: nothing can interleave them).
"""

from __future__ import annotations

from typing import Any

from virtiospec.conformance.cases import CaseFailed, case
from virtiospec.conformance.targets import need

EXAMPLES = 60


def _race(target: object, race: str, side: str, req: str) -> None:
    from virtiospec.models.render import render_trace
    from virtiospec.models.ring.c_litmus import LitmusConfig
    from virtiospec.models.ring.tsan_checks import run_race
    from virtiospec.reference.c_stepping import abort_all
    from virtiospec.reference.ring import SplitDevice, SplitDriver

    drv_cls, dev_cls = need(target, "ring_stepped")
    pair: tuple[Any, Any] = (drv_cls, SplitDevice) if side == "driver" else (SplitDriver, dev_cls)
    for event_idx in (False, True):
        try:
            ev = run_race(race, LitmusConfig(*pair, event_idx), EXAMPLES, derandomize=True)
        finally:
            abort_all()
        if not ev.ok:
            feature = "EVENT_IDX" if event_idx else "flag"
            raise CaseFailed(f"{race} race, {feature} suppression: {ev.detail}",
                             "no schedule breaks it", render_trace(ev.trace), req=req)


RACES = {
    ("kick", "driver"): ("RING-SPLIT-070", "RING-SPLIT-110"),
    ("kick", "device"): ("RING-SPLIT-072", "RING-SPLIT-110"),
    ("interrupt", "driver"): ("RING-SPLIT-073", "RING-SPLIT-111"),
    ("interrupt", "device"): ("RING-SPLIT-071", "RING-SPLIT-111"),
    ("used", "driver"): ("RING-SPLIT-076", "RING-SPLIT-092"),
    ("used", "device"): ("RING-SPLIT-043", "RING-SPLIT-092"),
    ("avail", "driver"): ("RING-SPLIT-032", "RING-SPLIT-092"),
    ("avail", "device"): ("RING-SPLIT-075", "RING-SPLIT-092"),
}
WHAT = {"kick": "the kick lost-wakeup race (x86-TSO)",
        "interrupt": "the interrupt lost-wakeup race (x86-TSO)",
        "used": "the used-ring message-passing race (RMO)",
        "avail": "the available-ring message-passing race (RMO)"}


def _register(id: str, race: str, side: str, reqs: tuple[str, ...]) -> None:
    other = "device" if side == "driver" else "driver"

    @case(id, reqs, side, "ring",  # type: ignore[arg-type]
          f"{WHAT[race]}: the target's {side}, stepped, against the reference {other}",
          budget=180.0)
    def run(target: object) -> None:
        _race(target, race, side, reqs[0])


# case ID, race, side: one row for each entry of RACES, in its order
CASES: tuple[tuple[str, str, str], ...] = (
    ("ring.split.stepped.driver.kick-race", "kick", "driver"),
    ("ring.split.stepped.device.kick-race", "kick", "device"),
    ("ring.split.stepped.driver.interrupt-race", "interrupt", "driver"),
    ("ring.split.stepped.device.interrupt-race", "interrupt", "device"),
    ("ring.split.stepped.driver.used-race", "used", "driver"),
    ("ring.split.stepped.device.used-race", "used", "device"),
    ("ring.split.stepped.driver.avail-race", "avail", "driver"),
    ("ring.split.stepped.device.avail-race", "avail", "device"),
)
if [(race, side) for _, race, side in CASES] != list(RACES):
    raise ValueError("CASES must name every race and side of RACES, in its order")
for _id, _race_name, _side in CASES:
    _register(_id, _race_name, _side, RACES[(_race_name, _side)])
