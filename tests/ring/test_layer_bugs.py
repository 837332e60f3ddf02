"""A layer's bug planted in two compositions is described once (models/ring/layer_bugs.py):
the ring on shm and a queue of the network stack register it with the same text and the
same requirements, only where it is planted differs."""

from __future__ import annotations

from virtiospec.models import registry
from virtiospec.models.ring import layer_bugs as lb

SHARED = [  # (bug, the ring-on-shm variant, the stack-queue variant)
    (lb.USED_IDX_WRAP, "ring_on_shm.mutant.layer.ring.used_idx_wrap.ref",
     "stack.ring.mutant.ring.used_idx_wrap"),
    (lb.RECEIVER_NO_RECHECK, "ring_on_shm.mutant.layer.signal.receiver_no_recheck.ref",
     "stack.ring.mutant.signal.receiver_no_recheck"),
]


def test_one_description_per_bug_in_both_compositions() -> None:
    registry.discover()
    for bug, on_shm, stack in SHARED:
        a, b = registry.MUTANTS[on_shm], registry.MUTANTS[stack]
        assert a.reqs == b.reqs == bug.reqs
        assert a.bug == f"{bug.layer} layer: {bug.what}, inside the ring on shm"
        assert b.bug == f"{bug.layer} layer: {bug.what}, in the network stack's queue"


def test_the_rows_read_as_before() -> None:
    registry.discover()
    assert registry.MUTANTS["stack.ring.mutant.signal.inject_without_mb"].bug == (
        "signal layer: the sender loads enabled without a full barrier after storing "
        "pending, in the network stack's queue (x86-TSO)")
    assert registry.MUTANTS["stack.ring.mutant.ring.device_no_recheck"].reqs == (
        "RING-SPLIT-072", "SHM-RING-004")
