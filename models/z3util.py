"""A small Z3 toolkit shared by the models (ring, shm).

* :func:`valid` -- is a formula true for every value of its free variables?
* :class:`System` -- a transition system: named state variables, parameters that are the
  same in every state (the queue size...), an initial condition and a list of labelled
  :class:`Action` s (guard + assignments; every variable an action does not assign keeps
  its value).
* :func:`check_inductive` -- an unbounded proof by an inductive invariant: Init ⇒ Inv,
  Inv ∧ T ⇒ Inv', Inv ⇒ Safe, one query per obligation, with a counterexample to
  induction (the failing action and the pre-state) when one does not hold.
* :func:`bmc` -- symbolic bounded model checking: a path from Init to a bad state, for every
  value of the parameters, returned as :class:`registry.Step` s a virtio engineer can read;
* :func:`search` -- the same question answered by explicit-state breadth-first search for
  fixed parameter values: shortest paths, fast where bmc's SAT queries are slow (deep paths
  through many interleavings).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import z3
from virtiospec.models.registry import Step
from virtiospec.models.z3compile import Env, Fn
from virtiospec.models.z3compile import compile_term as _compile

State = dict[str, z3.ExprRef]
Values = dict[str, int | bool]
Pred = Callable[[State], z3.BoolRef]
Named = Sequence[tuple[str, Pred]]


def solver(logic: str = "QF_BV") -> z3.Solver:
    """Every query of the split-ring models is quantifier-free over bit-vectors and Booleans;
    models whose arithmetic is modulo a symbolic size (the packed ring's 2Q) are linear
    integer arithmetic, ``logic="QF_LIA"``, where the solver needs no division circuits."""
    return z3.SolverFor(logic)


def valid(claim: z3.BoolRef, *assumptions: z3.BoolRef,
          logic: str = "QF_BV") -> z3.ModelRef | None:
    """None if ``assumptions ⇒ claim`` holds for every value of the free variables,
    else a model of a counterexample."""
    s = solver(logic)
    s.add(*assumptions)
    s.add(z3.Not(claim))
    result = s.check()
    if result == z3.unsat:
        return None
    if result == z3.sat:
        return s.model()
    raise RuntimeError(f"z3 returned {result}: {s.reason_unknown()}")


def satisfiable(*constraints: z3.BoolRef, logic: str = "QF_BV") -> z3.ModelRef | None:
    """A model of the constraints, or None if they have none."""
    s = solver(logic)
    s.add(*constraints)
    result = s.check()
    if result == z3.sat:
        return s.model()
    if result == z3.unsat:
        return None
    raise RuntimeError(f"z3 returned {result}: {s.reason_unknown()}")


def evaluate(model: z3.ModelRef, expr: z3.ExprRef) -> int | bool:
    value = model.eval(expr, model_completion=True)
    if z3.is_bool(value):
        return bool(z3.is_true(value))
    return int(value.as_long())


@dataclass(frozen=True)
class Action:
    """One atomic step. ``effect(s)`` gives its guard and the new values of the variables
    it assigns; ``describe(pre, post)`` the text of the step in a counterexample."""

    name: str
    side: str  # "driver", "device", "memory" or "env" (registry.Step.side)
    effect: Callable[[State], tuple[z3.BoolRef, dict[str, z3.ExprRef]]]
    describe: Callable[[Values, Values], str]


@dataclass
class System:
    variables: dict[str, z3.SortRef]
    params: dict[str, z3.SortRef]
    assume: Pred  # constraints on the parameters
    init: Pred
    actions: list[Action]
    show: Callable[[Values], dict[str, object]]  # the state shown with each Step
    # expressions defined from the variables, available in every state under their name
    derive: Callable[[State], State] | None = None
    logic: str = "QF_BV"  # of every query about the system (QF_LIA: integer variables)
    _params: State = field(init=False)

    def __post_init__(self) -> None:
        self._params = {n: z3.Const(n, srt) for n, srt in self.params.items()}

    def state(self, tag: str) -> State:
        """Fresh constants for one state; the parameters are shared by every state."""
        s: State = {n: z3.Const(f"{n}@{tag}", srt) for n, srt in self.variables.items()}
        s.update(self._params)
        if self.derive is not None:
            s.update(self.derive(s))
        return s

    def step(self, action: Action, s: State, t: State) -> z3.BoolRef:
        guard, assigned = action.effect(s)
        unknown = set(assigned) - set(self.variables)
        if unknown:
            raise KeyError(f"{action.name} assigns unknown variables {sorted(unknown)}")
        return z3.And(guard, *(t[v] == assigned.get(v, s[v]) for v in self.variables))

    def values(self, model: z3.ModelRef, s: State) -> Values:
        return {n: evaluate(model, e) for n, e in s.items()}


@dataclass
class Induction:
    """The outcome of :func:`check_inductive`."""

    ok: bool
    queries: int
    failure: str = ""  # which obligation failed, for which action and conjunct
    cti: Values = field(default_factory=dict)  # the pre-state of the failure


def _conj(named: Named, s: State) -> z3.BoolRef:
    return z3.And(*(p(s) for _, p in named))


def check_inductive(system: System, invariant: Named, safety: Named) -> Induction:
    """Prove that ``invariant`` (a conjunction of named predicates) holds initially, is
    preserved by every action, and implies every ``safety`` predicate. Together these
    show that no reachable state breaks safety, for executions of any length."""
    queries = 0
    s, t = system.state("pre"), system.state("post")
    base = system.assume(s)
    for name, inv in invariant:
        queries += 1
        if (m := valid(inv(s), base, system.init(s), logic=system.logic)) is not None:
            return Induction(False, queries, f"initiation: Init does not imply {name}",
                             system.values(m, s))
    for action in system.actions:
        queries += 1
        m = valid(_conj(invariant, t), base, _conj(invariant, s), system.step(action, s, t),
                  logic=system.logic)
        if m is not None:
            broken = [n for n, p in invariant if not evaluate(m, p(t))]
            return Induction(False, queries,
                             f"consecution: {action.name} breaks {', '.join(broken)}",
                             system.values(m, s))
    for name, safe in safety:
        queries += 1
        if (m := valid(safe(s), base, _conj(invariant, s), logic=system.logic)) is not None:
            return Induction(False, queries, f"safety: the invariant allows a state that "
                             f"breaks {name}", system.values(m, s))
    return Induction(True, queries)


@dataclass
class Path:
    """A path found by :func:`bmc`: its steps (the first one is the initial state)."""

    steps: list[Step]
    length: int  # number of actions taken
    final: Values
    actions: list[str] = field(default_factory=list)  # the name of each action taken


def literal_state(system: System, values: Values) -> State:
    """A state whose variables and parameters are the given concrete values."""
    s: State = {}
    for n, srt in (system.variables | system.params).items():
        x = values[n]
        if srt == z3.BoolSort():
            s[n] = z3.BoolVal(bool(x))
        elif srt == z3.IntSort():
            s[n] = z3.IntVal(int(x))
        else:
            s[n] = z3.BitVecVal(int(x), srt)
    if system.derive is not None:
        s.update({n: z3.simplify(e) for n, e in system.derive(s).items()})
    return s


def _concrete(e: z3.ExprRef) -> int | bool:
    v = z3.simplify(e)
    return bool(z3.is_true(v)) if z3.is_bool(v) else int(v.as_long())


def replay(system: System, start: Values, actions: Sequence[Action],
           target: Pred) -> list[Values] | None:
    """Run ``actions`` from the concrete state ``start``; the states up to the first one that
    satisfies ``target``, or None if an action is disabled or no state reaches the target.
    Each state also holds the values of the derived names."""
    s = literal_state(system, start)
    states = [dict(start) | {n: _concrete(e) for n, e in s.items()}]
    if _concrete(target(s)):
        return states
    for action in actions:
        guard, assigned = action.effect(s)
        if not _concrete(guard):
            return None
        nxt = dict(states[-1])
        nxt.update({v: _concrete(e) for v, e in assigned.items()})
        s = literal_state(system, nxt)
        nxt.update({n: _concrete(e) for n, e in s.items()})  # derived names too
        states.append(nxt)
        if _concrete(target(s)):
            return states
    return None


def shorten(system: System, start: Values, actions: list[Action],
            target: Pred) -> tuple[list[Action], list[Values]]:
    """Drop actions, one at a time, while the rest still reaches ``target``: a path that is
    locally minimal (no single step can be left out)."""
    states = replay(system, start, actions, target)
    assert states is not None, "the path to shorten must reach the target"
    actions = actions[: len(states) - 1]
    changed = True
    while changed:
        changed = False
        for i in range(len(actions)):
            trial = actions[:i] + actions[i + 1 :]
            got = replay(system, start, trial, target)
            if got is not None:
                actions, states, changed = trial[: len(got) - 1], got, True
                break
    return actions, states


def bmc(system: System, target: Pred, max_depth: int, fix: Pred | None = None,
        stride: int = 1) -> Path | None:
    """A path of at most ``max_depth`` actions from an initial state to a state satisfying
    ``target``, or None if there is none. ``fix`` constrains the parameters (e.g. a concrete
    queue size, for a readable trace).

    ``stride == 1``: iterative deepening, the path is a shortest one. ``stride > 1``: the
    target is asked for at any depth, every ``stride`` steps, and the path found is then made
    locally minimal by :func:`shorten` -- much faster on deep counterexamples, where proving
    that no shorter one exists costs the most, but not always a shortest path."""
    sol = solver(system.logic)
    states = [system.state("0")]
    sol.add(system.assume(states[0]), system.init(states[0]))
    if fix is not None:
        sol.add(fix(states[0]))
    chosen: list[z3.BitVecRef] = []
    for depth in range(max_depth + 1):
        if depth % stride == 0 or depth == max_depth:
            sol.push()
            sol.add(target(states[depth]) if stride == 1
                    else z3.Or(*(target(s) for s in states)))
            result = sol.check()
            if result == z3.sat:
                return _path(system, sol.model(), states, chosen, target)
            if result != z3.unsat:
                raise RuntimeError(f"z3 returned {result}: {sol.reason_unknown()}")
            sol.pop()
        if depth == max_depth:
            break
        nxt = system.state(str(depth + 1))
        which = z3.BitVec(f"action@{depth}", 8)
        sol.add(z3.Or(*(z3.And(which == i, system.step(a, states[depth], nxt))
                        for i, a in enumerate(system.actions))))
        states.append(nxt)
        chosen.append(which)
    return None


def _path(system: System, model: z3.ModelRef, states: list[State],
          chosen: list[z3.BitVecRef], target: Pred) -> Path:
    start = system.values(model, states[0])
    actions = [system.actions[int(evaluate(model, which))] for which in chosen]
    actions, vals = shorten(system, start, actions, target)
    steps = [Step("env", "initial state", system.show(vals[0]))]
    for k, action in enumerate(actions):
        steps.append(Step(action.side, action.describe(vals[k], vals[k + 1]),
                          system.show(vals[k + 1])))
    return Path(steps, len(actions), vals[-1], [a.name for a in actions])


# -- explicit-state search ----------------------------------------------------------------
# The ring models have few reachable states for a fixed queue size (thousands up to the depth
# of any counterexample) but very many interleavings, which is what makes the SAT queries of
# bmc slow (a deep path is found slowly, and its length then depends on shorten()).
# search() compiles the system's own Z3 terms (guards, assignments, the target)
# into Python closures (models/z3compile.py) and explores the states breadth-first: shortest
# paths, in milliseconds. Every path it returns is replayed with Z3's evaluator before it is
# used.
def _initial_states(system: System, params: dict[str, int], names: list[str]) -> list[Env]:
    """Every initial state, enumerated by Z3; variables that Init leaves free (e.g. empty
    store-buffer slots) are set to 0, their value cannot matter."""
    s = system.state("init")
    sol = solver(system.logic)
    sol.add(system.assume(s), system.init(s), *(s[n] == c for n, c in params.items()))
    used = {str(c).split("@")[0] for c in _constants(system.init(s))}
    for n in names:
        if n not in used:
            sol.add(s[n] == (z3.BoolVal(False) if z3.is_bool(s[n]) else 0))
    out: list[Env] = []
    while sol.check() == z3.sat and len(out) < 256:
        m = sol.model()
        out.append(tuple(int(evaluate(m, s[n])) for n in names))
        sol.add(z3.Or(*(s[n] != m.eval(s[n], model_completion=True) for n in names)))
    if len(out) == 256:
        raise ValueError("too many initial states to enumerate")
    return out


def _constants(e: z3.ExprRef) -> set[z3.ExprRef]:
    out, todo = set(), [e]
    while todo:
        x = todo.pop()
        if z3.is_const(x) and x.decl().kind() == z3.Z3_OP_UNINTERPRETED:
            out.add(x)
        todo.extend(x.children())
    return out


def search(system: System, target: Pred, max_depth: int, params: dict[str, int],
           max_states: int = 2_000_000) -> Path | None:
    """A shortest path of at most ``max_depth`` actions from an initial state to a state
    satisfying ``target``, for the given parameter values, by breadth-first search; None if
    there is none (or ``max_states`` states were seen first)."""
    names = list(system.variables)
    slots = {n: i for i, n in enumerate(names)}
    s = system.state("sym")
    compiled: list[tuple[Fn, list[tuple[int, Fn]]]] = []
    for action in system.actions:
        guard, assigned = action.effect(s)
        compiled.append((_compile(z3.simplify(guard), slots, params),
                         [(slots[n], _compile(z3.simplify(e), slots, params))
                          for n, e in assigned.items()]))
    goal = _compile(z3.simplify(target(s)), slots, params)
    parent: dict[Env, tuple[Env, int] | None] = {}
    frontier = []
    for env in _initial_states(system, params, names):
        parent[env] = None
        frontier.append(env)
    hit = next((env for env in frontier if goal(env)), None)
    depth = 0
    while hit is None and frontier and depth < max_depth and len(parent) < max_states:
        depth += 1
        nxt: list[Env] = []
        for env in frontier:
            for i, (guard_fn, updates) in enumerate(compiled):
                if not guard_fn(env):
                    continue
                new = list(env)
                for slot, fn in updates:
                    new[slot] = fn(env)
                t = tuple(new)
                if t in parent:
                    continue
                parent[t] = (env, i)
                nxt.append(t)
                if goal(t):
                    hit = t
                    break
            if hit is not None:
                break
        frontier = nxt
    if hit is None:
        return None
    picks: list[Action] = []
    env = hit
    while (link := parent[env]) is not None:
        env, i = link
        picks.append(system.actions[i])
    start: Values = {n: bool(x) if z3.is_bool(s[n]) else x for n, x in zip(names, env,
                                                                          strict=True)}
    return _to_path(system, start | params, picks[::-1], target)


def _to_path(system: System, start: Values, actions: list[Action], target: Pred) -> Path:
    """Replay a path found by :func:`search` with Z3's own evaluator (an independent check
    of the compiled closures) and describe each step."""
    vals = replay(system, start, actions, target)
    if vals is None or len(vals) != len(actions) + 1:
        raise AssertionError("search() found a path that Z3's evaluator does not confirm")
    steps = [Step("env", "initial state", system.show(vals[0]))]
    for k, action in enumerate(actions):
        steps.append(Step(action.side, action.describe(vals[k], vals[k + 1]),
                          system.show(vals[k + 1])))
    return Path(steps, len(actions), vals[-1], [a.name for a in actions])
