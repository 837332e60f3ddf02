"""The figures of `virtiospec bench ring`: medians, ranges and paired ratios of the samples
that :func:`virtiospec.reference.ring.c.bench.bench` takes, and their JSON form."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass

from virtiospec.reference.ring.c.bench import OURS, OURS_BATCHED, BenchResult, Sample


@dataclass
class Figure:
    """Median and range of a quantity over the samples."""

    median: float
    low: float
    high: float

    @classmethod
    def of(cls, xs: Sequence[float]) -> Figure:
        return cls(statistics.median(xs), min(xs), max(xs))

    @property
    def spread(self) -> float:
        """(max - min) / median."""
        return (self.high - self.low) / self.median if self.median else 0.0


@dataclass
class Row:
    mode: str
    batch: int
    impl: str
    rate: Figure             # buffers per second
    per_buffer: Figure       # notifications (kicks + interrupts) per buffer
    kicks: float             # median kicks per buffer
    interrupts: float        # median interrupts per buffer
    samples: int


@dataclass
class Ratio:
    mode: str
    batch: int
    ours: str                # OURS or OURS_BATCHED
    peer: str
    speed: Figure            # ours / peer buffers per second, paired per round
    ours_per_buffer: float   # median notifications per buffer
    peer_per_buffer: float


def summarize(res: BenchResult) -> tuple[list[Row], list[Ratio]]:
    rows: list[Row] = []
    ratios: list[Ratio] = []
    by: dict[tuple[str, int, str], list[Sample]] = {}
    for s in res.samples:
        by.setdefault((s.mode, s.batch, s.impl), []).append(s)
    for (mode, batch, impl), ss in by.items():
        rows.append(Row(mode, batch, impl, Figure.of([s.rate for s in ss]),
                        Figure.of([s.per_buffer for s in ss]),
                        statistics.median(s.kicks / s.buffers for s in ss),
                        statistics.median(s.interrupts / s.buffers for s in ss), len(ss)))
    for (mode, batch, impl), ss in by.items():
        if impl in (OURS, OURS_BATCHED):
            continue
        for ours_impl in (OURS, OURS_BATCHED):
            ours = {s.round: s for s in by.get((mode, batch, ours_impl), [])}
            paired = [ours[s.round].rate / s.rate for s in ss if s.round in ours]
            if not paired:
                continue
            ratios.append(Ratio(mode, batch, ours_impl, impl, Figure.of(paired),
                                statistics.median(o.per_buffer for o in ours.values()),
                                statistics.median(s.per_buffer for s in ss)))
    return rows, ratios


def to_json(res: BenchResult) -> dict[str, object]:
    rows, ratios = summarize(res)
    cfg = asdict(res.config)
    cfg["tarball"] = str(res.config.tarball)
    cfg["run_cycles"] = res.config.run_cycles()
    return {"config": cfg, "cpus": list(res.cpus), "linux_error": res.linux_error,
            "rows": [asdict(r) for r in rows], "ratios": [asdict(r) for r in ratios],
            "samples": [asdict(s) for s in res.samples]}
