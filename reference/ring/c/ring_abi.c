/*
 * ring_abi.c -- conformance/ring/virtiospec_ring.h (ABI version 2) over ring.c.
 *
 * The public state is opaque: it is the struct vs_driver / vs_device of ring.h followed by
 * its private arrays, in the block the caller provides. A shared library built with
 * -fvisibility=hidden (ring_c_build.build_lib) exports these functions and nothing else.
 */
#if defined(__GNUC__)
#pragma GCC visibility push(default)
#endif
#include "virtiospec_ring.h"
#if defined(__GNUC__)
#pragma GCC visibility pop
#endif

#include <assert.h>

#include "ring.h"

/* The public codes are the internal ones (one table, two spellings). */
static_assert((int)VIRTIOSPEC_RING_E_QUEUE_SIZE == (int)VS_E_QUEUE_SIZE, "error codes");
static_assert((int)VIRTIOSPEC_RING_E_PLACEMENT == (int)VS_E_PLACEMENT, "error codes");
static_assert((int)VIRTIOSPEC_RING_E_CHAIN_BYTES == (int)VS_E_CHAIN_BYTES, "error codes");
static_assert((int)VIRTIOSPEC_RING_E_CHAIN_DESCS == (int)VS_E_CHAIN_DESCS, "error codes");
static_assert((int)VIRTIOSPEC_RING_E_INDEX == (int)VS_E_INDEX, "error codes");
static_assert((int)VIRTIOSPEC_RING_E_LOOP == (int)VS_E_LOOP, "error codes");
static_assert((int)VIRTIOSPEC_RING_E_TOO_LONG == (int)VS_E_TOO_LONG, "error codes");
static_assert((int)VIRTIOSPEC_RING_E_INDIRECT == (int)VS_E_INDIRECT, "error codes");
static_assert((int)VIRTIOSPEC_RING_E_OUTSIDE == (int)VS_E_OUTSIDE, "error codes");
static_assert((int)VIRTIOSPEC_RING_E_READ_AFTER_WRITE == (int)VS_E_READ_AFTER_WRITE, "error codes");
static_assert((int)VIRTIOSPEC_RING_E_AVAIL_JUMP == (int)VS_E_AVAIL_JUMP, "error codes");
static_assert((int)VIRTIOSPEC_RING_E_IN_FLIGHT == (int)VS_E_IN_FLIGHT, "error codes");
static_assert((int)VIRTIOSPEC_RING_E_USED == (int)VS_E_USED, "error codes");
static_assert((int)VIRTIOSPEC_RING_E_NEEDS_RESET == (int)VS_E_NEEDS_RESET, "error codes");
static_assert((int)VIRTIOSPEC_RING_E_FULL == (int)VS_E_FULL, "error codes");
static_assert((int)VIRTIOSPEC_RING_E_INVALID == (int)VS_E_INVALID, "error codes");
static_assert((int)VIRTIOSPEC_RING_E_NO_SPACE == (int)VS_E_NO_SPACE, "error codes");
static_assert((int)VIRTIOSPEC_RING_E_ABORTED == (int)VS_E_ABORTED, "error codes");
static_assert(VIRTIOSPEC_RING_F_EVENT_IDX == VS_F_EVENT_IDX, "feature bits");
static_assert(VIRTIOSPEC_RING_F_INDIRECT == VS_F_INDIRECT, "feature bits");
static_assert(sizeof(struct virtiospec_ring_segment) == sizeof(struct vs_segment), "segment");
static_assert(sizeof(struct virtiospec_ring_used_elem) == sizeof(struct vs_used_elem), "used");

uint32_t virtiospec_ring_abi_version(void)
{
    return VIRTIOSPEC_RING_ABI_VERSION;
}

size_t virtiospec_ring_driver_state_size(uint32_t queue_size)
{
    return vs_driver_state_size(queue_size);
}

size_t virtiospec_ring_device_state_size(uint32_t queue_size)
{
    return vs_device_state_size(queue_size);
}

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

int virtiospec_ring_driver_init(void *state)
{
    return vs_driver_init(state);
}

int virtiospec_ring_driver_add(void *state, const struct virtiospec_ring_segment *out,
                               uint32_t n_out, const struct virtiospec_ring_segment *in,
                               uint32_t n_in, uint64_t token)
{
    return vs_driver_add(state, (const struct vs_segment *)(const void *)out, n_out,
                         (const struct vs_segment *)(const void *)in, n_in, token);
}

int virtiospec_ring_driver_kick_prepare(void *state)
{
    return vs_driver_kick_prepare(state);
}

int virtiospec_ring_driver_get_used(void *state, uint64_t *token, uint32_t *len)
{
    return vs_driver_get_used(state, token, len);
}

int virtiospec_ring_driver_disable_cb(void *state)
{
    return vs_driver_disable_cb(state);
}

int virtiospec_ring_driver_enable_cb(void *state)
{
    return vs_driver_enable_cb(state);
}

int virtiospec_ring_driver_enable_cb_delayed(void *state)
{
    return vs_driver_enable_cb_delayed(state);
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

int virtiospec_ring_device_init(void *state)
{
    return vs_device_init(state);
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

int virtiospec_ring_device_should_notify(void *state)
{
    return vs_device_should_notify(state);
}

int virtiospec_ring_device_enable_notify(void *state)
{
    return vs_device_enable_notify(state);
}

int virtiospec_ring_device_disable_notify(void *state)
{
    return vs_device_disable_notify(state);
}

int virtiospec_ring_device_needs_reset(const void *state)
{
    return ((const struct vs_device *)state)->broken;
}
