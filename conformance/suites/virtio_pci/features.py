"""virtio-pci with a network device, device side: what the device offers (VIRTIO 1.4 §2.2.2).

A device MUST NOT offer a feature without a feature it depends on (VIRTIO-FEAT-011): the
case reads the offered bits through `device_feature` and checks them against the
dependencies of §5.1.3.1 the reference knows (reference/net/features.py, ``REQUIRES``:
each listed feature needs one of its prerequisites).
"""

from __future__ import annotations

from virtiospec.conformance.cases import case, require
from virtiospec.conformance.suites.virtio_pci.session import do, net_driver, session
from virtiospec.reference.net import features as F


def missing_prerequisites(offered: int) -> list[str]:
    """The offered features none of whose prerequisites is offered, as 'A without B or C'."""
    out = []
    for feat, needs in F.REQUIRES.items():
        if F.has(offered, feat) and not any(F.has(offered, n) for n in needs):
            out.append(f"{F.NAMES[feat]} without {' or '.join(F.NAMES[n] for n in needs)}")
    return out


@case("pci.net.offers-dependencies", ("VIRTIO-FEAT-011",), "device", "pci",
      "every offered network feature comes with a feature it depends on")
def offers_dependencies(target: object) -> None:
    with session(target) as s:
        t = net_driver(s).transport
        offered = do(s, t.device_features())
        bad = missing_prerequisites(offered)
        require(not bad, "prerequisites of the offered features", "all offered",
                "; ".join(bad), req="VIRTIO-FEAT-011")
