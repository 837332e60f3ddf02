"""The device's queue for one vring, built when the ring starts (VHOST-USER-004): split or
packed, in Python (the reference ring's device side, stepped through the access protocol)
or in C (:class:`FastQueue`), placed where the front-end's addresses translate to; and the
position GET_VRING_BASE gives back for a packed queue."""

from __future__ import annotations

from virtiospec.reference.net import features as F
from virtiospec.reference.net.device import NetDevice
from virtiospec.reference.ring import SplitDevice, SplitLayout
from virtiospec.reference.ring.layout import avail_ring_size, desc_table_size, used_ring_size
from virtiospec.reference.ring.packed.device import PackedDevice
from virtiospec.reference.ring.packed.layout import EVENT_SIZE, PACKED_DESC_SIZE, PackedLayout
from virtiospec.reference.vhost_user.fast import FastNetDevice, FastQueue
from virtiospec.reference.vhost_user.memory import MemoryTable
from virtiospec.reference.vhost_user.options import Vring


def packed_queue(mem: MemoryTable, dev: NetDevice, v: Vring, desc: int, avail: int,
                 used: int) -> PackedDevice | FastQueue:
    """A packed queue: the Driver Area holds the driver's event-suppression structure,
    the Device Area the device's; positions and wrap counters from SET_VRING_BASE."""
    pos, wrap = v.base & 0x7FFF, v.base >> 15 & 1
    if pos >= v.num:
        raise ValueError(f"SET_VRING_BASE position {pos} in a ring of {v.num}")
    used_word = v.base >> 16  # QEMU's form; DPDK's virtio-user sends 0 here
    if not used_word:
        used_word = v.base & 0xFFFF
    if isinstance(dev, FastNetDevice):
        return FastQueue(mem, v.num, mem.user_to_guest(desc, PACKED_DESC_SIZE * v.num),
                         mem.user_to_guest(avail, EVENT_SIZE),
                         mem.user_to_guest(used, EVENT_SIZE), features=dev.features,
                         last_avail=v.base & 0xFFFF, used_idx=used_word,
                         call_fd=v.call, receive=v.index % 2 == 0, packed=True)
    lay = PackedLayout(v.num, mem.user_to_guest(desc, PACKED_DESC_SIZE * v.num),
                       mem.user_to_guest(avail, EVENT_SIZE),
                       mem.user_to_guest(used, EVENT_SIZE))
    q = PackedDevice(lay, mem.limit, event_idx=F.has(dev.features, F.RING_EVENT_IDX),
                     indirect=F.has(dev.features, F.RING_INDIRECT_DESC))
    q.last_avail, q.avail_wrap = pos, wrap
    q.used_pos, q.used_wrap = used_word & 0x7FFF, used_word >> 15 & 1
    return q

def split_queue(mem: MemoryTable, dev: NetDevice, v: Vring, desc: int, avail: int,
                used: int) -> SplitDevice | FastQueue:
    q: SplitDevice | FastQueue
    lay = SplitLayout(v.num, mem.user_to_guest(desc, desc_table_size(v.num)),
                      mem.user_to_guest(avail, avail_ring_size(v.num)),
                      mem.user_to_guest(used, used_ring_size(v.num)))
    lay.check_inside(mem.limit)
    used_idx = mem.read(lay.used_idx, 2)
    if isinstance(dev, FastNetDevice):
        q = FastQueue(mem, v.num, lay.desc, lay.avail, lay.used,
                      features=dev.features, last_avail=v.base & 0xFFFF,
                      used_idx=used_idx,
                      call_fd=v.call, receive=v.index % 2 == 0)
    else:
        q = SplitDevice(lay, mem.limit,
                        event_idx=F.has(dev.features, F.RING_EVENT_IDX),
                        indirect=F.has(dev.features, F.RING_INDIRECT_DESC))
        q.last_avail = v.base & 0xFFFF
        q.used_idx = used_idx
    return q


def packed_base(q: PackedDevice, held: int) -> int:
    """GET_VRING_BASE of a packed queue: the available position and wrap counter, moved back
    over the ``held`` receive lists taken last and not used (they stay the driver's), then
    the used position and its wrap counter in the upper half."""
    back = sum(h.ndesc for h in list(q.in_flight.values())[len(q.in_flight) - held:]) \
        if held else 0
    pos, wrap = q.last_avail - back, q.avail_wrap
    if pos < 0:
        pos, wrap = pos + q.q, wrap ^ 1
    return pos | wrap << 15 | (q.used_pos | q.used_wrap << 15) << 16
