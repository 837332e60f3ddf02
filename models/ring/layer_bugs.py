"""Known-bad variants of one layer alone (the ring of models/ring/ref_mutants.py, the signal
of models/shm/ref_mutants.py) as the composed machines plant them: the ring on shm
(models/ring/on_shm_mutants.py) and a queue of the network stack (models/stack/ring.py).
One description and one set of requirements per bug, whichever composition catches it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

C = TypeVar("C")


@dataclass(frozen=True)
class LayerBug:
    layer: str  # "ring", "signal"
    what: str  # what the variant does wrong
    reqs: tuple[str, ...]  # the layer's own requirement, then the composition's

    def planted(self, name: str, where: str, cfg: C) -> tuple[str, str, tuple[str, ...], C]:
        """The row of a table of planted variants: ``name``, the bug planted ``where``."""
        return name, f"{self.layer} layer: {self.what}, {where}", self.reqs, cfg


DEVICE_NO_RECHECK = LayerBug("ring", "enable_notify without re-reading avail.idx",
                             ("RING-SPLIT-072", "SHM-RING-004"))
USED_IDX_WRAP = LayerBug("ring", "the device wraps used.idx at Q instead of 2^16",
                         ("RING-SPLIT-043", "SHM-RING-004"))
RECEIVER_NO_RECHECK = LayerBug("signal", "the receiver enables without re-reading pending",
                               ("SHM-SIGNAL-006", "SHM-RING-004"))
INJECT_WITHOUT_MB = LayerBug("signal", "the sender loads enabled without a full barrier after "
                             "storing pending", ("SHM-SIGNAL-004", "SHM-RING-004"))
