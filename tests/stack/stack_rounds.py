"""Runs of a stack check repeated until their draws reach what a test names: the stack
machine's interleavings are not reproducible across processes (its sides are threads), so a
fixed number of draws cannot promise to reach a given event."""

from __future__ import annotations

from collections.abc import Callable

from virtiospec.models.registry import Evidence


def reach(run: Callable[[], Evidence], keys: list[str], rounds: int = 4) -> dict[str, float]:
    """Call ``run`` (each run must hold) until the runs together count every one of ``keys``,
    at most ``rounds`` times; the counts summed over the runs."""
    seen = {key: 0.0 for key in keys}
    for _ in range(rounds):
        ev = run()
        assert ev.ok, ev.detail
        for key in keys:
            seen[key] += ev.stats.get(key, 0)
        if all(seen.values()):
            break
    return seen
