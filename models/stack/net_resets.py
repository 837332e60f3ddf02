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
(NET-060), and each time the driver is idle -- so after every queue reset --, every
receive, transmit and control buffer is either free or in a live queue (NET-062,
VIRTIO-VQRESET-003).
"""

from __future__ import annotations

from hypothesis import strategies as st
from hypothesis.stateful import precondition, rule
from virtiospec.models import registry
from virtiospec.models.machine_base import bind, guarded, run_bound
from virtiospec.models.stack.net_layers import CTRL, PAIRS, RX0, RX1, TX0, TX1, StackNetConfig
from virtiospec.models.stack.net_machine import StackNetMachine

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
    """Both pairs, resets of any queue any number of times, VQ_PAIRS_SET after a reset."""

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
