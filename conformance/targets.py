"""Targets: the implementations the suite runs against.

A target is an object with a ``name`` and, per layer, factories for the side it
implements. Cases call what they need (for the ring: ``target.ring_driver(...)`` or
``target.ring_device(...)``; for the packed ring ``target.ring_packed_driver(...)`` or
``target.ring_packed_device(...)``) and raise :class:`~virtiospec.conformance.cases.CaseSkipped`
through :func:`need` when the target lacks it. Target specs on the command line:
``reference`` (the default), ``c``, ``lib:PATH.so[:driver|device]``,
``qemu[:BINARY][,PROP=VAL...]``, ``dpdk[,DEVARG=VAL...]``, ... (:func:`split`).
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from typing import Any

from virtiospec.conformance.cases import CaseSkipped, TargetError

# name -> "module:factory"; a factory takes what follows the name (see split) and raises
# TargetError (or ValueError) for a bad argument or option, or a peer that cannot run.
TARGETS: dict[str, str] = {
    "reference": "virtiospec.conformance.target_reference:make",
    "qemu": "virtiospec.conformance.virtio_pci.target_qemu:make",
    "c": "virtiospec.conformance.shm.target_c:make",  # target_c.py's ring + the shm ABI
    "lib": "virtiospec.conformance.ring.target_lib:make",
    "dpdk": "virtiospec.conformance.net.target_dpdk:make",
    "linux-guest": "virtiospec.conformance.net.target_linux_guest:make",
    "shm-lib": "virtiospec.conformance.shm.target_lib:make",
    "vhost-user": "virtiospec.conformance.vhost_user.target:make",
    "linux-vring": "virtiospec.conformance.ring.target_linux_vring:make",  # Linux's ring code
    "src": "virtiospec.conformance.ring.tsan_step.target:make",  # C source, stepped (TSan hooks)
}


_NAME = re.compile(r"[a-z][a-z0-9-]*")


def split(spec: str) -> tuple[str, str]:
    """``NAME[:ARG][,OPTION...]`` -> (NAME, what the factory gets): the text after ``NAME:``,
    or ``,OPTION...`` when options follow the name directly (``qemu,packed=on``)."""
    m = _NAME.match(spec)
    name = m[0] if m else ""
    rest = spec[len(name):]
    if rest.startswith(":"):
        return name, rest[1:]
    if rest and not rest.startswith(","):
        return spec, ""  # no target is called that
    return name, rest


def make(spec: str) -> Any:
    """The target for ``spec``; anything wrong with it (an unknown name, a bad argument or
    option, a peer that is missing or does not start) is a one-line :class:`TargetError`."""
    name, arg = split(spec)
    if name not in TARGETS:
        raise TargetError(f"unknown target {name or spec!r}; known: {', '.join(sorted(TARGETS))}")
    module, _, attr = TARGETS[name].partition(":")
    factory: Callable[[str], Any] = getattr(importlib.import_module(module), attr)
    try:
        return factory(arg)
    except TargetError as err:
        raise TargetError(f"--target {spec}: {err}") from None
    except Exception as err:  # cffi's dlopen (OSError), a missing symbol, a bad ABI version
        text = " ".join(str(err).split()).split(". Additionally,")[0] or type(err).__name__
        raise TargetError(f"--target {spec}: {text}") from None


def need(target: Any, attr: str) -> Any:
    """The target's ``attr``, or skip the case naming what the target lacks."""
    value = getattr(target, attr, None)
    if value is None:
        why = getattr(target, "lacks", {}).get(attr)  # the target's own reason, if it has one
        raise CaseSkipped(f"target {target.name} does not provide {attr}"
                          + (f": {why}" if why else ""))
    return value
