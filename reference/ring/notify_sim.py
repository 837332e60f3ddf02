"""Notifications of the ring benchmark's loops, counted on a virtual clock.

``virtiospec bench ring`` counts notifications on two real threads, so its counts depend on
how fast each side happens to be on the machine of the day. This module runs the same two
loops with ring.c itself (its C ABI, the installed ``virtiospec.reference.ring.c._ring``) and a
fixed cost for every operation, one side at a time on a virtual clock: the same costs give
the same counts on every machine, so the cause of a notification count can be shown.

The loops are those of reference/ring/c/ring_threads.c (``--interleave``), which are ringtest's:

* driver: add one buffer, take back one used buffer, again while either succeeds; decide on
  a kick after every ``batch`` buffers added; when neither succeeds, re-enable interrupts
  (``enable_cb``, or ``enable_cb_delayed``), re-check, sleep until the interrupt; callbacks
  disabled (``disable_cb``) while busy;
* device: pop, push, decide on an interrupt (``should_notify``) after every buffer; when
  nothing is available, re-enable kicks (``enable_notify``), re-check, sleep until the kick.

A notification costs the notifier ``exit`` and reaches a sleeping peer ``wake`` later; a
side that sleeps pays ``exit`` when it goes to sleep and when it wakes (ringtest's
vmexit / vmentry). No time is measured: the clock is the sum of the costs.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from typing import Literal

Reenable = Literal["next", "delayed"]
Action = tuple[str, int]  # ("cost", n) | ("notify", fd) | ("wait", fd)
KICK, INTR = 0, 1


@dataclass(frozen=True)
class Costs:
    """Virtual cycles of each operation."""

    add: int = 55          # driver: make one buffer available
    get: int = 45          # driver: take back one used buffer (or find none)
    enable: int = 30       # either side: re-enable, mb, re-check
    device: int = 230      # device: pop, validate, push one buffer (or find none: device / 4)
    exit: int = 500        # around each notification and each sleep (ringtest's VMEXIT_CYCLES)
    wake: int = 6000       # from a notification to the sleeper running again


@dataclass
class SimResult:
    buffers: int
    kicks: int
    interrupts: int
    driver_sleeps: int
    device_sleeps: int

    @property
    def per_buffer(self) -> float:
        return (self.kicks + self.interrupts) / self.buffers


class _Ring:
    """ring.c's driver and device over one memory, through the C ABI."""

    def __init__(self, q: int) -> None:
        from virtiospec.reference.ring.c._ring import ffi, lib

        self.ffi, self.lib = ffi, lib
        desc, avail = 0, 16 * q
        used = (avail + 6 + 2 * q + 3) & ~3
        size = (used + 6 + 8 * q + 4095) & ~4095
        self.mem = ffi.new("uint64_t[]", size // 8 + 8 * q + 8)  # rings, then the buffers
        self.buf0 = size
        cfg = ffi.new("struct virtiospec_ring_config *")
        cfg.queue_size, cfg.features = q, lib.VIRTIOSPEC_RING_F_EVENT_IDX
        cfg.desc, cfg.avail, cfg.used = desc, avail, used
        msize = ffi.sizeof(self.mem)
        self.drv = ffi.new("uint64_t[]", lib.virtiospec_ring_driver_state_size(q) // 8 + 1)
        self.dev = ffi.new("uint64_t[]", lib.virtiospec_ring_device_state_size(q) // 8 + 1)
        for create, st in ((lib.virtiospec_ring_driver_create, self.drv),
                           (lib.virtiospec_ring_device_create, self.dev)):
            rc = create(st, ffi.sizeof(st), self.mem, msize, cfg)
            if rc != 0:
                raise RuntimeError(f"ring.c create: error {-rc}")
        lib.virtiospec_ring_driver_init(self.drv)
        lib.virtiospec_ring_device_init(self.dev)
        self.seg = ffi.new("struct virtiospec_ring_segment *")
        self.segs = ffi.new("struct virtiospec_ring_segment[]", q)
        self.head = ffi.new("uint16_t *")
        self.nr, self.nw = ffi.new("uint32_t *"), ffi.new("uint32_t *")
        self.used = ffi.new("struct virtiospec_ring_used_elem *")
        self.token, self.len = ffi.new("uint64_t *"), ffi.new("uint32_t *")
        self.q = q

    def call(self, name: str, *args: object) -> int:
        rc = int(getattr(self.lib, f"virtiospec_ring_{name}")(*args))
        if rc < 0:
            raise RuntimeError(f"ring.c {name}: error {-rc}")
        return rc


def _driver(r: _Ring, batch: int, buffers: int, reenable: Reenable, c: Costs,
            stats: dict[str, int]) -> Generator[Action, None, None]:
    started = completed = unkicked = 0
    d = r.drv

    def kick() -> Generator[Action, None, None]:
        nonlocal unkicked
        unkicked = 0
        if r.call("driver_kick_prepare", d):
            yield ("notify", KICK)
            yield ("cost", c.exit)

    r.call("driver_disable_cb", d)
    while True:
        progress = False
        if started < buffers and started - completed < r.q:
            yield ("cost", c.add)  # each operation takes effect at the end of its cost
            r.seg.addr, r.seg.len = r.buf0 + 8 * (started % r.q), 8
            r.call("driver_add", d, r.ffi.NULL, 0, r.seg, 1, started)
            started += 1
            unkicked += 1
            progress = True
            if unkicked == batch:
                yield from kick()
        yield ("cost", c.get)
        if r.call("driver_get_used", d, r.token, r.len):
            if r.token[0] != completed:
                raise RuntimeError(f"buffer {r.token[0]} came back where {completed} was due")
            completed += 1
            progress = True
        if completed == buffers:
            return
        if progress:
            continue
        if unkicked and unkicked >= started - completed:
            yield from kick()
            continue
        name = "driver_enable_cb_delayed" if reenable == "delayed" else "driver_enable_cb"
        yield ("cost", c.enable)
        if r.call(name, d):
            r.call("driver_disable_cb", d)
            continue
        stats["driver_sleeps"] += 1
        yield ("cost", c.exit)
        yield ("wait", INTR)
        yield ("cost", c.exit)
        r.call("driver_disable_cb", d)


def _device(r: _Ring, c: Costs, stats: dict[str, int]) -> Generator[Action, None, None]:
    v = r.dev
    r.call("device_disable_notify", v)
    while True:
        if r.call("device_pop", v, r.head, r.segs, r.q, r.nr, r.nw):
            yield ("cost", c.device)
            r.used.id, r.used.len = r.head[0], 0
            r.call("device_push", v, r.used, 1)
            if r.call("device_should_notify", v):
                yield ("notify", INTR)
                yield ("cost", c.exit)
            continue
        yield ("cost", c.enable)
        if r.call("device_enable_notify", v):
            r.call("device_disable_notify", v)
            continue
        stats["device_sleeps"] += 1
        yield ("cost", c.exit)
        yield ("wait", KICK)
        yield ("cost", c.exit)
        r.call("device_disable_notify", v)


def simulate(*, batch: int, reenable: Reenable = "next", buffers: int = 100_000,
             queue_size: int = 256, costs: Costs | None = None) -> SimResult:
    """Run the driver's and the device's loops over ring.c until ``buffers`` came back;
    every step is taken by the side whose clock is behind (the driver on a tie)."""
    c = costs or Costs()
    r = _Ring(queue_size)
    stats = {"driver_sleeps": 0, "device_sleeps": 0}
    sides = [_driver(r, batch, buffers, reenable, c, stats), _device(r, c, stats)]
    clock = [0, 0]
    waiting: list[int | None] = [None, None]  # the eventfd a side sleeps on
    pending = [0, 0]                          # eventfd counters: KICK, INTR
    sent = [0, 0]
    while True:
        runnable = [i for i in (0, 1) if waiting[i] is None]
        if not runnable:
            raise RuntimeError("both sides asleep, nothing pending: a lost wakeup")
        i = min(runnable, key=lambda s: (clock[s], s))
        try:
            kind, arg = next(sides[i])
        except StopIteration:
            if i == 0:  # the driver took back every buffer
                return SimResult(buffers, sent[KICK], sent[INTR], stats["driver_sleeps"],
                                 stats["device_sleeps"])
            raise
        if kind == "cost":
            clock[i] += arg
        elif kind == "notify":
            sent[arg] += 1
            peer = 1 - i
            if waiting[peer] == arg:
                waiting[peer] = None
                clock[peer] = max(clock[peer], clock[i] + c.wake)
            else:
                pending[arg] += 1
        elif pending[arg]:  # wait: a notification already came; take it
            pending[arg] = 0
        else:
            waiting[i] = arg


def table(batches: tuple[int, ...] = (1, 16, 64), device_costs: tuple[int, ...] = (70, 230),
          buffers: int = 20_000) -> list[str]:
    """One line per (device cost, batch): notifications per buffer, enable_cb vs
    enable_cb_delayed."""
    out = [f"{'device/buffer':>13} {'batch':>5}  {'enable_cb: kicks intr /buffer':>30}  "
           f"{'enable_cb_delayed: kicks intr /buffer':>38}"]
    for dc in device_costs:
        for b in batches:
            cells = []
            hows: tuple[Reenable, ...] = ("next", "delayed")
            for how in hows:
                s = simulate(batch=b, reenable=how, buffers=buffers, costs=Costs(device=dc))
                cells.append(f"{s.kicks / buffers:.5f} {s.interrupts / buffers:.5f} "
                             f"{s.per_buffer:.5f}")
            out.append(f"{dc:>13} {b:>5}  {cells[0]:>30}  {cells[1]:>38}")
    return out


if __name__ == "__main__":
    c = Costs()
    print(f"virtual cycles: driver add {c.add} + get {c.get} per buffer, exit {c.exit}, "
          f"wake {c.wake}; Q=256, 20000 buffers")
    print("\n".join(table()))
