"""Targets: the implementations the suite runs against.

A target is an object with a ``name`` and, per layer, factories for the side it
implements. Cases call what they need (for the ring: ``target.ring_driver(...)`` or
``target.ring_device(...)``; for the packed ring ``target.ring_packed_driver(...)`` or
``target.ring_packed_device(...)``) and raise :class:`~virtiospec.conformance.cases.CaseSkipped`
through :func:`need` when the target lacks it. Target specs on the command line:
``reference`` (the default), ``c``, ``lib:PATH.so[:driver|device]``, ``qemu``, ...
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from virtiospec.conformance.cases import CaseSkipped

# name -> "module:factory"; a factory takes the argument after the first ':' (or "").
TARGETS: dict[str, str] = {
    "reference": "virtiospec.conformance.target_reference:make",
    "qemu": "virtiospec.conformance.target_qemu:make",
    "c": "virtiospec.conformance.target_shm_c:make",  # target_c.py's ring + the shm ABI
    "lib": "virtiospec.conformance.target_lib:make",
    "dpdk": "virtiospec.conformance.target_dpdk:make",
    "linux-guest": "virtiospec.conformance.target_linux_guest:make",
    "shm-lib": "virtiospec.conformance.target_shm_lib:make",
}


def make(spec: str) -> Any:
    name, _, arg = spec.partition(":")
    if name not in TARGETS:
        raise ValueError(f"unknown target {name!r}; known: {', '.join(sorted(TARGETS))}")
    module, _, attr = TARGETS[name].partition(":")
    factory: Callable[[str], Any] = getattr(importlib.import_module(module), attr)
    return factory(arg)


def need(target: Any, attr: str) -> Any:
    """The target's ``attr``, or skip the case naming what the target lacks."""
    value = getattr(target, attr, None)
    if value is None:
        raise CaseSkipped(f"target {target.name} does not provide {attr}")
    return value
