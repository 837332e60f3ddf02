"""An shm target over the *stepped* build of shm.c (reference/shm/c/stepped.py).

Every access of the C code is handed to Python, so the cases step the C sides access by
access exactly as they step the Python reference, and check every access against the region
(SHM-REGION-007, SHM-REGION-008); each operation has an access budget, so a variant that reads
forever
is reported WEDGED instead of hanging the suite. ``mutant`` builds one known-bad variant of
reference/shm/c/shm_mutants.h: this is how tests/shm/test_shm_conformance.py shows the cases catch
them. It is not a command-line target (``--target c`` is the real build).
"""

from __future__ import annotations

from functools import partial

from virtiospec.conformance.shm.target_reference import ShmOpSides
from virtiospec.reference.shm.c.stepped import (
    CClockDriver,
    CSignalReceiver,
    CSignalSender,
    CTableReader,
    CTableWriter,
    stepped_build,
)


class SteppedShmTarget(ShmOpSides):
    def __init__(self, mutant: str | None = None) -> None:
        self.mutant = mutant
        self.name = f"shm-c-stepped:{mutant or 'reference'}"
        build = stepped_build(mutant)  # compile now, outside any case's time budget
        self.table_writer_cls = partial(CTableWriter, build=build)
        self.table_reader_cls = partial(CTableReader, build=build)
        self.signal_sender_cls = partial(CSignalSender, build=build)
        self.signal_receiver_cls = partial(CSignalReceiver, build=build)
        self.clock_driver_cls = partial(CClockDriver, build=build)


def make(arg: str) -> SteppedShmTarget:
    return SteppedShmTarget(arg or None)
