"""Bounded waiting for a device that works asynchronously (QEMU) or at once (in-process).

Every wait in the driver goes through :func:`poll`: it re-checks a condition until it holds or
the time is up, and never sleeps longer than the deadline.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from virtiospec.reference.virtio_pci.errors import Timeout

T = TypeVar("T")


def poll(check: Callable[[], T | None], timeout: float, what: str,
         interval: float = 0.0002) -> T:
    """The first value of ``check()`` that is not None (or False); :class:`Timeout` after
    ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        got = check()
        if got is not None and got is not False:
            return got
        left = deadline - time.monotonic()
        if left <= 0:
            raise Timeout(f"{what}: nothing within {timeout:g} s")
        time.sleep(min(interval, left))


def quiet(check: Callable[[], bool], duration: float, interval: float = 0.001) -> bool:
    """True if ``check()`` stayed false for ``duration`` seconds (for 'nothing happens')."""
    deadline = time.monotonic() + duration
    while time.monotonic() < deadline:
        if check():
            return False
        time.sleep(interval)
    return not check()
