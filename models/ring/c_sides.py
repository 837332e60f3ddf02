"""The stepped C sides of the split and the packed ring (reference/ring/c/stepped.py,
packed_stepped.py) as the machines use them: of the reference build or of one mutant build,
and with any C operation an abandoned example left suspended aborted after a run."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import TypeVar

from virtiospec.models import registry
from virtiospec.reference.ring.c.stepped import abort_all

T = TypeVar("T")


@cache
def with_mutant(cls: type[T], mutant: str | None = None) -> type[T]:
    """``cls`` itself (the reference build), or its subclass built with ``mutant`` of the
    ring's mutants header, which the machines construct with the Python side's arguments."""
    if mutant is None:
        return cls
    return type(f"{cls.__name__}_{mutant}", (cls,), {"default_mutant": mutant})


def aborting(run: Callable[[], registry.Evidence]) -> registry.Evidence:
    """``run()``, then abort any C operation an abandoned example left suspended."""
    try:
        return run()
    finally:
        abort_all()
