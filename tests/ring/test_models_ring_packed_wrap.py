"""The Z3 terms of the packed ring's wrap models (models/ring/packed/wrap.py, wrap_ring.py)
compute what the Python reference computes, and their proofs are not vacuous: a broken
window or wrap counter fails them, each ring invariant conjunct is needed, and the ring model
wraps with lists that do not divide the queue size. (That the proofs hold:
test_models_ring_packed_z3.py.)"""

from __future__ import annotations

import itertools

import pytest
import z3
from virtiospec.models import registry
from virtiospec.models.ring.packed import wrap as wr
from virtiospec.models.ring.packed import wrap_ring as wrr
from virtiospec.models.z3util import State, check_inductive, search
from virtiospec.reference.ring.packed.layout import (
    EVENT_OFF_MASK,
    VIRTQ_DESC_F_AVAIL,
    VIRTQ_DESC_F_USED,
    advance,
    decide,
    is_avail,
    is_used,
    lap_index,
    off_wrap,
    packed_need_event,
)


# -- the Z3 terms are the reference's --------------------------------------------------------
def _value(e: z3.ExprRef) -> int | bool:
    v = z3.simplify(e)
    return bool(z3.is_true(v)) if z3.is_bool(v) else int(v.as_long())


def _i(x: int) -> z3.ArithRef:
    return z3.IntVal(x)


def _b(x: int) -> z3.BoolRef:
    return z3.BoolVal(bool(x))


SIZES = (1, 2, 3, 5, 8)


@pytest.mark.req("RING-PACKED-012")
def test_advance_and_off_wrap_are_the_reference() -> None:
    for q in SIZES:
        for p, w, n in itertools.product(range(q), (0, 1), range(2 * q)):
            pos, wrap, more = wr.advance(_i(q), _i(p), _b(w), _i(n))
            assert (_value(pos), int(_value(wrap))) == advance(q, p, w, n)
            assert not _value(more)
            assert _value(wr.lap(_i(q), _i(p), _b(w))) == lap_index(q, p, w)
    for pos, w in itertools.product((0, 1, 7, 0x4000, 0x7FFF), (0, 1)):
        ow = _value(wr.off_wrap(_i(pos), _b(w)))
        assert ow == off_wrap(pos, w)
        assert _value(wr.event_off(_i(int(ow)))) == pos
        assert _value(wr.event_wrap(_i(int(ow)))) == bool(w)


@pytest.mark.req("RING-PACKED-015")
def test_marks_are_the_reference() -> None:
    for flags in range(0, 1 << 16, 0x40):
        fa, fu = bool(flags & VIRTQ_DESC_F_AVAIL), bool(flags & VIRTQ_DESC_F_USED)
        for w in (0, 1):
            assert _value(wr.is_avail(_b(fa), _b(fu), _b(w))) == is_avail(flags, w)
            assert _value(wr.is_used(_b(fa), _b(fu), _b(w))) == is_used(flags, w)


@pytest.mark.req("RING-PACKED-062", "RING-PACKED-064")
def test_need_event_and_decide_are_the_reference() -> None:
    """On every small case: where the offset names a position, the transcription's ``%``
    are taken on [-2Q, 2Q) and it, and the lap-index form, give the reference's answer."""
    for q in (1, 2, 3, 5):
        events = [off | w << 15 for off in range(q + 2) for w in (0, 1)]
        for ev, new, passed in itertools.product(events, range(2 * q), range(2 * q + 2)):
            want = packed_need_event(q, ev, new, passed)
            got, in_range = wr.need_event_ref(_i(q), _i(ev), _i(new), _i(passed))
            if ev & EVENT_OFF_MASK < q:
                assert _value(in_range) and _value(got) == want, (q, ev, new, passed)
                fast = wr.need_event_fast(_i(q), _i(ev), _i(new), _i(passed))
                assert _value(fast) == want
            elif _value(in_range):
                assert _value(got) == want
    for q, ev, new, passed in ((1, 0x8000, 1, 1), (3, 2, 4, 2), (3, 0x8002, 0, 5), (5, 4, 9, 3)):
        for flags16, event_idx in itertools.product((0, 1, 2, 3, 4, 6, 0x8001), (False, True)):
            d, ok = wr.decide_ref(_i(q), _i(flags16), _i(ev), event_idx, _i(new), _i(passed))
            assert _value(ok)
            assert _value(d) == decide(q, flags16 << 16 | ev, event_idx, new, passed)


@pytest.mark.req("RING-PACKED-064")
def test_the_c_window_transcription_is_the_c_function() -> None:
    """need_event_c against the compiled vs_packed_need_event (reference/ring/c/ring_packed.c)."""
    c = pytest.importorskip("virtiospec.reference.ring.c._ring_packed")
    for q in (1, 2, 3, 5):
        events = [off | w << 15 for off in range(q + 2) for w in (0, 1)]
        for ev, new, passed in itertools.product(events, range(2 * q), range(2 * q + 2)):
            got, in_range = wr.need_event_c(_i(q), _i(ev), _i(new), _i(passed))
            if _value(in_range):
                assert _value(got) == c.lib.vs_packed_need_event(q, ev, new, passed)
            else:
                assert ev & EVENT_OFF_MASK >= q


@pytest.mark.req("RING-PACKED-062")
def test_an_off_wrap_naming_no_position_can_notify() -> None:
    """The mismatch the window proof reports, on the reference itself."""
    ev = registry.PROOFS["ring.packed.wrap.window"].run()
    assert "Mismatch" in ev.detail and "Q=1, off_wrap=0x0001" in ev.detail
    assert packed_need_event(1, 0x0001, 1, 1)  # offset 1 in a queue of 1: no such position


# -- not vacuous: the wrap proofs ------------------------------------------------------------
@pytest.mark.req("RING-PACKED-064")
def test_an_off_by_one_window_fails_the_window_proof() -> None:
    q, p0, k, j, ev = (z3.Int(n) for n in ("Q", "p0", "k", "j", "ev"))
    w0 = z3.Bool("w0")
    np_, nw, _ = wr.advance(q, p0, w0, k)
    new = wr.lap(q, np_, nw)
    old = wr.dist(q, k, new)
    d = wr.dist(q, old, wr.event_lap(q, ev))
    off_by_one = z3.And(d > 0, d <= k)  # (old, new]
    reaches = wr._reaches(q, p0, w0, j, ev)
    hyp = (wr.valid_size(q), p0 >= 0, p0 < q, k >= 0, k < 2 * q, wr.u16(ev))
    lost = wr._valid(z3.Implies(z3.And(j >= 0, j < k, reaches), off_by_one), *hyp)
    assert lost is not None and lost.eval(j).as_long() == 0  # the event at old is missed


@pytest.mark.req("RING-PACKED-012", "RING-PACKED-015")
def test_a_ring_whose_wrap_counter_never_flips_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_flip(q: z3.ArithRef, pos: z3.ArithRef, wrap: z3.BoolRef, n: z3.ArithRef,
                rounds: int = 2) -> tuple[z3.ArithRef, z3.BoolRef, z3.BoolRef]:
        pos = pos + n
        for _ in range(rounds):
            pos = z3.If(pos >= q, pos - q, pos)
        return pos, wrap, pos >= q

    assert registry.PROOFS["ring.packed.wrap.marks"].run().ok
    monkeypatch.setattr(wrr, "advance", no_flip)
    assert not registry.PROOFS["ring.packed.wrap.marks"].run().ok


def test_every_ring_invariant_conjunct_is_needed() -> None:
    system = wrr.build()
    claims = [
        ("device", lambda s: z3.Implies(s["X"] == s["pr"], wr.is_avail(
            s["fa"], s["fu"], s["wr"]) == (s["dr"] < s["da"]))),
        ("driver", lambda s: z3.Implies(s["X"] == s["pd"], wr.is_used(
            s["fa"], s["fu"], s["wd"]) == (s["du"] > 0))),
    ]
    assert check_inductive(system, wrr.INVARIANT, claims).ok
    for name, _ in wrr.INVARIANT:
        weaker = [(n, p) for n, p in wrr.INVARIANT if n != name]
        assert not check_inductive(system, weaker, claims).ok, name


@pytest.mark.req("RING-PACKED-012", "RING-PACKED-026")
def test_the_ring_model_wraps_with_lists_that_do_not_divide_q() -> None:
    """Q = 3, lists of 2 (heads at 0, 2, then 1 in the second lap): every side passes the end
    of the ring mid-list, and the probe descriptor 1 ends up a used descriptor of the second
    lap (both marks 0) at the driver's used position."""
    def target(s: State) -> z3.BoolRef:
        return z3.And(s["h"], z3.Not(s["fa"]), z3.Not(s["fu"]), s["pd"] == 1,
                      z3.Not(s["wd"]))

    path = search(wrr.build(), target, 16, {"Q": 3, "X": 1, "N": 2})
    assert path is not None and path.actions.count("driver get_used") == 2
    assert path.actions.count("device push") == 3
    end = path.final
    assert (end["pd"], end["wd"]) == advance(3, 0, 1, 4)
    assert is_used(0, int(end["wd"]))  # what the driver loads there: used, wrap bit 0
