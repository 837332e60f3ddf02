"""Memory bounds of the device's descriptor walk, proved for every table content (Z3).

The device reads descriptors that a hostile driver wrote. This module proves that the walk of
the split ring (RING-SPLIT-080, RING-SPLIT-081, RING-SPLIT-082) and of the packed ring
(RING-PACKED-080, RING-PACKED-082, RING-PACKED-083), direct and through an indirect table,
touches only guest addresses inside the regions the driver registered, and ends.

The model is one step of the walk, symbolic in everything: the queue size Q in [1, 32768],
the region table (any number ``n`` of regions, each a 64-bit guest address and a 64-bit size
in arrays indexed by region), the descriptor table's address, the descriptor's fields
(``addr`` 64 bits, ``len`` 32, ``flags`` and ``next``/``id`` 16, read from an unconstrained
array, so any table content), whether VIRTIO_F_INDIRECT_DESC was negotiated and, for packed,
how many descriptors the device already holds. Arithmetic is the C reference's
(reference/ring.c ``vs_walk``, reference/ring/c/ring_packed.c ``vs_pwalk_list``): 64-bit addresses,
32-bit counts, both wrapping. The region check is the one of reference/vhost_user/c/ring_vhost.c
``vsv_host`` (``a >= g``, ``n <= size``, ``a - g <= size - n``, no addition that can wrap);
ring.c's ``vs_inside`` and the Python reference's ``addr + len > memory_size`` are its
one-region case with ``g = 0`` (the lemma ``ring.bounds.region-check`` shows the check
accepts exactly the contained ranges). A check is modelled by the region it found (a free
witness per check), so every accepting path is covered. (The vhost-user back-end's walk,
ring.c through ring_vhost.c, checks buffers against the end of the highest region and
refuses an access between regions when it translates it with ``vsv_host``; the model is the
walk that checks each buffer against the regions themselves, which that composition
amounts to for what is touched.)

What is proved, by induction over the steps (an invariant that holds initially and that
every step keeps, with a ranking that every step decreases), for every table content:

* every descriptor read lies in one region (the ring's table by RING-SPLIT-002 /
  RING-PACKED-001, checked when the queue is created; an indirect table by the walk);
* every accepted buffer's ``[addr, addr + len)`` lies, in unbounded integers (no wrapping),
  inside one region;
* every followed indirect table lies in one region, is a non-zero multiple of 16 bytes;
* split: at most Q buffers are accepted and at most Q + 1 descriptors read; packed: at most
  Q minus the held descriptors from the ring, and at most Q entries from an indirect table.

The known-bad variants (models/ring/bounds_mutants.py) switch one check off in this same
step; a bounded search from the initial state over a concrete-able memory then finds a
shortest table content that breaks one of the obligations.
"""

from __future__ import annotations

from dataclasses import dataclass

import z3
from virtiospec.models import registry

M64, M32 = 1 << 64, 1 << 32
QMAX = 32768
INT = z3.IntSort()


def u(x: z3.ArithRef, bits: int) -> z3.BoolRef:
    """``x`` is an unsigned value of ``bits`` bits."""
    return z3.And(x >= 0, x < (1 << bits))


def add(x: z3.ArithRef | int, y: z3.ArithRef | int, m: int = M64) -> z3.ArithRef:
    """C's unsigned x + y modulo m, for x, y in [0, m)."""
    return z3.If(x + y >= m, x + y - m, x + y)


def sub(x: z3.ArithRef | int, y: z3.ArithRef | int, m: int = M64) -> z3.ArithRef:
    """C's unsigned x - y modulo m, for x, y in [0, m)."""
    return z3.If(x >= y, x - y, x - y + m)


@dataclass(frozen=True)
class Variant:
    """Which checks the walk makes (all on: the reference)."""

    region: str = "exact"  # "exact", "wrap" (addr + len <= g + size in 64 bits), "off_by_one"
    indirect_len: bool = True  # len != 0 and len % 16 == 0 for an indirect table
    bounded: bool = True  # the Q bounds on the walk


REFERENCE = Variant()


@dataclass
class Desc:
    """The fields of the descriptor at one address, as the device reads them."""

    addr: z3.ArithRef
    len: z3.ArithRef
    next: z3.ArithRef  # split: next; packed: id
    f_next: z3.BoolRef
    f_write: z3.BoolRef
    f_indirect: z3.BoolRef
    f_avail: z3.BoolRef
    f_used: z3.BoolRef

    def facts(self) -> z3.BoolRef:
        return z3.And(u(self.addr, 64), u(self.len, 32), u(self.next, 16))


@dataclass
class World:
    """Everything the walk does not write: Q, regions, ring table, memory, features."""

    q: z3.ArithRef
    n: z3.ArithRef
    g: z3.ArrayRef
    size: z3.ArrayRef
    desc: z3.ArithRef
    ring_region: z3.ArithRef
    mem: tuple[z3.ArrayRef, ...]  # addr, len, next, and the five flag bits, by address
    indirect: z3.BoolRef
    held: z3.ArithRef  # packed: ring descriptors the device holds already

    @classmethod
    def fresh(cls, tag: str = "") -> World:
        names = ("addr", "len", "next")
        bits = ("NEXT", "WRITE", "INDIRECT", "AVAIL", "USED")
        mem = tuple(z3.Array(f"mem_{x}{tag}", INT, INT) for x in names) + tuple(
            z3.Array(f"mem_{x}{tag}", INT, z3.BoolSort()) for x in bits)
        return cls(z3.Int("Q" + tag), z3.Int("n" + tag), z3.Array("G" + tag, INT, INT),
                   z3.Array("S" + tag, INT, INT), z3.Int("desc" + tag), z3.Int("ring_region" + tag),
                   mem, z3.Bool("indirect" + tag), z3.Int("held" + tag))

    def read(self, at: z3.ArithRef) -> Desc:
        m = self.mem
        return Desc(m[0][at], m[1][at], m[2][at], m[3][at], m[4][at], m[5][at], m[6][at],
                    m[7][at])

    def region_facts(self, i: z3.ArithRef) -> z3.BoolRef:
        """A registered region: 64-bit address and size, not wrapping the address space
        (the back-end refuses such a memory table)."""
        return z3.And(u(self.g[i], 64), u(self.size[i], 64), self.well_formed(i))

    def assumptions(self) -> z3.BoolRef:
        """Q in [1, 32768], held <= Q, and the ring's table inside one region
        (RING-SPLIT-002, RING-PACKED-001: checked when the queue is created)."""
        return z3.And(self.q >= 1, self.q <= QMAX, self.held >= 0, self.held <= self.q,
                      self.n >= 1, self.n < M32, u(self.desc, 64),
                      self.region_facts(self.ring_region),
                      self.region_ok(self.ring_region),
                      self.contained(self.ring_region, self.desc, 16 * self.q))

    def region_ok(self, i: z3.ArithRef) -> z3.BoolRef:
        """Region ``i`` is one of the ``n`` registered."""
        return z3.And(i >= 0, i < self.n)

    def well_formed(self, i: z3.ArithRef) -> z3.BoolRef:
        """Region ``i`` does not wrap the guest address space."""
        return self.g[i] + self.size[i] <= M64

    def contained(self, i: z3.ArithRef, a: z3.ArithRef, length: z3.ArithRef | int) -> z3.BoolRef:
        """[a, a + length) inside region i, in integers: what is to be proved."""
        return z3.And(a >= self.g[i], a + length <= self.g[i] + self.size[i])

    def check(self, v: Variant, i: z3.ArithRef, a: z3.ArithRef,
              length: z3.ArithRef) -> z3.BoolRef:
        """The device's region check of [a, a + length) against region i, in C's 64 bits."""
        g, s = self.g[i], self.size[i]
        if v.region == "wrap":  # BUG: a + len and g + size computed in 64 bits
            return z3.And(self.region_ok(i), a >= g, add(a, length) <= add(g, s))
        if v.region == "off_by_one":  # BUG: the end taken as inclusive (one byte too far)
            s1 = add(s, 1)
            return z3.And(self.region_ok(i), a >= g, length <= s1, sub(a, g) <= sub(s1, length))
        return z3.And(self.region_ok(i), a >= g, length <= s, sub(a, g) <= sub(s, length))


@dataclass
class Obligation:
    name: str
    holds: z3.BoolRef


@dataclass
class Step:
    """What one iteration did: the next state, its obligations, the facts about the values
    it read (their widths), the descriptor address read and whether a buffer was accepted."""

    state: SplitState | PackedState
    obligations: list[Obligation]
    facts: z3.BoolRef
    at: z3.ArithRef
    desc: Desc
    accept: z3.BoolRef


@dataclass
class SplitState:
    alive: z3.BoolRef  # the walk goes on with this state
    table: z3.ArithRef  # the table being walked
    region: z3.ArithRef  # the region the table was found in
    limit: z3.ArithRef  # its entries
    index: z3.ArithRef  # the descriptor read next
    count: z3.ArithRef  # buffers accepted
    ind: z3.BoolRef  # inside an indirect table

    @classmethod
    def fresh(cls, tag: str) -> SplitState:
        return cls(z3.Bool("alive" + tag), z3.Int("table" + tag), z3.Int("region" + tag),
                   z3.Int("limit" + tag), z3.Int("index" + tag), z3.Int("count" + tag),
                   z3.Bool("ind" + tag))

    def facts(self) -> z3.BoolRef:
        return z3.And(u(self.table, 64), u(self.limit, 32), u(self.index, 32), u(self.count, 32))


def split_initial(w: World, head: z3.ArithRef) -> tuple[SplitState, z3.BoolRef]:
    """The walk of ``head``, after the head < Q check (RING-SPLIT-080)."""
    s = SplitState(z3.BoolVal(True), w.desc, w.ring_region, w.q, head, z3.IntVal(0),
                   z3.BoolVal(False))
    return s, z3.And(u(head, 16), head < w.q)


def split_invariant(w: World, s: SplitState) -> z3.BoolRef:
    return z3.Implies(s.alive, z3.And(
        w.region_ok(s.region), w.region_facts(s.region), s.limit >= 1, s.index < s.limit,
        w.contained(s.region, s.table, 16 * s.limit), s.count <= w.q,
        z3.Implies(z3.Not(s.ind), z3.And(s.table == w.desc, s.limit == w.q,
                                         s.region == w.ring_region))))


def split_rank(w: World, s: SplitState) -> z3.ArithRef:
    """Decreases at every step that goes on, and stays >= 0: buffers left under Q (twice),
    plus one while the indirect table is still to be followed."""
    return (w.q - s.count) * 2 + z3.If(s.ind, 0, 1)


def split_step(w: World, v: Variant, s: SplitState, tag: str) -> Step:
    """One iteration of vs_walk's loop."""
    at = add(s.table, 16 * s.index)
    d = w.read(at)
    wit = z3.Int("witness" + tag)  # the region the check of this step found
    entries = d.len / 16
    obligations = [Obligation("descriptor read inside a region",
                              z3.Implies(s.alive, w.contained(s.region, at, 16)))]
    # -- INDIRECT: RING-SPLIT-081, RING-SPLIT-082, RING-SPLIT-080
    ind_ok = z3.And(w.indirect, z3.Not(s.ind), z3.Not(d.f_next), w.check(v, wit, d.addr, d.len))
    if v.indirect_len:
        ind_ok = z3.And(ind_ok, d.len != 0, d.len % 16 == 0)
    if v.bounded:
        ind_ok = z3.And(ind_ok, add(s.count, entries, M32) <= w.q)
    follow = z3.And(s.alive, d.f_indirect, ind_ok)
    obligations.append(Obligation(
        "indirect table inside a region, a non-zero multiple of 16 bytes",
        z3.Implies(follow, z3.And(w.region_ok(wit), w.contained(wit, d.addr, d.len),
                                  d.len != 0, d.len % 16 == 0))))
    # -- a buffer: RING-SPLIT-080, RING-SPLIT-082
    count1 = add(s.count, 1, M32)
    buf_ok = w.check(v, wit, d.addr, d.len)
    if v.bounded:
        buf_ok = z3.And(buf_ok, count1 <= w.q)
    accept = z3.And(s.alive, z3.Not(d.f_indirect), buf_ok)
    obligations.append(Obligation(
        "accepted buffer inside a region",
        z3.Implies(accept, z3.And(w.region_ok(wit), w.contained(wit, d.addr, d.len)))))
    obligations.append(Obligation("at most Q buffers accepted",
                                  z3.Implies(accept, count1 <= w.q)))
    go_on = z3.And(accept, d.f_next, d.next < s.limit)
    nxt = SplitState(z3.Or(follow, go_on), z3.If(follow, d.addr, s.table),
                     z3.If(follow, wit, s.region), z3.If(follow, entries, s.limit),
                     z3.If(follow, 0, d.next), z3.If(follow, s.count, count1),
                     z3.Or(s.ind, follow))
    return Step(nxt, obligations, z3.And(d.facts(), w.region_facts(wit)), at, d, accept)


@dataclass
class PackedState:
    alive: z3.BoolRef
    in_table: z3.BoolRef  # walking an indirect table (else the ring)
    pos: z3.ArithRef  # ring position
    wrap: z3.BoolRef  # the wrap counter of pos
    count: z3.ArithRef  # ring descriptors of the list so far
    table: z3.ArithRef
    region: z3.ArithRef
    entries: z3.ArithRef
    k: z3.ArithRef  # the table entry read next

    @classmethod
    def fresh(cls, tag: str) -> PackedState:
        return cls(z3.Bool("alive" + tag), z3.Bool("in_table" + tag), z3.Int("pos" + tag),
                   z3.Bool("wrap" + tag), z3.Int("count" + tag), z3.Int("table" + tag),
                   z3.Int("region" + tag), z3.Int("entries" + tag), z3.Int("k" + tag))

    def facts(self) -> z3.BoolRef:
        return z3.And(u(self.pos, 16), u(self.count, 32), u(self.table, 64),
                      u(self.entries, 32), u(self.k, 32))


def packed_initial(w: World, pos: z3.ArithRef, wrap: z3.BoolRef) -> tuple[PackedState, z3.BoolRef]:
    s = PackedState(z3.BoolVal(True), z3.BoolVal(False), pos, wrap, z3.IntVal(0), z3.IntVal(0),
                    z3.IntVal(0), z3.IntVal(0), z3.IntVal(0))
    return s, z3.And(pos >= 0, pos < w.q)


def packed_invariant(w: World, s: PackedState) -> z3.BoolRef:
    ring = z3.And(s.pos < w.q, w.held + s.count <= w.q)
    table = z3.And(w.region_ok(s.region), w.region_facts(s.region), s.entries >= 1,
                   s.entries <= w.q, s.k <= s.entries,
                   w.contained(s.region, s.table, 16 * s.entries))
    return z3.Implies(s.alive, z3.If(s.in_table, table, ring))


def packed_rank(w: World, s: PackedState) -> z3.ArithRef:
    return z3.If(s.in_table, s.entries - s.k, (w.q - w.held - s.count) + w.q + 1)


def packed_step(w: World, v: Variant, s: PackedState, tag: str) -> Step:
    """One iteration of vs_pwalk_list's loop (ring) or of vs_ptable's (indirect table)."""
    wit = z3.Int("witness" + tag)
    ring_at = add(w.desc, 16 * s.pos)
    tab_at = add(s.table, 16 * s.k)
    at = z3.If(s.in_table, tab_at, ring_at)
    d = w.read(at)
    on_ring = z3.And(s.alive, z3.Not(s.in_table))
    in_tab = z3.And(s.alive, s.in_table, s.k < s.entries)
    obligations = [Obligation("descriptor read inside a region", z3.And(
        z3.Implies(in_tab, w.contained(s.region, tab_at, 16)),
        z3.Implies(on_ring, w.contained(w.ring_region, ring_at, 16))))]
    # -- the ring: RING-PACKED-080 (held + count <= Q), RING-PACKED-081 (available marks)
    count1 = add(s.count, 1, M32)
    desc_ok = z3.And(d.f_avail == s.wrap, d.f_used != s.wrap)
    if v.bounded:
        desc_ok = z3.And(desc_ok, add(w.held, count1, M32) <= w.q)
    obligations.append(Obligation("at most Q - held ring descriptors", z3.Implies(
        z3.And(on_ring, desc_ok), w.held + count1 <= w.q)))
    entries = d.len / 16
    ind_ok = z3.And(w.indirect, count1 == 1, z3.Not(d.f_next), w.check(v, wit, d.addr, d.len))
    if v.indirect_len:  # RING-PACKED-082
        ind_ok = z3.And(ind_ok, d.len != 0, d.len % 16 == 0)
    if v.bounded:  # RING-PACKED-080
        ind_ok = z3.And(ind_ok, entries <= w.q)
    follow = z3.And(on_ring, desc_ok, d.f_indirect, ind_ok)
    obligations.append(Obligation(
        "indirect table inside a region, a non-zero multiple of 16 bytes, at most Q entries",
        z3.Implies(follow, z3.And(w.region_ok(wit), w.contained(wit, d.addr, d.len),
                                  d.len != 0, d.len % 16 == 0, entries <= w.q))))
    # -- an element, of the ring or of the table: RING-PACKED-083
    elem = z3.Or(z3.And(on_ring, desc_ok, z3.Not(d.f_indirect)), in_tab)
    accept = z3.And(elem, w.check(v, wit, d.addr, d.len))
    obligations.append(Obligation("accepted buffer inside a region", z3.Implies(
        accept, z3.And(w.region_ok(wit), w.contained(wit, d.addr, d.len)))))
    ring_next = z3.And(on_ring, accept, d.f_next)
    last = s.pos + 1 == w.q
    nxt = PackedState(
        z3.Or(follow, ring_next, z3.And(in_tab, accept)), z3.Or(s.in_table, follow),
        z3.If(ring_next, z3.If(last, 0, s.pos + 1), s.pos),
        z3.If(z3.And(ring_next, last), z3.Not(s.wrap), s.wrap),
        z3.If(on_ring, count1, s.count), z3.If(follow, d.addr, s.table),
        z3.If(follow, wit, s.region), z3.If(follow, entries, s.entries),
        z3.If(follow, 0, z3.If(s.in_table, s.k + 1, s.k)))
    return Step(nxt, obligations, z3.And(d.facts(), w.region_facts(wit)), at, d, accept)


# -- the inductive proofs ------------------------------------------------------------------


def _solve(claim: z3.BoolRef) -> z3.ModelRef | None:
    """A model of ``claim``'s negation, or None when the claim is valid."""
    s = z3.Solver()
    s.add(z3.Not(claim))
    r = s.check()
    if r == z3.unsat:
        return None
    if r != z3.sat:
        raise RuntimeError(f"z3 returned {r}")
    return s.model()


def prove_walk(kind: str, v: Variant = REFERENCE,
               indirect: bool | None = None) -> tuple[bool, str]:
    """Induction for the split (``kind="split"``) or packed walk. ``indirect`` fixes the
    feature (None: both). Returns (holds, the first failing obligation)."""
    w = World.fresh()
    hyp = w.assumptions()
    if indirect is not None:
        hyp = z3.And(hyp, w.indirect == indirect)
    if kind == "split":
        s0, pre = split_initial(w, z3.Int("head"))
        s = SplitState.fresh("")
        st = split_step(w, v, s, "")
        s1 = st.state
        assert isinstance(s1, SplitState)
        inv0, inv, inv1 = (split_invariant(w, x) for x in (s0, s, s1))
        decreasing = z3.And(split_rank(w, s1) < split_rank(w, s), split_rank(w, s1) >= 0)
        facts = s.facts()
    else:
        p0, pre = packed_initial(w, z3.Int("pos0"), z3.Bool("wrap0"))
        p = PackedState.fresh("")
        st = packed_step(w, v, p, "")
        p1 = st.state
        assert isinstance(p1, PackedState)
        inv0, inv, inv1 = (packed_invariant(w, x) for x in (p0, p, p1))
        decreasing = z3.And(packed_rank(w, p1) < packed_rank(w, p), packed_rank(w, p1) >= 0)
        facts = p.facts()
    if _solve(z3.Implies(z3.And(hyp, pre), inv0)) is not None:
        return False, "the invariant does not hold initially"
    step_hyp = z3.And(hyp, facts, st.facts, inv)
    if _solve(z3.Not(z3.And(step_hyp, st.state.alive, st.accept))) is None:
        return False, "vacuous: no step both goes on and accepts a buffer"
    for ob in st.obligations:
        if _solve(z3.Implies(step_hyp, ob.holds)) is not None:
            return False, ob.name
    if _solve(z3.Implies(step_hyp, inv1)) is not None:
        return False, "the invariant is not kept by a step"
    if _solve(z3.Implies(z3.And(step_hyp, st.state.alive), decreasing)) is not None:
        return False, "the walk does not get closer to its end at every step"
    return True, ""


def region_check_exact() -> bool:
    """The 64-bit check accepts exactly the contained ranges of a well-formed region, and
    ring.c's one-region ``addr <= size && len <= size - addr`` is its case g = 0."""
    w = World.fresh("_rc")
    i, a, n = z3.Int("i"), z3.Int("a"), z3.Int("len")
    hyp = z3.And(w.region_ok(i), w.region_facts(i), u(a, 64), u(n, 64))
    exact = z3.Implies(hyp, w.check(REFERENCE, i, a, n) == w.contained(i, a, n))
    mem = w.size[i]
    c_form = z3.And(a <= mem, n <= sub(mem, a))
    one = z3.Implies(z3.And(hyp, w.g[i] == 0), c_form == w.check(REFERENCE, i, a, n))
    return _solve(exact) is None and _solve(one) is None


def _evidence(kind: str, indirect: bool) -> registry.Evidence:
    ok, failing = prove_walk(kind, REFERENCE, indirect)
    bound = ("at most Q buffers accepted and Q + 1 descriptors read" if kind == "split" else
             "at most Q - held ring descriptors and Q indirect entries read")
    what = "with VIRTIO_F_INDIRECT_DESC" if indirect else "without VIRTIO_F_INDIRECT_DESC"
    if not ok:
        return registry.Evidence(False, f"{kind} walk {what}: {failing}")
    return registry.Evidence(True, f"{kind} walk {what}, any Q in [1, 32768], any number of "
                             "64-bit regions, any table content: every descriptor read and "
                             "every accepted buffer inside one region (no 64-bit wrap), "
                             f"{bound}; inductive invariant and ranking")


@registry.proof("ring.bounds.region-check", ("RING-SPLIT-082", "RING-PACKED-083"),
                "the device's 64-bit region check accepts exactly the ranges inside a region")
def proof_region_check() -> registry.Evidence:
    ok = region_check_exact()
    return registry.Evidence(ok, "a >= g, len <= size, a - g <= size - len (64 bits) <=> "
                             "g <= a and a + len <= g + size (integers); ring.c's form is the "
                             "case g = 0" if ok else "the check and containment differ")


@registry.proof("ring.bounds.split.direct", ("RING-SPLIT-080", "RING-SPLIT-082"),
                "split walk without indirect: reads and buffers inside the regions, <= Q")
def proof_split_direct() -> registry.Evidence:
    return _evidence("split", False)


@registry.proof("ring.bounds.split.indirect",
                ("RING-SPLIT-080", "RING-SPLIT-081", "RING-SPLIT-082"),
                "split walk with indirect tables: reads, tables and buffers inside the regions")
def proof_split_indirect() -> registry.Evidence:
    return _evidence("split", True)


@registry.proof("ring.bounds.packed.direct", ("RING-PACKED-080", "RING-PACKED-083"),
                "packed walk without indirect: reads and buffers inside the regions")
def proof_packed_direct() -> registry.Evidence:
    return _evidence("packed", False)


@registry.proof("ring.bounds.packed.indirect",
                ("RING-PACKED-080", "RING-PACKED-082", "RING-PACKED-083"),
                "packed walk with indirect tables: reads, tables and buffers inside the regions")
def proof_packed_indirect() -> registry.Evidence:
    return _evidence("packed", True)
