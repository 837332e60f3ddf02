"""The stepped network stack (models/stack/net_machine.py) with queue resets racing traffic
(VIRTIO_F_RING_RESET), and with both queue pairs (VIRTIO_NET_F_MQ) in use.

:class:`StackNetQueueResetMachine` adds one rule, the driver resetting rx0 or tx0 with
buffers in flight. :class:`StackNetMQMachine` sends frames of every class, so that both
pairs carry them both ways (pair 0 classes 0-3 and pair 1 classes 4-7 until the host
changes the classes), resets any queue -- rx0, tx0, rx1, tx1 or the control queue -- any
number of times in a run (as many as the run has steps for), and after a device reset
(which leaves the device with one pair, NET-038) lets the driver ask for both pairs again
through the control queue (VQ_PAIRS_SET, NET-037, NET-039), itself a queue that may be
reset. The machine's invariants hold throughout: frames exactly once and in order per queue
(NET-060: on a transmit queue in the order placed, on a receive queue in the order taken from
the wire for it; the frames of a run have different classes, so the order per queue and
class the base machine checks would not see a frame overtaking another), and each time the
driver is idle -- so after every queue reset --, every receive, transmit and control buffer
is either free or in a live queue (NET-062, VIRTIO-VQRESET-003).
"""

from __future__ import annotations

from hypothesis import strategies as st
from hypothesis.stateful import initialize, invariant, precondition, rule
from virtiospec.models import registry
from virtiospec.models.hypothesis_run import Violation
from virtiospec.models.machine_base import bind, guarded, run_bound
from virtiospec.models.stack.net_layers import CTRL, PAIRS, RX0, RX1, TX0, TX1, StackNetConfig
from virtiospec.models.stack.net_machine import StackNetMachine
from virtiospec.reference.stack.traffic import seq_of

QUEUES = (RX0, TX0, RX1, TX1, CTRL)


class StackNetQueueResetMachine(StackNetMachine):
    """The machine with one more rule, a queue reset (a class of its own, so that the runs of
    configurations without queue resets draw the rules they drew before it existed)."""

    @precondition(lambda m: m.ready and not m.dside.busy and not m.vside.busy
                  and m.qresets < m.cfg.queue_resets)
    @rule(index=st.sampled_from((RX0, TX0)), run=st.sampled_from(["", "to_load", "finish"]))
    @guarded
    def driver_queue_reset(self, index: int, run: str) -> None:
        self._queue_reset(index, run)

    def _queue_reset(self, index: int, run: str) -> None:
        """The driver resets one queue with buffers in flight (VIRTIO_F_RING_RESET), takes
        its buffers back and enables it again; the device, idle when the call starts, may
        serve the other queues as soon as ``queue_reset`` was written."""
        name = self.stack.queue_name(index)
        self.qresets += 1
        self.qresetting = index
        self.qreset_mark = self.stack.counters.virtio_pci.queue_resets
        self._count("queue resets")
        if self.cfg.mq:
            self._count(f"queue resets of {name}")
            if index in self.reset_seen:
                self._count("queues reset again in the same run")
            self.reset_seen.add(index)
        queue = self.stack.net.queues.get(index)
        if queue is not None and queue.outstanding:
            self._count("queue resets with buffers in flight")
        self._call("driver", lambda: self.stack.driver.reset_queue(index),
                   f"queue reset of {name}", run)


class StackNetMQMachine(StackNetQueueResetMachine):
    """Both pairs, resets of any queue any number of times, VQ_PAIRS_SET after a reset.

    Order per queue is checked as NET-060 states it. Transmit: each frame that reaches the
    wire from pair ``p`` must be the earliest frame the driver placed on tx``p`` and still
    holds there (placements are seen at the driver's ``flush``; a queue's frames taken back
    at a queue or device reset leave its list, and a frame placed again counts from its new
    place). Receive: see :meth:`_watch_steering`."""

    @initialize(q=st.sampled_from((2, 4)))
    @guarded
    def setup(self, q: int) -> None:
        super().setup(q)
        self.placed: dict[int, list[int]] = {pair: [] for pair in range(PAIRS)}
        self.misplaced: list[str] = []
        net = self.stack.net
        flush, take_back, recover = net.flush, net.take_back_queue, net.recover

        def pending(pair: int) -> list[int]:
            return [got[1] for _, data, _ in net.pending[pair].frames
                    if (got := seq_of(data)) is not None]

        def placing(pair: int) -> int:
            # the device may take a frame before flush returns: the pending frames count as
            # placed, in their order, from the start; those still pending at the end do not
            for seq in pending(pair):
                for held in self.placed.values():
                    if seq in held:
                        held.remove(seq)
                self.placed[pair].append(seq)
            try:
                return flush(pair)
            finally:
                left = set(pending(pair))
                self.placed[pair] = [seq for seq in self.placed[pair] if seq not in left]

        def taking_back(index: int) -> None:
            take_back(index)
            if index % 2 and index < 2 * PAIRS:
                self.placed[index // 2].clear()

        def recovering() -> None:
            recover()
            for held in self.placed.values():
                held.clear()

        net.flush = placing  # type: ignore[method-assign]
        net.take_back_queue = taking_back  # type: ignore[method-assign]
        net.recover = recovering  # type: ignore[method-assign]
        self._watch_steering()

    def _watch_steering(self) -> None:
        """Order per receive queue as taken from the wire: a frame the device steers to pair
        ``p`` joins the end of ``steered[p]``; frames the device moves to another pair
        (NET-038) follow those it already made used there, in its new backlog's order."""
        dev = self.stack.backend.net
        assert dev is not None
        self.steered: dict[int, list[int]] = {pair: [] for pair in range(PAIRS)}
        receive, resteer = dev.receive, dev._resteer

        def waiting() -> list[list[int]]:
            return [[got[1] for _, data in q if (got := seq_of(data)) is not None]
                    for q in dev.backlog]

        def receiving(frame: bytes) -> bool:
            before = [len(q) for q in dev.backlog]
            taken = receive(frame)
            got = seq_of(frame)
            for pair, q in enumerate(dev.backlog):
                if len(q) > before[pair] and got is not None:
                    self.steered[pair].append(got[1])
            return taken

        def resteering() -> None:
            was = {s for q in waiting() for s in q}
            resteer()
            for pair, now in enumerate(waiting()):
                self.steered[pair] = [s for s in self.steered[pair] if s not in was] + now

        dev.receive = receiving  # type: ignore[method-assign]
        dev._resteer = resteering  # type: ignore[method-assign]

    def _on_wire(self, pair: int, data: bytes) -> None:
        super()._on_wire(pair, data)
        got = seq_of(data)
        held = self.placed.get(pair, [])
        if got is None or got[1] not in held:
            self.misplaced.append(f"frame {got} on the wire from tx{pair}, never placed there")
        elif held[0] != got[1]:
            self.misplaced.append(f"frame {got[1]} on the wire from tx{pair} before {held[0]},"
                                  f" placed there earlier (placed: {held})")
        if got is not None and got[1] in held:
            held.remove(got[1])

    @invariant()
    @guarded
    def accounting(self) -> None:
        net = self.stack.net if self.ready else None
        for got in net.inbox if net is not None else ():
            seq = seq_of(got.frame)
            steered = self.steered.get(got.pair, [])
            if seq is not None and seq[1] in steered:
                if steered[0] != seq[1]:
                    self.misplaced.append(f"frame {seq[1]} received on rx{got.pair} before "
                                          f"{steered[0]}, taken from the wire for it earlier "
                                          f"(steered: {steered})")
                steered.remove(seq[1])
        super().accounting()
        if self.ready and self.misplaced:
            raise Violation("NET-060", f"order per queue: {self.misplaced[0]}")

    @precondition(lambda m: m.ready and not m.dside.busy and not m.vside.busy
                  and m.qresets < m.cfg.queue_resets)
    @rule(index=st.sampled_from(QUEUES), run=st.sampled_from(["", "to_load", "finish"]))
    @guarded
    def driver_queue_reset(self, index: int, run: str) -> None:
        self._queue_reset(index, run)

    @precondition(lambda m: m.ready and not m.dside.busy and not m.resetting
                  and m.qresetting is None and m._fewer_pairs())
    @rule(run=st.sampled_from(["", "to_load", "finish"]))
    @guarded
    def driver_set_pairs(self, run: str) -> None:
        """After a device reset the driver uses one pair (NET-038); it asks for both again,
        a command on the control queue racing the traffic of pair 0."""
        self._count("VQ_PAIRS_SET after a device reset")
        self._call("driver", lambda: self.stack.net.set_pairs(PAIRS), f"VQ_PAIRS_SET {PAIRS}",
                   run)

    def _fewer_pairs(self) -> bool:
        net = self.stack.net
        ctrl = net.queues.get(net.ctrl_q) if net.ctrl_q is not None else None
        return net.pairs_in_use < PAIRS and ctrl is not None and not ctrl.outstanding

    def _finale(self) -> None:
        super()._finale()
        for tally, way in ((self.wire, "on the wire from"), (self.got, "received on")):
            for pair, n in tally.per_queue.items():
                self.record.count(f"frames {way} {'tx' if way[0] == 'o' else 'rx'}{pair}", n)


def run_stack_net(cfg: StackNetConfig, max_examples: int, *, derandomize: bool = False,
                  shrink: bool = True) -> registry.Evidence:
    base = StackNetMQMachine if cfg.mq else \
        StackNetQueueResetMachine if cfg.queue_resets else StackNetMachine
    cls = bind(f"StackNet_{cfg.mode}", (base,), cfg)
    return run_bound(cls, cfg.steps, max_examples, derandomize=derandomize, shrink=shrink,
                     shrink_seconds=20.0)
