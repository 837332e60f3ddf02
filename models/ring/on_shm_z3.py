"""The ring on shm-signal (spec/shm.md, SHM-RING-003, SHM-RING-004, SHM-RING-006): the two
suppressions composed, proved for runs of any length, every queue size and any batch, under
SC and x86-TSO, both directions, flags and EVENT_IDX.

SHM-RING-003: "Notifications of a ring on shm go through two signals placed in the same
region: the *kick* signal (driver → device) is injected when the driver's decision of
RING-SPLIT-062, RING-SPLIT-063 is to notify, the *call* signal (device → driver) when the
device's decision of RING-SPLIT-052, RING-SPLIT-053 is. The transport notification is sent
only if the injection says so (SHM-SIGNAL-002)."

SHM-RING-004: "A receiver of a ring on shm acknowledges its signal before it consumes ring
entries, and before it waits re-enables both the ring's suppression with its re-check
(RING-SPLIT-072 or RING-SPLIT-073) and the signal with its re-check (SHM-SIGNAL-006); it waits
only if both find nothing new."

SHM-RING-006: "On virtio-pci, the notification a kick-signal injection asks for
(SHM-SIGNAL-002) is the queue's available-buffer notification, a write of the queue index at
its notify address (VIRTIO-PCI-030), and the one a call-signal injection asks for is the
queue's used-buffer notification, its MSI-X vector's message (VIRTIO-PCI-042). Neither side
sends any other notification for the queue: the driver's notify writes are exactly the kick
signals' notifications, the device's used-buffer notifications exactly the call signals'."

The model is the access sequence of reference/shm/ring_on_shm.py (``kick_if_needed`` /
``call_if_needed``, ``begin``, ``finish``), one direction at a time as models/ring/wakeup.py
(the directions share no word; see there why one is enough), with the ring's words and the
signal's words in one transition system::

    producer (ring, then signal sender)          consumer (receiver), the program RECEIVER
      IDLE   store ring[idx]; wmb  (a batch:      0  ring disable: store S := 1 (flags) /
             back here from MB any number of          L - 1 (driver, EVENT_IDX) / nothing
             times, bounded by Q and B)           1  signal disable: store E := 0
      IDX    store idx := idx + 1                 2  acknowledge: store P := 0   SHM-SIGNAL-005
      MB     mb; load S; need? (flags, or         3  mb
             vring_need_event); old := idx        4  consume: load idx; one more entry, or on
      INJ    mb; load P; != 0: coalesced -> IDLE  5  ring enable: store S := 0 / L
      SETP   store P := 1                         6  mb
      LOADE  mb; load E; != 0 -> KICK else IDLE   7  ring re-check: load idx; moved: more
      KICK   the transport's notification         8  signal enable: store E := 1
             (after the buffer drained,           9  mb
             SHM-SIGNAL-008)                      10 signal re-check: load P; != 0: more
                                                  11 wait unless more; a notification wakes

``S`` is the ring's suppression word (``used.flags`` / ``avail_event`` for kicks,
``avail.flags`` / ``used_event`` for interrupts), ``E`` and ``P`` the signal's ``enabled`` and
``pending``. As in models/ring/wakeup.py the producer's unbounded store buffer is the last
index in memory ``M`` and whether ring[M] drained (``rd``), plus ``pP``: its store of
``P := 1``; the consumer's is an explicit FIFO of three entries (between two barriers it
stores at most three words), and the safety conjunct ``room`` shows that the bound never
holds a store back. A notification that arrives while the consumer runs may be absorbed at
any time (the worst case).

Claims (SAFETY):

* no lost wakeup (SHM-RING-004, SHM-SIGNAL-010, RING-SPLIT-110, RING-SPLIT-111): never the consumer
  waiting with nothing in flight, the producer idle, and an entry it has not consumed;
* every entry exactly once (SHM-RING-002, RING-SPLIT-092): the consumer never passes the
  index in memory, which never passes the producer's, at most Q ahead;
* SHM-RING-006: every transport notification is one an injection asked for (ghost ``unasked``
  stays false), at most one per store of ``P := 1``, and one such store per acknowledgement
  (SHM-SIGNAL-011).

The known-bad variants at the seam (:class:`Seam`, one switch per line) are refuted by a
shortest counterexample (explicit-state search over this system, each step re-checked by
Z3), models/ring/on_shm_mutants.py registers them. Two lines of the composition turn out to be
redundant, and the proof holds without them (tests/ring/test_ring_on_shm_models.py): the
signal's barrier before its load of ``pending`` (SHM-SIGNAL-003), because the ring's decision
ends with the barrier of RING-SPLIT-070, RING-SPLIT-071 and stores nothing after it; and where the
receiver acknowledges, as long as it is before the ring's re-check (the re-check then sees
what a cleared ``pending`` announced). Acknowledging after the ring's re-check loses a wakeup.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

import z3
from virtiospec.models.ring.index import power_of_two
from virtiospec.models.ring.need_event import vring_need_event
from virtiospec.models.ring.wakeup import (
    behind,
    derive_indices,
    drain_producer,
    drain_producer_text,
    store_idx,
)
from virtiospec.models.ring.wakeup_base import in_pcs as _in
from virtiospec.models.ring.wakeup_base import producer_buffer_empty as pattern_empty
from virtiospec.models.z3util import Action, State, System, Values

__all__ = ["_in", "behind", "pattern_empty"]

Mode = Literal["flags", "event_idx"]
Memory = Literal["sc", "tso"]
U16 = z3.BitVecSort(16)
B8 = z3.BitVecSort(8)

P_IDLE, P_IDX, P_MB, P_INJ, P_SETP, P_LOADE, P_KICK = range(7)
P_NAMES = ("idle", "ring entry stored", "idx stored", "injecting", "pending loaded 0",
           "pending stored", "notifying")
S_CELL, E_CELL, P_CELL = 0, 1, 2
CAP = 3  # the consumer's store buffer
# the receiver's stores to the signal's words: what it does, the word, the value
SIGNAL_STORES = {"sig_disable": ("disable", E_CELL, 0), "ack": ("acknowledge", P_CELL, 0),
                 "sig_enable": ("enable", E_CELL, 1)}


@dataclass(frozen=True)
class Roles:
    """One direction's names, as the spec and the reference use them."""

    direction: str
    producer: str
    consumer: str
    idx: str
    ring: str
    flags: str
    event: str
    signal: str  # kick or call
    notification: str
    last_seen: str
    req: str
    event_disable_stores: bool  # the driver's disable_cb stores used_event, the device nothing


KICK = Roles("kick", "driver", "device", "avail.idx", "avail.ring", "used.flags",
             "avail_event", "kick", "notify write", "device.last_avail", "RING-SPLIT-110", False)
CALL = Roles("call", "device", "driver", "used.idx", "used.ring", "avail.flags",
             "used_event", "call", "MSI-X message", "driver.last_used", "RING-SPLIT-111", True)
DIRECTIONS = (KICK, CALL)


@dataclass(frozen=True)
class Seam:
    """Switches at the seam of ring and signal; the defaults are the protocol. Each names the
    line of reference/shm/ring_on_shm.py (its ``Seam``) or reference/shm/signal.py it breaks."""

    # SHM-RING-004, SHM-SIGNAL-005: acknowledge in begin, or late (after consuming, before
    # or after the ring's re-check)
    ack: Literal["begin", "after_consume", "after_ring_recheck"] = "begin"
    ring_enable: bool = True  # SHM-RING-004: re-enable the ring's suppression
    signal_enable: bool = True  # SHM-RING-004: re-enable the signal
    ring_recheck: bool = True  # SHM-RING-004, RING-SPLIT-072, RING-SPLIT-073
    signal_recheck: bool = True  # SHM-RING-004, SHM-SIGNAL-006
    pending_mb: bool = True  # SHM-SIGNAL-003 (redundant after the ring's decision)
    enabled_mb: bool = True  # SHM-SIGNAL-004
    via_signal: bool = True  # SHM-RING-003: a decision to notify injects the signal
    obey_injection: bool = True  # SHM-RING-003, SHM-RING-006: notify only if the injection says so


CORRECT = Seam()


def receiver_program(seam: Seam) -> tuple[str, ...]:
    steps = ["ring_disable", "sig_disable", "ack", "mb", "consume", "ring_enable", "mb",
             "ring_recheck", "sig_enable", "mb", "sig_recheck", "wait"]
    if seam.ack != "begin":
        steps.remove("ack")
        steps.remove("mb")  # the one after the acknowledgement
        after = "consume" if seam.ack == "after_consume" else "ring_recheck"
        steps.insert(steps.index(after) + 1, "ack")
        steps.insert(steps.index("ack") + 1, "mb")
    for switch, step in (("ring_enable", "ring_enable"), ("signal_enable", "sig_enable"),
                         ("ring_recheck", "ring_recheck"), ("signal_recheck", "sig_recheck")):
        if not getattr(seam, switch):
            steps.remove(step)
    return tuple(steps)


RECEIVER = receiver_program(CORRECT)
WAIT = RECEIVER.index("wait")


def _pc(v: int) -> z3.BitVecRef:
    return z3.BitVecVal(v, 8)


def producer_empty(s: State) -> z3.BoolRef:
    return z3.And(pattern_empty(s), z3.Not(s["pP"]))


def lost_wakeup(s: State, wait: int = WAIT) -> z3.BoolRef:
    return z3.And(s["cpc"] == wait, z3.Not(s["more"]), z3.Not(s["notif"]),
                  s["ppc"] == P_IDLE, s["P"] != s["L"])


@dataclass
class _Builder:
    roles: Roles
    mode: Mode
    tso: bool
    seam: Seam

    @property
    def field(self) -> str:
        return self.roles.flags if self.mode == "flags" else self.roles.event

    def cell(self, code: int) -> str:
        return (self.field, *(f"{self.roles.signal}.{w}" for w in ("enabled", "pending")))[code]

    def buf(self) -> str:
        return " (buffered)" if self.tso else ""

    # -- memory --------------------------------------------------------------------------
    def write(self, s: State, code: z3.ExprRef, value: z3.ExprRef) -> dict[str, z3.ExprRef]:
        """A consumer store reaching memory (and its ghost: a cleared pending)."""
        cleared = z3.And(code == P_CELL, value == 0)
        return {"S": z3.If(code == S_CELL, value, s["S"]),
                "E": z3.If(code == E_CELL, value, s["E"]),
                "Pm": z3.If(code == P_CELL, value, s["Pm"]),
                "g.sets": z3.If(cleared, _pc(0), s["g.sets"])}

    def c_store(self, s: State, code: int,
                value: z3.ExprRef) -> tuple[z3.BoolRef, dict[str, z3.ExprRef]]:
        c = z3.BitVecVal(code, 2)
        if not self.tso:
            return z3.BoolVal(True), self.write(s, c, value)
        n = s["cn"]
        out: dict[str, z3.ExprRef] = {"cn": n + 1}
        for j in range(CAP):
            out[f"ca{j}"] = z3.If(n == j, c, s[f"ca{j}"])
            out[f"cv{j}"] = z3.If(n == j, value, s[f"cv{j}"])
        return z3.ULT(n, CAP), out

    def c_load_p(self, s: State) -> z3.ExprRef:
        if not self.tso:
            return s["Pm"]
        v: z3.ExprRef = s["Pm"]
        for j in range(CAP):
            v = z3.If(z3.And(z3.ULT(j, s["cn"]), s[f"ca{j}"] == P_CELL), s[f"cv{j}"], v)
        return v

    def p_load_p(self, s: State) -> z3.ExprRef:
        return z3.If(s["pP"], z3.BitVecVal(1, 16), s["Pm"])

    def need(self, s: State) -> z3.BoolRef:
        if self.mode == "flags":
            return s["S"] & 1 == 0
        return vring_need_event(s["S"], s["P"], s["old"])

    def enable_value(self, s: State) -> z3.ExprRef:
        return z3.BitVecVal(0, 16) if self.mode == "flags" else s["L"]

    def disable_value(self, s: State) -> z3.ExprRef | None:
        if self.mode == "flags":
            return z3.BitVecVal(1, 16)
        return s["L"] - 1 if self.roles.event_disable_stores else None

    # -- actions -------------------------------------------------------------------------
    def actions(self) -> list[Action]:
        acts: list[Action] = []
        self._producer(acts)
        self._consumer(acts)
        if self.tso:
            self._drains(acts)
        return acts

    def _producer(self, acts: list[Action]) -> None:
        r, seam, tso = self.roles, self.seam, self.tso
        side = r.producer

        def add(name: str, eff: object, text: object) -> None:
            acts.append(Action(name, side, eff, text))  # type: ignore[arg-type]

        def ring(s: State) -> tuple[z3.BoolRef, dict[str, z3.ExprRef]]:
            guard = z3.And(_in(s["ppc"], P_IDLE, P_MB), z3.ULT(behind(s, "L"), s["Q"]),
                           z3.ULT(behind(s, "old"), s["B"]))
            out: dict[str, z3.ExprRef] = {"ppc": _pc(P_IDX)}
            if not tso:
                out["rd"] = z3.BoolVal(True)
            return guard, out

        add("producer stores a ring entry; wmb", ring,
            lambda a, b: f"ring: store {r.ring}[{a['P'] % a['Q']}] := entry {a['P']}"
                         f"{self.buf()}; wmb")

        add("producer stores idx", lambda s: store_idx(s, _pc(P_MB), tso),
            lambda a, b: f"ring: store {r.idx} := {b['P']}{self.buf()}")

        def decide(anyway: bool) -> object:
            def eff(s: State) -> tuple[z3.BoolRef, dict[str, z3.ExprRef]]:
                guard = s["ppc"] == P_MB
                if tso:
                    guard = z3.And(guard, pattern_empty(s))  # RING-SPLIT-070, RING-SPLIT-071
                yes = _pc(P_INJ) if seam.via_signal else _pc(P_KICK)
                need = z3.BoolVal(True) if anyway else self.need(s)
                return guard, {"ppc": z3.If(need, yes, _pc(P_IDLE)),
                               "bold": z3.BitVecVal(0, 16)}
            return eff

        def decide_text(anyway: bool) -> object:
            def text(a: Values, b: Values) -> str:
                said = "notify" if b["ppc"] != P_IDLE else "no notification"
                if anyway and self.mode == "event_idx":
                    said += " (the device's first decision notifies anyway)"
                skip = "" if seam.via_signal else " (bug: straight to the transport)"
                return f"ring: mb; load {self.field} -> {a['S']}: {said}{skip}"
            return text

        add("producer decides", decide(False), decide_text(False))
        if self.mode == "event_idx" and r.producer == "device":
            add("producer decides, notifies anyway", decide(True), decide_text(True))

        def inj(s: State) -> tuple[z3.BoolRef, dict[str, z3.ExprRef]]:
            guard = s["ppc"] == P_INJ
            if tso and seam.pending_mb:
                guard = z3.And(guard, producer_empty(s))  # SHM-SIGNAL-003
            coalesced = _pc(P_KICK) if not seam.obey_injection else _pc(P_IDLE)
            return guard, {"ppc": z3.If(self.p_load_p(s) != 0, coalesced, _pc(P_SETP))}

        add("producer injects: loads pending", inj,
            lambda a, b: f"signal: {'mb; ' if seam.pending_mb else ''}load {r.signal}.pending"
                         f" -> {int(b['ppc'] != P_SETP)}"
                         + (": coalesced" if b["ppc"] != P_SETP else ""))

        def setp(s: State) -> tuple[z3.BoolRef, dict[str, z3.ExprRef]]:
            out: dict[str, z3.ExprRef] = {"ppc": _pc(P_LOADE), "g.sets": s["g.sets"] + 1,
                                          "g.notes": _pc(0)}
            if tso:
                out["pP"] = z3.BoolVal(True)
            else:
                out["Pm"] = z3.BitVecVal(1, 16)
            return s["ppc"] == P_SETP, out

        add("producer stores pending := 1", setp,
            lambda a, b: f"signal: store {r.signal}.pending := 1{self.buf()}")

        def loade(s: State) -> tuple[z3.BoolRef, dict[str, z3.ExprRef]]:
            guard = s["ppc"] == P_LOADE
            if tso and seam.enabled_mb:
                guard = z3.And(guard, producer_empty(s))  # SHM-SIGNAL-004
            on = s["E"] != 0
            no = _pc(P_IDLE) if seam.obey_injection else _pc(P_KICK)
            return guard, {"ppc": z3.If(on, _pc(P_KICK), no), "asked": on}

        add("producer injects: loads enabled", loade,
            lambda a, b: f"signal: {'mb; ' if seam.enabled_mb else '(no mb: bug) '}"
                         f"load {r.signal}.enabled -> {int(bool(b['asked']))}: "
                         + ("notify" if b["asked"] else "no notification"))

        def kick(s: State) -> tuple[z3.BoolRef, dict[str, z3.ExprRef]]:
            guard = s["ppc"] == P_KICK
            if tso:
                guard = z3.And(guard, producer_empty(s))  # SHM-SIGNAL-008, RING-SPLIT-074
            return guard, {"ppc": _pc(P_IDLE), "notif": z3.BoolVal(True),
                           "asked": z3.BoolVal(False),
                           "g.unasked": z3.Or(s["g.unasked"], z3.Not(s["asked"])),
                           "g.notes": s["g.notes"] + 1}

        add("transport notifies", kick,
            lambda a, b: f"transport: {r.notification} -> {r.consumer}"
                         + ("" if a["asked"] else " (no injection asked for it)"))

    def _consumer(self, acts: list[Action]) -> None:
        r, prog = self.roles, receiver_program(self.seam)
        side = r.consumer
        n = len(prog)
        wait = prog.index("wait")

        def add(at: int, eff: object, text: object, suffix: str = "") -> None:
            def effect(s: State) -> tuple[z3.BoolRef, dict[str, z3.ExprRef]]:
                guard, out = eff(s)  # type: ignore[operator]
                out = dict(out)
                out.setdefault("cpc", _pc((at + 1) % n))
                return z3.And(s["cpc"] == at, guard), out

            acts.append(Action(f"consumer {at}: {prog[at]}{suffix}", side, effect,
                               text))  # type: ignore[arg-type]

        for at, step in enumerate(prog):
            if step == "mb":
                add(at, lambda s: (s["cn"] == 0 if self.tso else z3.BoolVal(True), {}),
                    lambda a, b: "mb")
            elif step == "ring_disable":
                def dis(s: State) -> tuple[z3.BoolRef, dict[str, z3.ExprRef]]:
                    value = self.disable_value(s)
                    if value is None:
                        return z3.BoolVal(True), {"dis": z3.BoolVal(True)}
                    g, out = self.c_store(s, S_CELL, value)
                    # the reference stores only if the ring is not already disabled
                    g = z3.Or(s["dis"], g)
                    return g, {k: z3.If(s["dis"], s[k], v) for k, v in out.items()} | {
                        "dis": z3.BoolVal(True)}

                def dis_text(a: Values, b: Values) -> str:
                    if a["dis"] or self.disable_value({"L": z3.BitVecVal(0, 16)}) is None:
                        return "ring: disable (nothing to store)"
                    v = 1 if self.mode == "flags" else (int(a["L"]) - 1) & 0xFFFF
                    return f"ring: disable: store {self.field} := {v}{self.buf()}"

                add(at, dis, dis_text)
            elif step in SIGNAL_STORES:
                what, cell, value = SIGNAL_STORES[step]
                add(at, lambda s, c=cell, v=value: self.c_store(s, c, z3.BitVecVal(v, 16)),
                    lambda a, b, w=what, c=cell, v=value:
                    f"signal: {w}: store {self.cell(c)} := {v}{self.buf()}")
            elif step == "consume":
                add(at, lambda s, at=at: (s["M"] != s["L"], {"bL": s["bL"] - 1, "cpc": _pc(at)}),
                    lambda a, b: f"ring: load {r.idx} -> {a['M']}: consume entry {a['L']}",
                    " an entry")
                add(at, lambda s: (s["M"] == s["L"], {}),
                    lambda a, b: f"ring: load {r.idx} -> {a['M']}: nothing more", " nothing")
            elif step == "ring_enable":
                def en(s: State) -> tuple[z3.BoolRef, dict[str, z3.ExprRef]]:
                    g, out = self.c_store(s, S_CELL, self.enable_value(s))
                    return g, out | {"dis": z3.BoolVal(False)}

                add(at, en, lambda a, b: f"ring: enable: store {self.field} := "
                                         f"{0 if self.mode == 'flags' else a['L']}{self.buf()}")
            elif step == "ring_recheck":
                add(at, lambda s: (z3.BoolVal(True), {"more": z3.Or(s["more"],
                                                                    s["M"] != s["L"])}),
                    lambda a, b: f"ring: re-check: load {r.idx} -> {a['M']}"
                                 + (": more" if a["M"] != a["L"] else ": nothing new"))
            elif step == "sig_recheck":
                add(at, lambda s: (z3.BoolVal(True), {
                    "more": z3.Or(s["more"], self.c_load_p(s) != 0)}),
                    lambda a, b: f"signal: re-check: load {r.signal}.pending -> "
                                 f"{int(b['more'] and not a['more'])}"
                                 + (": do not wait" if b["more"] else ": nothing"))
            elif step == "wait":
                add(at, lambda s: (s["more"], {"more": z3.BoolVal(False), "cpc": _pc(0)}),
                    lambda a, b: "something new: process again", " again")
                add(at, lambda s: (z3.And(z3.Not(s["more"]), s["notif"]),
                                   {"notif": z3.BoolVal(False), "cpc": _pc(0)}),
                    lambda a, b: f"woken by the {r.notification}", " woken")
            else:
                raise ValueError(step)
        acts.append(Action(
            "notification absorbed while running", side,
            lambda s: (z3.And(s["cpc"] != wait, s["notif"]), {"notif": z3.BoolVal(False)}),
            lambda a, b: f"transport: {r.notification} taken while running"))

    def _drains(self, acts: list[Action]) -> None:
        r = self.roles

        acts.append(Action("producer's ring store drains", "memory", drain_producer,
                           drain_producer_text(r.producer, r.idx, r.ring)))
        acts.append(Action(
            "producer's pending store drains", "memory",
            lambda s: (z3.And(s["pP"], pattern_empty(s)),
                       {"pP": z3.BoolVal(False), "Pm": z3.BitVecVal(1, 16)}),
            lambda a, b: f"{r.producer}'s {r.signal}.pending := 1 reaches memory"))

        def d_cons(s: State) -> tuple[z3.BoolRef, dict[str, z3.ExprRef]]:
            out = self.write(s, s["ca0"], s["cv0"])
            out |= {"cn": s["cn"] - 1}
            for j in range(CAP - 1):
                out[f"ca{j}"], out[f"cv{j}"] = s[f"ca{j + 1}"], s[f"cv{j + 1}"]
            return z3.UGT(s["cn"], 0), out

        acts.append(Action("consumer's oldest store drains", "memory", d_cons,
                           lambda a, b: f"{r.consumer}'s {self.cell(int(a['ca0']))} := "
                                        f"{a['cv0']} reaches memory"))

    # -- the system ----------------------------------------------------------------------
    def show(self, v: Values) -> dict[str, object]:
        r, prog = self.roles, receiver_program(self.seam)
        cpc = int(v["cpc"])
        out: dict[str, object] = {
            r.producer: P_NAMES[int(v["ppc"])] if int(v["ppc"]) < len(P_NAMES) else v["ppc"],
            r.consumer: prog[cpc] if cpc < len(prog) else cpc,
            f"{r.producer} idx": v["P"], r.idx: v["M"], r.last_seen: v["L"],
            self.field: v["S"], f"{r.signal}.enabled": v["E"],
            f"{r.signal}.pending": v["Pm"], "notification in flight": v["notif"]}
        if self.tso:
            out[f"{r.consumer} buffer"] = [f"{self.cell(int(v[f'ca{j}']))} := {v[f'cv{j}']}"
                                           for j in range(int(v["cn"]))]
            out[f"{r.producer} buffer: pending := 1"] = v["pP"]
        return out

    def system(self) -> System:
        variables: dict[str, z3.SortRef] = {
            "ppc": B8, "P": U16, "bM": U16, "bL": U16, "bold": U16, "rd": z3.BoolSort(),
            "pP": z3.BoolSort(), "asked": z3.BoolSort(), "cpc": B8, "dis": z3.BoolSort(),
            "more": z3.BoolSort(), "S": U16, "E": U16, "Pm": U16, "notif": z3.BoolSort(),
            "cn": z3.BitVecSort(2), "g.sets": B8, "g.notes": B8, "g.unasked": z3.BoolSort()}
        for j in range(CAP):
            variables[f"ca{j}"] = z3.BitVecSort(2)
            variables[f"cv{j}"] = U16

        def init(s: State) -> z3.BoolRef:
            zero = [s[k] == 0 for k in ("ppc", "P", "bM", "bL", "bold", "cpc", "S", "E", "Pm",
                                        "cn", "g.sets", "g.notes")]
            return z3.And(*zero, *(z3.Not(s[k]) for k in ("rd", "pP", "asked", "dis", "more",
                                                          "notif", "g.unasked")))

        return System(variables, {"Q": U16, "B": U16},
                      lambda s: z3.And(power_of_two(s["Q"]), s["B"] != 0), init,
                      self.actions(), self.show, derive=derive_indices)


def build(roles: Roles, mode: Mode, tso: bool, seam: Seam = CORRECT) -> System:
    return _Builder(roles, mode, tso, seam).system()


def variant(**switches: object) -> Seam:
    """:data:`CORRECT` with some switches turned."""
    return replace(CORRECT, **switches)  # type: ignore[arg-type]
