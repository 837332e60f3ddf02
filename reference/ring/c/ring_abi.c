/*
 * ring_abi.c -- conformance/ring/virtiospec_ring.h (ABI version 2) over ring.c.
 *
 * The public state is opaque: it is the struct vs_driver / vs_device of ring.h followed by
 * its private arrays, in the block the caller provides. A shared library built with
 * -fvisibility=hidden (ring_c_build.build_lib) exports these functions and nothing else.
 */
#define VS_ABI_PUBLIC "virtiospec_ring.h"
#include "vs_abi.h"

#include "ring.h"

/* The public codes are the internal ones (one table, two spellings). */
#define SAME(name) VS_ABI_SAME(VIRTIOSPEC_RING_E_, VS_E_, name)
SAME(QUEUE_SIZE) SAME(PLACEMENT) SAME(CHAIN_BYTES) SAME(CHAIN_DESCS) SAME(INDEX) SAME(LOOP)
SAME(TOO_LONG) SAME(INDIRECT) SAME(OUTSIDE) SAME(READ_AFTER_WRITE) SAME(AVAIL_JUMP) SAME(IN_FLIGHT)
SAME(USED) SAME(NEEDS_RESET) SAME(FULL) SAME(INVALID) SAME(NO_SPACE) SAME(ABORTED)
static_assert(VIRTIOSPEC_RING_F_EVENT_IDX == VS_F_EVENT_IDX, "feature bits");
static_assert(VIRTIOSPEC_RING_F_INDIRECT == VS_F_INDIRECT, "feature bits");
static_assert(sizeof(struct virtiospec_ring_segment) == sizeof(struct vs_segment), "segment");
static_assert(sizeof(struct virtiospec_ring_used_elem) == sizeof(struct vs_used_elem), "used");

/* The version, the state sizes and the calls that only hand the state on (vs_abi.h). */
VS_ABI_RING(virtiospec_ring_, vs_, VIRTIOSPEC_RING_ABI_VERSION)

int virtiospec_ring_driver_create(void *state, size_t state_size, void *mem, uint64_t mem_size,
                                  const struct virtiospec_ring_config *cfg)
{
    if (cfg == NULL || cfg->reserved != 0)
        return -VS_E_INVALID;
    int rc = vs_driver_create(state, state_size, mem, mem_size, cfg->queue_size, cfg->desc,
                              cfg->avail, cfg->used, cfg->features, cfg->indirect_area,
                              cfg->indirect_max, cfg->start_index);
    if (rc == 0 && (cfg->features & VIRTIOSPEC_RING_F_INDIRECT) && cfg->indirect_area % 16 != 0)
        return -VS_E_PLACEMENT; /* version 2: indirect tables aligned on 16 like the table */
    return rc;
}

int virtiospec_ring_driver_add(void *state, const struct virtiospec_ring_segment *out,
                               uint32_t n_out, const struct virtiospec_ring_segment *in,
                               uint32_t n_in, uint64_t token)
{
    return vs_driver_add(state, (const struct vs_segment *)(const void *)out, n_out,
                         (const struct vs_segment *)(const void *)in, n_in, token);
}

int virtiospec_ring_driver_get_used(void *state, uint64_t *token, uint32_t *len)
{
    return vs_driver_get_used(state, token, len);
}

int virtiospec_ring_driver_detach_unused(void *state, uint64_t *tokens, uint32_t max)
{
    return vs_driver_detach_unused(state, tokens, max);
}

int virtiospec_ring_driver_num_free(const void *state)
{
    const struct vs_driver *d = state;
    return d->broken ? -VS_E_NEEDS_RESET : (int)d->free_count;
}

int virtiospec_ring_driver_needs_reset(const void *state)
{
    return ((const struct vs_driver *)state)->broken;
}

int virtiospec_ring_device_create(void *state, size_t state_size, void *mem, uint64_t mem_size,
                                  const struct virtiospec_ring_config *cfg)
{
    if (cfg == NULL || cfg->reserved != 0)
        return -VS_E_INVALID;
    return vs_device_create(state, state_size, mem, mem_size, cfg->queue_size, cfg->desc,
                            cfg->avail, cfg->used, cfg->features, cfg->start_index);
}

int virtiospec_ring_device_pop(void *state, uint16_t *head, struct virtiospec_ring_segment *segs,
                               uint32_t max_segs, uint32_t *n_readable, uint32_t *n_writable)
{
    return vs_device_pop(state, head, (struct vs_segment *)(void *)segs, max_segs, n_readable,
                         n_writable);
}

int virtiospec_ring_device_push(void *state, const struct virtiospec_ring_used_elem *used,
                                uint32_t n)
{
    return vs_device_push(state, (const struct vs_used_elem *)(const void *)used, n);
}

int virtiospec_ring_device_needs_reset(const void *state)
{
    return ((const struct vs_device *)state)->broken;
}
