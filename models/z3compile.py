"""Z3 terms compiled into Python closures, for the explicit-state search of models/z3util.py
(``search``): a state is a tuple of the variables' values (Booleans as 0/1), and the
compiled guard, assignment or target computes the term's value in it. Only the operators the
models use are supported; every path the search returns is replayed with Z3's evaluator.
"""

from __future__ import annotations

from collections.abc import Callable

import z3

Env = tuple[int, ...]
Fn = Callable[[Env], int]


def compile_term(e: z3.ExprRef, slots: dict[str, int], params: dict[str, int]) -> Fn:
    """A Python function of the variables' values (a tuple, Booleans as 0/1) computing the
    Z3 term ``e``; only the operators the models use are supported."""
    if z3.is_bv_value(e) or z3.is_int_value(e):
        c = e.as_long()
        return lambda v: c
    if z3.is_true(e) or z3.is_false(e):
        b = int(z3.is_true(e))
        return lambda v: b
    kind = e.decl().kind()
    args = [compile_term(c, slots, params) for c in e.children()]
    if kind == z3.Z3_OP_UNINTERPRETED and not args:
        name = str(e).split("@")[0]
        if "@" in str(e):
            i = slots[name]
            return lambda v: v[i]
        c = params[name]
        return lambda v: c
    if z3.is_int(e) or (kind in _INT_RELATIONS and z3.is_int(e.arg(0))):
        return _compile_int(kind, args, e)
    mask = (1 << e.size()) - 1 if z3.is_bv(e) else 1
    binary: dict[int, Callable[[int, int], int]] = {
        z3.Z3_OP_BSUB: lambda a, b: (a - b) & mask,
        z3.Z3_OP_ULT: lambda a, b: int(a < b), z3.Z3_OP_ULEQ: lambda a, b: int(a <= b),
        z3.Z3_OP_UGT: lambda a, b: int(a > b), z3.Z3_OP_UGEQ: lambda a, b: int(a >= b),
        z3.Z3_OP_EQ: lambda a, b: int(a == b), z3.Z3_OP_DISTINCT: lambda a, b: int(a != b),
        z3.Z3_OP_IMPLIES: lambda a, b: int(not a or b),
    }
    if kind in binary and len(args) == 2:
        op, (f, g) = binary[kind], args
        return lambda v: op(f(v), g(v))
    if kind == z3.Z3_OP_BADD:
        return lambda v: sum(f(v) for f in args) & mask
    if kind == z3.Z3_OP_BAND:
        def band(v: Env) -> int:
            out = mask
            for f in args:
                out &= f(v)
            return out
        return band
    if kind == z3.Z3_OP_BOR:
        def bor(v: Env) -> int:
            out = 0
            for f in args:
                out |= f(v)
            return out
        return bor
    if kind == z3.Z3_OP_BNEG:
        (f,) = args
        return lambda v: -f(v) & mask
    if kind == z3.Z3_OP_ITE:
        c, f, g = args
        return lambda v: f(v) if c(v) else g(v)
    if kind == z3.Z3_OP_AND:
        return lambda v: int(all(f(v) for f in args))
    if kind == z3.Z3_OP_OR:
        return lambda v: int(any(f(v) for f in args))
    if kind == z3.Z3_OP_NOT:
        (f,) = args
        return lambda v: int(not f(v))
    if kind == z3.Z3_OP_XOR:
        f, g = args
        return lambda v: int(bool(f(v)) != bool(g(v)))
    if kind == z3.Z3_OP_EXTRACT:
        hi, lo = e.params()
        (f,) = args
        return lambda v: (f(v) >> lo) & ((1 << (hi - lo + 1)) - 1)
    if kind == z3.Z3_OP_ZERO_EXT:
        (f,) = args
        return f
    if kind == z3.Z3_OP_CONCAT:
        widths = [c.size() for c in e.children()]

        def concat(v: Env) -> int:
            out = 0
            for f, w in zip(args, widths, strict=True):
                out = (out << w) | f(v)
            return out
        return concat
    if kind == z3.Z3_OP_BMUL:
        def bmul(v: Env) -> int:
            out = 1
            for f in args:
                out = out * f(v) & mask
            return out
        return bmul
    raise NotImplementedError(f"search() cannot compile {e.decl()}")


_INT_RELATIONS = (z3.Z3_OP_LE, z3.Z3_OP_LT, z3.Z3_OP_GE, z3.Z3_OP_GT)


def _compile_int(kind: int, args: list[Fn], e: z3.ExprRef) -> Fn:
    """Integer arithmetic (Python ints: unbounded, as Z3's) for :func:`compile_term`."""
    if kind == z3.Z3_OP_ADD:
        return lambda v: sum(f(v) for f in args)
    if kind == z3.Z3_OP_MUL:
        def mul(v: Env) -> int:
            out = 1
            for f in args:
                out *= f(v)
            return out
        return mul
    if kind == z3.Z3_OP_SUB:
        first, *rest = args
        return lambda v: first(v) - sum(f(v) for f in rest)
    if kind == z3.Z3_OP_UMINUS:
        (f,) = args
        return lambda v: -f(v)
    if kind == z3.Z3_OP_ITE:
        c, f, g = args
        return lambda v: f(v) if c(v) else g(v)
    relations: dict[int, Callable[[int, int], bool]] = {
        z3.Z3_OP_LE: lambda a, b: a <= b, z3.Z3_OP_LT: lambda a, b: a < b,
        z3.Z3_OP_GE: lambda a, b: a >= b, z3.Z3_OP_GT: lambda a, b: a > b}
    if kind in relations and len(args) == 2:
        op, (f, g) = relations[kind], args
        return lambda v: int(op(f(v), g(v)))
    raise NotImplementedError(f"search() cannot compile {e.decl()}")


