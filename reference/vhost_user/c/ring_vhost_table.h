/*
 * ring_vhost_table.h -- the vhost-user memory table and the ring accesses translated through
 * it, shared by ring_vhost.c (split ring) and ring_vhost_packed.c (packed ring).
 *
 * Included by each of them after ring_access.h and before the ring's own .c (ring.c,
 * ring_packed.c): ring_access.h is the only way those touch shared memory, so its load and
 * store macros are redefined here to go through vsv_host(), and its untranslated accessors
 * made unusable, so that an access that escaped the translation does not compile. The ring's
 * own `#include "ring_access.h"` is then a no-op (include guard). Not a header of its own:
 * it defines static functions for the one unit that includes it.
 */
#ifndef VS_RING_VHOST_TABLE_H
#define VS_RING_VHOST_TABLE_H

/* -- the memory table ------------------------------------------------------------------ */

struct vsv_mem {
    uint64_t limit;  /* one past the highest guest address of any region */
    uint32_t n;      /* regions */
    uint32_t last;   /* region of the last translation (a hint) */
    uint32_t fault;  /* set by an access outside every region */
    uint32_t reserved;
    struct vsv_region r[VSV_MAX_REGIONS];
};

/* The host address of guest [a, a + n) if it lies inside one region, else NULL (the same
 * test as MemoryTable._find: gpa <= a and a + n <= end, here without overflow). */
static inline uint8_t *vsv_host(struct vsv_mem *m, uint64_t a, uint64_t n)
{
    const struct vsv_region *r = &m->r[m->last];
    if (a >= r->guest_addr && n <= r->size && a - r->guest_addr <= r->size - n)
        return r->host + (a - r->guest_addr);
    for (uint32_t i = 0; i < m->n; i++) {
        r = &m->r[i];
        if (a >= r->guest_addr && n <= r->size && a - r->guest_addr <= r->size - n) {
            m->last = i;
            return r->host + (a - r->guest_addr);
        }
    }
    return NULL;
}

static inline bool vsv_in_one_region(struct vsv_mem *m, uint64_t a, uint64_t n)
{
    return vsv_host(m, a, n) != NULL;
}

/* A ring access through the table: ring_access.h's own accessor on the host address. An
 * access outside every region touches nothing: a load reads 0, a store is dropped, and the
 * fault is recorded (the caller turns it into the ring's own error -- RING-SPLIT-082,
 * RING-PACKED-083 -- and undoes the operation). */
#define VSV_DEFINE_ACCESS(bits)                                                             \
    static inline uint##bits##_t vsv_load##bits(uint8_t *table, uint64_t a)                 \
    {                                                                                       \
        struct vsv_mem *m = (struct vsv_mem *)(void *)table;                                \
        uint8_t *p = vsv_host(m, a, sizeof(uint##bits##_t));                                \
        if (p == NULL) {                                                                    \
            m->fault = 1;                                                                   \
            return 0;                                                                       \
        }                                                                                   \
        return vs_load##bits(p, 0);                                                         \
    }                                                                                       \
    static inline void vsv_store##bits(uint8_t *table, uint64_t a, uint##bits##_t v)        \
    {                                                                                       \
        struct vsv_mem *m = (struct vsv_mem *)(void *)table;                                \
        uint8_t *p = vsv_host(m, a, sizeof v);                                              \
        if (p == NULL) {                                                                    \
            m->fault = 1;                                                                   \
            return;                                                                         \
        }                                                                                   \
        vs_store##bits(p, 0, v);                                                            \
    }

VSV_DEFINE_ACCESS(16)
VSV_DEFINE_ACCESS(32)
VSV_DEFINE_ACCESS(64)

#undef VS_LOAD16
#undef VS_LOAD32
#undef VS_LOAD64
#undef VS_STORE16
#undef VS_STORE32
#undef VS_STORE64
#define VS_LOAD16(s, a) vsv_load16((s)->r.mem, (a))
#define VS_LOAD32(s, a) vsv_load32((s)->r.mem, (a))
#define VS_LOAD64(s, a) vsv_load64((s)->r.mem, (a))
#define VS_STORE16(s, a, v) vsv_store16((s)->r.mem, (a), (uint16_t)(v))
#define VS_STORE32(s, a, v) vsv_store32((s)->r.mem, (a), (uint32_t)(v))
#define VS_STORE64(s, a, v) vsv_store64((s)->r.mem, (a), (uint64_t)(v))

/* Any other use of the untranslated accessors (a macro added to ring_access.h and used by
 * the ring's .c, say) would take the table for guest memory: make it a compile error. */
#define vs_load16(...) vsv_untranslated_access_in_the_ring
#define vs_load32(...) vsv_untranslated_access_in_the_ring
#define vs_load64(...) vsv_untranslated_access_in_the_ring
#define vs_store16(...) vsv_untranslated_access_in_the_ring
#define vs_store32(...) vsv_untranslated_access_in_the_ring
#define vs_store64(...) vsv_untranslated_access_in_the_ring

#endif /* VS_RING_VHOST_TABLE_H */
