"""Configuration generation: the driver's read loop never returns a torn configuration.

Two models.

**Z3** (``pci.generation.lazy``), the protocol in the abstract. The driver reads the
generation (g1), then k fields, then the generation again (g2), and keeps the result only if
g1 = g2 (VIRTIO-PCI-051). Between any two of its reads the device may change its
configuration any number of times (each change is a new version). The device follows
VIRTIO-PCI-050 the way the reference does (the note of §4.1.4.3.1): a change sets a flag, and
a field read that finds the flag set increments the 8-bit generation. Claim: g1 = g2 implies
that the k fields were read from one version (VIRTIO-PCI-053). Proved for every k up to 255 by an
inductive invariant over unbounded integers, and cross-checked on the unrolled 8-bit machine
for small k. At k = 256 a change before every read wraps the counter, so the driver refuses
longer loops. Mutants: a device that increments on every change (eager: 256 changes wrap it), a
device that never increments, a driver that does not re-read the generation.

**Hypothesis** (``pci.generation.driver``), the code. The reference driver's
:meth:`~virtiospec.reference.virtio_pci.VirtioPciTransport.config_fields` is stepped one
access at a time against the reference device through the PCI layer; before any access the
device may change its MAC or link status. Whatever it returns must be the configuration of
one version. Mutants: the same driver without the loop, a device that never bumps.
"""

from __future__ import annotations

from typing import Any

import z3
from hypothesis import given
from hypothesis import strategies as st
from virtiospec.models import registry
from virtiospec.models.registry import Evidence, Step
from virtiospec.models.variant_switch import switched
from virtiospec.models.virtio_pci.harness import Log, caught, evidence, pci_settings, violated
from virtiospec.reference.access import Load, Store
from virtiospec.reference.net.config import OFF_STATUS as STATUS_AT
from virtiospec.reference.net.pci import PciNetDevice as NetDevice
from virtiospec.reference.pci import Machine, PhysMemory, Window
from virtiospec.reference.virtio_pci import (
    DeviceConfig,
    VirtioPciDevice,
    VirtioPciTransport,
)
from virtiospec.reference.virtio_pci.device_config import DeviceConfigLines
from virtiospec.reference.virtio_pci.errors import GenerationUnstable
from virtiospec.reference.virtio_pci.transport import TransportLines

REQS = ("VIRTIO-PCI-050", "VIRTIO-PCI-051", "VIRTIO-PCI-053")
LONGEST = 255  # fields one loop may read (transport.MAX_FIELDS)


# -- Z3 ------------------------------------------------------------------------------------

def _loop(k: int, device: str, recheck: bool) -> tuple[z3.Solver, dict[str, Any]]:
    """Constraints of one attempt with k field reads and a torn result that passes."""
    s = z3.Solver()
    gen = z3.BitVec("g0", 8)
    dirty: z3.BoolRef = z3.Bool("dirty0")
    version = z3.Int("v0")
    changes = [z3.Int(f"c{i}") for i in range(k + 1)]  # before field i, and before g2
    for c in changes:
        s.add(c >= 0)
    g1 = gen
    seen = []
    for i in range(k):
        version = version + changes[i]
        if device == "lazy":
            dirty = z3.Or(dirty, changes[i] > 0)
            gen = z3.If(dirty, gen + 1, gen)
            dirty = z3.BoolVal(False)
        elif device == "eager":
            gen = gen + z3.Int2BV(changes[i], 8)
        seen.append(version)
    if device == "eager":
        gen = gen + z3.Int2BV(changes[k], 8)
    g2 = gen if recheck else g1
    s.add(g1 == g2)
    s.add(z3.Or([v != seen[0] for v in seen[1:]]) if k > 1 else z3.BoolVal(False))
    return s, {"g1": g1, "g2": g2, "changes": changes, "seen": seen}


def _trace(model: z3.ModelRef, parts: dict[str, Any], k: int) -> list[Step]:
    def val(e: Any) -> int:
        return model.eval(e, model_completion=True).as_long()  # type: ignore[no-any-return]

    steps = [Step("driver", f"read config_generation -> {val(parts['g1'])}")]
    for i in range(k):
        n = val(parts["changes"][i])
        if n:
            steps.append(Step("device", f"{n} configuration change(s)"))
        steps.append(Step("driver", f"read field {i} -> from version {val(parts['seen'][i])}"))
    if val(parts["changes"][k]):
        steps.append(Step("device", f"{val(parts['changes'][k])} configuration change(s)"))
    steps.append(Step("driver", f"read config_generation -> {val(parts['g2'])}: equal, "
                                f"the torn fields are returned"))
    return steps


def _refute(device: str, recheck: bool, ks: list[int]) -> Evidence:
    """A torn result for some k in ``ks`` (ok: the bug is shown)."""
    for k in ks:
        s, parts = _loop(k, device, recheck)
        if s.check() == z3.sat:
            return Evidence(True, f"torn read with {k} fields", _trace(s.model(), parts, k))
    return Evidence(False, f"no torn read found for k in {ks[0]}..{ks[-1]}")


def _valid(claim: z3.BoolRef) -> bool:
    s = z3.Solver()
    s.add(z3.Not(claim))
    return bool(s.check() == z3.unsat)


def inductive_lazy() -> tuple[bool, str]:
    """The loop with the lazy device for any number of reads, by an inductive invariant.

    State after r field reads: ``inc`` increments of the generation since g1 was read,
    ``torn`` (some read saw another version than the first), the first and the last version
    read, the device's flag. Invariant: 0 <= inc <= r; torn => inc >= 1; after a read the
    flag is clear and a last version unlike the first means torn. With r <= 255, inc is in
    1..255 whenever torn, so g2 = g1 + inc (mod 256) differs from g1."""
    r, inc, vfirst, vlast, c = z3.Ints("r inc vfirst vlast c")
    torn, dirty = z3.Bools("torn dirty")

    def inv(r: Any, inc: Any, torn: Any, dirty: Any, vfirst: Any, vlast: Any) -> Any:
        return z3.And(r >= 0, inc >= 0, inc <= r, z3.Implies(torn, inc >= 1),
                      z3.Implies(r >= 1, z3.Not(dirty)),
                      z3.Implies(z3.And(r >= 1, vlast != vfirst), torn))

    init = inv(0, 0, False, dirty, vlast, vlast)
    # one step: c >= 0 changes, then a field read
    d1 = z3.Or(dirty, c > 0)
    v = vlast + c
    after = inv(r + 1, inc + z3.If(d1, 1, 0), z3.Or(torn, z3.And(r >= 1, v != vfirst)), False,
                z3.If(r == 0, v, vfirst), v)
    step = z3.Implies(z3.And(inv(r, inc, torn, dirty, vfirst, vlast), c >= 0), after)
    # at the end: changes after the last read only set the flag; g2 - g1 = inc (mod 256)
    end = z3.Implies(z3.And(inv(r, inc, torn, dirty, vfirst, vlast), r <= LONGEST,
                            inc % 256 == 0), z3.Not(torn))
    for name, claim in (("initiation", init), ("consecution", step), ("safety", end)):
        if not _valid(claim):
            return False, f"{name} fails"
    return True, "inductive for any number of reads up to 255"


@registry.proof("pci.generation.lazy", REQS,
                "generation loop over any k <= 255 fields returns one version (lazy device)")
def generation_lazy() -> Evidence:
    ok, detail = inductive_lazy()
    if not ok:
        return Evidence(False, detail)
    for k in range(1, 9):  # the unrolled bit-vector machine agrees on small k
        s, _ = _loop(k, "lazy", True)
        if s.check() != z3.unsat:
            return Evidence(False, f"torn read possible with {k} fields (unrolled)")
    return Evidence(True, f"{detail}; unrolled 8-bit machine: no torn read for k = 1..8")


@registry.mutant("pci.mutant.generation.eager-wrap",
                 "device increments config_generation on every change (256 changes wrap it)",
                 ("VIRTIO-PCI-050",), "z3")
def eager_wrap() -> Evidence:
    return _refute("eager", True, [2, 3])


@registry.mutant("pci.mutant.generation.never-bumps",
                 "device never changes config_generation", ("VIRTIO-PCI-050",), "z3")
def never_bumps() -> Evidence:
    return _refute("never", True, [2, 3])


@registry.mutant("pci.mutant.generation.driver-no-recheck",
                 "driver reads config_generation only before the fields",
                 ("VIRTIO-PCI-051", "VIRTIO-PCI-053"), "z3")
def driver_no_recheck() -> Evidence:
    return _refute("lazy", False, [2, 3])


# -- Hypothesis: the reference code --------------------------------------------------------

FIELDS = [(i, 1) for i in range(6)] + [(STATUS_AT, 2)]


class OnePass(VirtioPciTransport):
    """Reads the fields once, ignoring the generation."""

    lines = TransportLines(generation_recheck=False)  # BUG (VIRTIO-PCI-051, VIRTIO-PCI-053)


class NeverBumps(DeviceConfig):
    """Never moves config_generation, whatever changed."""

    lines = DeviceConfigLines(generation_bumps=False)  # BUG (VIRTIO-PCI-050)


def check_generation(transport_cls: type[VirtioPciTransport],
                     config_cls: type[DeviceConfig], examples: int) -> Evidence:
    log = Log()

    @pci_settings(examples)
    @given(data=st.data())
    def test(data: st.DataObject) -> None:
        log.start()
        net = NetDevice()
        net.config = config_cls(net.config.snapshot())
        machine = Machine(1 << 20)
        machine.plug(3, 0, VirtioPciDevice(net))
        base = VirtioPciTransport.probe(machine, 1, Window(0xE000_0000, 0x1000_0000))
        t = transport_cls(machine, base.cfg, base.function, list(base.bars.values()))
        memory = PhysMemory(machine)
        versions = [net.config.snapshot()[:8]]
        changes = data.draw(st.dictionaries(st.integers(0, 40), st.one_of(
            st.just(b"link"), st.binary(min_size=6, max_size=6)), max_size=8), label="changes")
        op = t.config_fields(FIELDS)
        value: int | None = None
        n = 0
        while True:
            try:
                access = op.send(value)
            except StopIteration as done:
                result: list[int] = done.value
                break
            except GenerationUnstable:
                log.step("driver", "gave up: generation never stable (bounded)")
                return
            change = changes.get(n)
            n += 1
            if change == b"link":
                up = not net.config.data[STATUS_AT] & 1
                net.config.update(STATUS_AT, int(up).to_bytes(2, "little"))
                log.step("device", f"link {'up' if up else 'down'}")
                versions.append(net.config.snapshot()[:8])
            elif change is not None:
                net.config.update(0, change)
                log.step("device", f"mac := {change.hex()}")
                versions.append(net.config.snapshot()[:8])
            assert isinstance(access, Load | Store)
            if isinstance(access, Load):
                value = memory.read(access.addr, access.size)
                log.step("driver", f"load {access.addr - (t.structures.device or 0):+#x} "
                                   f"-> {value:#x}")
            else:
                memory.write(access.addr, access.size, access.value)
                value = None
        got = bytes(result[:6]) + result[6].to_bytes(2, "little")
        violated(got in versions, "VIRTIO-PCI-053",
                 f"returned {got.hex()}, which is none of the versions "
                 f"{[v.hex() for v in versions]}")

    return evidence(test, log)


@registry.check("pci.generation.driver", REQS,
                "the reference driver's generation loop against a changing reference device")
def generation_driver(examples: int) -> Evidence:
    return check_generation(VirtioPciTransport, DeviceConfig, examples)


@registry.mutant("pci.mutant.generation.driver-one-pass",
                 "driver reads device configuration once, ignoring config_generation; "
                 f"{switched(OnePass)}",
                 ("VIRTIO-PCI-051", "VIRTIO-PCI-053"), "hypothesis")
def driver_one_pass() -> Evidence:
    return caught(check_generation(OnePass, DeviceConfig, 300))


@registry.mutant("pci.mutant.generation.device-no-bump",
                 "reference device that never increments config_generation; "
                 f"{switched(NeverBumps)}",
                 ("VIRTIO-PCI-050", "VIRTIO-PCI-053"), "hypothesis")
def device_no_bump() -> Evidence:
    return caught(check_generation(VirtioPciTransport, NeverBumps, 300))
