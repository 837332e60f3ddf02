"""Split and packed virtqueues on two real threads: a native library (``lib:``) with
``--stress SECONDS``.

Three cases per ring, each a two-thread run of reference/ring/c/ring_threads.c over the ABI
(conformance/ring/lib_stress.py): the library's driver against the reference's device (ring.c,
or ring_packed.c for ``ring.stress-packed.*``, which SKIP on a library without the packed
ABI), the reference's driver against the library's device, and the library on both sides.
They run only with ``--stress`` (``conformance run --target lib:X.so --stress 10``) and SKIP
otherwise.
"""

from __future__ import annotations

import os
from pathlib import Path

from virtiospec.conformance.cases import CaseSkipped, Result, Side, case
from virtiospec.conformance.ring import lib_stress
from virtiospec.conformance.ring.target_packed_abi import packed_abi

REQS = ("RING-SPLIT-070", "RING-SPLIT-071", "RING-SPLIT-072", "RING-SPLIT-073",
        "RING-SPLIT-075", "RING-SPLIT-076", "RING-SPLIT-092", "RING-SPLIT-110",
        "RING-SPLIT-111")
RUNS: dict[str, tuple[Side, str]] = {
    "driver-vs-ring.c": ("driver", "the library's driver against ring.c's device"),
    "device-vs-ring.c": ("device", "ring.c's driver against the library's device"),
    "both-sides": ("driver", "the library's driver against the library's device"),
}
PACKED_REQS = ("RING-PACKED-051", "RING-PACKED-053", "RING-PACKED-070", "RING-PACKED-071")
PACKED_RUNS: dict[str, tuple[Side, str]] = {
    "driver-vs-ring_packed.c": ("driver", "the library's packed driver against ring_packed.c's "
                                "device"),
    "device-vs-ring_packed.c": ("device", "ring_packed.c's driver against the library's packed "
                                "device"),
    "both-sides": ("driver", "the library's packed driver against its packed device"),
}


def seconds(target: object) -> float:
    """The --stress bound of this run, or SKIP."""
    s = float(getattr(target, "stress_seconds", 0) or os.environ.get(lib_stress.STRESS_ENV)
              or 0)
    if s <= 0:
        raise CaseSkipped("a two-thread stress case: run with --stress SECONDS")
    return s


def library(target: object) -> tuple[Path, tuple[str, ...]]:
    abi = getattr(target, "abi", None)
    path = Path(getattr(abi, "name", ""))
    if abi is None or not path.is_file():
        raise CaseSkipped(f"target {getattr(target, 'name', target)} has no library file to "
                          "load on two threads (use lib:PATH.so)")
    return path, tuple(getattr(target, "sides", ("driver", "device")))


def _register(run: str, side: Side, summary: str, packed: bool = False) -> None:
    def body(target: object) -> Result:
        s = seconds(target)
        lib, sides = library(target)
        if packed:
            packed_abi(target.abi, str(getattr(target, "name", target)))  # type: ignore[attr-defined]
        chosen = [p for p in lib_stress.pairs(lib, sides, packed) if p[0] == run]
        if not chosen:
            raise CaseSkipped(f"target {getattr(target, 'name', target)} is restricted to the "
                              f"{' and '.join(sides)} side")
        _, driver, device = chosen[0]
        return lib_stress.stress(driver, device, s, packed=packed).result

    case(f"ring.stress-packed.{run}" if packed else f"ring.split.stress.{run}",
         PACKED_REQS if packed else REQS, side, "ring", summary + ", two threads, sleeping "
         "waiters woken only by notifications", budget=3600.0)(body)


for _run, (_side, _summary) in RUNS.items():
    _register(_run, _side, _summary)
for _run, (_side, _summary) in PACKED_RUNS.items():
    _register(_run, _side, _summary, packed=True)
