"""The base of every layer's errors: a broken requirement, named by its ID.

Each layer (reference/ring/errors.py, reference/net/errors.py, reference/pci/errors.py,
reference/shm/errors.py) derives its own base from :class:`RequirementError` with the
requirement it names when a caller gives none, and one class per kind of violation below
that. Callers match an error by its class or its ``req``, never by its message. This module
lies outside the layers, so every layer may import it.
"""

from __future__ import annotations


class RequirementError(Exception):
    """A requirement of spec/ was broken by the other side (or by a caller). ``req`` is its
    ID: the class's own, or the one given (a class that serves several requirements)."""

    req: str = ""

    def __init__(self, message: str, req: str | None = None) -> None:
        if req is not None:
            self.req = req
        super().__init__(f"{self.req}: {message}")
