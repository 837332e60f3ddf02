"""Naming the switch a known-bad variant turns.

A Python reference class carries a frozen dataclass of its protocol lines (``lines``, every
field True = the protocol, e.g. :class:`~virtiospec.reference.ring.driver.DriverLines`); a
variant is a subclass that turns one of them off. :func:`switched` says which, so the report
can show the change next to the counterexample, and refuses a variant that changes nothing.
"""

from __future__ import annotations

import dataclasses
import inspect


def switched(*variants: type) -> str:
    """``"switch DriverLines.wmb_publish off (SplitDriver.add, reference/ring/driver.py)"``:
    each field of ``lines`` that a variant turns off against its reference base class, with
    the reference methods whose source tests that switch."""
    parts = []
    for cls in variants:
        base = next(b for b in cls.__mro__[1:] if "lines" in vars(b))
        lines, protocol = cls.lines, base.lines  # type: ignore[attr-defined]
        off = [f.name for f in dataclasses.fields(lines)
               if getattr(lines, f.name) != getattr(protocol, f.name)]
        if not off:
            raise ValueError(f"{cls.__name__} turns no switch of {type(lines).__name__}")
        for name in off:
            # the class that tests the switch: the base, else the nearest ancestor that does
            # (a switch of PciFunction's lines turned off in a VirtioPciDevice variant)
            for owner in (k for k in base.__mro__ if k is not object):
                methods = [m for m, fn in vars(owner).items() if inspect.isfunction(fn)
                           and f"lines.{name}" in inspect.getsource(fn)]
                if methods:
                    break
            else:
                owner, methods = base, []
            path = inspect.getfile(owner).replace("\\", "/")
            where = "reference/" + path.rsplit("/reference/", 1)[-1]
            at = ", ".join(f"{owner.__name__}.{m}" for m in methods)
            parts.append(f"switch {type(lines).__name__}.{name} off ({at}, {where})")
    return "; ".join(parts)
