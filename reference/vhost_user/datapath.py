"""The device side of one vhost-user connection at work: kicks, frames from the wire, the
pump that runs the device until nothing moves, and re-arming notifications before it sleeps
(RING-SPLIT-072). :class:`Datapath` is the half of :class:`~.session.Session` that moves
frames; the other half (:mod:`.session`) carries out the messages."""

from __future__ import annotations

import contextlib
import os
from collections import deque
from itertools import cycle, islice

from virtiospec.reference.net import features as F
from virtiospec.reference.net.buffers import run_op
from virtiospec.reference.net.device import NetDevice
from virtiospec.reference.net.frames import flow_hash, flow_key
from virtiospec.reference.ring import SplitDevice
from virtiospec.reference.ring.errors import RingError
from virtiospec.reference.ring.packed.device import PackedDevice
from virtiospec.reference.vhost_user.fast import FastNetDevice, FastQueue
from virtiospec.reference.vhost_user.in_order import InOrderWatch
from virtiospec.reference.vhost_user.memory import MemoryTable
from virtiospec.reference.vhost_user.options import Options, Transcript, Vring


class Datapath:
    """Moves frames for a session; the session's state it works on is declared here."""

    options: Options
    mem: MemoryTable
    vrings: list[Vring]
    device: NetDevice | None
    log: Transcript
    watch: InOrderWatch | None
    _repeat_at: int
    _tx_flows: dict[tuple[object, ...], int]
    _due: dict[bytes, deque[int]]

    def _signal_err(self, v: Vring) -> None:
        if v.err is not None:
            with contextlib.suppress(OSError):
                os.write(v.err, (1).to_bytes(8, "little"))

    def kicked(self, index: int) -> None:
        v = self.vrings[index]
        v.kicks += 1
        if v.kick is not None:
            with contextlib.suppress(OSError):
                os.read(v.kick, 8)

    def inject(self, frame: bytes) -> bool:
        """A frame arrives from the wire for the driver (delivered by :meth:`pump`)."""
        dev = self.device
        if dev is None:
            return False
        if self.options.observe:
            n = dev.pairs_in_use
            key = flow_key(frame, reverse=True)
            due = self._tx_flows.get(key)
            if due is None or due >= n:
                due = flow_hash(key) % n
            self._due.setdefault(frame, deque()).append(due)
        return dev.receive(frame)

    def pump(self, budget: int = 256) -> int:
        """Run the device until nothing moves (or ``budget`` rounds); with kicks, re-enable
        available-buffer notifications and re-check before going to sleep (RING-SPLIT-072).
        With :attr:`Options.observe` the in-order watch looks at the rings before and after."""
        watch = self.watch
        if watch is None or self.device is None or not F.has(self.device.features, F.IN_ORDER):
            return self._pump(budget)
        running = [v for v in self.vrings if v.queue is not None and v.view is not None]
        for v in running:
            assert v.queue is not None and v.view is not None
            last, used = _positions(v.queue)
            watch.before(v.view, last, used)
        moved = self._pump(budget)
        for v in running:
            if v.queue is not None and v.view is not None:
                watch.after(v.view, _positions(v.queue)[1])
        return moved

    def _deliver(self, dev: NetDevice, pair: int) -> int:
        """dev.deliver(pair), counting what went to each pair and each flow's pairs."""
        if not self.options.observe:
            return dev.deliver(pair)
        waiting = list(dev.backlog[pair])
        done = dev.deliver(pair)
        self.log.rx_pairs[pair] += done
        for _, frame in waiting[:done]:
            dues = self._due.get(frame)
            if not dues:
                continue  # not from inject (a test's own backlog)
            due = dues.popleft()
            if not dues:
                del self._due[frame]
            if due >= dev.pairs_in_use:
                due = 0  # the pairs in use went down: receiveq1 (NET-038)
            self.log.steered += 1
            if due != pair and len(self.log.misteered) < 20:
                self.log.misteered.append(f"a frame of {len(frame)} bytes due on pair {due} "
                                          f"placed on pair {pair}")
        return done

    def _pump(self, budget: int) -> int:
        dev = self.device
        if dev is None:
            return 0
        total = 0
        source = self.options.source
        repeat = self.options.repeat
        in_c = repeat is not None and isinstance(dev, FastNetDevice) and dev.can_repeat()
        if repeat is not None and not in_c:
            source = self._repeating  # frame by frame, through the backlog
        if self.options.poll and isinstance(dev, FastNetDevice) and source is None:
            # busy-polling with nobody handed a frame: the device's loop is one C call
            # (FastNetDevice.run_loop, up to 256 bursts); back to the server after each
            moved = dev.run_loop(repeat if in_c else None)
            if moved is not None:
                self._reap_broken(dev)
                return moved
        for _ in range(budget):
            depth = self.options.source_depth
            running = dev.fast if isinstance(dev, FastNetDevice) else dev.queues
            if source is not None and running and len(dev.backlog[0]) < depth:
                frames = source(depth - len(dev.backlog[0]))
                if isinstance(dev, FastNetDevice):
                    dev.receive_many(frames)
                else:
                    for frame in frames:
                        dev.receive(frame)
            work = dev.process_ctrl()  # 0 without a control vring
            work += dev.process_tx(64 if self.options.device == "python" else 1024)
            for pair in range(dev.pairs_in_use):
                if 2 * pair in dev.broken:
                    continue  # stopped below: not written to again
                try:
                    work += self._deliver(dev, pair)
                    if in_c and pair == 0:  # the source, a burst per C call
                        assert repeat is not None and isinstance(dev, FastNetDevice)
                        work += dev.send_repeating(repeat)
                except RingError as fault:  # a receive buffer that faults at the write
                    dev._fail(2 * pair, fault)
            total += work
            if work:
                continue
            if self.options.poll or not self._rearm():
                break
        self._reap_broken(dev)
        return total

    def _reap_broken(self, dev: NetDevice) -> None:
        """Report and stop every ring the device found broken (VHOST-USER err eventfd)."""
        for index, err in list(dev.broken.items()):
            self.log.errors.append(f"vring {index}: {err}")
            self._signal_err(self.vrings[index])
            del dev.broken[index]
            dev.detach(index)
            self.vrings[index].queue = None

    def _repeating(self, n: int) -> list[bytes]:
        """``n`` frames of :attr:`Options.repeat`, continuing where the last call stopped."""
        pattern = self.options.repeat
        assert pattern is not None
        start = self._repeat_at
        out = list(islice(cycle(pattern), start, start + n))
        self._repeat_at = (start + n) % len(pattern)
        return out

    def _enable_notify(self, q: SplitDevice | PackedDevice | FastQueue) -> bool:
        if isinstance(q, FastQueue):
            return q.enable_notify()
        return run_op(q.enable_notify(), self.mem)

    def _disable_notify(self, q: SplitDevice | PackedDevice | FastQueue) -> None:
        if isinstance(q, FastQueue):
            q.disable_notify()
        else:
            run_op(q.disable_notify(), self.mem)

    def _rearm(self) -> bool:
        """Enable kicks where the device waits for the driver: every transmit ring, and a
        receive ring with frames waiting for buffers. True if one of them has buffers already."""
        dev = self.device
        assert dev is not None
        more = False
        for v in self.vrings:
            q = v.queue
            if q is None or v.index in dev.broken:
                continue
            try:
                if v.index % 2 or v.index == dev.ctrl_q or dev.backlog[v.index // 2]:
                    more |= self._enable_notify(q)
                else:
                    self._disable_notify(q)
            except RingError:
                continue
        return more

    def _close_queues(self) -> None:
        """Drop every queue (a C queue gives its regions back)."""
        if isinstance(self.device, FastNetDevice):
            self.device.close()
        for v in self.vrings:
            v.queue = None


def _positions(q: SplitDevice | PackedDevice | FastQueue) -> tuple[int, int]:
    """The device's next available and next used positions (packed: pos | wrap << 15)."""
    if isinstance(q, PackedDevice):
        return q.last_avail | q.avail_wrap << 15, q.used_pos | q.used_wrap << 15
    return q.last_avail, q.used_idx

