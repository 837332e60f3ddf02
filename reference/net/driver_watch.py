"""A network device that watches the driver's side of the control queue and of the queue
pairs, for the driver cases of conformance/suites/net/driver_rules.py.

:class:`DriverWatch` is the reference device; it records in :attr:`violations`, as
``(requirement ID, what)``, every driver action that breaks:

* NET-033: a VIRTIO_NET_CTRL_RX or VIRTIO_NET_CTRL_MAC command without VIRTIO_NET_F_CTRL_RX;
* NET-138: one of the RX commands VIRTIO_NET_F_CTRL_RX_EXTRA brings (ALLUNI, NOMULTI, NOUNI,
  NOBCAST) without that feature;
* NET-037: VQ_PAIRS_SET asking for 0 pairs or more than ``max_virtqueue_pairs``;
* NET-144: VQ_PAIRS_SET for ``n`` pairs while one of receiveq1..receiveqn has never had a
  buffer made available (the driver did not set up the pairs it enables);
* NET-039: a buffer made available on a transmit queue beyond the pairs in use (before the
  device carried out VQ_PAIRS_SET, only transmitq1 is), seen at each poll of the device.

With :attr:`rx_hdr_len` set (a subclass does), every received frame's header carries that
``hdr_len``, right or not, for NET-134 (the driver must not count on it).

Available indexes are read straight from the rings in guest memory (the device's own view
of them, without taking anything).
"""

from __future__ import annotations

import struct
from dataclasses import replace
from typing import Any

from virtiospec.reference.net import ctrl as C
from virtiospec.reference.net import features as F
from virtiospec.reference.net.device import NetDevice
from virtiospec.reference.net.header import NetHdr

EXTRA_RX = (C.RX_ALLUNI, C.RX_NOMULTI, C.RX_NOUNI, C.RX_NOBCAST)


class DriverWatch(NetDevice):
    rx_hdr_len: int | None = None
    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.violations: list[tuple[str, str]] = []
        self.commands: list[bytes] = []
        self._tx_avail: dict[int, int] = {}

    def _rx_header(self, buffers: int) -> NetHdr:
        hdr = super()._rx_header(buffers)
        return hdr if self.rx_hdr_len is None else replace(hdr, hdr_len=self.rx_hdr_len)

    def _avail_idx(self, index: int) -> int:
        q = self.queues.get(index)
        return 0 if q is None else self.mem.read(q.layout.avail + 2, 2)

    def command_seen(self, command: bytes) -> None:
        self.commands.append(command)
        if len(command) < 2:
            return
        cls, cmd, data = command[0], command[1], command[2:]
        if cls in (C.CLASS_RX, C.CLASS_MAC) and not F.has(self.features, F.CTRL_RX):
            self.violations.append(("NET-033", f"command class {cls} ({cmd}) without "
                                    "VIRTIO_NET_F_CTRL_RX"))
        if cls == C.CLASS_RX and cmd in EXTRA_RX and not F.has(self.features, F.CTRL_RX_EXTRA):
            self.violations.append(("NET-138", f"RX command {cmd} without "
                                    "VIRTIO_NET_F_CTRL_RX_EXTRA"))
        if cls == C.CLASS_MQ and cmd == C.MQ_VQ_PAIRS_SET and len(data) == 2:
            (n,) = struct.unpack("<H", data)
            if not 1 <= n <= self.config.max_pairs:
                self.violations.append(("NET-037", f"VQ_PAIRS_SET {n} outside "
                                        f"[1, {self.config.max_pairs}]"))
                return
            bare = [k + 1 for k in range(min(n, self.n_pairs)) if not self._avail_idx(2 * k)]
            if bare:
                self.violations.append(("NET-144", f"VQ_PAIRS_SET {n} while receiveq"
                                        f"{', receiveq'.join(map(str, bare))} never had a "
                                        "buffer"))

    def poll(self) -> int:
        for pair in range(self.n_pairs):
            index = 2 * pair + 1
            now = self._avail_idx(index)
            if pair >= self.filter.pairs and now != self._tx_avail.get(index, 0):
                self.violations.append(("NET-039", f"transmitq{pair + 1} given a buffer while "
                                        f"{self.filter.pairs} pair(s) are in use"))
            self._tx_avail[index] = now
        return super().poll()
