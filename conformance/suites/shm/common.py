"""What the shm suites share (shm_table.py, shm_signal.py): registering a case, stepping a
target's side or skipping, the canary check of the memory around a structure, refusals.

A case's ``side`` is that of the role in the reference's clock (SHM-CLOCK-001): the device
writes the table and sends the signal, the driver reads and receives. The requirements
themselves say ``both``: a table's writer or a signal's sender may be either side.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from virtiospec.conformance.cases import (
    CaseFailed,
    CaseSkipped,
    Outcome,
    Result,
    Side,
    case,
)
from virtiospec.conformance.shm.api import NoAnswer, ShmSetup, TableSetup
from virtiospec.conformance.targets import need
from virtiospec.reference.shm import Snapshot

U32 = 0xFFFFFFFF
SIDE: dict[str, Side] = {"writer": "device", "reader": "driver", "sender": "device",
                         "receiver": "driver"}
WHOLE = ("whole operations only: the target does not speak the access protocol, so the "
         "interleavings of this case were not stepped")


def shm_case(id: str, reqs: tuple[str, ...], role: str, summary: str, budget: float = 10.0,
             ) -> Callable[[Callable[[Any], Result | None]], Callable[[Any], Result | None]]:
    """Register a case of the shm layer for ``role`` (writer, reader, sender, receiver). An
    operation of the target that does not return within its access budget (:class:`NoAnswer`)
    makes the case WEDGED."""

    def deco(fn: Callable[[Any], Result | None]) -> Callable[[Any], Result | None]:
        @functools.wraps(fn)
        def body(target: Any) -> Result | None:
            try:
                return fn(target)
            except NoAnswer as err:
                return Result(Outcome.WEDGED, str(err))

        case(id, reqs, SIDE[role], "shm", summary, budget)(body)
        return fn

    return deco


def side(target: Any, factory: str, setup: ShmSetup) -> Any:
    """The target's side built by ``factory`` on ``setup``, after the memory is prepared
    (canaries around the structure, the structure zero)."""
    make = need(target, factory)
    setup.prepare()
    return make(setup)


def stepped(target: Any, obj: Any, proto: Any, role: str) -> Any:
    """``obj``, a steppable side (an instance of the ``Stepped*`` protocol ``proto``), or
    SKIP: the case needs the access protocol."""
    if not isinstance(obj, proto):
        raise CaseSkipped(f"target {getattr(target, 'name', target)} runs whole operations "
                          f"only; this case steps the {role} access by access (the reference "
                          "and the stepped build of shm.c do)")
    return obj


def val(n: int, words: int) -> tuple[int, ...]:
    """The ``n``-th value a case writes: no two values share a word, so a mix of two values'
    words is no value at all."""
    return tuple(((k + 1) << 28 | n) & U32 for k in range(words))


def snapshot(setup: ShmSetup) -> bytes:
    return setup.memory.read_bytes(0, setup.memory.size)


def check_untouched(setup: ShmSetup, before: bytes, what: str,
                    allowed: tuple[int, int] | None = None,
                    inside_req: str = "SHM-REGION-007") -> None:
    """No byte changed since ``before`` but those of ``allowed`` (offset, size in the
    region). A change outside the region breaks SHM-REGION-007; one inside it but outside
    ``allowed`` breaks ``inside_req``."""
    now = snapshot(setup)
    if now == before:
        return
    lo, hi = -1, -1
    if allowed is not None:
        lo, hi = setup.base + allowed[0], setup.base + allowed[0] + allowed[1]
    for addr, (old, new) in enumerate(zip(before, now, strict=True)):
        if old == new or lo <= addr < hi:
            continue
        inside = setup.base <= addr < setup.base + setup.length
        req = inside_req if inside else "SHM-REGION-007"
        where = (f"region offset {addr - setup.base:#x}" if inside
                 else f"guest address {addr:#x}, outside the region")
        raise CaseFailed(f"{req}: {what} changed the byte at {where}",
                         expected=f"{old:#04x}, untouched", observed=f"{new:#04x}")


def refused(action: Callable[[], object], reqs: set[str], what: str) -> str:
    """Run ``action``, which feeds the target bad input: it must raise an error naming one
    of ``reqs``. Returns what the refusal said; a case failure of the target's (an access
    outside the region), a skip (the target lacks the side) or a hang propagates."""
    try:
        got = action()
    except (CaseFailed, CaseSkipped, NoAnswer):
        raise
    except Exception as err:  # the target's error type is its own; its req is what counts
        req = getattr(err, "req", None)
        want = " or ".join(sorted(reqs))
        if req is None:
            raise CaseFailed(f"{what}: refused with {type(err).__name__} naming no requirement",
                             expected=f"an error naming {want}",
                             observed=f"{type(err).__name__}: {err}") from None
        if req not in reqs:
            raise CaseFailed(f"{what}: refused for the wrong reason", expected=want,
                             observed=f"{req}: {err}") from None
        return f"{what}: {err}"
    raise CaseFailed(f"{what}: accepted", expected=f"a refusal naming {' or '.join(sorted(reqs))}",
                     observed=f"accepted, returned {got!r}")


def refuses_layouts(target: Any, factory: str, setups: list[tuple[ShmSetup, set[str], str]],
                    ) -> Result:
    """Each setup is refused when the side is built, naming one of its requirements, and
    no byte of memory changes (SHM-REGION-007: the check comes before any access)."""
    said = []
    make = need(target, factory)
    for setup, reqs, what in setups:
        setup.prepare()
        before = snapshot(setup)
        said.append(refused(functools.partial(make, setup), reqs, what))
        check_untouched(setup, before, f"refusing {what}", inside_req="SHM-REGION-007")
    return Result(Outcome.REJECT, "; ".join(said))


def busy(action: Callable[[], object], last: Snapshot, what: str) -> Exception:
    """``action`` is a read that must give up (SHM-TABLE-011) with ``last``, the last good
    value, which the reader keeps. Returns the error."""
    try:
        got = action()
    except (CaseFailed, CaseSkipped, NoAnswer):
        raise
    except Exception as err:
        req = getattr(err, "req", None)
        if req != "SHM-TABLE-011":
            raise CaseFailed(f"SHM-TABLE-011: {what}: failed, but not as a busy table",
                             expected="an error naming SHM-TABLE-011",
                             observed=f"{type(err).__name__} ({req}): {err}") from None
        kept = getattr(err, "last", None)
        if kept != last:
            raise CaseFailed(f"SHM-TABLE-011: {what}: the busy read did not keep the last good "
                             "value", expected=str(last), observed=str(kept)) from None
        return err
    raise CaseFailed(f"SHM-TABLE-011: {what}: returned a value", expected="busy, the last "
                     f"good value {last} kept", observed=f"returned {got!r}")


def snap(setup: TableSetup, slot: int) -> Snapshot:
    """What the table holds in memory for ``slot``, as the reader would see it whole."""
    return Snapshot(setup.seq(slot), setup.value(slot))
