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

    IDLE   store the list's other fields; wmb     (when outstanding + N ≤ Q, RING-PACKED-090)
    FLAGS  store the first descriptor's flags: the marks of its lap (RING-PACKED-013,
    RING-PACKED-014);
           its position P moves N forward (lap index mod 2Q); passed += N (kept at most
           2Q: every larger count decides the same, the forced notification)
    MB     mb (TSO: own buffer empty; RING-PACKED-051, RING-PACKED-053), one 32-bit load of the
    other
           side's event suppression structure (RING-PACKED-066), and decide
           (RING-PACKED-062, RING-PACKED-063): DISABLE never, DESC with EVENT_IDX iff its off_wrap
           lies in
           the window of the ``passed`` positions just published (RING-PACKED-064, with the
           forced notification once passed ≥ 2Q), anything else always; passed := 0
           -- or first publish another list
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

Memory: SC, or x86-TSO with a FIFO store buffer per side. The producer's stores follow a
fixed pattern (fields of the list at M, flags at M, fields of the next list, ...) to
locations only it writes, so its buffer -- unbounded -- is the lap index ``M`` of the first
list whose flags are not in memory and whether that list's fields drained (``rd``), as in
the split model (``producer_buffer_empty`` is imported from it). The consumer's buffer is an
explicit FIFO of two stores, each to ``off_wrap``, to ``flags`` or to both; the proof shows
(safety conjunct ``room``) that it never overflows. The producer never writes the
structure it loads, so it loads memory.

Decisions use :func:`ring_packed_wrap.need_event_fast`, which ``ring.packed.wrap.window``
proves equal to the reference's ``packed_need_event`` for every off_wrap naming a position;
the invariant shows every off_wrap the consumer writes names one. All values are integers
(linear arithmetic: the queries take milliseconds).

Each direction is checked on its own, as for the split ring: the two directions share no
memory location; what a side does for the other direction only adds stores to its buffer (a
delay) and barriers (drains), which the model already allows at any time.

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
from virtiospec.models.ring.packed.wrap import (
    HALF,
    LOGIC,
    add_lap,
    dist,
    event_lap,
    event_off,
    need_event_fast,
    off_wrap,
    u16,
    valid_size,
)
from virtiospec.models.ring.wakeup import (
    C_ENABLE,
    C_MB,
    C_NAMES,
    C_RECHECK,
    C_RUN,
    C_SLEEP,
    C_UPD_MB,
    C_UPD_STORE,
    P_IDLE,
    P_IDX,
    P_KICK,
    P_MB,
    producer_buffer_empty,
    ring_issued,
)
from virtiospec.models.z3util import (
    Action,
    Induction,
    Path,
    Pred,
    State,
    System,
    Values,
    check_inductive,
    satisfiable,
    search,
)
from virtiospec.reference.ring.packed.layout import (
    RING_EVENT_FLAGS_DESC,
    RING_EVENT_FLAGS_DISABLE,
    RING_EVENT_FLAGS_ENABLE,
)

Mode = Literal["flags", "event_idx"]
INT = z3.IntSort()
P_NAMES = ("idle", "fields stored", "flags stored", "notifying")
ENABLE, DISABLE, DESC = RING_EVENT_FLAGS_ENABLE, RING_EVENT_FLAGS_DISABLE, RING_EVENT_FLAGS_DESC
FLAG_NAMES = {ENABLE: "ENABLE", DISABLE: "DISABLE", DESC: "DESC"}
# what a buffered consumer store writes (bit 0: off_wrap, bit 1: flags)
K_OFF, K_FLAGS, K_BOTH = 1, 2, 3


@dataclass(frozen=True)
class Roles:
    """Names of one direction's sides and fields, as the spec and the reference use them."""

    direction: str
    producer: str
    consumer: str
    structure: str  # the consumer's event suppression structure, which the producer loads
    marks: str
    notification: str
    shadow: str  # the producer's position and wrap bit
    last_seen: str
    req: str
    # the driver stores off_wrap after each get_used while its notifications are enabled
    # with DESC (get_used); the device stores nothing while it runs
    event_stores_while_running: bool


AVAIL = Roles("avail", "driver", "device", "device_event", "available", "kick",
              "driver.next_avail", "device.last_avail", "RING-PACKED-110", False)
USED = Roles("used", "device", "driver", "driver_event", "used", "interrupt",
             "device.used_pos", "driver.last_used", "RING-PACKED-111", True)
DIRECTIONS = (AVAIL, USED)


@dataclass(frozen=True)
class Variant:
    """Switches that turn the protocol into a known-bad variant
    (models/ring/packed/z3_mutants.py)."""

    producer_mb: bool = True  # mb between the flags store and the structure load
    consumer_mb: bool = True  # mb between re-enabling and re-checking
    consumer_recheck: bool = True  # mb and re-load the flags at L before sleeping
    # exact: [old, new); off_by_one: (old, new]; ignores_wrap: off_wrap's wrap bit ignored,
    # the event taken in the producer's current lap
    window: Literal["exact", "off_by_one", "ignores_wrap"] = "exact"


CORRECT = Variant()


def _in(v: z3.ArithRef, *pcs: int) -> z3.BoolRef:
    return z3.Or(*(v == pc for pc in pcs))


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
    return z3.And(s["cpc"] == C_SLEEP, z3.Not(s["pend"]), s["ppc"] == P_IDLE, s["bL"] != 0)


def named(q: z3.ArithRef, ow: z3.ArithRef) -> z3.BoolRef:
    """A 16-bit off_wrap whose offset is a position."""
    return z3.And(u16(ow), event_off(ow) < q)


def show_off_wrap(ow: int) -> str:
    return f"{ow & (HALF - 1)}/w{ow >> 15}"


@dataclass
class _Builder:
    roles: Roles
    mode: Mode
    tso: bool
    variant: Variant

    def buffered(self) -> str:
        return " (buffered)" if self.tso else ""

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
        acts: list[Action] = []

        def add(name: str, side: str, effect: object, describe: object) -> None:
            acts.append(Action(name, side, effect, describe))  # type: ignore[arg-type]

        def pos(x: Values, name: str) -> str:
            q, lap_ = int(x["Q"]), int(x[name])
            return f"{lap_ % q}/w{int(lap_ < q)}"

        # producer -------------------------------------------------------------------------
        def p_fields(s: State) -> tuple[z3.BoolRef, dict[str, z3.ExprRef]]:
            guard = z3.And(_in(s["ppc"], P_IDLE, P_MB), s["bL"] + s["N"] <= s["Q"])
            upd: dict[str, z3.ExprRef] = {"ppc": z3.IntVal(P_IDX)}
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
            return s["ppc"] == P_IDX, upd

        add("producer stores the flags", r.producer, p_flags,
            lambda a, b: f"store desc[{pos(a, 'P')}].flags := {r.marks}" + self.buffered())

        def p_decide(s: State) -> tuple[z3.BoolRef, dict[str, z3.ExprRef]]:
            guard = s["ppc"] == P_MB
            if tso and v.producer_mb:
                guard = z3.And(guard, producer_buffer_empty(s))
            nxt = z3.If(self.need(s), z3.IntVal(P_KICK), z3.IntVal(P_IDLE))
            return guard, {"ppc": nxt, "k": z3.IntVal(0)}

        def decide_text(a: Values, b: Values) -> str:
            verdict = f"{r.notification}" if b["ppc"] == P_KICK else f"no {r.notification}"
            fl = FLAG_NAMES.get(int(a["Sfl"]), str(a["Sfl"]))
            shown = f"{fl}, off_wrap {show_off_wrap(int(a['Sow']))}" \
                if self.mode == "event_idx" else fl
            mb = "mb; " if v.producer_mb else "(no mb: bug) "
            return (f"{mb}load {r.structure} -> {shown}; {a['k']} passed up to "
                    f"{pos(a, 'P')}: {verdict}")

        add("producer mb; loads the event suppression structure", r.producer, p_decide,
            decide_text)

        # notifying when the decision says no is allowed (RING-PACKED-065): a superset
        def p_spurious(s: State) -> tuple[z3.BoolRef, dict[str, z3.ExprRef]]:
            guard, upd = p_decide(s)
            return guard, upd | {"ppc": z3.IntVal(P_KICK)}

        add("producer mb; loads; notifies anyway", r.producer, p_spurious,
            lambda a, b: ("mb; " if v.producer_mb else "(no mb: bug) ")
            + f"load {r.structure}: {r.notification} anyway (spurious)")

        def p_kick(s: State) -> tuple[z3.BoolRef, dict[str, z3.ExprRef]]:
            guard = s["ppc"] == P_KICK
            if tso:
                guard = z3.And(guard, producer_buffer_empty(s))
            return guard, {"ppc": z3.IntVal(P_IDLE), "pend": z3.BoolVal(True)}

        add("producer notifies", r.producer, p_kick, lambda a, b: r.notification)

        # consumer -------------------------------------------------------------------------
        updates = self.mode == "event_idx" and r.event_stores_while_running

        def c_take(s: State) -> tuple[z3.BoolRef, dict[str, z3.ExprRef]]:
            nxt = z3.If(s["dis"], z3.IntVal(C_RUN), z3.IntVal(C_UPD_STORE)) if updates \
                else z3.IntVal(C_RUN)
            # L moves N forward, never past M (see "lists" in the module doc)
            taken = z3.If(s["bL"] - s["N"] >= s["bM"], s["bL"] - s["N"], s["bM"])
            return z3.And(s["cpc"] == C_RUN, s["bM"] != s["bL"]), {"bL": taken, "cpc": nxt}

        add("consumer takes a list", r.consumer, c_take,
            lambda a, b: f"load desc[{pos(a, 'L')}].flags: {r.marks}; take it")

        add("consumer finds nothing", r.consumer,
            lambda s: (z3.And(s["cpc"] == C_RUN, s["bM"] == s["bL"]),
                       {"cpc": z3.IntVal(C_ENABLE)}),
            lambda a, b: f"load desc[{pos(a, 'L')}].flags: not {r.marks}")

        if updates:
            def c_upd(s: State) -> tuple[z3.BoolRef, dict[str, z3.ExprRef]]:
                guard, upd = self.store(s, K_OFF, 0, s["ow"])
                return z3.And(s["cpc"] == C_UPD_STORE, guard), \
                    upd | {"cpc": z3.IntVal(C_UPD_MB)}

            add("consumer moves off_wrap after taking", r.consumer, c_upd,
                lambda a, b: f"store {r.structure}.off_wrap := "
                             f"{show_off_wrap(int(a['ow']))}" + self.buffered())

            def c_upd_mb(s: State) -> tuple[z3.BoolRef, dict[str, z3.ExprRef]]:
                guard = s["cpc"] == C_UPD_MB
                if tso:
                    guard = z3.And(guard, s["cn"] == 0)
                return guard, {"cpc": z3.IntVal(C_RUN)}

            add("consumer mb after moving off_wrap", r.consumer, c_upd_mb, lambda a, b: "mb")

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

        def c_mb(s: State) -> tuple[z3.BoolRef, dict[str, z3.ExprRef]]:
            guard = s["cpc"] == C_MB
            if tso and v.consumer_mb:
                guard = z3.And(guard, s["cn"] == 0)
            return guard, {"cpc": z3.IntVal(C_RECHECK)}

        add("consumer mb", r.consumer, c_mb,
            lambda a, b: "mb" if v.consumer_mb else "(no mb: bug)")

        if v.consumer_recheck:
            add("consumer re-checks: nothing, sleeps", r.consumer,
                lambda s: (z3.And(s["cpc"] == C_RECHECK, s["bM"] == s["bL"]),
                           {"cpc": z3.IntVal(C_SLEEP)}),
                lambda a, b: f"re-load desc[{pos(a, 'L')}].flags: not {r.marks}; sleep")
            add("consumer re-checks: more work", r.consumer,
                lambda s: (z3.And(s["cpc"] == C_RECHECK, s["bM"] != s["bL"]),
                           {"cpc": z3.IntVal(C_RUN)}),
                lambda a, b: f"re-load desc[{pos(a, 'L')}].flags: {r.marks}")
        else:
            add("consumer sleeps without re-checking", r.consumer,
                lambda s: (s["cpc"] == C_RECHECK, {"cpc": z3.IntVal(C_SLEEP)}),
                lambda a, b: "sleep (bug: no mb, no re-load of the flags)")

        add("consumer wakes", r.consumer,
            lambda s: (z3.And(s["cpc"] == C_SLEEP, s["pend"]),
                       {"cpc": z3.IntVal(C_RUN), "pend": z3.BoolVal(False)}),
            lambda a, b: f"woken by the {r.notification}")
        add("notification absorbed while running", r.consumer,
            lambda s: (z3.And(s["cpc"] != C_SLEEP, s["pend"]), {"pend": z3.BoolVal(False)}),
            lambda a, b: f"{r.notification} arrives while running")

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

            def d_cons_text(a: Values, b: Values) -> str:
                kind = int(a["cb0k"])
                parts = []
                if kind & K_FLAGS:
                    parts.append(f"flags := {FLAG_NAMES.get(int(a['cb0f']), a['cb0f'])}")
                if kind & K_OFF:
                    parts.append(f"off_wrap := {show_off_wrap(int(a['cb0o']))}")
                return f"{r.consumer}'s {r.structure} {', '.join(parts)} reaches memory"

            add("consumer's oldest store drains", "memory", d_cons, d_cons_text)
        return acts

    # -- the state shown with each step ---------------------------------------------------
    def show(self, v: Values) -> dict[str, object]:
        r, q = self.roles, int(v["Q"])

        def at(lap_: int) -> str:
            return f"{lap_ % q}/w{int(lap_ < q)}"

        ppc, cpc = int(v["ppc"]), int(v["cpc"])
        out: dict[str, object] = {
            r.producer: P_NAMES[ppc] if 0 <= ppc < len(P_NAMES) else ppc,
            r.consumer: C_NAMES[cpc] if 0 <= cpc < len(C_NAMES) else cpc,
            r.shadow: at(int(v["P"])), f"{r.marks} in memory up to": at(int(v["M"])),
            r.last_seen: at(int(v["L"])),
            f"{r.structure}.flags": FLAG_NAMES.get(int(v["Sfl"]), v["Sfl"]),
            f"{r.notification} pending": v["pend"],
        }
        if self.mode == "event_idx":
            out[f"{r.structure}.off_wrap"] = show_off_wrap(int(v["Sow"]))
            out[f"{r.producer}: passed since its last decision"] = v["k"]
        if self.tso:
            out[f"{r.consumer} buffer"] = [self._entry(v, k) for k in range(int(v["cn"]))]
        return out

    def _entry(self, v: Values, k: int) -> str:
        kind = int(v[f"cb{k}k"])
        parts = []
        if kind & K_FLAGS:
            parts.append(f"flags := {FLAG_NAMES.get(int(v[f'cb{k}f']), v[f'cb{k}f'])}")
        if kind & K_OFF:
            parts.append(f"off_wrap := {show_off_wrap(int(v[f'cb{k}o']))}")
        return ", ".join(parts)

    def system(self) -> System:
        names = ("ppc", "P", "bM", "k", "cpc", "bL", "Sfl", "Sow", "cn",
                 "cb0k", "cb0f", "cb0o", "cb1k", "cb1f", "cb1o")
        variables: dict[str, z3.SortRef] = {n: INT for n in names}
        variables |= {"rd": z3.BoolSort(), "dis": z3.BoolSort(), "pend": z3.BoolSort()}

        def init(s: State) -> z3.BoolRef:
            zero = [s[n] == 0 for n in ("P", "bM", "k", "bL", "Sow", "cn")]
            return z3.And(*zero, s["ppc"] == P_IDLE, s["Sfl"] == ENABLE, z3.Not(s["rd"]),
                          z3.Not(s["dis"]), z3.Not(s["pend"]), _in(s["cpc"], C_RUN, C_SLEEP))

        return System(
            variables=variables,
            params={"Q": INT, "N": INT},
            # Q: any queue size; N: the ring descriptors of each list
            assume=lambda s: z3.And(valid_size(s["Q"]), s["N"] >= 1, s["N"] <= s["Q"]),
            init=init, actions=self.actions(), show=self.show, derive=_derive, logic=LOGIC)


def build(roles: Roles, mode: Mode, tso: bool, variant: Variant = CORRECT) -> System:
    return _Builder(roles, mode, tso, variant).system()


def invariant(roles: Roles, mode: Mode, tso: bool) -> list[tuple[str, Pred]]:
    """The inductive strengthening of the no-lost-wakeup property (see the module doc)."""
    b = _Builder(roles, mode, tso, CORRECT)
    flag_values = (ENABLE, DISABLE) if mode == "flags" else (ENABLE, DISABLE, DESC)

    def slot_ok(s: State, k: int) -> z3.BoolRef:
        return z3.Implies(s["cn"] > k, z3.And(_in(s[f"cb{k}k"], K_OFF, K_FLAGS, K_BOTH),
                                              _in(s[f"cb{k}f"], *flag_values),
                                              named(s["Q"], s[f"cb{k}o"])))

    inv: list[tuple[str, Pred]] = [
        ("the structure in memory: a flags value, an off_wrap naming a position",
         lambda s: z3.And(_in(s["Sfl"], *flag_values), named(s["Q"], s["Sow"]))),
        # L ≤ M ≤ P ≤ L + Q, positions as lap indices
        ("last_seen ≤ M ≤ P ≤ last_seen + Q",
         lambda s: z3.And(s["P"] >= 0, s["P"] < 2 * s["Q"], s["bM"] >= 0,
                          s["bM"] <= s["bL"], s["bL"] <= s["Q"])),
        # the last decision was taken after the mb: every list up to its start is in memory
        ("old ≤ M, passed ≤ 2Q",
         lambda s: z3.And(s["bM"] <= s["k"], s["k"] <= 2 * s["Q"])),
        ("a producer between its fields and flags stores still has room",
         lambda s: z3.Implies(ring_issued(s), s["bL"] + s["N"] <= s["Q"])),
        ("an idle or notifying producer has decided on everything it published",
         lambda s: z3.Implies(_in(s["ppc"], P_IDLE, P_KICK), s["k"] == 0)),
        ("re-checking or asleep: notifications enabled in memory",
         lambda s: z3.Implies(_in(s["cpc"], C_RECHECK, C_SLEEP),
                              z3.And(s["cn"] == 0, b.enabled_in_memory(s),
                                     z3.Not(s["dis"])))),
        ("at the consumer's mb its newest store enables notifications",
         lambda s: z3.Implies(s["cpc"] == C_MB,
                              z3.And(b.newest_enables(s), z3.Not(s["dis"])))),
        # the key: a sleeping consumer will be notified of anything past last_seen
        ("asleep, nothing pending: last_seen in the producer's window or a notification "
         "is coming",
         lambda s: z3.Implies(z3.And(s["cpc"] == C_SLEEP, z3.Not(s["pend"])),
                              z3.Or(s["ppc"] == P_KICK, s["bL"] <= s["k"]))),
    ]
    if tso:
        inv += [
            ("consumer buffer: two stores at most, each a flags value and a named off_wrap",
             lambda s: z3.And(s["cn"] >= 0, s["cn"] <= 2, slot_ok(s, 0), slot_ok(s, 1))),
            ("consumer buffer: at most one disable store while running",
             lambda s: z3.And(
                 z3.Implies(_in(s["cpc"], C_RUN, C_ENABLE),
                            z3.Or(s["cn"] == 0, z3.And(s["cn"] == 1, s["dis"]))),
                 z3.Implies(s["cpc"] == C_UPD_STORE, s["cn"] == 0),
                 z3.Implies(s["cpc"] == C_UPD_MB, s["cn"] <= 1))),
        ]
    else:
        inv += [
            ("SC: stores are in memory at once",
             lambda s: z3.And(s["cn"] == 0, s["bM"] == 0, s["rd"] == ring_issued(s))),
        ]
    return inv


def safety(tso: bool) -> list[tuple[str, Pred]]:
    out: list[tuple[str, Pred]] = [
        ("no lost wakeup", lambda s: z3.Not(lost_wakeup(s))),
        # need_event_fast is the reference's packed_need_event for such values
        ("the off_wrap the producer loads names a position",
         lambda s: named(s["Q"], s["Sow"])),
    ]
    if tso:
        out.append(("room: no consumer store finds its buffer full",
                    lambda s: z3.Implies(_in(s["cpc"], C_RUN, C_UPD_STORE, C_ENABLE),
                                         s["cn"] <= 1)))
    return out


def prove_wakeup(roles: Roles, mode: Mode, tso: bool, variant: Variant = CORRECT) -> Induction:
    return check_inductive(build(roles, mode, tso, variant), invariant(roles, mode, tso),
                           safety(tso))


# Counterexamples are searched for a queue of 3 (not a power of 2) and lists of one
# descriptor: a counterexample for any size is one.
SEARCH_PARAMS = {"Q": 3, "N": 1}


def find_lost_wakeup(roles: Roles, mode: Mode, tso: bool, variant: Variant = CORRECT,
                     max_depth: int = 40, params: dict[str, int] | None = None) -> Path | None:
    """A shortest execution ending in a lost wakeup, or None within ``max_depth`` steps
    (explicit-state search over this module's Z3 system, each step re-checked by Z3's
    evaluator)."""
    return search(build(roles, mode, tso, variant), lost_wakeup, max_depth,
                  params or SEARCH_PARAMS)


def reach(roles: Roles, mode: Mode, tso: bool, target: Pred, max_depth: int = 30,
          variant: Variant = CORRECT, params: dict[str, int] | None = None) -> Path | None:
    """Non-vacuity: a shortest execution of the protocol reaching ``target``."""
    return search(build(roles, mode, tso, variant), target, max_depth,
                  params or SEARCH_PARAMS)


def invariant_allows(roles: Roles, mode: Mode, tso: bool, extra: Pred) -> bool:
    """Non-vacuity: some state satisfies the invariant and ``extra``."""
    system = build(roles, mode, tso)
    s = system.state("w")
    return satisfiable(system.assume(s), *(p(s) for _, p in invariant(roles, mode, tso)),
                       extra(s), logic=LOGIC) is not None


def _evidence(mode: Mode, tso: bool) -> registry.Evidence:
    parts, queries = [], 0
    for roles in DIRECTIONS:
        result = prove_wakeup(roles, mode, tso)
        queries += result.queries
        if not result.ok:
            shown = build(roles, mode, tso).show(result.cti) if result.cti else {}
            return registry.Evidence(False, f"{roles.direction} direction: {result.failure}; "
                                            f"state {shown}")
        parts.append(f"{roles.direction} ({roles.req}): {result.queries} obligations")
    model = "x86-TSO" if tso else "SC"
    feature = "ENABLE/DISABLE" if mode == "flags" else "DESC (EVENT_IDX)"
    return registry.Evidence(
        True, f"{model}, {feature}: inductive invariant holds for every Q ≤ 32768, every "
              "list size and any number of lists; " + "; ".join(parts),
        stats={"queries": float(queries)})


_COMMON = ("RING-PACKED-110", "RING-PACKED-111", "RING-PACKED-070", "RING-PACKED-071",
           "RING-PACKED-060", "RING-PACKED-061", "RING-PACKED-062", "RING-PACKED-063")
_TSO = ("RING-PACKED-051", "RING-PACKED-053")
_EVENT = ("RING-PACKED-064", "RING-PACKED-066")


@registry.proof("ring.packed.wakeup.sc.flags", _COMMON,
                "packed: no lost kick or interrupt, SC, ENABLE/DISABLE: inductive, every Q")
def prove_sc_flags() -> registry.Evidence:
    return _evidence("flags", tso=False)


@registry.proof("ring.packed.wakeup.sc.event_idx", _COMMON + _EVENT,
                "packed: no lost kick or interrupt, SC, DESC off_wrap: inductive, every Q")
def prove_sc_event_idx() -> registry.Evidence:
    return _evidence("event_idx", tso=False)


@registry.proof("ring.packed.wakeup.tso.flags", _COMMON + _TSO,
                "packed: no lost kick or interrupt, x86-TSO, ENABLE/DISABLE: inductive, "
                "every Q")
def prove_tso_flags() -> registry.Evidence:
    return _evidence("flags", tso=True)


@registry.proof("ring.packed.wakeup.tso.event_idx", _COMMON + _TSO + _EVENT,
                "packed: no lost kick or interrupt, x86-TSO, DESC off_wrap: inductive, "
                "every Q")
def prove_tso_event_idx() -> registry.Evidence:
    return _evidence("event_idx", tso=True)
