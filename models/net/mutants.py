"""Known-bad variants of the network device and driver, each of which the data-path model
(models/net/datapath.py) must catch with a violation of the requirement it breaks.

A variant that breaks one line of the reference turns off the switch of that line
(:class:`~virtiospec.reference.net.device.NetDeviceLines`,
:class:`~virtiospec.reference.net.driver.NetDriverLines`) instead of copying the method, and
its registered description names the switch; the others change one small hook or wrap the
reference's method (``super()``), so none repeats a reference method body."""

from __future__ import annotations

from collections.abc import Callable

from virtiospec.models import registry
from virtiospec.models.net.datapath import DataPathConfig, mutant_run
from virtiospec.models.variant_switch import switched
from virtiospec.reference.net.device import NetDevice, NetDeviceLines
from virtiospec.reference.net.driver import NetDriver, NetDriverLines
from virtiospec.reference.net.header import NetHdr


class DeviceDropsWhenFull(NetDevice):
    """Drops a received frame when the receive queue has no buffer instead of waiting."""

    lines = NetDeviceLines(wait_when_full=False)  # BUG (NET-017)


class DeviceMiscountsBuffers(NetDevice):
    """Writes num_buffers one short when a frame spans several buffers."""

    def _rx_header(self, buffers: int) -> NetHdr:
        return NetHdr(num_buffers=buffers - 1 if buffers > 1 else 1)


class DeviceSendsAtTake(NetDevice):
    """Puts a frame on the wire when it takes the buffer, before making it used."""

    lines = NetDeviceLines(wire_when_used=False)  # BUG (NET-061)


class DeviceIgnoresLinkDown(NetDevice):
    """Keeps taking transmit buffers while the link is down, and drops their frames."""

    lines = NetDeviceLines(tx_stops_when_link_down=False)  # BUG (NET-026)


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

    lines = NetDriverLines(take_back_at_reset=False)  # BUG (NET-062)


class DriverDetachOnly(NetDriver):
    """After a reset, detaches every buffer without first taking back the used ones, so it
    sends again frames that were transmitted, and loses frames that were received."""

    lines = NetDriverLines(reap_used_at_reset=False)  # BUG (NET-062)


MUTANTS: list[tuple[str, str, tuple[str, ...], DataPathConfig]] = [
    ("net.mutant.rx-drop-when-full",
     "the device drops a received frame when the receive queue is empty",
     ("NET-017", "NET-060"), DataPathConfig(device_cls=DeviceDropsWhenFull)),
    ("net.mutant.num-buffers-miscount", "with MRG_RXBUF the device writes num_buffers one short",
     ("NET-011",), DataPathConfig(device_cls=DeviceMiscountsBuffers, mrg=True)),
    ("net.mutant.send-at-take",
     "the device sends a frame when it takes the buffer, before using it",
     ("NET-061", "NET-060"), DataPathConfig(device_cls=DeviceSendsAtTake)),
    ("net.mutant.tx-while-link-down", "the device consumes transmit buffers while the link is down",
     ("NET-026", "NET-060"), DataPathConfig(device_cls=DeviceIgnoresLinkDown)),
    ("net.mutant.rx-newest-first", "the device delivers the newest waiting frame first",
     ("NET-018", "NET-060"), DataPathConfig(device_cls=DeviceNewestFirst)),
    ("net.mutant.driver-no-recover", "the driver does not take its buffers back at a reset",
     ("NET-062",), DataPathConfig(driver_cls=DriverNoRecover)),
    ("net.mutant.driver-detach-only",
     "the driver detaches buffers at a reset without reaping used ones",
     ("NET-062", "NET-060"), DataPathConfig(driver_cls=DriverDetachOnly)),
]


def _register(name: str, bug: str, reqs: tuple[str, ...], cfg: DataPathConfig) -> None:
    run: Callable[[], registry.Evidence] = mutant_run(cfg)
    switches = ([switched(cfg.device_cls)] if cfg.device_cls.lines != NetDevice.lines else []) \
        + ([switched(cfg.driver_cls)] if cfg.driver_cls.lines != NetDriver.lines else [])
    registry.mutant(name, "; ".join([bug, *switches]), reqs,
                    "hypothesis")(run)


for _name, _bug, _reqs, _cfg in MUTANTS:
    _register(_name, _bug, _reqs, _cfg)
