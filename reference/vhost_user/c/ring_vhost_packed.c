/*
 * ring_vhost_packed.c -- the network device's fast path behind vhost-user for a PACKED
 * virtqueue: the same API and data path as ring_vhost.c (ring_vhost.h, built as its own cffi
 * module, virtiospec.reference.vhost_user.c._ring_vhost_packed), with ring_packed.c's device side
 * compiled in and its shared accesses translated through the vhost-user memory table the
 * same way. ring_packed.c, ring_packed.h and ring_access.h are not changed.
 *
 * What differs from the split build:
 *  - struct vsv_config's desc / avail / used name the descriptor ring, the driver's
 *    event-suppression structure (the Driver Area) and the device's (the Device Area);
 *  - last_avail and used_idx are packed positions with their wrap counter in bit 15 (the
 *    form of vhost-user's SET_VRING_BASE / GET_VRING_BASE for packed rings);
 *  - vsv_queue_last_avail gives the position the receive chains held and not used begin
 *    at (they stay the driver's when the queue stops), with its wrap counter in bit 15;
 *    vsv_queue_used_idx the used position and the Device Ring Wrap Counter;
 *  - vsv_queue_waiting counts available descriptors from the read position (an upper bound
 *    of the lists waiting);
 *  - error codes are ring_packed.h's (VS_PE_*: RING-PACKED-080 to RING-PACKED-085).
 *
 * The memory table and the translated accesses are ring_vhost_table.h's, the fast path that
 * does not depend on the ring format ring_vhost_common.h's (shared with ring_vhost.c);
 * this unit gives them what is the ring's own.
 */
#define _POSIX_C_SOURCE 200809L

#include "ring_vhost.h"

#include <assert.h>
#include <stdbool.h>
#include <string.h>
#include <unistd.h>

#include "ring_access.h"

#ifdef VS_STEPPED
#error "ring_vhost_packed.c translates ring_packed.c's accesses itself; never stepped"
#endif

#include "ring_vhost_table.h"

#include "ring_packed.c"

/* -- what is the packed ring's own (see ring_vhost_common.h) ----------------------------- */

#define VSV_DEV struct vs_packed_device
#define VSV_DEV_STATE_SIZE vs_packed_device_state_size
#define VSV_DEV_POP vs_packed_device_pop
#define VSV_DEV_PUSH vs_packed_device_push
#define VSV_DEV_SHOULD_NOTIFY vs_packed_device_should_notify
#define VSV_DEV_ENABLE_NOTIFY vs_packed_device_enable_notify
#define VSV_DEV_DISABLE_NOTIFY vs_packed_device_disable_notify
#define VSV_E_INVALID VS_PE_INVALID
#define VSV_E_QUEUE_SIZE VS_PE_QUEUE_SIZE
#define VSV_E_PLACEMENT VS_PE_PLACEMENT
#define VSV_E_OUTSIDE VS_PE_OUTSIDE /* RING-PACKED-083 */
#define VSV_E_NO_SPACE VS_PE_NO_SPACE
#define VSV_E_STOPPED VS_PE_DEVICE_STOPPED
#define VSV_E_IN_USE VS_PE_ID_IN_USE /* RING-PACKED-085 */

/* RING-PACKED-001 / VHOST-USER-003: every ring part inside one region (ring_packed.c checks
 * alignment and the limit; a part between regions would be refused by the table), and the
 * positions of SET_VRING_BASE inside the ring */
static int vsv_ring_place(struct vsv_mem *m, const struct vsv_config *cfg)
{
    uint32_t n = cfg->queue_size;
    if (!vsv_in_one_region(m, cfg->desc, VS_PDESC_SIZE * (uint64_t)n) ||
        !vsv_in_one_region(m, cfg->avail, VS_PEVENT_SIZE) ||
        !vsv_in_one_region(m, cfg->used, VS_PEVENT_SIZE))
        return -VS_PE_PLACEMENT;
    if ((cfg->last_avail & VS_PEVENT_OFF_MASK) >= n || (cfg->used_idx & VS_PEVENT_OFF_MASK) >= n)
        return -VS_PE_INVALID; /* SET_VRING_BASE beyond the ring */
    return 0;
}

static int vsv_ring_start(struct vs_packed_device *v, size_t size, struct vsv_mem *m,
                          uint64_t limit, const struct vsv_config *cfg)
{
    int rc = vs_packed_device_create(v, size, (uint8_t *)(void *)m, limit, cfg->queue_size,
                                     cfg->desc, cfg->avail, cfg->used,
                                     cfg->features & (VSV_F_EVENT_IDX | VSV_F_INDIRECT));
    if (rc < 0)
        return rc;
    v->last_avail = (uint16_t)(cfg->last_avail & VS_PEVENT_OFF_MASK);
    v->avail_wrap = (uint8_t)(cfg->last_avail >> VS_PEVENT_WRAP_BIT & 1u);
    v->used_pos = (uint16_t)(cfg->used_idx & VS_PEVENT_OFF_MASK);
    v->used_wrap = (uint8_t)(cfg->used_idx >> VS_PEVENT_WRAP_BIT & 1u);
    return 0;
}

struct vsv_pop_mark {
    uint32_t held;
    uint16_t last_avail;
    uint8_t avail_wrap;
};

static inline void vsv_pop_mark(const struct vs_packed_device *v, struct vsv_pop_mark *mark)
{
    mark->held = v->held;
    mark->last_avail = v->last_avail;
    mark->avail_wrap = v->avail_wrap;
}

static inline void vsv_pop_undo(struct vs_packed_device *v, const struct vsv_pop_mark *mark,
                                const uint16_t *head)
{
    if (head != NULL) {
        int slot = vs_held_find(v, *head);
        if (slot >= 0)
            vs_held_free(v, (uint32_t)slot);
    }
    v->last_avail = mark->last_avail;
    v->avail_wrap = mark->avail_wrap;
    v->held = mark->held;
}

static inline uint64_t vsv_chain_wlen(const struct vs_packed_device *v, uint16_t head)
{
    int slot = vs_held_find(v, head);
    return slot >= 0 ? v->in_flight[slot].writable : 0;
}

static inline bool vsv_ring_has_avail(struct vs_packed_device *v)
{
    uint16_t flags = VS_LOAD16(v, vs_pdesc(&v->r, v->last_avail) + VS_PD_FLAGS);
    return vs_is_avail(flags, v->avail_wrap);
}

#include "ring_vhost_common.h"

/* -- the packed ring's positions --------------------------------------------------------- */

/* The read position moved back over the receive chains held and not used (the last taken,
 * in order): where the driver's lists begin that the device gives back on a stop. */
int vsv_queue_last_avail(const void *state)
{
    const struct vsv_queue *q = state;
    const struct vs_packed_device *v = q->dev;
    uint32_t back = 0;
    for (uint32_t i = 0; i < q->held_n; i++) {
        int slot = vs_held_find(v, q->held[i].head);
        if (slot >= 0)
            back += v->in_flight[slot].ndesc;
    }
    uint32_t pos = v->last_avail;
    unsigned wrap = v->avail_wrap;
    back %= 2u * q->q; /* two laps bring the position and its wrap bit back */
    while (back--) {
        if (pos == 0) {
            pos = q->q;
            wrap ^= 1u;
        }
        pos--;
    }
    return (int)(pos | wrap << VS_PEVENT_WRAP_BIT);
}

int vsv_queue_used_idx(const void *state)
{
    const struct vs_packed_device *v = ((const struct vsv_queue *)state)->dev;
    return (int)(v->used_pos | (unsigned)v->used_wrap << VS_PEVENT_WRAP_BIT);
}

/* Available descriptors from the read position on, at most Q minus those held: an upper
 * bound of the lists waiting (a hint for sizing a batch; pop checks every list). */
int vsv_queue_waiting(void *state)
{
    struct vsv_queue *q = state;
    struct vs_packed_device *v = q->dev;
    if (v->broken || q->pending)
        return 0;
    uint16_t pos = v->last_avail;
    uint8_t wrap = v->avail_wrap;
    uint32_t n = 0, most = q->q - v->held;
    while (n < most) {
        uint16_t flags = VS_LOAD16(v, vs_pdesc(&v->r, pos) + VS_PD_FLAGS);
        if (!vs_is_avail(flags, wrap))
            break;
        vs_advance(q->q, &pos, &wrap, 1);
        n++;
    }
    return (int)n;
}
