"""What the lost-wakeup models of the split ring (models/ring/wakeup.py) and of the packed
ring (models/ring/packed/wakeup.py) have in common; each of those keeps only how its ring
publishes entries, how its consumer stores the suppression field and how its producer
decides to notify (the parts the spec words differently for the two layouts).

Shared: the program counters of producer and consumer; the encoding of the producer's
store buffer (the last published position in memory ``M``, and ``rd``: whether the store
before the next one that publishes drained); the producer's decision, notification and
spurious notification; the consumer's mb, re-check, sleep and wake-up; the conjuncts of the
inductive invariant that talk only about those; the safety property; and the queries run on
a model (the inductive proof, the shortest counterexample, reachability, non-vacuity).

Memory. SC: stores write memory. x86-TSO: each side has a FIFO store buffer; loads see the
side's own newest buffered store, else memory; a ``memory`` step drains the oldest entry of
one buffer; mb waits until the side's buffer is empty; wmb/rmb are no-ops. The producer's
stores follow a fixed pattern (an entry's body, then what publishes it, then the next body,
...) to locations only it writes, so its buffer -- unbounded, a batch may be any length -- is
exactly described by the last published position in memory ``M`` and whether the body after
it drained too (``rd``). The consumer's buffer is an explicit FIFO of two entries: between
two of its barriers the consumer issues at most a disable and an enable store. That bound is
not an assumption: the proof shows (safety conjunct ``room``) that no consumer store ever
finds the buffer full, so the model's executions are exactly those of an unbounded buffer.
The producer never writes the field it loads, so it loads memory.

Each direction is checked on its own. That is sound: the two directions share no memory
location, and what a side does for the other direction only adds stores to its buffer (a
delay) and barriers (drains), which the one-direction model already allows at any time.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, Literal, TypeVar

import z3
from virtiospec.models import registry
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

Mode = Literal["flags", "event_idx"]
Named = list[tuple[str, Pred]]
Add = Callable[[str, str, object, object], None]

# producer program counter: the step it takes next
P_IDLE, P_IDX, P_MB, P_KICK = range(4)
# consumer program counter
C_RUN, C_UPD_STORE, C_UPD_MB, C_ENABLE, C_MB, C_RECHECK, C_SLEEP = range(7)
C_NAMES = ("running", "storing used_event", "mb after used_event", "re-enabling",
           "mb after re-enabling", "re-checking", "asleep")


@dataclass(frozen=True)
class Roles:
    """Names of one direction's sides, as the spec and the reference use them; each ring
    adds the names of its fields."""

    direction: str
    producer: str
    consumer: str
    notification: str
    shadow: str  # the producer's own copy of its position
    last_seen: str
    req: str
    # the driver's reference code stores its event after each entry it takes while its
    # notifications are enabled (and, split ring, when it disables them); the device never
    event_stores_while_running: bool


@dataclass(frozen=True)
class Variant:
    """Switches that turn the protocol into a known-bad variant (the mutants); each ring
    adds those of its decision."""

    producer_mb: bool = True  # mb between publishing and loading the suppression field
    consumer_mb: bool = True  # mb between re-enabling notifications and re-checking
    consumer_recheck: bool = True  # re-check before sleeping


R = TypeVar("R", bound=Roles)
V = TypeVar("V", bound=Variant)


def in_pcs(v: z3.ExprRef, *pcs: int) -> z3.BoolRef:
    return z3.Or(*(v == pc for pc in pcs))


def at_most(a: z3.ExprRef, b: z3.ExprRef | int) -> z3.BoolRef:
    """``a ≤ b``: unsigned for bit-vectors (the split model), else integer (the packed one)."""
    return z3.ULE(a, b) if z3.is_bv(a) else a <= b


def ring_issued(s: State) -> z3.BoolRef:
    """The producer has stored ring[idx] (the list's fields) but not yet what publishes it."""
    return s["ppc"] == P_IDX


def producer_buffer_empty(s: State) -> z3.BoolRef:
    return z3.And(s["M"] == s["P"], s["rd"] == ring_issued(s))


def asleep_on_work(s: State, work: z3.BoolRef) -> z3.BoolRef:
    """The consumer sleeps with nothing pending, the producer is idle, and there is work."""
    return z3.And(s["cpc"] == C_SLEEP, z3.Not(s["pend"]), s["ppc"] == P_IDLE, work)


@dataclass
class Builder(Generic[R, V]):
    """One direction's transition system; a ring's subclass adds its own actions."""

    roles: R
    mode: Mode
    tso: bool
    variant: V

    def buffered(self) -> str:
        return " (buffered)" if self.tso else ""

    def pc(self, n: int) -> z3.ExprRef:
        """Producer program counter ``n`` in the ring's sort."""
        raise NotImplementedError

    def cpc(self, n: int) -> z3.ExprRef:
        """Consumer program counter ``n`` in the ring's sort."""
        raise NotImplementedError

    def need(self, s: State) -> z3.BoolRef:
        raise NotImplementedError

    @property
    def updates(self) -> bool:
        """The consumer stores its event after each entry it takes while enabled."""
        return self.mode == "event_idx" and self.roles.event_stores_while_running

    def collector(self) -> tuple[list[Action], Add]:
        """A list of actions and the function that appends one to it."""
        acts: list[Action] = []

        def add(name: str, side: str, effect: object, describe: object) -> None:
            acts.append(Action(name, side, effect, describe))  # type: ignore[arg-type]

        return acts, add

    def mb_text(self) -> str:
        return "mb; " if self.variant.producer_mb else "(no mb: bug) "

    # -- the producer's decision ---------------------------------------------------------
    def add_decide(self, add: Add, name: str, decided: dict[str, z3.ExprRef],
                   decide_text: Callable[[Values, Values], str],
                   loaded: Callable[[Values], str]) -> None:
        """mb, load the suppression field and decide (``decided``: the bookkeeping reset);
        or notify anyway; then notify once the producer's stores are in memory."""
        r, tso, v = self.roles, self.tso, self.variant

        def p_decide(s: State) -> tuple[z3.BoolRef, dict[str, z3.ExprRef]]:
            guard = s["ppc"] == P_MB
            if tso and v.producer_mb:
                guard = z3.And(guard, producer_buffer_empty(s))
            nxt = z3.If(self.need(s), self.pc(P_KICK), self.pc(P_IDLE))
            return guard, {"ppc": nxt} | decided

        add(name, r.producer, p_decide, decide_text)

        # A producer may also notify when the decision says it need not: the reference device
        # does at its first decision; consumers tolerate it (RING-SPLIT-054, RING-SPLIT-064,
        # RING-PACKED-065). Allowing it keeps the model a superset.
        def p_spurious(s: State) -> tuple[z3.BoolRef, dict[str, z3.ExprRef]]:
            guard, upd = p_decide(s)
            return guard, upd | {"ppc": self.pc(P_KICK)}

        add("producer mb; loads; notifies anyway", r.producer, p_spurious,
            lambda a, b: self.mb_text() + f"load {loaded(a)}: {r.notification} anyway (spurious)")

        def p_kick(s: State) -> tuple[z3.BoolRef, dict[str, z3.ExprRef]]:
            guard = s["ppc"] == P_KICK
            if tso:
                guard = z3.And(guard, producer_buffer_empty(s))
            return guard, {"ppc": self.pc(P_IDLE), "pend": z3.BoolVal(True)}

        add("producer notifies", r.producer, p_kick, lambda a, b: r.notification)

    # -- the consumer ----------------------------------------------------------------------
    def add_take(self, add: Add, name: str, nothing: Pred,
                 taken: Callable[[State], z3.ExprRef], take_text: Callable[[Values], str],
                 nothing_text: Callable[[Values], str]) -> None:
        """The running consumer takes an entry (``taken``: how far last_seen is then behind
        the producer) -- then, if it must, stores its event -- or finds ``nothing`` and goes
        to re-enable notifications."""
        def c_take(s: State) -> tuple[z3.BoolRef, dict[str, z3.ExprRef]]:
            stay = self.cpc(C_RUN)
            nxt = z3.If(s["dis"], stay, self.cpc(C_UPD_STORE)) if self.updates else stay
            return z3.And(s["cpc"] == C_RUN, z3.Not(nothing(s))), {"bL": taken(s), "cpc": nxt}

        add(name, self.roles.consumer, c_take, lambda a, b: take_text(a))
        add("consumer finds nothing", self.roles.consumer,
            lambda s: (z3.And(s["cpc"] == C_RUN, nothing(s)), {"cpc": self.cpc(C_ENABLE)}),
            lambda a, b: nothing_text(a))

    def add_upd_mb(self, add: Add, name: str) -> None:
        """The mb after the event store of a running consumer (``updates``)."""
        def c_upd_mb(s: State) -> tuple[z3.BoolRef, dict[str, z3.ExprRef]]:
            guard = s["cpc"] == C_UPD_MB
            if self.tso:
                guard = z3.And(guard, s["cn"] == 0)
            return guard, {"cpc": self.cpc(C_RUN)}

        add(name, self.roles.consumer, c_upd_mb, lambda a, b: "mb")

    def add_sleep(self, add: Add, nothing: Pred, nothing_text: Callable[[Values], str],
                  more_text: Callable[[Values], str], no_recheck_text: str) -> None:
        """mb after re-enabling, re-check (``nothing``: no new entry) and sleep, wake up, and
        a notification absorbed while running."""
        r, v = self.roles, self.variant

        def c_mb(s: State) -> tuple[z3.BoolRef, dict[str, z3.ExprRef]]:
            guard = s["cpc"] == C_MB
            if self.tso and v.consumer_mb:
                guard = z3.And(guard, s["cn"] == 0)
            return guard, {"cpc": self.cpc(C_RECHECK)}

        add("consumer mb", r.consumer, c_mb,
            lambda a, b: "mb" if v.consumer_mb else "(no mb: bug)")
        if v.consumer_recheck:
            add("consumer re-checks: nothing, sleeps", r.consumer,
                lambda s: (z3.And(s["cpc"] == C_RECHECK, nothing(s)),
                           {"cpc": self.cpc(C_SLEEP)}),
                lambda a, b: nothing_text(a))
            add("consumer re-checks: more work", r.consumer,
                lambda s: (z3.And(s["cpc"] == C_RECHECK, z3.Not(nothing(s))),
                           {"cpc": self.cpc(C_RUN)}),
                lambda a, b: more_text(a))
        else:
            add("consumer sleeps without re-checking", r.consumer,
                lambda s: (s["cpc"] == C_RECHECK, {"cpc": self.cpc(C_SLEEP)}),
                lambda a, b: no_recheck_text)
        add("consumer wakes", r.consumer,
            lambda s: (z3.And(s["cpc"] == C_SLEEP, s["pend"]),
                       {"cpc": self.cpc(C_RUN), "pend": z3.BoolVal(False)}),
            lambda a, b: f"woken by the {r.notification}")
        add("notification absorbed while running", r.consumer,
            lambda s: (z3.And(s["cpc"] != C_SLEEP, s["pend"]), {"pend": z3.BoolVal(False)}),
            lambda a, b: f"{r.notification} arrives while running")

    def pc_names(self, v: Values, producer_names: tuple[str, ...]) -> dict[str, object]:
        """Both program counters by name, for the state shown with each step."""
        ppc, cpc = int(v["ppc"]), int(v["cpc"])
        return {self.roles.producer: producer_names[ppc] if ppc < len(producer_names) else ppc,
                self.roles.consumer: C_NAMES[cpc] if cpc < len(C_NAMES) else cpc}

    # -- invariant conjuncts about the shared steps -------------------------------------------
    def consumer_invariant(self, enabled: Pred, newest_enables: Pred,
                           decided: tuple[str, Pred], covered: tuple[str, Pred]) -> Named:
        """``decided``: an idle or notifying producer decided on all it published;
        ``enabled``: memory enables notifications; ``newest_enables``: so does the
        consumer's newest store; ``covered``: a sleeping consumer is in the producer's
        window (the key conjunct, with ``or a notification is coming``)."""
        (dname, dpred), (cname, cpred) = decided, covered
        return [
            (dname, lambda s: z3.Implies(in_pcs(s["ppc"], P_IDLE, P_KICK), dpred(s))),
            # the consumer's enable store is in memory while it re-checks and sleeps
            ("re-checking or asleep: notifications enabled in memory",
             lambda s: z3.Implies(in_pcs(s["cpc"], C_RECHECK, C_SLEEP),
                                  z3.And(s["cn"] == 0, enabled(s), z3.Not(s["dis"])))),
            ("at the consumer's mb its newest store enables notifications",
             lambda s: z3.Implies(s["cpc"] == C_MB,
                                  z3.And(newest_enables(s), z3.Not(s["dis"])))),
            # the key: a sleeping consumer will be notified of anything past last_seen
            (cname, lambda s: z3.Implies(z3.And(s["cpc"] == C_SLEEP, z3.Not(s["pend"])),
                                         z3.Or(s["ppc"] == P_KICK, cpred(s)))),
        ]


def buffer_invariant(tso: bool, drained: Pred) -> Named:
    """TSO: the consumer's buffer holds at most one disable store while it runs; SC: every
    store is in memory at once (``drained``: the producer's published position is)."""
    if tso:
        return [("consumer buffer: at most one disable store while running",
                 lambda s: z3.And(
                     z3.Implies(in_pcs(s["cpc"], C_RUN, C_ENABLE),
                                z3.Or(s["cn"] == 0, z3.And(s["cn"] == 1, s["dis"]))),
                     z3.Implies(s["cpc"] == C_UPD_STORE, s["cn"] == 0),
                     z3.Implies(s["cpc"] == C_UPD_MB, at_most(s["cn"], 1))))]
    return [("SC: stores are in memory at once",
             lambda s: z3.And(s["cn"] == 0, drained(s), s["rd"] == ring_issued(s)))]


def safety(tso: bool, lost_wakeup: Pred, extra: Named) -> Named:
    out: Named = [("no lost wakeup", lambda s: z3.Not(lost_wakeup(s))), *extra]
    if tso:
        # the consumer's two-entry buffer never stalls a store: the bound is exact
        out.append(("room: no consumer store finds its buffer full",
                    lambda s: z3.Implies(in_pcs(s["cpc"], C_RUN, C_UPD_STORE, C_ENABLE),
                                         at_most(s["cn"], 1))))
    return out


@dataclass(frozen=True)
class Wakeup(Generic[R, V]):
    """The queries on one ring's model; its module binds them to module-level names."""

    build: Callable[[R, Mode, bool, V], System]
    invariant: Callable[[R, Mode, bool], Named]
    safety: Callable[[bool], Named]
    lost_wakeup: Pred
    correct: V
    directions: tuple[R, ...]
    # the concrete values counterexamples are searched for: a counterexample for one is one
    search_params: dict[str, int]

    def prove_wakeup(self, roles: R, mode: Mode, tso: bool, variant: V | None = None
                     ) -> Induction:
        system = self.build(roles, mode, tso, self.correct if variant is None else variant)
        return check_inductive(system, self.invariant(roles, mode, tso), self.safety(tso))

    def find_lost_wakeup(self, roles: R, mode: Mode, tso: bool, variant: V | None = None,
                         max_depth: int = 40, params: dict[str, int] | None = None
                         ) -> Path | None:
        """A shortest execution ending in a lost wakeup, or None within ``max_depth`` steps
        (explicit-state search over the model's Z3 system, each step re-checked by Z3's
        evaluator)."""
        return self.reach(roles, mode, tso, self.lost_wakeup, max_depth, variant, params)

    def reach(self, roles: R, mode: Mode, tso: bool, target: Pred, max_depth: int = 30,
              variant: V | None = None, params: dict[str, int] | None = None) -> Path | None:
        """Non-vacuity: a shortest execution of the protocol reaching ``target``."""
        system = self.build(roles, mode, tso, self.correct if variant is None else variant)
        return search(system, target, max_depth, params or self.search_params)

    def invariant_allows(self, roles: R, mode: Mode, tso: bool, extra: Pred) -> bool:
        """Non-vacuity: some state satisfies the invariant and ``extra``."""
        system = self.build(roles, mode, tso, self.correct)
        s = system.state("w")
        return satisfiable(system.assume(s), *(p(s) for _, p in self.invariant(roles, mode, tso)),
                           extra(s), logic=system.logic) is not None

    def evidence(self, mode: Mode, tso: bool, feature: str, scope: str) -> registry.Evidence:
        """Both directions proved, or the first failure with the state it fails in."""
        parts, queries = [], 0
        for roles in self.directions:
            result = self.prove_wakeup(roles, mode, tso)
            queries += result.queries
            if not result.ok:
                shown = self.build(roles, mode, tso, self.correct).show(result.cti) \
                    if result.cti else {}
                return registry.Evidence(False, f"{roles.direction} direction: "
                                                f"{result.failure}; state {shown}")
            parts.append(f"{roles.direction} ({roles.req}): {result.queries} obligations")
        model = "x86-TSO" if tso else "SC"
        return registry.Evidence(
            True, f"{model}, {feature}: inductive invariant holds for {scope}; "
                  + "; ".join(parts), stats={"queries": float(queries)})

    def proof(self, name: str, feature: dict[str, str], scope: str
              ) -> Callable[[], registry.Evidence]:
        """The proof registered as ``name``, which ends in ``.sc.flags``, ``.tso.event_idx``..."""
        model, mode = name.split(".")[-2:]
        assert mode in ("flags", "event_idx") and model in ("sc", "tso"), name
        return lambda: self.evidence(mode, model == "tso", feature[mode], scope)  # type: ignore[arg-type]
