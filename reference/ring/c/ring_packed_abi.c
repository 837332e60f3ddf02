/*
 * ring_packed_abi.c -- conformance/ring/virtiospec_ring_packed.h (ABI version 1) over
 * ring_packed.c. The public state is the struct vs_packed_driver / vs_packed_device of
 * ring_packed.h followed by its private arrays, in the block the caller provides; the codes
 * are ring_packed.h's (one table, two spellings). Built into the example library of
 * `make libring` beside ring_abi.c.
 */
#if defined(__GNUC__)
#pragma GCC visibility push(default)
#endif
#include "virtiospec_ring_packed.h"
#if defined(__GNUC__)
#pragma GCC visibility pop
#endif

#include <assert.h>

#include "ring_packed.h"

static_assert((int)VIRTIOSPEC_RING_PACKED_E_QUEUE_SIZE == (int)VS_PE_QUEUE_SIZE, "codes");
static_assert((int)VIRTIOSPEC_RING_PACKED_E_PLACEMENT == (int)VS_PE_PLACEMENT, "codes");
static_assert((int)VIRTIOSPEC_RING_PACKED_E_LIST_DESCS == (int)VS_PE_LIST_DESCS, "codes");
static_assert((int)VIRTIOSPEC_RING_PACKED_E_TOO_LONG == (int)VS_PE_TOO_LONG, "codes");
static_assert((int)VIRTIOSPEC_RING_PACKED_E_NOT_AVAIL == (int)VS_PE_NOT_AVAIL, "codes");
static_assert((int)VIRTIOSPEC_RING_PACKED_E_INDIRECT == (int)VS_PE_INDIRECT, "codes");
static_assert((int)VIRTIOSPEC_RING_PACKED_E_OUTSIDE == (int)VS_PE_OUTSIDE, "codes");
static_assert((int)VIRTIOSPEC_RING_PACKED_E_READ_AFTER_WRITE == (int)VS_PE_READ_AFTER_WRITE,
              "codes");
static_assert((int)VIRTIOSPEC_RING_PACKED_E_ID_IN_USE == (int)VS_PE_ID_IN_USE, "codes");
static_assert((int)VIRTIOSPEC_RING_PACKED_E_USED == (int)VS_PE_USED, "codes");
static_assert((int)VIRTIOSPEC_RING_PACKED_E_DEVICE_STOPPED == (int)VS_PE_DEVICE_STOPPED,
              "codes");
static_assert((int)VIRTIOSPEC_RING_PACKED_E_DRIVER_STOPPED == (int)VS_PE_DRIVER_STOPPED,
              "codes");
static_assert((int)VIRTIOSPEC_RING_PACKED_E_FULL == (int)VS_PE_FULL, "codes");
static_assert((int)VIRTIOSPEC_RING_PACKED_E_INVALID == (int)VS_PE_INVALID, "codes");
static_assert((int)VIRTIOSPEC_RING_PACKED_E_NO_SPACE == (int)VS_PE_NO_SPACE, "codes");
static_assert(sizeof(struct virtiospec_ring_segment) == sizeof(struct vs_segment), "segment");
static_assert(sizeof(struct virtiospec_ring_used_elem) == sizeof(struct vs_used_elem), "used");

#define SEGS(p) ((const struct vs_segment *)(const void *)(p))

uint32_t virtiospec_ring_packed_abi_version(void)
{
    return VIRTIOSPEC_RING_PACKED_ABI_VERSION;
}

size_t virtiospec_ring_packed_driver_state_size(uint32_t queue_size)
{
    return vs_packed_driver_state_size(queue_size);
}

size_t virtiospec_ring_packed_device_state_size(uint32_t queue_size)
{
    return vs_packed_device_state_size(queue_size);
}

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

int virtiospec_ring_packed_driver_init(void *state)
{
    return vs_packed_driver_init(state);
}

int virtiospec_ring_packed_driver_add(void *state, const struct virtiospec_ring_segment *out,
                                      uint32_t n_out, const struct virtiospec_ring_segment *in,
                                      uint32_t n_in, uint64_t token)
{
    return vs_packed_driver_add(state, SEGS(out), n_out, SEGS(in), n_in, token);
}

int virtiospec_ring_packed_driver_kick_prepare(void *state)
{
    return vs_packed_driver_kick_prepare(state);
}

int virtiospec_ring_packed_driver_kick_data(const void *state)
{
    return vs_packed_driver_kick_data(state);
}

int virtiospec_ring_packed_driver_get_used(void *state, uint64_t *token, uint32_t *len)
{
    return vs_packed_driver_get_used(state, token, len);
}

int virtiospec_ring_packed_driver_disable_cb(void *state)
{
    return vs_packed_driver_disable_cb(state);
}

int virtiospec_ring_packed_driver_enable_cb(void *state)
{
    return vs_packed_driver_enable_cb(state);
}

int virtiospec_ring_packed_driver_enable_cb_delayed(void *state)
{
    return vs_packed_driver_enable_cb_delayed(state);
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

int virtiospec_ring_packed_device_init(void *state)
{
    return vs_packed_device_init(state);
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

int virtiospec_ring_packed_device_should_notify(void *state)
{
    return vs_packed_device_should_notify(state);
}

int virtiospec_ring_packed_device_enable_notify(void *state)
{
    return vs_packed_device_enable_notify(state);
}

int virtiospec_ring_packed_device_disable_notify(void *state)
{
    return vs_packed_device_disable_notify(state);
}

int virtiospec_ring_packed_device_needs_reset(const void *state)
{
    return ((const struct vs_packed_device *)state)->broken;
}
