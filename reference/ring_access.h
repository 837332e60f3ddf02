/*
 * ring_access.h -- the only way ring.c touches memory shared with the other side.
 *
 * Every load, store and barrier on the rings goes through one of these macros, so that the
 * same source builds two ways:
 *
 *  - normal build: C11 atomics on guest memory (relaxed loads and stores of the shared
 *    fields, ordered by explicit fences: VS_WMB = release, VS_RMB = acquire, VS_MB =
 *    seq_cst), little-endian on every host (RING-SPLIT-004);
 *  - stepped build (-DVS_STEPPED): each access is handed to the checker, which steps it
 *    like an access yielded by the Python reference (reference/access.py) -- under SC or
 *    through an x86-TSO store buffer -- and answers loads. See stepped_access.h.
 *
 * `s` is a struct vs_driver * or struct vs_device *; `a` is a guest offset.
 */
#ifndef VS_RING_ACCESS_H
#define VS_RING_ACCESS_H

#include <stdint.h>

enum vs_fence_kind { VS_FENCE_MB = 0, VS_FENCE_WMB = 1, VS_FENCE_RMB = 2 };

#ifdef VS_STEPPED

uint64_t vs_step_load(uint64_t addr, unsigned size);
void vs_step_store(uint64_t addr, unsigned size, uint64_t value);
void vs_step_fence(enum vs_fence_kind kind);

#define VS_LOAD16(s, a) ((void)(s), (uint16_t)vs_step_load((a), 2))
#define VS_LOAD32(s, a) ((void)(s), (uint32_t)vs_step_load((a), 4))
#define VS_LOAD64(s, a) ((void)(s), (uint64_t)vs_step_load((a), 8))
#define VS_STORE16(s, a, v) ((void)(s), vs_step_store((a), 2, (uint16_t)(v)))
#define VS_STORE32(s, a, v) ((void)(s), vs_step_store((a), 4, (uint32_t)(v)))
#define VS_STORE64(s, a, v) ((void)(s), vs_step_store((a), 8, (uint64_t)(v)))
#define VS_MB(s) ((void)(s), vs_step_fence(VS_FENCE_MB))
#define VS_WMB(s) ((void)(s), vs_step_fence(VS_FENCE_WMB))
#define VS_RMB(s) ((void)(s), vs_step_fence(VS_FENCE_RMB))

#else /* normal build */

#include <stdatomic.h>
#include <string.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#define VS_LE16(x) __builtin_bswap16(x)
#define VS_LE32(x) __builtin_bswap32(x)
#define VS_LE64(x) __builtin_bswap64(x)
#else
#define VS_LE16(x) (x)
#define VS_LE32(x) (x)
#define VS_LE64(x) (x)
#endif

/*
 * An access of n bytes at an address aligned on n is one relaxed atomic access; the rings
 * are aligned (RING-SPLIT-002) and so are their fields. Only an indirect table placed at an
 * odd address by a careless driver is read with memcpy (still inside guest memory:
 * RING-SPLIT-082 is checked first).
 */
#define VS_DEFINE_ACCESS(bits)                                                              \
    static inline uint##bits##_t vs_load##bits(uint8_t *base, uint64_t a)                   \
    {                                                                                       \
        uint8_t *p = base + a;                                                              \
        uint##bits##_t v;                                                                   \
        if (((uintptr_t)p & (sizeof v - 1)) == 0)                                           \
            v = atomic_load_explicit((_Atomic uint##bits##_t *)(void *)p,                   \
                                     memory_order_relaxed);                                 \
        else                                                                                \
            memcpy(&v, p, sizeof v);                                                        \
        return VS_LE##bits(v);                                                              \
    }                                                                                       \
    static inline void vs_store##bits(uint8_t *base, uint64_t a, uint##bits##_t v)          \
    {                                                                                       \
        uint8_t *p = base + a;                                                              \
        v = VS_LE##bits(v);                                                                 \
        if (((uintptr_t)p & (sizeof v - 1)) == 0)                                           \
            atomic_store_explicit((_Atomic uint##bits##_t *)(void *)p, v,                   \
                                  memory_order_relaxed);                                    \
        else                                                                                \
            memcpy(p, &v, sizeof v);                                                        \
    }

VS_DEFINE_ACCESS(16)
VS_DEFINE_ACCESS(32)
VS_DEFINE_ACCESS(64)

#define VS_LOAD16(s, a) vs_load16((s)->r.mem, (a))
#define VS_LOAD32(s, a) vs_load32((s)->r.mem, (a))
#define VS_LOAD64(s, a) vs_load64((s)->r.mem, (a))
#define VS_STORE16(s, a, v) vs_store16((s)->r.mem, (a), (uint16_t)(v))
#define VS_STORE32(s, a, v) vs_store32((s)->r.mem, (a), (uint32_t)(v))
#define VS_STORE64(s, a, v) vs_store64((s)->r.mem, (a), (uint64_t)(v))
#define VS_MB(s) atomic_thread_fence(memory_order_seq_cst)
#define VS_WMB(s) atomic_thread_fence(memory_order_release)
#define VS_RMB(s) atomic_thread_fence(memory_order_acquire)

#endif /* VS_STEPPED */

#endif /* VS_RING_ACCESS_H */
