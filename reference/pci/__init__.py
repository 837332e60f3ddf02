"""PCI (spec/pci.md, PCI-CFG-NNN): configuration space, BARs, decoding, MSI-X, bus 0 behind
configuration mechanism #1, an in-process machine, and the driver's enumeration code.

Device side: :class:`PciFunction` (+ :class:`Msix`) plugged into a :class:`Machine`.
Driver side: :class:`ConfigMechanism1`, :func:`scan`, :func:`size_bars`, :func:`assign_bars`,
:func:`enable`, :func:`capabilities` over any :class:`Host`.
"""

from virtiospec.reference.pci.bar import BarKind, BarSpec
from virtiospec.reference.pci.discovery import (
    Bdf,
    ConfigMechanism1,
    FoundBar,
    FoundFunction,
    Window,
    assign_bars,
    capabilities,
    enable,
    scan,
    size_bars,
)
from virtiospec.reference.pci.errors import PciError
from virtiospec.reference.pci.function import PciFunction, Region
from virtiospec.reference.pci.host import Host, PhysMemory
from virtiospec.reference.pci.machine import Machine
from virtiospec.reference.pci.msix import Msix

__all__ = [
    "BarKind",
    "BarSpec",
    "Bdf",
    "ConfigMechanism1",
    "FoundBar",
    "FoundFunction",
    "Host",
    "Machine",
    "Msix",
    "PciError",
    "PciFunction",
    "PhysMemory",
    "Region",
    "Window",
    "assign_bars",
    "capabilities",
    "enable",
    "scan",
    "size_bars",
]
