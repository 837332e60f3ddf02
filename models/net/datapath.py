"""The network data path under interleaving: device and driver stepped frame by frame.

A Hypothesis :class:`DataPathMachine` runs the reference :class:`NetDriver` and
:class:`NetDevice` (or known-bad subclasses) over one guest memory, wired by
:class:`~virtiospec.reference.net.pair.NetPair` without automatic notifications, and picks at
every step which side does what:

* driver: ``send`` a frame on a transmit queue, ``reap`` used transmit buffers, ``receive``
  (take used receive buffers, reassemble with ``num_buffers``, repost), ``post`` buffers;
* device: ``tx_take`` (pop and check one transmit buffer, stage its frame) and ``tx_complete``
  (put staged frames on the wire and make their buffers used, NET-061), ``deliver`` waiting
  frames into receive buffers (NET-011, NET-017);
* the wire: a frame arrives for the driver;
* the environment: the link goes down or up (NET-026, announced by a configuration change,
  NET-021), the device is reset with buffers in flight and the driver recovers (NET-062,
  NET-063).

Frames carry unique payloads, so that after every step (invariants):

* NET-060: no frame reaches the wire or the driver twice, and per queue (between two resets)
  frames arrive in the order they were sent or arrived on the wire;
* NET-062: every buffer the driver allocated is either in a queue or free (no leak);
* NET-011: each received frame is exactly a frame of the wire.

At the end of every run the link comes up and both sides run until nothing moves: every frame
sent is on the wire and every frame accepted from the wire was delivered (NET-060, NET-017).
Queue sizes of 2 to 8, one or two queue pairs, receive buffers small enough that frames span
several with VIRTIO_NET_F_MRG_RXBUF.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from virtiospec.models import registry
from virtiospec.models.hypothesis_run import (
    RunRecord,
    Violation,
    hypothesis_settings,
    mutant_evidence,
    run_hypothesis,
)
from virtiospec.models.registry import Step
from virtiospec.reference.net import features as F
from virtiospec.reference.net import frames as FR
from virtiospec.reference.net.config import NetConfig
from virtiospec.reference.net.device import NetDevice
from virtiospec.reference.net.driver import NetDriver
from virtiospec.reference.net.pair import NetPair

PEER = b"\x02\x00\x00\x00\x00\x99"
PORTS = (1001, 1002, 1003)


@dataclass(frozen=True)
class DataPathConfig:
    device_cls: type[NetDevice] = NetDevice
    driver_cls: type[NetDriver] = NetDriver
    steps: int = 60
    mrg: bool | None = None  # None: drawn


def tx_frame(driver_mac: bytes, n: int, size: int, port: int) -> bytes:
    return FR.udp_frame(driver_mac, PEER, "10.0.0.1", "10.0.0.9", port, port,
                        f"t{n}:".encode() + b"x" * size)


def rx_frame(driver_mac: bytes, n: int, size: int, port: int) -> bytes:
    return FR.udp_frame(PEER, driver_mac, "10.0.0.9", "10.0.0.1", port, port,
                        f"r{n}:".encode() + b"y" * size)


def tag(frame: bytes) -> tuple[str, int]:
    """('t' or 'r', n) from a model frame's payload."""
    payload = bytes(FR.parse(frame).data.data.data)
    kind = payload.partition(b":")[0]
    return kind[:1].decode(), int(kind[1:])


class DataPathMachine(RuleBasedStateMachine):
    cfg: ClassVar[DataPathConfig]
    record: ClassVar[RunRecord]

    def __init__(self) -> None:
        super().__init__()
        self.pair: NetPair | None = None
        self.trace: list[Step] = []
        self.violated = False

    # -- set-up --------------------------------------------------------------------------------
    @initialize(q=st.sampled_from([2, 4, 8]), mrg=st.booleans(),
                small=st.sampled_from([16, 100, 400]), pairs=st.sampled_from([1, 2]))
    def setup(self, q: int, mrg: bool, small: int, pairs: int) -> None:
        if self.cfg.mrg is not None:
            mrg = self.cfg.mrg
        wanted = ~F.bit(F.VIRTIOSPEC_NET_F_QUEUE_CLASSES)
        if not mrg:
            wanted &= ~F.bit(F.MRG_RXBUF)
        cfg = NetConfig(max_pairs=2)
        rx_buf = max(small, -(-1534 // q)) if mrg else 1526  # NET-013: a full queue holds a frame
        pair = _make_pair(self.cfg, cfg, wanted, q, rx_buf)
        self.pair = pair
        self.want_pairs = pairs
        self.sent: dict[int, bytes] = {}  # n -> frame
        self.injected: dict[int, bytes] = {}  # n -> frame accepted by the device
        self.on_wire: set[int] = set()
        self.delivered: set[int] = set()
        self.last_tx: dict[int, int] = {}  # pair -> last n seen on the wire (this epoch)
        self.last_rx: dict[int, int] = {}  # pair -> last n delivered (this epoch)
        self.wire_seen = 0
        self.inbox_seen = 0
        self.n = 0
        self.record.examples += 1
        self.record.trace = self.trace
        self._note("env", f"queue size {q}, {'MRG_RXBUF, ' if mrg else ''}receive buffers "
                          f"of {rx_buf} bytes, {pairs} pair(s)")
        self._set_pairs()

    def _note(self, side: str, action: str) -> None:
        self.trace.append(Step(side, action))
        self.record.steps += 1

    def _set_pairs(self) -> None:
        p = self.p
        if self.want_pairs > 1:
            p.driver.set_pairs(self.want_pairs)
            p.device.process_ctrl()
            p.driver.ctrl_poll()

    @property
    def p(self) -> NetPair:
        assert self.pair is not None
        return self.pair

    # -- driver --------------------------------------------------------------------------------
    @rule(size=st.integers(0, 700), port=st.sampled_from(PORTS))
    def driver_send(self, size: int, port: int) -> None:
        self.n += 1
        frame = tx_frame(self.p.driver.mac, self.n, size, port)
        pair = self.p.driver.send(frame)
        self.sent[self.n] = frame
        self._note("driver", f"send t{self.n} ({len(frame)} bytes) on pair {pair}")

    @rule(pair=st.sampled_from([0, 1]))
    def driver_reap(self, pair: int) -> None:
        n = self.p.driver.reap_tx(pair)
        self._note("driver", f"reap {n} transmit buffers of pair {pair}")

    @rule(pair=st.sampled_from([0, 1]))
    def driver_receive(self, pair: int) -> None:
        got = self.p.driver.receive(pair)
        self.p.driver.inbox += got
        self._note("driver", f"receive {len(got)} frames on pair {pair}")

    # -- device --------------------------------------------------------------------------------
    @rule(pair=st.sampled_from([0, 1]))
    def device_tx_take(self, pair: int) -> None:
        took = self.p.device.tx_take(pair)
        self._note("device", f"tx_take pair {pair}: {'staged' if took else 'nothing'}")

    @rule(pair=st.sampled_from([0, 1]))
    def device_tx_complete(self, pair: int) -> None:
        n = self.p.device.tx_complete(pair)
        self._note("device", f"tx_complete pair {pair}: {n} frames to the wire")

    @rule(pair=st.sampled_from([0, 1]))
    def device_deliver(self, pair: int) -> None:
        n = self.p.device.deliver(pair)
        self._note("device", f"deliver on pair {pair}: {n} frames")

    # -- wire and environment ------------------------------------------------------------------
    @rule(size=st.integers(0, 700), port=st.sampled_from(PORTS))
    def wire_arrives(self, size: int, port: int) -> None:
        self.n += 1
        frame = rx_frame(self.p.driver.mac, self.n, size, port)
        if self.p.device.receive(frame):
            self.injected[self.n] = frame
        self._note("env", f"r{self.n} arrives from the wire ({len(frame)} bytes)")

    @precondition(lambda self: self.pair is not None and self.p.config.link_up)
    @rule()
    def link_down(self) -> None:
        self.p.config.set_link(False)
        self.p.driver.config_changed()
        self._note("env", "link down")

    @precondition(lambda self: self.pair is not None and not self.p.config.link_up)
    @rule()
    def link_up(self) -> None:
        self.p.config.set_link(True)
        self.p.driver.config_changed()
        self._note("env", "link up")

    @rule()
    def reset(self) -> None:
        self._note("env", "device reset with buffers in flight; the driver recovers")
        self.p.reset()
        self.check_order()  # frames taken back at the recovery belong to the old queues
        self.last_tx.clear()
        self.last_rx.clear()
        self._set_pairs()

    # -- invariants ----------------------------------------------------------------------------
    @invariant()
    def check_order(self) -> None:
        """NET-060 (at most once, in order per queue), NET-011 (frames intact)."""
        if self.pair is None:
            return
        try:
            self._check_order()
        except Violation:
            self.violated = True
            raise

    def _check_order(self) -> None:
        wire = self.p.device.transmitted
        for pair, frame in wire[self.wire_seen:]:
            kind, n = tag(frame)
            if kind != "t" or self.sent.get(n) != frame:
                raise Violation("NET-060", f"the wire got a frame the driver never sent: {n}")
            if n in self.on_wire:
                raise Violation("NET-060", f"t{n} reached the wire twice")
            if self.last_tx.get(pair, 0) > n:
                raise Violation("NET-060", f"t{n} reached the wire after t{self.last_tx[pair]}"
                                           f" on pair {pair}")
            self.on_wire.add(n)
            self.last_tx[pair] = n
        self.wire_seen = len(wire)
        inbox = self.p.driver.inbox
        for r in inbox[self.inbox_seen:]:
            try:
                kind, n = tag(r.frame)
            except Exception:
                raise Violation("NET-011", f"the driver received a mangled frame "
                                           f"({len(r.frame)} bytes, num_buffers "
                                           f"{r.hdr.num_buffers})") from None
            if kind != "r" or self.injected.get(n) != r.frame:
                raise Violation("NET-011", f"the driver received r{n} altered")
            if n in self.delivered:
                raise Violation("NET-060", f"r{n} reached the driver twice")
            if self.last_rx.get(r.pair, 0) > n:
                raise Violation("NET-060", f"r{n} reached the driver after "
                                           f"r{self.last_rx[r.pair]} on pair {r.pair}")
            self.delivered.add(n)
            self.last_rx[r.pair] = n
        self.inbox_seen = len(inbox)
        if self.p.driver.faults:
            raise Violation("NET-016", f"the driver refused a frame: {self.p.driver.faults[0]}")

    @invariant()
    def check_buffers(self) -> None:
        """NET-062: every buffer the driver took from its pools is in a queue."""
        if self.pair is None:
            return
        try:
            self._check_buffers()
        except Violation:
            self.violated = True
            raise

    def _check_buffers(self) -> None:
        d = self.p.driver
        chains = {i: len(d.split_queue(i).chains) for i in d.queues if i != d.ctrl_q}
        rx = sum(n for i, n in chains.items() if i % 2 == 0)
        tx = sum(n for i, n in chains.items() if i % 2 == 1)
        if (d.rx_pool.in_use, d.tx_pool.in_use) != (rx, tx):
            raise Violation("NET-062", f"buffers in use {d.rx_pool.in_use} rx / "
                                       f"{d.tx_pool.in_use} tx but {rx} / {tx} in the queues")

    def teardown(self) -> None:
        if self.pair is None or self.violated:
            return  # the run failed already: its violation is the one to report
        try:
            self._finale()
        finally:
            self.record.trace = list(self.trace)

    def _finale(self) -> None:
        """Link up, run both sides until nothing moves: nothing may be missing (NET-060)."""
        p = self.p
        self._note("env", "end of run: link up, both sides run until nothing moves")
        p.config.set_link(True)
        p.driver.config_changed()
        for _ in range(1000):
            work = p.device.poll()
            for pair in range(p.driver.n_pairs):
                work += p.driver.reap_tx(pair)
                got = p.driver.receive(pair)
                p.driver.inbox += got
                work += len(got)
            self.check_order()
            if not work:
                break
        missing_tx = sorted(set(self.sent) - self.on_wire)
        if missing_tx:
            raise Violation("NET-060", f"frames sent but never on the wire: t{missing_tx}")
        missing_rx = sorted(set(self.injected) - self.delivered)
        if missing_rx:
            raise Violation("NET-060", f"frames accepted from the wire but never delivered: "
                                       f"r{missing_rx}")
        self.check_buffers()
        self.record.count("frames", len(self.sent) + len(self.injected))
        self.record.count("resets", p.device.stats.resets)


def _make_pair(cfg: DataPathConfig, config: NetConfig, wanted: int, q: int,
               rx_buf: int) -> NetPair:
    """A NetPair whose device and driver are of the classes under test."""
    return NetPair(config, wanted=wanted, queue_size=q, rx_buf_size=rx_buf, auto=False,
                   device_cls=cfg.device_cls, driver_cls=cfg.driver_cls)


def machine_class(cfg: DataPathConfig) -> type[DataPathMachine]:
    name = f"DataPath_{cfg.device_cls.__name__}_{cfg.driver_cls.__name__}"
    return type(name, (DataPathMachine,), {"cfg": cfg, "record": RunRecord()})


def run_datapath(cfg: DataPathConfig, max_examples: int, *, derandomize: bool = False,
                 shrink: bool = True) -> registry.Evidence:
    cls = machine_class(cfg)
    s = hypothesis_settings(max_examples, steps=cfg.steps, derandomize=derandomize,
                            shrink=shrink)
    return run_hypothesis(lambda: run_state_machine_as_test(cls, settings=s), cls.record)


REQS = ("NET-011", "NET-017", "NET-021", "NET-026", "NET-060", "NET-061", "NET-062", "NET-063")


@registry.check("net.datapath", REQS,
                "device and driver interleaved frame by frame: resets in flight, link flaps, "
                "MRG_RXBUF, two queue pairs; nothing lost, nothing twice, order per queue")
def check(n: int) -> registry.Evidence:
    return run_datapath(DataPathConfig(), n)


MUTANT_EXAMPLES = 300


def mutant_run(cfg: DataPathConfig, *, shrink: bool = True) -> Callable[[], registry.Evidence]:
    def run() -> registry.Evidence:
        return mutant_evidence(run_datapath(cfg, MUTANT_EXAMPLES, derandomize=True,
                                            shrink=shrink))

    return run
