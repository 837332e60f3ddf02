"""NET-025 (VIRTIO 1.4 §5.1.4.1): a network device that offers VIRTIO_NET_F_MQ sets
``max_virtqueue_pairs`` (le16 at offset 8 of its configuration) between 1 and 0x8000.

The suite reads the offered features and the field through virtio-pci, as a driver would
before negotiating. A device that does not offer MQ has nothing to check: SKIP (the
reference's virtio-pci network device has no control queue, so it offers no MQ; QEMU does
with ``--target qemu,mq=on``). A device that offers it breaking the range is what the known-
bad device of models/virtio_pci/driver_rule_mutants.py is.
"""

from __future__ import annotations

from virtiospec.conformance.cases import CaseSkipped, case, require
from virtiospec.conformance.suites.virtio_pci.session import do, session, transport
from virtiospec.reference.net import features as F
from virtiospec.reference.net.config import OFF_MAX_PAIRS

MQ_PAIRS_MAX = 0x8000


@case("pci.net.max-pairs", ("NET-025",), "device", "pci",
      "with VIRTIO_NET_F_MQ offered, max_virtqueue_pairs lies in [1, 0x8000]")
def max_pairs(target: object) -> None:
    with session(target) as s:
        t = transport(s)
        offered = do(s, t.device_features())
        if not F.has(offered, F.MQ):
            raise CaseSkipped("the device does not offer VIRTIO_NET_F_MQ")
        (pairs,) = do(s, t.config_fields([(OFF_MAX_PAIRS, 2)]))
        require(1 <= pairs <= MQ_PAIRS_MAX, "max_virtqueue_pairs with VIRTIO_NET_F_MQ",
                f"1..{MQ_PAIRS_MAX:#x}", str(pairs), req="NET-025")
