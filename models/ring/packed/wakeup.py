"""No lost wakeup for the packed virtqueue (RING-PACKED-110, RING-PACKED-111): an inductive
proof over its notification protocol, under SC and x86-TSO, with ENABLE/DISABLE and with
DESC (VIRTIO_F_EVENT_IDX), for every queue size.

The model has the structure of the split ring's (models/ring/wakeup.py, whose program
counters, producer store-buffer encoding and invariant it follows) and the accesses of the
packed reference (reference/ring/packed/driver.py, packed_device.py). Each direction is one
*producer* making descriptors visible and one *consumer* taking them and sleeping:

    direction   producer                          consumer
    avail       driver: add, kick_prepare         device: pop, disable_notify, enable_notify
    used        device: push, should_notify       driver: get_used, disable_cb, enable_cb

Producer, one list of ``N`` descriptors at a time (``N`` symbolic, 1 ≤ N ≤ Q):

    IDLE   store the list's other fields; wmb  (when outstanding + N ≤ Q, RING-PACKED-090)
    FLAGS  store the first descriptor's flags: the marks of its lap (RING-PACKED-013,
           RING-PACKED-014); its position P moves N forward (lap index mod 2Q); passed
           += N (kept at most 2Q: every larger count decides the same, the forced
           notification)
    MB     mb (TSO: own buffer empty; RING-PACKED-051, RING-PACKED-053), one 32-bit load of
           the other side's event suppression structure (RING-PACKED-066), and decide
           (RING-PACKED-062, RING-PACKED-063): DISABLE never, DESC with EVENT_IDX iff its
           off_wrap lies in the window of the ``passed`` positions just published
           (RING-PACKED-064, with the forced notification once passed ≥ 2Q), anything else
           always; passed := 0 -- or first publish another list
    KICK   notify; delivered after every store the sender issued (RING-SPLIT-074 of the
           split ring, the transport's rule): sets ``pending``

Consumer (L: device.last_avail / driver.last_used with its wrap bit, as a lap index):

    RUN      load the flags at L: available / used (the wrap proofs show this is exactly
             "the producer's flags store for L is in memory"): take the list, L += N;
             else go to ENABLE. While running it may disable notifications:
             store flags := DISABLE (both sides, both modes). The driver with DESC and
             notifications enabled also stores off_wrap := off_wrap(L) after each get_used,
             then mb (RING-PACKED-060: UPD_STORE, UPD_MB).
    ENABLE   ENABLE/DISABLE: store flags := ENABLE; DESC: one 32-bit store of
             DESC | off_wrap(L) (RING-PACKED-066)
    MB       mb                                             RING-PACKED-070 / 071
    RECHECK  load the flags at L: available/used -> RUN; else -> SLEEP
    SLEEP    wait for a notification; on one: pending := 0, RUN.

Lists: P, M and L move by N; the consumer's L and the drained M never pass M and P (a
list is taken, or drained, whole: in the real system every distance between them is a
multiple of N, and the model's ``max(·, ·)`` is then exact; otherwise it only adds
behaviours). Counterexamples are searched with N = 1.

Memory: SC, or x86-TSO with a FIFO store buffer per side, encoded as for the split ring
(models/ring/wakeup_base.py): the producer's buffer is the lap index ``M`` of the first list
whose flags are not in memory and whether that list's fields drained (``rd``); the consumer's
is a FIFO of two stores, each to ``off_wrap``, to ``flags`` or to both.

Decisions use :func:`ring_packed_wrap.need_event_fast`, which ``ring.packed.wrap.window``
proves equal to the reference's ``packed_need_event`` for every off_wrap naming a position;
the invariant shows every off_wrap the consumer writes names one. All values are integers
(linear arithmetic: the queries take milliseconds).

Each direction is checked on its own, as for the split ring (wakeup_base.py).

Safety: never (consumer at SLEEP, no notification pending, producer IDLE, and the producer's
position -- in memory or still in its buffer -- != L); and every off_wrap in memory names a
position, so that each decision is the reference's (``ring.packed.wrap.window`` proves
``need_event_fast`` equal to ``packed_need_event`` for those). The invariant's key conjunct:
a sleeping consumer with nothing pending has L at or after the start of the producer's window
(``dist(L, P) ≤ passed``), or the producer is about to notify.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import z3
from virtiospec.models import registry
from virtiospec.models.ring import wakeup_base as base
from virtiospec.models.ring.packed.wrap import (
    LOGIC,
    add_lap,
    dist,
    event_lap,
    event_off,
    need_event_fast,
    off_wrap,
    show_lap,
    show_off_wrap,
    u16,
    valid_size,
)
from virtiospec.models.ring.wakeup_base import (
    C_ENABLE,
    C_MB,
    C_RECHECK,
    C_RUN,
    C_UPD_MB,
    C_UPD_STORE,
    P_IDLE,
    P_KICK,
    P_MB,
    Mode,
    Named,
    in_pcs,
    ring_issued,
)
from virtiospec.models.z3util import Action, State, System, Values
from virtiospec.reference.ring.packed.layout import (
    RING_EVENT_FLAGS_DESC,
    RING_EVENT_FLAGS_DISABLE,
    RING_EVENT_FLAGS_ENABLE,
)

__all__ = ["Mode", "show_off_wrap"]

INT = z3.IntSort()
P_NAMES = ("idle", "fields stored", "flags stored", "notifying")
ENABLE, DISABLE, DESC = RING_EVENT_FLAGS_ENABLE, RING_EVENT_FLAGS_DISABLE, RING_EVENT_FLAGS_DESC
FLAG_NAMES = {ENABLE: "ENABLE", DISABLE: "DISABLE", DESC: "DESC"}
# what a buffered consumer store writes (bit 0: off_wrap, bit 1: flags)
K_OFF, K_FLAGS, K_BOTH = 1, 2, 3


@dataclass(frozen=True)
class Roles(base.Roles):
    """The names of one direction's fields, after those of its sides."""

    structure: str  # the consumer's event suppression structure, which the producer loads
    marks: str


AVAIL = Roles("avail", "driver", "device", "kick", "driver.next_avail", "device.last_avail",
              "RING-PACKED-110", False, "device_event", "available")
USED = Roles("used", "device", "driver", "interrupt", "device.used_pos", "driver.last_used",
             "RING-PACKED-111", True, "driver_event", "used")
DIRECTIONS = (AVAIL, USED)


@dataclass(frozen=True)
class Variant(base.Variant):
    """Known-bad decisions (models/ring/packed/z3_mutants.py). Without the re-check the
    consumer skips its mb too. The window: exact: [old, new); off_by_one: (old, new];
    ignores_wrap: off_wrap's wrap bit ignored, the event taken in the producer's lap."""

    window: Literal["exact", "off_by_one", "ignores_wrap"] = "exact"


CORRECT = Variant()


def _behind(q: z3.ArithRef, p: z3.ArithRef, b: z3.ArithRef) -> z3.ArithRef:
    """The lap index ``b`` positions behind ``p`` (mod 2Q), for ``0 ≤ b ≤ 2Q``."""
    return z3.If(p >= b, p - b, p - b + 2 * q)


def _derive(s: State) -> State:
    q = s["Q"]
    out: State = {x: _behind(q, s["P"], s["b" + x]) for x in ("M", "L")}
    ell = out["L"]
    out["ow"] = off_wrap(z3.If(ell < q, ell, ell - q), ell < q)  # off_wrap of L
    return out


def lost_wakeup(s: State) -> z3.BoolRef:
    """The consumer sleeps with nothing pending, the producer is idle, and there is work."""
    return base.asleep_on_work(s, s["bL"] != 0)


def named(q: z3.ArithRef, ow: z3.ArithRef) -> z3.BoolRef:
    """A 16-bit off_wrap whose offset is a position."""
    return z3.And(u16(ow), event_off(ow) < q)


def show_store(kind: int, flags: object, ow: object) -> str:
    """A consumer store: the flags, the off_wrap or both (``kind``)."""
    parts = []
    if kind & K_FLAGS:
        parts.append(f"flags := {FLAG_NAMES.get(int(flags), flags)}")  # type: ignore[call-overload]
    if kind & K_OFF:
        parts.append(f"off_wrap := {show_off_wrap(int(ow))}")  # type: ignore[call-overload]
    return ", ".join(parts)


def pos(x: Values, name: str) -> str:
    return show_lap(int(x["Q"]), int(x[name]))


@dataclass
class _Builder(base.Builder[Roles, Variant]):
    def pc(self, n: int) -> z3.ExprRef:
        return z3.IntVal(n)

    cpc = pc

    # -- the consumer's stores ------------------------------------------------------------
    def store(self, s: State, kind: int, flags: z3.ArithRef | int,
              ow: z3.ArithRef | int) -> tuple[z3.BoolRef, dict[str, z3.ExprRef]]:
        """One consumer store: into memory (SC) or appended to its two-entry buffer."""
        flags, ow = z3.IntVal(flags) if isinstance(flags, int) else flags, \
            z3.IntVal(ow) if isinstance(ow, int) else ow
        if not self.tso:
            upd: dict[str, z3.ExprRef] = {}
            if kind & K_FLAGS:
                upd["Sfl"] = flags
            if kind & K_OFF:
                upd["Sow"] = ow
            return z3.BoolVal(True), upd
        n = s["cn"]
        upd = {"cn": n + 1}
        for k in (0, 1):
            slot = f"cb{k}"
            upd[slot + "k"] = z3.If(n == k, z3.IntVal(kind), s[slot + "k"])
            upd[slot + "f"] = z3.If(n == k, flags, s[slot + "f"])
            upd[slot + "o"] = z3.If(n == k, ow, s[slot + "o"])
        return n < 2, upd

    def enable_store(self, s: State) -> tuple[int, z3.ArithRef | int, z3.ArithRef | int]:
        if self.mode == "flags":
            return K_FLAGS, ENABLE, 0
        return K_BOTH, DESC, s["ow"]

    def newest_enables(self, s: State) -> z3.BoolRef:
        """The consumer's newest store (or memory, if its buffer is empty) is its enable."""
        kind, flags, ow = self.enable_store(s)

        def matches(k: z3.ArithRef, f: z3.ArithRef, o: z3.ArithRef) -> z3.BoolRef:
            same = z3.And(k == kind, f == flags)
            return z3.And(same, o == ow) if kind == K_BOTH else same

        return z3.If(s["cn"] == 0, self.enabled_in_memory(s),
                     z3.If(s["cn"] == 1, matches(s["cb0k"], s["cb0f"], s["cb0o"]),
                           matches(s["cb1k"], s["cb1f"], s["cb1o"])))

    def enabled_in_memory(self, s: State) -> z3.BoolRef:
        """ENABLE (what the zeroed structure says, RING-PACKED-004), or DESC naming L."""
        if self.mode == "flags":
            return s["Sfl"] == ENABLE
        return z3.Or(s["Sfl"] == ENABLE, z3.And(s["Sfl"] == DESC, s["Sow"] == s["ow"]))

    # -- the producer's decision ----------------------------------------------------------
    def need(self, s: State) -> z3.BoolRef:
        fl, ow, q, k = s["Sfl"], s["Sow"], s["Q"], s["k"]
        other = fl != DISABLE
        if self.mode == "flags":
            return other
        window = self.variant.window
        if window == "exact":
            inside = need_event_fast(q, ow, s["P"], k)
        else:
            old = _behind(q, s["P"], z3.If(k >= 2 * q, 0, k))
            if window == "off_by_one":
                d = dist(q, old, event_lap(q, ow))
                inside = z3.Or(k >= 2 * q, z3.And(d > 0, d <= k))
            else:  # the event taken in the producer's own current lap
                e = event_off(ow) + z3.If(s["P"] < q, 0, q)
                inside = z3.Or(k >= 2 * q, dist(q, old, e) < k)
        return z3.If(fl == DESC, inside, other)

    # -- the actions ----------------------------------------------------------------------
    def actions(self) -> list[Action]:
        r, tso, v = self.roles, self.tso, self.variant
        acts, add = self.collector()

        # producer -------------------------------------------------------------------------
        def p_fields(s: State) -> tuple[z3.BoolRef, dict[str, z3.ExprRef]]:
            guard = z3.And(in_pcs(s["ppc"], P_IDLE, P_MB), s["bL"] + s["N"] <= s["Q"])
            upd: dict[str, z3.ExprRef] = {"ppc": z3.IntVal(base.P_IDX)}
            if not tso:
                upd["rd"] = z3.BoolVal(True)
            return guard, upd

        add("producer stores a list's fields; wmb", r.producer, p_fields,
            lambda a, b: f"store desc[{pos(a, 'P')}] fields" + self.buffered() + "; wmb")

        def p_flags(s: State) -> tuple[z3.BoolRef, dict[str, z3.ExprRef]]:
            q, n = s["Q"], s["N"]
            upd: dict[str, z3.ExprRef] = {
                "ppc": z3.IntVal(P_MB), "P": add_lap(q, s["P"], n),
                "bM": s["bM"] + n, "bL": s["bL"] + n,
                "k": z3.If(s["k"] + n >= 2 * q, 2 * q, s["k"] + n)}
            if not tso:
                upd |= {"bM": z3.IntVal(0), "rd": z3.BoolVal(False)}
            return s["ppc"] == base.P_IDX, upd

        add("producer stores the flags", r.producer, p_flags,
            lambda a, b: f"store desc[{pos(a, 'P')}].flags := {r.marks}" + self.buffered())

        def decide_text(a: Values, b: Values) -> str:
            verdict = f"{r.notification}" if b["ppc"] == P_KICK else f"no {r.notification}"
            fl = FLAG_NAMES.get(int(a["Sfl"]), str(a["Sfl"]))
            shown = f"{fl}, off_wrap {show_off_wrap(int(a['Sow']))}" \
                if self.mode == "event_idx" else fl
            return (f"{self.mb_text()}load {r.structure} -> {shown}; {a['k']} passed up to "
                    f"{pos(a, 'P')}: {verdict}")

        self.add_decide(add, "producer mb; loads the event suppression structure",
                        {"k": z3.IntVal(0)}, decide_text, lambda a: r.structure)

        # consumer -------------------------------------------------------------------------
        # L moves N forward, never past M (see "lists" in the module doc)
        self.add_take(add, "consumer takes a list", lambda s: s["bM"] == s["bL"],
                      lambda s: z3.If(s["bL"] - s["N"] >= s["bM"], s["bL"] - s["N"], s["bM"]),
                      lambda a: f"load desc[{pos(a, 'L')}].flags: {r.marks}; take it",
                      lambda a: f"load desc[{pos(a, 'L')}].flags: not {r.marks}")

        if self.updates:
            def c_upd(s: State) -> tuple[z3.BoolRef, dict[str, z3.ExprRef]]:
                guard, upd = self.store(s, K_OFF, 0, s["ow"])
                return z3.And(s["cpc"] == C_UPD_STORE, guard), \
                    upd | {"cpc": z3.IntVal(C_UPD_MB)}

            add("consumer moves off_wrap after taking", r.consumer, c_upd,
                lambda a, b: f"store {r.structure}.off_wrap := "
                             f"{show_off_wrap(int(a['ow']))}" + self.buffered())
            self.add_upd_mb(add, "consumer mb after moving off_wrap")

        def c_disable(s: State) -> tuple[z3.BoolRef, dict[str, z3.ExprRef]]:
            guard, upd = self.store(s, K_FLAGS, DISABLE, 0)
            return z3.And(s["cpc"] == C_RUN, z3.Not(s["dis"]), guard), \
                upd | {"dis": z3.BoolVal(True)}

        add("consumer disables notifications", r.consumer, c_disable,
            lambda a, b: f"store {r.structure}.flags := DISABLE" + self.buffered())

        # without the re-check the reference variants skip the mb too: straight to sleep
        after_enable = C_MB if v.consumer_recheck else C_RECHECK

        def c_enable(s: State) -> tuple[z3.BoolRef, dict[str, z3.ExprRef]]:
            guard, upd = self.store(s, *self.enable_store(s))
            return z3.And(s["cpc"] == C_ENABLE, guard), \
                upd | {"cpc": z3.IntVal(after_enable), "dis": z3.BoolVal(False)}

        def enable_text(a: Values, b: Values) -> str:
            if self.mode == "flags":
                return f"store {r.structure}.flags := ENABLE" + self.buffered()
            return (f"store {r.structure} := DESC, off_wrap "
                    f"{show_off_wrap(int(a['ow']))}" + self.buffered())

        add("consumer re-enables notifications", r.consumer, c_enable, enable_text)
        self.add_sleep(add, lambda s: s["bM"] == s["bL"],
                       lambda a: f"re-load desc[{pos(a, 'L')}].flags: not {r.marks}; sleep",
                       lambda a: f"re-load desc[{pos(a, 'L')}].flags: {r.marks}",
                       "sleep (bug: no mb, no re-load of the flags)")

        # memory (TSO drains) --------------------------------------------------------------
        if tso:
            def d_prod(s: State) -> tuple[z3.BoolRef, dict[str, z3.ExprRef]]:
                more = s["bM"] != 0
                can = z3.If(s["rd"], more, z3.Or(more, ring_issued(s)))
                drained = z3.If(s["bM"] >= s["N"], s["bM"] - s["N"], 0)
                return can, {"bM": z3.If(s["rd"], drained, s["bM"]), "rd": z3.Not(s["rd"])}

            def d_prod_text(a: Values, b: Values) -> str:
                what = f"flags := {r.marks}" if a["rd"] else "fields"
                return f"{r.producer}'s desc[{pos(a, 'M')}] {what} reaches memory"

            add("producer's oldest store drains", "memory", d_prod, d_prod_text)

            def d_cons(s: State) -> tuple[z3.BoolRef, dict[str, z3.ExprRef]]:
                kind = s["cb0k"]
                off = z3.Or(kind == K_OFF, kind == K_BOTH)
                flg = z3.Or(kind == K_FLAGS, kind == K_BOTH)
                return s["cn"] > 0, {
                    "Sow": z3.If(off, s["cb0o"], s["Sow"]),
                    "Sfl": z3.If(flg, s["cb0f"], s["Sfl"]),
                    "cb0k": s["cb1k"], "cb0f": s["cb1f"], "cb0o": s["cb1o"],
                    "cn": s["cn"] - 1}

            add("consumer's oldest store drains", "memory", d_cons,
                lambda a, b: f"{r.consumer}'s {r.structure} "
                             f"{show_store(int(a['cb0k']), a['cb0f'], a['cb0o'])} reaches memory")
        return acts

    # -- the state shown with each step ---------------------------------------------------
    def show(self, v: Values) -> dict[str, object]:
        r = self.roles
        out = self.pc_names(v, P_NAMES) | {
            r.shadow: pos(v, "P"), f"{r.marks} in memory up to": pos(v, "M"),
            r.last_seen: pos(v, "L"),
            f"{r.structure}.flags": FLAG_NAMES.get(int(v["Sfl"]), v["Sfl"]),
            f"{r.notification} pending": v["pend"],
        }
        if self.mode == "event_idx":
            out[f"{r.structure}.off_wrap"] = show_off_wrap(int(v["Sow"]))
            out[f"{r.producer}: passed since its last decision"] = v["k"]
        if self.tso:
            out[f"{r.consumer} buffer"] = [
                show_store(int(v[f"cb{k}k"]), v[f"cb{k}f"], v[f"cb{k}o"])
                for k in range(int(v["cn"]))]
        return out

    def system(self) -> System:
        names = ("ppc", "P", "bM", "k", "cpc", "bL", "Sfl", "Sow", "cn",
                 "cb0k", "cb0f", "cb0o", "cb1k", "cb1f", "cb1o")
        variables: dict[str, z3.SortRef] = {n: INT for n in names}
        variables |= {"rd": z3.BoolSort(), "dis": z3.BoolSort(), "pend": z3.BoolSort()}

        def init(s: State) -> z3.BoolRef:
            zero = [s[n] == 0 for n in ("P", "bM", "k", "bL", "Sow", "cn")]
            return z3.And(*zero, s["ppc"] == P_IDLE, s["Sfl"] == ENABLE, z3.Not(s["rd"]),
                          z3.Not(s["dis"]), z3.Not(s["pend"]),
                          in_pcs(s["cpc"], C_RUN, base.C_SLEEP))

        return System(
            variables=variables,
            params={"Q": INT, "N": INT},
            # Q: any queue size; N: the ring descriptors of each list
            assume=lambda s: z3.And(valid_size(s["Q"]), s["N"] >= 1, s["N"] <= s["Q"]),
            init=init, actions=self.actions(), show=self.show, derive=_derive, logic=LOGIC)


def build(roles: Roles, mode: Mode, tso: bool, variant: Variant = CORRECT) -> System:
    return _Builder(roles, mode, tso, variant).system()


def invariant(roles: Roles, mode: Mode, tso: bool) -> Named:
    """The inductive strengthening of the no-lost-wakeup property (see the module doc)."""
    b = _Builder(roles, mode, tso, CORRECT)
    flag_values = (ENABLE, DISABLE) if mode == "flags" else (ENABLE, DISABLE, DESC)

    def slot_ok(s: State, k: int) -> z3.BoolRef:
        return z3.Implies(s["cn"] > k, z3.And(in_pcs(s[f"cb{k}k"], K_OFF, K_FLAGS, K_BOTH),
                                              in_pcs(s[f"cb{k}f"], *flag_values),
                                              named(s["Q"], s[f"cb{k}o"])))

    inv: Named = [
        ("the structure in memory: a flags value, an off_wrap naming a position",
         lambda s: z3.And(in_pcs(s["Sfl"], *flag_values), named(s["Q"], s["Sow"]))),
        # L ≤ M ≤ P ≤ L + Q, positions as lap indices
        ("last_seen ≤ M ≤ P ≤ last_seen + Q",
         lambda s: z3.And(s["P"] >= 0, s["P"] < 2 * s["Q"], s["bM"] >= 0,
                          s["bM"] <= s["bL"], s["bL"] <= s["Q"])),
        # the last decision was taken after the mb: every list up to its start is in memory
        ("old ≤ M, passed ≤ 2Q",
         lambda s: z3.And(s["bM"] <= s["k"], s["k"] <= 2 * s["Q"])),
        ("a producer between its fields and flags stores still has room",
         lambda s: z3.Implies(ring_issued(s), s["bL"] + s["N"] <= s["Q"])),
    ]
    # the key: a sleeping consumer with nothing pending is in the producer's window
    inv += b.consumer_invariant(
        b.enabled_in_memory, b.newest_enables,
        ("an idle or notifying producer has decided on everything it published",
         lambda s: s["k"] == 0),
        ("asleep, nothing pending: last_seen in the producer's window or a notification "
         "is coming", lambda s: s["bL"] <= s["k"]))
    if tso:
        inv.append(("consumer buffer: two stores at most, each a flags value and a named "
                    "off_wrap",
                    lambda s: z3.And(s["cn"] >= 0, s["cn"] <= 2, slot_ok(s, 0), slot_ok(s, 1))))
    return inv + base.buffer_invariant(tso, lambda s: s["bM"] == 0)


def safety(tso: bool) -> Named:
    # need_event_fast is the reference's packed_need_event for such values
    return base.safety(tso, lost_wakeup, [("the off_wrap the producer loads names a position",
                                           lambda s: named(s["Q"], s["Sow"]))])


# Counterexamples are searched for a queue of 3 (not a power of 2) and lists of one
# descriptor: a counterexample for any size is one.
SEARCH_PARAMS = {"Q": 3, "N": 1}
WAKEUP = base.Wakeup(build, invariant, safety, lost_wakeup, CORRECT, DIRECTIONS, SEARCH_PARAMS)
prove_wakeup = WAKEUP.prove_wakeup
find_lost_wakeup = WAKEUP.find_lost_wakeup
reach = WAKEUP.reach
invariant_allows = WAKEUP.invariant_allows

_COMMON = ("RING-PACKED-110", "RING-PACKED-111", "RING-PACKED-070", "RING-PACKED-071",
           "RING-PACKED-060", "RING-PACKED-061", "RING-PACKED-062", "RING-PACKED-063")
_TSO = ("RING-PACKED-051", "RING-PACKED-053")
_EVENT = ("RING-PACKED-064", "RING-PACKED-066")
_FEATURE = {"flags": "ENABLE/DISABLE", "event_idx": "DESC (EVENT_IDX)"}
_SCOPE = "every Q ≤ 32768, every list size and any number of lists"
_PROOFS = {
    "ring.packed.wakeup.sc.flags": (_COMMON, "SC, ENABLE/DISABLE"),
    "ring.packed.wakeup.sc.event_idx": (_COMMON + _EVENT, "SC, DESC off_wrap"),
    "ring.packed.wakeup.tso.flags": (_COMMON + _TSO, "x86-TSO, ENABLE/DISABLE"),
    "ring.packed.wakeup.tso.event_idx": (_COMMON + _TSO + _EVENT, "x86-TSO, DESC off_wrap"),
}
for _name, (_reqs, _model_feature) in _PROOFS.items():
    registry.proof(_name, _reqs, f"packed: no lost kick or interrupt, {_model_feature}: "
                                 "inductive, every Q")(WAKEUP.proof(_name, _FEATURE, _SCOPE))
