"""Packed virtqueues through a network device behind PCI: our driver negotiates
VIRTIO_F_RING_PACKED, lays out each queue as a descriptor ring plus the driver's and the
device's event-suppression structures (VIRTIO 1.4 §2.8.10), and passes frames, so the device
under test (QEMU's virtio-net-pci with ``packed=on``) pops, uses and notifies by itself.

The ``ring.packed.device.*`` cases step a device buffer by buffer (``pop``/``push``), which a
device that processes its queues on its own cannot offer; these cases check the same device
requirements through traffic instead: the marks and positions of used descriptors, the skip
over a chained list, indirect tables, the notification decision under ENABLE, DISABLE and
DESC, the device's own structure, and a buffer or an indirect table far outside guest memory
on the transmit queue (the other hostile lists of ``ring.packed.device.*`` run over PCI as
``hostile.driver.pci.packed.*``). A device that does not offer VIRTIO_F_RING_PACKED SKIPs every
case, saying so.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from virtiospec.conformance.cases import (
    CaseFailed,
    CaseSkipped,
    Outcome,
    Result,
    case,
    require,
)
from virtiospec.conformance.suites.virtio_pci.case_driver import (
    NET_HDR_SIZE,
    RX,
    TX,
    TX_VECTOR,
    CaseDriver,
    CaseQueue,
)
from virtiospec.conformance.suites.virtio_pci.session import (
    PciSession,
    do,
    frame,
    net_driver,
    session,
)
from virtiospec.conformance.virtio_pci.qtest import QtestError
from virtiospec.reference.ring.packed.driver import PackedDriver
from virtiospec.reference.ring.packed.layout import (
    MARKS,
    RING_EVENT_FLAGS_DESC,
    RING_EVENT_FLAGS_DISABLE,
    RING_EVENT_FLAGS_ENABLE,
    VIRTQ_DESC_F_AVAIL,
    VIRTQ_DESC_F_INDIRECT,
    VIRTQ_DESC_F_WRITE,
    event_word,
)
from virtiospec.reference.virtio_pci.regs import (
    DEVICE_NEEDS_RESET,
    F_EVENT_IDX,
    F_INDIRECT_DESC,
    NET_F_MAC,
    NET_F_STATUS,
    bit,
)
from virtiospec.reference.virtio_pci.wait import poll, quiet

LAYER = "pci-packed"
BASE = bit(NET_F_MAC) | bit(NET_F_STATUS)
NOT_OFFERED = ("the device does not offer VIRTIO_F_RING_PACKED (QEMU offers it with "
               "--target qemu,packed=on)")
FAR = 0x80_0000_0000  # 512 GiB: no guest memory there


def packed_up(s: PciSession, *, queue_size: int = 8, wanted: int = BASE,
              need: tuple[tuple[int, str], ...] = ()) -> CaseDriver:
    """Our driver brought up with packed queues; SKIP when the device does not offer them
    (or a feature in ``need``)."""
    drv = net_driver(s, queue_size=queue_size, wanted=wanted, packed=True)
    drv.bring_up()
    if not drv.packed:
        raise CaseSkipped(NOT_OFFERED)
    for feature, name in need:
        if not drv.driver.has(feature):
            raise CaseSkipped(f"the device does not offer {name}")
    if drv.irq_page is None:
        raise CaseSkipped("the device has fewer than 3 MSI-X vectors")
    return drv


@contextmanager
def packed_session(target: object, **options: Any) -> Iterator[tuple[PciSession, CaseDriver]]:
    with session(target) as s:
        yield s, packed_up(s, **options)


def ring(q: CaseQueue) -> PackedDriver:
    return q.packed


def desc(s: PciSession, q: CaseQueue, pos: int) -> tuple[int, int, int, int]:
    """(addr, len, id, flags) of ring descriptor ``pos`` as the device left it."""
    at = ring(q).layout.desc_addr(pos)
    h = s.host
    return h.mem_read(at, 8), h.mem_read(at + 8, 4), h.mem_read(at + 12, 2), h.mem_read(at + 14, 2)


def wait_used(s: PciSession, q: CaseQueue, pos: int, wrap: int, what: str) -> int:
    """The flags of descriptor ``pos`` once it shows the used marks of ``wrap``."""
    want = MARKS if wrap else 0
    return poll(lambda: (f if (f := desc(s, q, pos)[3]) & MARKS == want else None), 2.0, what)


def laps(q: CaseQueue, n: int = 40) -> Iterator[tuple[int, int, int, int]]:
    """Frame k of ``n``, its size (60 to 1514 bytes), and where the next used descriptor of
    ``q`` is (position, wrap bit) just before it."""
    for k in range(n):
        yield k, 60 + (k * 197) % 1455, ring(q).last_used, ring(q).used_wrap


@case("pci.packed.transmit-laps", ("RING-PACKED-012", "RING-PACKED-014", "RING-PACKED-092"),
      "device", LAYER, "40 frames of 60 to 1514 bytes through a transmit queue of 8 (five "
      "laps): each leaves intact and in order, each used descriptor has both marks equal to "
      "its lap's wrap bit")
def transmit_laps(target: object) -> None:
    with packed_session(target) as (s, drv):
        tx = drv.queues[TX]
        for k, size, pos, wrap in laps(tx):
            out = frame(k, size, src=s.mac, dst=b"\xff" * 6)
            drv.send(out)
            got = s.capture(2.0)
            require(got == out, f"transmitted frame {k} ({size} bytes)", out[:32].hex(),
                    (got or b"")[:32].hex(), req="RING-PACKED-092")
            flags = wait_used(s, tx, pos, wrap, f"used descriptor of frame {k}")
            require(flags & MARKS == (MARKS if wrap else 0), f"marks of used descriptor {pos}",
                    hex(MARKS if wrap else 0), hex(flags & MARKS), req="RING-PACKED-014")
            back = drv.wait_tx()
            require(len(back) == 1, f"frame {k}'s buffer back once", "1", str(len(back)),
                    req="RING-PACKED-092")
        want = 1 ^ (40 // ring(tx).q) % 2  # starts at 1, flips once a lap
        require(ring(tx).used_wrap == want, "the used descriptor after 40 lists in a ring of 8 "
                "(5 laps) shows the marks of wrap bit 0", str(want), str(ring(tx).used_wrap),
                req="RING-PACKED-012")


@case("pci.packed.receive-laps", ("RING-PACKED-012", "RING-PACKED-014", "RING-PACKED-027",
      "RING-PACKED-092"), "device", LAYER,
      "40 frames from the wire through a receive queue of 8: each used descriptor has the "
      "marks of its lap, WRITE set and len = header + frame, and the frame in the buffer")
def receive_laps(target: object) -> None:
    with packed_session(target) as (s, drv):
        rx = drv.queues[RX]
        for k, size, pos, wrap in laps(rx):
            inbound = frame(1000 + k, size)
            s.inject(inbound)
            flags = wait_used(s, rx, pos, wrap, f"used descriptor of received frame {k}")
            length = desc(s, rx, pos)[1]
            require(bool(flags & VIRTQ_DESC_F_WRITE), f"WRITE in the used descriptor of "
                    f"received frame {k} (without it len is reserved and the driver must take "
                    "0 bytes as written)", "set", hex(flags), req="RING-PACKED-027")
            require(length == NET_HDR_SIZE + size, f"len of received frame {k}",
                    str(NET_HDR_SIZE + size), str(length), req="RING-PACKED-027")
            _, received = drv.wait_rx()
            require(received == inbound, f"received frame {k} ({size} bytes)",
                    inbound[:32].hex(), received[:32].hex(), req="RING-PACKED-092")


@case("pci.packed.chained-list", ("RING-PACKED-011", "RING-PACKED-026", "RING-PACKED-027",
      "RING-PACKED-034"), "device", LAYER,
      "a frame in a NEXT-chained list of 3 and one in a list of 1: the frame leaves whole, one "
      "used descriptor per list at positions 0 and 3, carrying each list's ID, WRITE clear")
def chained_list(target: object) -> None:
    with packed_session(target) as (s, drv):
        tx = drv.queues[TX]
        out = frame(7, 300, src=s.mac, dst=b"\xff" * 6)
        data = bytes(NET_HDR_SIZE) + out
        cuts = [(0, NET_HDR_SIZE), (NET_HDR_SIZE, 100), (100, len(data))]
        for k, (a, b) in enumerate(cuts):
            s.host.write_bytes(tx.buffers[k], data[a:b])
        first = drv.run(ring(tx).add([(tx.buffers[k], b - a) for k, (a, b) in enumerate(cuts)],
                                     [], 0))
        second_frame = frame(8, 80, src=s.mac, dst=b"\xff" * 6)
        s.host.write_bytes(tx.buffers[3], bytes(NET_HDR_SIZE) + second_frame)
        second = drv.run(ring(tx).add([(tx.buffers[3], NET_HDR_SIZE + len(second_frame))],
                                      [], 3))
        drv.kick(tx)
        got = [s.capture(2.0), s.capture(2.0)]
        require(got == [out, second_frame], "both frames on the wire, the chained one whole "
                "and in element order", out[:24].hex(), (got[0] or b"")[:24].hex(),
                req="RING-PACKED-034")
        wait_used(s, tx, 3, 1, "used descriptor of the second list at position 3")
        used = [desc(s, tx, p) for p in (0, 3)]
        ids = [u[2] for u in used]
        require(ids == [first, second], "IDs of the used descriptors at positions 0 and 3 "
                "(the first list covers 0 to 2)", str([first, second]), str(ids),
                req="RING-PACKED-026")
        flags = [u[3] for u in used]
        require(all(f & MARKS == MARKS for f in flags), "both used with wrap bit 1",
                hex(MARKS), str([hex(f) for f in flags]), req="RING-PACKED-014")
        require(not any(f & VIRTQ_DESC_F_WRITE for f in flags), "WRITE in used descriptors "
                "of transmit lists (the device wrote nothing)", "clear",
                str([hex(f) for f in flags]), req="RING-PACKED-027")
        back = drv.wait_tx()
        require(sorted(t for t, _ in back) == [0, 3] and all(n == 0 for _, n in back),
                "both lists back with 0 bytes written", "[(0, 0), (3, 0)]", str(back))


@case("pci.packed.receive-written", ("RING-PACKED-027", "RING-PACKED-014"), "device", LAYER,
      "a received frame: the used descriptor has WRITE set and len = header + frame, the "
      "bytes written before the marks")
def receive_written(target: object) -> None:
    with packed_session(target) as (s, drv):
        rx = drv.queues[RX]
        inbound = frame(9, 222)
        s.inject(inbound)
        flags = wait_used(s, rx, 0, 1, "the used descriptor of the received frame")
        _, length, _, _ = desc(s, rx, 0)
        require(bool(flags & VIRTQ_DESC_F_WRITE), "WRITE in the used descriptor", "set",
                hex(flags), req="RING-PACKED-027")
        require(length == NET_HDR_SIZE + len(inbound), "len of the used descriptor",
                str(NET_HDR_SIZE + len(inbound)), str(length), req="RING-PACKED-027")
        _, got = drv.wait_rx()
        require(got == inbound, "the frame in the buffer", inbound[:24].hex(), got[:24].hex(),
                req="RING-PACKED-027")


@case("pci.packed.indirect", ("RING-PACKED-042", "RING-PACKED-026"), "device", LAYER,
      "with VIRTIO_F_INDIRECT_DESC a frame in an indirect table of 3 leaves whole and its list "
      "covers one ring position")
def indirect(target: object) -> None:
    with packed_session(target, wanted=BASE | bit(F_INDIRECT_DESC),
                        need=((F_INDIRECT_DESC, "VIRTIO_F_INDIRECT_DESC"),)) as (s, drv):
        tx = drv.queues[TX]
        out = frame(11, 400, src=s.mac, dst=b"\xff" * 6)
        data = bytes(NET_HDR_SIZE) + out
        cuts = [(0, NET_HDR_SIZE), (NET_HDR_SIZE, 200), (200, len(data))]
        for k, (a, b) in enumerate(cuts):
            s.host.write_bytes(tx.buffers[k], data[a:b])
        drv.run(ring(tx).add([(tx.buffers[k], b - a) for k, (a, b) in enumerate(cuts)], [], 0))
        head = desc(s, tx, 0)[3]
        require(bool(head & VIRTQ_DESC_F_INDIRECT), "our driver used an indirect table", "set",
                hex(head))
        drv.kick(tx)
        got = s.capture(2.0)
        require(got == out, "the frame from the table's three elements", out[:24].hex(),
                (got or b"")[:24].hex(), req="RING-PACKED-042")
        drv.wait_tx()
        second = frame(12, 90, src=s.mac, dst=b"\xff" * 6)
        drv.send(second)
        require(s.capture(2.0) == second, "the next frame", req="RING-PACKED-026")
        flags = wait_used(s, tx, 1, 1, "used descriptor of the next list at position 1")
        require(flags & MARKS == MARKS, "the next list used at position 1", hex(MARKS),
                hex(flags), req="RING-PACKED-026")


def _tx_irq(s: PciSession, drv: CaseDriver, k: int, flags_word: int) -> bool:
    """Write the driver structure of the transmit queue, send frame ``k``, wait until it is
    used; whether the transmit vector fired within 0.2 s after."""
    tx = drv.queues[TX]
    s.host.mem_write(ring(tx).layout.driver_event, 4, flags_word)
    drv.clear_irq(TX_VECTOR)
    pos, wrap = ring(tx).next_avail, ring(tx).avail_wrap
    sent = frame(k, 64, src=s.mac, dst=b"\xff" * 6)
    drv.send(sent)
    require(s.capture(2.0) == sent, f"frame {k} on the wire")
    wait_used(s, tx, pos, wrap, f"used descriptor of frame {k}")
    return not quiet(lambda: bool(drv.irq_count(TX_VECTOR)), 0.2)


@case("pci.packed.notify-flags", ("RING-PACKED-062",), "device", LAYER,
      "without EVENT_IDX, a used transmit buffer fires the vector under ENABLE and (SHOULD "
      "NOT) not under DISABLE")
def notify_flags(target: object) -> None:
    with packed_session(target) as (s, drv):
        tx = drv.queues[TX]
        ring(tx).cb_disabled = True  # the case writes the structure itself
        fired = _tx_irq(s, drv, 1, event_word(RING_EVENT_FLAGS_ENABLE))
        require(fired, "MSI-X message of the transmit vector under ENABLE", "fired", "none")
        fired = _tx_irq(s, drv, 2, event_word(RING_EVENT_FLAGS_DISABLE))
        require(not fired, "no MSI-X message under DISABLE", "none", "fired")
        drv.wait_tx()


@case("pci.packed.notify-desc", ("RING-PACKED-062", "RING-PACKED-064"), "device", LAYER,
      "with EVENT_IDX, after one frame under ENABLE, DESC off_wrap = (3, 1): no message for "
      "the used descriptors at 1 and 2 (SHOULD NOT), a message once position 3 is used (MUST)")
def notify_desc(target: object) -> None:
    with packed_session(target, wanted=BASE | bit(F_EVENT_IDX),
                        need=((F_EVENT_IDX, "VIRTIO_F_EVENT_IDX"),)) as (s, drv):
        tx = drv.queues[TX]
        ring(tx).cb_disabled = True  # get_used must not move off_wrap: the case holds it
        # a first decision may notify whatever off_wrap says (a spurious notification is
        # allowed, RING-PACKED-065): the case starts from a device that decided once
        _tx_irq(s, drv, 0, event_word(RING_EVENT_FLAGS_ENABLE))
        word = event_word(RING_EVENT_FLAGS_DESC, 3, 1)
        seen = [_tx_irq(s, drv, k, word) for k in (1, 2, 3)]
        require(seen[2], "a message after the used descriptor at off_wrap (3, 1)",
                "fired", "none", req="RING-PACKED-062")
        require(not any(seen[:2]), "no message for used positions 1 and 2 before off_wrap",
                "[False, False]", str(seen[:2]), req="RING-PACKED-062")
        drv.wait_tx()


@case("pci.packed.device-structure", ("RING-PACKED-061", "RING-PACKED-060"), "device", LAYER,
      "the device's event-suppression structure, idle after traffic, holds ENABLE or DISABLE, "
      "or DESC only with EVENT_IDX; the flags our driver decides on keep frames moving")
def device_structure(target: object) -> Result:
    seen = []
    for wanted in (BASE, BASE | bit(F_EVENT_IDX)):
        with packed_session(target, wanted=wanted) as (s, drv):
            event_idx = drv.driver.has(F_EVENT_IDX)
            tx = drv.queues[TX]
            for k in range(10):  # over a wrap: each kick decided from the device's structure
                sent = frame(k, 64, src=s.mac, dst=b"\xff" * 6)
                drv.send(sent)
                require(s.capture(2.0) == sent, f"frame {k} on the wire (EVENT_IDX "
                        f"{event_idx}): the device heard the notifications it asked for",
                        req="RING-PACKED-061")
                drv.wait_tx()
            word = s.host.mem_read(ring(tx).layout.device_event, 4)
            flags = word >> 16
            allowed = {RING_EVENT_FLAGS_ENABLE, RING_EVENT_FLAGS_DISABLE} | (
                {RING_EVENT_FLAGS_DESC} if event_idx else set())
            require(flags in allowed, f"device structure flags (EVENT_IDX {event_idx})",
                    " or ".join(map(str, sorted(allowed))), f"{flags} (word {word:#010x})",
                    req="RING-PACKED-061")
            seen.append(f"EVENT_IDX {'on' if event_idx else 'off'}: {word:#010x}")
    return Result(Outcome.PASS, "device structure after traffic: " + "; ".join(seen))


# -- hostile driver on the transmit queue ---------------------------------------------------

Writer = Callable[[PciSession, CaseDriver], None]


def _put(s: PciSession, drv: CaseDriver, pos: int, addr: int, length: int, buf_id: int,
         flags: int) -> None:
    at = ring(drv.queues[TX]).layout.desc_addr(pos)
    s.host.mem_write(at, 8, addr)
    s.host.mem_write(at + 8, 4, length)
    s.host.mem_write(at + 12, 2, buf_id)
    s.host.mem_write(at + 14, 2, flags)


AV = VIRTQ_DESC_F_AVAIL  # the available marks of the first lap (wrap bit 1)


def _one(addr: int, length: int, flags: int = 0) -> Writer:
    """A list of one descriptor at position 0 of a fresh transmit ring."""
    def write(s: PciSession, drv: CaseDriver) -> None:
        _put(s, drv, 0, addr, length, 1, flags | AV)

    return write


def _hostile(name: str, req: str, summary: str, write: Writer, *,
             indirect: bool = False) -> None:
    def run(target: object) -> Result:
        need = ((F_INDIRECT_DESC, "VIRTIO_F_INDIRECT_DESC"),) if indirect else ()
        wanted = BASE | (bit(F_INDIRECT_DESC) if indirect else 0)
        with packed_session(target, wanted=wanted, need=need) as (s, drv):
            tx = drv.queues[TX]
            lay = ring(tx).layout
            write(s, drv)
            before = s.host.read_bytes(lay.desc, lay.ring_size)
            do(s, drv.driver.notify(TX, tx.notify_addr))
            try:
                return _verdict(s, drv, before, summary, req)
            except (OSError, QtestError) as err:  # the device process died on the list
                log = getattr(s, "log", lambda: "")()
                said = log.strip().splitlines()[-1] if log.strip() else str(err)
                raise CaseFailed(f"{summary}: the device stopped answering", expected="a "
                                 "refusal (DEVICE_NEEDS_RESET)", observed=said, req=req) from None

    reqs = tuple(dict.fromkeys((req, "RING-PACKED-085")))
    case(f"pci.packed.rejects-{name}", reqs, "device", LAYER, summary)(run)


def _verdict(s: PciSession, drv: CaseDriver, before: bytes, summary: str, req: str) -> Result:
    lay = ring(drv.queues[TX]).layout
    status = 0

    def reset_seen() -> bool:
        nonlocal status
        status = do(s, drv.transport.status())
        return bool(status & DEVICE_NEEDS_RESET)

    flagged = not quiet(reset_seen, 0.5)
    sent = s.capture(0.1)
    after = s.host.read_bytes(lay.desc, lay.ring_size)
    require(sent is None, f"{summary}: no frame leaves", "nothing",
            f"{len(sent or b'')} bytes", req=req)
    require(after == before, f"{summary}: the ring is untouched (no used descriptor)",
            "the bytes the driver wrote", "changed", req="RING-PACKED-085")
    require(flagged, f"{summary}: DEVICE_NEEDS_RESET (SHOULD)", "status bit 6 set",
            f"status {status:#x}", req="RING-PACKED-085")
    return Result(Outcome.REJECT, f"{summary}: refused, DEVICE_NEEDS_RESET set")


_hostile("buffer-outside", "RING-PACKED-083", "a buffer 512 GiB up, outside guest memory",
         _one(FAR, 76))
_hostile("table-outside", "RING-PACKED-083",
         "an indirect table 512 GiB up, outside guest memory",
         _one(FAR, 32, VIRTQ_DESC_F_INDIRECT), indirect=True)
