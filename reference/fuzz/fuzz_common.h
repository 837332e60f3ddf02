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
 * The fuzz input stream and the FZ_CHECK finding are fuzz_input.h's (fuzz_vhost.c uses them
 * without these hooks).
 */
#ifndef VS_FUZZ_COMMON_H
#define VS_FUZZ_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_input.h"
#include "ring_access.h"

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

/* The end of one input: free the side's state blocks (either may be NULL) and guest memory. */
static inline int fz_end(void *state, void *more)
{
    free(state);
    free(more);
    fz_mem_close();
    return 0;
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

/* The side under test has refused the peer: from then on it answers only its stop error. */
static bool fz_refused;

/* A notification or callback decision: 0 or 1, or once refused -stopped (when stopped is
 * not 0: a poll, say, answers 0 or 1 even then). */
static inline void fz_check_flag(int rc, const char *what, int stopped)
{
    if (fz_refused && stopped)
        FZ_CHECK(rc == -stopped, "%s after a refusal returned %d", what, rc);
    else
        FZ_CHECK(rc == 0 || rc == 1, "%s returned %d", what, rc);
}

/* The peer writes a 16-byte descriptor: addr, len, then two 16-bit fields (split: flags and
 * next; packed: ID and flags). */
static inline void fz_peer_desc(uint64_t at, uint64_t addr, uint32_t len, uint16_t w12,
                                uint16_t w14)
{
    fz_peer_put(at, addr, 8);
    fz_peer_put(at + 8, len, 4);
    fz_peer_put(at + 12, w12, 2);
    fz_peer_put(at + 14, w14, 2);
}

/* The peer writes up to 16 input bytes at any offset of guest memory. */
static inline void fz_peer_scribble(void)
{
    uint64_t at = fz_u16() % (fz_mem.size + 1);
    uint8_t buf[16];
    uint32_t n = fz_u8() % 17;
    for (uint32_t i = 0; i < n; i++)
        buf[i] = fz_u8();
    fz_peer_write(at, buf, n);
}

/* The split ring both split harnesses lay out from their first header byte b0: q = 2^(b0 % 6)
 * entries, the descriptor table at 0, 16, 32 or 48, the avail ring right after it, the used
 * ring at the next 4-byte boundary. Returns the end of the used ring. */
static inline uint64_t fz_split_ring(uint8_t b0, uint32_t *q, uint64_t *desc, uint64_t *avail,
                                     uint64_t *used)
{
    *q = 1u << (b0 % 6);
    *desc = 16u * ((b0 >> 4) & 3u);
    *avail = *desc + 16u * *q;
    *used = (*avail + 6 + 2u * *q + 3) & ~(uint64_t)3;
    return *used + 6 + 8u * *q;
}

/* [a, a + n) inside guest memory, without wrapping. */
static inline bool fz_in_guest(uint64_t a, uint64_t n)
{
    return a <= fz_mem.size && n <= fz_mem.size - a;
}

#endif /* VS_FUZZ_COMMON_H */
