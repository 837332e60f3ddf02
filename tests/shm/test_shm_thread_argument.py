"""The 2009 thread's argument, measured: "time is now X", later "time is now Y".

The same clock updates go to a lagging driver twice: through a split ring (reference/ring, the
device filling driver-posted buffers, as a virtio device sends events) and through the shm
table (reference/shm/clock.py). On the ring X and Y are both in flight and the driver processes
X although Y was already published; through the table it never does (SHM-TABLE-009,
SHM-CLOCK-003). docs/shm.md quotes these numbers.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from virtiospec.reference.access import GuestMemory, run
from virtiospec.reference.ring import SplitDevice, SplitDriver, SplitLayout
from virtiospec.reference.shm import ClockDevice, ClockDriver, ClockLayout, Region

TICKS = 240
Q = 8
DATA = 0x8000


@dataclass
class Outcome:
    processed: int = 0  # times the driver acted on
    stale: int = 0  # of which a newer time had already been published
    dropped: int = 0  # times the device could not publish (no buffer: ring only)
    behind: int = 0  # after each service: ticks between the driver's time and the newest

    def row(self) -> tuple[int, int, int, int]:
        return self.processed, self.stale, self.dropped, self.behind


def times() -> list[int]:
    return [1_000_000 * k + 999 for k in range(1, TICKS + 1)]


def through_ring(lag: int) -> Outcome:
    """The device pops a driver-posted 8-byte buffer per tick and writes the time into it;
    every ``lag`` ticks the driver takes back every used buffer, in order, acts on each time
    and posts the buffer again."""
    mem = GuestMemory(0x10000)
    lay = SplitLayout.packed_at(0x1000, Q)
    drv, dev = SplitDriver(lay), SplitDevice(lay, mem.size)
    run(drv.init(), mem)
    run(dev.init(), mem)
    for n in range(Q):
        run(drv.add([], [(DATA + 8 * n, 8)], n), mem)
    out, now, mine = Outcome(), 0, 0
    for k, t in enumerate(times(), 1):
        now = t
        chain = run(dev.pop(), mem)
        if chain is None:
            out.dropped += 1
        else:
            run(dev.write_chain(chain, t.to_bytes(8, "little")), mem)
            run(dev.push([(chain.head, 8)]), mem)
        if k % lag == 0 or k == TICKS:
            while (got := run(drv.get_used(), mem)) is not None:
                token, _ = got
                assert isinstance(token, int)
                mine = mem.read(DATA + 8 * token, 8)
                out.processed += 1
                out.stale += mine < now
                run(drv.add([], [(DATA + 8 * token, 8)], token), mem)
            out.behind += (now - mine) // 1_000_000
    return out


def through_table(lag: int) -> Outcome:
    """The device publishes every tick in the clock's table; every ``lag`` ticks the driver
    services the clock."""
    mem = GuestMemory(0x10000)
    lay = ClockLayout(Region(0, 0x1000, 0x100), 0)
    dev, drv = ClockDevice(lay), ClockDriver(lay)
    run(dev.init(), mem)
    out = Outcome()
    for k, t in enumerate(times(), 1):
        run(dev.publish(t), mem)
        if k % lag == 0 or k == TICKS:
            acted = run(drv.service(), mem)
            if acted is not None:
                out.processed += 1
                out.stale += acted < dev.now
            assert drv.now is not None
            out.behind += (dev.now - drv.now) // 1_000_000
    return out


LAGS = (1, 2, 4, 8, 16)


@pytest.mark.req("SHM-TABLE-009", "SHM-CLOCK-003", "SHM-TABLE-002")
@pytest.mark.parametrize("lag", LAGS)
def test_a_lagging_reader_processes_stale_times_on_a_ring_and_never_on_the_table(
        lag: int) -> None:
    ring, table = through_ring(lag), through_table(lag)
    # the table: one action per service, never stale, never behind after a service
    assert table.row() == (TICKS // lag + (TICKS % lag != 0), 0, 0, 0)
    # the ring: every time is processed; all but the newest of each batch were stale
    if lag <= Q:
        assert ring.processed == TICKS and ring.dropped == 0 and ring.behind == 0
        assert ring.stale == TICKS - TICKS // lag
    else:  # the queue fills: the newest times are the ones that cannot be published
        assert ring.dropped > 0 and ring.behind > 0 and ring.stale == ring.processed
    assert (ring.stale > 0) == (lag > 1)


def test_measurements_for_the_docs() -> None:
    """The table in docs/shm.md (run with -s to print it)."""
    rows = [(lag, through_ring(lag).row(), through_table(lag).row()) for lag in LAGS]
    for lag, r, t in rows:
        print(f"| {lag:>3} | {r[0]:>4} | {r[1]:>4} | {r[2]:>4} | {r[3]:>4} "
              f"| {t[0]:>4} | {t[1]:>4} | {t[3]:>4} |")
    assert rows[2] == (4, (240, 180, 0, 0), (60, 0, 0, 0))
    assert rows[4] == (16, (120, 120, 120, 120), (15, 0, 0, 0))
