"""virtio-pci, device side: MSI-X vector mapping (VIRTIO 1.4 §4.1.5.1.2.1).

A device MUST let the driver map any event (the configuration change and every queue) to any
vector of its MSI-X table, several events to one vector, and unmap any event (VIRTIO-PCI-111);
a read of the vector field then shows the mapping (VIRTIO-PCI-040). The table is the one its
MSI-X capability reports (VIRTIO-PCI-112): one vector more is not mappable. It SHOULD have 2
to 0x800 vectors (VIRTIO-PCI-113).
"""

from __future__ import annotations

from virtiospec.conformance.cases import CaseSkipped, case, require
from virtiospec.conformance.suites.virtio_pci.session import do, net_driver, session
from virtiospec.reference.virtio_pci.regs import NO_VECTOR

MAX_VECTORS_TRIED = 64  # a bigger table: the first 63 and the last


@case("pci.virtio.any-vector", ("VIRTIO-PCI-111", "VIRTIO-PCI-112", "VIRTIO-PCI-113",
                                "VIRTIO-PCI-040"), "device", "pci",
      "every event maps to every vector of the MSI-X table the capability reports, all events "
      "share one, any unmaps; the table has 2 to 0x800 vectors")
def any_vector(target: object) -> None:
    with session(target) as s:
        drv = net_driver(s)
        t = drv.transport
        drv.negotiate()
        if t.msix is None:
            raise CaseSkipped("the device has no MSI-X capability")
        table = t.msix.vectors
        require(2 <= table <= 0x800, "MSI-X Table Size", "2 to 0x800 vectors", str(table),
                req="VIRTIO-PCI-113")
        vectors = [*range(min(table, MAX_VECTORS_TRIED - 1)), table - 1]
        queues = do(s, t.read("num_queues"))
        events: list[tuple[str, int | None]] = [("config_msix_vector", None)]
        events += [("queue_msix_vector", q) for q in range(queues)]

        def put(name: str, q: int | None, vector: int) -> int:
            if q is not None:
                do(s, t.write("queue_select", q))
            do(s, t.write(name, vector))
            return do(s, t.read(name))

        for name, q in events:
            what = "configuration" if q is None else f"queue {q}"
            for v in dict.fromkeys(vectors):
                got = put(name, q, v)
                require(got == v, f"{what} mapped to vector {v} of {table}", f"{v:#x}",
                        f"{got:#x}", req="VIRTIO-PCI-111")
            got = put(name, q, NO_VECTOR)
            require(got == NO_VECTOR, f"{what} unmapped", f"{NO_VECTOR:#x}", f"{got:#x}",
                    req="VIRTIO-PCI-111")
        got = put("config_msix_vector", None, table)
        require(got == NO_VECTOR, f"configuration mapped to vector {table}, past the reported "
                "table", f"{NO_VECTOR:#x}", f"{got:#x}", req="VIRTIO-PCI-112")
        shared = table - 1
        for name, q in events:
            put(name, q, shared)
        for name, q in events:
            if q is not None:
                do(s, t.write("queue_select", q))
            got = do(s, t.read(name))
            what = "configuration" if q is None else f"queue {q}"
            require(got == shared, f"{what} sharing vector {shared} with every other event",
                    f"{shared:#x}", f"{got:#x}", req="VIRTIO-PCI-111")
