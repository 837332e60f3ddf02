"""virtiospec: an executable, formally checked specification of a layered virtio stack."""

__version__ = "0.1.0"
