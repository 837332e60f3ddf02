/*
 * shim.h -- what driver_glue.c and device_glue.c share on top of tools/virtio's user-space
 * kernel shims: the ABI header (exported), the guest-memory checks the glue makes before it
 * hands pointers to Linux, and the ring placement rule (RING-SPLIT-002).
 *
 * Included first by each glue file, before any Linux header: the Linux headers come from
 * the Linux tree (tools/virtio/, tools/include/, include/) given on the command line by
 * conformance/ring/linux_vring/build.py.
 */
#ifndef VIRTIOSPEC_LINUX_VRING_SHIM_H
#define VIRTIOSPEC_LINUX_VRING_SHIM_H

#if defined(__GNUC__)
#pragma GCC visibility push(default)
#endif
#include "virtiospec_ring.h"
#if defined(__GNUC__)
#pragma GCC visibility pop
#endif

#include <stdbool.h>
#include <stdint.h>

#define VSL_DRIVER_MAGIC 0x4c4e5856445256ULL /* "VDRVXNL" */
#define VSL_DEVICE_MAGIC 0x4c4e5856444556ULL /* "VEDVXNL" */

/* Q a power of 2 in [1, 32768] (RING-SPLIT-001). */
static inline bool vsl_queue_size_ok(uint32_t q)
{
    return q >= 1 && q <= 32768 && (q & (q - 1)) == 0;
}

/* The caller's own mistakes at create, checked first (virtiospec_ring.h's order): cfg,
 * reserved, state and mem present and aligned on 8, no unknown feature bit. */
static inline bool vsl_args_ok(const void *state, const void *mem,
                               const struct virtiospec_ring_config *cfg)
{
    return cfg != NULL && cfg->reserved == 0 && state != NULL && ((uintptr_t)state & 7) == 0
        && mem != NULL && ((uintptr_t)mem & 7) == 0
        && (cfg->features & ~(uint32_t)(VIRTIOSPEC_RING_F_EVENT_IDX | VIRTIOSPEC_RING_F_INDIRECT))
               == 0;
}

/* [at, at + len) lies inside [0, mem_size), without overflow. */
static inline bool vsl_inside(uint64_t at, uint64_t len, uint64_t mem_size)
{
    return at <= mem_size && len <= mem_size - at;
}

/*
 * The three ring parts aligned (16, 2, 4) and inside guest memory, each with its event
 * field (RING-SPLIT-002). Linux's own constructors take ring pointers on trust (the
 * transport allocated them), so the glue checks what a transport would.
 */
static inline bool vsl_placement_ok(const struct virtiospec_ring_config *cfg, uint64_t mem_size)
{
    uint64_t q = cfg->queue_size;
    return cfg->desc % 16 == 0 && cfg->avail % 2 == 0 && cfg->used % 4 == 0
        && vsl_inside(cfg->desc, 16 * q, mem_size)
        && vsl_inside(cfg->avail, 6 + 2 * q, mem_size)
        && vsl_inside(cfg->used, 6 + 8 * q, mem_size);
}

#define VSL_ALIGN16(n) (((n) + 15u) & ~(size_t)15u)

#endif /* VIRTIOSPEC_LINUX_VRING_SHIM_H */
