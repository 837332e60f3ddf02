"""The table and the shm-signal on two real threads: a native library (``shm-lib:``) with
``--stress SECONDS`` (conformance/shm/stress.py). Six cases (``shm.*.stress-*``): for the
table and the signal, the library's side against shm.c's other side, each way, then the
library on both sides. They run only with ``--stress`` and SKIP otherwise."""

from __future__ import annotations

from pathlib import Path

from virtiospec.conformance.cases import CaseSkipped, Result, case
from virtiospec.conformance.shm import stress as shm_stress
from virtiospec.conformance.suites.ring.stress import seconds
from virtiospec.conformance.suites.shm.common import SIDE

REQS = {"table": ("SHM-TABLE-004", "SHM-TABLE-005", "SHM-TABLE-006"),
        "signal": ("SHM-SIGNAL-004", "SHM-SIGNAL-005", "SHM-SIGNAL-006", "SHM-SIGNAL-010")}
SUMMARY = {"table.writer.stress-vs-shm.c": "the library's {} against shm.c's other side",
           "table.reader.stress-vs-shm.c": "shm.c against the library's {}",
           "signal.sender.stress-vs-shm.c": "the library's {} against shm.c's other side",
           "signal.receiver.stress-vs-shm.c": "shm.c against the library's {}",
           "table.reader.stress-both-sides": "the library's {} on both sides",
           "signal.receiver.stress-both-sides": "the library's {} on both sides"}


def _register(id: str, run: str, mode: str, roles: tuple[str, ...], lib_device: bool,
              lib_driver: bool) -> None:
    def body(target: object) -> Result:
        s = seconds(target)
        abi = getattr(target, "shm_abi", None)
        path = Path(getattr(abi, "name", ""))
        if abi is None or not path.is_file():
            raise CaseSkipped(f"target {getattr(target, 'name', target)} has no library file "
                              "to load on two threads (use shm-lib:PATH.so)")
        offered = tuple(getattr(target, "shm_roles", roles))
        if any(r not in offered for r in roles):
            raise CaseSkipped(f"target {getattr(target, 'name', target)} is restricted to the "
                              f"{', '.join(offered)} role(s); this case needs "
                              f"{', '.join(roles)}")
        ref = shm_stress.reference_lib()
        return shm_stress.stress(path if lib_device else ref, path if lib_driver else ref,
                                 mode, s)

    what = " and ".join(roles)
    case(id, REQS[mode], SIDE[roles[-1]], "shm", SUMMARY[run].format(what)
         + ", two threads", budget=3600.0)(body)


# case ID, run of conformance/shm/stress.py (RUNS), in its order
CASES: tuple[tuple[str, str], ...] = (
    ("shm.table.writer.stress-vs-shm.c", "table.writer.stress-vs-shm.c"),
    ("shm.table.reader.stress-vs-shm.c", "table.reader.stress-vs-shm.c"),
    ("shm.table.reader.stress-both-sides", "table.reader.stress-both-sides"),
    ("shm.signal.sender.stress-vs-shm.c", "signal.sender.stress-vs-shm.c"),
    ("shm.signal.receiver.stress-vs-shm.c", "signal.receiver.stress-vs-shm.c"),
    ("shm.signal.receiver.stress-both-sides", "signal.receiver.stress-both-sides"),
)
if [run for _, run in CASES] != list(shm_stress.RUNS):
    raise ValueError("CASES must name every run of conformance/shm/stress.py, in its order")
for _id, _run in CASES:
    _register(_id, _run, *shm_stress.RUNS[_run])
