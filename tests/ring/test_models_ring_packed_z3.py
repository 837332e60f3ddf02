"""The Z3 models of the packed virtqueue (models/ring/packed/wrap.py, wrap_ring.py,
wakeup.py, z3_mutants.py): every proof holds, every known-bad variant is refuted with a
counterexample, the lost-wakeup proofs are not vacuous (their states are reachable, each
invariant conjunct is needed, a broken model fails), and the counterexamples replay in the
Python reference, access by access, as lost wakeups. The wrap models' terms and
non-vacuity: test_models_ring_packed_wrap.py."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import pytest
import wakeup_helpers as wh
import z3
from virtiospec.models import registry
from virtiospec.models.memory.tso import SharedMemory, Side
from virtiospec.models.ring.packed import wakeup as wk
from virtiospec.models.ring.packed.mutants import (
    DeviceEventOffByOne,
    DeviceNoMbNotify,
    DeviceNoRecheck,
    DriverNoMbKick,
    DriverNoRecheck,
)
from virtiospec.models.ring.packed.wakeup import AVAIL, DIRECTIONS, USED, Mode, Variant
from virtiospec.models.ring.wakeup_base import C_SLEEP, P_IDLE
from virtiospec.models.z3util import Path, State
from virtiospec.reference.access import Fence, GuestMemory, Op, Store, run
from virtiospec.reference.ring import PackedDevice, PackedDriver, PackedLayout
from virtiospec.reference.ring.packed.driver import PackedDriverLines
from virtiospec.reference.ring.packed.layout import (
    DESC_FLAGS,
    PACKED_DESC_SIZE,
    lap_index,
)


def _proofs() -> list[registry.Proof]:
    return wh.proofs("ring.packed.wrap.", "ring.packed.wakeup.")


def _mutants() -> list[registry.Mutant]:
    return wh.mutants("ring.packed.z3.")


def test_the_expected_entries_are_registered() -> None:
    assert {p.name for p in _proofs()} == {
        *(f"ring.packed.wrap.{n}" for n in ("advance", "window", "once", "outstanding",
                                            "marks", "no_overwrite")),
        *(f"ring.packed.wakeup.{m}.{f}" for m in ("sc", "tso") for f in wh.MODES)}
    assert {m.name for m in _mutants()} == {
        f"ring.packed.z3.{n}" for n in (
            "driver-no-mb-kick", "device-no-mb-notify", "device-no-mb-enable",
            "driver-no-mb-enable", "device-no-recheck", "driver-no-recheck",
            "event-off-by-one", "event-ignores-wrap")}
    for reqs in [p.reqs for p in _proofs()] + [m.reqs for m in _mutants()]:
        assert reqs and all(r.startswith("RING-PACKED-") for r in reqs)


@pytest.mark.req("RING-PACKED-012", "RING-PACKED-015", "RING-PACKED-064", "RING-PACKED-090",
                 "RING-PACKED-110", "RING-PACKED-111")
@pytest.mark.parametrize("proof", _proofs(), ids=lambda p: p.name)
def test_proof_holds(proof: registry.Proof) -> None:
    ev = proof.run()
    assert ev.ok, ev.detail


@pytest.mark.req("RING-PACKED-051", "RING-PACKED-053", "RING-PACKED-064", "RING-PACKED-070",
                 "RING-PACKED-071", "RING-PACKED-110", "RING-PACKED-111")
@pytest.mark.parametrize("mutant", _mutants(), ids=lambda m: m.name)
def test_mutant_is_refuted_with_a_counterexample(mutant: registry.Mutant) -> None:
    wh.assert_refuted_with_a_counterexample(mutant)


# -- not vacuous: the wakeup proofs ----------------------------------------------------------
@pytest.mark.parametrize("mode", wh.MODES)
@pytest.mark.parametrize("roles", DIRECTIONS, ids=lambda r: r.direction)
def test_every_wakeup_invariant_conjunct_is_needed(roles: wk.Roles, mode: Mode) -> None:
    wh.assert_every_conjunct_is_needed(wk.build(roles, mode, tso=True),
                                    wk.invariant(roles, mode, tso=True), wk.safety(True))


@pytest.mark.parametrize("tso", [False, True], ids=["sc", "tso"])
@pytest.mark.parametrize("mode", wh.MODES)
@pytest.mark.parametrize("roles", DIRECTIONS, ids=lambda r: r.direction)
def test_sleep_notification_and_wrap_are_reachable(roles: wk.Roles, mode: Mode,
                                                   tso: bool) -> None:
    wh.reach_sleep_and_notification(wk.WAKEUP, roles, mode, tso, lambda s: s["bL"] != 0)
    # around the ring and back to the consumer, which wakes and catches up: Q = 3
    lapped = wk.reach(roles, mode, tso, lambda s: z3.And(s["L"] == 4, s["P"] == 4),
                      max_depth=60)
    assert lapped is not None
    wh.assert_admitted_asleep(wk.WAKEUP, roles, mode, tso, [
        lambda s: z3.And(s["ppc"] != P_IDLE, s["bL"] == 5, s["Q"] == 7),
        lambda s: z3.And(s["ppc"] == P_IDLE, s["bL"] == 0)])


@pytest.mark.req("RING-PACKED-064")
def test_the_forced_notification_is_reachable() -> None:
    """A device that keeps up with 2Q = 6 lists between two decisions of the driver: the
    driver's decision is forced (passed ≥ 2Q)."""
    path = wk.reach(AVAIL, "event_idx", False, lambda s: s["k"] == 2 * s["Q"], max_depth=40)
    assert path is not None


@pytest.mark.parametrize("tso", [False, True], ids=["sc", "tso"])
@pytest.mark.parametrize("mode", wh.MODES)
def test_the_correct_protocol_has_no_short_counterexample(mode: Mode, tso: bool) -> None:
    for roles in DIRECTIONS:
        assert wk.find_lost_wakeup(roles, mode, tso, wk.CORRECT, max_depth=20) is None


@pytest.mark.req("RING-PACKED-051", "RING-PACKED-053", "RING-PACKED-070", "RING-PACKED-071")
@pytest.mark.parametrize("bug", [Variant(producer_mb=False), Variant(consumer_mb=False)],
                         ids=["producer", "consumer"])
def test_a_missing_mb_is_a_tso_only_bug(bug: Variant) -> None:
    for roles, mode in itertools.product(DIRECTIONS, wh.MODES):
        wh.assert_tso_only(wk.WAKEUP, roles, mode, bug)


@pytest.mark.parametrize(("roles", "bug"), [
    (USED, Variant(window="off_by_one")), (AVAIL, Variant(consumer_recheck=False))],
    ids=["off-by-one", "no-recheck"])
def test_symbolic_bmc_agrees_with_the_search(roles: wk.Roles, bug: Variant) -> None:
    """BMC over every Q finds counterexamples as short as the search's (Q = 3)."""
    wh.bmc_agrees_with_the_search(wk.WAKEUP, roles, "event_idx", False, bug, 12)


# -- counterexamples replayed in the Python reference ------------------------------------------
class DriverIgnoresEventWrap(PackedDriver):
    """kick_prepare taking the device's off_wrap position in the driver's own lap."""

    lines = PackedDriverLines(event_wrap=False)  # BUG (RING-PACKED-064)


Q = wk.SEARCH_PARAMS["Q"]
DATA = 0x8000


@dataclass
class Replay:
    """Runs a counterexample of the Z3 model against the reference, access by access, on
    models/memory/tso.py's shared memory: each step of the model performs the reference's accesses
    it stands for; a step whose outcome differs (a decision, a re-check, an mb that cannot
    run) stops the replay with the reason."""

    roles: wk.Roles
    mode: Mode
    tso: bool
    driver_cls: type[PackedDriver] = PackedDriver
    device_cls: type[PackedDevice] = PackedDevice
    guest: GuestMemory = field(init=False)
    pending: bool = False
    asleep: bool = False
    diverged: str = ""

    def __post_init__(self) -> None:
        self.guest = GuestMemory(0x10000)
        self.lay = PackedLayout.packed_at(0x1000, Q)
        desc = self.mode == "event_idx"
        self.drv = self.driver_cls(self.lay, event_idx=desc)
        self.dev = self.device_cls(self.lay, self.guest.size, event_idx=desc)
        run(self.drv.init(), self.guest)
        run(self.dev.init(), self.guest)
        self.mem = SharedMemory(self.guest, "tso" if self.tso else "sc")
        self.producer, self.consumer = (("driver", "device") if self.roles is AVAIL
                                        else ("device", "driver"))

    def side(self, name: str) -> Side:
        return self.mem.side(name)

    # the reference's operations for each role
    def publish(self) -> Op[object]:
        if self.roles is AVAIL:
            return self.drv.add([(DATA, 8)], [], "token")
        # the device returns a list it took (the avail direction, outside this model)
        run(self.drv.add([(DATA, 8)], [], "token"), self.guest)
        chain = run(self.dev.pop(), self.guest)
        assert chain is not None
        return self.dev.push([(chain.head, 0)])

    def decide(self) -> Op[bool]:
        return self.drv.kick_prepare() if self.roles is AVAIL else self.dev.should_notify()

    def take(self) -> Op[object]:
        return self.dev.pop() if self.roles is AVAIL else self.drv.get_used()

    def disable(self) -> Op[None]:
        return self.dev.disable_notify() if self.roles is AVAIL else self.drv.disable_cb()

    def enable(self) -> Op[bool]:
        return self.dev.enable_notify() if self.roles is AVAIL else self.drv.enable_cb()

    def positions(self) -> tuple[int, int]:
        """Lap indices of the producer's and the consumer's positions."""
        d, v = self.drv, self.dev
        if self.roles is AVAIL:
            return (lap_index(Q, d.next_avail, d.avail_wrap),
                    lap_index(Q, v.last_avail, v.avail_wrap))
        return lap_index(Q, v.used_pos, v.used_wrap), lap_index(Q, d.last_used, d.used_wrap)

    # stepping
    def _flags_store(self, side: Side) -> bool:
        b = side.buffer[0]
        return self.lay.position_of(b.addr) is not None and \
            (b.addr - self.lay.desc) % PACKED_DESC_SIZE == DESC_FLAGS

    def _step(self, side: Side, kind: type | None = None) -> None:
        nxt = side.next
        if kind is not None and not isinstance(nxt, kind):
            raise _Diverged(f"{side.name} next does {nxt}, the model a {kind.__name__}")
        if not side.enabled():
            raise _Diverged(f"{side.name} cannot perform {nxt} now")
        side.step()

    def _finish(self, side: Side) -> object:
        while side.busy:
            self._step(side)
        return side.result

    def do(self, action: str, shown: dict[str, object]) -> None:
        prod, cons = self.side(self.producer), self.side(self.consumer)
        if action == "producer stores a list's fields; wmb":
            prod.start(self.publish())
            while not (isinstance(prod.next, Fence) and prod.next.kind == "wmb"):
                self._step(prod)
            self._step(prod)
        elif action == "producer stores the flags":
            self._step(prod, Store)
            assert not prod.busy
        elif action == "producer mb; loads the event suppression structure":
            prod.start(self.decide())
            said = self._finish(prod)
            if bool(said) != (shown[self.roles.producer] == "notifying"):
                raise _Diverged(f"the reference decides {said}, the model the opposite")
        elif action == "producer notifies":
            self.pending = True
        elif action in ("consumer takes a list", "consumer finds nothing"):
            cons.start(self.take())
            while cons.busy and not isinstance(cons.next, Store):
                self._step(cons)
            if not cons.busy and (cons.result is None) != (action == "consumer finds nothing"):
                raise _Diverged(f"the reference's {self.consumer} finds {cons.result}")
        elif action == "consumer moves off_wrap after taking":
            self._step(cons, Store)
        elif action == "consumer mb after moving off_wrap":
            self._finish(cons)
        elif action == "consumer disables notifications":
            cons.start(self.disable())
            self._finish(cons)
        elif action == "consumer re-enables notifications":
            cons.start(self.enable())
            self._step(cons, Store)
        elif action == "consumer mb":
            self._step(cons, Fence)
        elif action.startswith("consumer re-checks"):
            found = self._finish(cons)
            if bool(found) != action.endswith("more work"):
                raise _Diverged(f"the reference's re-check finds {found}")
            self.asleep = not found
        elif action == "consumer sleeps without re-checking":
            if cons.busy or cons.result:
                raise _Diverged(f"the reference's {self.consumer} re-checks before sleeping")
            self.asleep = True
        elif action == "consumer wakes":
            self.pending = self.asleep = False
        elif action == "notification absorbed while running":
            self.pending = False
        elif action == "consumer's oldest store drains":
            cons.drain_one()
        else:
            raise AssertionError(f"no replay for {action!r}")

    def replay(self, path: Path) -> bool:
        """Whether the reference, run as ``path`` says, ends in a lost wakeup."""
        try:
            for k, action in enumerate(path.actions):
                if action == "producer's oldest store drains":
                    self._drain_producer()
                else:
                    self.do(action, path.steps[k + 1].state)
        except _Diverged as why:
            self.diverged = str(why)
            return False
        assert self.positions() == (path.final["P"], path.final["L"])
        if not self.asleep or self.pending or self.side(self.producer).busy:
            return False
        self.mem.drain_all()  # the producer's stores reach memory; nobody tells the consumer
        found = run(self.take(), self.guest)
        return found is not None

    def _drain_producer(self) -> None:
        """One drain of the model: a list's fields (every store before its flags), or its
        flags."""
        prod = self.side(self.producer)
        if self._flags_store(prod):
            prod.drain_one()
            return
        while prod.buffer and not self._flags_store(prod):
            prod.drain_one()


class _Diverged(Exception):
    pass


REPLAYS = [
    ("event-off-by-one", USED, ("event_idx",), False, {"device_cls": DeviceEventOffByOne}),
    ("event-ignores-wrap", AVAIL, ("event_idx",), False,
     {"driver_cls": DriverIgnoresEventWrap}),
    ("device-no-recheck", AVAIL, wh.MODES, False, {"device_cls": DeviceNoRecheck}),
    ("driver-no-recheck", USED, wh.MODES, False, {"driver_cls": DriverNoRecheck}),
    ("driver-no-mb-kick", AVAIL, wh.MODES, True, {"driver_cls": DriverNoMbKick}),
    ("device-no-mb-notify", USED, wh.MODES, True, {"device_cls": DeviceNoMbNotify}),
]


@pytest.mark.req("RING-PACKED-051", "RING-PACKED-053", "RING-PACKED-064", "RING-PACKED-070",
                 "RING-PACKED-071", "RING-PACKED-110", "RING-PACKED-111")
@pytest.mark.parametrize(("name", "roles", "modes", "tso", "classes"), REPLAYS,
                         ids=[r[0] for r in REPLAYS])
def test_the_counterexample_is_a_lost_wakeup_in_the_reference(
        name: str, roles: wk.Roles, modes: tuple[Mode, ...], tso: bool,
        classes: dict[str, type]) -> None:
    """The shortest counterexample of the mutant, replayed with the reference's variant of
    the same bug (models/ring/packed/wh.mutants.py), loses the wakeup there too; with the
    correct reference the same schedule cannot be followed (it notifies, re-checks, or its
    mb waits for the store buffer)."""
    from virtiospec.models.ring.packed.z3_mutants import BUGS

    bug = BUGS[name][2]
    for mode in modes:
        path = wk.find_lost_wakeup(roles, mode, tso, bug.variant)
        assert path is not None
        buggy = Replay(roles, mode, tso, **classes)  # type: ignore[arg-type]
        assert buggy.replay(path), buggy.diverged or "no lost wakeup at the end"
        correct = Replay(roles, mode, tso)
        assert not correct.replay(path)
        assert correct.diverged, "the correct reference followed the whole schedule"


def test_the_replay_follows_the_correct_protocol() -> None:
    """The replay itself: a correct schedule (publish, decide, notify, the consumer wakes
    and takes) runs to the end in the reference with the model's decisions."""
    def target(s: State) -> z3.BoolRef:
        return z3.And(s["L"] == 2, s["P"] == 2, s["cpc"] == C_SLEEP)

    for roles, mode, tso in itertools.product(DIRECTIONS, wh.MODES, (False, True)):
        path = wk.reach(roles, mode, tso, target, max_depth=40)
        assert path is not None
        r = Replay(roles, mode, tso)
        assert not r.replay(path) and not r.diverged, r.diverged  # asleep, nothing to take
        assert r.positions() == (2, 2) and r.asleep
