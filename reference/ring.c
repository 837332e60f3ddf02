/*
 * ring.c -- the split virtqueue in C: driver side and device side (spec/ring.md).
 *
 * A transcription of reference/ring/driver.py and reference/ring/device.py: the same
 * operations, the same accesses to shared memory in the same order, the same checks with
 * the same error kinds. Every shared access goes through ring_access.h; everything else is
 * private state in the caller-provided state block. Nothing here allocates or locks.
 */
#include "ring.h"

#include <string.h>

#include "ring_access.h"
#include "ring_mutants.h"
#include "vs_block.h"

#define VS_U32_LIMIT ((uint64_t)1 << 32)

/* -- layout (RING-SPLIT-003) ------------------------------------------------------------ */

static inline uint16_t vs_slot(const struct vs_queue *r, uint16_t index)
{
    return (uint16_t)(index & (r->q - 1)); /* Q divides 2^16 (RING-SPLIT-001) */
}

#define VS_AVAIL_FLAGS(r) ((r)->avail)
#define VS_AVAIL_IDX(r) ((r)->avail + 2)
#define VS_AVAIL_RING(r, slot) ((r)->avail + 4 + 2 * (uint64_t)(slot))
#define VS_USED_EVENT(r) ((r)->avail + 4 + 2 * (uint64_t)(r)->q)
#define VS_USED_FLAGS(r) ((r)->used)
#define VS_USED_IDX(r) ((r)->used + 2)
#define VS_USED_RING(r, slot) ((r)->used + 4 + VS_USED_ELEM_SIZE * (uint64_t)(slot))
#define VS_AVAIL_EVENT(r) ((r)->used + 4 + VS_USED_ELEM_SIZE * (uint64_t)(r)->q)

static bool vs_valid_queue_size(uint32_t q)
{
    return q >= 1 && q <= VS_MAX_QUEUE_SIZE && (q & (q - 1)) == 0; /* RING-SPLIT-001 */
}

bool vs_need_event(uint16_t event, uint16_t new_idx, uint16_t old_idx)
{
#if VS_IS_MUTANT(NEED_EVENT_OFF_BY_ONE)
    return (uint16_t)(new_idx - event) < (uint16_t)(new_idx - old_idx);
#else
    /* RING-SPLIT-100: event lies in [old, new) modulo 2^16 */
    return (uint16_t)(new_idx - event - 1) < (uint16_t)(new_idx - old_idx);
#endif
}

/* Common checks of create: state block, queue size, placement (RING-SPLIT-001, RING-SPLIT-002). */
static int vs_queue_create(struct vs_queue *r, const void *state, size_t state_size,
                           size_t need, uint8_t *mem, uint64_t mem_size, uint32_t q,
                           uint64_t desc, uint64_t avail, uint64_t used, uint32_t features)
{
    if (!vs_block_ok(state, state_size, need, mem, features, VS_F_EVENT_IDX | VS_F_INDIRECT))
        return -VS_E_INVALID; /* need is 0 for a size refused below */
    if (!vs_valid_queue_size(q))
        return -VS_E_QUEUE_SIZE; /* RING-SPLIT-001 */
    /* RING-SPLIT-002: aligned, and every part inside guest memory */
    if (desc % 16 != 0 || avail % 2 != 0 || used % 4 != 0)
        return -VS_E_PLACEMENT;
    if (!vs_inside(mem_size, desc, VS_DESC_SIZE * (uint64_t)q) ||
        !vs_inside(mem_size, avail, 6 + 2 * (uint64_t)q) ||
        !vs_inside(mem_size, used, 6 + VS_USED_ELEM_SIZE * (uint64_t)q))
        return -VS_E_PLACEMENT;
    r->mem = mem;
    r->mem_size = mem_size;
    r->q = q;
    r->desc = desc;
    r->avail = avail;
    r->used = used;
    return 0;
}

/* ======================================================================================
 * Driver
 * ====================================================================================== */

size_t vs_driver_state_size(uint32_t q)
{
    if (!vs_valid_queue_size(q))
        return 0;
    return vs_align8(sizeof(struct vs_driver)) + vs_align8(sizeof(struct vs_outstanding) * q) +
           vs_align8(sizeof(uint16_t) * q) * 2;
}

static void vs_driver_reset_free(struct vs_driver *d)
{
    for (uint32_t i = 0; i < d->r.q; i++)
        d->free_fifo[i] = (uint16_t)i;
    d->free_head = 0;
    d->free_count = d->r.q;
}

int vs_driver_create(struct vs_driver *d, size_t state_size, uint8_t *mem, uint64_t mem_size,
                     uint32_t q, uint64_t desc, uint64_t avail, uint64_t used, uint32_t features,
                     uint64_t indirect_area, uint32_t indirect_max, uint16_t start_index)
{
    struct vs_queue r;
    int rc = vs_queue_create(&r, d, state_size, vs_driver_state_size(q), mem, mem_size, q, desc,
                             avail, used, features);
    if (rc < 0)
        return rc;
    if ((features & VS_F_INDIRECT) &&
        !vs_inside(mem_size, indirect_area, (uint64_t)q * indirect_max * VS_DESC_SIZE))
        return -VS_E_PLACEMENT; /* RING-SPLIT-002: the driver writes only guest memory */
    uint8_t *base = (uint8_t *)d;
    memset(d, 0, sizeof *d);
    d->r = r;
    d->event_idx = (features & VS_F_EVENT_IDX) != 0;
    d->indirect = (features & VS_F_INDIRECT) != 0;
    d->indirect_area = indirect_area;
    d->indirect_max = indirect_max;
    d->avail_idx = d->last_used = start_index;
    size_t off = vs_align8(sizeof *d);
    d->chains = (struct vs_outstanding *)(void *)(base + off);
    off += vs_align8(sizeof(struct vs_outstanding) * q);
    d->free_fifo = (uint16_t *)(void *)(base + off);
    off += vs_align8(sizeof(uint16_t) * q);
    d->chain_next = (uint16_t *)(void *)(base + off);
    memset(d->chains, 0, sizeof(struct vs_outstanding) * q);
    memset(d->chain_next, 0, sizeof(uint16_t) * q);
    vs_driver_reset_free(d);
    return 0;
}

/* The fields of a fresh queue the driver initialises, before the device sees the queue:
 * avail.flags, used.flags (RING-SPLIT-065), avail.idx, used_event. */
int vs_driver_init(struct vs_driver *d)
{
    VS_STORE16(d, VS_AVAIL_FLAGS(&d->r), 0);
    VS_STORE16(d, VS_USED_FLAGS(&d->r), 0); /* RING-SPLIT-065 */
    VS_STORE16(d, VS_AVAIL_IDX(&d->r), d->avail_idx);
    VS_STORE16(d, VS_USED_EVENT(&d->r), 0);
    return 0;
}

uint16_t vs_driver_outstanding(const struct vs_driver *d)
{
    return (uint16_t)(d->avail_idx - d->last_used);
}

static int vs_driver_fail(struct vs_driver *d, int err)
{
    d->broken = err;
    return err;
}

static uint16_t vs_free_pop(struct vs_driver *d)
{
    uint16_t i = d->free_fifo[d->free_head];
    d->free_head = (d->free_head + 1) & (d->r.q - 1);
    d->free_count--;
    return i;
}

static void vs_free_push(struct vs_driver *d, uint16_t i)
{
    d->free_fifo[(d->free_head + d->free_count) & (d->r.q - 1)] = i;
    d->free_count++;
}

static void vs_write_desc(struct vs_driver *d, uint64_t at, uint64_t addr, uint32_t len,
                          uint16_t flags, uint16_t next)
{
    VS_STORE64(d, at, addr);
    VS_STORE32(d, at + 8, len);
    VS_STORE16(d, at + 12, flags);
    VS_STORE16(d, at + 14, next);
}

/* Item k of a chain: out[] first (device-readable), then in[] (device-writable). */
static struct vs_segment vs_item(const struct vs_segment *out, uint32_t n_out,
                                 const struct vs_segment *in, uint32_t k, uint16_t *flags)
{
    *flags = k < n_out ? 0 : VS_DESC_F_WRITE; /* RING-SPLIT-011: readable first */
    return k < n_out ? out[k] : in[k - n_out];
}

int vs_driver_add(struct vs_driver *d, const struct vs_segment *out, uint32_t n_out,
                  const struct vs_segment *in, uint32_t n_in, uint64_t token)
{
    if (d->broken)
        return -VS_E_NEEDS_RESET;
    uint64_t n = (uint64_t)n_out + n_in;
    if (n == 0 || (n_out && out == NULL) || (n_in && in == NULL))
        return -VS_E_INVALID;
    bool huge = false;
    uint64_t total = 0, writable = 0;
    for (uint32_t k = 0; k < n; k++) {
        uint16_t flags;
        struct vs_segment s = vs_item(out, n_out, in, k, &flags);
        if (s.len >= VS_U32_LIMIT)
            huge = true;
        else if (total <= VS_U32_LIMIT)
            total += s.len;
        if (flags)
            writable += s.len;
    }
    if (huge || total > VS_U32_LIMIT)
        return -VS_E_CHAIN_BYTES; /* RING-SPLIT-010: no chain longer than 2^32 bytes */
    if (n > d->r.q)
        return -VS_E_CHAIN_DESCS; /* RING-SPLIT-022: no chain longer than Q */
    bool indirect = d->indirect && n > 1 && n <= d->indirect_max;
    uint32_t need = indirect ? 1 : (uint32_t)n;
    if (need > d->free_count)
        return -VS_E_FULL; /* RING-SPLIT-090, -093: only free descriptors are used */

    uint16_t head = vs_free_pop(d), last = head;
    for (uint32_t k = 1; k < need; k++) {
        uint16_t i = vs_free_pop(d);
        d->chain_next[last] = i;
        last = i;
    }
    const struct vs_queue *r = &d->r;
    if (indirect) {
        /* RING-SPLIT-021, RING-SPLIT-023: the table holds no INDIRECT; its descriptor has no NEXT */
        uint64_t table = d->indirect_area + (uint64_t)head * d->indirect_max * VS_DESC_SIZE;
        for (uint32_t k = 0; k < n; k++) {
            uint16_t flags;
            struct vs_segment s = vs_item(out, n_out, in, k, &flags);
            bool end = k + 1 == n;
            vs_write_desc(d, table + VS_DESC_SIZE * (uint64_t)k, s.addr, (uint32_t)s.len,
                          (uint16_t)(flags | (end ? 0 : VS_DESC_F_NEXT)),
                          (uint16_t)(end ? 0 : k + 1));
        }
        vs_write_desc(d, r->desc + VS_DESC_SIZE * (uint64_t)head, table,
                      (uint32_t)(VS_DESC_SIZE * n), VS_DESC_F_INDIRECT, 0);
    } else {
        uint16_t i = head;
        for (uint32_t k = 0; k < n; k++) {
            uint16_t flags;
            struct vs_segment s = vs_item(out, n_out, in, k, &flags);
            bool end = k + 1 == n;
            uint16_t next = end ? 0 : d->chain_next[i];
            vs_write_desc(d, r->desc + VS_DESC_SIZE * (uint64_t)i, s.addr, (uint32_t)s.len,
                          (uint16_t)(flags | (end ? 0 : VS_DESC_F_NEXT)), next);
            i = next;
        }
    }
    /* RING-SPLIT-031: head into avail.ring[idx mod Q], then avail.idx + 1 */
    VS_STORE16(d, VS_AVAIL_RING(r, vs_slot(r, d->avail_idx)), head);
    VS_WMB(d); /* RING-SPLIT-032: entries before the index that publishes them */
    d->avail_idx = (uint16_t)(d->avail_idx + 1);
    VS_STORE16(d, VS_AVAIL_IDX(r), d->avail_idx);
    d->num_added++;
    struct vs_outstanding *c = &d->chains[head];
    c->token = token;
    c->writable = writable;
    c->ndescs = (uint16_t)need;
    c->live = 1;
    return head;
}

int vs_driver_kick_prepare(struct vs_driver *d)
{
    if (d->broken)
        return -VS_E_NEEDS_RESET;
    if (d->num_added == 0)
        return 0;
#if !VS_IS_MUTANT(NO_MB_KICK)
    VS_MB(d); /* RING-SPLIT-070: the avail.idx store before the suppression load */
#endif
    uint16_t new_idx = d->avail_idx;
    uint16_t old_idx = (uint16_t)(new_idx - d->num_added);
    /* RING-SPLIT-101: 2^16 - 1 or more entries alias the window: notify anyway */
    bool many = d->num_added >= 0xFFFFu;
    d->num_added = 0;
    if (d->event_idx) {
        /* RING-SPLIT-063: notify iff avail_event lies in [old, new); used.flags ignored */
        uint16_t event = VS_LOAD16(d, VS_AVAIL_EVENT(&d->r));
        return many || vs_need_event(event, new_idx, old_idx);
    }
    /* RING-SPLIT-062: notify iff used.flags has no NO_NOTIFY; avail_event ignored */
    uint16_t flags = VS_LOAD16(d, VS_USED_FLAGS(&d->r));
    return many || !(flags & VS_USED_F_NO_NOTIFY);
}

int vs_driver_get_used(struct vs_driver *d, uint64_t *token, uint32_t *len)
{
    if (d->broken)
        return -VS_E_NEEDS_RESET;
    const struct vs_queue *r = &d->r;
    uint16_t used_idx = VS_LOAD16(d, VS_USED_IDX(r));
    if (used_idx == d->last_used)
        return 0;
    if ((uint16_t)(used_idx - d->last_used) > vs_driver_outstanding(d))
        return vs_driver_fail(d, -VS_E_USED); /* RING-SPLIT-085: used.idx past outstanding */
    VS_RMB(d); /* RING-SPLIT-076: used.idx before the elements it publishes */
    uint64_t at = VS_USED_RING(r, vs_slot(r, d->last_used));
    uint32_t id = VS_LOAD32(d, at);
    uint32_t length = VS_LOAD32(d, at + 4);
    if (id >= r->q)
        return vs_driver_fail(d, -VS_E_USED); /* RING-SPLIT-085: never an index we gave */
    struct vs_outstanding *c = &d->chains[id];
#if !VS_IS_MUTANT(TRUST_USED_ID)
    if (!c->live)
        return vs_driver_fail(d, -VS_E_USED); /* RING-SPLIT-085: not an outstanding head */
#endif
    if (length > c->writable)
        return vs_driver_fail(d, -VS_E_USED); /* RING-SPLIT-085: len beyond writable bytes */
    /* RING-SPLIT-093: only now may the chain's descriptors be reused */
    uint16_t i = (uint16_t)id;
    for (uint32_t k = 0; k < c->ndescs; k++) {
        vs_free_push(d, i);
        i = d->chain_next[i];
    }
    c->live = 0;
    c->ndescs = 0;
    d->last_used = (uint16_t)(d->last_used + 1);
    if (d->event_idx && !d->cb_disabled) {
        /* RING-SPLIT-051: ask for a notification at the next used entry */
        VS_STORE16(d, VS_USED_EVENT(r), d->last_used);
        VS_MB(d); /* RING-SPLIT-073: used_event visible before any later re-check load */
    }
    if (token)
        *token = c->token;
    if (len)
        *len = length;
    return 1;
}

int vs_driver_detach_unused(struct vs_driver *d, uint64_t *tokens, uint32_t max)
{
    uint32_t n = 0;
    for (uint32_t h = 0; h < d->r.q; h++)
        n += d->chains[h].live;
    if (n > max || (n && tokens == NULL))
        return -VS_E_NO_SPACE;
    n = 0;
    for (uint32_t h = 0; h < d->r.q; h++) {
        if (d->chains[h].live) {
            tokens[n++] = d->chains[h].token;
            d->chains[h].live = 0;
            d->chains[h].ndescs = 0;
        }
    }
    vs_driver_reset_free(d);
    return (int)n;
}

int vs_driver_disable_cb(struct vs_driver *d)
{
    if (d->broken)
        return -VS_E_NEEDS_RESET; /* RING-SPLIT-085: nothing more after an error */
    if (d->cb_disabled)
        return 0;
    d->cb_disabled = true;
    if (d->event_idx)
        /* an event just behind last_used: the device's window reaches it only after 2^16 */
        VS_STORE16(d, VS_USED_EVENT(&d->r), (uint16_t)(d->last_used - 1));
    else
        VS_STORE16(d, VS_AVAIL_FLAGS(&d->r), VS_AVAIL_F_NO_INTERRUPT); /* RING-SPLIT-050 */
    return 0;
}

int vs_driver_enable_cb_prepare(struct vs_driver *d)
{
    d->cb_disabled = false;
    if (d->event_idx)
        VS_STORE16(d, VS_USED_EVENT(&d->r), d->last_used); /* RING-SPLIT-051 */
    else
        VS_STORE16(d, VS_AVAIL_FLAGS(&d->r), 0); /* RING-SPLIT-050 */
    return d->last_used;
}

int vs_driver_poll(struct vs_driver *d, uint16_t last)
{
    VS_MB(d); /* RING-SPLIT-073: the re-enable store before the re-check load */
    uint16_t used_idx = VS_LOAD16(d, VS_USED_IDX(&d->r));
    return used_idx != last;
}

int vs_driver_enable_cb(struct vs_driver *d)
{
    if (d->broken)
        return -VS_E_NEEDS_RESET;
    uint16_t last = (uint16_t)vs_driver_enable_cb_prepare(d);
#if VS_IS_MUTANT(NO_RECHECK_CB)
    (void)last;
    return 0;
#else
    return vs_driver_poll(d, last); /* RING-SPLIT-073: re-check before sleeping */
#endif
}

int vs_driver_enable_cb_delayed(struct vs_driver *d)
{
    if (d->broken)
        return -VS_E_NEEDS_RESET;
    if (!d->event_idx)
        return vs_driver_enable_cb(d);
    d->cb_disabled = false;
    uint16_t bufs = (uint16_t)((vs_driver_outstanding(d) * 3u) / 4u);
    VS_STORE16(d, VS_USED_EVENT(&d->r), (uint16_t)(d->last_used + bufs)); /* RING-SPLIT-051 */
    VS_MB(d); /* RING-SPLIT-073 */
    uint16_t used_idx = VS_LOAD16(d, VS_USED_IDX(&d->r));
    return (uint16_t)(used_idx - d->last_used) > bufs;
}

/* ======================================================================================
 * Device
 * ====================================================================================== */

size_t vs_device_state_size(uint32_t q)
{
    if (!vs_valid_queue_size(q))
        return 0;
    return vs_align8(sizeof(struct vs_device)) + vs_align8(sizeof(uint64_t) * q) +
           vs_align8(sizeof(uint32_t) * q) + vs_align8(q);
}

int vs_device_create(struct vs_device *v, size_t state_size, uint8_t *mem, uint64_t mem_size,
                     uint32_t q, uint64_t desc, uint64_t avail, uint64_t used, uint32_t features,
                     uint16_t start_index)
{
    struct vs_queue r;
    int rc = vs_queue_create(&r, v, state_size, vs_device_state_size(q), mem, mem_size, q, desc,
                             avail, used, features);
    if (rc < 0)
        return rc;
    uint8_t *base = (uint8_t *)v;
    memset(v, 0, sizeof *v);
    v->r = r;
    v->event_idx = (features & VS_F_EVENT_IDX) != 0;
    v->indirect = (features & VS_F_INDIRECT) != 0;
    v->last_avail = v->used_idx = start_index;
    size_t off = vs_align8(sizeof *v);
    v->in_flight_len = (uint64_t *)(void *)(base + off);
    off += vs_align8(sizeof(uint64_t) * q);
    v->stamp = (uint32_t *)(void *)(base + off);
    off += vs_align8(sizeof(uint32_t) * q);
    v->in_flight = base + off;
    memset(v->in_flight_len, 0, sizeof(uint64_t) * q);
    memset(v->stamp, 0, sizeof(uint32_t) * q);
    memset(v->in_flight, 0, q);
    return 0;
}

int vs_device_init(struct vs_device *v)
{
    VS_STORE16(v, VS_USED_FLAGS(&v->r), 0);
    VS_STORE16(v, VS_USED_IDX(&v->r), v->used_idx);
    VS_STORE16(v, VS_AVAIL_EVENT(&v->r), 0);
    return 0;
}

static int vs_device_fail(struct vs_device *v, int err)
{
    v->broken = err; /* RING-SPLIT-084: refuse everything until reset */
    return err;
}

/*
 * Index into the device's private per-descriptor arrays. Always < Q in the reference (the
 * walk checks it first); the NO_HEAD_CHECK mutant masks it so that its bug stays in
 * what it reads from guest memory and never corrupts the checker's own memory.
 */
#if VS_IS_MUTANT(NO_HEAD_CHECK)
#define VS_PRIV(v, i) ((i) & ((v)->r.q - 1))
#else
#define VS_PRIV(v, i) (i)
#endif

static void vs_new_epoch(struct vs_device *v)
{
    if (++v->epoch == 0) {
        memset(v->stamp, 0, sizeof(uint32_t) * v->r.q);
        v->epoch = 1;
    }
}

struct vs_walk {
    uint32_t n_readable, n_writable;
    uint64_t writable_len;
};

/*
 * Walk the chain of `head`, bounded by Q descriptors in all (RING-SPLIT-080), following at
 * most one indirect table (RING-SPLIT-081); nothing of the chain is used until it is all
 * valid. Every descriptor read lies inside guest memory: the table by create
 * (RING-SPLIT-002), an indirect table by the check before it is followed (RING-SPLIT-082).
 */
static int vs_walk(struct vs_device *v, uint16_t head, struct vs_segment *segs,
                   uint32_t max_segs, struct vs_walk *w)
{
    const uint32_t q = v->r.q;
#if !VS_IS_MUTANT(NO_HEAD_CHECK)
    if (head >= q)
        return -VS_E_INDEX; /* RING-SPLIT-080: head index below Q */
#endif
    uint64_t table = v->r.desc;
    uint32_t limit = q, index = head, count = 0;
    bool in_indirect = false;
    w->n_readable = w->n_writable = 0;
    w->writable_len = 0;
    vs_new_epoch(v);
    for (;;) {
#if !VS_IS_MUTANT(UNBOUNDED_WALK)
        if (v->stamp[VS_PRIV(v, index)] == v->epoch)
            return -VS_E_LOOP; /* RING-SPLIT-080: a chain never revisits a descriptor */
        v->stamp[VS_PRIV(v, index)] = v->epoch;
#endif
        uint64_t at = table + VS_DESC_SIZE * (uint64_t)index;
        uint64_t addr = VS_LOAD64(v, at);
        uint32_t len = VS_LOAD32(v, at + 8);
        uint16_t flags = VS_LOAD16(v, at + 12);
        uint16_t next = VS_LOAD16(v, at + 14);
        if (flags & VS_DESC_F_INDIRECT) {
            /* RING-SPLIT-081 (RING-SPLIT-020, -021, -023 broken by the driver) */
            if (!v->indirect || in_indirect || (flags & VS_DESC_F_NEXT))
                return -VS_E_INDIRECT;
            if (len == 0 || len % VS_DESC_SIZE != 0)
                return -VS_E_INDIRECT;
            if (!vs_inside(v->r.mem_size, addr, len))
                return -VS_E_OUTSIDE; /* RING-SPLIT-082 */
#if !VS_IS_MUTANT(UNBOUNDED_WALK)
            if (count + len / VS_DESC_SIZE > q)
                return -VS_E_TOO_LONG; /* RING-SPLIT-080, -022: Q descriptors in all */
#endif
            /* RING-SPLIT-024: WRITE of the indirect descriptor itself is ignored */
            table = addr;
            limit = len / VS_DESC_SIZE;
            index = 0;
            vs_new_epoch(v);
            in_indirect = true;
            continue;
        }
        count++;
#if !VS_IS_MUTANT(UNBOUNDED_WALK)
        if (count > q)
            return -VS_E_TOO_LONG; /* RING-SPLIT-080 */
#endif
        if (!vs_inside(v->r.mem_size, addr, len))
            return -VS_E_OUTSIDE; /* RING-SPLIT-082 */
        uint32_t slot;
        if (flags & VS_DESC_F_WRITE) {
            slot = w->n_readable + w->n_writable++;
            w->writable_len += len;
        } else if (w->n_writable) {
            return -VS_E_READ_AFTER_WRITE; /* RING-SPLIT-083 (RING-SPLIT-011) */
        } else {
            slot = w->n_readable++;
        }
        if (slot >= max_segs)
            return -VS_E_NO_SPACE; /* the caller's array, not the chain: Q always suffices */
        segs[slot].addr = addr;
        segs[slot].len = len;
        if (!(flags & VS_DESC_F_NEXT))
            return 0;
        if (next >= limit)
            return -VS_E_INDEX; /* RING-SPLIT-080: next inside the table */
        index = next;
    }
}

int vs_device_pop(struct vs_device *v, uint16_t *head_out, struct vs_segment *segs,
                  uint32_t max_segs, uint32_t *n_readable, uint32_t *n_writable)
{
    if (v->broken)
        return -VS_E_NEEDS_RESET; /* RING-SPLIT-084 */
    if (segs == NULL && max_segs)
        return -VS_E_INVALID;
    const struct vs_queue *r = &v->r;
    uint16_t avail_idx = VS_LOAD16(v, VS_AVAIL_IDX(r));
    if (avail_idx == v->last_avail)
        return 0;
    if ((uint16_t)(avail_idx - v->last_avail) > r->q)
        return vs_device_fail(v, -VS_E_AVAIL_JUMP); /* RING-SPLIT-084, -090 */
    VS_RMB(v); /* RING-SPLIT-075: avail.idx before the entries and descriptors */
    uint16_t head = VS_LOAD16(v, VS_AVAIL_RING(r, vs_slot(r, v->last_avail)));
    struct vs_walk w;
    int rc = vs_walk(v, head, segs, max_segs, &w);
    if (rc == -VS_E_NO_SPACE)
        return rc; /* not the driver's fault: nothing consumed, try again with room */
    if (rc < 0)
        return vs_device_fail(v, rc); /* RING-SPLIT-084: the chain is not used */
    uint32_t h = VS_PRIV(v, head);
    if (v->in_flight[h])
        return vs_device_fail(v, -VS_E_IN_FLIGHT); /* RING-SPLIT-092: each head used once */
    v->last_avail = (uint16_t)(v->last_avail + 1);
    v->in_flight[h] = 1;
    v->in_flight_len[h] = w.writable_len;
    if (head_out)
        *head_out = head;
    if (n_readable)
        *n_readable = w.n_readable;
    if (n_writable)
        *n_writable = w.n_writable;
    return 1;
}

int vs_device_push(struct vs_device *v, const struct vs_used_elem *used, uint32_t n)
{
    if (v->broken)
        return -VS_E_NEEDS_RESET;
    if (n && used == NULL)
        return -VS_E_INVALID;
    /* Only heads popped and not pushed, each once, with len <= its writable bytes
     * (RING-SPLIT-041); marked 2 while checked so that a repeat is refused too. */
    uint32_t k;
    int rc = 0;
    for (k = 0; k < n; k++) {
        uint32_t id = used[k].id;
        if (id >= v->r.q || v->in_flight[id] != 1 || used[k].len > v->in_flight_len[id]) {
            rc = -VS_E_INVALID;
            break;
        }
        v->in_flight[id] = 2;
    }
    for (uint32_t j = 0; j < k; j++)
        v->in_flight[used[j].id] = 1;
    if (rc < 0)
        return rc;
    const struct vs_queue *r = &v->r;
    uint16_t idx = v->used_idx;
    for (k = 0; k < n; k++) {
        /* RING-SPLIT-040, -043: element i into used.ring[i mod Q], len before used.idx */
        uint64_t at = VS_USED_RING(r, vs_slot(r, idx));
        VS_STORE32(v, at, used[k].id);
        VS_STORE32(v, at + 4, used[k].len);
        v->in_flight[used[k].id] = 0;
#if VS_IS_MUTANT(USED_IDX_MOD_Q)
        idx = (uint16_t)((idx + 1) & (r->q - 1));
#else
        idx = (uint16_t)(idx + 1);
#endif
    }
    VS_WMB(v); /* RING-SPLIT-043: the elements before the index that publishes them */
    v->num_pushed += n;
    v->used_idx = idx;
    VS_STORE16(v, VS_USED_IDX(r), idx);
    return 0;
}

int vs_device_should_notify(struct vs_device *v)
{
    if (v->broken)
        return -VS_E_NEEDS_RESET;
    uint16_t new_idx = v->used_idx;
    /* RING-SPLIT-101: 2^16 - 1 or more entries since the last decision alias the window */
    bool many = v->num_pushed >= 0xFFFFu;
    v->num_pushed = 0;
    if (v->signalled_valid && v->signalled_used == new_idx && !many)
        return 0;
#if !VS_IS_MUTANT(NO_MB_NOTIFY)
    VS_MB(v); /* RING-SPLIT-071: the used.idx store before the suppression load */
#endif
    bool had_old = v->signalled_valid;
    uint16_t old_idx = v->signalled_used;
    v->signalled_used = new_idx;
    v->signalled_valid = true;
    if (v->event_idx) {
        /* RING-SPLIT-053: notify iff used_event lies in [old, new); avail.flags ignored */
        uint16_t event = VS_LOAD16(v, VS_USED_EVENT(&v->r));
        return many || !had_old || vs_need_event(event, new_idx, old_idx);
    }
    /* RING-SPLIT-052: notify iff avail.flags has no NO_INTERRUPT; used_event ignored */
    uint16_t flags = VS_LOAD16(v, VS_AVAIL_FLAGS(&v->r));
    return many || !(flags & VS_AVAIL_F_NO_INTERRUPT);
}

int vs_device_disable_notify(struct vs_device *v)
{
    if (v->broken)
        return -VS_E_NEEDS_RESET; /* RING-SPLIT-084 */
    if (v->notify_disabled)
        return 0;
    v->notify_disabled = true;
    if (!v->event_idx)
        VS_STORE16(v, VS_USED_FLAGS(&v->r), VS_USED_F_NO_NOTIFY); /* RING-SPLIT-060 */
    return 0;
}

int vs_device_enable_notify(struct vs_device *v)
{
    if (v->broken)
        return -VS_E_NEEDS_RESET;
    v->notify_disabled = false;
    if (v->event_idx)
        VS_STORE16(v, VS_AVAIL_EVENT(&v->r), v->last_avail); /* RING-SPLIT-061 */
    else
        VS_STORE16(v, VS_USED_FLAGS(&v->r), 0); /* RING-SPLIT-060 */
#if VS_IS_MUTANT(NO_RECHECK_NOTIFY)
    return 0;
#else
    VS_MB(v); /* RING-SPLIT-072: the re-enable store before the re-check load */
    uint16_t avail_idx = VS_LOAD16(v, VS_AVAIL_IDX(&v->r));
    return avail_idx != v->last_avail;
#endif
}
