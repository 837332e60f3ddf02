/*
 * ring_packed.c -- the packed virtqueue in C: driver side and device side
 * (spec/ring_packed.md).
 *
 * A transcription of reference/ring/packed/driver.py and reference/ring/packed/device.py:
 * the same operations, the same accesses to shared memory in the same order, the same
 * checks with the same error kinds. Every shared access goes through ring_access.h (the
 * `r.mem` of a side is what its macros read); everything else is private state in the
 * caller-provided state block. Nothing here allocates or locks.
 */
#include "ring_packed.h"

#include <string.h>

#include "ring_access.h"
#include "ring_packed_mutants.h"
#include "vs_block.h"

#define VS_PU32_LIMIT ((uint64_t)1 << 32)

/* Offsets inside a descriptor {le64 addr; le32 len; le16 id; le16 flags} and inside an
 * event-suppression structure {le16 off_wrap; le16 flags} (RING-PACKED-003). */
#define VS_PD_ADDR 0u
#define VS_PD_LEN 8u
#define VS_PD_ID 12u
#define VS_PD_FLAGS 14u
#define VS_PE_FLAGS_AT 2u
#define VS_PEVENT_WRAP_BIT 15u
#define VS_PEVENT_OFF_MASK 0x7FFFu

/* -- layout, marks, positions (RING-PACKED-003, -012..-015, -064) ------------------------ */

static inline uint64_t vs_pdesc(const struct vs_packed_queue *r, uint32_t pos)
{
    return r->desc + VS_PDESC_SIZE * (uint64_t)pos;
}

/* AVAIL equal to wrap, USED its opposite (RING-PACKED-013). */
static inline uint16_t vs_avail_marks(unsigned wrap)
{
    return (uint16_t)(wrap ? VS_PDESC_F_AVAIL : VS_PDESC_F_USED);
}

/* AVAIL and USED both equal to wrap (RING-PACKED-014). */
static inline uint16_t vs_used_marks(unsigned wrap)
{
    return (uint16_t)(wrap ? (VS_PDESC_F_AVAIL | VS_PDESC_F_USED) : 0u);
}

/* RING-PACKED-015: available, or used, in the lap of wrap bit `wrap`. */
static inline bool vs_is_avail(uint16_t flags, unsigned wrap)
{
    bool a = (flags & VS_PDESC_F_AVAIL) != 0, u = (flags & VS_PDESC_F_USED) != 0;
    return a == (wrap != 0) && a != u;
}

static inline bool vs_is_used(uint16_t flags, unsigned wrap)
{
    bool a = (flags & VS_PDESC_F_AVAIL) != 0, u = (flags & VS_PDESC_F_USED) != 0;
    return a == (wrap != 0) && a == u;
}

/* n positions forward; the wrap bit flips at each pass from Q - 1 to 0 (RING-PACKED-012). */
static inline void vs_advance(uint32_t q, uint16_t *pos, uint8_t *wrap, uint32_t n)
{
    uint32_t p = (uint32_t)*pos + n;
    while (p >= q) {
        p -= q;
        *wrap ^= 1u;
    }
    *pos = (uint16_t)p;
}

/* The lap index of a position: an element of the integers modulo 2Q. */
static inline uint32_t vs_lap(uint32_t q, uint32_t pos, unsigned wrap)
{
    return pos + (wrap ? 0u : q);
}

static inline uint16_t vs_off_wrap(uint16_t pos, unsigned wrap)
{
    return (uint16_t)((pos & VS_PEVENT_OFF_MASK) | ((wrap & 1u) << VS_PEVENT_WRAP_BIT));
}

static inline uint32_t vs_event_word(unsigned flags, uint16_t pos, unsigned wrap)
{
    return (uint32_t)vs_off_wrap(pos, wrap) | ((uint32_t)flags << 16);
}

bool vs_packed_need_event(uint32_t q, uint16_t event, uint32_t new_lap, uint64_t passed)
{
    uint64_t q2 = 2 * (uint64_t)q;
    if (passed >= q2)
        return true; /* the window covers every lap index: it would alias */
    uint64_t e = vs_lap(q, event & VS_PEVENT_OFF_MASK, event >> VS_PEVENT_WRAP_BIT) % q2;
    uint64_t old = ((uint64_t)new_lap + q2 - passed) % q2;
    uint64_t d = (e + q2 - old) % q2;
#if VS_PACKED_IS_MUTANT(EVENT_OFF_BY_ONE)
    return 0 < d && d <= passed;
#else
    return d < passed; /* RING-PACKED-064: e lies in [old, new) */
#endif
}

/* RING-PACKED-062, RING-PACKED-063: the decision from the other side's 32-bit structure. */
static bool vs_decide(uint32_t q, uint32_t word, bool event_idx, uint32_t new_lap,
                      uint64_t passed)
{
    unsigned flags = (word >> 16) & 3u;
    if (event_idx && flags == VS_PEVENT_DESC)
        return vs_packed_need_event(q, (uint16_t)word, new_lap, passed);
    return flags != VS_PEVENT_DISABLE;
}

static bool vs_valid_packed_size(uint32_t q)
{
    return q >= 1 && q <= VS_PMAX_QUEUE_SIZE; /* RING-PACKED-002: any integer, not only 2^n */
}

/* Common checks of create: state block, queue size, placement (RING-PACKED-001, RING-PACKED-002). */
static int vs_packed_queue_create(struct vs_packed_queue *r, const void *state,
                                  size_t state_size, size_t need, uint8_t *mem,
                                  uint64_t mem_size, uint32_t q, uint64_t desc,
                                  uint64_t driver_event, uint64_t device_event,
                                  uint32_t features)
{
    if (!vs_block_ok(state, state_size, need, mem, features, VS_F_EVENT_IDX | VS_F_INDIRECT))
        return -VS_PE_INVALID; /* need is 0 for a size refused below */
    if (!vs_valid_packed_size(q))
        return -VS_PE_QUEUE_SIZE; /* RING-PACKED-002 */
    /* RING-PACKED-001: aligned, and every part inside guest memory */
    if (desc % 16 != 0 || driver_event % 4 != 0 || device_event % 4 != 0)
        return -VS_PE_PLACEMENT;
    if (!vs_inside(mem_size, desc, VS_PDESC_SIZE * (uint64_t)q) ||
        !vs_inside(mem_size, driver_event, VS_PEVENT_SIZE) ||
        !vs_inside(mem_size, device_event, VS_PEVENT_SIZE))
        return -VS_PE_PLACEMENT;
    r->mem = mem;
    r->mem_size = mem_size;
    r->q = q;
    r->desc = desc;
    r->driver_event = driver_event;
    r->device_event = device_event;
    return 0;
}

/* ======================================================================================
 * Driver
 * ====================================================================================== */

size_t vs_packed_driver_state_size(uint32_t q)
{
    if (!vs_valid_packed_size(q))
        return 0;
    return vs_align8(sizeof(struct vs_packed_driver)) +
           vs_align8(sizeof(struct vs_packed_out) * q) + vs_align8(sizeof(uint16_t) * q);
}

/* Every buffer ID free, in order 0..Q-1; every position free. */
static void vs_packed_reset_free(struct vs_packed_driver *d)
{
    for (uint32_t i = 0; i < d->r.q; i++)
        d->free_ids[i] = (uint16_t)i;
    d->free_head = 0;
    d->free_count = d->r.q;
    d->free_descs = d->r.q;
}

int vs_packed_driver_create(struct vs_packed_driver *d, size_t state_size, uint8_t *mem,
                            uint64_t mem_size, uint32_t q, uint64_t desc, uint64_t driver_event,
                            uint64_t device_event, uint32_t features, uint64_t indirect_area,
                            uint32_t indirect_max)
{
    struct vs_packed_queue r;
    int rc = vs_packed_queue_create(&r, d, state_size, vs_packed_driver_state_size(q), mem,
                                    mem_size, q, desc, driver_event, device_event, features);
    if (rc < 0)
        return rc;
    if ((features & VS_F_INDIRECT) &&
        !vs_inside(mem_size, indirect_area, (uint64_t)q * indirect_max * VS_PDESC_SIZE))
        return -VS_PE_PLACEMENT; /* the driver writes only guest memory */
    uint8_t *base = (uint8_t *)d;
    memset(d, 0, sizeof *d);
    d->r = r;
    d->event_idx = (features & VS_F_EVENT_IDX) != 0;
    d->indirect = (features & VS_F_INDIRECT) != 0;
    d->indirect_area = indirect_area;
    d->indirect_max = indirect_max;
    d->avail_wrap = d->used_wrap = 1; /* RING-PACKED-012: both counters start at 1 */
    size_t off = vs_align8(sizeof *d);
    d->ids = (struct vs_packed_out *)(void *)(base + off);
    off += vs_align8(sizeof(struct vs_packed_out) * q);
    d->free_ids = (uint16_t *)(void *)(base + off);
    memset(d->ids, 0, sizeof(struct vs_packed_out) * q);
    vs_packed_reset_free(d);
    return 0;
}

/* Zero the ring and both event-suppression structures before the device sees the queue
 * (RING-PACKED-004). */
int vs_packed_driver_init(struct vs_packed_driver *d)
{
    const struct vs_packed_queue *r = &d->r;
    for (uint32_t pos = 0; pos < r->q; pos++) {
        VS_STORE64(d, vs_pdesc(r, pos), 0);
        VS_STORE64(d, vs_pdesc(r, pos) + 8, 0);
    }
    VS_STORE32(d, r->driver_event, 0);
    VS_STORE32(d, r->device_event, 0);
    return 0;
}

uint32_t vs_packed_driver_num_free(const struct vs_packed_driver *d)
{
    return d->free_descs;
}

static int vs_packed_driver_fail(struct vs_packed_driver *d, int err)
{
    d->broken = err; /* RING-PACKED-086: nothing more until reset */
    return err;
}

static uint16_t vs_free_id_pop(struct vs_packed_driver *d)
{
    uint16_t id = d->free_ids[d->free_head];
    d->free_head = d->free_head + 1 == d->r.q ? 0 : d->free_head + 1;
    d->free_count--;
    return id;
}

static void vs_free_id_push(struct vs_packed_driver *d, uint16_t id)
{
    uint32_t at = d->free_head + d->free_count;
    d->free_ids[at >= d->r.q ? at - d->r.q : at] = id;
    d->free_count++;
}

static void vs_write_fields(struct vs_packed_driver *d, uint64_t at, uint64_t addr,
                            uint32_t len, uint16_t id)
{
    VS_STORE64(d, at + VS_PD_ADDR, addr);
    VS_STORE32(d, at + VS_PD_LEN, len);
    VS_STORE16(d, at + VS_PD_ID, id);
}

/* Item k of a list: out[] first (device-readable), then in[] (device-writable). */
static struct vs_segment vs_pitem(const struct vs_segment *out, uint32_t n_out,
                                  const struct vs_segment *in, uint32_t k, uint16_t *flags)
{
    *flags = (uint16_t)(k < n_out ? 0u : VS_DESC_F_WRITE); /* RING-PACKED-031 */
    return k < n_out ? out[k] : in[k - n_out];
}

int vs_packed_driver_add(struct vs_packed_driver *d, const struct vs_segment *out,
                         uint32_t n_out, const struct vs_segment *in, uint32_t n_in,
                         uint64_t token)
{
    if (d->broken)
        return -VS_PE_DRIVER_STOPPED;
    uint64_t n = (uint64_t)n_out + n_in;
    if (n == 0 || (n_out && out == NULL) || (n_in && in == NULL))
        return -VS_PE_INVALID;
    uint64_t writable = 0;
    for (uint32_t k = 0; k < n; k++) {
        uint16_t flags;
        struct vs_segment s = vs_pitem(out, n_out, in, k, &flags);
        if (s.len >= VS_PU32_LIMIT)
            return -VS_PE_INVALID; /* a length that does not fit le32 len (RING-PACKED-003) */
        if (flags)
            writable += s.len;
    }
    const struct vs_packed_queue *r = &d->r;
    if (n > r->q)
        return -VS_PE_LIST_DESCS; /* RING-PACKED-030 */
    bool indirect = d->indirect && n > 1 && n <= d->indirect_max;
    uint32_t need = indirect ? 1 : (uint32_t)n;
    if (need > d->free_descs || d->free_count == 0)
        return -VS_PE_FULL; /* RING-PACKED-032 */
    uint16_t id = vs_free_id_pop(d); /* RING-PACKED-025: not the ID of an outstanding list */
    uint64_t table = 0;
    if (indirect) {
        /* RING-PACKED-040: the table's entries carry WRITE only */
        table = d->indirect_area + (uint64_t)id * d->indirect_max * VS_PDESC_SIZE;
        for (uint32_t k = 0; k < n; k++) {
            uint16_t flags;
            struct vs_segment s = vs_pitem(out, n_out, in, k, &flags);
            uint64_t at = table + VS_PDESC_SIZE * (uint64_t)k;
            vs_write_fields(d, at, s.addr, (uint32_t)s.len, 0);
            VS_STORE16(d, at + VS_PD_FLAGS, flags);
        }
    }
    uint16_t pos = d->next_avail;
    uint8_t wrap = d->avail_wrap;
    uint16_t head_flags = 0;
    for (uint32_t k = 0; k < need; k++) {
        uint64_t addr;
        uint32_t len;
        uint16_t flags;
        if (indirect) { /* the list is one ring descriptor: INDIRECT, no NEXT (-041) */
            addr = table;
            len = (uint32_t)(VS_PDESC_SIZE * n);
            flags = VS_DESC_F_INDIRECT;
        } else {
            struct vs_segment s = vs_pitem(out, n_out, in, k, &flags);
            addr = s.addr;
            len = (uint32_t)s.len;
        }
        /* RING-PACKED-013, -035: every descriptor its marks, NEXT but the last */
        flags = (uint16_t)(flags | vs_avail_marks(wrap) | (k + 1 == need ? 0u : VS_DESC_F_NEXT));
        uint64_t at = vs_pdesc(r, pos);
        vs_write_fields(d, at, addr, len, id); /* the ID in every one (RING-PACKED-025) */
        if (k == 0)
            head_flags = flags;
        else
            VS_STORE16(d, at + VS_PD_FLAGS, flags);
        if (++pos == r->q) {
            pos = 0;
#if !VS_PACKED_IS_MUTANT(DRIVER_NO_WRAP_FLIP)
            wrap ^= 1u; /* RING-PACKED-012 */
#endif
        }
    }
#if !VS_PACKED_IS_MUTANT(DRIVER_NO_WMB)
    VS_WMB(d); /* RING-PACKED-050: the list before the flags that expose it */
#endif
    VS_STORE16(d, vs_pdesc(r, d->next_avail) + VS_PD_FLAGS, head_flags); /* RING-PACKED-033 */
    d->next_avail = pos;
    d->avail_wrap = wrap;
    d->free_descs -= need;
    d->num_added += need;
    struct vs_packed_out *o = &d->ids[id];
    o->token = token;
    o->writable = writable;
    o->ndesc = (uint16_t)need;
    o->live = 1;
    return id;
}

int vs_packed_driver_kick_prepare(struct vs_packed_driver *d)
{
    if (d->broken)
        return -VS_PE_DRIVER_STOPPED;
    if (d->num_added == 0)
        return 0;
#if !VS_PACKED_IS_MUTANT(DRIVER_NO_MB_KICK)
    VS_MB(d); /* RING-PACKED-051: the flags stores before the structure load */
#endif
    uint64_t passed = d->num_added;
    d->num_added = 0;
    uint32_t word = VS_LOAD32(d, d->r.device_event); /* RING-PACKED-066: one load */
    return vs_decide(d->r.q, word, d->event_idx, vs_lap(d->r.q, d->next_avail, d->avail_wrap),
                     passed);
}

/* The notification data of RING-PACKED-024: next_off and next_wrap. */
int vs_packed_driver_kick_data(const struct vs_packed_driver *d)
{
    return vs_off_wrap(d->next_avail, d->avail_wrap);
}

int vs_packed_driver_get_used(struct vs_packed_driver *d, uint64_t *token, uint32_t *len)
{
    if (d->broken)
        return -VS_PE_DRIVER_STOPPED;
    const struct vs_packed_queue *r = &d->r;
    uint64_t at = vs_pdesc(r, d->last_used);
    uint16_t flags = VS_LOAD16(d, at + VS_PD_FLAGS);
    if (!vs_is_used(flags, d->used_wrap)) /* RING-PACKED-015 */
        return 0;
#if !VS_PACKED_IS_MUTANT(DRIVER_NO_RMB)
    VS_RMB(d); /* RING-PACKED-055 */
#endif
    uint16_t id = VS_LOAD16(d, at + VS_PD_ID);
    uint32_t length = VS_LOAD32(d, at + VS_PD_LEN);
    struct vs_packed_out *o = id < r->q && d->ids[id].live ? &d->ids[id] : NULL;
#if VS_PACKED_IS_MUTANT(DRIVER_TRUSTS_USED_ID)
    struct vs_packed_out trusted = {0, VS_PU32_LIMIT, 1, 0};
    if (o == NULL)
        o = &trusted; /* BUG: an ID that is not outstanding is freed anyway */
#else
    if (o == NULL)
        return vs_packed_driver_fail(d, -VS_PE_USED); /* RING-PACKED-086 */
#endif
    uint32_t written = (flags & VS_DESC_F_WRITE) ? length : 0; /* RING-PACKED-027 */
    if (written > o->writable)
        return vs_packed_driver_fail(d, -VS_PE_USED); /* RING-PACKED-086 */
    uint64_t tok = o->token;
    uint16_t ndesc = o->ndesc;
    o->live = 0;
#if VS_PACKED_IS_MUTANT(DRIVER_TRUSTS_USED_ID)
    if (id < r->q && d->free_count < r->q) /* the FIFO never outgrows the state block */
        vs_free_id_push(d, id);
#else
    vs_free_id_push(d, id);
#endif
    d->free_descs += ndesc;
    /* RING-PACKED-026: skip the positions of the whole list */
    vs_advance(r->q, &d->last_used, &d->used_wrap, ndesc);
    if (d->event_idx && !d->cb_disabled) {
        /* RING-PACKED-060: ask for a notification at the next used position */
        VS_STORE16(d, r->driver_event, vs_off_wrap(d->last_used, d->used_wrap));
        VS_MB(d);
    }
    if (token)
        *token = tok;
    if (len)
        *len = written;
    return 1;
}

int vs_packed_driver_detach_unused(struct vs_packed_driver *d, uint64_t *tokens, uint32_t max)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < d->r.q; i++)
        n += d->ids[i].live;
    if (n > max || (n && tokens == NULL))
        return -VS_PE_NO_SPACE;
    n = 0;
    for (uint32_t i = 0; i < d->r.q; i++) {
        if (d->ids[i].live) {
            tokens[n++] = d->ids[i].token;
            d->ids[i].live = 0;
        }
    }
    vs_packed_reset_free(d);
    return (int)n;
}

int vs_packed_driver_disable_cb(struct vs_packed_driver *d)
{
    if (d->broken)
        return -VS_PE_DRIVER_STOPPED;
    if (d->cb_disabled)
        return 0;
    d->cb_disabled = true;
    /* a hint (RING-PACKED-065) */
    VS_STORE16(d, d->r.driver_event + VS_PE_FLAGS_AT, VS_PEVENT_DISABLE);
    return 0;
}

int vs_packed_driver_enable_cb_prepare(struct vs_packed_driver *d)
{
    d->cb_disabled = false;
    if (d->event_idx) /* RING-PACKED-066: off_wrap and DESC in one store */
        VS_STORE32(d, d->r.driver_event,
                   vs_event_word(VS_PEVENT_DESC, d->last_used, d->used_wrap));
    else
        VS_STORE16(d, d->r.driver_event + VS_PE_FLAGS_AT, VS_PEVENT_ENABLE);
    return vs_off_wrap(d->last_used, d->used_wrap);
}

int vs_packed_driver_poll(struct vs_packed_driver *d, uint16_t last)
{
    uint16_t pos = (uint16_t)(last & VS_PEVENT_OFF_MASK);
    if (pos >= d->r.q)
        return -VS_PE_INVALID; /* not a position of this ring */
    VS_MB(d); /* RING-PACKED-071: the re-enable store before the re-check load */
    uint16_t flags = VS_LOAD16(d, vs_pdesc(&d->r, pos) + VS_PD_FLAGS);
    return vs_is_used(flags, last >> VS_PEVENT_WRAP_BIT);
}

int vs_packed_driver_enable_cb(struct vs_packed_driver *d)
{
    if (d->broken)
        return -VS_PE_DRIVER_STOPPED;
    uint16_t last = (uint16_t)vs_packed_driver_enable_cb_prepare(d);
#if VS_PACKED_IS_MUTANT(DRIVER_NO_RECHECK)
    (void)last;
    return 0;
#else
    return vs_packed_driver_poll(d, last); /* RING-PACKED-071, -111 */
#endif
}

/* No delayed variant for the packed ring: the same as enable_cb. */
int vs_packed_driver_enable_cb_delayed(struct vs_packed_driver *d)
{
    return vs_packed_driver_enable_cb(d);
}

/* ======================================================================================
 * Device
 * ====================================================================================== */

size_t vs_packed_device_state_size(uint32_t q)
{
    if (!vs_valid_packed_size(q))
        return 0;
    return vs_align8(sizeof(struct vs_packed_device)) +
           vs_align8(sizeof(struct vs_packed_held) * q);
}

int vs_packed_device_create(struct vs_packed_device *v, size_t state_size, uint8_t *mem,
                            uint64_t mem_size, uint32_t q, uint64_t desc, uint64_t driver_event,
                            uint64_t device_event, uint32_t features)
{
    struct vs_packed_queue r;
    int rc = vs_packed_queue_create(&r, v, state_size, vs_packed_device_state_size(q), mem,
                                    mem_size, q, desc, driver_event, device_event, features);
    if (rc < 0)
        return rc;
    uint8_t *base = (uint8_t *)v;
    memset(v, 0, sizeof *v);
    v->r = r;
    v->event_idx = (features & VS_F_EVENT_IDX) != 0;
    v->indirect = (features & VS_F_INDIRECT) != 0;
    v->avail_wrap = v->used_wrap = 1; /* RING-PACKED-012 */
    v->in_flight = (struct vs_packed_held *)(void *)(base + vs_align8(sizeof *v));
    memset(v->in_flight, 0, sizeof(struct vs_packed_held) * q);
    return 0;
}

/* The device-owned structure of a fresh queue: ENABLE (RING-PACKED-061). */
int vs_packed_device_init(struct vs_packed_device *v)
{
    VS_STORE32(v, v->r.device_event, 0);
    return 0;
}

int vs_packed_device_needs_reset(const struct vs_packed_device *v)
{
    return v->broken != 0;
}

static int vs_packed_device_fail(struct vs_packed_device *v, int err)
{
    v->broken = err; /* RING-PACKED-085: refuse everything until reset */
    return err;
}

/* The slot of the list with buffer ID `id` the device holds, or -1. A list is held in its
 * home slot, id % Q, unless another list holds that (IDs >= Q, which the spec allows): then
 * in the first free one, and counted as displaced. While none is displaced an ID is at home
 * or not held at all: one look instead of Q for every pop and push. */
static inline uint32_t vs_held_home(const struct vs_packed_device *v, uint32_t id)
{
    uint32_t q = v->r.q;
    return (q & (q - 1)) == 0 ? id & (q - 1) : id % q; /* no division at the usual sizes */
}

static int vs_held_find(const struct vs_packed_device *v, uint32_t id)
{
    uint32_t home = vs_held_home(v, id);
    if (v->in_flight[home].live && v->in_flight[home].id == id)
        return (int)home;
    if (v->displaced == 0)
        return -1;
    for (uint32_t k = 0; k < v->r.q; k++)
        if (v->in_flight[k].live && v->in_flight[k].id == id)
            return (int)k;
    return -1;
}

/* The list in slot k is no longer held. */
static void vs_held_free(struct vs_packed_device *v, uint32_t k)
{
    struct vs_packed_held *h = &v->in_flight[k];
    if (h->live && vs_held_home(v, h->id) != k)
        v->displaced--;
    h->live = 0;
}

#if VS_PACKED_IS_MUTANT(DEVICE_IGNORES_WRAP)
#define VS_POP_AVAIL(flags, wrap)                                                           \
    ((void)(wrap), (((flags) & VS_PDESC_F_AVAIL) != 0) != (((flags) & VS_PDESC_F_USED) != 0))
#elif VS_PACKED_IS_MUTANT(DEVICE_AVAIL_ONLY)
#define VS_POP_AVAIL(flags, wrap) ((((flags) & VS_PDESC_F_AVAIL) != 0) == ((wrap) != 0))
#else
#define VS_POP_AVAIL(flags, wrap) vs_is_avail((flags), (wrap))
#endif

struct vs_pwalk {
    struct vs_segment *segs;
    uint32_t max_segs;
    uint32_t n_readable, n_writable;
    uint64_t writable_len;
};

/* One element of the list: inside guest memory (RING-PACKED-083), readable before
 * writable (RING-PACKED-084). */
static int vs_pelement(const struct vs_packed_device *v, struct vs_pwalk *w, uint64_t addr,
                       uint32_t len, bool writable)
{
    if (!vs_inside(v->r.mem_size, addr, len))
        return -VS_PE_OUTSIDE;
    uint32_t slot;
    if (writable) {
        slot = w->n_readable + w->n_writable++;
        w->writable_len += len;
    } else if (w->n_writable) {
        return -VS_PE_READ_AFTER_WRITE;
    } else {
        slot = w->n_readable++;
    }
    if (slot >= w->max_segs)
        return -VS_PE_NO_SPACE; /* the caller's array, not the list: Q always suffices */
    w->segs[slot].addr = addr;
    w->segs[slot].len = len;
    return 0;
}

/* The elements of an indirect table: only WRITE counts (RING-PACKED-042). */
static int vs_ptable(struct vs_packed_device *v, struct vs_pwalk *w, uint64_t table,
                     uint32_t entries)
{
    for (uint32_t k = 0; k < entries; k++) {
        uint64_t at = table + VS_PDESC_SIZE * (uint64_t)k;
        uint64_t addr = VS_LOAD64(v, at + VS_PD_ADDR);
        uint32_t len = VS_LOAD32(v, at + VS_PD_LEN);
        uint16_t flags = VS_LOAD16(v, at + VS_PD_FLAGS);
        int rc = vs_pelement(v, w, addr, len, (flags & VS_DESC_F_WRITE) != 0);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/*
 * Walk the list that starts at the read position, whose flags were loaded: at most Q minus
 * the descriptors already held (RING-PACKED-080), each later descriptor available in its
 * own lap (RING-PACKED-081), INDIRECT only alone (RING-PACKED-082); nothing is used until
 * the whole list is valid. The buffer ID is the last descriptor's (RING-PACKED-025).
 */
static int vs_pwalk_list(struct vs_packed_device *v, uint16_t first_flags, struct vs_pwalk *w,
                         uint16_t *id_out, uint32_t *ndesc_out)
{
    const struct vs_packed_queue *r = &v->r;
    const uint32_t q = r->q;
    uint16_t pos = v->last_avail;
    uint8_t wrap = v->avail_wrap;
    uint16_t flags = first_flags;
    uint32_t count = 0;
    for (;;) {
        count++;
        if (v->held + count > q)
            return -VS_PE_TOO_LONG; /* RING-PACKED-080 */
        uint64_t at = vs_pdesc(r, pos);
        if (count > 1) {
            flags = VS_LOAD16(v, at + VS_PD_FLAGS);
            if (!vs_is_avail(flags, wrap))
                return -VS_PE_NOT_AVAIL; /* RING-PACKED-081 (the driver broke 033/035) */
        }
        uint64_t addr = VS_LOAD64(v, at + VS_PD_ADDR);
        uint32_t len = VS_LOAD32(v, at + VS_PD_LEN);
        uint16_t id = VS_LOAD16(v, at + VS_PD_ID);
        if (flags & VS_DESC_F_INDIRECT) {
            if (!v->indirect)
                return -VS_PE_INDIRECT; /* RING-PACKED-082: not negotiated */
            if (count > 1 || (flags & VS_DESC_F_NEXT))
                return -VS_PE_INDIRECT; /* RING-PACKED-082: in a NEXT-chained list */
            if (len == 0 || len % VS_PDESC_SIZE != 0)
                return -VS_PE_INDIRECT; /* RING-PACKED-082: not whole entries */
            if (len / VS_PDESC_SIZE > q)
                return -VS_PE_TOO_LONG; /* RING-PACKED-080 */
            if (!vs_inside(r->mem_size, addr, len))
                return -VS_PE_OUTSIDE; /* RING-PACKED-083 */
            int rc = vs_ptable(v, w, addr, len / VS_PDESC_SIZE);
            if (rc < 0)
                return rc;
            *id_out = id;
            *ndesc_out = 1;
            return 0;
        }
        int rc = vs_pelement(v, w, addr, len, (flags & VS_DESC_F_WRITE) != 0);
        if (rc < 0)
            return rc;
        if (!(flags & VS_DESC_F_NEXT)) {
            *id_out = id;
            *ndesc_out = count;
            return 0;
        }
        vs_advance(q, &pos, &wrap, 1); /* RING-PACKED-034: in ring order */
    }
}

int vs_packed_device_pop(struct vs_packed_device *v, uint16_t *id_out, struct vs_segment *segs,
                         uint32_t max_segs, uint32_t *n_readable, uint32_t *n_writable)
{
    if (v->broken)
        return -VS_PE_DEVICE_STOPPED;
    if (segs == NULL && max_segs)
        return -VS_PE_INVALID;
    const struct vs_packed_queue *r = &v->r;
    uint16_t flags = VS_LOAD16(v, vs_pdesc(r, v->last_avail) + VS_PD_FLAGS);
    if (!VS_POP_AVAIL(flags, v->avail_wrap))
        return 0; /* RING-PACKED-015, -021; a kick with nothing new is harmless (-065) */
#if !VS_PACKED_IS_MUTANT(DEVICE_NO_RMB)
    VS_RMB(v); /* RING-PACKED-054 */
#endif
    struct vs_pwalk w = {segs, max_segs, 0, 0, 0};
    uint16_t id = 0;
    uint32_t ndesc = 0;
    int rc = vs_pwalk_list(v, flags, &w, &id, &ndesc);
    if (rc == -VS_PE_NO_SPACE)
        return rc; /* not the driver's fault: nothing consumed, try again with room */
    if (rc < 0)
        return vs_packed_device_fail(v, rc); /* RING-PACKED-085: the list is not used */
    if (vs_held_find(v, id) >= 0)
        return vs_packed_device_fail(v, -VS_PE_ID_IN_USE); /* RING-PACKED-085 */
    /* RING-PACKED-010: the read position moves past the whole list, in ring order */
    vs_advance(r->q, &v->last_avail, &v->avail_wrap, ndesc);
    v->held += ndesc;
    /* held <= Q and every held list has a descriptor: a free slot exists */
    uint32_t k = vs_held_home(v, id);
    if (v->in_flight[k].live) { /* home taken (IDs >= Q): the first free slot */
        for (k = 0; k < r->q && v->in_flight[k].live; k++)
            ;
        v->displaced++;
    }
    if (k < r->q) {
        struct vs_packed_held *h = &v->in_flight[k];
        h->id = id;
        h->ndesc = (uint16_t)ndesc;
        h->writable = w.writable_len;
        h->live = 1;
    }
    if (id_out)
        *id_out = id;
    if (n_readable)
        *n_readable = w.n_readable;
    if (n_writable)
        *n_writable = w.n_writable;
    return 1;
}

int vs_packed_device_push(struct vs_packed_device *v, const struct vs_used_elem *used,
                          uint32_t n)
{
    if (v->broken)
        return -VS_PE_DEVICE_STOPPED;
    if (n && used == NULL)
        return -VS_PE_INVALID;
    /* Only lists popped and not pushed, each once, with len <= its writable bytes
     * (RING-PACKED-027); marked 2 while checked so that a repeat is refused too. */
    uint32_t k;
    int rc = 0;
    for (k = 0; k < n; k++) {
        int slot = vs_held_find(v, used[k].id);
        if (slot < 0 || v->in_flight[slot].live != 1 ||
            used[k].len > v->in_flight[slot].writable) {
            rc = -VS_PE_INVALID;
            break;
        }
        v->in_flight[slot].live = 2;
    }
    for (uint32_t j = 0; j < k; j++) { /* the k marked above, not all Q slots */
        int slot = vs_held_find(v, used[j].id);
        if (slot >= 0)
            v->in_flight[slot].live = 1;
    }
    if (rc < 0)
        return rc;
    const struct vs_packed_queue *r = &v->r;
    for (k = 0; k < n; k++) {
        uint64_t at = vs_pdesc(r, v->used_pos);
        VS_STORE16(v, at + VS_PD_ID, used[k].id);
        VS_STORE32(v, at + VS_PD_LEN, used[k].len);
#if !VS_PACKED_IS_MUTANT(DEVICE_NO_WMB)
        VS_WMB(v); /* RING-PACKED-052 */
#endif
        /* RING-PACKED-014: both marks = the Device Ring Wrap Counter; WRITE if written */
        uint16_t flags = (uint16_t)(vs_used_marks(v->used_wrap) |
                                    (used[k].len ? VS_DESC_F_WRITE : 0u));
        VS_STORE16(v, at + VS_PD_FLAGS, flags);
        int slot = vs_held_find(v, used[k].id);
        uint32_t ndesc = v->in_flight[slot].ndesc;
        vs_held_free(v, (uint32_t)slot);
        /* RING-PACKED-026: the used position skips the list's descriptors */
        vs_advance(r->q, &v->used_pos, &v->used_wrap, ndesc);
        v->held -= ndesc;
        v->num_pushed += ndesc;
    }
    return 0;
}

int vs_packed_device_should_notify(struct vs_packed_device *v)
{
    if (v->broken)
        return -VS_PE_DEVICE_STOPPED;
    if (v->num_pushed == 0)
        return 0;
#if !VS_PACKED_IS_MUTANT(DEVICE_NO_MB_NOTIFY)
    VS_MB(v); /* RING-PACKED-053 */
#endif
    uint64_t passed = v->num_pushed;
    v->num_pushed = 0;
    uint32_t word = VS_LOAD32(v, v->r.driver_event); /* RING-PACKED-066: one load */
    return vs_decide(v->r.q, word, v->event_idx, vs_lap(v->r.q, v->used_pos, v->used_wrap),
                     passed);
}

int vs_packed_device_disable_notify(struct vs_packed_device *v)
{
    if (v->broken)
        return -VS_PE_DEVICE_STOPPED;
    if (v->notify_disabled)
        return 0;
    v->notify_disabled = true;
    /* a hint (RING-PACKED-065) */
    VS_STORE16(v, v->r.device_event + VS_PE_FLAGS_AT, VS_PEVENT_DISABLE);
    return 0;
}

int vs_packed_device_enable_notify(struct vs_packed_device *v)
{
    if (v->broken)
        return -VS_PE_DEVICE_STOPPED;
    v->notify_disabled = false;
    const struct vs_packed_queue *r = &v->r;
    if (v->event_idx) /* RING-PACKED-061, RING-PACKED-066: off_wrap and DESC in one store */
        VS_STORE32(v, r->device_event,
                   vs_event_word(VS_PEVENT_DESC, v->last_avail, v->avail_wrap));
    else
        VS_STORE16(v, r->device_event + VS_PE_FLAGS_AT, VS_PEVENT_ENABLE);
#if VS_PACKED_IS_MUTANT(DEVICE_NO_RECHECK)
    return 0;
#else
    VS_MB(v); /* RING-PACKED-070: the re-enable store before the re-check load */
    uint16_t flags = VS_LOAD16(v, vs_pdesc(r, v->last_avail) + VS_PD_FLAGS);
    return vs_is_avail(flags, v->avail_wrap);
#endif
}
