/*
 * ring_vhost.c -- the network device's fast path behind vhost-user (see ring_vhost.h).
 *
 * ring.c is compiled into this unit with its shared accesses translated through the
 * vhost-user memory table. ring_access.h is the only way ring.c touches shared memory: we
 * include it first (its normal build: relaxed C11 atomics and explicit fences), redefine
 * its load and store macros to go through vsv_host() below, and make its untranslated
 * accessors unusable, so that an access of ring.c that escaped the translation does not
 * compile. ring.c's own `#include "ring_access.h"` is then a no-op (include guard). The
 * queue's `mem` is the region table (struct vsv_mem), `mem_size` the end of the highest
 * region, exactly what the Python device checks descriptors against (SplitDevice over
 * MemoryTable.limit); an access that falls between regions (a descriptor table there) is
 * caught by the translation and is RING-SPLIT-082, as MemoryTable raises OutOfBounds.
 *
 *
 * The memory table and the translated accesses are ring_vhost_table.h's, the fast path that
 * does not depend on the ring format ring_vhost_common.h's (shared with ring_vhost_packed.c);
 * this unit gives them what is the ring's own.
 *
 * ring.c, ring.h and ring_access.h are not changed.
 */
#define _POSIX_C_SOURCE 200809L

#include "ring_vhost.h"

#include <assert.h>
#include <stdbool.h>
#include <string.h>
#include <unistd.h>

#include "ring_access.h"

#ifdef VS_STEPPED
#error "ring_vhost.c translates ring.c's accesses itself; it is never a stepped build"
#endif

#include "ring_vhost_table.h"

#include "ring.c"

/* -- what is the split ring's own (see ring_vhost_common.h) ------------------------------ */

#define VSV_DEV struct vs_device
#define VSV_DEV_STATE_SIZE vs_device_state_size
#define VSV_DEV_POP vs_device_pop
#define VSV_DEV_PUSH vs_device_push
#define VSV_DEV_SHOULD_NOTIFY vs_device_should_notify
#define VSV_DEV_ENABLE_NOTIFY vs_device_enable_notify
#define VSV_DEV_DISABLE_NOTIFY vs_device_disable_notify
#define VSV_E_INVALID VS_E_INVALID
#define VSV_E_QUEUE_SIZE VS_E_QUEUE_SIZE
#define VSV_E_PLACEMENT VS_E_PLACEMENT
#define VSV_E_OUTSIDE VS_E_OUTSIDE /* RING-SPLIT-082 */
#define VSV_E_NO_SPACE VS_E_NO_SPACE
#define VSV_E_STOPPED VS_E_NEEDS_RESET
#define VSV_E_IN_USE VS_E_IN_FLIGHT /* RING-SPLIT-092 */

/* RING-SPLIT-002 / VHOST-USER-003: every ring part inside one region (ring.c checks
 * alignment and the limit; a part between regions would be refused by the table) */
static int vsv_ring_place(struct vsv_mem *m, const struct vsv_config *cfg)
{
    uint64_t n = cfg->queue_size;
    if (!vsv_in_one_region(m, cfg->desc, VS_DESC_SIZE * n) ||
        !vsv_in_one_region(m, cfg->avail, 6 + 2 * n) ||
        !vsv_in_one_region(m, cfg->used, 6 + VS_USED_ELEM_SIZE * n))
        return -VS_E_PLACEMENT;
    return 0;
}

static int vsv_ring_start(struct vs_device *v, size_t size, struct vsv_mem *m, uint64_t limit,
                          const struct vsv_config *cfg)
{
    int rc = vs_device_create(v, size, (uint8_t *)(void *)m, limit, cfg->queue_size, cfg->desc,
                              cfg->avail, cfg->used,
                              cfg->features & (VSV_F_EVENT_IDX | VSV_F_INDIRECT),
                              cfg->last_avail);
    if (rc < 0)
        return rc;
    v->used_idx = cfg->used_idx;
    return 0;
}

struct vsv_pop_mark {
    uint16_t last_avail;
};

static inline void vsv_pop_mark(const struct vs_device *v, struct vsv_pop_mark *mark)
{
    mark->last_avail = v->last_avail;
}

static inline void vsv_pop_undo(struct vs_device *v, const struct vsv_pop_mark *mark,
                                const uint16_t *head)
{
    if (head != NULL) {
        v->in_flight[*head] = 0;
        v->in_flight_len[*head] = 0;
    }
    v->last_avail = mark->last_avail;
}

static inline uint64_t vsv_chain_wlen(const struct vs_device *v, uint16_t head)
{
    return v->in_flight_len[head];
}

static inline bool vsv_ring_has_avail(struct vs_device *v)
{
    return VS_LOAD16(v, VS_AVAIL_IDX(&v->r)) != v->last_avail;
}

#include "ring_vhost_common.h"

/* -- the split ring's positions ---------------------------------------------------------- */

int vsv_queue_last_avail(const void *state)
{
    return ((const struct vsv_queue *)state)->dev->last_avail;
}

int vsv_queue_used_idx(const void *state)
{
    return ((const struct vsv_queue *)state)->dev->used_idx;
}

int vsv_queue_waiting(void *state)
{
    struct vsv_queue *q = state;
    if (q->dev->broken || q->pending)
        return 0;
    uint16_t n = (uint16_t)(VS_LOAD16(q->dev, VS_AVAIL_IDX(&q->dev->r)) - q->dev->last_avail);
    return n > q->q ? (int)q->q : (int)n;
}
