"""No lost wakeup (RING-SPLIT-110, RING-SPLIT-111): an inductive proof over the notification
protocol of the split virtqueue, under SC and x86-TSO, with flags and with EVENT_IDX.

The model follows the Python reference (reference/ring/driver.py, device.py) access by
access. Each direction of the queue is one *producer* publishing entries and one *consumer*
taking them and sleeping when there are none:

    direction   producer                       consumer
    avail       driver: add, kick_prepare      device: pop, disable_notify, enable_notify
    used        device: push, should_notify    driver: get_used, disable_cb, enable_cb

Producer, one entry at a time (the program counter names the *next* step):

    IDLE  store ring[idx mod Q] := entry; wmb   (when idx - consumer's last_seen < Q)
                                                   RING-SPLIT-031, RING-SPLIT-032 / 043
    IDX   store idx := idx + 1
    MB    mb (TSO: wait until own store buffer is empty)   RING-SPLIT-070 / RING-SPLIT-071
          then load the consumer's suppression field and decide:
            flags:     notify iff (flags & 1) == 0                 RING-SPLIT-052 / 062
            EVENT_IDX: notify iff vring_need_event(event, idx, old), old := idx
                       (old = idx at the previous decision)        RING-SPLIT-053 / 063
          -- or first publish another entry (store ring...; a batch)
    KICK  notify: the transport delivers it after every store the sender issued before it
          (TSO: enabled once the sender's buffer is empty, RING-SPLIT-074); it sets
          ``pending``, which wakes a sleeping consumer.

Two pairs of accesses are single steps, which changes no reachable state: wmb is a no-op
on SC and TSO (stores already leave in order), so it goes with the ring store; and once mb
finds the producer's buffer empty it stays empty until the load (only the producer adds to
it), so mb and the load may as well happen at the load. Traces still print both.

Consumer (``last_seen``: device.last_avail / driver.last_used):

    RUN      load idx: if idx != last_seen, consume one (last_seen += 1); else go to ENABLE.
             While running it may disable notifications (if enabled): flags: store 1
             (VIRTQ_USED_F_NO_NOTIFY / VIRTQ_AVAIL_F_NO_INTERRUPT); EVENT_IDX: the device
             stores nothing, the driver stores used_event := last_used - 1 (disable_cb).
             The driver with EVENT_IDX and interrupts enabled also stores
             used_event := last_used after each get_used, then mb (UPD_STORE, UPD_MB).
    ENABLE   store flags := 0, or event := last_seen                RING-SPLIT-051 / 061
    MB       mb                                                     RING-SPLIT-072 / 073
    RECHECK  load idx: moved -> RUN; else -> SLEEP                  RING-SPLIT-072 / 073
    SLEEP    wait for a notification; on one: pending := 0, RUN.

A notification that arrives while the consumer runs may be absorbed at any time (it is
then lost to the consumer, the worst case). The device's ``push`` writes a batch of used
elements and stores used.idx once; the model publishes one entry per idx store, which
covers the batch (the consumer could always have loaded idx before or after the batch's
drains, and the decision after the batch is the same).

Memory (SC, or x86-TSO with a FIFO store buffer per side) and why each direction may be
checked on its own: see models/ring/wakeup_base.py. The producer's stores go ring[i],
idx := i + 1, ring[i + 1], ...; its buffer is the stores from (M, rd) up to (idx, ring
stored). The one coupling of the two directions, that a side can only publish what the other
returned, is over-approximated by the guard ``idx - last_seen < Q`` on publishing: at most Q
entries are outstanding (RING-SPLIT-090) and the consumer's last_seen is never behind the
oldest of them, so the real system never publishes where the model could not.

The producer must decide (MB) at least once every ``B`` ≤ 2^16 - 1 entries, a symbolic
bound: with 2^16 entries between two decisions need_event sees ``new == old`` and never
notifies (ring.need_event.empty). Q is any 16-bit power of two; indices wrap freely.

Safety: never (consumer at SLEEP, no notification pending, producer IDLE, and producer's idx
-- in memory or still in its buffer -- != last_seen). An IDLE producer may stay idle forever,
so such a state is a consumer that sleeps forever on work it was given. The invariant that
proves it (``invariant`` below) says, besides bookkeeping: (1) a decision is taken after the
mb, so every entry up to ``old`` is in memory; (2) a consumer in RECHECK or SLEEP has its
enable store in memory; hence (3) a sleeping consumer with nothing pending has
``old ≤ last_seen``, or the producer is about to notify -- and an IDLE producer has
``old == idx``.
"""


from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import z3
from virtiospec.models import registry
from virtiospec.models.ring import wakeup_base as base
from virtiospec.models.ring.index import power_of_two
from virtiospec.models.ring.need_event import vring_need_event
from virtiospec.models.ring.wakeup_base import (
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
    Builder,
    Mode,
    Named,
    Wakeup,
    asleep_on_work,
    buffer_invariant,
    in_pcs,
    producer_buffer_empty,
    ring_issued,
)
from virtiospec.models.ring.wakeup_base import safety as base_safety
from virtiospec.models.z3util import Action, State, System, Values

__all__ = ["C_ENABLE", "C_MB", "C_NAMES", "C_RECHECK", "C_RUN", "C_SLEEP", "C_UPD_MB",
           "C_UPD_STORE", "P_IDLE", "P_IDX", "P_KICK", "P_MB", "Mode", "producer_buffer_empty",
           "ring_issued"]

U16 = z3.BitVecSort(16)
PC = z3.BitVecSort(3)
PPC = z3.BitVecSort(2)
N2 = z3.BitVecSort(2)

P_NAMES = ("idle", "ring entry stored", "idx stored", "notifying")


@dataclass(frozen=True)
class Roles(base.Roles):
    """The names of one direction's fields, after those of its sides."""

    idx: str
    ring: str
    flags: str
    flag_bit: str
    event: str


AVAIL = Roles("avail", "driver", "device", "kick", "driver.avail_idx", "device.last_avail",
              "RING-SPLIT-110", False, "avail.idx", "avail.ring", "used.flags",
              "VIRTQ_USED_F_NO_NOTIFY", "avail_event")
USED = Roles("used", "device", "driver", "interrupt", "device.used_idx", "driver.last_used",
             "RING-SPLIT-111", True, "used.idx", "used.ring", "avail.flags",
             "VIRTQ_AVAIL_F_NO_INTERRUPT", "used_event")
DIRECTIONS = (AVAIL, USED)


@dataclass(frozen=True)
class Variant(base.Variant):
    """Known-bad decisions and event stores (models/ring/wakeup_mutants.py)."""

    need_event: Literal["exact", "off_by_one"] = "exact"
    event_write: Literal["last_seen", "last_seen_minus_one", "none"] = "last_seen"


CORRECT = Variant()


def newest_suppression(s: State) -> z3.BitVecRef:
    """What the consumer itself would load: its newest buffered store, else memory."""
    return z3.If(s["cn"] == 0, s["S"], z3.If(s["cn"] == 1, s["cb0"], s["cb1"]))


def enabled_value(mode: Mode, s: State) -> z3.BitVecRef:
    """The value a correct consumer stores to re-enable notifications."""
    return z3.BitVecVal(0, 16) if mode == "flags" else s["L"]


def lost_wakeup(s: State) -> z3.BoolRef:
    """The consumer sleeps with nothing pending, the producer is idle, and there is work."""
    return asleep_on_work(s, s["P"] != s["L"])


def behind(s: State, x: str) -> z3.BitVecRef:
    """How far index ``x`` (M, L or old) is behind the producer's idx (mod 2^16)."""
    return s["b" + x]


# The state holds the producer's idx ``P`` and how far ``M``, ``L`` and ``old`` are behind it;
# the three indices themselves are derived. Only a change of variables, but storing idx
# increments ``P`` and keeps every offset, instead of moving the base of every distance,
# which costs the solver twenty seconds a query on raw indices.
def derive_indices(s: State) -> State:
    return {x: s["P"] - s["b" + x] for x in ("M", "L", "old")}


def store_idx(s: State, next_pc: z3.ExprRef, tso: bool) -> tuple[z3.BoolRef,
                                                                  dict[str, z3.ExprRef]]:
    """The producer's store idx := idx + 1 (every offset behind it grows by one)."""
    upd: dict[str, z3.ExprRef] = {"ppc": next_pc, "P": s["P"] + 1}
    upd |= {"b" + x: s["b" + x] + 1 for x in ("M", "L", "old")}
    if not tso:
        upd |= {"bM": z3.BitVecVal(0, 16), "rd": z3.BoolVal(False)}
    return s["ppc"] == P_IDX, upd


def drain_producer(s: State) -> tuple[z3.BoolRef, dict[str, z3.ExprRef]]:
    """TSO: the oldest of the producer's ring and idx stores reaches memory."""
    can = z3.If(s["rd"], s["M"] != s["P"], z3.Or(s["M"] != s["P"], ring_issued(s)))
    return can, {"bM": z3.If(s["rd"], s["bM"] - 1, s["bM"]), "rd": z3.Not(s["rd"])}


def drain_producer_text(producer: str, idx: str, ring: str) -> Callable[[Values, Values], str]:
    def text(a: Values, b: Values) -> str:
        if a["rd"]:
            return f"{producer}'s {idx} := {b['M']} reaches memory"
        return f"{producer}'s {ring}[{a['M'] % a['Q']}] := entry {a['M']} reaches memory"

    return text


@dataclass
class _Builder(Builder[Roles, Variant]):
    def pc(self, n: int) -> z3.ExprRef:
        return z3.BitVecVal(n, 2)

    def cpc(self, n: int) -> z3.ExprRef:
        return z3.BitVecVal(n, 3)

    @property
    def field(self) -> str:
        return self.roles.flags if self.mode == "flags" else self.roles.event

    # -- consumer stores ----------------------------------------------------------------
    def consumer_store(self, s: State, value: z3.BitVecRef) -> tuple[z3.BoolRef,
                                                                     dict[str, z3.ExprRef]]:
        """Guard and assignments of one consumer store: into memory (SC) or appended to its
        two-entry buffer (TSO; a full buffer stalls the store, see ``room``)."""
        if not self.tso:
            return z3.BoolVal(True), {"S": value}
        n = s["cn"]
        return z3.ULT(n, 2), {"cb0": z3.If(n == 0, value, s["cb0"]),
                              "cb1": z3.If(n == 1, value, s["cb1"]), "cn": n + 1}

    def store_if(self, s: State, guard: z3.BoolRef, upd: dict[str, z3.ExprRef],
                 value: z3.BitVecRef | None) -> tuple[z3.BoolRef, dict[str, z3.ExprRef]]:
        """A step that also stores ``value`` to the suppression field, unless it is None."""
        if value is None:
            return guard, upd
        g, u = self.consumer_store(s, value)
        return z3.And(guard, g), upd | u

    def disable_value(self, s: State) -> z3.BitVecRef | None:
        if self.mode == "flags":
            return z3.BitVecVal(1, 16)
        if self.roles.event_stores_while_running:
            return s["L"] - 1  # disable_cb: an event just behind last_used
        return None

    def enable_value(self, s: State) -> z3.BitVecRef | None:
        if self.mode == "flags":
            return z3.BitVecVal(0, 16)
        return {"last_seen": s["L"], "last_seen_minus_one": s["L"] - 1,
                "none": None}[self.variant.event_write]

    def need(self, s: State) -> z3.BoolRef:
        r = s["S"]  # the producer never writes the field: it loads memory
        if self.mode == "flags":
            return r & 1 == 0
        if self.variant.need_event == "off_by_one":
            return z3.ULT(s["P"] - r, s["P"] - s["old"])
        return vring_need_event(r, s["P"], s["old"])

    # -- the actions ----------------------------------------------------------------------
    def actions(self) -> list[Action]:
        r, tso, v = self.roles, self.tso, self.variant
        acts, add = self.collector()

        # producer -------------------------------------------------------------------------
        def p_ring(s: State) -> tuple[z3.BoolRef, dict[str, z3.ExprRef]]:
            guard = z3.And(in_pcs(s["ppc"], P_IDLE, P_MB), z3.ULT(s["P"] - s["L"], s["Q"]),
                           z3.ULT(s["P"] - s["old"], s["B"]))
            upd: dict[str, z3.ExprRef] = {"ppc": self.pc(P_IDX)}
            if not tso:
                upd["rd"] = z3.BoolVal(True)
            return guard, upd

        add("producer stores a ring entry; wmb", r.producer, p_ring,
            lambda a, b: f"store {r.ring}[{a['P'] % a['Q']}] := entry {a['P']}"
                         + self.buffered() + "; wmb")

        add("producer stores idx", r.producer, lambda s: store_idx(s, self.pc(P_MB), tso),
            lambda a, b: f"store {r.idx} := {b['P']}" + self.buffered())

        def decide_text(a: Values, b: Values) -> str:
            verdict = f"{r.notification} needed" if b["ppc"] == P_KICK else \
                f"no {r.notification}"
            if self.mode == "flags":
                window = f" ({r.flag_bit})" if int(a["S"]) & 1 else ""
            else:
                window = f", window [{a['old']}, {a['P']})"
            return f"{self.mb_text()}load {self.field} -> {a['S']}{window}: {verdict}"

        self.add_decide(add, "producer mb; loads the suppression field",
                        {"bold": z3.BitVecVal(0, 16)}, decide_text,
                        lambda a: f"{self.field} -> {a['S']}")

        # consumer -------------------------------------------------------------------------
        self.add_take(add, "consumer consumes an entry", lambda s: s["M"] == s["L"],
                      lambda s: s["bL"] - 1,
                      lambda a: f"load {r.idx} -> {a['M']}: take entry {a['L']}",
                      lambda a: f"load {r.idx} -> {a['M']}: nothing new")

        if self.updates:
            def c_upd(s: State) -> tuple[z3.BoolRef, dict[str, z3.ExprRef]]:
                guard, upd = self.consumer_store(s, s["L"])
                return z3.And(s["cpc"] == C_UPD_STORE, guard), upd | {"cpc": self.cpc(C_UPD_MB)}

            add("consumer stores the event after consuming", r.consumer, c_upd,
                lambda a, b: f"store {r.event} := {a['L']}" + self.buffered())
            self.add_upd_mb(add, "consumer mb after the event store")

        def c_disable(s: State) -> tuple[z3.BoolRef, dict[str, z3.ExprRef]]:
            return self.store_if(s, z3.And(s["cpc"] == C_RUN, z3.Not(s["dis"])),
                                 {"dis": z3.BoolVal(True)}, self.disable_value(s))

        def disable_text(a: Values, b: Values) -> str:
            if self.mode == "flags":
                return f"disable: store {r.flags} := 1{self.buffered()}"
            if r.event_stores_while_running:
                return (f"disable: store {r.event} := {(a['L'] - 1) & 0xFFFF}"
                        + self.buffered())
            return "disable (EVENT_IDX: nothing to store)"

        add("consumer disables notifications", r.consumer, c_disable, disable_text)

        def c_enable(s: State) -> tuple[z3.BoolRef, dict[str, z3.ExprRef]]:
            return self.store_if(s, s["cpc"] == C_ENABLE,
                                 {"cpc": self.cpc(C_MB), "dis": z3.BoolVal(False)},
                                 self.enable_value(s))

        def enable_text(a: Values, b: Values) -> str:
            if self.mode == "flags":
                return f"enable: store {r.flags} := 0{self.buffered()}"
            if v.event_write == "none":
                return f"enable (bug: {r.event} not written)"
            value = a["L"] if v.event_write == "last_seen" else (a["L"] - 1) & 0xFFFF
            return f"enable: store {r.event} := {value}{self.buffered()}"

        add("consumer re-enables notifications", r.consumer, c_enable, enable_text)
        self.add_sleep(add, lambda s: s["M"] == s["L"],
                       lambda a: f"re-load {r.idx} -> {a['M']}: nothing new; sleep",
                       lambda a: f"re-load {r.idx} -> {a['M']}: more work",
                       f"sleep (bug: no re-load of {r.idx})")

        # memory (TSO drains) --------------------------------------------------------------
        if tso:
            add("producer's oldest store drains", "memory", drain_producer,
                drain_producer_text(r.producer, r.idx, r.ring))

            def d_cons(s: State) -> tuple[z3.BoolRef, dict[str, z3.ExprRef]]:
                return z3.UGT(s["cn"], 0), {"S": s["cb0"], "cb0": s["cb1"], "cn": s["cn"] - 1}

            add("consumer's oldest store drains", "memory", d_cons,
                lambda a, b: f"{r.consumer}'s {self.field} := {a['cb0']} reaches memory")
        return acts

    # -- the state shown with each step ---------------------------------------------------
    def show(self, v: Values) -> dict[str, object]:
        r = self.roles
        out = self.pc_names(v, P_NAMES) | {
            r.shadow: v["P"], r.idx: v["M"], r.last_seen: v["L"], self.field: v["S"],
            f"{r.notification} pending": v["pend"],
        }
        if self.mode == "event_idx":
            out[f"{r.producer}: idx at last decision"] = v["old"]
        if self.tso:
            out[f"{r.producer} buffer"] = self.producer_buffer(v)
            out[f"{r.consumer} buffer"] = [f"{self.field} := {v['cb' + str(k)]}"
                                           for k in range(int(v["cn"]))]
        return out

    def producer_buffer(self, v: Values) -> list[str]:
        r, q = self.roles, int(v["Q"])
        m, rd = int(v["M"]), bool(v["rd"])
        end = (int(v["P"]), v["ppc"] == P_IDX)
        out: list[str] = []
        while (m, rd) != end and len(out) < 8:
            if not rd:
                out.append(f"{r.ring}[{m % q}] := entry {m}")
            else:
                m = (m + 1) & 0xFFFF
                out.append(f"{r.idx} := {m}")
            rd = not rd
        return out

    def system(self) -> System:
        variables: dict[str, z3.SortRef] = {
            "ppc": PPC, "P": U16, "bold": U16, "bM": U16, "rd": z3.BoolSort(),
            "cpc": PC, "bL": U16, "dis": z3.BoolSort(), "S": U16,
            "cn": N2, "cb0": U16, "cb1": U16, "pend": z3.BoolSort(),
        }

        def init(s: State) -> z3.BoolRef:
            zero = [s[n] == 0 for n in ("P", "bold", "bM", "bL", "S", "cn")]
            return z3.And(*zero, s["ppc"] == P_IDLE, z3.Not(s["rd"]), z3.Not(s["dis"]),
                          z3.Not(s["pend"]), in_pcs(s["cpc"], C_RUN, C_SLEEP))

        return System(
            variables=variables,
            params={"Q": U16, "B": U16},
            # Q: any queue size; B: the producer decides at least once every B entries
            assume=lambda s: z3.And(power_of_two(s["Q"]), s["B"] != 0),
            init=init,
            actions=self.actions(),
            show=self.show,
            derive=derive_indices,
        )


def build(roles: Roles, mode: Mode, tso: bool, variant: Variant = CORRECT) -> System:
    return _Builder(roles, mode, tso, variant).system()


def invariant(mode: Mode, tso: bool) -> Named:
    """The inductive strengthening of the no-lost-wakeup property (see the module doc).
    Under x86-TSO it is minimal: without any one conjunct it is no longer inductive (the
    tests check this). Under SC the last conjunct makes the two orderings redundant."""
    def en(s: State) -> z3.BitVecRef:
        return enabled_value(mode, s)

    inv: Named = [
        # last_seen ≤ idx in memory ≤ producer's idx, the consumer at most Q behind
        ("last_seen ≤ M ≤ idx ≤ last_seen + Q",
         lambda s: z3.And(z3.ULE(behind(s, "M"), behind(s, "L")),
                          z3.ULE(behind(s, "L"), s["Q"]))),
        # (1) the last decision was taken after the mb: every entry up to old is in memory.
        # With the next conjunct this also says that an idle producer's buffer is empty.
        ("old ≤ M, idx - old ≤ B",
         lambda s: z3.And(z3.ULE(behind(s, "M"), behind(s, "old")),
                          z3.ULE(behind(s, "old"), s["B"]))),
        ("a producer between its ring and idx stores still has room",
         lambda s: z3.Implies(ring_issued(s),
                              z3.And(z3.ULT(behind(s, "L"), s["Q"]),
                                     z3.ULT(behind(s, "old"), s["B"])))),
    ]
    # (2) the consumer's enable store is in memory while it re-checks and sleeps; (3) the
    # key: a sleeping consumer with nothing pending has old ≤ last_seen
    inv += _Builder(AVAIL, mode, tso, CORRECT).consumer_invariant(
        lambda s: s["S"] == en(s), lambda s: newest_suppression(s) == en(s),
        ("an idle or notifying producer has decided on its idx",
         lambda s: s["old"] == s["P"]),
        ("asleep, nothing pending: old ≤ last_seen or a notification is coming",
         lambda s: z3.ULE(behind(s, "L"), behind(s, "old"))))
    return inv + buffer_invariant(tso, lambda s: s["M"] == s["P"])


def safety(tso: bool) -> Named:
    return base_safety(tso, lost_wakeup, [])


# Counterexamples are searched for a queue of 256 and a producer that decides at least once
# every 65535 entries: any concrete values do, a counterexample for one is a counterexample.
SEARCH_PARAMS = {"Q": 256, "B": 0xFFFF}
WAKEUP = Wakeup(build, lambda roles, mode, tso: invariant(mode, tso), safety, lost_wakeup,
                CORRECT, DIRECTIONS, SEARCH_PARAMS)
prove_wakeup = WAKEUP.prove_wakeup
find_lost_wakeup = WAKEUP.find_lost_wakeup
reach = WAKEUP.reach
invariant_allows = WAKEUP.invariant_allows


_COMMON = ("RING-SPLIT-110", "RING-SPLIT-111", "RING-SPLIT-072", "RING-SPLIT-073")
_TSO = ("RING-SPLIT-070", "RING-SPLIT-071", "RING-SPLIT-074")
_FLAGS = ("RING-SPLIT-050", "RING-SPLIT-052", "RING-SPLIT-060", "RING-SPLIT-062")
_EVENT = ("RING-SPLIT-051", "RING-SPLIT-053", "RING-SPLIT-061", "RING-SPLIT-063",
          "RING-SPLIT-100")
_FEATURE = {"flags": "flags", "event_idx": "event_idx"}
_SCOPE = "every Q and any number of entries"

# registered in a loop; each summary reads "no lost kick or interrupt, <model>, <feature>"
for _name, _reqs, _model_feature in (
        ("ring.wakeup.sc.flags", _COMMON + _FLAGS, "SC, flags"),
        ("ring.wakeup.sc.event_idx", _COMMON + _EVENT, "SC, EVENT_IDX"),
        ("ring.wakeup.tso.flags", _COMMON + _TSO + _FLAGS, "x86-TSO, flags"),
        ("ring.wakeup.tso.event_idx", _COMMON + _TSO + _EVENT, "x86-TSO, EVENT_IDX")):
    registry.proof(_name, _reqs, f"no lost kick or interrupt, {_model_feature}: inductive "
                                 "over unbounded runs")(WAKEUP.proof(_name, _FEATURE, _SCOPE))
