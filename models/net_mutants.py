"""Known-bad variants of the network device and driver, each of which the data-path model
(models/net_datapath.py) must catch with a violation of the requirement it breaks."""

from __future__ import annotations

from collections.abc import Callable

from virtiospec.models import registry
from virtiospec.models.net_datapath import DataPathConfig, mutant_run
from virtiospec.reference.net.device import NetDevice
from virtiospec.reference.net.driver import NetDriver
from virtiospec.reference.net.header import NetHdr


class DeviceDropsWhenFull(NetDevice):
    """Drops a received frame when the receive queue has no buffer instead of waiting."""

    def deliver(self, pair: int) -> int:
        if not self.config.link_up:
            return 0
        done = 0
        while self.backlog[pair]:
            if self._deliver_one(pair):
                done += 1
            else:
                self.backlog[pair].popleft()  # the bug: no buffer, the frame is dropped
                break
        return done


class DeviceMiscountsBuffers(NetDevice):
    """Writes num_buffers one short when a frame spans several buffers."""

    def _rx_header(self, buffers: int) -> NetHdr:
        return NetHdr(num_buffers=buffers - 1 if buffers > 1 else 1)


class DeviceSendsAtTake(NetDevice):
    """Puts a frame on the wire when it takes the buffer, before making it used."""

    def tx_take(self, pair: int) -> bool:
        before = len(self.tx_staged.get(pair, []))
        took = super().tx_take(pair)
        staged = self.tx_staged.get(pair, [])
        if len(staged) > before:
            self.transmitted.append((pair, staged[-1][1]))  # the bug: on the wire already
            staged[-1] = (staged[-1][0], b"")
        return took

    def tx_complete(self, pair: int) -> int:
        staged = self.tx_staged.pop(pair, [])
        if staged:
            self._push(2 * pair + 1, [(head, 0) for head, _ in staged])
        return len(staged)


class DeviceIgnoresLinkDown(NetDevice):
    """Keeps taking transmit buffers while the link is down, and drops their frames."""

    def tx_take(self, pair: int) -> bool:
        if self.config.link_up:
            return super().tx_take(pair)
        chain = self._pop(2 * pair + 1)
        if chain is None:
            return False
        self._push(2 * pair + 1, [(chain.head, 0)])  # the bug: used, never sent
        return True


class DeviceNewestFirst(NetDevice):
    """Queues frames from the wire at the front: the newest is delivered first."""

    def receive(self, frame: bytes) -> bool:
        ok = super().receive(frame)
        if ok:
            for q in self.backlog:
                if q and q[-1][1] is frame:
                    q.appendleft(q.pop())
        return ok


class DriverNoRecover(NetDriver):
    """After a reset, forgets its queues without taking its buffers back."""

    def recover(self) -> None:
        self.queues.clear()
        self.pairs_in_use = 1
        self._repending()


class DriverDetachOnly(NetDriver):
    """After a reset, detaches every buffer without first taking back the used ones, so it
    sends again frames that were transmitted, and loses frames that were received."""

    def _take_back_used(self) -> None:
        pass


MUTANTS: list[tuple[str, str, tuple[str, ...], DataPathConfig]] = [
    ("rx-drop-when-full", "the device drops a received frame when the receive queue is empty",
     ("NET-017", "NET-060"), DataPathConfig(device_cls=DeviceDropsWhenFull)),
    ("num-buffers-miscount", "with MRG_RXBUF the device writes num_buffers one short",
     ("NET-011",), DataPathConfig(device_cls=DeviceMiscountsBuffers, mrg=True)),
    ("send-at-take", "the device sends a frame when it takes the buffer, before using it",
     ("NET-061", "NET-060"), DataPathConfig(device_cls=DeviceSendsAtTake)),
    ("tx-while-link-down", "the device consumes transmit buffers while the link is down",
     ("NET-026", "NET-060"), DataPathConfig(device_cls=DeviceIgnoresLinkDown)),
    ("rx-newest-first", "the device delivers the newest waiting frame first",
     ("NET-018", "NET-060"), DataPathConfig(device_cls=DeviceNewestFirst)),
    ("driver-no-recover", "the driver does not take its buffers back at a reset",
     ("NET-062",), DataPathConfig(driver_cls=DriverNoRecover)),
    ("driver-detach-only", "the driver detaches buffers at a reset without reaping used ones",
     ("NET-062", "NET-060"), DataPathConfig(driver_cls=DriverDetachOnly)),
]


def _register(name: str, bug: str, reqs: tuple[str, ...], cfg: DataPathConfig) -> None:
    run: Callable[[], registry.Evidence] = mutant_run(cfg)
    registry.mutant(f"net.mutant.{name}", bug, reqs, "hypothesis")(run)


for _name, _bug, _reqs, _cfg in MUTANTS:
    _register(_name, _bug, _reqs, _cfg)
