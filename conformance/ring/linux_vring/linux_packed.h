/*
 * linux_packed.h -- the packed-ring driver of --target linux-vring (driver_packed.c): this
 * target's own functions, not a public ABI. Results as in virtiospec_ring.h's driver; errors
 * are minus the codes of reference/ring/c/ring_packed.h. Between cdef-begin and cdef-end: plain
 * declarations that cffi reads (struct virtiospec_ring_segment comes from virtiospec_ring.h).
 */
#ifndef VIRTIOSPEC_LINUX_PACKED_H
#define VIRTIOSPEC_LINUX_PACKED_H

#include <stddef.h>
#include <stdint.h>

#if defined(__GNUC__)
#pragma GCC visibility push(default)
#endif
/* cdef-begin */
size_t vsl_packed_driver_state_size(uint32_t q);
int vsl_packed_driver_create(void *state, size_t state_size, void *mem, uint64_t mem_size,
                             uint32_t q, uint64_t desc, uint64_t driver_event,
                             uint64_t device_event, uint32_t features,
                             uint64_t indirect_area, uint32_t indirect_max);
int vsl_packed_driver_init(void *state);
int vsl_packed_driver_add(void *state, const struct virtiospec_ring_segment *out,
                          uint32_t n_out, const struct virtiospec_ring_segment *in,
                          uint32_t n_in, uint64_t token);
int vsl_packed_driver_kick_prepare(void *state);
int vsl_packed_driver_get_used(void *state, uint64_t *token, uint32_t *len);
int vsl_packed_driver_disable_cb(void *state);
int vsl_packed_driver_enable_cb(void *state);
int vsl_packed_driver_num_free(const void *state);
/* cdef-end */
#if defined(__GNUC__)
#pragma GCC visibility pop
#endif

#endif
