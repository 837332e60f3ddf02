"""VIRTIO_F_IN_ORDER, driver side (RING-SPLIT-016, RING-SPLIT-026): the reference SplitDriver
passes ring.split.driver.in-order-*; a driver with a last-in-first-out free list (chains do not
follow on from the previous one) and one that writes its indirect tables back to front are
caught; a target that does not negotiate IN_ORDER skips."""

from __future__ import annotations

import pytest
from virtiospec.conformance import cases, runner, targets
from virtiospec.conformance.cases import Outcome
from virtiospec.conformance.ring.api import RingSetup
from virtiospec.conformance.target_reference import ReferenceRingDriver
from virtiospec.reference.access import Op
from virtiospec.reference.ring import SplitDriver

CHAINS = "ring.split.driver.in-order-chains"
INDIRECT = "ring.split.driver.in-order-indirect"


class LifoFree(SplitDriver):
    """Known-bad: freed descriptors go to the front of the free list (as a stack)."""

    def get_used(self) -> Op[tuple[object, int] | None]:
        before = {h: list(c.descs) for h, c in self.chains.items()}
        got = yield from super().get_used()
        if got is not None:
            freed = [d for h, descs in before.items() if h not in self.chains for d in descs]
            self.free = freed + [d for d in self.free if d not in freed]
        return got


class ReversedTables(SplitDriver):
    """Known-bad: indirect tables written last entry first (entry k links to k - 1)."""

    def _write_chain(self, table: int, ids: list[int],
                     items: list[tuple[int, int, int]]) -> Op[None]:
        if table != self.layout.desc and len(ids) > 1:
            ids = list(reversed(ids))
        yield from super()._write_chain(table, ids, items)


class Target:
    def __init__(self, driver_cls: type[SplitDriver], in_order: bool = True) -> None:
        self.name = f"broken-{driver_cls.__name__}"
        self.driver_cls = driver_cls
        self.ring_in_order = in_order

    def ring_driver(self, setup: RingSetup) -> ReferenceRingDriver:
        side = ReferenceRingDriver(setup)
        side.drv.__class__ = self.driver_cls
        return side


def _run(case_id: str, target: object) -> cases.Result:
    return runner.run_case(cases.discover()[case_id], target)


@pytest.mark.req("RING-SPLIT-016", "RING-SPLIT-026")
@pytest.mark.parametrize("case_id", [CHAINS, INDIRECT])
def test_reference_driver_passes(case_id: str) -> None:
    res = _run(case_id, targets.make("reference"))
    assert res.outcome is Outcome.PASS, (res.detail, res.expected, res.observed)


def test_lifo_free_list_is_caught() -> None:
    res = _run(CHAINS, Target(LifoFree))
    assert res.outcome is Outcome.FAIL and res.req == "RING-SPLIT-016", (res.outcome,
                                                                        res.detail)


def test_reversed_indirect_table_is_caught() -> None:
    res = _run(INDIRECT, Target(ReversedTables))
    assert res.outcome is Outcome.FAIL and res.req == "RING-SPLIT-026", (res.outcome,
                                                                        res.detail)


def test_a_driver_without_in_order_skips() -> None:
    res = _run(CHAINS, Target(SplitDriver, in_order=False))
    assert res.outcome is Outcome.SKIP, res.detail
