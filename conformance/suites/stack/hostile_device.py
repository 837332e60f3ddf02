"""Hostile device against our drivers above the ring: ``hostile.device.net.*`` (receive
headers), ``hostile.device.shm.*`` (table and signal values) and ``hostile.device.pci.*``
(a configuration generation that never settles).

Tables of hostile values, one per field, each value a case. What the driver must do:

* net (spec/net.md NET-016, NET-015; spec/ring.md RING-SPLIT-085): a received frame whose
  header breaks NET-010 / NET-011 (num_buffers 0, more buffers than were used, a used len
  shorter than the header or the frame's Ethernet header, beyond the buffer) is refused naming
  the requirement, with every buffer of it back in the driver's pool; fields the driver does
  not use on receive (hdr_len, gso_type, gso_size, csum_start, csum_offset, unknown flags)
  never make it hand out other bytes than the device wrote;
* shm (spec/shm.md SHM-TABLE-011): a reader facing a seq that is never even gives up within
  its bound with the last good value, and stores nothing;
* pci (spec/pci.md VIRTIO-PCI-051): a driver whose configuration generation changes on every
  read gives up with GenerationUnstable instead of spinning.

Net and pci drive the Python reference drivers (targets that are the reference); shm runs the
target's table reader (the reference and the C library of shm.c).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from virtiospec.conformance.cases import (
    CaseFailed,
    CaseSkipped,
    Outcome,
    Result,
    case,
    expect_reject,
    require,
)
from virtiospec.conformance.ring.api import RingSetup
from virtiospec.conformance.ring.peer import HandDevice
from virtiospec.conformance.shm.api import ClockSetup, SteppedClockDriver, Stepper, TableSetup
from virtiospec.conformance.suites.shm.common import (
    busy,
    check_untouched,
    side,
    snapshot,
    stepped,
    val,
)
from virtiospec.reference.access import Store, run
from virtiospec.reference.net import features as F
from virtiospec.reference.net.header import HDR_LEN, NetHdr
from virtiospec.reference.net.pair import NetPair
from virtiospec.reference.shm import ClockDevice, Snapshot, TableWriter

ETH = bytes.fromhex("525400123456" "02aabbccddee" "88b5")


def _reference_driver(target: object, what: str) -> None:
    if getattr(target, "name", "") != "reference":
        raise CaseSkipped(f"target {getattr(target, 'name', target)} has no {what} driver "
                          "of its own (the Python reference's is tested under 'reference')")


# -- net: receive headers --------------------------------------------------------------------

def _net(mrg: bool) -> tuple[NetPair, HandDevice, list[int]]:
    wanted = None if mrg else ~F.bit(F.MRG_RXBUF)
    pair = NetPair(auto=False, wanted=wanted, queue_size=8)
    dev = HandDevice(RingSetup(pair.layouts[0], pair.mem))
    return pair, dev, dev.pop_heads()


def _fill(pair: NetPair, dev: HandDevice, head: int, data: bytes) -> None:
    addr = dev.read_desc(head)[0]
    pair.mem.write_bytes(addr, data)


def _net_case(name: str, summary: str, hdr: NetHdr, *, body: int = 60, mrg: bool = True,
              used_len: Callable[[int], int] | None = None, extra: int = 0,
              reqs: tuple[str, ...] = ("NET-016",), refuse: bool = True,
              back: int = 1) -> None:
    """``extra`` more buffers used with len 0; ``back``: how many buffers the refusal takes
    and must return to the pool (the rest stay outstanding in the ring, for detach_unused)."""
    def run_case(target: object) -> Result:
        _reference_driver(target, "network")
        pair, dev, heads = _net(mrg)
        drv = pair.driver
        free = len(drv.rx_pool.free)
        frame = (ETH + bytes(range(256)) * 8)[:body]
        data = hdr.pack() + frame
        _fill(pair, dev, heads[0], data)
        length = used_len(len(data)) if used_len else len(data)
        dev.used((heads[0], length), *((h, 0) for h in heads[1:1 + extra]))
        if refuse:
            res = expect_reject(lambda: drv.receive_one(0), set(reqs), summary)
            require(len(drv.rx_pool.free) == free + back, f"{summary}: every buffer of "
                    "the refused frame is back in the pool", str(free + back),
                    str(len(drv.rx_pool.free)))
            ring = drv.queues[0]
            outstanding = len(heads) - back
            tokens = ring.detach_unused()
            require(len(tokens) == outstanding and len(set(map(id, tokens))) == outstanding,
                    f"{summary}: detach_unused gives back every buffer still out, once",
                    str(outstanding), str(len(tokens)))
            return res
        got = drv.receive_one(0)
        require(got is not None and got.frame == frame, f"{summary}: the frame as the device "
                "wrote it, nothing else", frame.hex()[:40], "None" if got is None
                else got.frame.hex()[:40])
        require(len(drv.rx_pool.free) == free + 1, f"{summary}: its buffer back in the pool")
        return Result(Outcome.PASS, f"{summary}: ignored, the frame handed out unchanged")

    case(f"hostile.device.net.{name}", reqs, "driver", "hostile", summary)(run_case)


_net_case("num-buffers-zero", "num_buffers 0", NetHdr(num_buffers=0))
_net_case("num-buffers-zero-no-mrg", "num_buffers 0 without MRG_RXBUF", NetHdr(num_buffers=0),
          mrg=False)
_net_case("num-buffers-two-no-mrg", "num_buffers 2 without MRG_RXBUF", NetHdr(num_buffers=2),
          mrg=False, extra=1)
for _name, _n in (("num-buffers-2-beyond-used", 2), ("num-buffers-3-beyond-used", 3),
                  ("num-buffers-8-beyond-used", 8), ("num-buffers-ffff-beyond-used", 0xFFFF)):
    _net_case(_name, f"num_buffers {_n} with one buffer used", NetHdr(num_buffers=_n))
_net_case("num-buffers-3-two-used", "num_buffers 3 with two buffers used",
          NetHdr(num_buffers=3), extra=1, back=2)
def _fixed(k: int) -> Callable[[int], int]:
    return lambda n: k


for _name, _len in (("used-len-0", 0), ("used-len-1", 1), ("used-len-11", HDR_LEN - 1)):
    _net_case(_name, f"used len {_len}, shorter than the header",
              NetHdr(num_buffers=1), used_len=_fixed(_len))
for _name, _body in (("frame-0-bytes", 0), ("frame-1-bytes", 1), ("frame-13-bytes", 13)):
    _net_case(_name, f"a {_body}-byte frame, shorter than an Ethernet "
              "header", NetHdr(num_buffers=1), body=_body)
_net_case("used-len-beyond-buffer", "used len beyond the receive buffer",
          NetHdr(num_buffers=1), used_len=lambda n: 1 << 20, reqs=("RING-SPLIT-085",), back=0)
_IGNORED: list[tuple[str, str, NetHdr]] = [
    ("hdr-len-beyond-frame", "hdr_len 0xffff", NetHdr(hdr_len=0xFFFF, num_buffers=1)),
    ("gso-type-unknown", "gso_type 0x7f", NetHdr(gso_type=0x7F, num_buffers=1)),
    ("gso-type-ecn-alone", "gso_type ECN with no GSO", NetHdr(gso_type=0x80, num_buffers=1)),
    ("gso-size-huge", "gso_size 0xffff", NetHdr(gso_size=0xFFFF, num_buffers=1)),
    ("csum-start-beyond", "NEEDS_CSUM, csum_start 0xffff", NetHdr(
        flags=1, csum_start=0xFFFF, num_buffers=1)),
    ("csum-offset-beyond", "NEEDS_CSUM, csum_offset 0xffff", NetHdr(
        flags=1, csum_offset=0xFFFF, num_buffers=1)),
    ("flags-unknown", "flags 0xf8", NetHdr(flags=0xF8, num_buffers=1)),
]
for _name, _summary, _hdr in _IGNORED:
    _net_case(_name, f"{_summary}: a field the driver does not use on receive", _hdr,
              reqs=("NET-015",), refuse=False)


# -- shm: a table whose seq is never even ---------------------------------------------------

def _shm_case(name: str, summary: str, seq: Callable[[int], int], torn: bool) -> None:
    def run_case(target: Any) -> Result:
        setup = TableSetup(max_attempts=8)
        rd = side(target, "shm_table_reader", setup)
        run(TableWriter(setup.layout()).update(0, val(1, setup.words)), setup.memory)
        good = rd.read(0)
        require(good == Snapshot(2, val(1, setup.words)), "a read of a stable slot first")
        setup.memory.write(setup.seq_addr(0), 4, seq(good.version))
        if torn:
            for k in range(setup.words):
                setup.memory.write(setup.word_addr(0, k), 4, 0xBAD00000 + k)
        before = snapshot(setup)
        err = busy(lambda: rd.read(0), good, summary)
        check_untouched(setup, before, "the busy read", inside_req="SHM-TABLE-001")
        return Result(Outcome.REJECT, f"{summary}: busy, last good value kept: {err}")

    case(f"hostile.device.shm.{name}", ("SHM-TABLE-011",), "driver", "hostile",
         summary, budget=5.0)(run_case)


# name, the same with the words half-written, what seq is, seq from the last good value
_SEQS: list[tuple[str, str, str, Callable[[int], int]]] = [
    ("seq-next-odd", "seq-next-odd-torn", "seq one past the last good value", lambda v: v + 1),
    ("seq-odd-behind", "seq-odd-behind-torn", "seq odd and behind the last good value",
     lambda v: v - 1),
    ("seq-1", "seq-1-torn", "seq 1", lambda v: 1),
    ("seq-7fffffff", "seq-7fffffff-torn", "seq 0x7fffffff", lambda v: 0x7FFFFFFF),
    ("seq-ffffffff", "seq-ffffffff-torn", "seq 0xffffffff (odd at the wrap)",
     lambda v: 0xFFFFFFFF),
    ("seq-far-odd", "seq-far-odd-torn", "seq 0x12345679", lambda v: 0x12345679),
]
for _name, _torn_name, _summary, _seq in _SEQS:
    _shm_case(_name, f"{_summary}, never made even", _seq, False)
    _shm_case(_torn_name, f"{_summary}, never made even, words half-written", _seq, True)


# -- pci: a configuration generation that never settles -------------------------------------

def _pci_case(name: str, summary: str, step: int) -> None:
    def run_case(target: object) -> Result:
        _reference_driver(target, "virtio-pci")
        from virtiospec.conformance.suites.virtio_pci.session import ReferenceSession, net_driver
        from virtiospec.reference.virtio_pci import VirtioPciDevice
        from virtiospec.reference.virtio_pci.transport import GENERATION_TRIES

        class Restless(VirtioPciDevice):
            reads = 0

            def common_read(self, reg: str) -> int:
                if reg == "config_generation":
                    Restless.reads += 1
                    return (Restless.reads * step) & 0xFF
                return super().common_read(reg)

        s = ReferenceSession(Restless)
        drv = net_driver(s)
        drv.negotiate()
        res = expect_reject(drv.read_mac, {"VIRTIO-PCI-051"}, summary)
        if Restless.reads > 2 * GENERATION_TRIES:
            raise CaseFailed(f"{summary}: {Restless.reads} generation reads before giving up",
                             expected="a bounded loop", observed=str(Restless.reads))
        return res

    case(f"hostile.device.pci.{name}", ("VIRTIO-PCI-051",), "driver", "hostile",
         summary, budget=5.0)(run_case)


for _step, _name in ((1, "generation-counts-up"), (0xFF, "generation-counts-down"),
                     (0x80, "generation-flips"), (3, "generation-odd-steps")):
    _pci_case(_name, f"config_generation changes on every read ({_name})", _step)


# -- shm: pending without data (the clock's driver, SHM-TABLE-012) -------------------------

def _clock_case(name: str, summary: str, pending: int, table: str, rounds: int = 1) -> None:
    def run_case(target: Any) -> Result:
        setup = ClockSetup()
        drv = stepped(target, side(target, "shm_clock_driver", setup), SteppedClockDriver,
                      "clock driver")
        dev = ClockDevice(setup.layout())
        tbl = setup.table()
        last: int | None = None
        if table != "never":
            run(dev.publish(1 << 33), setup.memory)
            last = Stepper(drv.service_op(), setup, tbl.read_budget(), "service").finish()
            require(last == 1 << 33, "an honest publication is acted on first", hex(1 << 33),
                    str(last))
        if table == "odd":
            setup.memory.write(tbl.seq_addr(0), 4, tbl.seq(0) + 1)
        sig = setup.signal()
        for k in range(rounds):
            setup.memory.write(sig.pending_addr, 4, pending)
            st = Stepper(drv.service_op(), setup, tbl.read_budget(), "service")
            try:
                got = st.finish()
            except Exception as err:
                require(getattr(err, "req", None) == "SHM-TABLE-011", f"{summary}: a service "
                        "that fails does so as a busy table", "SHM-TABLE-011", repr(err))
                got = None
            require(got is None, f"{summary} (round {k}): no time out of a signal without "
                    "data", "None", str(got))
            require(setup.memory.read(sig.pending_addr, 4) == 0, f"{summary}: pending "
                    "acknowledged (stored 0)", "0", hex(setup.memory.read(sig.pending_addr, 4)))
            stores = {a.addr for a in st.accesses if isinstance(a, Store)}
            require(stores <= {sig.pending_addr, sig.enabled_addr}, f"{summary}: the driver "
                    "stores only to its signal words", str(sorted(map(hex, stores))))
        return Result(Outcome.REJECT, f"{summary}: {rounds} signal(s), nothing acted on")

    case(f"hostile.device.shm.{name}", ("SHM-TABLE-012", "SHM-SIGNAL-005"), "driver",
         "hostile", summary, budget=5.0)(run_case)


_TABLES = {"never": "a table never published",
           "unchanged": "a table unchanged since the last service",
           "odd": "a table whose seq stays odd"}
for _name, _pend, _table in (
        ("clock-pending-never", 1, "never"),
        ("clock-pending-unchanged", 1, "unchanged"),
        ("clock-pending-odd", 1, "odd"),
        ("clock-pending-ffffffff-never", 0xFFFFFFFF, "never"),
        ("clock-pending-ffffffff-unchanged", 0xFFFFFFFF, "unchanged"),
        ("clock-pending-ffffffff-odd", 0xFFFFFFFF, "odd"),
        ("clock-pending-sign-bit-never", 0x80000000, "never"),
        ("clock-pending-sign-bit-unchanged", 0x80000000, "unchanged"),
        ("clock-pending-sign-bit-odd", 0x80000000, "odd")):
    _clock_case(_name, f"pending {_pend:#x} with {_TABLES[_table]}", _pend, _table)
_clock_case("clock-pending-storm", "pending set 100 times with nothing published", 1,
            "unchanged", rounds=100)
