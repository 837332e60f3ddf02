"""vhost-user: our network device as the back-end of QEMU's and DPDK's virtio drivers.

The protocol is QEMU's ``docs/interop/vhost-user.rst`` (spec/net.md, VHOST-USER-NNN):
:mod:`.messages` encodes and decodes it, :mod:`.memory` maps the front-end's memory table and
translates addresses, :mod:`.session` carries a connection's state (features, vrings) and
drives a :class:`~virtiospec.reference.net.device.NetDevice` over
:class:`~virtiospec.reference.ring.SplitDevice` queues, and :mod:`.server` runs it on a Unix
socket with its eventfds.
"""

from virtiospec.reference.vhost_user.memory import MemoryTable, Region
from virtiospec.reference.vhost_user.server import VhostUserServer

__all__ = ["MemoryTable", "Region", "VhostUserServer"]
