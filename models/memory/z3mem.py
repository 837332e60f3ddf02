"""Shared words and per-side store buffers as Z3 state, for the transition systems of
:mod:`virtiospec.models.z3util` (used by the shm-signal and table proofs).

The memory is a few named words (``cells``). Each side that stores has a bounded FIFO store
buffer of ``capacity`` entries ``(address, value)``: ``{side}.n`` entries are in use, entry
``j`` is ``{side}.a{j}``/``{side}.v{j}``, oldest first. The models are those of
:mod:`virtiospec.models.memory.tso` and spec/shm.md:

``sc``
    no buffers: a store writes memory at once;
``tso``
    a store enters the buffer; a *drain* action writes the oldest entry to memory; a load
    returns the newest buffered store of its own side to the word, else memory; an ``mb`` is
    enabled only with an empty buffer; ``wmb`` and ``rmb`` do nothing;
``pso``
    as ``tso``, but a drain may write any entry that is not behind an older entry to the same
    word or an older ``wmb``: every entry carries the number of ``wmb`` s its side had issued
    (``{side}.e{j}``, from ``{side}.ep``), and only entries with the oldest entry's number may
    drain. Loads are never reordered.

A buffer never needs more than its capacity in the programs proved here; the proofs show it
(a store's guard ``n < capacity`` is part of the inductive invariant's check), so the bound is
not an assumption. ``on_write`` returns ghost assignments for a store that reaches memory, by
a drain or by an SC store.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import z3
from virtiospec.models.z3util import Action, Pred, State, System, Values, replay, satisfiable

Mode = Literal["sc", "tso", "pso"]
ADDR = z3.BitVecSort(8)
Assigns = dict[str, z3.ExprRef]
OnWrite = Callable[[State, z3.BitVecRef, z3.BitVecRef], Assigns]


def merge(*parts: Assigns) -> Assigns:
    """Union of assignment maps that must not assign a variable twice."""
    out: Assigns = {}
    for part in parts:
        clash = set(out) & set(part)
        if clash:
            raise KeyError(f"assigned twice: {sorted(clash)}")
        out.update(part)
    return out


@dataclass
class Z3Memory:
    cells: tuple[str, ...]
    width: int
    mode: Mode
    capacity: dict[str, int]  # side -> store-buffer entries (ignored under sc)
    on_write: OnWrite | None = None
    sort: z3.BitVecSortRef = field(init=False)

    def __post_init__(self) -> None:
        self.sort = z3.BitVecSort(self.width)

    # -- naming ----------------------------------------------------------------------------
    def code(self, cell: str) -> z3.BitVecRef:
        return z3.BitVecVal(self.cells.index(cell), 8)

    def cell_name(self, code: int | bool) -> str:
        return self.cells[int(code)] if 0 <= int(code) < len(self.cells) else f"?{code}"

    @staticmethod
    def mem(cell: str) -> str:
        return f"m.{cell}"

    def cap(self, side: str) -> int:
        return 0 if self.mode == "sc" else self.capacity[side]

    def variables(self) -> dict[str, z3.SortRef]:
        out: dict[str, z3.SortRef] = {self.mem(c): self.sort for c in self.cells}
        for side in self.capacity:
            if self.cap(side) == 0:
                continue
            out[f"{side}.n"] = ADDR
            for j in range(self.cap(side)):
                out[f"{side}.a{j}"] = ADDR
                out[f"{side}.v{j}"] = self.sort
                if self.mode == "pso":
                    out[f"{side}.e{j}"] = ADDR
            if self.mode == "pso":
                out[f"{side}.ep"] = ADDR
        return out

    # -- predicates and effects ------------------------------------------------------------
    def init(self, s: State, values: dict[str, int]) -> z3.BoolRef:
        eqs = [s[self.mem(c)] == values.get(c, 0) for c in self.cells]
        eqs += [s[f"{side}.n"] == 0 for side in self.capacity if self.cap(side)]
        return z3.And(*eqs)

    def count(self, s: State, side: str) -> z3.BitVecRef | int:
        return s[f"{side}.n"] if self.cap(side) else 0

    def empty(self, s: State, side: str) -> z3.BoolRef:
        return z3.BoolVal(True) if self.cap(side) == 0 else s[f"{side}.n"] == 0

    def entry(self, s: State, side: str, j: int) -> tuple[z3.BitVecRef, z3.BitVecRef]:
        return s[f"{side}.a{j}"], s[f"{side}.v{j}"]

    def load(self, s: State, side: str, cell: str) -> z3.BitVecRef:
        """The value ``side`` loads from ``cell``: its newest buffered store, else memory."""
        value: z3.BitVecRef = s[self.mem(cell)]
        for j in range(self.cap(side)):  # oldest first: the newest match wins
            a, v = self.entry(s, side, j)
            value = z3.If(z3.And(z3.ULT(j, s[f"{side}.n"]), a == self.code(cell)), v, value)
        return value

    def store(self, s: State, side: str, cell: str,
              value: z3.BitVecRef | int) -> tuple[z3.BoolRef, Assigns]:
        """Guard and assignments of ``side`` storing ``value`` to ``cell``."""
        val = z3.BitVecVal(value, self.width) if isinstance(value, int) else value
        if self.cap(side) == 0:
            return z3.BoolVal(True), self._write(s, self.code(cell), val)
        n = s[f"{side}.n"]
        out: Assigns = {f"{side}.n": n + 1}
        for j in range(self.cap(side)):
            here = n == j
            out[f"{side}.a{j}"] = z3.If(here, self.code(cell), s[f"{side}.a{j}"])
            out[f"{side}.v{j}"] = z3.If(here, val, s[f"{side}.v{j}"])
            if self.mode == "pso":
                out[f"{side}.e{j}"] = z3.If(here, s[f"{side}.ep"], s[f"{side}.e{j}"])
        return z3.ULT(n, self.cap(side)), out

    def wmb(self, s: State, side: str) -> Assigns:
        if self.mode == "pso" and self.cap(side):
            return {f"{side}.ep": s[f"{side}.ep"] + 1}
        return {}

    def _write(self, s: State, addr: z3.BitVecRef, val: z3.BitVecRef) -> Assigns:
        out: Assigns = {self.mem(c): z3.If(addr == self.code(c), val, s[self.mem(c)])
                        for c in self.cells}
        if self.on_write is not None:
            out = merge(out, self.on_write(s, addr, val))
        return out

    # -- drains ----------------------------------------------------------------------------
    def drains(self) -> list[Action]:
        """One action per side (tso) or per side and entry (pso): a buffered store reaches
        memory."""
        out = []
        for side in self.capacity:
            cap = self.cap(side)
            if cap == 0:
                continue
            for j in range(cap if self.mode == "pso" else 1):
                out.append(Action(f"drain {side}[{j}]", "memory", self._drain(side, j, cap),
                                  self._describe_drain(side, j)))
        return out

    def _drain(self, side: str, j: int,
               cap: int) -> Callable[[State], tuple[z3.BoolRef, Assigns]]:
        def effect(s: State) -> tuple[z3.BoolRef, Assigns]:
            n = s[f"{side}.n"]
            a, v = self.entry(s, side, j)
            guard = [z3.ULT(j, n)]
            if j:  # pso only: same wmb epoch as the oldest, no older store to the same word
                guard.append(s[f"{side}.e{j}"] == s[f"{side}.e0"])
                guard += [s[f"{side}.a{i}"] != a for i in range(j)]
            out = self._write(s, a, v)
            out[f"{side}.n"] = n - 1
            fields = ("a", "v", "e") if self.mode == "pso" else ("a", "v")
            for i in range(j, cap - 1):
                for f in fields:
                    out[f"{side}.{f}{i}"] = s[f"{side}.{f}{i + 1}"]
            return z3.And(*guard), out

        return effect

    def _describe_drain(self, side: str, j: int) -> Callable[[Values, Values], str]:
        def describe(pre: Values, post: Values) -> str:
            cell = self.cell_name(pre[f"{side}.a{j}"])
            order = "" if j == 0 else f", overtaking {j} older"
            return f"{cell} := {pre[f'{side}.v{j}']} reaches memory ({side}{order})"

        return describe

    def show(self, v: Values, sides: tuple[str, ...]) -> dict[str, object]:
        """Memory and buffers of a state, for a counterexample's steps."""
        out: dict[str, object] = {c: v[self.mem(c)] for c in self.cells}
        for side in sides:
            if self.cap(side):
                n = int(v[f"{side}.n"])
                out[f"{side} buffer"] = [f"{self.cell_name(v[f'{side}.a{j}'])}:="
                                         f"{v[f'{side}.v{j}']}" for j in range(n)]
        return out


def witness(system: System, steps: list[str], target: Pred) -> bool:
    """Whether the named actions, run from the initial state, reach a state satisfying
    ``target``: a concrete run showing that a claim's premise is reachable (not vacuous)."""
    s0 = system.state("init")
    model = satisfiable(system.assume(s0), system.init(s0))
    if model is None:
        return False
    by_name = {a.name: a for a in system.actions}
    return replay(system, system.values(model, s0), [by_name[n] for n in steps],
                  target) is not None
