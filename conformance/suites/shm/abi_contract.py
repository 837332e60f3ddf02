"""virtiospec_shm.h's caller errors, exact: -NO_SPACE for a state block too small,
-INVALID for a bad argument (reserved != 0, a reader with no attempt, a value of the wrong
number of words, a NULL state), each refused before any access with nothing changed. They
call the library directly and SKIP on a target without the C ABI."""

from __future__ import annotations

from functools import partial
from typing import Any

from virtiospec.conformance.cases import CaseSkipped, Result, require
from virtiospec.conformance.shm.api import SignalSetup, TableSetup
from virtiospec.conformance.suites.shm.common import shm_case

P = "virtiospec_shm_"
E_INVALID, E_NO_SPACE = 6, 7


def _abi(target: Any, role: str) -> Any:
    abi = getattr(target, "shm_abi", None)
    if abi is None or not hasattr(abi, "missing"):
        raise CaseSkipped(f"target {target.name} has no C ABI (virtiospec_shm.h): the case "
                          "calls it directly")
    if role not in getattr(target, "shm_roles", (role,)) or abi.missing(role):
        raise CaseSkipped(f"target {target.name} does not offer the {role}")
    return abi


def _expect(rc: int, want: int, what: str) -> None:
    require(rc == want, what, str(want), str(rc))


def _untouched(setup: Any, before: bytes, what: str) -> None:
    require(setup.memory.read_bytes(setup.base, setup.length) == before,
            f"{what}: the region is untouched")


def _table(target: Any, role: str) -> Result | None:
    abi = _abi(target, role)
    setup = TableSetup()
    setup.memory.fill(setup.base, setup.base + setup.length, 0xA5)
    before = setup.memory.read_bytes(setup.base, setup.length)
    region = abi.ffi.cast("uint8_t *", setup.memory.host_address + setup.base)
    cfg = abi.table_config(setup)
    size_of = getattr(abi.lib, f"{P}{role}_state_size")
    create = getattr(abi.lib, f"{P}{role}_create")
    size = int(size_of(cfg))
    require(size > 0, f"{role}_state_size of a good table", "> 0", str(size))
    state = abi.state(size)
    _expect(create(state, size - 8, region, setup.length, cfg), -E_NO_SPACE,
            f"{role}_create with a state block 8 bytes short")
    _expect(create(abi.ffi.NULL, size, region, setup.length, cfg), -E_INVALID,
            f"{role}_create with a NULL state")
    cfg.reserved = 1
    _expect(int(size_of(cfg)), 0, f"{role}_state_size with reserved = 1")
    _expect(create(state, size, region, setup.length, cfg), -E_INVALID,
            f"{role}_create with reserved = 1")
    cfg.reserved = 0
    if role == "reader":
        cfg.max_attempts = 0
        _expect(create(state, size, region, setup.length, cfg), -E_INVALID,
                "reader_create with max_attempts = 0")
        cfg.max_attempts = setup.max_attempts
    _expect(create(state, size, region, setup.length, cfg), 0, f"{role}_create")
    if role == "writer":
        words = abi.ffi.new("uint32_t[]", setup.words + 1)
        _expect(abi.lib.virtiospec_shm_writer_update(state, 0, words, setup.words + 1),
                -E_INVALID, f"writer_update of {setup.words + 1} words (words = {setup.words})")
        _expect(abi.lib.virtiospec_shm_writer_update(state, 0, abi.ffi.NULL, setup.words),
                -E_INVALID, "writer_update of a NULL value")
    _untouched(setup, before, f"the {role}'s refusals")
    return None


def _signal(target: Any, role: str) -> Result | None:
    abi = _abi(target, role)
    setup = SignalSetup()
    setup.memory.fill(setup.base, setup.base + setup.length, 0xA5)
    before = setup.memory.read_bytes(setup.base, setup.length)
    region = abi.ffi.cast("uint8_t *", setup.memory.host_address + setup.base)
    size = int(getattr(abi.lib, f"{P}{role}_state_size")())
    create = getattr(abi.lib, f"{P}{role}_create")
    state = abi.state(size)
    if size >= 8:
        _expect(create(state, size - 8, region, setup.length, setup.offset), -E_NO_SPACE,
                f"{role}_create with a state block 8 bytes short")
    _expect(create(abi.ffi.NULL, size, region, setup.length, setup.offset), -E_INVALID,
            f"{role}_create with a NULL state")
    _untouched(setup, before, f"the {role}'s refusals")
    return None


for _id, _role, _kind in (("shm.table.writer.abi-caller-errors", "writer", "table"),
                          ("shm.table.reader.abi-caller-errors", "reader", "table"),
                          ("shm.signal.sender.abi-caller-errors", "sender", "signal"),
                          ("shm.signal.receiver.abi-caller-errors", "receiver", "signal")):
    shm_case(_id,
             ("SHM-TABLE-001",) if _kind == "table" else ("SHM-SIGNAL-001",), _role,
             f"{_role}: -NO_SPACE for a short state block, -INVALID for a bad argument, "
             "nothing touched")(partial(_table if _kind == "table" else _signal, role=_role))
