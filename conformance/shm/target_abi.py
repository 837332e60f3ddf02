"""shm sides over the C ABI of ``conformance/shm/virtiospec_shm.h``, whatever library implements it.

:class:`ShmAbiSides` provides the factories of :mod:`virtiospec.conformance.shm.api` by calling
the ABI through cffi, on the case's own :class:`~virtiospec.conformance.shm.api.ShmMemory`
(the region pointer is its host address plus the region's base).
``--target c`` (target_shm_c.py) binds it to the module built at install, ``--target
shm-lib:PATH.so`` (target_shm_lib.py) to any shared library loaded with ``ffi.dlopen``.

These sides run whole operations only: the cases that must step a side access by access
SKIP on them, saying so, and the others order whole operations deterministically.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from virtiospec.conformance.cases import CaseSkipped
from virtiospec.conformance.isolation import Isolation
from virtiospec.conformance.shm.api import ShmSetup, SignalSetup, TableSetup
from virtiospec.reference.shm import Snapshot
from virtiospec.reference.shm.c.errors import E_BUSY, check

ABI_VERSION = 2  # version 2 added the signalled reader (virtiospec_shm_service)
PREFIX = "virtiospec_shm_"
ROLES: dict[str, tuple[str, ...]] = {
    "writer": ("writer_state_size", "writer_create", "writer_init", "writer_update"),
    "reader": ("reader_state_size", "reader_create", "reader_read", "reader_poll"),
    "sender": ("sender_state_size", "sender_create", "sender_inject"),
    "receiver": ("receiver_state_size", "receiver_create", "receiver_disable",
                 "receiver_acknowledge", "receiver_enable", "receiver_pending", "service"),
}


class ShmAbiLibrary:
    """A cffi ``(ffi, lib)`` pair implementing virtiospec_shm.h, version-checked."""

    def __init__(self, ffi: Any, lib: Any, name: str) -> None:
        self.ffi, self.lib, self.name = ffi, lib, name
        version = lib.virtiospec_shm_abi_version()
        if version != ABI_VERSION:
            raise RuntimeError(f"{name} implements virtiospec_shm ABI version {version}; "
                               f"this suite speaks version {ABI_VERSION} (conformance/"
                               "virtiospec_shm.h says what changed): rebuild it against that "
                               "header")

    def missing(self, role: str) -> list[str]:
        """The functions of ``role`` that the library does not export."""
        out = []
        for fn in ROLES[role]:
            try:
                getattr(self.lib, PREFIX + fn)
            except AttributeError:
                out.append(PREFIX + fn)
        return out

    def call(self, fn: str, *args: Any) -> int:
        """Call ``virtiospec_shm_<fn>`` and raise the mapped error on a negative result."""
        return check(getattr(self.lib, PREFIX + fn)(*args), PREFIX + fn)

    def state(self, size: int) -> Any:
        return self.ffi.new("uint64_t[]", max(size, 8) // 8 + 1)  # aligned on 8, zeroed

    def table_config(self, setup: TableSetup) -> Any:
        cfg = self.ffi.new("struct virtiospec_shm_table_config *")
        cfg.offset, cfg.slots, cfg.words = setup.offset, setup.slots, setup.words
        cfg.max_attempts = setup.max_attempts
        return cfg


class _AbiSide:
    def __init__(self, abi: ShmAbiLibrary, setup: ShmSetup) -> None:
        self.abi, self.setup = abi, setup
        self._memory = setup.memory  # kept alive with this side
        self.region = abi.ffi.cast("uint8_t *", setup.memory.host_address + setup.base)


class AbiTableWriter(_AbiSide):
    def __init__(self, abi: ShmAbiLibrary, setup: TableSetup) -> None:
        super().__init__(abi, setup)
        cfg = abi.table_config(setup)
        size = abi.lib.virtiospec_shm_writer_state_size(cfg)
        self.state = abi.state(size)
        abi.call("writer_create", self.state, size, self.region, setup.length, cfg)

    def init(self) -> None:
        self.abi.call("writer_init", self.state)

    def update(self, slot: int, value: Sequence[int]) -> None:
        words = self.abi.ffi.new("uint32_t[]", list(value) or [0])
        self.abi.call("writer_update", self.state, slot, words, len(value))


class AbiTableReader(_AbiSide):
    def __init__(self, abi: ShmAbiLibrary, setup: TableSetup) -> None:
        super().__init__(abi, setup)
        cfg = abi.table_config(setup)
        size = abi.lib.virtiospec_shm_reader_state_size(cfg)
        self.state = abi.state(size)
        abi.call("reader_create", self.state, size, self.region, setup.length, cfg)
        self.words = setup.words
        self._version = abi.ffi.new("uint32_t *")
        self._value = abi.ffi.new("uint32_t[]", setup.words)

    def _out(self) -> Snapshot:
        return Snapshot(int(self._version[0]),
                        tuple(int(self._value[k]) for k in range(self.words)))

    def _result(self, rc: int, fn: str) -> int:
        """``rc``, or the mapped error; a TableBusy carries the last good value."""
        return check(rc, PREFIX + fn, self._out() if rc == -E_BUSY else None)

    def read(self, slot: int) -> Snapshot:
        self._result(self.abi.lib.virtiospec_shm_reader_read(self.state, slot, self._version,
                                                             self._value), "reader_read")
        return self._out()

    def poll(self, slot: int) -> Snapshot | None:
        new = self._result(self.abi.lib.virtiospec_shm_reader_poll(
            self.state, slot, self._version, self._value), "reader_poll")
        return self._out() if new else None


class AbiSignalSender(_AbiSide):
    def __init__(self, abi: ShmAbiLibrary, setup: SignalSetup) -> None:
        super().__init__(abi, setup)
        size = abi.lib.virtiospec_shm_sender_state_size()
        self.state = abi.state(size)
        abi.call("sender_create", self.state, size, self.region, setup.length, setup.offset)

    def inject(self) -> bool:
        return bool(self.abi.call("sender_inject", self.state))


class AbiSignalReceiver(_AbiSide):
    def __init__(self, abi: ShmAbiLibrary, setup: SignalSetup) -> None:
        super().__init__(abi, setup)
        size = abi.lib.virtiospec_shm_receiver_state_size()
        self.state = abi.state(size)
        abi.call("receiver_create", self.state, size, self.region, setup.length, setup.offset)

    def disable(self) -> None:
        self.abi.call("receiver_disable", self.state)

    def acknowledge(self) -> None:
        self.abi.call("receiver_acknowledge", self.state)

    def enable(self) -> bool:
        return bool(self.abi.call("receiver_enable", self.state))

    def pending(self) -> bool:
        return bool(self.abi.call("receiver_pending", self.state))


class ShmAbiSides:
    """The shm factories of a target whose table and signal are an ABI library; ``roles``
    restricts which of writer, reader, sender, receiver it offers. Without a library
    (``abi`` None) every shm case SKIPs with ``unavailable`` as the reason."""

    name: str

    def __init__(self, abi: ShmAbiLibrary | None, name: str,
                 roles: tuple[str, ...] = tuple(ROLES), unavailable: str = "") -> None:
        self.shm_abi, self.name, self.shm_roles = abi, name, roles
        self.isolation: Isolation | None = None  # shm-lib: each case in a child process
        self.shm_unavailable = unavailable

    def _library(self, role: str) -> ShmAbiLibrary:
        if self.shm_abi is None:
            raise CaseSkipped(self.shm_unavailable or f"target {self.name} has no shm library")
        if role not in self.shm_roles:
            raise CaseSkipped(f"target {self.name} is restricted to the "
                              f"{', '.join(self.shm_roles)} role(s); this case needs the {role}")
        missing = self.shm_abi.missing(role)
        if missing:
            raise CaseSkipped(f"target {self.name} does not export {', '.join(missing)} "
                              f"(the {role} of virtiospec_shm.h)")
        return self.shm_abi

    def shm_table_writer(self, setup: TableSetup) -> AbiTableWriter:
        return AbiTableWriter(self._library("writer"), setup)

    def shm_table_reader(self, setup: TableSetup) -> AbiTableReader:
        return AbiTableReader(self._library("reader"), setup)

    def shm_signal_sender(self, setup: SignalSetup) -> AbiSignalSender:
        return AbiSignalSender(self._library("sender"), setup)

    def shm_signal_receiver(self, setup: SignalSetup) -> AbiSignalReceiver:
        return AbiSignalReceiver(self._library("receiver"), setup)

    def shm_clock_driver(self, setup: object) -> None:
        if self.shm_abi is None:
            raise CaseSkipped(self.shm_unavailable or f"target {self.name} has no shm library")
        raise CaseSkipped(f"target {self.name} runs virtiospec_shm_service (the signalled "
                          "reader) as one whole operation and this case steps it access by "
                          "access; shm.signal.abi.service checks it whole, and --stress on "
                          "two threads (shm.signal.stress.*)")
