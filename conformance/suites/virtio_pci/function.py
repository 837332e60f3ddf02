"""VIRTIO-PCI-005 (VIRTIO 1.4 §4.1.1): a virtio device on PCI is a conforming PCI function.
What the reference relies on of the PCI specification is stated as PCI-CFG-001 to
PCI-CFG-012 (spec/pci.md), each checked by a device case of pci_config.py; this case runs
every one of them against the same target and fails the umbrella requirement, naming the
part, when one does.
"""

from __future__ import annotations

from virtiospec.conformance.cases import (
    FAILED,
    CaseFailed,
    CaseSkipped,
    Result,
    case,
    discover,
    require,
)


def parts() -> list[str]:
    """The device cases that check PCI-CFG requirements, in ID order."""
    return sorted(c.id for c in discover().values()
                  if c.layer == "pci" and c.side == "device" and c.id != "pci.function.conforms"
                  and any(r.startswith("PCI-CFG-") for r in c.reqs))


@case("pci.function.conforms", ("VIRTIO-PCI-005",), "device", "pci",
      "the device is a conforming PCI function: every PCI-CFG device case (configuration "
      "mechanism, read-only header, BAR sizing, decoding, bus mastering, capability list, "
      "MSI-X) passes against it", budget=120.0)
def conforms(target: object) -> Result | None:
    ran, skipped = [], []
    for cid in parts():
        part = discover()[cid]
        try:
            res = part.fn(target)
        except CaseSkipped as why:
            skipped.append(f"{cid}: {why}")
            continue
        except CaseFailed as err:
            raise CaseFailed(f"{cid} ({', '.join(part.reqs)}): {err.detail}", err.expected,
                             err.observed, req="VIRTIO-PCI-005") from None
        require(res is None or res.outcome not in FAILED, f"{cid} ({', '.join(part.reqs)})",
                "passes", "" if res is None else f"{res.outcome.value}: {res.detail}",
                req="VIRTIO-PCI-005")
        ran.append(cid)
    if not ran:
        raise CaseSkipped("; ".join(skipped) or "no PCI-CFG case")
    return None
