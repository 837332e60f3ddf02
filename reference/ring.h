/*
 * ring.h -- the split virtqueue in C (spec/ring.md): driver side and device side.
 *
 * The same operations, names and semantics as the Python reference in reference/ring/
 * (driver.py, device.py): the same accesses to shared memory in the same order, the same
 * checks and the same error kinds. Functions return >= 0 on success and minus a vs_error
 * code on failure; each code names one requirement (see the table below and
 * conformance/ring/virtiospec_ring.h, whose public codes are the same numbers).
 *
 * No allocation: the caller provides guest memory and the state (vs_*_state_size bytes,
 * aligned on 8). The private arrays of a side live in its state, after the struct.
 */
#ifndef VS_RING_H
#define VS_RING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Descriptor flags and suppression flags (RING-SPLIT-003, -050, -060). */
#define VS_DESC_F_NEXT 1u
#define VS_DESC_F_WRITE 2u
#define VS_DESC_F_INDIRECT 4u
#define VS_AVAIL_F_NO_INTERRUPT 1u
#define VS_USED_F_NO_NOTIFY 1u
#define VS_DESC_SIZE 16u
#define VS_USED_ELEM_SIZE 8u
#define VS_MAX_QUEUE_SIZE 32768u

#define VS_F_EVENT_IDX 1u
#define VS_F_INDIRECT 2u

/* Error codes; the Python class each maps to is in reference/ring/c/errors.py. */
enum vs_error {
    VS_E_QUEUE_SIZE = 1,       /* RING-SPLIT-001  BadQueueSize */
    VS_E_PLACEMENT = 2,        /* RING-SPLIT-002  BadPlacement */
    VS_E_CHAIN_BYTES = 3,      /* RING-SPLIT-010  ChainTooLong */
    VS_E_CHAIN_DESCS = 4,      /* RING-SPLIT-022  ChainTooLong */
    VS_E_INDEX = 5,            /* RING-SPLIT-080  BadDescriptorIndex */
    VS_E_LOOP = 6,             /* RING-SPLIT-080  DescriptorLoop */
    VS_E_TOO_LONG = 7,         /* RING-SPLIT-080  ChainTooLong */
    VS_E_INDIRECT = 8,         /* RING-SPLIT-081  BadIndirect */
    VS_E_OUTSIDE = 9,          /* RING-SPLIT-082  BufferOutsideMemory */
    VS_E_READ_AFTER_WRITE = 10, /* RING-SPLIT-083  ReadableAfterWritable */
    VS_E_AVAIL_JUMP = 11,      /* RING-SPLIT-084  AvailIndexJump */
    VS_E_IN_FLIGHT = 12,       /* RING-SPLIT-092  BadDescriptorIndex (head already in flight) */
    VS_E_USED = 13,            /* RING-SPLIT-085  BadUsedElement */
    VS_E_NEEDS_RESET = 14,     /* RING-SPLIT-084  NeedsReset */
    VS_E_FULL = 15,            /* RING-SPLIT-090  QueueFull (not an error of the other side) */
    VS_E_INVALID = 16,         /* caller error (ValueError in Python) */
    VS_E_NO_SPACE = 17,        /* caller's array too small */
    VS_E_ABORTED = 18          /* stepped build: the checker abandoned the operation */
};

struct vs_segment {
    uint64_t addr;
    uint64_t len;
};

struct vs_used_elem {
    uint32_t id;
    uint32_t len;
};

/* Where the queue lives; shared by both sides. */
struct vs_queue {
    uint8_t *mem;      /* host address of guest offset 0 (unused by the stepped build) */
    uint64_t mem_size; /* bytes of guest memory */
    uint32_t q;        /* queue size */
    uint64_t desc, avail, used;
};

/* A chain the driver made available and has not taken back (RING-SPLIT-093). */
struct vs_outstanding {
    uint64_t token;
    uint64_t writable; /* total length of its device-writable buffers (RING-SPLIT-085) */
    uint16_t ndescs;   /* descriptors of the ring's table it holds, linked by chain_next */
    uint8_t live;
};

struct vs_driver {
    struct vs_queue r;
    bool event_idx;
    bool indirect;          /* VIRTIO_F_INDIRECT_DESC: build tables in indirect_area */
    uint64_t indirect_area;
    uint32_t indirect_max;
    uint16_t avail_idx;     /* shadow of avail.idx (only this side writes it) */
    uint16_t last_used;     /* next used entry to take back */
    uint32_t num_added;     /* chains published since the last kick decision */
    bool cb_disabled;       /* shadow of VIRTQ_AVAIL_F_NO_INTERRUPT */
    int broken;             /* 0, or the error that stopped the driver */
    uint32_t free_head;     /* free descriptors: a FIFO of free_count entries from free_head */
    uint32_t free_count;
    uint16_t *free_fifo;    /* [q] */
    uint16_t *chain_next;   /* [q]: next descriptor of the same outstanding chain */
    struct vs_outstanding *chains; /* [q], by head */
};

struct vs_device {
    struct vs_queue r;
    bool event_idx;
    bool indirect;
    uint16_t last_avail;      /* next available entry to consume */
    uint16_t used_idx;        /* shadow of used.idx (only this side writes it) */
    uint16_t signalled_used;  /* used.idx at the last notification decision ... */
    bool signalled_valid;     /* ... once there was one */
    uint32_t num_pushed;      /* used elements pushed since the last decision (RING-SPLIT-101) */
    bool notify_disabled;
    int broken;               /* 0, or the error that needs a reset (RING-SPLIT-084) */
    uint32_t epoch;           /* loop detection: stamp[i] == epoch when i was visited */
    uint32_t *stamp;          /* [q] */
    uint64_t *in_flight_len;  /* [q]: writable length of a popped, not yet pushed head */
    uint8_t *in_flight;       /* [q] */
};

/* vring_need_event (RING-SPLIT-100). */
bool vs_need_event(uint16_t event, uint16_t new_idx, uint16_t old_idx);

size_t vs_driver_state_size(uint32_t q);
size_t vs_device_state_size(uint32_t q);

/* Driver (reference/ring/driver.py, SplitDriver). */
int vs_driver_create(struct vs_driver *d, size_t state_size, uint8_t *mem, uint64_t mem_size,
                     uint32_t q, uint64_t desc, uint64_t avail, uint64_t used, uint32_t features,
                     uint64_t indirect_area, uint32_t indirect_max, uint16_t start_index);
int vs_driver_init(struct vs_driver *d);
int vs_driver_add(struct vs_driver *d, const struct vs_segment *out, uint32_t n_out,
                  const struct vs_segment *in, uint32_t n_in, uint64_t token);
int vs_driver_kick_prepare(struct vs_driver *d);
int vs_driver_get_used(struct vs_driver *d, uint64_t *token, uint32_t *len);
int vs_driver_detach_unused(struct vs_driver *d, uint64_t *tokens, uint32_t max);
int vs_driver_disable_cb(struct vs_driver *d);
int vs_driver_enable_cb_prepare(struct vs_driver *d);
int vs_driver_poll(struct vs_driver *d, uint16_t last);
int vs_driver_enable_cb(struct vs_driver *d);
int vs_driver_enable_cb_delayed(struct vs_driver *d);
uint16_t vs_driver_outstanding(const struct vs_driver *d);

/* Device (reference/ring/device.py, SplitDevice). */
int vs_device_create(struct vs_device *v, size_t state_size, uint8_t *mem, uint64_t mem_size,
                     uint32_t q, uint64_t desc, uint64_t avail, uint64_t used, uint32_t features,
                     uint16_t start_index);
int vs_device_init(struct vs_device *v);
int vs_device_pop(struct vs_device *v, uint16_t *head, struct vs_segment *segs,
                  uint32_t max_segs, uint32_t *n_readable, uint32_t *n_writable);
int vs_device_push(struct vs_device *v, const struct vs_used_elem *used, uint32_t n);
int vs_device_should_notify(struct vs_device *v);
int vs_device_disable_notify(struct vs_device *v);
int vs_device_enable_notify(struct vs_device *v);

#endif /* VS_RING_H */
