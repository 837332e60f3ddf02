"""The descriptor walk's memory bounds (models/ring/bounds_z3.py) and their known-bad
variants (models/ring/bounds_mutants.py: switches of the reference devices' lines)."""

from __future__ import annotations

import pytest
from virtiospec.models import registry
from virtiospec.models.ring.bounds_mutants import BUGS, replay, search, without
from virtiospec.models.ring.bounds_z3 import REFERENCE, Variant, prove_walk, region_check_exact
from virtiospec.reference.ring.device import SplitDevice
from virtiospec.reference.ring.packed.device import PackedDevice

PROOFS = sorted(n for n in registry.PROOFS if n.startswith("ring.bounds."))
MUTANTS = sorted(n for n in registry.MUTANTS if n.startswith("ring.bounds."))


def test_registered() -> None:
    assert PROOFS == ["ring.bounds.packed.direct", "ring.bounds.packed.indirect",
                      "ring.bounds.region-check", "ring.bounds.split.direct",
                      "ring.bounds.split.indirect"]
    assert len(MUTANTS) == 8


@pytest.mark.parametrize("name", PROOFS)
def test_proof_holds(name: str) -> None:
    ev = registry.PROOFS[name].run()
    assert ev.ok, ev.detail


def test_region_check_exact() -> None:
    assert region_check_exact()


@pytest.mark.parametrize("kind", ["split", "packed"])
@pytest.mark.parametrize("short", sorted(BUGS))
def test_each_switch_breaks_the_induction(kind: str, short: str) -> None:
    ok, failing = prove_walk(kind, BUGS[short][1])
    assert not ok and failing


@pytest.mark.parametrize("name", MUTANTS)
def test_mutant_refuted_and_replayed(name: str) -> None:
    ev = registry.MUTANTS[name].run()
    assert ev.ok, ev.detail
    assert "Python reference rejected" in ev.detail and ev.stats["steps"] >= 1
    assert "C reference (ring" in ev.detail
    assert len(ev.trace) >= 2


def test_reference_search_finds_nothing() -> None:
    """The bounded search over the reference walk finds no counterexample."""
    assert search("split", REFERENCE) is None
    assert search("packed", REFERENCE) is None


@pytest.mark.parametrize("kind", ["split", "packed"])
@pytest.mark.parametrize("short", sorted(BUGS))
def test_each_variant_turns_one_switch_of_the_walk(kind: str, short: str) -> None:
    """A variant is the reference device with the one line of BUGS turned off, named in its
    registered description next to the method that tests it."""
    switch = BUGS[short][0]
    cls = without(kind, switch)
    ref = PackedDevice if kind == "packed" else SplitDevice
    assert cls.__mro__[1] is ref and not getattr(cls.lines, switch)
    assert [f for f, on in vars(cls.lines).items() if not on] == [switch]
    desc = registry.MUTANTS[f"ring.bounds.{kind}.{short}"].bug
    assert f".{switch} off (" in desc and ("_walk" in desc or "_inside" in desc)


def test_reference_rejects_what_the_variant_takes() -> None:
    """The same counterexample: the reference (every switch on) refuses it, the variant with
    the region check computed in 64 bits takes it."""
    cex = search("split", Variant(region="wrap"))
    assert cex is not None
    assert replay("split", cex, SplitDevice).startswith("rejected")
    assert not replay("split", cex, without("split", "region_exact")).startswith("rejected")
    pcex = search("packed", Variant(region="wrap"))
    assert pcex is not None
    assert replay("packed", pcex, PackedDevice).startswith("rejected")
    assert not replay("packed", pcex, without("packed", "region_exact")).startswith("rejected")


def test_unknown_switch_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="unknown switch"):
        without("split", "nope")
