"""Faults with exactly-once accounting: a Hypothesis machine over the reference rings.

The driver (:class:`SplitDriver` / :class:`PackedDriver`) and the device
(:class:`SplitDevice` / :class:`PackedDevice`), or the C references' sides with the same
interface (``ring.faults.c.*``: ring.c and ring_packed.c, stepped), run whole operations
against one :class:`GuestMemory`, woken by notifications that travel through a channel the
machine controls. Besides traffic (adding chains, the device popping and pushing, the driver
taking used buffers back, in any order and amounts), the machine injects faults:

* a **device reset** at any point of traffic: between two operations (chains available and
  not popped, popped and not used, used and not taken back, notifications in flight), or,
  with the Python sides, a number of accesses into the device pushing what it holds (part
  of it published) or into the driver adding a chain (not yet published). The
  driver recovers as VIRTIO-CLEANUP-001 and NET-062 ask: it first takes back what the device
  had made used (those buffers come back with the ``len`` the device wrote), then detaches
  every buffer still outstanding, and sets the queue up again from scratch;
* a notification (kick or interrupt) **dropped** or **delivered twice**;
* one side **stalled** for a while: notifications for it wait, the other side goes on (a
  stalled device fills the queue: the driver gets QueueFull and keeps the buffer).

A dropped notification is recovered by the driver's timer (a watchdog that takes used
buffers back and kicks), as a real driver's transmit timeout does; the spec's notifications
are reliable, so this is the recovery of a transport fault, not a protocol rule.

Every hand-back and every use by the device is checked against the ledger of RING-SPLIT-092
(RING-PACKED-092), and so is the end of a run (the stalls end, every notification is
delivered, the watchdog fires once, the device finishes the work it holds): every buffer
made available comes back exactly once (used, with the ``len`` the device wrote, or detached
at a reset), none is handed back that was not made available, none comes back as used that
the device did not use, none the device used comes back as detached, and the device uses
no head it did not take from the ring.
Any RingError in such a run is a violation of the requirement it names.

The known-bad variants (models/ring/faults_mutants.py) break one of these recoveries each.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st
from hypothesis.stateful import precondition, rule, run_state_machine_as_test
from virtiospec.models import registry
from virtiospec.models.hypothesis_run import (
    RunRecord,
    Violation,
    hypothesis_settings,
    run_hypothesis,
)
from virtiospec.models.ring.faults_mid import DATA, MEM, MidOperationResets
from virtiospec.reference.access import GuestMemory, run
from virtiospec.reference.ring import SplitDevice, SplitDriver
from virtiospec.reference.ring.device import Chain
from virtiospec.reference.ring.errors import QueueFull, RingError
from virtiospec.reference.ring.layout import SplitLayout
from virtiospec.reference.ring.packed.device import PackedDevice
from virtiospec.reference.ring.packed.driver import PackedDriver
from virtiospec.reference.ring.packed.layout import PackedLayout

REQS = ("RING-SPLIT-092", "RING-SPLIT-090", "RING-SPLIT-085", "VIRTIO-CLEANUP-001")
PACKED_REQS = ("RING-PACKED-092", "RING-PACKED-090", "RING-PACKED-086", "VIRTIO-CLEANUP-001")


@dataclass(frozen=True)
class FaultConfig:
    q: int = 4
    event_idx: bool = False
    packed: bool = False
    # None: the Python reference; the C references (ring_c_stepped, ring_packed_c_stepped)
    # have the same interface
    driver_cls: type[Any] | None = None
    device_cls: type[Any] | None = None
    recovery: str = "reference"  # see FaultMachine._recover
    watchdog: bool = True
    steps: int = 60


class FaultMachine(MidOperationResets):
    """The machine (see the module's text); the resets in the middle of an operation are
    models/ring/faults_mid.py's."""

    cfg: FaultConfig = FaultConfig()
    record: RunRecord = RunRecord()

    def __init__(self) -> None:
        super().__init__()
        c = self.cfg
        self.mem = GuestMemory(MEM)
        self.lay: SplitLayout | PackedLayout = (PackedLayout.packed_at(0, c.q) if c.packed
                                                 else SplitLayout.packed_at(0, c.q))
        self.driver_cls: type[Any] = c.driver_cls or (PackedDriver if c.packed else SplitDriver)
        self.device_cls: type[Any] = c.device_cls or (PackedDevice if c.packed else SplitDevice)
        self.python_sides = (issubclass(self.driver_cls, (SplitDriver, PackedDriver))
                             and issubclass(self.device_cls, (SplitDevice, PackedDevice)))
        self.req = "RING-PACKED-092" if c.packed else "RING-SPLIT-092"
        self.log: list[registry.Step] = [registry.Step(
            "env", f"{'packed' if c.packed else 'split'} Q={c.q}, "
            f"{'EVENT_IDX' if c.event_idx else 'flags'}, driver "
            f"{self.driver_cls.__name__}, device {self.device_cls.__name__}, "
            f"recovery {c.recovery}, "
            f"watchdog {'on' if c.watchdog else 'off'}")]
        self._setup()
        self.kicks = self.irqs = 0  # notifications in flight
        self.stall_dev = self.stall_drv = 0  # operations the side sits out
        self.next_token = 0
        self.by_head: dict[int, int] = {}  # the machine's copy: head -> token outstanding
        self.made_available: set[int] = set()
        self.device_used: dict[int, int] = {}  # token -> len the device wrote
        self.returned: dict[int, str] = {}  # token -> "used" / "detached"
        self.held: list[Chain] = []  # popped by the device, not yet used
        self.steps = 0
        self.failed = False
        type(self).record.examples += 1

    def _setup(self) -> None:
        c = self.cfg
        self.drv: Any = self.driver_cls(self.lay, event_idx=c.event_idx)
        run(self.drv.init(), self.mem)
        self.dev: Any = self.device_cls(self.lay, MEM, event_idx=c.event_idx)
        run(self.dev.init(), self.mem)

    # -- bookkeeping ---------------------------------------------------------------------
    def _note(self, side: str, action: str) -> None:
        self.log.append(registry.Step(side, action, {
            "outstanding": sorted(self.by_head.values()), "held": [c.head for c in self.held],
            "kicks": self.kicks, "irqs": self.irqs}))

    def _count(self, key: str) -> None:
        type(self).record.count(key)

    def _tick(self) -> None:
        self.steps += 1
        self.stall_dev = max(0, self.stall_dev - 1)
        self.stall_drv = max(0, self.stall_drv - 1)

    def _fail(self, req: str, msg: str) -> Violation:
        self.failed = True
        self._note("env", f"VIOLATION {req}: {msg}")
        self._flush()
        return Violation(req, msg)

    def _flush(self) -> None:
        rec = type(self).record
        rec.trace = self.log
        rec.steps += self.steps
        self.steps = 0

    def _guard(self, fn: Callable[[], object]) -> object:
        try:
            return fn()
        except QueueFull:
            raise
        except RingError as err:
            raise self._fail(err.req, f"{type(err).__name__} in a run of honest sides: "
                             f"{err}") from None

    def _give_back(self, token: object, how: str, length: int = 0) -> None:
        """The driver hands ``token`` back to its owner: the ledger of RING-SPLIT-092."""
        assert isinstance(token, int)
        self._note("driver", f"hands back t{token} ({how}"
                   f"{f', len {length}' if how == 'used' else ''})")
        if token not in self.made_available:
            raise self._fail(self.req, f"t{token} handed back, never made available")
        if token in self.returned:
            raise self._fail(self.req, f"t{token} handed back twice ({self.returned[token]}"
                             f", then {how})")
        if how == "used":
            if token not in self.device_used:
                raise self._fail(self.req, f"t{token} handed back as used, the device "
                                 "never used it")
            if length != self.device_used[token]:
                raise self._fail(self.req, f"t{token} comes back with len {length}, "
                                 f"the device wrote {self.device_used[token]}")
        elif token in self.device_used:
            raise self._fail("VIRTIO-CLEANUP-001", f"t{token} was used by the device but "
                             "handed back as detached: its len is lost")
        self.returned[token] = how
        self._count(f"handed back {how}")
        for h, t in list(self.by_head.items()):
            if t == token:
                del self.by_head[h]

    # -- the two sides' operations -------------------------------------------------------
    def _harvest(self) -> None:
        while True:
            got = self._guard(lambda: run(self.drv.get_used(), self.mem))
            if got is None:
                break
            assert isinstance(got, tuple)
            self._give_back(got[0], "used", int(got[1]))

    def _driver_service(self) -> None:
        """An interrupt: take every used buffer back, re-enable and re-check (RING-SPLIT-073)."""
        while True:
            self._harvest()
            if not self._guard(lambda: run(self.drv.enable_cb(), self.mem)):
                return

    def _pop(self, limit: int) -> None:
        for _ in range(limit):
            chain = self._guard(lambda: run(self.dev.pop(), self.mem))
            if chain is None:
                return
            assert isinstance(chain, Chain)
            if chain.head not in self.by_head:
                raise self._fail(self.req, f"the device took head {chain.head}, which "
                                 "holds no buffer made available")
            self._note("device", f"pops head {chain.head} (t{self.by_head[chain.head]})")
            self.held.append(chain)

    def _push(self, limit: int) -> None:
        batch, self.held = self.held[:limit], self.held[limit:]
        if not batch:
            return
        used = [(c.head, min(c.writable_len, 8)) for c in batch]
        for head, length in used:
            token = self.by_head.get(head)
            if token is None or token in self.device_used:
                raise self._fail(self.req, f"the device uses head {head} "
                                 f"({'no buffer' if token is None else f't{token}, again'})")
            self.device_used[token] = length
        self._guard(lambda: run(self.dev.push(used), self.mem))
        self._note("device", f"pushes {used}")
        if self._guard(lambda: run(self.dev.should_notify(), self.mem)):
            self.irqs += 1
            self._note("device", "sends an interrupt")

    def _device_service(self) -> None:
        """A kick: with kicks off, take and use everything, then re-enable and re-check
        (RING-SPLIT-072)."""
        note = getattr(self.dev, "note_kick", None)
        if note is not None:
            note()
        while True:
            self._guard(lambda: run(self.dev.disable_notify(), self.mem))
            self._pop(self.cfg.q)
            self._push(len(self.held))
            if not self._guard(lambda: run(self.dev.enable_notify(), self.mem)):
                return

    # -- traffic -------------------------------------------------------------------------
    @precondition(lambda m: m.stall_drv == 0)
    @rule(shapes=st.lists(st.tuples(st.integers(0, 2), st.integers(0, 2)), min_size=1,
                          max_size=3))
    def add(self, shapes: list[tuple[int, int]]) -> None:
        """The driver adds a few chains (``shapes``: readable and writable buffers of each),
        deciding whether to kick after the batch (RING-SPLIT-062)."""
        self._tick()
        for n_out, n_in in shapes:
            self._add_one(n_out, n_in)
        if self._guard(lambda: run(self.drv.kick_prepare(), self.mem)):
            self.kicks += 1
            self._note("driver", "kicks")

    def _add_one(self, n_out: int, n_in: int) -> None:
        if n_out + n_in == 0:
            n_in = 1
        token = self.next_token
        self.next_token += 1
        base = DATA + 64 * (token % 900)
        out = [(base + 16 * k, 16) for k in range(n_out)]
        in_ = [(base + 16 * (n_out + k), 16) for k in range(n_in)]
        try:
            head = self._guard(lambda: run(self.drv.add(out, in_, token), self.mem))
        except QueueFull:
            self._count("queue full")
            self._note("driver", f"queue full: t{token} stays with its owner")
            return
        assert isinstance(head, int)
        self.by_head[head] = token
        self.made_available.add(token)
        self._note("driver", f"adds t{token} at head {head}")

    @precondition(lambda m: m.kicks > 0 and m.stall_dev == 0)
    @rule()
    def deliver_kick(self) -> None:
        self._tick()
        self.kicks -= 1
        self._note("env", "kick delivered")
        self._device_service()

    @precondition(lambda m: m.irqs > 0 and m.stall_drv == 0)
    @rule()
    def deliver_irq(self) -> None:
        self._tick()
        self.irqs -= 1
        self._note("env", "interrupt delivered")
        self._driver_service()

    @precondition(lambda m: m.stall_dev == 0)
    @rule(k=st.integers(1, 3))
    def device_pops(self, k: int) -> None:
        """The device polls and takes up to k chains, keeping them for a while."""
        self._tick()
        self._pop(k)

    @precondition(lambda m: m.stall_dev == 0 and bool(m.held))
    @rule(k=st.integers(1, 3))
    def device_pushes(self, k: int) -> None:
        self._tick()
        self._push(k)

    @precondition(lambda m: m.stall_drv == 0)
    @rule()
    def driver_polls(self) -> None:
        self._tick()
        self._harvest()

    # -- faults --------------------------------------------------------------------------
    @precondition(lambda m: m.kicks > 0)
    @rule(double=st.booleans())
    def kick_fault(self, double: bool) -> None:
        self._tick()
        self.kicks += 1 if double else -1
        self._count("kick doubled" if double else "kick dropped")
        self._note("env", f"FAULT: a kick {'delivered twice' if double else 'dropped'}")

    @precondition(lambda m: m.irqs > 0)
    @rule(double=st.booleans())
    def irq_fault(self, double: bool) -> None:
        self._tick()
        self.irqs += 1 if double else -1
        self._count("interrupt doubled" if double else "interrupt dropped")
        self._note("env", f"FAULT: an interrupt {'delivered twice' if double else 'dropped'}")

    @precondition(lambda m: m.stall_dev == 0 and m.stall_drv == 0)
    @rule(device=st.booleans(), k=st.integers(1, 8))
    def stall(self, device: bool, k: int) -> None:
        self._tick()
        self._count("stall")
        if device:
            self.stall_dev = k
        else:
            self.stall_drv = k
        self._note("env", f"FAULT: the {'device' if device else 'driver'} stalls for {k} steps")

    @precondition(lambda m: m.cfg.watchdog and m.stall_drv == 0)
    @rule()
    def watchdog(self) -> None:
        self._tick()
        self._note("driver", "timer: take used buffers back and kick")
        self._watchdog()

    def _watchdog(self) -> None:
        self._harvest()
        self.kicks += 1

    @precondition(lambda m: bool(m.by_head))
    @rule()
    def reset(self) -> None:
        self._tick()
        self._count("reset")
        self._note("env", "FAULT: device reset")
        self._recover()

    def _recover(self) -> None:
        """The device forgot everything; the driver recovers (``cfg.recovery``)."""
        self.held = []
        self.kicks = self.irqs = 0
        how = self.cfg.recovery
        if how == "keep-outstanding":  # BUG: trusts the reset device to use them still
            old = self.drv
            self._setup()
            if self.cfg.packed:
                self.drv.ids = old.ids
                self.drv.free_ids = [i for i in range(self.cfg.q) if i not in old.ids]
                self.drv.free_descs = self.cfg.q - sum(o.ndesc for o in old.ids.values())
            else:
                self.drv.chains = old.chains
                self.drv.free = [i for i in range(self.cfg.q)
                                 if all(i not in c.descs for c in old.chains.values())]
            return
        if how != "detach-used":  # NET-062: first what the device had used
            self._harvest()
        detached = self.drv.detach_unused()
        if how != "forget-detached":  # BUG when it does: those tokens are never handed back
            for token in detached:
                self._give_back(token, "detached")
        self.by_head.clear()
        self._setup()

    # -- checks ----------------------------------------------------------------------------
    def teardown(self) -> None:
        try:
            if not self.failed:
                self._finale()
        finally:
            self._flush()

    def _finale(self) -> None:
        """Stalls end, every notification is delivered, the device finishes the work it
        holds, the watchdog fires once: then nothing may be missing."""
        self.stall_dev = self.stall_drv = 0
        self._note("env", "end of run: stalls end, notifications delivered")
        for round_ in range(2):
            if self.held:
                self._push(len(self.held))
            for _ in range(1000):
                if self.kicks:
                    self.deliver_kick()
                elif self.irqs:
                    self.deliver_irq()
                else:
                    break
            if round_ == 0 and self.cfg.watchdog:
                self._note("driver", "end of run: the timer fires")
                self._watchdog()
        missing = sorted(self.made_available - set(self.returned))
        if missing:
            raise self._fail(self.req, "buffers made available never handed back: "
                             + ", ".join(f"t{t}" for t in missing))


def run_faults(cfg: FaultConfig, max_examples: int, *, derandomize: bool = False,
               shrink_seconds: float | None = None) -> registry.Evidence:
    record = RunRecord()
    cls: type[FaultMachine] = type("FaultRun", (FaultMachine,), {"cfg": cfg, "record": record})
    s = hypothesis_settings(max_examples, steps=cfg.steps, derandomize=derandomize)
    return run_hypothesis(lambda: run_state_machine_as_test(cls, settings=s), record,
                          shrink_seconds=shrink_seconds)


@registry.check("ring.faults.split", REQS,
                "split ring under device resets, dropped and doubled notifications and "
                "stalls: every buffer handed back exactly once (flag suppression)")
def check_faults(n: int) -> registry.Evidence:
    return run_faults(FaultConfig(), n)


@registry.check("ring.faults.split.event_idx", REQS,
                "the same under VIRTIO_F_EVENT_IDX suppression")
def check_faults_event_idx(n: int) -> registry.Evidence:
    return run_faults(FaultConfig(event_idx=True), n)


@registry.check("ring.faults.packed", PACKED_REQS,
                "packed ring under device resets, dropped and doubled notifications and "
                "stalls: every buffer handed back exactly once (ENABLE/DISABLE suppression)")
def check_faults_packed(n: int) -> registry.Evidence:
    return run_faults(FaultConfig(packed=True), n)


@registry.check("ring.faults.packed.event_idx", PACKED_REQS,
                "the same under VIRTIO_F_EVENT_IDX (DESC) suppression")
def check_faults_packed_event_idx(n: int) -> registry.Evidence:
    return run_faults(FaultConfig(packed=True, event_idx=True), n)


def _c_sides(packed: bool) -> tuple[type[Any], type[Any]]:
    """The C references' sides (imported here: their stepped builds load on first use)."""
    if packed:
        from virtiospec.reference.ring.c.packed_stepped import CPackedDevice, CPackedDriver

        return CPackedDriver, CPackedDevice
    from virtiospec.reference.ring.c.stepped import CSplitDevice, CSplitDriver

    return CSplitDriver, CSplitDevice


@registry.check("ring.faults.c.split", REQS,
                "the C split ring (ring.c, both sides) under the same faults and ledger")
def check_faults_c_split(n: int) -> registry.Evidence:
    drv, dev = _c_sides(False)
    return run_faults(FaultConfig(driver_cls=drv, device_cls=dev), n)


@registry.check("ring.faults.c.packed", PACKED_REQS,
                "the C packed ring (ring_packed.c, both sides) under the same faults and ledger")
def check_faults_c_packed(n: int) -> registry.Evidence:
    drv, dev = _c_sides(True)
    return run_faults(FaultConfig(packed=True, driver_cls=drv, device_cls=dev), n)
