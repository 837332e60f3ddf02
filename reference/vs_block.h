/*
 * vs_block.h -- what ring.c and ring_packed.c share outside their operations: the checks of
 * the caller-provided state block and of guest memory at create, 8-byte rounding of the
 * block's parts, and the "inside guest memory" test of a buffer (RING-SPLIT-082,
 * RING-PACKED-083). No access to shared memory here. Included by both (once each).
 */
#ifndef VS_BLOCK_H
#define VS_BLOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* [addr, addr + len) lies inside guest memory, without overflowing. */
static inline bool vs_inside(uint64_t mem_size, uint64_t addr, uint64_t len)
{
    return addr <= mem_size && len <= mem_size - addr;
}

static inline size_t vs_align8(size_t n)
{
    return (n + 7) & ~(size_t)7;
}

/* The state block (8-aligned, at least `need` bytes), guest memory (8-aligned; the stepped
 * build has none) and the feature bits (EVENT_IDX and INDIRECT only) a create is given. A
 * queue size either ring refuses has need 0, so its own code is what create answers then. */
static inline bool vs_block_ok(const void *state, size_t state_size, size_t need,
                               const uint8_t *mem, uint32_t features, uint32_t known)
{
    if (state == NULL || ((uintptr_t)state & 7) != 0)
        return false;
#ifndef VS_STEPPED
    if (mem == NULL || ((uintptr_t)mem & 7) != 0)
        return false;
#else
    (void)mem;
#endif
    return (features & ~known) == 0 && state_size >= need;
}

#endif /* VS_BLOCK_H */
