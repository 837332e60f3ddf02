/*
 * virtiospec_ring.h -- the C ABI of a split virtqueue (spec/ring.md), version 2.
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
 *    of the error codes below. A negative result is never a count.
 *
 * States of a side: after create and init it is HEALTHY. An error of the *other side*
 * (the codes of RING-SPLIT-080, RING-SPLIT-081, RING-SPLIT-082, RING-SPLIT-083, RING-SPLIT-084, RING-SPLIT-085 and RING-SPLIT-092: INDEX, LOOP, TOO_LONG, INDIRECT, OUTSIDE,
 * READ_AFTER_WRITE, AVAIL_JUMP, IN_FLIGHT, USED) makes it STOPPED (RING-SPLIT-084): the call
 * that found the error returns minus its code, writes nothing to guest memory and takes
 * nothing back (RING-SPLIT-084, -085); from then on every call returns
 * -VIRTIOSPEC_RING_E_NEEDS_RESET and touches no memory, except *_needs_reset (minus the code
 * that stopped the side) and driver_detach_unused (below), until the side is created again.
 * Caller errors (QUEUE_SIZE, PLACEMENT at create; CHAIN_BYTES, CHAIN_DESCS, FULL, INVALID,
 * NO_SPACE) change nothing: the side stays as it was, and the call made no access.
 *
 * Which error wins: each function checks in the order its comment gives and returns the
 * first rule broken; the device walks a chain in chain order and reports the first
 * descriptor that breaks a rule. The suite compares the requirement ID each code names
 * (the table below); two codes of one requirement (INDEX, LOOP, TOO_LONG) are equivalent.
 *
 * Version 2 (this header) differs from version 1 in: driver_num_free returns
 * -NEEDS_RESET when the driver is STOPPED; driver_needs_reset is new; create refuses an
 * indirect area not aligned on 16; everything else only became exact.
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
#define VIRTIOSPEC_RING_ABI_VERSION 2

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
    uint64_t indirect_area; /* driver, with F_INDIRECT: Q * indirect_max * 16 bytes, aligned
                             * on 16; the table of the chain with head h is at
                             * indirect_area + h * indirect_max * 16 */
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

/* VIRTIOSPEC_RING_ABI_VERSION of the library; the suite refuses any other version. */
uint32_t virtiospec_ring_abi_version(void);

/* Bytes of private state for a queue of queue_size entries; 0 for an invalid size. */
size_t virtiospec_ring_driver_state_size(uint32_t queue_size);
size_t virtiospec_ring_device_state_size(uint32_t queue_size);

/* -- driver ------------------------------------------------------------------------------
 * create: checks, in this order: cfg NULL, reserved != 0, state NULL or not aligned on 8,
 *         mem NULL or not aligned on 8, unknown feature bits: -INVALID; queue size
 *         (RING-SPLIT-001): -QUEUE_SIZE; state_size < driver_state_size(Q): -INVALID; desc
 *         not aligned on 16, avail on 2, used on 4, or any part outside [0, mem_size):
 *         -PLACEMENT; with F_INDIRECT, indirect area not aligned on 16 or outside guest
 *         memory: -PLACEMENT (RING-SPLIT-002). 0: HEALTHY, Q free descriptors, no access.
 * init: stores 0 to avail.flags and used.flags (RING-SPLIT-065), start_index to avail.idx,
 *       0 to used_event. Returns 0.
 */
int virtiospec_ring_driver_create(void *state, size_t state_size, void *mem, uint64_t mem_size,
                                  const struct virtiospec_ring_config *cfg);
int virtiospec_ring_driver_init(void *state);
/* Make available one chain: n_out device-readable then n_in device-writable buffers, in an
 * indirect table (one ring descriptor) when F_INDIRECT is on and 2 <= n_out + n_in <=
 * indirect_max, else in n_out + n_in ring descriptors. Checks, in order: STOPPED:
 * -NEEDS_RESET; n_out + n_in == 0 or a NULL array with a non-zero count: -INVALID; any
 * buffer of 2^32 bytes or more, or all together more than 2^32: -CHAIN_BYTES
 * (RING-SPLIT-010); n_out + n_in > Q: -CHAIN_DESCS (RING-SPLIT-022); fewer free descriptors
 * than needed: -FULL (RING-SPLIT-090, retry after get_used). Returns the head (< Q). */
int virtiospec_ring_driver_add(void *state, const struct virtiospec_ring_segment *out,
                               uint32_t n_out, const struct virtiospec_ring_segment *in,
                               uint32_t n_in, uint64_t token);
/* 1: the chains added since the last call need an available-buffer notification
 * (RING-SPLIT-062, RING-SPLIT-063, after the mb of RING-SPLIT-070); 0: they do not, or none was added
 * (then no memory access is made). STOPPED: -NEEDS_RESET. */
int virtiospec_ring_driver_kick_prepare(void *state);
/* 1: the next used element was valid and its chain is taken back: *token and *len set, its
 * descriptors free again; with F_EVENT_IDX and callbacks enabled, used_event is then set to
 * the next used entry to take back. 0: none pending. STOPPED: -NEEDS_RESET. A used element
 * that breaks RING-SPLIT-085 (id not an outstanding head, len beyond the chain's writable
 * bytes, used.idx more than the outstanding chains ahead): -USED, nothing taken back,
 * nothing written, the driver STOPPED. */
int virtiospec_ring_driver_get_used(void *state, uint64_t *token, uint32_t *len);
/* Callbacks off (RING-SPLIT-050, RING-SPLIT-051): without F_EVENT_IDX stores 1 to avail.flags; with it
 * stores used_event = next entry - 1 (once, if callbacks were on). 0; STOPPED: -NEEDS_RESET. */
int virtiospec_ring_driver_disable_cb(void *state);
/* Callbacks on: stores 0 to avail.flags (without F_EVENT_IDX) or used_event = next used
 * entry to take back (with it), mb, re-reads used.idx (RING-SPLIT-073). 1: a used element is
 * pending (take it instead of waiting); 0: none. STOPPED: -NEEDS_RESET. */
int virtiospec_ring_driver_enable_cb(void *state);
/* Without F_EVENT_IDX: enable_cb. With it: callbacks on, used_event = next entry + b where
 * b = (outstanding chains * 3) / 4, mb, re-read used.idx: 1 when more than b used elements
 * are pending, 0 otherwise (fewer pending ones are not reported). STOPPED: -NEEDS_RESET. */
int virtiospec_ring_driver_enable_cb_delayed(void *state);
/* After a device reset, in every state (HEALTHY or STOPPED): the tokens of every
 * outstanding chain, in increasing head order, into tokens[0, n); frees all descriptors.
 * Returns n (at most Q), or -NO_SPACE (nothing changed) if max < n. A STOPPED driver stays
 * STOPPED. No memory access. */
int virtiospec_ring_driver_detach_unused(void *state, uint64_t *tokens, uint32_t max);
/* Free descriptors (0..Q) when HEALTHY; -NEEDS_RESET when STOPPED. */
int virtiospec_ring_driver_num_free(const void *state);
/* 0 when HEALTHY; minus the code that stopped the driver when STOPPED. */
int virtiospec_ring_driver_needs_reset(const void *state);

/* -- device ------------------------------------------------------------------------------
 * create: the driver's checks (without the indirect area). 0: HEALTHY, nothing in flight.
 * init: stores 0 to used.flags, start_index to used.idx, 0 to avail_event. Returns 0.
 */
int virtiospec_ring_device_create(void *state, size_t state_size, void *mem, uint64_t mem_size,
                                  const struct virtiospec_ring_config *cfg);
int virtiospec_ring_device_init(void *state);
/* 1: the next available chain was walked and validated: its head in *head, its buffers in
 * segs[0, *n_readable) (device-readable) then segs[*n_readable, *n_readable + *n_writable)
 * (device-writable); the head is now in flight. 0: nothing available. Checks, in order:
 * STOPPED: -NEEDS_RESET; segs NULL with max_segs > 0: -INVALID; avail.idx more than Q ahead:
 * -AVAIL_JUMP; then the walk in chain order (RING-SPLIT-080, RING-SPLIT-081, RING-SPLIT-082, RING-SPLIT-083): INDEX, LOOP, TOO_LONG,
 * INDIRECT, OUTSIDE, READ_AFTER_WRITE; a chain with more buffers than max_segs: -NO_SPACE
 * (nothing consumed; max_segs = Q always suffices); a head already in flight: -IN_FLIGHT
 * (RING-SPLIT-092). Every error but NO_SPACE and INVALID stops the device. */
int virtiospec_ring_device_pop(void *state, uint16_t *head, struct virtiospec_ring_segment *segs,
                               uint32_t max_segs, uint32_t *n_readable, uint32_t *n_writable);
/* Return n popped chains as (id = head, len written): n used elements, one write barrier,
 * one store of used.idx; 0. STOPPED: -NEEDS_RESET. An id that is not in flight (never popped,
 * or already pushed, or twice in used[]), or a len beyond the chain's writable bytes
 * (RING-SPLIT-041): -INVALID, nothing written, nothing changed. n == 0: 0, nothing new
 * published. */
int virtiospec_ring_device_push(void *state, const struct virtiospec_ring_used_elem *used,
                                uint32_t n);
/* 1: the used elements pushed since the last call need a used-buffer notification
 * (RING-SPLIT-052, RING-SPLIT-053, after the mb of RING-SPLIT-071); 0: they do not, or used.idx has not
 * moved since the previous decision (the first decision after create always decides, as if
 * elements were pushed; with F_EVENT_IDX it returns 1). STOPPED: -NEEDS_RESET. */
int virtiospec_ring_device_should_notify(void *state);
/* Notifications on: stores 0 to used.flags (without F_EVENT_IDX) or avail_event = next
 * available entry to pop (with it), mb, re-reads avail.idx (RING-SPLIT-072). 1: a chain is
 * available; 0: none. STOPPED: -NEEDS_RESET. */
int virtiospec_ring_device_enable_notify(void *state);
/* Notifications off: without F_EVENT_IDX stores 1 to used.flags (once); with it no store.
 * 0; STOPPED: -NEEDS_RESET. */
int virtiospec_ring_device_disable_notify(void *state);
/* 0 when HEALTHY; minus the code that stopped the device when STOPPED. */
int virtiospec_ring_device_needs_reset(const void *state);
/* cdef-end */

#ifdef __cplusplus
}
#endif

#endif /* VIRTIOSPEC_RING_H */
