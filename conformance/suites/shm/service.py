"""The signalled reader of virtiospec_shm.h version 2 (virtiospec_shm_service), whole.

A reader and a receiver in one service: disable, acknowledge, then poll (SHM-SIGNAL-010,
SHM-TABLE-012). Called whole, the order of its acknowledge and its read cannot be seen; the
two-thread stress (``--stress``, shm.signal.stress.*) loses a wakeup when a service reads
before it acknowledges. This case checks what one whole call returns and stores. It SKIPs on
a target without the C ABI.
"""

from __future__ import annotations

from typing import Any

from virtiospec.conformance.cases import CaseSkipped, require
from virtiospec.conformance.shm.api import SignalSetup, TableSetup
from virtiospec.conformance.suites.shm.common import shm_case

E_TABLE = 3


@shm_case("shm.signal.receiver.abi-service", ("SHM-SIGNAL-005", "SHM-SIGNAL-010",
          "SHM-TABLE-012"), "receiver", "virtiospec_shm_service acknowledges, then hands out "
          "a new value once, and refuses a slot beyond the table")
def service(target: Any) -> None:
    abi = getattr(target, "shm_abi", None)
    if abi is None or not hasattr(abi.lib, "virtiospec_shm_abi_version"):
        raise CaseSkipped(f"target {target.name} has no C ABI (virtiospec_shm.h): the case "
                          "calls virtiospec_shm_service directly")
    table = TableSetup()
    signal = SignalSetup(memory=table.memory)
    reader = target.shm_table_reader(table)
    receiver = target.shm_signal_receiver(signal)
    mem = table.memory
    version, value = abi.ffi.new("uint32_t *"), abi.ffi.new("uint32_t[]", table.words)

    def serve(slot: int) -> int:
        return int(abi.lib.virtiospec_shm_service(reader.state, receiver.state, slot, version,
                                                  value))

    def words() -> tuple[int, int]:
        return mem.read(signal.enabled_addr, 4), mem.read(signal.pending_addr, 4)

    require(serve(1) == 0, "a fresh table: nothing new", "0", "1")
    mem.write(table.seq_addr(1), 4, 2)
    for k, w in enumerate((7, 8, 9)):
        mem.write(table.word_addr(1, k), 4, w)
    mem.write(signal.pending_addr, 4, 1)
    mem.write(signal.enabled_addr, 4, 1)
    got = serve(1)
    out = (int(version[0]), tuple(int(value[k]) for k in range(table.words)))
    require(got == 1 and out == (2, (7, 8, 9)), "SHM-SIGNAL-010: the new value is handed out",
            "1, (2, (7, 8, 9))", f"{got}, {out}")
    require(words() == (0, 0), "SHM-SIGNAL-005: service disabled and acknowledged "
            "(enabled 0, pending 0)", "(0, 0)", str(words()))
    mem.write(signal.pending_addr, 4, 1)
    require(serve(1) == 0, "SHM-TABLE-009: the same value is not handed out twice", "0", "1")
    require(words()[1] == 0, "SHM-SIGNAL-005: acknowledged again", "0", str(words()[1]))
    mem.write(signal.pending_addr, 4, 1)
    got = serve(table.slots)
    require(got == -E_TABLE, f"slot {table.slots} of {table.slots}: -TABLE", str(-E_TABLE),
            str(got))
