"""The Python reference's descriptor walks with the bounds checks behind named switches.

:class:`SplitBoundsVariant` and :class:`PackedBoundsVariant` are the reference's walks
(reference/ring/device.py ``SplitDevice._walk``, reference/ring/packed/device.py
``PackedDevice._walk``) with four switches, all on by default (then they behave as the
reference): ``wrap`` (the region check is exact in unbounded integers; off: ``addr + len``
wraps at 2^64), ``off_by_one`` (off: the region's end is taken as inclusive),
``indirect_len`` (an indirect table is a non-zero multiple of 16 bytes) and ``bounded``
(the Q bounds and the revisit check). ``named(switch)`` is the variant with that one switch
off. models/ring/bounds_mutants.py replays the Z3 counterexamples against them.
"""

from __future__ import annotations

from virtiospec.reference.access import Op, load
from virtiospec.reference.ring.device import Chain, SplitDevice
from virtiospec.reference.ring.errors import (
    BadDescriptorIndex,
    BadIndirect,
    BufferOutsideMemory,
    ChainTooLong,
    DescriptorLoop,
    DescriptorNotAvailable,
    ReadableAfterWritable,
)
from virtiospec.reference.ring.layout import (
    DESC_SIZE,
    VIRTQ_DESC_F_INDIRECT,
    VIRTQ_DESC_F_NEXT,
    VIRTQ_DESC_F_WRITE,
)
from virtiospec.reference.ring.packed.device import PackedDevice
from virtiospec.reference.ring.packed.layout import DESC_FLAGS, DESC_ID, DESC_LEN, advance, is_avail

U64 = (1 << 64) - 1
SWITCHES = ("wrap", "off_by_one", "indirect_len", "bounded")


class _Switches:
    wrap = True
    off_by_one = True
    indirect_len = True
    bounded = True
    memory_size: int

    def _inside(self, addr: int, length: int, what: str) -> None:
        end = addr + length
        if not self.wrap:
            end &= U64  # BUG (RING-SPLIT-082, RING-PACKED-083): addr + len wraps
        limit = self.memory_size + (0 if self.off_by_one else 1)  # BUG: end inclusive
        if end > limit:
            raise BufferOutsideMemory(f"{what} [{addr:#x}, +{length:#x}) is outside guest "
                                      f"memory of {self.memory_size:#x} bytes")

    def _table_len_ok(self, length: int) -> bool:
        return not self.indirect_len or (length != 0 and length % DESC_SIZE == 0)


class SplitBoundsVariant(_Switches, SplitDevice):
    @classmethod
    def named(cls, switch: str) -> type[SplitBoundsVariant]:
        if switch not in SWITCHES:
            raise ValueError(f"unknown switch {switch!r}; one of {', '.join(SWITCHES)}")
        return type(f"SplitWithout_{switch}", (cls,), {switch: False})

    def _walk(self, head: int) -> Op[Chain]:
        q = self.q
        if head >= q:
            raise BadDescriptorIndex(f"head {head} is not below the queue size {q}")
        chain = Chain(head)
        table, limit, index = self.layout.desc, q, head
        seen: set[int] = set()
        count = 0
        in_indirect = False
        while True:
            if self.bounded and index in seen:  # switch: bounded
                raise DescriptorLoop(f"descriptor {index} revisited in the chain of head {head}")
            seen.add(index)
            at = table + DESC_SIZE * index
            addr = yield from load(at, 8)
            length = yield from load(at + 8, 4)
            flags = yield from load(at + 12, 2)
            nxt = yield from load(at + 14, 2)
            if flags & VIRTQ_DESC_F_INDIRECT:
                if not self.indirect or in_indirect or flags & VIRTQ_DESC_F_NEXT:
                    raise BadIndirect("INDIRECT misused")
                if not self._table_len_ok(length):  # switch: indirect_len
                    raise BadIndirect(f"indirect table of {length} bytes")
                self._inside(addr, length, "indirect table")
                if self.bounded and count + length // DESC_SIZE > q:  # switch: bounded
                    raise ChainTooLong(f"chain of head {head} exceeds {q} descriptors")
                table, limit, index = addr, length // DESC_SIZE, 0
                seen = set()
                in_indirect = True
                continue
            count += 1
            if self.bounded and count > q:  # switch: bounded
                raise ChainTooLong(f"chain of head {head} exceeds {q} descriptors")
            self._inside(addr, length, f"buffer of descriptor {index}")
            if flags & VIRTQ_DESC_F_WRITE:
                chain.writable.append((addr, length))
            elif chain.writable:
                raise ReadableAfterWritable(f"readable descriptor {index} after a writable one")
            else:
                chain.readable.append((addr, length))
            if not flags & VIRTQ_DESC_F_NEXT:
                return chain
            if nxt >= limit:
                raise BadDescriptorIndex(f"next {nxt} of descriptor {index} is not below {limit}")
            index = nxt


class PackedBoundsVariant(_Switches, PackedDevice):
    @classmethod
    def named(cls, switch: str) -> type[PackedBoundsVariant]:
        if switch not in SWITCHES:
            raise ValueError(f"unknown switch {switch!r}; one of {', '.join(SWITCHES)}")
        return type(f"PackedWithout_{switch}", (cls,), {switch: False})

    def _walk(self, first_flags: int) -> Op[tuple[Chain, int]]:
        lay, q = self.layout, self.q
        chain = Chain(-1)
        pos, wrap = self.last_avail, self.avail_wrap
        flags = first_flags
        count = 0
        while True:
            count += 1
            if self.bounded and self.held + count > q:  # switch: bounded
                raise ChainTooLong(f"a list of {count} or more descriptors with {self.held} "
                                   f"held in a queue of {q}", "RING-PACKED-080")
            at = lay.desc_addr(pos)
            if count > 1:
                flags = yield from load(at + DESC_FLAGS, 2)
                if not is_avail(flags, wrap):
                    raise DescriptorNotAvailable(f"descriptor {pos} of a list is not available")
            addr = yield from load(at, 8)
            length = yield from load(at + DESC_LEN, 4)
            buf_id = yield from load(at + DESC_ID, 2)
            if flags & VIRTQ_DESC_F_INDIRECT:
                if not self.indirect or count > 1 or flags & VIRTQ_DESC_F_NEXT:
                    raise BadIndirect("INDIRECT misused", "RING-PACKED-082")
                if not self._table_len_ok(length):  # switch: indirect_len
                    raise BadIndirect(f"indirect table of {length} bytes", "RING-PACKED-082")
                if self.bounded and length // DESC_SIZE > q:  # switch: bounded
                    raise ChainTooLong(f"indirect table of {length // DESC_SIZE} descriptors",
                                       "RING-PACKED-080")
                self._inside(addr, length, "indirect table")
                yield from self._table(chain, addr, length // DESC_SIZE)
                chain.head = buf_id
                return chain, 1
            self._element(chain, addr, length, bool(flags & VIRTQ_DESC_F_WRITE),
                          f"buffer of descriptor {pos}")
            if not flags & VIRTQ_DESC_F_NEXT:
                chain.head = buf_id
                return chain, count
            pos, wrap = advance(q, pos, wrap, 1)
