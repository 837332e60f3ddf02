/*
 * ring_packed_abi.c -- conformance/ring/virtiospec_ring_packed.h (ABI version 1) over
 * ring_packed.c. The public state is the struct vs_packed_driver / vs_packed_device of
 * ring_packed.h followed by its private arrays, in the block the caller provides; the codes
 * are ring_packed.h's (one table, two spellings). Built into the example library of
 * `make libring` beside ring_abi.c.
 */
#define VS_ABI_PUBLIC "virtiospec_ring_packed.h"
#include "vs_abi.h"

#include "ring_packed.h"

#define SAME(name) VS_ABI_SAME(VIRTIOSPEC_RING_PACKED_E_, VS_PE_, name)
SAME(QUEUE_SIZE) SAME(PLACEMENT) SAME(LIST_DESCS) SAME(TOO_LONG) SAME(NOT_AVAIL) SAME(INDIRECT)
SAME(OUTSIDE) SAME(READ_AFTER_WRITE) SAME(ID_IN_USE) SAME(USED) SAME(DEVICE_STOPPED)
SAME(DRIVER_STOPPED) SAME(FULL) SAME(INVALID) SAME(NO_SPACE)
static_assert(sizeof(struct virtiospec_ring_segment) == sizeof(struct vs_segment), "segment");
static_assert(sizeof(struct virtiospec_ring_used_elem) == sizeof(struct vs_used_elem), "used");

#define SEGS(p) ((const struct vs_segment *)(const void *)(p))

/* The version, the state sizes and the calls that only hand the state on (vs_abi.h). */
VS_ABI_RING(virtiospec_ring_packed_, vs_packed_, VIRTIOSPEC_RING_PACKED_ABI_VERSION)

int virtiospec_ring_packed_driver_create(void *state, size_t state_size, void *mem,
                                         uint64_t mem_size,
                                         const struct virtiospec_ring_packed_config *cfg)
{
    if (cfg == NULL || cfg->reserved != 0)
        return -VS_PE_INVALID;
    return vs_packed_driver_create(state, state_size, mem, mem_size, cfg->queue_size,
                                   cfg->desc, cfg->driver_event, cfg->device_event,
                                   cfg->features, cfg->indirect_area, cfg->indirect_max);
}

int virtiospec_ring_packed_driver_add(void *state, const struct virtiospec_ring_segment *out,
                                      uint32_t n_out, const struct virtiospec_ring_segment *in,
                                      uint32_t n_in, uint64_t token)
{
    return vs_packed_driver_add(state, SEGS(out), n_out, SEGS(in), n_in, token);
}

int virtiospec_ring_packed_driver_kick_data(const void *state)
{
    return vs_packed_driver_kick_data(state);
}

int virtiospec_ring_packed_driver_get_used(void *state, uint64_t *token, uint32_t *len)
{
    return vs_packed_driver_get_used(state, token, len);
}

int virtiospec_ring_packed_driver_detach_unused(void *state, uint64_t *tokens, uint32_t max)
{
    return vs_packed_driver_detach_unused(state, tokens, max);
}

int virtiospec_ring_packed_driver_num_free(const void *state)
{
    return (int)vs_packed_driver_num_free(state);
}

int virtiospec_ring_packed_device_create(void *state, size_t state_size, void *mem,
                                         uint64_t mem_size,
                                         const struct virtiospec_ring_packed_config *cfg)
{
    if (cfg == NULL || cfg->reserved != 0)
        return -VS_PE_INVALID;
    return vs_packed_device_create(state, state_size, mem, mem_size, cfg->queue_size,
                                   cfg->desc, cfg->driver_event, cfg->device_event,
                                   cfg->features);
}

int virtiospec_ring_packed_device_pop(void *state, uint16_t *id,
                                      struct virtiospec_ring_segment *segs, uint32_t max_segs,
                                      uint32_t *n_readable, uint32_t *n_writable)
{
    return vs_packed_device_pop(state, id, (struct vs_segment *)(void *)segs, max_segs,
                                n_readable, n_writable);
}

int virtiospec_ring_packed_device_push(void *state,
                                       const struct virtiospec_ring_used_elem *used,
                                       uint32_t n)
{
    return vs_packed_device_push(state, (const struct vs_used_elem *)(const void *)used, n);
}

int virtiospec_ring_packed_device_needs_reset(const void *state)
{
    return ((const struct vs_packed_device *)state)->broken;
}
