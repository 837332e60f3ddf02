"""Known-bad Python variants are stated as a switch on the reference line they break
(models/variant_switch.py): each names its switch, turns exactly one, and copies no method."""

from __future__ import annotations

import dataclasses
import inspect

import pytest
from virtiospec.models import registry
from virtiospec.models.net import mutants as net_mutants
from virtiospec.models.ring import ref_mutants as ring_ref_mutants
from virtiospec.models.ring.packed import mutants as ring_packed_mutants
from virtiospec.models.shm import ref_mutants as shm_ref_mutants
from virtiospec.models.variant_switch import switched
from virtiospec.reference.net.device import NetDevice
from virtiospec.reference.net.driver import NetDriver
from virtiospec.reference.ring import SplitDriver
from virtiospec.reference.ring.driver import DriverLines

MODULES = [ring_ref_mutants, ring_packed_mutants, shm_ref_mutants]


def _variants() -> list[type]:
    out = []
    for mod in MODULES:
        for _, cls in inspect.getmembers(mod, inspect.isclass):
            if cls.__module__ == mod.__name__ and "lines" in vars(cls):
                out.append(cls)
    return out


def test_every_variant_module_states_its_variants_as_switches() -> None:
    assert len(_variants()) == 21 + 13 + 7


@pytest.mark.parametrize("cls", _variants(), ids=lambda c: c.__name__)
def test_a_variant_turns_one_switch_and_copies_no_method(cls: type) -> None:
    lines = vars(cls)["lines"]
    assert sum(not getattr(lines, f.name) for f in dataclasses.fields(lines)) == 1
    assert [m for m, v in vars(cls).items() if inspect.isfunction(v)] == []
    assert switched(cls).startswith(f"switch {type(lines).__name__}.")


def test_the_reference_defaults_are_the_protocol() -> None:
    for cls in {c.__mro__[1] for c in _variants()} | {NetDevice, NetDriver}:
        lines = cls.lines  # type: ignore[attr-defined]
        assert all(getattr(lines, f.name) is True for f in dataclasses.fields(lines)), cls


def test_a_variant_that_turns_nothing_is_refused() -> None:
    class Same(SplitDriver):
        lines = DriverLines()

    with pytest.raises(ValueError, match="turns no switch"):
        switched(Same)


def test_the_description_names_the_switch_and_the_reference_method() -> None:
    bug = registry.MUTANTS["ring.ref.driver-no-wmb"].bug
    assert bug.endswith("switch DriverLines.wmb_publish off (SplitDriver.add, "
                        "reference/ring/driver.py)")
    for name in ("ring.packed.ref.device-no-rmb", "shm.mutant.table.no_recheck.ref",
                 "net.mutant.driver-no-recover"):
        assert "; switch " in registry.MUTANTS[name].bug, name
    assert switched(net_mutants.DriverDetachOnly) == (
        "switch NetDriverLines.reap_used_at_reset off (NetDriver.recover, "
        "reference/net/driver.py)")
