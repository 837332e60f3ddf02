/*
 * ring_vhost.h -- the network device's fast path behind vhost-user, in C (issue #7).
 *
 * The data path of reference/net/device.py (NetDevice: tx_take / tx_complete, deliver) for
 * a split virtqueue in the front-end's shared memory, one batch of frames per call:
 *
 *  - the ring is ring.c's device side (vs_device_pop / push / should_notify /
 *    enable_notify / disable_notify), compiled in ring_vhost.c with its shared accesses
 *    translated through the memory table of vhost-user (SET_MEM_TABLE, VHOST-USER-003)
 *    instead of one (mem, mem_size) span: a guest address is valid only inside one region,
 *    and an access outside every region is RING-SPLIT-082, as in the Python
 *    MemoryTable (reference/vhost_user/memory.py);
 *  - transmit: pop chains, copy their readable bytes (virtio_net_hdr + frame) out,
 *    classify the header (NET-008: the plain case here, anything else is checked by the
 *    Python spec), then push every chain of the batch as (head, 0) at once;
 *  - receive: take receive buffers (merging them with VIRTIO_NET_F_MRG_RXBUF, NET-011),
 *    write the 12-byte header with num_buffers and the frame, push the buffers of every
 *    frame of the batch at once;
 *  - one used-buffer notification decision (RING-SPLIT-052, RING-SPLIT-053, EVENT_IDX) and at most one
 *    eventfd write per batch (VHOST-USER-005).
 *
 * Everything a hostile driver wrote is checked before use: ring.c's walk (RING-SPLIT-080..
 * 084, 092) against the end of the highest region, then every byte copied from or to a
 * buffer against the regions themselves. A ring error stops the queue (it needs a reset:
 * RING-SPLIT-084), exactly where the Python device stops it.
 *
 * The caller owns all memory: vsv_queue_state_size(Q) bytes aligned on 8, in which
 * vsv_queue_create builds the queue; nothing allocates. One thread at a time per queue.
 * Functions return >= 0 or minus a ring error code (the codes of virtiospec_ring.h).
 *
 * Between "cdef-begin" and "cdef-end": plain declarations that cffi reads.
 */
#ifndef VS_RING_VHOST_H
#define VS_RING_VHOST_H

#include <stddef.h>
#include <stdint.h>

/* cdef-begin */
#define VSV_MAX_REGIONS 8       /* regions of one vhost-user memory table */
#define VSV_HDR_LEN 12          /* struct virtio_net_hdr with VIRTIO_F_VERSION_1 (NET-001) */
#define VSV_MAX_NEED 65565      /* header + the longest frame any MTU allows (65535 + 14 + 4) */
#define VSV_TX_CAP 131085       /* most readable bytes copied per transmitted chain */
#define VSV_REPEAT_MAX 65536    /* most frames of one vsv_rx_repeat call */

#define VSV_F_EVENT_IDX 1       /* = VIRTIOSPEC_RING_F_EVENT_IDX */
#define VSV_F_INDIRECT 2        /* = VIRTIOSPEC_RING_F_INDIRECT */
#define VSV_F_MRG_RXBUF 4       /* VIRTIO_NET_F_MRG_RXBUF negotiated */
#define VSV_F_CSUM 8            /* VIRTIO_NET_F_CSUM negotiated */

/* A region of the front-end's memory table, mapped at host. */
struct vsv_region {
    uint64_t guest_addr;
    uint64_t size;
    uint8_t *host;
};

struct vsv_config {
    uint32_t queue_size;     /* Q */
    uint32_t features;       /* VSV_F_* */
    uint64_t desc, avail, used; /* guest addresses of the ring parts, each inside one region */
    uint64_t limit;          /* one past the highest guest address of any region */
    uint16_t last_avail;     /* next available entry (SET_VRING_BASE) */
    uint16_t used_idx;       /* used.idx as found in memory */
    int32_t call_fd;         /* eventfd of used-buffer notifications, or -1 */
    uint32_t n_regions;
    struct vsv_region regions[8];
};

/* A transmitted chain: its readable bytes at out[off, off + len). */
struct vsv_tx_frame {
    uint32_t off;
    uint32_t len;      /* bytes copied: min(total, VSV_TX_CAP) */
    uint64_t total;    /* readable bytes of the chain */
    uint16_t head;
    uint8_t plain;     /* 1: a header the device accepts as it is (no NEEDS_CSUM, no GSO,
                          12 + 14 <= total <= 12 + max_frame); 0: the spec decides */
    uint8_t reserved;
    uint32_t reserved2;
};

/* What a batch did. */
struct vsv_result {
    uint32_t frames;       /* tx: chains popped; rx: frames consumed (delivered or dropped) */
    uint32_t plain;        /* tx: chains with a plain header (accepted as they are) */
    uint32_t delivered;    /* rx: frames written to the driver */
    uint32_t dropped;      /* rx: frames that can never fit (NET-013 broken): dropped */
    uint32_t buffers;      /* rx: buffers used by delivered frames */
    uint32_t small;        /* rx: buffers without room for a header, returned (NET-014) */
    uint32_t popped;       /* rx: chains taken */
    uint64_t buf_min, buf_max; /* rx: writable bytes of the chains taken (if popped) */
    uint32_t faults_num_buffers; /* tx, plain frames: num_buffers != 0 (NET-002) */
    uint32_t faults_flags;       /* tx, plain frames: DATA_VALID or RSC_INFO (NET-005) */
    uint32_t faults_no_csum;     /* tx, plain frames: flags without VIRTIO_NET_F_CSUM (NET-003) */
    uint32_t notified;     /* 1: the call eventfd was written */
    uint32_t retry;        /* 1: the batch ended early for a reason the next call clears (a
                              head of this batch made available again: see vsv_pop) */
    int32_t error;         /* 0, or minus the ring error that stopped the queue */
};

/* A receive buffer too small for the header (NET-014): returned with len 0. */
struct vsv_small {
    uint32_t head;
    uint32_t reserved;
    uint64_t len;
};

size_t vsv_queue_state_size(uint32_t queue_size);
int vsv_queue_create(void *state, size_t state_size, const struct vsv_config *cfg);
void vsv_queue_set_call(void *state, int32_t call_fd);

/* 0, or minus the error that stopped the queue (RING-SPLIT-084). */
int vsv_queue_broken(const void *state);
int vsv_queue_last_avail(const void *state);
int vsv_queue_used_idx(const void *state);
/* avail.idx - last_avail: chains made available and not taken yet (a hint for sizing a
 * batch; never more than Q is believed: pop checks it, RING-SPLIT-084). */
int vsv_queue_waiting(void *state);
/* vsv_queue_waiting + vsv_queue_held, in one call. */
int vsv_queue_room(void *state);
/* Receive buffers taken and not used yet (given back by a stop). */
int vsv_queue_held(const void *state);
/* Available-buffer notifications: ring.c's, through the memory table. */
int vsv_queue_enable_notify(void *state);
int vsv_queue_disable_notify(void *state);

/* Transmit: pop up to max chains (fewer when out has no room for one more VSV_TX_CAP), copy
 * their readable bytes to out and describe them in frames[]. Returns the number popped; a
 * ring error stops the batch and is reported (and applied) by vsv_tx_done. */
int vsv_tx_pop(void *state, uint8_t *out, uint64_t out_size, struct vsv_tx_frame *frames,
               uint32_t max, uint64_t max_frame, struct vsv_result *res);
/* Transmit: return every chain of the last vsv_tx_pop as (head, 0) in one push, decide the
 * notification once, write the call eventfd at most once; then stop the queue if the pop
 * met a ring error (res->error). */
int vsv_tx_done(void *state, struct vsv_result *res);
/* Transmit to a wire nobody listens to: vsv_tx_pop and vsv_tx_done in one call (the chains
 * are used before the caller looks at the bytes in out, which stay there until the next
 * call). Returns the number popped. */
int vsv_tx_burst(void *state, uint8_t *out, uint64_t out_size, struct vsv_tx_frame *frames,
                 uint32_t max, uint64_t max_frame, struct vsv_result *res);

/* Receive: deliver n frames, back to back in data (lens[i] bytes each), in order while there
 * are buffers; one push, one decision, at most one eventfd write. Returns frames consumed
 * (delivered, or dropped as never fitting); small[] gets the buffers too small for a header
 * (the batch stops when max_small are reported). */
int vsv_rx(void *state, const uint8_t *data, const uint32_t *lens, uint32_t n,
           struct vsv_small *small, uint32_t max_small, struct vsv_result *res);
/* Receive from a traffic source: as vsv_rx, with frame f of the n the pattern frame
 * (first + f) % n_pattern (n_pattern frames back to back in data, first < n_pattern), so
 * that a burst of any length is one call however few distinct frames there are
 * (n <= VSV_REPEAT_MAX). Stops where vsv_rx stops (no buffer left: NET-017). */
int vsv_rx_repeat(void *state, const uint8_t *data, const uint32_t *lens, uint32_t n_pattern,
                  uint32_t first, uint32_t n, struct vsv_small *small, uint32_t max_small,
                  struct vsv_result *res);

/* What a vsv_poll call did, summed over its bursts. A burst that needs the caller (a
 * transmitted header for the spec to check, a ring error, a receive buffer too small for
 * a header) ends the call; its vsv_result is left in tx or rx, and tx_stop or rx_stop
 * says so: the sums do not include it. */
struct vsv_poll_result {
    uint32_t bursts;           /* bursts that moved a frame */
    uint32_t tx_frames;        /* chains popped and used, every header plain */
    uint32_t faults_num_buffers, faults_flags, faults_no_csum; /* as in vsv_result */
    uint32_t tx_notified;      /* call eventfd writes of the transmit queue */
    uint32_t rx_frames;        /* frames consumed (delivered or dropped) */
    uint32_t rx_delivered, rx_dropped, rx_buffers, rx_popped;
    uint64_t buf_min, buf_max; /* of the chains taken, if rx_popped */
    uint32_t rx_notified;
    uint32_t first;            /* the pattern frame the next burst starts with */
    uint32_t tx_stop, rx_stop;
    struct vsv_result tx, rx;  /* the last burst of each queue */
};

/* A device loop in one call, for a wire nobody listens to and a traffic source: up to
 * max_bursts rounds of vsv_tx_burst (tx_state, up to max_tx chains) and vsv_rx_repeat
 * (rx_state, up to max_rx frames of the pattern from `first` on); either state may be NULL.
 * Returns after max_idle rounds in a row moved nothing, or at a burst that needs the
 * caller (see struct vsv_poll_result). With max_tx == 0 the transmit queue is watched, not
 * served: a round that finds a chain available there ends the call after its receive burst,
 * with tx_stop set (and tx all zero), for the caller to transmit (while it records headers,
 * say). Returns the bursts, or minus an error code. */
int vsv_poll(void *tx_state, uint8_t *out, uint64_t out_size, struct vsv_tx_frame *frames,
             uint32_t max_tx, uint64_t max_frame, void *rx_state, const uint8_t *data,
             const uint32_t *lens, uint32_t n_pattern, uint32_t first, uint32_t max_rx,
             struct vsv_small *small, uint32_t max_small, uint32_t max_bursts,
             uint32_t max_idle, struct vsv_poll_result *acc);
/* cdef-end */

#endif /* VS_RING_VHOST_H */
