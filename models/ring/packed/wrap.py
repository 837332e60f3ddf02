"""Positions, wrap counters, descriptor marks and the notification window of the packed
virtqueue, proved for every queue size at once.

The queue size ``Q`` is symbolic: any integer from 1 to 32768 (RING-PACKED-002; it need not
be a power of two), so each query covers all 32768 sizes. Values are unbounded integers, as
Python's, and every query is linear integer arithmetic (``QF_LIA``): the ring's arithmetic is
modulo 2Q, and as bit-vector division by a symbolic 2Q one query takes the solver minutes,
where here they all take milliseconds. A 16-bit ``off_wrap`` is an integer in ``[0, 2^16)``
whose offset and wrap bit are its value below and above 2^15.

The Z3 terms transcribe the reference (reference/ring/packed/layout.py) operation for
operation: :func:`advance` is its ``while`` loop unrolled (and the proof shows no further
round is ever needed), :func:`need_event_ref` its ``packed_need_event`` with Python's ``%``
(floored, taken on arguments the proof shows to lie in ``[-2Q, 2Q)``, where it is a
conditional addition); the tests evaluate each term on concrete values against the Python
functions.

``ring.packed.wrap.advance`` (RING-PACKED-012): walking ``n < 2Q`` positions from a position
and its wrap bit ends at a position below Q, within two rounds of the loop, and adds ``n`` to
the lap index modulo 2Q: the wrap bit flips exactly at each pass from ``Q - 1`` to 0. The
``j``-th position of a walk from ``p`` (``j < Q``) is ``X`` exactly when
``j = (X - p) mod Q``, and its wrap bit is then ``w`` flipped iff ``X < p``: the closed form
the ring model below uses for "the walk writes position X".

``ring.packed.wrap.window`` (RING-PACKED-062, RING-PACKED-063, RING-PACKED-064): the reference's
decision equals the
window of the spec. A side whose previous decision was at position ``p0`` with wrap bit
``w0`` and that has since passed ``k`` positions calls ``packed_need_event(Q, off_wrap,
new, k)`` with ``new`` the lap index where the walk ends. For every Q, every ``(p0, w0)``,
every ``k`` and every 16-bit ``off_wrap`` naming a position (offset below Q):

* no lost notification: if the ``j``-th position of the walk (``j < k``) is the event's
  position with the event's wrap bit, the reference notifies;
* no spurious one: if it notifies, some ``j < k`` is that position (the witness is
  ``j = (e - lap(p0, w0)) mod 2Q``, computed independently of the reference's arithmetic);
* once ``k ≥ 2Q`` every position with either wrap bit has been passed, so the forced ``True``
  is the window, not an approximation (and the first line of ``packed_need_event`` changes
  no result: its second line is also true for such ``k``);
* the 32-bit structure is decoded as RING-PACKED-062 says: DISABLE never notifies, DESC with
  VIRTIO_F_EVENT_IDX notifies iff the event is in the window, every other value (ENABLE,
  DESC without the feature, the reserved 3, whatever the reserved bits) always notifies;
* the C reference's ``vs_packed_need_event`` (reference/ring/c/ring_packed.c), transcribed with its
  unsigned arithmetic, is the same function;
* ``once``: two consecutive decisions over ``k1`` then ``k2`` positions (``k1 + k2 < 2Q``)
  never both notify for one event, and one of them does iff the single decision over
  ``k1 + k2`` would.

An ``off_wrap`` whose offset is Q or more names no position. The reference reads it as the
lap index ``off + (wrap ? 0 : Q)`` modulo 2Q, i.e. as some real position, and may notify for
it (the proof exhibits a case); RING-PACKED-062 says SHOULD NOT. Only a broken peer writes
such a value, and the notification is spurious, never lost (RING-PACKED-065).

``ring.packed.wrap.outstanding``, ``ring.packed.wrap.marks`` and
``ring.packed.wrap.no_overwrite``, one transition system over the positions both sides keep,
are in models/ring/packed/wrap_ring.py.
"""

from __future__ import annotations

import z3
from virtiospec.models import registry
from virtiospec.models.z3util import (
    satisfiable,
    valid,
)
from virtiospec.reference.ring.packed.layout import (
    EVENT_FLAGS_MASK,
    EVENT_OFF_MASK,
    EVENT_WRAP_BIT,
    MAX_PACKED_QUEUE_SIZE,
    RING_EVENT_FLAGS_DESC,
    RING_EVENT_FLAGS_DISABLE,
    packed_need_event,
)

LOGIC = "QF_LIA"
INT = z3.IntSort()
HALF = 1 << EVENT_WRAP_BIT  # the wrap bit of off_wrap (32768)
U16 = 1 << 16


def valid_size(q: z3.ArithRef) -> z3.BoolRef:
    """RING-PACKED-002: 1 ≤ Q ≤ 32768."""
    return z3.And(q >= 1, q <= MAX_PACKED_QUEUE_SIZE)


def lap(q: z3.ArithRef, pos: z3.ArithRef, wrap: z3.BoolRef) -> z3.ArithRef:
    """``lap_index``: ``pos + (0 if wrap else Q)``, an element of the integers mod 2Q."""
    return pos + z3.If(wrap, 0, q)


def add_lap(q: z3.ArithRef, a: z3.ArithRef, n: z3.ArithRef) -> z3.ArithRef:
    """``(a + n) mod 2Q`` for ``0 ≤ a < 2Q`` and ``0 ≤ n ≤ 2Q``."""
    s = a + n
    return z3.If(s >= 2 * q, s - 2 * q, s)


def dist(q: z3.ArithRef, a: z3.ArithRef, b: z3.ArithRef) -> z3.ArithRef:
    """``(b - a) mod 2Q`` for lap indices ``a, b`` in ``[0, 2Q)``: how far ``b`` is ahead."""
    return z3.If(b >= a, b - a, b + 2 * q - a)


def rel(q: z3.ArithRef, x: z3.ArithRef, p: z3.ArithRef) -> z3.ArithRef:
    """``(x - p) mod Q`` for positions ``x, p < Q``: the step of a walk from ``p`` at ``x``."""
    return z3.If(x >= p, x - p, x + q - p)


def advance(q: z3.ArithRef, pos: z3.ArithRef, wrap: z3.BoolRef, n: z3.ArithRef,
            rounds: int = 2) -> tuple[z3.ArithRef, z3.BoolRef, z3.BoolRef]:
    """The reference's ``advance``: ``pos += n``, then ``while pos >= q: pos -= q; wrap ^= 1``
    unrolled ``rounds`` times. Returns the position, the wrap bit, and whether the loop
    would go on (``ring.packed.wrap.advance``: never, for ``pos < Q`` and ``n < 2Q``)."""
    pos = pos + n
    for _ in range(rounds):
        more = pos >= q
        pos = z3.If(more, pos - q, pos)
        wrap = z3.Xor(wrap, more)
    return pos, wrap, pos >= q


def off_wrap(pos: z3.ArithRef, wrap: z3.BoolRef) -> z3.ArithRef:
    """``off_wrap(pos, wrap)``: ``(pos & 0x7FFF) | wrap << 15``, for ``pos < 32768``."""
    return pos + z3.If(wrap, HALF, 0)


def event_off(event: z3.ArithRef) -> z3.ArithRef:
    """``event & EVENT_OFF_MASK`` for a 16-bit ``event``."""
    return z3.If(event >= HALF, event - HALF, event)


def event_wrap(event: z3.ArithRef) -> z3.BoolRef:
    """``event >> EVENT_WRAP_BIT`` (as a Boolean) for a 16-bit ``event``."""
    return event >= HALF


def show_off_wrap(ow: int) -> str:
    """A concrete off_wrap as offset/wrap bit (counterexamples)."""
    return f"{ow & (HALF - 1)}/w{ow >> 15}"


def show_lap(q: int, lap_: int) -> str:
    """A concrete lap index as position/wrap bit (counterexamples)."""
    return f"{lap_ % q}/w{int(lap_ < q)}"


def event_lap(q: z3.ArithRef, event: z3.ArithRef) -> z3.ArithRef:
    """``lap_index(q, event & EVENT_OFF_MASK, event >> EVENT_WRAP_BIT)``."""
    return lap(q, event_off(event), event_wrap(event))


def u16(x: z3.ArithRef) -> z3.BoolRef:
    return z3.And(x >= 0, x < U16)


def pymod(x: z3.ArithRef, m: z3.ArithRef) -> tuple[z3.ArithRef, z3.BoolRef]:
    """Python's ``x % m`` (floored: the result is in ``[0, m)``) for ``m > 0`` and ``x`` in
    ``[-m, m)``, where it is ``x + m`` if ``x < 0`` else ``x``; returns the value and that
    range condition, which the proofs discharge wherever the reference evaluates a ``%``.
    (A ``%`` by a symbolic 2Q is nonlinear; as bit-vector division it costs minutes a query.)"""
    return z3.If(x < 0, x + m, x), z3.And(x >= -m, x < m)


def need_event_ref(q: z3.ArithRef, event: z3.ArithRef, new: z3.ArithRef,
                   passed: z3.ArithRef) -> tuple[z3.BoolRef, z3.BoolRef]:
    """``packed_need_event(q, event, new, passed)`` line by line::

        if passed >= 2 * q: return True
        e = lap_index(q, event & EVENT_OFF_MASK, event >> EVENT_WRAP_BIT)
        old = (new - passed) % (2 * q)
        return (e - old) % (2 * q) < passed

    on unbounded integers, as Python's. Returns the decision and the condition under which
    both ``%`` are taken on arguments in ``[-2Q, 2Q)`` (see :func:`pymod`); it is only
    needed when the last three lines run."""
    e = event_lap(q, event)
    old, in1 = pymod(new - passed, 2 * q)
    ahead, in2 = pymod(e - old, 2 * q)
    forced = passed >= 2 * q
    return z3.Or(forced, ahead < passed), z3.Or(forced, z3.And(in1, in2))


def umod(x: z3.ArithRef, m: z3.ArithRef) -> tuple[z3.ArithRef, z3.BoolRef]:
    """C's unsigned ``x % m`` for ``x`` in ``[0, 2m)``: ``x - m`` if ``x >= m`` else ``x``;
    with that range condition (see :func:`pymod`)."""
    return z3.If(x >= m, x - m, x), z3.And(x >= 0, x < 2 * m)


def need_event_c(q: z3.ArithRef, event: z3.ArithRef, new: z3.ArithRef,
                 passed: z3.ArithRef) -> tuple[z3.BoolRef, z3.BoolRef]:
    """``vs_packed_need_event`` of reference/ring/c/ring_packed.c (unsigned 64-bit, no value it
    forms can wrap), with the range condition of its three ``%``::

        if (passed >= q2) return true;
        e = vs_lap(q, event & OFF_MASK, event >> WRAP_BIT) % q2;
        old = (new_lap + q2 - passed) % q2;
        d = (e + q2 - old) % q2;
        return d < passed;
    """
    q2 = 2 * q
    e, in1 = umod(event_lap(q, event), q2)
    old, in2 = umod(new + q2 - passed, q2)
    d, in3 = umod(e + q2 - old, q2)
    forced = passed >= q2
    return z3.Or(forced, d < passed), z3.Or(forced, z3.And(in1, in2, in3))


def need_event_fast(q: z3.ArithRef, event: z3.ArithRef, new: z3.ArithRef,
                    passed: z3.ArithRef) -> z3.BoolRef:
    """The same decision on lap indices, for an event naming a position (offset < Q):
    ``passed ≥ 2Q`` or the event lies fewer than ``passed`` positions after
    ``old = new - passed``. Equal to :func:`need_event_ref` (``ring.packed.wrap.window``);
    the wakeup model uses it."""
    old = dist(q, z3.If(passed >= 2 * q, 0, passed), new)
    return z3.Or(passed >= 2 * q, dist(q, old, event_lap(q, event)) < passed)


def decide_ref(q: z3.ArithRef, flags16: z3.ArithRef, event: z3.ArithRef, event_idx: bool,
               new: z3.ArithRef, passed: z3.ArithRef) -> tuple[z3.BoolRef, z3.BoolRef]:
    """The reference's ``decide`` on the 32-bit structure ``flags16 << 16 | event`` (both
    16-bit), with the range condition of :func:`need_event_ref` (true when the window is not
    consulted)."""
    flags = flags16 % (EVENT_FLAGS_MASK + 1)  # (word >> 16) & EVENT_FLAGS_MASK
    other = flags != RING_EVENT_FLAGS_DISABLE
    if not event_idx:
        return other, z3.BoolVal(True)
    desc = flags == RING_EVENT_FLAGS_DESC
    need, in_range = need_event_ref(q, event, new, passed)
    return z3.If(desc, need, other), z3.Or(z3.Not(desc), in_range)


def is_avail(fa: z3.BoolRef, fu: z3.BoolRef, wrap: z3.BoolRef) -> z3.BoolRef:
    """RING-PACKED-015 (``is_avail``): AVAIL == wrap != USED."""
    return z3.And(fa == wrap, fu != wrap)


def is_used(fa: z3.BoolRef, fu: z3.BoolRef, wrap: z3.BoolRef) -> z3.BoolRef:
    """RING-PACKED-015 (``is_used``): AVAIL == wrap == USED."""
    return z3.And(fa == wrap, fu == wrap)


def _int(name: str) -> z3.ArithRef:
    return z3.Int(name)


def _valid(claim: z3.BoolRef, *assumptions: z3.BoolRef) -> z3.ModelRef | None:
    return valid(claim, *assumptions, logic=LOGIC)


def _satisfiable(*constraints: z3.BoolRef) -> z3.ModelRef | None:
    return satisfiable(*constraints, logic=LOGIC)


def _failed(what: str, model: z3.ModelRef, names: dict[str, z3.ExprRef]) -> registry.Evidence:
    env = {n: model.eval(e, model_completion=True) for n, e in names.items()}
    return registry.Evidence(False, f"{what}: counterexample {env}")


# -- advance -----------------------------------------------------------------------------------
def _position(q: z3.ArithRef, p: z3.ArithRef) -> z3.BoolRef:
    return z3.And(p >= 0, p < q)


@registry.proof("ring.packed.wrap.advance", ("RING-PACKED-002", "RING-PACKED-012"),
                "advance by n < 2Q: ends below Q in two rounds, lap index + n mod 2Q, wrap "
                "flips at Q-1 → 0; the j-th position of a walk, every Q ≤ 32768")
def prove_advance() -> registry.Evidence:
    q, p, n, x, j = _int("Q"), _int("p"), _int("n"), _int("X"), _int("j")
    w = z3.Bool("w")
    hyp = (valid_size(q), _position(q, p))
    pos, wrap, more = advance(q, p, w, n)
    names = {"Q": q, "p": p, "w": w, "n": n}
    one_pos, one_wrap, _ = advance(q, p, w, z3.IntVal(1))
    jp, jw, _ = advance(q, p, w, j)
    claims: list[tuple[str, z3.BoolRef, tuple[z3.BoolRef, ...]]] = [
        ("the loop ends within two rounds", z3.Not(more), (n >= 0, n < 2 * q)),
        ("the position is in [0, Q)", _position(q, pos), (n >= 0, n < 2 * q)),
        ("the lap index moves by n mod 2Q", lap(q, pos, wrap) == add_lap(q, lap(q, p, w), n),
         (n >= 0, n < 2 * q)),
        ("one step: p + 1, or 0 with the wrap bit flipped after Q - 1",
         z3.If(p == q - 1, z3.And(one_pos == 0, one_wrap == z3.Not(w)),
               z3.And(one_pos == p + 1, one_wrap == w)), ()),
        ("step j of a walk from p is X iff j = (X - p) mod Q, with wrap w ^ (X < p)",
         z3.And((jp == x) == (j == rel(q, x, p)),
                z3.Implies(jp == x, jw == z3.Xor(w, x < p))),
         (_position(q, x), j >= 0, j < q)),
    ]
    for what, claim, extra in claims:
        if (m := _valid(claim, *hyp, *extra)) is not None:
            return _failed(what, m, names | {"X": x, "j": j})
    return registry.Evidence(
        True, "for every Q in [1, 32768], every position, wrap bit and n < 2Q; position X "
              "is step (X - p) mod Q of a walk from p, with wrap w ^ (X < p)",
        stats={"queries": float(len(claims))})


# -- the notification window -------------------------------------------------------------------
def _witness(q: z3.ArithRef, p0: z3.ArithRef, w0: z3.BoolRef,
             event: z3.ArithRef) -> z3.ArithRef:
    """The step of the walk from (p0, w0) at which it reaches the event's position and wrap
    bit (computed from lap indices, not with the reference's arithmetic)."""
    return dist(q, lap(q, p0, w0), event_lap(q, event))


def _reaches(q: z3.ArithRef, p0: z3.ArithRef, w0: z3.BoolRef, j: z3.ArithRef,
             event: z3.ArithRef) -> z3.BoolRef:
    """Step ``j`` of the walk from (p0, w0) is the event's position, with its wrap bit."""
    jp, jw, _ = advance(q, p0, w0, j)
    return z3.And(jp == event_off(event), jw == event_wrap(event))


@registry.proof("ring.packed.wrap.window",
                ("RING-PACKED-062", "RING-PACKED-063", "RING-PACKED-064", "RING-PACKED-066"),
                "packed_need_event/decide ⇔ the event's position was passed since the last "
                "decision, every Q ≤ 32768, every window, every off_wrap naming a position")
def prove_window() -> registry.Evidence:
    q, p0, k, j, ev = _int("Q"), _int("p0"), _int("k"), _int("j"), _int("off_wrap")
    fl, low = _int("word.flags"), _int("word.off_wrap")
    w0 = z3.Bool("w0")
    names = {"Q": q, "p0": p0, "w0": w0, "k": k, "off_wrap": ev, "j": j, "word.flags": fl,
             "word.off_wrap": low}
    hyp = (valid_size(q), _position(q, p0), k >= 0, u16(ev), u16(fl), u16(low))
    named = event_off(ev) < q  # the off_wrap names a position
    short = k < 2 * q
    np_, nw, _ = advance(q, p0, w0, k)
    new = z3.If(short, lap(q, np_, nw), _int("new"))  # k ≥ 2Q: new is not used
    ref, in_range = need_event_ref(q, ev, new, k)
    c_ref, c_range = need_event_c(q, ev, new, k)
    star = _witness(q, p0, w0, ev)
    window, _ = need_event_ref(q, low, new, k)
    flags = fl % (EVENT_FLAGS_MASK + 1)
    spec = z3.If(flags == RING_EVENT_FLAGS_DISABLE, z3.BoolVal(False),
                 z3.If(flags == RING_EVENT_FLAGS_DESC, window, z3.BoolVal(True)))
    with_idx, with_range = decide_ref(q, fl, low, True, new, k)
    without_idx, _ = decide_ref(q, fl, low, False, new, k)
    low_named = event_off(low) < q
    obligations: list[tuple[str, z3.BoolRef, tuple[z3.BoolRef, ...]]] = [
        ("every % of the reference is taken on [-2Q, 2Q) (so the transcription is exact)",
         z3.And(in_range, with_range), (named, low_named, short)),
        ("no lost notification: an event passed at step j < k is notified",
         z3.Implies(z3.And(j >= 0, j < k, _reaches(q, p0, w0, j, ev)), ref), (short,)),
        ("no spurious notification: a notified event was passed at some step j < k",
         z3.Implies(ref, z3.And(star < k, _reaches(q, p0, w0, star, ev))), (short, named)),
        ("k ≥ 2Q: every position was passed, and the reference notifies",
         z3.And(star < 2 * q, _reaches(q, p0, w0, star, ev), ref), (z3.Not(short), named)),
        ("the lap-index form used by the wakeup model is the reference's",
         need_event_fast(q, ev, new, k) == ref, (named, short)),
        ("the C reference's vs_packed_need_event is the same function",
         z3.And(c_range, c_ref == ref), (named, short)),
        ("decide with EVENT_IDX: DISABLE never, DESC iff in the window, else always",
         with_idx == spec, ()),
        ("decide without EVENT_IDX: always unless DISABLE",
         without_idx == (flags != RING_EVENT_FLAGS_DISABLE), ()),
    ]
    for what, claim, extra in obligations:
        if (m := _valid(claim, *hyp, *extra)) is not None:
            return _failed(what, m, names)
    aq, aev, anew, apassed = _alias()
    return registry.Evidence(
        True, f"exact for every Q, (p0, w0), window k and off_wrap naming a position "
              f"({len(obligations)} queries); k ≥ 2Q passes every position, so the forced "
              f"notification is exact. Mismatch, an off_wrap naming no position: Q={aq}, "
              f"off_wrap={aev:#06x} (offset {aev & EVENT_OFF_MASK} ≥ Q), new={anew}, "
              f"passed={apassed}: packed_need_event notifies, reading it as a position (SHOULD "
              "NOT, RING-PACKED-062; spurious only, RING-PACKED-065)",
        stats={"queries": float(len(obligations))})


def _alias() -> tuple[int, int, int, int]:
    """The smallest case where the reference notifies for an off_wrap whose offset is ≥ Q
    (names no position), found by running the reference itself."""
    for q in range(1, 5):
        for off in range(q, 4 * q):
            for w in (0, 1):
                for new in range(2 * q):
                    for passed in range(1, 2 * q):
                        if packed_need_event(q, off | w << EVENT_WRAP_BIT, new, passed):
                            return q, off | w << EVENT_WRAP_BIT, new, passed
    raise AssertionError("no off_wrap naming no position is notified")


@registry.proof("ring.packed.wrap.once", ("RING-PACKED-064", "RING-PACKED-062",
                                          "RING-PACKED-063"),
                "decisions over k1 then k2 positions (k1 + k2 < 2Q) notify at most once for an "
                "event, and once iff a single decision over k1 + k2 would")
def prove_once() -> registry.Evidence:
    q, p0, k1, k2, ev = _int("Q"), _int("p0"), _int("k1"), _int("k2"), _int("off_wrap")
    w0 = z3.Bool("w0")
    mp, mw, _ = advance(q, p0, w0, k1)
    np_, nw, _ = advance(q, mp, mw, k2)
    mid, new = lap(q, mp, mw), lap(q, np_, nw)
    (a, ra), (b, rb) = need_event_ref(q, ev, mid, k1), need_event_ref(q, ev, new, k2)
    both, rboth = need_event_ref(q, ev, new, k1 + k2)
    hyp = (valid_size(q), _position(q, p0), u16(ev), event_off(ev) < q, k1 >= 0, k2 >= 0)
    claim = z3.And(ra, rb, rboth, z3.Not(z3.And(a, b)), z3.Or(a, b) == both)
    m = _valid(claim, *hyp, k1 + k2 < 2 * q)
    if m is not None:
        return _failed("once", m, {"Q": q, "p0": p0, "w0": w0, "k1": k1, "k2": k2,
                                   "off_wrap": ev})
    # the bound is needed: past 2Q positions in all an event can be notified twice
    twice = _satisfiable(*hyp, k1 < 2 * q, k2 < 2 * q, ra, rb, a, b)
    if twice is None:
        return registry.Evidence(False, "the bound k1 + k2 < 2Q should be necessary")
    return registry.Evidence(
        True, "the windows of consecutive decisions partition their union while it is "
              "shorter than 2Q; beyond, an event can be notified twice (harmless, 065)",
        stats={"queries": 2})
