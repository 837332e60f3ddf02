/*
 * virtiospec_ring_packed.h -- the C ABI of a packed virtqueue (spec/ring_packed.md), version 1.
 *
 * A library that exports these functions (besides, or instead of, the split ring of
 * virtiospec_ring.h) gets the packed-ring cases (ring.packed.*) of
 *     virtiospec conformance run --target lib:PATH.so[:driver|:device]
 * The conventions are virtiospec_ring.h's: guest memory is [mem, mem + mem_size), every
 * address is a guest offset, the caller owns all memory (state blocks of *_state_size bytes,
 * aligned on 8), a side is used by one thread at a time, >= 0 is a result and < 0 minus one
 * of the codes below. struct virtiospec_ring_segment, struct virtiospec_ring_used_elem and
 * the feature bits VIRTIOSPEC_RING_F_* are virtiospec_ring.h's (include it first).
 *
 * Positions are 0 <= pos < Q with the wrap bit each side keeps (RING-PACKED-012); a buffer
 * is identified by its buffer ID (the `id` of its last descriptor), 0 <= id < Q.
 *
 * States: after an error of the other side (NOT_AVAIL, TOO_LONG, INDIRECT, OUTSIDE,
 * READ_AFTER_WRITE, ID_IN_USE for the device; USED for the driver) a side is STOPPED: that
 * call returns the code and makes no further store; every later call returns
 * -DEVICE_STOPPED (device) or -DRIVER_STOPPED (driver), except device_needs_reset (minus the
 * code), driver_num_free and driver_detach_unused, until the side is created again.
 *
 * Everything between "cdef-begin" and "cdef-end" is plain declarations for cffi.
 */
#ifndef VIRTIOSPEC_RING_PACKED_H
#define VIRTIOSPEC_RING_PACKED_H

#include "virtiospec_ring.h"

#ifdef __cplusplus
extern "C" {
#endif

/* cdef-begin */
#define VIRTIOSPEC_RING_PACKED_ABI_VERSION 1

/* Error codes (the requirement each names; the suite compares requirements). */
enum virtiospec_ring_packed_error {
    VIRTIOSPEC_RING_PACKED_E_QUEUE_SIZE = 1,       /* RING-PACKED-002  Q not in [1, 32768] */
    VIRTIOSPEC_RING_PACKED_E_PLACEMENT = 2,        /* RING-PACKED-001  misplaced ring part */
    VIRTIOSPEC_RING_PACKED_E_LIST_DESCS = 3,       /* RING-PACKED-030  add: more than Q */
    VIRTIOSPEC_RING_PACKED_E_TOO_LONG = 4,         /* RING-PACKED-080  device holds > Q */
    VIRTIOSPEC_RING_PACKED_E_NOT_AVAIL = 5,        /* RING-PACKED-081  list not available */
    VIRTIOSPEC_RING_PACKED_E_INDIRECT = 6,         /* RING-PACKED-082  bad INDIRECT */
    VIRTIOSPEC_RING_PACKED_E_OUTSIDE = 7,          /* RING-PACKED-083  outside memory */
    VIRTIOSPEC_RING_PACKED_E_READ_AFTER_WRITE = 8, /* RING-PACKED-084  readable after writable */
    VIRTIOSPEC_RING_PACKED_E_ID_IN_USE = 9,        /* RING-PACKED-085  buffer ID held */
    VIRTIOSPEC_RING_PACKED_E_USED = 10,            /* RING-PACKED-086  bad used element */
    VIRTIOSPEC_RING_PACKED_E_DEVICE_STOPPED = 11,  /* RING-PACKED-085  device STOPPED */
    VIRTIOSPEC_RING_PACKED_E_DRIVER_STOPPED = 12,  /* RING-PACKED-086  driver STOPPED */
    VIRTIOSPEC_RING_PACKED_E_FULL = 13,            /* RING-PACKED-032  too few free (retry) */
    VIRTIOSPEC_RING_PACKED_E_INVALID = 14,         /* -                bad argument */
    VIRTIOSPEC_RING_PACKED_E_NO_SPACE = 15         /* -                array too small */
};

/* Where the queue lives and what was negotiated. */
struct virtiospec_ring_packed_config {
    uint32_t queue_size;    /* Q in [1, 32768] (RING-PACKED-002) */
    uint32_t features;      /* VIRTIOSPEC_RING_F_EVENT_IDX, VIRTIOSPEC_RING_F_INDIRECT */
    uint64_t desc;          /* the descriptor ring, aligned on 16, 16 * Q bytes */
    uint64_t driver_event;  /* the driver event suppression structure, aligned on 4 */
    uint64_t device_event;  /* the device event suppression structure, aligned on 4 */
    uint64_t indirect_area; /* driver, with F_INDIRECT: Q * indirect_max * 16 bytes */
    uint32_t indirect_max;  /* driver: most buffers put in one indirect table */
    uint32_t reserved;      /* 0 */
};

uint32_t virtiospec_ring_packed_abi_version(void);
size_t virtiospec_ring_packed_driver_state_size(uint32_t queue_size); /* 0: invalid Q */
size_t virtiospec_ring_packed_device_state_size(uint32_t queue_size);

/* -- driver: create (INVALID, QUEUE_SIZE, PLACEMENT; no access), init (the driver event
 * structure of a fresh queue), then as virtiospec_ring.h's driver: add returns the buffer ID,
 * kick_prepare 1 = notify, kick_data the value of a notification with
 * VIRTIO_F_NOTIFICATION_DATA (next avail position | wrap << 15), get_used 1 = taken back,
 * 0 = none, num_free the free descriptors (in every state), detach_unused the tokens of
 * every outstanding list in buffer-ID order (in every state). */
int virtiospec_ring_packed_driver_create(void *state, size_t state_size, void *mem,
                                         uint64_t mem_size,
                                         const struct virtiospec_ring_packed_config *cfg);
int virtiospec_ring_packed_driver_init(void *state);
int virtiospec_ring_packed_driver_add(void *state, const struct virtiospec_ring_segment *out,
                                      uint32_t n_out, const struct virtiospec_ring_segment *in,
                                      uint32_t n_in, uint64_t token);
int virtiospec_ring_packed_driver_kick_prepare(void *state);
int virtiospec_ring_packed_driver_kick_data(const void *state);
int virtiospec_ring_packed_driver_get_used(void *state, uint64_t *token, uint32_t *len);
int virtiospec_ring_packed_driver_disable_cb(void *state);
int virtiospec_ring_packed_driver_enable_cb(void *state);
int virtiospec_ring_packed_driver_enable_cb_delayed(void *state);
int virtiospec_ring_packed_driver_detach_unused(void *state, uint64_t *tokens, uint32_t max);
int virtiospec_ring_packed_driver_num_free(const void *state);

/* -- device: create, init (the device event structure), pop (1: a list, its buffer ID in
 * *id, buffers as virtiospec_ring.h's pop; 0: none), push (n used elements as (buffer ID,
 * len)), should_notify, enable_notify (1: a list is available), disable_notify,
 * needs_reset (0, or minus the code that stopped the device). */
int virtiospec_ring_packed_device_create(void *state, size_t state_size, void *mem,
                                         uint64_t mem_size,
                                         const struct virtiospec_ring_packed_config *cfg);
int virtiospec_ring_packed_device_init(void *state);
int virtiospec_ring_packed_device_pop(void *state, uint16_t *id,
                                      struct virtiospec_ring_segment *segs, uint32_t max_segs,
                                      uint32_t *n_readable, uint32_t *n_writable);
int virtiospec_ring_packed_device_push(void *state,
                                       const struct virtiospec_ring_used_elem *used,
                                       uint32_t n);
int virtiospec_ring_packed_device_should_notify(void *state);
int virtiospec_ring_packed_device_enable_notify(void *state);
int virtiospec_ring_packed_device_disable_notify(void *state);
int virtiospec_ring_packed_device_needs_reset(const void *state);
/* cdef-end */

#ifdef __cplusplus
}
#endif

#endif /* VIRTIOSPEC_RING_PACKED_H */
