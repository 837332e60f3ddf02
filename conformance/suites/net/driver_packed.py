"""A real driver on a packed ring, watched by our device: with VIRTIO_F_RING_PACKED negotiated
(``--target dpdk,packed_vq=1``, ``--target linux-guest,packed=on``) the vhost-user device
serves :class:`~virtiospec.reference.ring.packed.device.PackedDevice` queues, which refuse
every list that breaks the driver's rules of spec/ring_packed.md (RING-PACKED-080 to
RING-PACKED-085 name the checks). A session without a packed ring SKIPs, saying so.
"""

from __future__ import annotations

import re

from virtiospec.conformance.cases import CaseSkipped, Outcome, Result, case, require
from virtiospec.conformance.suites.net.api import session_of
from virtiospec.reference.net import features as F

BUDGET = 180.0
# the device's check (as its error names it) -> the driver's rule the list broke
BROKEN = {"RING-PACKED-080": "RING-PACKED-030", "RING-PACKED-081": "RING-PACKED-035",
          "RING-PACKED-082": "RING-PACKED-041", "RING-PACKED-084": "RING-PACKED-031",
          "RING-PACKED-085": "RING-PACKED-025"}


@case("net.driver.packed-ring", ("RING-PACKED-013", "RING-PACKED-025", "RING-PACKED-030",
      "RING-PACKED-031", "RING-PACKED-035", "RING-PACKED-041", "RING-PACKED-092"), "driver",
      "net", "on a packed ring every list the driver makes available passes our device's "
      "checks (marks, IDs, length, order, indirect), and the frames go both ways",
      budget=BUDGET)
def packed_ring(target: object) -> Result:
    obs = session_of(target)
    if not F.has(obs.features, F.RING_PACKED):
        raise CaseSkipped("the driver did not negotiate VIRTIO_F_RING_PACKED (DPDK: "
                          "packed_vq=1; a Linux guest: packed=on)")
    faults = [e for e in obs.errors if e.startswith("vring ")]
    named = re.findall(r"RING-PACKED-\d{3}", " ".join(faults))
    require(not faults, "our device refused none of the driver's lists", "no refusal",
            "; ".join(faults[:3]), req=next((BROKEN[r] for r in named if r in BROKEN), ""))
    moved = {what: got for what, (want, got) in obs.round_trips.items()}
    require(bool(obs.tx_frames) and all(got == want for want, got in obs.round_trips.values()),
            "frames went both ways on the packed ring, none lost", str(
                {w: want for w, (want, _) in obs.round_trips.items()}), str(moved))
    return Result(Outcome.PASS, f"{len(obs.tx_frames)} frames sent by the driver; " +
                  "; ".join(f"{w}: {g}" for w, g in moved.items()))
