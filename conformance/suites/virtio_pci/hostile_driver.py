"""Hostile driver over PCI: the ring cases of :mod:`.hostile_driver` against a virtio-net-pci
device -- QEMU's through qtest (target ``qemu``), our own in-process one (target
``reference``) -- on its transmit queue (size 8), plus a notification for a queue that does
not exist; and the packed ring's hostile lists of :mod:`.ring_packed_device`
(``hostile.driver.pci.packed.*``, with VIRTIO_F_RING_PACKED: ``--target qemu,packed=on``).

Each case brings the device up with the suite's driver (a fresh QEMU per case), writes the bad
chain by hand into guest RAM, notifies, and judges: the device used the chain (FAIL), the QEMU
process died (FAIL, with its log), the device stopped answering register reads or QMP
(WEDGED; the session kills QEMU), or it refused -- DEVICE_NEEDS_RESET set, or the queue
stopped at the chain -- and still answers (REJECT).
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from typing import Any

from virtiospec.conformance.cases import CaseFailed, CaseSkipped, Outcome, Result, case
from virtiospec.conformance.ring.api import PackedRingSetup, RingSetup
from virtiospec.conformance.ring.peer import HandDriver
from virtiospec.conformance.suites.ring.packed.device import HOSTILE as PACKED_HOSTILE
from virtiospec.conformance.suites.ring.packed.peer import PackedHandDriver
from virtiospec.conformance.suites.vhost_user.hostile_driver import EDGE, RING_CASES, Q, Seg, Writer
from virtiospec.conformance.suites.virtio_pci.case_driver import DEFAULT_FEATURES, CaseDriver
from virtiospec.conformance.suites.virtio_pci.session import PciSession, do, session, up, up_session
from virtiospec.conformance.virtio_pci.qtest import QtestError
from virtiospec.reference.virtio_pci.regs import DEVICE_NEEDS_RESET, F_INDIRECT_DESC

SETTLE = 0.5
BUDGET = 60.0
TX = 1


def _dead(s: PciSession) -> str | None:
    proc = getattr(s, "proc", None)
    if proc is None or proc.poll() is None:
        return None
    log = getattr(s, "log", lambda: "")()
    code = proc.returncode
    how = f"was killed by signal {signal.Signals(-code).name}" if code < 0 else \
        f"exited with status {code}"
    return f"QEMU {how}; its log ends:\n{log[-800:]}"


def _answers(s: PciSession, drv: CaseDriver) -> tuple[bool, int]:
    """(answers, device status): a register read, and QMP for QEMU."""
    try:
        status = do(s, drv.transport.status())
        query = getattr(s, "status", None)
        if query is not None:
            query()
        return True, status
    except (QtestError, OSError, TimeoutError):
        return False, 0


def _request(drv: CaseDriver, area: int) -> Any:
    frame = bytes(12) + bytes.fromhex("02aabbccddee525400123456") + b"\x88\xb5" + \
        b"virtiospec hostile-driver probe".ljust(46, b".")
    drv.host.write_bytes(area, frame)

    def split(n: int) -> list[Seg]:
        size = max(1, len(frame) // n)
        segs = [(area + k * size, size, False) for k in range(n - 1)]
        return [*segs, (area + (n - 1) * size, len(frame) - (n - 1) * size, False)]

    return split


def _judge(s: PciSession, drv: CaseDriver, take_used: Callable[[], list[Any]], name: str,
           req: str) -> Result:
    """The verdict once the bad input is written and notified (see the module doc)."""
    used: list[Any] = []
    end = time.monotonic() + SETTLE
    while time.monotonic() < end and _dead(s) is None:
        try:
            used += take_used()
        except (QtestError, OSError, TimeoutError):
            break
        time.sleep(0.02)
    dead = _dead(s)
    if dead:
        raise CaseFailed(f"{name}: {dead}", expected="refusal, the device still answering",
                         observed="QEMU died", req=req)
    answers, status = _answers(s, drv)
    if not answers:
        end = time.monotonic() + 2.0  # a QEMU on its way out closes qtest first
        while time.monotonic() < end and _dead(s) is None:
            time.sleep(0.05)
        dead = _dead(s)
        if dead:
            raise CaseFailed(f"{name}: {dead}", expected="refusal, the device still answering",
                             observed="QEMU died", req=req)
        return Result(Outcome.WEDGED, f"{name}: no answer to a register read or QMP "
                      "(the session kills QEMU)", recovered=True)
    if used:
        raise CaseFailed(f"{name}: accepted: used element(s) {used[:4]}",
                         expected="refusal: DEVICE_NEEDS_RESET or the queue stopped",
                         observed=f"used {used[:4]}, status {status:#x}", req=req)
    how = ("DEVICE_NEEDS_RESET set" if status & DEVICE_NEEDS_RESET
           else f"queue stopped at the chain, status {status:#x} (no DEVICE_NEEDS_RESET)")
    return Result(Outcome.REJECT, f"{name}: {how}; the device still answers")


def _run(target: object, name: str, write: Writer, indirect: bool, req: str) -> Result:
    with session(target) as s:
        wanted = DEFAULT_FEATURES | (1 << F_INDIRECT_DESC if indirect else 0)
        drv = up(s, queue_size=Q, msix=False, wanted=wanted)
        q = drv.queues[TX]
        lay = q.ring.layout
        start = drv.memory.read(lay.avail_idx, 2)
        hand = HandDriver(RingSetup(lay, drv.memory, start_index=start))  # type: ignore[arg-type]
        area = drv.ram.allocate(0x4000, 0x1000)

        def buf(n: int, size: int = 64) -> tuple[int, int]:
            return area + 0x1000 + n * 0x100, size

        write(hand, buf, _request(drv, area))
        drv.run(drv.driver.notify(q.index, q.notify_addr))
        return _judge(s, drv, hand.take_used, name, req)


def _run_packed(target: object, name: str, write: Callable[[PackedHandDriver], None],
                indirect: bool, req: str) -> Result:
    with session(target) as s:
        wanted = DEFAULT_FEATURES | (1 << F_INDIRECT_DESC if indirect else 0)
        drv = up(s, queue_size=Q, msix=False, wanted=wanted, packed=True)
        if not drv.packed:
            raise CaseSkipped("the device does not offer VIRTIO_F_RING_PACKED (for QEMU: "
                              "--target qemu,packed=on)")
        q = drv.queues[TX]
        hand = PackedHandDriver(PackedRingSetup(q.packed.layout, drv.memory))  # type: ignore[arg-type]
        write(hand)
        drv.run(drv.driver.notify(q.index, q.notify_addr))
        return _judge(s, drv, hand.take_used, name, req)


def pci_case(name: str, reqs: tuple[str, ...], summary: str, write: Writer,
             indirect: bool) -> None:
    def run(target: object) -> Result:
        return _run(target, summary, write, indirect, reqs[0])

    all_reqs = tuple(dict.fromkeys((*reqs, "RING-SPLIT-084")))
    case(f"hostile.driver.pci.{name}", all_reqs, "device", "hostile", summary, BUDGET)(run)


for _name, _reqs, _summary, _write, _indirect in RING_CASES:
    if _name not in EDGE:  # the region edge of the vhost-user memory; guest RAM differs
        pci_case(_name, _reqs, _summary, _write, _indirect)


def packed_case(name: str, req: str, summary: str,
                write: Callable[[PackedHandDriver], None], indirect: bool) -> None:
    def run(target: object) -> Result:
        return _run_packed(target, summary, write, indirect, req)

    reqs = tuple(dict.fromkeys((req, "RING-PACKED-085")))
    case(f"hostile.driver.pci.packed.{name}", reqs, "device", "hostile", summary,
         BUDGET)(run)


for _pname, _preq, _psummary, _pwrite, _pindirect in PACKED_HOSTILE:
    if _pname not in ("buffer-outside", "table-outside"):  # the edge of a 512 KiB memory
        packed_case(_pname, _preq, _psummary, _pwrite, _pindirect)


def _avail_jump(by: int) -> Writer:
    def write(d: HandDriver, buf: Any, req: Any) -> None:
        d.chain(0, req(1))
        d.publish(0)
        d.avail_idx = (d.avail_idx + by - 1) & 0xFFFF
        d.publish()

    return write


pci_case("avail-jump", ("RING-SPLIT-084", "RING-SPLIT-090"),
         "avail.idx moved Q + 1 past the last index consumed", _avail_jump(Q + 1), False)
pci_case("avail-jump-far", ("RING-SPLIT-084", "RING-SPLIT-090"),
         "avail.idx moved 32768 past the last index consumed", _avail_jump(0x8000), False)


@case("hostile.driver.pci.notify-missing-queue", ("VIRTIO-PCI-030",), "device", "hostile",
      "a notification for queue 7 of a device with 2 (or 3) queues: ignored, the transmit "
      "queue still served", BUDGET)
def notify_missing(target: object) -> Result:
    with up_session(target, queue_size=Q, msix=False) as (s, drv):
        q = drv.queues[TX]
        drv.run(drv.driver.notify(7, q.notify_addr))
        dead = _dead(s)
        if dead:
            raise CaseFailed(f"notify of queue 7: {dead}", req="VIRTIO-PCI-030")
        answers, status = _answers(s, drv)
        if not answers:
            return Result(Outcome.WEDGED, "notify of queue 7: no answer", recovered=True)
        drv.send(bytes.fromhex("02aabbccddee525400123456") + b"\x88\xb5" + bytes(46))
        served = False
        end = time.monotonic() + 2.0
        while not served and time.monotonic() < end:
            served = bool(drv.reclaim_tx())
            time.sleep(0.02)
        if not served:
            raise CaseFailed("notify of queue 7: the transmit queue stopped", req="VIRTIO-PCI-030",
                             observed=f"status {status:#x}")
        return Result(Outcome.PASS, f"notify of queue 7 ignored (status {status:#x}); "
                      "transmit still served")


FRAME = bytes.fromhex("02aabbccddee525400123456") + b"\x88\xb5" + bytes(46)


def _after_bring_up(target: object, name: str, req: str, act: Callable[[CaseDriver], None]
                    ) -> Result:
    """``act`` breaks a rule of the transport on a running device; then a frame is sent. The
    device may ignore the bad write (PASS: the frame goes out on the queue as set up) or
    refuse it (REJECT: DEVICE_NEEDS_RESET); dying is a FAIL, silence WEDGED."""
    with up_session(target, queue_size=Q, msix=False) as (s, drv):
        act(drv)
        dead = _dead(s)
        if dead:
            raise CaseFailed(f"{name}: {dead}", req=req)
        answers, status = _answers(s, drv)
        if not answers:
            return Result(Outcome.WEDGED, f"{name}: no answer", recovered=True)
        if status & DEVICE_NEEDS_RESET:
            return Result(Outcome.REJECT, f"{name}: DEVICE_NEEDS_RESET set; the device still "
                          "answers")
        drv.send(FRAME)
        served = False
        end = time.monotonic() + 2.0
        while not served and time.monotonic() < end and _dead(s) is None:
            served = bool(drv.reclaim_tx())
            time.sleep(0.02)
        dead = _dead(s)
        if dead:
            raise CaseFailed(f"{name}: {dead}", req=req)
        status = _answers(s, drv)[1]
        if served:
            return Result(Outcome.PASS, f"{name}: ignored; the frame went out on the queue as "
                          f"set up (status {status:#x})")
        if status & DEVICE_NEEDS_RESET:
            return Result(Outcome.REJECT, f"{name}: DEVICE_NEEDS_RESET set at the next frame")
        raise CaseFailed(f"{name}: the transmit queue stopped without DEVICE_NEEDS_RESET",
                         observed=f"status {status:#x}", req=req)


def _move_queue(drv: CaseDriver) -> None:
    t = drv.transport
    drv.run(t.write("queue_select", TX))
    drv.run(t.write("queue_desc", 1 << 40))
    drv.run(t.write("queue_device", (1 << 40) + 0x1000))


def _clear_driver_bit(drv: CaseDriver) -> None:
    t = drv.transport
    drv.run(t.set_status(drv.run(t.status()) & ~2))


@case("hostile.driver.pci.queue-moved-after-driver-ok", ("VIRTIO-PCI-025",), "device", "hostile",
      "queue_desc and queue_device of the running transmit queue rewritten to 1 TiB", BUDGET)
def queue_moved(target: object) -> Result:
    return _after_bring_up(target, "transmit queue moved after DRIVER_OK", "VIRTIO-PCI-025",
                           _move_queue)


@case("hostile.driver.pci.status-bit-cleared", ("VIRTIO-STATUS-002",), "device", "hostile",
      "DRIVER cleared from the status of a running device without a reset", BUDGET)
def status_bit_cleared(target: object) -> Result:
    return _after_bring_up(target, "DRIVER cleared without a reset", "VIRTIO-STATUS-002",
                           _clear_driver_bit)
