"""virtio-net (spec/net.md): the network device and driver over split virtqueues.

Both sides are independent of the transport: they take queues that are already set up
(:class:`~virtiospec.reference.ring.SplitDevice` / :class:`~virtiospec.reference.ring.SplitDriver`),
a configuration space, the guest memory holding the buffers, and notification callbacks.
:mod:`virtiospec.reference.net.pair` wires the two together in one process without a transport.
"""

from virtiospec.reference.net.config import ConfigSpace, NetConfig
from virtiospec.reference.net.device import NetDevice
from virtiospec.reference.net.driver import NetDriver, RxFrame
from virtiospec.reference.net.errors import NetError
from virtiospec.reference.net.header import HDR_LEN, NetHdr

__all__ = [
    "HDR_LEN",
    "ConfigSpace",
    "NetConfig",
    "NetDevice",
    "NetDriver",
    "NetError",
    "NetHdr",
    "RxFrame",
]
