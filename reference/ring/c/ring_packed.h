/*
 * ring_packed.h -- the packed virtqueue in C (spec/ring_packed.md): driver side and device side.
 *
 * The same operations, names and semantics as the Python reference
 * (reference/ring/packed/driver.py, packed_device.py): the same accesses to shared memory
 * in the same order, the same checks and the same error kinds. Functions return >= 0 on
 * success and minus a vs_packed_error code on failure; each code names one requirement
 * (the table below; reference/ring/c/packed_errors.py maps it to the Python error class).
 *
 * No allocation: the caller provides guest memory and the state (vs_packed_*_state_size
 * bytes, aligned on 8). The private arrays of a side live in its state, after the struct.
 * Every access to shared memory goes through ring_access.h, so the same source builds
 * with C11 atomics or stepped access by access (-DVS_STEPPED, ring_packed_stepped.c).
 *
 * Positions are 0 <= pos < Q, each with the wrap bit its side keeps for it
 * (RING-PACKED-012); `off_wrap` values pack both as (pos | wrap << 15) (RING-PACKED-003).
 */
#ifndef VS_RING_PACKED_H
#define VS_RING_PACKED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ring.h" /* struct vs_segment, struct vs_used_elem, VS_F_EVENT_IDX, VS_F_INDIRECT */

/* Descriptor flags (RING-PACKED-003): NEXT, WRITE and INDIRECT are the split ring's. */
#define VS_PDESC_F_AVAIL 0x0080u
#define VS_PDESC_F_USED 0x8000u
#define VS_PDESC_SIZE 16u
#define VS_PEVENT_SIZE 4u
#define VS_PMAX_QUEUE_SIZE 32768u

/* Event-suppression flags (RING-PACKED-003): the high half of the 32-bit structure. */
#define VS_PEVENT_ENABLE 0u
#define VS_PEVENT_DISABLE 1u
#define VS_PEVENT_DESC 2u

/* Error codes; the Python class each maps to is in reference/ring/c/packed_errors.py. */
enum vs_packed_error {
    VS_PE_QUEUE_SIZE = 1,       /* RING-PACKED-002  BadQueueSize */
    VS_PE_PLACEMENT = 2,        /* RING-PACKED-001  BadPlacement */
    VS_PE_LIST_DESCS = 3,       /* RING-PACKED-030  ChainTooLong (add: more than Q) */
    VS_PE_TOO_LONG = 4,         /* RING-PACKED-080  ChainTooLong */
    VS_PE_NOT_AVAIL = 5,        /* RING-PACKED-081  DescriptorNotAvailable */
    VS_PE_INDIRECT = 6,         /* RING-PACKED-082  BadIndirect */
    VS_PE_OUTSIDE = 7,          /* RING-PACKED-083  BufferOutsideMemory */
    VS_PE_READ_AFTER_WRITE = 8, /* RING-PACKED-084  ReadableAfterWritable */
    VS_PE_ID_IN_USE = 9,        /* RING-PACKED-085  BufferIdInUse */
    VS_PE_USED = 10,            /* RING-PACKED-086  BadUsedElement */
    VS_PE_DEVICE_STOPPED = 11,  /* RING-PACKED-085  NeedsReset (device) */
    VS_PE_DRIVER_STOPPED = 12,  /* RING-PACKED-086  NeedsReset (driver) */
    VS_PE_FULL = 13,            /* RING-PACKED-032  QueueFull (not an error of the other side) */
    VS_PE_INVALID = 14,         /* caller error (ValueError in Python) */
    VS_PE_NO_SPACE = 15,        /* caller's array too small */
    VS_PE_ABORTED = 16          /* stepped build: the checker abandoned the operation */
};

/* Where the queue lives; shared by both sides. `mem` is what ring_access.h reads. */
struct vs_packed_queue {
    uint8_t *mem;      /* host address of guest offset 0 (unused by the stepped build) */
    uint64_t mem_size; /* bytes of guest memory */
    uint32_t q;        /* queue size, 1..32768 (RING-PACKED-002) */
    uint64_t desc, driver_event, device_event;
};

/* A list the driver made available and has not taken back (RING-PACKED-026). */
struct vs_packed_out {
    uint64_t token;
    uint64_t writable; /* total length of its device-writable elements (RING-PACKED-086) */
    uint16_t ndesc;    /* ring descriptors the list occupies */
    uint8_t live;
};

struct vs_packed_driver {
    struct vs_packed_queue r;
    bool event_idx;
    bool indirect;          /* VIRTIO_F_INDIRECT_DESC: build tables in indirect_area */
    uint64_t indirect_area;
    uint32_t indirect_max;
    uint16_t next_avail;    /* next position to make available ... */
    uint8_t avail_wrap;     /* ... and the Driver Ring Wrap Counter (RING-PACKED-012) */
    uint16_t last_used;     /* where the next used descriptor will appear ... */
    uint8_t used_wrap;      /* ... and its wrap bit */
    uint32_t free_descs;    /* positions ahead of next_avail the driver owns */
    uint64_t num_added;     /* positions made available since the last kick decision */
    bool cb_disabled;       /* shadow of the driver structure's DISABLE */
    int broken;             /* 0, or the error that stopped the driver */
    uint32_t free_head;     /* free buffer IDs: a FIFO of free_count entries from free_head */
    uint32_t free_count;
    uint16_t *free_ids;     /* [q] */
    struct vs_packed_out *ids; /* [q], by buffer ID */
};

/* A list the device took and has not used yet. */
struct vs_packed_held {
    uint64_t writable;
    uint16_t id;
    uint16_t ndesc;
    uint8_t live; /* 1; 2 while push checks a batch for repeats */
};

struct vs_packed_device {
    struct vs_packed_queue r;
    bool event_idx;
    bool indirect;
    uint16_t last_avail;    /* the position read next ... */
    uint8_t avail_wrap;     /* ... and its wrap bit */
    uint16_t used_pos;      /* where the next used descriptor goes ... */
    uint8_t used_wrap;      /* ... and the Device Ring Wrap Counter (RING-PACKED-012) */
    uint32_t held;          /* ring descriptors taken, not yet covered by a used descriptor */
    uint64_t num_pushed;    /* positions passed by used descriptors since the last decision */
    bool notify_disabled;
    int broken;             /* 0, or the error that needs a reset (RING-PACKED-085) */
    struct vs_packed_held *in_flight; /* [q]: lists popped and not pushed, any order */
    uint32_t displaced;     /* lists held away from their home slot (see vs_held_find) */
};

/* RING-PACKED-064: is the position named by `event` (an off_wrap value) in the window of
 * `passed` positions that ends at lap index `new_lap`? Always true once passed >= 2Q. */
bool vs_packed_need_event(uint32_t q, uint16_t event, uint32_t new_lap, uint64_t passed);

size_t vs_packed_driver_state_size(uint32_t q);
size_t vs_packed_device_state_size(uint32_t q);

/* Driver (reference/ring/packed/driver.py, PackedDriver). */
int vs_packed_driver_create(struct vs_packed_driver *d, size_t state_size, uint8_t *mem,
                            uint64_t mem_size, uint32_t q, uint64_t desc, uint64_t driver_event,
                            uint64_t device_event, uint32_t features, uint64_t indirect_area,
                            uint32_t indirect_max);
int vs_packed_driver_init(struct vs_packed_driver *d);
int vs_packed_driver_add(struct vs_packed_driver *d, const struct vs_segment *out,
                         uint32_t n_out, const struct vs_segment *in, uint32_t n_in,
                         uint64_t token);
int vs_packed_driver_kick_prepare(struct vs_packed_driver *d);
int vs_packed_driver_kick_data(const struct vs_packed_driver *d);
int vs_packed_driver_get_used(struct vs_packed_driver *d, uint64_t *token, uint32_t *len);
int vs_packed_driver_detach_unused(struct vs_packed_driver *d, uint64_t *tokens, uint32_t max);
int vs_packed_driver_disable_cb(struct vs_packed_driver *d);
int vs_packed_driver_enable_cb_prepare(struct vs_packed_driver *d); /* returns an off_wrap */
int vs_packed_driver_poll(struct vs_packed_driver *d, uint16_t last);
int vs_packed_driver_enable_cb(struct vs_packed_driver *d);
int vs_packed_driver_enable_cb_delayed(struct vs_packed_driver *d);
uint32_t vs_packed_driver_num_free(const struct vs_packed_driver *d);

/* Device (reference/ring/packed/device.py, PackedDevice). */
int vs_packed_device_create(struct vs_packed_device *v, size_t state_size, uint8_t *mem,
                            uint64_t mem_size, uint32_t q, uint64_t desc, uint64_t driver_event,
                            uint64_t device_event, uint32_t features);
int vs_packed_device_init(struct vs_packed_device *v);
int vs_packed_device_pop(struct vs_packed_device *v, uint16_t *id, struct vs_segment *segs,
                         uint32_t max_segs, uint32_t *n_readable, uint32_t *n_writable);
int vs_packed_device_push(struct vs_packed_device *v, const struct vs_used_elem *used,
                          uint32_t n);
int vs_packed_device_should_notify(struct vs_packed_device *v);
int vs_packed_device_disable_notify(struct vs_packed_device *v);
int vs_packed_device_enable_notify(struct vs_packed_device *v);
int vs_packed_device_needs_reset(const struct vs_packed_device *v);

#endif /* VS_RING_PACKED_H */
