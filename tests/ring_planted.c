/*
 * ring_planted.c -- reference/ring/c/ring_abi.c over ring.c with ONE planted bug, chosen by
 * -DPLANT=<n> (the PLANT_* numbers below), built by tests/lib_builds.py as a library for
 * --target lib:. Each bug is one a library written from virtiospec_ring.h really has (or a
 * crash or a hang for the isolation tests); each must make at least one case FAIL or
 * WEDGE, and PLANT=0 (no bug) must pass everything.
 *
 * Every ABI function of ring_abi.c is renamed orig_* by the #defines before it is included;
 * the exported function of the same name calls it, with the bug around the call.
 */
#include <stdint.h>
#include <string.h>

#define PLANT_NONE 0
#define PLANT_CRASH_3RD_POP 1      /* device_pop: NULL dereference in the 3rd call */
#define PLANT_SPIN_3RD_POP 2       /* device_pop: never returns from the 3rd call */
#define PLANT_NO_IN_FLIGHT 3       /* device_pop: no check of a head already in flight */
#define PLANT_NOT_STICKY 4         /* errors forgotten at once; needs_reset always 0 */
#define PLANT_NO_CHAIN_DESCS 5     /* add: no check of n > Q (runs into FULL) */
#define PLANT_NO_CHAIN_BYTES 6     /* add: lengths truncated to 32 bits, no refusal */
#define PLANT_NO_SIZE_CHECK 7      /* create: any queue size accepted */
#define PLANT_NO_PLACEMENT 8       /* create: misplaced parts accepted */
#define PLANT_PUSH_ANY_ID 9        /* push: ids never popped accepted */
#define PLANT_POP_IGNORES_MAX 10   /* pop: max_segs ignored */
#define PLANT_NO_USED_EVENT 11     /* get_used: used_event never moved */
#define PLANT_NO_AVAIL_EVENT 12    /* enable_notify: avail_event never moved */
#define PLANT_LAST_USED_PAST_BAD 13 /* get_used: last_used (and used_event) past a bad element */
#define PLANT_NUM_FREE_CHAINS 14   /* num_free counts chains, not descriptors */
#define PLANT_DETACH_KEEPS 15      /* detach_unused: tokens handed back, descriptors not freed */
#define PLANT_NUM_FREE_V1 16       /* num_free: a count even when STOPPED (ABI version 1) */
#define PLANT_KICK_NOTHING 17      /* kick_prepare: 1 with nothing added */
#define PLANT_DELAYED_ANY 18       /* enable_cb_delayed: 1 for any pending element */
#define PLANT_DETACH_STOPPED 19    /* detach_unused: refused when STOPPED */
#define PLANT_NO_INIT 20           /* init: nothing written (relies on zeroed memory) */

#ifndef PLANT
#define PLANT PLANT_NONE
#endif

#define virtiospec_ring_abi_version orig_abi_version
#define virtiospec_ring_driver_state_size orig_driver_state_size
#define virtiospec_ring_device_state_size orig_device_state_size
#define virtiospec_ring_driver_create orig_driver_create
#define virtiospec_ring_driver_init orig_driver_init
#define virtiospec_ring_device_init orig_device_init
#define virtiospec_ring_driver_add orig_driver_add
#define virtiospec_ring_driver_kick_prepare orig_driver_kick_prepare
#define virtiospec_ring_driver_get_used orig_driver_get_used
#define virtiospec_ring_driver_enable_cb_delayed orig_driver_enable_cb_delayed
#define virtiospec_ring_driver_detach_unused orig_driver_detach_unused
#define virtiospec_ring_driver_num_free orig_driver_num_free
#define virtiospec_ring_driver_needs_reset orig_driver_needs_reset
#define virtiospec_ring_device_create orig_device_create
#define virtiospec_ring_device_pop orig_device_pop
#define virtiospec_ring_device_push orig_device_push
#define virtiospec_ring_device_enable_notify orig_device_enable_notify
#define virtiospec_ring_device_needs_reset orig_device_needs_reset
#include "ring_abi.c"
#undef virtiospec_ring_abi_version
#undef virtiospec_ring_driver_state_size
#undef virtiospec_ring_device_state_size
#undef virtiospec_ring_driver_create
#undef virtiospec_ring_driver_init
#undef virtiospec_ring_device_init
#undef virtiospec_ring_driver_add
#undef virtiospec_ring_driver_kick_prepare
#undef virtiospec_ring_driver_get_used
#undef virtiospec_ring_driver_enable_cb_delayed
#undef virtiospec_ring_driver_detach_unused
#undef virtiospec_ring_driver_num_free
#undef virtiospec_ring_driver_needs_reset
#undef virtiospec_ring_device_create
#undef virtiospec_ring_device_pop
#undef virtiospec_ring_device_push
#undef virtiospec_ring_device_enable_notify
#undef virtiospec_ring_device_needs_reset

#define EXPORT __attribute__((visibility("default")))
#define SEG struct virtiospec_ring_segment
#define CFG struct virtiospec_ring_config

EXPORT uint32_t virtiospec_ring_abi_version(void);
EXPORT size_t virtiospec_ring_driver_state_size(uint32_t q);
EXPORT size_t virtiospec_ring_device_state_size(uint32_t q);
EXPORT int virtiospec_ring_driver_create(void *s, size_t n, void *m, uint64_t ms, const CFG *c);
EXPORT int virtiospec_ring_driver_init(void *s);
EXPORT int virtiospec_ring_device_init(void *s);
EXPORT int virtiospec_ring_driver_add(void *s, const SEG *out, uint32_t n_out, const SEG *in,
                                      uint32_t n_in, uint64_t token);
EXPORT int virtiospec_ring_driver_kick_prepare(void *s);
EXPORT int virtiospec_ring_driver_get_used(void *s, uint64_t *token, uint32_t *len);
EXPORT int virtiospec_ring_driver_enable_cb_delayed(void *s);
EXPORT int virtiospec_ring_driver_detach_unused(void *s, uint64_t *tokens, uint32_t max);
EXPORT int virtiospec_ring_driver_num_free(const void *s);
EXPORT int virtiospec_ring_driver_needs_reset(const void *s);
EXPORT int virtiospec_ring_device_create(void *s, size_t n, void *m, uint64_t ms, const CFG *c);
EXPORT int virtiospec_ring_device_pop(void *s, uint16_t *head, SEG *segs, uint32_t max_segs,
                                      uint32_t *n_readable, uint32_t *n_writable);
EXPORT int virtiospec_ring_device_push(void *s, const struct virtiospec_ring_used_elem *u,
                                       uint32_t n);
EXPORT int virtiospec_ring_device_enable_notify(void *s);
EXPORT int virtiospec_ring_device_needs_reset(const void *s);

static uint16_t load16(const struct vs_queue *r, uint64_t at)
{
    uint16_t v;
    memcpy(&v, r->mem + at, 2);
    return v;
}

static void store16(const struct vs_queue *r, uint64_t at, uint16_t v)
{
    memcpy(r->mem + at, &v, 2);
}

#define USED_EVENT(r) ((r)->avail + 4 + 2 * (uint64_t)(r)->q)
#define AVAIL_EVENT(r) ((r)->used + 4 + 8 * (uint64_t)(r)->q)

/* The bug of PLANT_NOT_STICKY: the side forgets the error it just returned. */
static int forget(int *broken, int rc)
{
    if (PLANT == PLANT_NOT_STICKY)
        *broken = 0;
    return rc;
}

uint32_t virtiospec_ring_abi_version(void)
{
    return orig_abi_version();
}

size_t virtiospec_ring_driver_state_size(uint32_t q)
{
    if (PLANT == PLANT_NO_SIZE_CHECK)
        return orig_driver_state_size(q >= 1 && q <= 32768 ? 32768 : 1);
    return orig_driver_state_size(q);
}

size_t virtiospec_ring_device_state_size(uint32_t q)
{
    if (PLANT == PLANT_NO_SIZE_CHECK)
        return orig_device_state_size(q >= 1 && q <= 32768 ? 32768 : 1);
    return orig_device_state_size(q);
}

static int created(int rc)
{
    if (PLANT == PLANT_NO_SIZE_CHECK && rc == -VS_E_QUEUE_SIZE)
        return 0;
    if (PLANT == PLANT_NO_PLACEMENT && rc == -VS_E_PLACEMENT)
        return 0;
    return rc;
}

int virtiospec_ring_driver_create(void *s, size_t n, void *m, uint64_t ms, const CFG *c)
{
    return created(orig_driver_create(s, n, m, ms, c));
}

int virtiospec_ring_device_create(void *s, size_t n, void *m, uint64_t ms, const CFG *c)
{
    return created(orig_device_create(s, n, m, ms, c));
}

int virtiospec_ring_driver_init(void *s)
{
    return PLANT == PLANT_NO_INIT ? 0 : orig_driver_init(s);
}

int virtiospec_ring_device_init(void *s)
{
    return PLANT == PLANT_NO_INIT ? 0 : orig_device_init(s);
}

int virtiospec_ring_driver_add(void *s, const SEG *out, uint32_t n_out, const SEG *in,
                               uint32_t n_in, uint64_t token)
{
    int rc = orig_driver_add(s, out, n_out, in, n_in, token);
    if (PLANT == PLANT_NO_CHAIN_DESCS && rc == -VS_E_CHAIN_DESCS)
        return -VS_E_FULL;
    if (PLANT == PLANT_NO_CHAIN_BYTES && rc == -VS_E_CHAIN_BYTES && n_out + n_in <= 8) {
        SEG o[8], i[8];
        for (uint32_t k = 0; k < n_out; k++)
            o[k] = (SEG){out[k].addr, out[k].len & 0xFFFFFFFFu};
        for (uint32_t k = 0; k < n_in; k++)
            i[k] = (SEG){in[k].addr, in[k].len & 0xFFFFFFFFu};
        return orig_driver_add(s, o, n_out, i, n_in, token);
    }
    return forget(&((struct vs_driver *)s)->broken, rc);
}

int virtiospec_ring_driver_kick_prepare(void *s)
{
    struct vs_driver *d = s;
    if (PLANT == PLANT_KICK_NOTHING && !d->broken && d->num_added == 0)
        return 1;
    return orig_driver_kick_prepare(s);
}

int virtiospec_ring_driver_get_used(void *s, uint64_t *token, uint32_t *len)
{
    struct vs_driver *d = s;
    uint16_t event = load16(&d->r, USED_EVENT(&d->r));
    int rc = orig_driver_get_used(s, token, len);
    if (PLANT == PLANT_NO_USED_EVENT && rc == 1)
        store16(&d->r, USED_EVENT(&d->r), event);
    if (PLANT == PLANT_LAST_USED_PAST_BAD && rc == -VS_E_USED) {
        d->last_used = (uint16_t)(d->last_used + 1);
        if (d->event_idx)
            store16(&d->r, USED_EVENT(&d->r), d->last_used);
    }
    return forget(&d->broken, rc);
}

int virtiospec_ring_driver_enable_cb_delayed(void *s)
{
    struct vs_driver *d = s;
    int rc = orig_driver_enable_cb_delayed(s);
    if (PLANT == PLANT_DELAYED_ANY && rc == 0)
        return load16(&d->r, d->r.used + 2) != d->last_used;
    return rc;
}

int virtiospec_ring_driver_detach_unused(void *s, uint64_t *tokens, uint32_t max)
{
    struct vs_driver *d = s;
    if (PLANT == PLANT_DETACH_STOPPED && d->broken)
        return -VS_E_NEEDS_RESET;
    uint32_t count = d->free_count, head = d->free_head;
    int rc = orig_driver_detach_unused(s, tokens, max);
    if (PLANT == PLANT_DETACH_KEEPS && rc > 0) {
        d->free_count = count;
        d->free_head = head;
    }
    return rc;
}

int virtiospec_ring_driver_num_free(const void *s)
{
    const struct vs_driver *d = s;
    if (PLANT == PLANT_NUM_FREE_V1)
        return (int)d->free_count;
    if (PLANT == PLANT_NUM_FREE_CHAINS && !d->broken) {
        uint32_t live = 0;
        for (uint32_t h = 0; h < d->r.q; h++)
            live += d->chains[h].live;
        return (int)(d->r.q - live);
    }
    return orig_driver_num_free(s);
}

int virtiospec_ring_driver_needs_reset(const void *s)
{
    return PLANT == PLANT_NOT_STICKY ? 0 : orig_driver_needs_reset(s);
}

int virtiospec_ring_device_pop(void *s, uint16_t *head, SEG *segs, uint32_t max_segs,
                               uint32_t *n_readable, uint32_t *n_writable)
{
    struct vs_device *v = s;
    static unsigned calls;
    if (PLANT == PLANT_CRASH_3RD_POP && ++calls == 3) {
        volatile int *nowhere = NULL;
        return *nowhere;
    }
    if (PLANT == PLANT_SPIN_3RD_POP && ++calls == 3) {
        for (volatile unsigned long spin = 0;; spin++) {
        }
    }
    if (PLANT == PLANT_POP_IGNORES_MAX)
        max_segs = v->r.q;
    if (PLANT == PLANT_NO_IN_FLIGHT && !v->broken) {
        const struct vs_queue *r = &v->r;
        uint16_t avail_idx = load16(r, r->avail + 2);
        if (avail_idx != v->last_avail) {
            uint16_t h = load16(r, r->avail + 4 + 2 * (uint64_t)(v->last_avail & (r->q - 1)));
            if (h < r->q)
                v->in_flight[h] = 0;
        }
    }
    return forget(&v->broken, orig_device_pop(s, head, segs, max_segs, n_readable, n_writable));
}

int virtiospec_ring_device_push(void *s, const struct virtiospec_ring_used_elem *u, uint32_t n)
{
    struct vs_device *v = s;
    if (PLANT == PLANT_PUSH_ANY_ID && !v->broken) {
        for (uint32_t k = 0; k < n; k++) {
            if (u[k].id < v->r.q && !v->in_flight[u[k].id]) {
                v->in_flight[u[k].id] = 1;
                v->in_flight_len[u[k].id] = UINT32_MAX;
            }
        }
    }
    return orig_device_push(s, u, n);
}

int virtiospec_ring_device_enable_notify(void *s)
{
    struct vs_device *v = s;
    uint16_t event = load16(&v->r, AVAIL_EVENT(&v->r));
    int rc = orig_device_enable_notify(s);
    if (PLANT == PLANT_NO_AVAIL_EVENT && rc >= 0)
        store16(&v->r, AVAIL_EVENT(&v->r), event);
    return rc;
}

int virtiospec_ring_device_needs_reset(const void *s)
{
    return PLANT == PLANT_NOT_STICKY ? 0 : orig_device_needs_reset(s);
}
