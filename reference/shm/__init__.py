"""virtio-shm (spec/shm.md): shared-memory regions, shm-signal and the idempotent table, the
devices built on them (a paravirtual clock, an interrupt table) and the split ring on shm.

Every operation on shared memory follows :mod:`virtiospec.reference.access`: it yields each
load, store and barrier, so it runs straight through or is stepped by the models in
``models/shm_*.py`` under SC, x86-TSO and PSO.
"""

from virtiospec.reference.shm.clock import ClockDevice, ClockDriver, ClockLayout
from virtiospec.reference.shm.errors import (
    BadCapability,
    BadLayout,
    BadRegionSet,
    Misaligned,
    RegionOutOfBounds,
    RegionOutsideBar,
    ShmError,
    TableBusy,
    UnknownRegion,
    WrongWriter,
)
from virtiospec.reference.shm.irq_table import IrqDevice, IrqDriver, IrqEvent, IrqLayout
from virtiospec.reference.shm.region import Region, RegionSet, ShmCap
from virtiospec.reference.shm.signal import SignalLayout, SignalReceiver, SignalSender
from virtiospec.reference.shm.table import Snapshot, TableLayout, TableReader, TableWriter

__all__ = [
    "BadCapability",
    "BadLayout",
    "BadRegionSet",
    "ClockDevice",
    "ClockDriver",
    "ClockLayout",
    "IrqDevice",
    "IrqDriver",
    "IrqEvent",
    "IrqLayout",
    "Misaligned",
    "Region",
    "RegionOutOfBounds",
    "RegionOutsideBar",
    "RegionSet",
    "ShmCap",
    "ShmError",
    "SignalLayout",
    "SignalReceiver",
    "SignalSender",
    "Snapshot",
    "TableBusy",
    "TableLayout",
    "TableReader",
    "TableWriter",
    "UnknownRegion",
    "WrongWriter",
]
