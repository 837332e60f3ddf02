"""Registries of proofs, state-machine checks and mutants.

Model modules register themselves at import with the decorators below;
:func:`discover` imports every module of the ``virtiospec.models`` package so that
``virtiospec prove`` / ``check`` see them all. Names are stable, dotted, and are what
``--only`` selects: ``ring.need_event.window``, ``ring.wakeup.tso.event_idx``...

Every entry names the requirement IDs (spec/) it establishes or that its bug breaks.
"""

from __future__ import annotations

import importlib
import pkgutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from virtiospec.spec import catalogue


@dataclass(frozen=True)
class Step:
    """One step of a counterexample or failing trace: who did what, and the state after it."""

    side: str  # "driver", "device", "memory" (a store-buffer drain), "env"
    action: str  # e.g. "store avail.idx := 1 (buffered)", "load used.flags -> 0", "mb"
    state: dict[str, object] = field(default_factory=dict)


@dataclass
class Evidence:
    """Result of running a proof, a check or a mutant."""

    ok: bool  # proof holds / check passed / mutant refuted
    detail: str = ""
    trace: list[Step] = field(default_factory=list)
    seconds: float = 0.0
    stats: dict[str, float] = field(default_factory=dict)  # e.g. steps, examples


Method = Literal["z3", "hypothesis", "stress", "test"]


@dataclass(frozen=True)
class Proof:
    name: str
    reqs: tuple[str, ...]
    summary: str
    run: Callable[[], Evidence]


@dataclass(frozen=True)
class Check:
    """A Hypothesis state machine run against an implementation."""

    name: str
    reqs: tuple[str, ...]
    summary: str
    run: Callable[[int], Evidence]  # argument: max_examples


@dataclass(frozen=True)
class Mutant:
    """A known-bad variant. ``run`` returns Evidence with ok=True when the bug is caught."""

    name: str
    bug: str
    reqs: tuple[str, ...]  # the requirements the bug breaks
    method: Method
    run: Callable[[], Evidence]


PROOFS: dict[str, Proof] = {}
CHECKS: dict[str, Check] = {}
MUTANTS: dict[str, Mutant] = {}


def _register(table: dict, entry: Proof | Check | Mutant) -> None:  # type: ignore[type-arg]
    if entry.name in table:
        raise ValueError(f"{entry.name} registered twice")
    for rid in entry.reqs:
        catalogue.get(rid)  # unknown IDs are an error at import time
    table[entry.name] = entry


def proof(name: str, reqs: tuple[str, ...], summary: str) -> Callable[
    [Callable[[], Evidence]], Callable[[], Evidence]
]:
    def deco(fn: Callable[[], Evidence]) -> Callable[[], Evidence]:
        _register(PROOFS, Proof(name, reqs, summary, timed(fn)))
        return fn

    return deco


def check(name: str, reqs: tuple[str, ...], summary: str) -> Callable[
    [Callable[[int], Evidence]], Callable[[int], Evidence]
]:
    def deco(fn: Callable[[int], Evidence]) -> Callable[[int], Evidence]:
        def run(n: int) -> Evidence:
            t = time.perf_counter()
            ev = fn(n)
            ev.seconds = time.perf_counter() - t
            return ev

        _register(CHECKS, Check(name, reqs, summary, run))
        return fn

    return deco


def mutant(name: str, bug: str, reqs: tuple[str, ...], method: Method) -> Callable[
    [Callable[[], Evidence]], Callable[[], Evidence]
]:
    def deco(fn: Callable[[], Evidence]) -> Callable[[], Evidence]:
        _register(MUTANTS, Mutant(name, bug, reqs, method, timed(fn)))
        return fn

    return deco


def timed(fn: Callable[[], Evidence]) -> Callable[[], Evidence]:
    def run() -> Evidence:
        t = time.perf_counter()
        ev = fn()
        ev.seconds = time.perf_counter() - t
        return ev

    return run


_discovered = False


def discover() -> None:
    """Import every module under virtiospec.models (they register on import)."""
    global _discovered
    if _discovered:
        return
    import virtiospec.models as pkg

    for info in pkgutil.walk_packages(pkg.__path__, prefix="virtiospec.models."):
        importlib.import_module(info.name)
    _discovered = True


def select(table: dict, only: list[str] | None) -> list:  # type: ignore[type-arg]
    """Entries whose name equals or starts with one of ``only`` (dotted prefix)."""
    if not only:
        return list(table.values())
    return [e for n, e in table.items() if any(n == o or n.startswith(o + ".") for o in only)]
