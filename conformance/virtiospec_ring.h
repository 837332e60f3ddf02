/*
 * virtiospec_ring.h -- the C ABI of a split virtqueue (spec/ring.md), version 1.
 *
 * Any shared library that exports these functions can be checked by the conformance
 * suite:   virtiospec conformance run --target lib:PATH.so[:driver|:device]
 * The suite loads the library with cffi in ABI mode (dlopen), plays the other side of the
 * queue itself, and shares one block of guest memory with it.
 *
 * Conventions
 *  - Guest memory is one block of host memory [mem, mem + mem_size). Every ring address
 *    (descriptor table, available ring, used ring, indirect area, buffer addresses) is a
 *    guest offset into that block. All ring fields are little-endian (RING-SPLIT-004).
 *  - The caller owns all memory: it asks *_state_size(Q) for the size of a side's private
 *    state, provides that many bytes aligned on 8, and creates the side in it. No function
 *    allocates. Re-creating a side on its state is a reset.
 *  - A side is used by one thread at a time; driver and device may run on two threads (or
 *    two processes) at once, sharing only guest memory.
 *  - Functions return an int: >= 0 is a result (documented per function), < 0 is minus one
 *    of the error codes below. The codes of RING-SPLIT-080..085 mean the *other side* broke
 *    the spec; after one of them the side refuses every further operation with
 *    -VIRTIOSPEC_RING_E_NEEDS_RESET until it is created again (RING-SPLIT-084).
 *
 * Everything between "cdef-begin" and "cdef-end" is plain declarations (no preprocessor
 * conditionals, integer #defines only) so that cffi can read this very file.
 */
#ifndef VIRTIOSPEC_RING_H
#define VIRTIOSPEC_RING_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* cdef-begin */
#define VIRTIOSPEC_RING_ABI_VERSION 1

/* Feature bits of struct virtiospec_ring_config.features. */
#define VIRTIOSPEC_RING_F_EVENT_IDX 1  /* VIRTIO_F_EVENT_IDX negotiated */
#define VIRTIOSPEC_RING_F_INDIRECT 2   /* VIRTIO_F_INDIRECT_DESC negotiated */

/*
 * Error codes. Each names the requirement of spec/ring.md that was broken; a wrapper
 * raises the error class of the Python reference with that requirement as its .req.
 *   code                                  requirement      meaning
 */
enum virtiospec_ring_error {
    VIRTIOSPEC_RING_E_QUEUE_SIZE = 1,    /* RING-SPLIT-001  Q not a power of 2 in [1, 32768] */
    VIRTIOSPEC_RING_E_PLACEMENT = 2,     /* RING-SPLIT-002  ring part misaligned or outside memory */
    VIRTIOSPEC_RING_E_CHAIN_BYTES = 3,   /* RING-SPLIT-010  add: buffers longer than 2^32 bytes */
    VIRTIOSPEC_RING_E_CHAIN_DESCS = 4,   /* RING-SPLIT-022  add: more descriptors than Q */
    VIRTIOSPEC_RING_E_INDEX = 5,         /* RING-SPLIT-080  head or next index >= Q (or table size) */
    VIRTIOSPEC_RING_E_LOOP = 6,          /* RING-SPLIT-080  a chain revisits a descriptor */
    VIRTIOSPEC_RING_E_TOO_LONG = 7,      /* RING-SPLIT-080  a chain longer than Q descriptors */
    VIRTIOSPEC_RING_E_INDIRECT = 8,      /* RING-SPLIT-081  bad indirect descriptor or table */
    VIRTIOSPEC_RING_E_OUTSIDE = 9,       /* RING-SPLIT-082  buffer or table outside guest memory */
    VIRTIOSPEC_RING_E_READ_AFTER_WRITE = 10, /* RING-SPLIT-083  readable after writable */
    VIRTIOSPEC_RING_E_AVAIL_JUMP = 11,   /* RING-SPLIT-084  avail.idx moved more than Q ahead */
    VIRTIOSPEC_RING_E_IN_FLIGHT = 12,    /* RING-SPLIT-092  head made available twice */
    VIRTIOSPEC_RING_E_USED = 13,         /* RING-SPLIT-085  bad used id, len or used.idx */
    VIRTIOSPEC_RING_E_NEEDS_RESET = 14,  /* RING-SPLIT-084  stopped after an earlier error */
    VIRTIOSPEC_RING_E_FULL = 15,         /* RING-SPLIT-090  add: too few free descriptors (retry) */
    VIRTIOSPEC_RING_E_INVALID = 16,      /* -               bad argument from the caller */
    VIRTIOSPEC_RING_E_NO_SPACE = 17,     /* -               caller's array too small (retry) */
    VIRTIOSPEC_RING_E_ABORTED = 18       /* -               stepped build: operation abandoned */
};

/* Where the queue lives and what was negotiated. */
struct virtiospec_ring_config {
    uint32_t queue_size;    /* Q, a power of 2 in [1, 32768] (RING-SPLIT-001) */
    uint32_t features;      /* VIRTIOSPEC_RING_F_* */
    uint64_t desc;          /* guest offset of the descriptor table, aligned on 16 */
    uint64_t avail;         /* guest offset of the available ring, aligned on 2 */
    uint64_t used;          /* guest offset of the used ring, aligned on 4 */
    uint64_t indirect_area; /* driver, with F_INDIRECT: Q * indirect_max * 16 bytes for tables */
    uint32_t indirect_max;  /* driver: most buffers put in one indirect table */
    uint16_t start_index;   /* both free-running indices start here (0 on a real device) */
    uint16_t reserved;      /* 0 */
};

/* A buffer: guest offset and length. */
struct virtiospec_ring_segment {
    uint64_t addr;
    uint64_t len;
};

/* A used element as the device returns it. */
struct virtiospec_ring_used_elem {
    uint32_t id;
    uint32_t len;
};

/* VIRTIOSPEC_RING_ABI_VERSION of the library. */
uint32_t virtiospec_ring_abi_version(void);

/* Bytes of private state for a queue of queue_size entries; 0 for an invalid size. */
size_t virtiospec_ring_driver_state_size(uint32_t queue_size);
size_t virtiospec_ring_device_state_size(uint32_t queue_size);

/* -- driver ------------------------------------------------------------------------------
 * create: check cfg and build the private state in state[0, state_size). No memory access.
 * init: write the fields of a fresh queue the driver sets up: avail.flags, used.flags
 *       (RING-SPLIT-065), avail.idx, used_event.
 */
int virtiospec_ring_driver_create(void *state, size_t state_size, void *mem, uint64_t mem_size,
                                  const struct virtiospec_ring_config *cfg);
int virtiospec_ring_driver_init(void *state);
/* Make available one chain: n_out device-readable then n_in device-writable buffers, in an
 * indirect table when F_INDIRECT is on and 2 <= n_out + n_in <= indirect_max. Returns the head. */
int virtiospec_ring_driver_add(void *state, const struct virtiospec_ring_segment *out,
                               uint32_t n_out, const struct virtiospec_ring_segment *in,
                               uint32_t n_in, uint64_t token);
/* 1: the chains added since the last call need an available-buffer notification. */
int virtiospec_ring_driver_kick_prepare(void *state);
/* 1: a used buffer was taken back (*token, *len); 0: none. */
int virtiospec_ring_driver_get_used(void *state, uint64_t *token, uint32_t *len);
int virtiospec_ring_driver_disable_cb(void *state);
/* Re-enable used-buffer notifications, then re-check: 1 means used buffers are pending. */
int virtiospec_ring_driver_enable_cb(void *state);
/* The same, asking (with F_EVENT_IDX) to be notified after 3/4 of the outstanding buffers. */
int virtiospec_ring_driver_enable_cb_delayed(void *state);
/* After a device reset: the tokens of every outstanding chain, in head order; frees them all.
 * Returns their number (at most Q), or -NO_SPACE if max < that number. */
int virtiospec_ring_driver_detach_unused(void *state, uint64_t *tokens, uint32_t max);
/* Free descriptors. */
int virtiospec_ring_driver_num_free(const void *state);

/* -- device ------------------------------------------------------------------------------
 * create: check cfg (every part inside guest memory) and build the private state.
 * init: write the device's fields of a fresh queue (used.flags, used.idx, avail_event).
 */
int virtiospec_ring_device_create(void *state, size_t state_size, void *mem, uint64_t mem_size,
                                  const struct virtiospec_ring_config *cfg);
int virtiospec_ring_device_init(void *state);
/* 1: the next available chain was walked and validated: its head in *head, its buffers in
 * segs[0, *n_readable) (device-readable) then segs[*n_readable, *n_readable + *n_writable)
 * (device-writable); max_segs = Q always suffices. 0: nothing available. */
int virtiospec_ring_device_pop(void *state, uint16_t *head, struct virtiospec_ring_segment *segs,
                               uint32_t max_segs, uint32_t *n_readable, uint32_t *n_writable);
/* Return n popped chains as (id = head, len written): n used elements, one write barrier,
 * one store of used.idx. */
int virtiospec_ring_device_push(void *state, const struct virtiospec_ring_used_elem *used,
                                uint32_t n);
/* 1: the used elements pushed since the last call need a used-buffer notification. */
int virtiospec_ring_device_should_notify(void *state);
/* Re-enable available-buffer notifications, then re-check: 1 means buffers are pending. */
int virtiospec_ring_device_enable_notify(void *state);
int virtiospec_ring_device_disable_notify(void *state);
/* 0, or minus the error code that stopped the device (it needs a reset). */
int virtiospec_ring_device_needs_reset(const void *state);
/* cdef-end */

#ifdef __cplusplus
}
#endif

#endif /* VIRTIOSPEC_RING_H */
