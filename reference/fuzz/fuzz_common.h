/*
 * fuzz_common.h -- what the libFuzzer harnesses of reference/fuzz/ share.
 *
 * A harness includes this file, defines the access hooks of the side it tests, and then
 * includes the library's .c file (ring.c, ring_packed.c, shm.c) in the same unit: the
 * library's shared loads and stores (the VS_LOAD and VS_STORE macros of ring_access.h, the
 * only way it touches the other side's memory) are redirected to fz_load / fz_store below,
 * which
 *
 *  - check that the access lies inside guest memory (a finding if not: the library read or
 *    wrote outside what the peer registered) and, for a store, inside the ranges the side
 *    under test owns (a device never writes the driver's descriptor table, ...);
 *  - count the loads of the operation under way (a bounded walk: no more than Q
 *    descriptors per chain);
 *  - let the hostile peer race the side under test: before a load, the fuzz input may
 *    overwrite the very field about to be read (the peer is another CPU);
 *  - then perform the access with ring_access.h's own accessor (C11 relaxed atomics, or
 *    memcpy when unaligned) on a heap block of exactly the guest size, so that ASan sees
 *    any access beyond it too.
 *
 * The fuzz input is read as a stream by fz_u8 .. fz_u64 (zero once exhausted).
 */
#ifndef VS_FUZZ_COMMON_H
#define VS_FUZZ_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ring_access.h"

/* -- the input stream ------------------------------------------------------------------ */

struct fz_in {
    const uint8_t *p;
    size_t n;
};

static struct fz_in fz_input;

static inline bool fz_more(void)
{
    return fz_input.n > 0;
}

static inline uint64_t fz_bytes(unsigned k)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < k && fz_input.n; i++, fz_input.p++, fz_input.n--)
        v |= (uint64_t)*fz_input.p << (8 * i);
    return v;
}

static inline uint8_t fz_u8(void) { return (uint8_t)fz_bytes(1); }
static inline uint16_t fz_u16(void) { return (uint16_t)fz_bytes(2); }
static inline uint32_t fz_u32(void) { return (uint32_t)fz_bytes(4); }
static inline uint64_t fz_u64(void) { return fz_bytes(8); }

/* -- findings -------------------------------------------------------------------------- */

/* An invariant broken: print it and abort (libFuzzer saves the input as crash-*). */
#define FZ_CHECK(cond, ...)                                                                 \
    do {                                                                                    \
        if (!(cond)) {                                                                      \
            fprintf(stderr, "virtiospec-fuzz: invariant broken (%s:%d): ", __FILE__,        \
                    __LINE__);                                                              \
            fprintf(stderr, __VA_ARGS__);                                                   \
            fputc('\n', stderr);                                                            \
            abort();                                                                        \
        }                                                                                   \
    } while (0)

/* -- guest memory and the access hooks --------------------------------------------------- */

#define FZ_MAX_OWNED 4
#define FZ_LOAD_CAP 1000000u

struct fz_mem {
    uint8_t *base;     /* malloc'd, exactly size bytes (ASan's redzones after it) */
    uint64_t size;
    uint64_t lo, hi;   /* loads allowed in [lo, hi) (default: all of guest memory) */
    uint32_t n_owned;  /* stores allowed only inside these ranges */
    uint64_t owned_lo[FZ_MAX_OWNED], owned_hi[FZ_MAX_OWNED];
    uint64_t loads;    /* loads of the operation under way */
    bool race;         /* the peer may overwrite a field just before it is loaded */
    bool in_peer;      /* the harness itself (the peer) is writing: no ownership check */
};

static struct fz_mem fz_mem;

static inline void fz_mem_open(uint64_t size)
{
    memset(&fz_mem, 0, sizeof fz_mem);
    /* aligned_alloc needs a multiple of the alignment; keep the exact size for ASan */
    fz_mem.base = malloc(size ? size : 1);
    FZ_CHECK(fz_mem.base != NULL && ((uintptr_t)fz_mem.base & 7) == 0, "malloc");
    memset(fz_mem.base, 0, size);
    fz_mem.size = size;
    fz_mem.lo = 0;
    fz_mem.hi = size;
}

static inline void fz_mem_close(void)
{
    free(fz_mem.base);
    fz_mem.base = NULL;
}

static inline void fz_own(uint64_t lo, uint64_t hi)
{
    FZ_CHECK(fz_mem.n_owned < FZ_MAX_OWNED, "too many owned ranges");
    fz_mem.owned_lo[fz_mem.n_owned] = lo;
    fz_mem.owned_hi[fz_mem.n_owned] = hi;
    fz_mem.n_owned++;
}

static inline bool fz_inside(uint64_t lo, uint64_t hi, uint64_t a, unsigned n)
{
    return a >= lo && a <= hi && n <= hi - a;
}

static inline void fz_check_load(uint64_t a, unsigned n)
{
    FZ_CHECK(fz_inside(fz_mem.lo, fz_mem.hi, a, n),
             "load of %u bytes at 0x%llx outside [0x%llx, 0x%llx)", n, (unsigned long long)a,
             (unsigned long long)fz_mem.lo, (unsigned long long)fz_mem.hi);
    fz_mem.loads++;
    /* an operation that never ends (an unbounded walk or retry) is a finding, not a hang */
    FZ_CHECK(fz_mem.loads < FZ_LOAD_CAP, "more than %u loads in one operation", FZ_LOAD_CAP);
}

static inline void fz_check_store(uint64_t a, unsigned n)
{
    FZ_CHECK(fz_inside(0, fz_mem.size, a, n), "store of %u bytes at 0x%llx outside memory", n,
             (unsigned long long)a);
    if (fz_mem.in_peer)
        return;
    for (uint32_t i = 0; i < fz_mem.n_owned; i++)
        if (fz_inside(fz_mem.owned_lo[i], fz_mem.owned_hi[i], a, n))
            return;
    FZ_CHECK(false, "store of %u bytes at 0x%llx: memory this side does not own", n,
             (unsigned long long)a);
}

/* The peer (this harness) writes guest memory; out-of-range writes are clipped away. */
static inline void fz_peer_write(uint64_t a, const void *src, uint64_t n)
{
    if (a >= fz_mem.size)
        return;
    if (n > fz_mem.size - a)
        n = fz_mem.size - a;
    memcpy(fz_mem.base + a, src, (size_t)n);
}

static inline void fz_peer_put(uint64_t a, uint64_t v, unsigned n)
{
    uint8_t b[8];
    for (unsigned i = 0; i < n; i++)
        b[i] = (uint8_t)(v >> (8 * i));
    fz_peer_write(a, b, n);
}

static inline uint64_t fz_peek(uint64_t a, unsigned n)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < n && a + i < fz_mem.size; i++)
        v |= (uint64_t)fz_mem.base[a + i] << (8 * i);
    return v;
}

/* Race: one input byte per load; with its top bit set the peer overwrites the field first. */
static inline void fz_maybe_race(uint64_t a, unsigned n)
{
    if (!fz_mem.race || !fz_more())
        return;
    if (fz_u8() & 0x80)
        fz_peer_put(a, fz_bytes(n), n);
}

#define FZ_DEFINE_ACCESS(bits)                                                              \
    static inline uint##bits##_t fz_load##bits(uint64_t a)                                  \
    {                                                                                       \
        fz_check_load(a, bits / 8);                                                         \
        fz_maybe_race(a, bits / 8);                                                         \
        return vs_load##bits(fz_mem.base, a);                                               \
    }                                                                                       \
    static inline void fz_store##bits(uint64_t a, uint##bits##_t v)                          \
    {                                                                                       \
        fz_check_store(a, bits / 8);                                                        \
        vs_store##bits(fz_mem.base, a, v);                                                  \
    }

FZ_DEFINE_ACCESS(16)
FZ_DEFINE_ACCESS(32)
FZ_DEFINE_ACCESS(64)

#undef VS_LOAD16
#undef VS_LOAD32
#undef VS_LOAD64
#undef VS_STORE16
#undef VS_STORE32
#undef VS_STORE64
#define VS_LOAD16(s, a) ((void)(s), fz_load16((a)))
#define VS_LOAD32(s, a) ((void)(s), fz_load32((a)))
#define VS_LOAD64(s, a) ((void)(s), fz_load64((a)))
#define VS_STORE16(s, a, v) ((void)(s), fz_store16((a), (uint16_t)(v)))
#define VS_STORE32(s, a, v) ((void)(s), fz_store32((a), (uint32_t)(v)))
#define VS_STORE64(s, a, v) ((void)(s), fz_store64((a), (uint64_t)(v)))

/* An operation of the side under test: reset the load count; FZ_LOADS() after it. */
#define FZ_OP_BEGIN() (fz_mem.loads = 0)
#define FZ_LOADS() (fz_mem.loads)

/* [a, a + n) inside guest memory, without wrapping. */
static inline bool fz_in_guest(uint64_t a, uint64_t n)
{
    return a <= fz_mem.size && n <= fz_mem.size - a;
}

#endif /* VS_FUZZ_COMMON_H */
