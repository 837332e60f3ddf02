/*
 * ring_vhost_common.h -- the vhost-user fast path that does not depend on the ring format,
 * shared by ring_vhost.c (split ring, ring.c) and ring_vhost_packed.c (packed ring,
 * ring_packed.c): the queue state, header handling, gather and scatter, MRG_RXBUF, the
 * transmit burst, receive repeat, the poll loop, call eventfd writes and statistics, behind
 * the API of ring_vhost.h.
 *
 * Included once, by each of those units, after ring_vhost_table.h and the ring's .c, and
 * after the unit defined what is the ring's own (resolved at compile time, no call through a
 * pointer in the hot loop):
 *   VSV_DEV                        the ring's device state type;
 *   VSV_DEV_STATE_SIZE, _POP, _PUSH, _SHOULD_NOTIFY, _ENABLE_NOTIFY, _DISABLE_NOTIFY
 *                                  its device-side functions;
 *   VSV_E_INVALID, _QUEUE_SIZE, _PLACEMENT, _OUTSIDE, _NO_SPACE, _STOPPED, _IN_USE
 *                                  its error codes (positive);
 *   vsv_ring_place(m, cfg)         every ring part inside one region, positions in range;
 *   vsv_ring_start(v, size, m, limit, cfg)
 *                                  create the device and set its positions from cfg;
 *   struct vsv_pop_mark, vsv_pop_mark(v, mark), vsv_pop_undo(v, mark, head)
 *                                  save and restore the read position around a pop that
 *                                  faulted (head: the chain it took, or NULL);
 *   vsv_chain_wlen(v, head)        writable bytes of a chain the device holds;
 *   vsv_ring_has_avail(v)          whether the driver made a chain available at the read
 *                                  position (one load; pop still checks everything).
 * The unit then defines vsv_queue_last_avail, vsv_queue_used_idx and vsv_queue_waiting.
 */
#ifndef VS_RING_VHOST_COMMON_H
#define VS_RING_VHOST_COMMON_H

static_assert(VSV_MAX_REGIONS == 8, "struct vsv_config spells the region count out for cffi");
static_assert(VSV_F_EVENT_IDX == VS_F_EVENT_IDX && VSV_F_INDIRECT == VS_F_INDIRECT,
              "ring feature bits");
static_assert(VSV_HDR_LEN + 65535 + 14 + 4 == VSV_MAX_NEED, "header + longest frame");
static_assert(VSV_TX_CAP == VSV_HDR_LEN + 2 * 65536 + 1, "see vsv_tx_pop");

#define VSV_ETH_HLEN 14
#define VSV_F_NEEDS_CSUM 1u
#define VSV_F_DATA_VALID 2u
#define VSV_F_RSC_INFO 4u

/* -- the queue ------------------------------------------------------------------------- */

struct vsv_held {
    uint64_t wlen;     /* writable bytes of the chain */
    uint32_t seg_off;  /* its segments in the pool */
    uint32_t seg_n;
    uint16_t head;
    uint16_t reserved;
    uint32_t reserved2;
};

struct vsv_queue {
    struct vsv_mem mem; /* the ring's "guest memory": see the top of this file */
    uint32_t q;
    uint32_t features;
    int32_t call_fd;
    int32_t pending;    /* a ring error met in a batch, applied once its pushes are done */
    uint32_t tx_n;      /* chains popped by the last vsv_tx_pop */
    uint32_t held_n;    /* receive chains taken, not used yet (NetDevice.rx_held) */
    uint64_t held_room;
    uint32_t pool_lo, pool_hi, pool_size;
    uint32_t reserved;
    VSV_DEV *dev;
    struct vs_segment *segs;   /* [Q]: one popped chain (Q always suffices) */
    struct vs_used_elem *used; /* [Q]: used elements of a batch */
    uint16_t *tx_heads;        /* [Q] */
    struct vsv_held *held;     /* [Q] */
    struct vs_segment *pool;   /* [pool_size]: writable segments of the held chains */
};

/*
 * The pool of held segments. A held chain keeps its writable segments only up to
 * VSV_MAX_NEED bytes (a frame never reaches further), drops empty segments inside a region
 * (writing 0 bytes there is a no-op) and ends at the first empty one outside every region
 * (writing there fails: RING-SPLIT-082 / RING-PACKED-083). Chains are taken only while the room of those held
 * is below the frame's need (< VSV_MAX_NEED), each has >= 1 byte per kept segment, so at
 * most VSV_MAX_NEED - 1 kept segments before the last chain taken, VSV_MAX_NEED + 1 in it,
 * and one end marker per chain (<= Q chains): 2 * VSV_MAX_NEED + Q suffices.
 */
static uint32_t vsv_pool_size(uint32_t q)
{
    return 2u * VSV_MAX_NEED + q + 16u;
}

static size_t vsv_a8(size_t n)
{
    return (n + 7) & ~(size_t)7;
}

size_t vsv_queue_state_size(uint32_t queue_size)
{
    size_t dev = VSV_DEV_STATE_SIZE(queue_size);
    if (dev == 0)
        return 0;
    size_t q = queue_size;
    return vsv_a8(sizeof(struct vsv_queue)) + vsv_a8(dev) + vsv_a8(sizeof(struct vs_segment) * q) +
           vsv_a8(sizeof(struct vs_used_elem) * q) + vsv_a8(sizeof(uint16_t) * q) +
           vsv_a8(sizeof(struct vsv_held) * q) +
           vsv_a8(sizeof(struct vs_segment) * vsv_pool_size(queue_size));
}

int vsv_queue_create(void *state, size_t state_size, const struct vsv_config *cfg)
{
    if (state == NULL || ((uintptr_t)state & 7) != 0 || cfg == NULL)
        return -VSV_E_INVALID;
    size_t need = vsv_queue_state_size(cfg->queue_size);
    if (need == 0)
        return -VSV_E_QUEUE_SIZE; /* RING-SPLIT-001, RING-PACKED-002 */
    if (state_size < need)
        return -VSV_E_INVALID;
    if (cfg->n_regions < 1 || cfg->n_regions > VSV_MAX_REGIONS ||
        (cfg->features & ~(uint32_t)(VSV_F_EVENT_IDX | VSV_F_INDIRECT | VSV_F_MRG_RXBUF |
                                     VSV_F_CSUM)))
        return -VSV_E_INVALID;
    struct vsv_queue *q = state;
    memset(q, 0, sizeof *q);
    uint64_t limit = 0;
    for (uint32_t i = 0; i < cfg->n_regions; i++) {
        const struct vsv_region *r = &cfg->regions[i];
        if (r->host == NULL || r->size == 0 || r->guest_addr > UINT64_MAX - r->size)
            return -VSV_E_INVALID;
        q->mem.r[i] = *r;
        if (r->guest_addr + r->size > limit)
            limit = r->guest_addr + r->size;
    }
    q->mem.n = cfg->n_regions;
    q->mem.limit = limit;
    uint32_t n = cfg->queue_size;
    int rc = vsv_ring_place(&q->mem, cfg); /* every ring part inside one region, positions */
    if (rc < 0)
        return rc;
    uint8_t *base = state;
    size_t off = vsv_a8(sizeof *q);
    size_t dev_size = VSV_DEV_STATE_SIZE(n);
    q->dev = (VSV_DEV *)(void *)(base + off);
    off += vsv_a8(dev_size);
    rc = vsv_ring_start(q->dev, dev_size, &q->mem, limit, cfg);
    if (rc < 0)
        return rc;
    q->segs = (struct vs_segment *)(void *)(base + off);
    off += vsv_a8(sizeof(struct vs_segment) * n);
    q->used = (struct vs_used_elem *)(void *)(base + off);
    off += vsv_a8(sizeof(struct vs_used_elem) * n);
    q->tx_heads = (uint16_t *)(void *)(base + off);
    off += vsv_a8(sizeof(uint16_t) * n);
    q->held = (struct vsv_held *)(void *)(base + off);
    off += vsv_a8(sizeof(struct vsv_held) * n);
    q->pool = (struct vs_segment *)(void *)(base + off);
    q->pool_size = vsv_pool_size(n);
    q->q = n;
    q->features = cfg->features;
    q->call_fd = cfg->call_fd;
    return 0;
}

void vsv_queue_set_call(void *state, int32_t call_fd)
{
    ((struct vsv_queue *)state)->call_fd = call_fd;
}

int vsv_queue_broken(const void *state)
{
    const struct vsv_queue *q = state;
    return q->dev->broken ? q->dev->broken : q->pending;
}

int vsv_queue_room(void *state)
{
    return vsv_queue_waiting(state) + (int)((struct vsv_queue *)state)->held_n;
}

int vsv_queue_held(const void *state)
{
    return (int)((const struct vsv_queue *)state)->held_n;
}

int vsv_queue_enable_notify(void *state)
{
    struct vsv_queue *q = state;
    if (q->pending)
        return -VSV_E_STOPPED;
    return VSV_DEV_ENABLE_NOTIFY(q->dev); /* ring parts only: never outside a region */
}

int vsv_queue_disable_notify(void *state)
{
    struct vsv_queue *q = state;
    if (q->pending)
        return -VSV_E_STOPPED;
    return VSV_DEV_DISABLE_NOTIFY(q->dev);
}

/*
 * The ring's pop through the table. An indirect table outside every region faults in the
 * middle of the walk: the pop is undone (nothing of the chain is used) and it is the ring's
 * outside-memory error (RING-SPLIT-082, RING-PACKED-083), where the Python device's load
 * raised. A failed pop leaves its error in q->pending and the device running, so that the
 * batch's earlier chains can still be pushed (the Python device pushed each before it met
 * the error); vsv_finish applies it.
 *
 * One refusal depends on the batching itself: a head (buffer ID) made available again while
 * the device holds it (RING-SPLIT-092, RING-PACKED-085). The Python device pushes every
 * frame's buffers before it pops the next chain, so a head this batch has used but not
 * pushed yet is no longer held there. When the batch holds unpushed used elements, the pop
 * is undone instead (the ring changed nothing but its error), the batch ends (res->retry)
 * and the next call pops the head again with those elements pushed: an error then is one the
 * Python device makes too.
 */
static int vsv_pop(struct vsv_queue *q, uint16_t *head, uint32_t *n_readable,
                   uint32_t *n_writable, uint32_t n_unpushed, struct vsv_result *res)
{
    VSV_DEV *v = q->dev;
    struct vsv_pop_mark mark;
    vsv_pop_mark(v, &mark);
    q->mem.fault = 0;
    int rc = VSV_DEV_POP(v, head, q->segs, q->q, n_readable, n_writable);
    if (q->mem.fault) {
        vsv_pop_undo(v, &mark, rc == 1 ? head : NULL);
        rc = -VSV_E_OUTSIDE;
    }
    if (rc == -VSV_E_IN_USE && n_unpushed) {
        v->broken = 0;
        res->retry = 1;
        return 0;
    }
    if (rc < 0) {
        q->pending = rc;
        v->broken = 0;
    }
    return rc;
}

/* Push the batch's used elements at once, decide once, write the call eventfd at most once
 * (VHOST-USER-005), then stop the queue if the batch met a ring error (RING-SPLIT-084,
 * RING-PACKED-085). */
static int vsv_finish(struct vsv_queue *q, uint32_t n_used, struct vsv_result *res)
{
    VSV_DEV *v = q->dev;
    if (n_used) {
        int rc = VSV_DEV_PUSH(v, q->used, n_used);
        if (rc < 0)
            return rc; /* our own bug: every element was popped here, with len <= its room */
        rc = VSV_DEV_SHOULD_NOTIFY(v);
        if (rc < 0)
            return rc;
        if (rc > 0) {
            res->notified = 1;
            if (q->call_fd >= 0) {
                uint64_t one = 1;
                ssize_t w = write(q->call_fd, &one, sizeof one);
                (void)w; /* EAGAIN: the counter is already non-zero, the driver is woken */
            }
        }
    }
    if (q->pending) {
        v->broken = q->pending;
        res->error = q->pending;
        q->pending = 0;
    }
    return 0;
}

/* -- transmit -------------------------------------------------------------------------- */

int vsv_tx_pop(void *state, uint8_t *out, uint64_t out_size, struct vsv_tx_frame *frames,
               uint32_t max, uint64_t max_frame, struct vsv_result *res)
{
    struct vsv_queue *q = state;
    if (res == NULL || (max && (out == NULL || frames == NULL)))
        return -VSV_E_INVALID;
    memset(res, 0, sizeof *res);
    q->tx_n = 0;
    if (q->dev->broken || q->pending)
        return -VSV_E_STOPPED;
    if (max > q->q)
        max = q->q;
    if (out_size > UINT32_MAX)
        out_size = UINT32_MAX; /* frames[].off is 32 bits */
    uint64_t at = 0;
    uint32_t n = 0;
    while (n < max && at <= out_size && out_size - at >= VSV_TX_CAP) {
        uint16_t head;
        uint32_t nr, nw;
        int rc = vsv_pop(q, &head, &nr, &nw, n, res);
        if (rc <= 0)
            break; /* none available, a ring error (pending), or retry */
        /* gather (NetDevice.tx_take: gather(chain.readable)): every readable buffer must lie
         * inside one region, all of it; only the first VSV_TX_CAP bytes are copied */
        uint64_t total = 0, copied = 0;
        bool outside = false;
        for (uint32_t i = 0; i < nr; i++) {
            uint8_t *p = vsv_host(&q->mem, q->segs[i].addr, q->segs[i].len);
            if (p == NULL) {
                outside = true;
                break;
            }
            total += q->segs[i].len;
            uint64_t take = q->segs[i].len;
            if (take > VSV_TX_CAP - copied)
                take = VSV_TX_CAP - copied;
            memcpy(out + at + copied, p, (size_t)take);
            copied += take;
        }
        if (outside) {
            /* the ring's outside-memory error at the gather: the chain stays unused, the queue stops */
            q->pending = -VSV_E_OUTSIDE;
            break;
        }
        /* NET-008 (check_tx): a header with nothing to check is accepted here; anything
         * else -- too short, NEEDS_CSUM, GSO, too long -- goes to the spec. With VSV_TX_CAP
         * >= 12 + 2^17 + 1 the spec decides a truncated chain as it would the whole one:
         * csum_start + csum_offset + 2 <= 2^17 and max_frame < 2^17 */
        uint8_t plain = 0;
        if (total >= VSV_HDR_LEN + VSV_ETH_HLEN && total - VSV_HDR_LEN <= max_frame) {
            const uint8_t *h = out + at;
            uint8_t flags = h[0], gso = h[1];
            uint16_t num_buffers = (uint16_t)(h[10] | (h[11] << 8));
            if (!(flags & VSV_F_NEEDS_CSUM) && gso == 0) {
                plain = 1;
                res->plain++;
                /* driver_faults(): tolerated, counted (NET-002, NET-005, NET-003) */
                res->faults_num_buffers += num_buffers != 0;
                res->faults_flags += (flags & (VSV_F_DATA_VALID | VSV_F_RSC_INFO)) != 0;
                res->faults_no_csum += flags != 0 && !(q->features & VSV_F_CSUM);
            }
        }
        frames[n].off = (uint32_t)at;
        frames[n].len = (uint32_t)copied;
        frames[n].total = total;
        frames[n].head = head;
        frames[n].plain = plain;
        frames[n].reserved = 0;
        frames[n].reserved2 = 0;
        q->tx_heads[n] = head;
        at += (copied + 7) & ~(uint64_t)7;
        n++;
    }
    q->tx_n = n;
    res->frames = n;
    return (int)n;
}

int vsv_tx_done(void *state, struct vsv_result *res)
{
    struct vsv_queue *q = state;
    if (res == NULL)
        return -VSV_E_INVALID;
    uint32_t n = q->tx_n;
    for (uint32_t i = 0; i < n; i++) {
        q->used[i].id = q->tx_heads[i]; /* NET-061: refused or sent, returned with len 0 */
        q->used[i].len = 0;
    }
    q->tx_n = 0;
    res->frames = n;
    return vsv_finish(q, n, res);
}

int vsv_tx_burst(void *state, uint8_t *out, uint64_t out_size, struct vsv_tx_frame *frames,
                 uint32_t max, uint64_t max_frame, struct vsv_result *res)
{
    int n = vsv_tx_pop(state, out, out_size, frames, max, max_frame, res);
    if (n < 0)
        return n;
    int rc = vsv_tx_done(state, res);
    return rc < 0 ? rc : n;
}

/* -- receive --------------------------------------------------------------------------- */

/* Keep a taken chain (its writable segments, see vsv_pool_size). */
static int vsv_hold(struct vsv_queue *q, uint16_t head, uint32_t first, uint32_t nw,
                    uint64_t wlen)
{
    uint32_t most = nw < VSV_MAX_NEED + 1 ? nw : VSV_MAX_NEED + 1;
    if (q->pool_size - q->pool_hi < most) { /* compact: live segments to the front */
        uint32_t live = q->pool_hi - q->pool_lo;
        memmove(q->pool, q->pool + q->pool_lo, sizeof(struct vs_segment) * live);
        for (uint32_t i = 0; i < q->held_n; i++)
            q->held[i].seg_off -= q->pool_lo;
        q->pool_lo = 0;
        q->pool_hi = live;
        if (q->pool_size - q->pool_hi < most)
            return -VSV_E_NO_SPACE; /* cannot happen: see vsv_pool_size */
    }
    if (q->held_n >= q->q)
        return -VSV_E_NO_SPACE; /* cannot happen: at most Q chains in flight */
    struct vsv_held *h = &q->held[q->held_n];
    h->head = head;
    h->wlen = wlen;
    h->seg_off = q->pool_hi;
    h->seg_n = 0;
    uint64_t kept = 0;
    for (uint32_t i = 0; i < nw && kept < VSV_MAX_NEED; i++) {
        const struct vs_segment *s = &q->segs[first + i];
        if (s->len == 0 && vsv_in_one_region(&q->mem, s->addr, 0))
            continue;
        q->pool[q->pool_hi++] = *s;
        h->seg_n++;
        if (s->len == 0)
            break; /* outside every region: a write reaching it fails */
        kept += s->len;
    }
    q->held_n++;
    q->held_room += wlen;
    return 0;
}

/* Forget the first k held chains (used by a frame). */
static void vsv_release(struct vsv_queue *q, uint32_t k)
{
    for (uint32_t i = 0; i < k; i++)
        q->held_room -= q->held[i].wlen;
    q->held_n -= k;
    memmove(q->held, q->held + k, sizeof(struct vsv_held) * q->held_n);
    if (q->held_n == 0)
        q->pool_lo = q->pool_hi = 0;
    else
        q->pool_lo = q->held[0].seg_off;
}

/* Write hdr + frame over the first k held chains (scatter), filling used elements from
 * q->used[at]. False if a write fell outside every region (nothing is pushed then). */
static bool vsv_scatter(struct vsv_queue *q, uint32_t k, const uint8_t hdr[VSV_HDR_LEN],
                        const uint8_t *frame, uint32_t len, uint32_t at)
{
    uint64_t need = VSV_HDR_LEN + (uint64_t)len, done = 0;
    for (uint32_t j = 0; j < k; j++) {
        const struct vsv_held *h = &q->held[j];
        uint64_t written = 0;
        for (uint32_t i = 0; i < h->seg_n && done < need; i++) {
            const struct vs_segment *s = &q->pool[h->seg_off + i];
            uint64_t piece = s->len < need - done ? s->len : need - done;
            uint8_t *p = vsv_host(&q->mem, s->addr, piece);
            if (p == NULL)
                return false; /* outside every region */
            uint64_t from_hdr = 0;
            if (done < VSV_HDR_LEN) {
                from_hdr = VSV_HDR_LEN - done < piece ? VSV_HDR_LEN - done : piece;
                memcpy(p, hdr + done, (size_t)from_hdr);
            }
            if (piece > from_hdr)
                memcpy(p + from_hdr, frame + (done + from_hdr - VSV_HDR_LEN),
                       (size_t)(piece - from_hdr));
            done += piece;
            written += piece;
        }
        q->used[at + j].id = h->head;
        q->used[at + j].len = (uint32_t)written;
    }
    return true;
}

/* vsv_rx and vsv_rx_repeat: n frames, frame f being pattern frame (first + f) % n_pattern
 * (the n_pattern frames lie back to back in data, lens[i] bytes each). */
static int vsv_rx_run(void *state, const uint8_t *data, const uint32_t *lens,
                      uint32_t n_pattern, uint32_t first, uint32_t n, struct vsv_small *small,
                      uint32_t max_small, struct vsv_result *res)
{
    struct vsv_queue *q = state;
    if (res == NULL || (n && (data == NULL || lens == NULL || first >= n_pattern)) ||
        (max_small && small == NULL))
        return -VSV_E_INVALID;
    memset(res, 0, sizeof *res);
    if (q->dev->broken || q->pending)
        return -VSV_E_STOPPED;
    uint64_t off = 0;
    for (uint32_t i = 0; i < n_pattern && n; i++) {
        if (lens[i] > VSV_MAX_NEED - VSV_HDR_LEN)
            return -VSV_E_INVALID; /* longer than any MTU: the caller's bug */
        if (i < first)
            off += lens[i];
    }
    const bool mrg = (q->features & VSV_F_MRG_RXBUF) != 0;
    uint32_t n_used = 0, consumed = 0;
    int rc = 0;
    for (uint32_t f = 0, p = first; f < n; f++) {
        if (f && ++p == n_pattern) { /* the next pattern frame, from the first again */
            p = 0;
            off = 0;
        } else if (f) {
            off += lens[p - 1];
        }
        uint64_t need = VSV_HDR_LEN + (uint64_t)lens[p];
        bool direct = false; /* written into the one chain just taken (see below) */
        /* NetDevice._deliver_one: take buffers until the frame fits (one without MRG) */
        while (q->held_n == 0 || (mrg && q->held_room < need)) {
            if (mrg && q->held_n >= q->q)
                break; /* a full queue of buffers is not enough */
            if (res->small >= max_small) {
                res->retry = 1; /* no room to report another NET-014: the frame waits */
                goto done;
            }
            uint16_t head;
            uint32_t nr, nw;
            rc = vsv_pop(q, &head, &nr, &nw, n_used, res);
            if (rc <= 0)
                goto done; /* NET-017: wait for buffers, keep the frame (or error, retry) */
            uint64_t wlen = vsv_chain_wlen(q->dev, head);
            if (res->popped++ == 0 || wlen < res->buf_min)
                res->buf_min = wlen;
            if (wlen > res->buf_max)
                res->buf_max = wlen;
            if (wlen < VSV_HDR_LEN) { /* NET-014: the driver's fault; straight back */
                q->used[n_used].id = head;
                q->used[n_used].len = 0;
                n_used++;
                small[res->small].head = head;
                small[res->small].reserved = 0;
                small[res->small].len = wlen;
                res->small++;
                continue;
            }
            if (q->held_n == 0 && nw && q->segs[nr].len >= need) {
                /* the usual case: the chain's first writable buffer holds the frame. Written
                 * there at once, as the scatter below would write it (one buffer used:
                 * num_buffers 1), without holding the chain */
                uint8_t *to = vsv_host(&q->mem, q->segs[nr].addr, need);
                if (to != NULL) {
                    memset(to, 0, VSV_HDR_LEN);
                    to[10] = 1; /* NET-011, NET-012 */
                    memcpy(to + VSV_HDR_LEN, data + off, lens[p]);
                    q->used[n_used].id = head;
                    q->used[n_used].len = (uint32_t)need;
                    n_used++;
                    res->delivered++;
                    res->buffers++;
                    direct = true;
                    break;
                }
            }
            rc = vsv_hold(q, head, nr, nw, wlen);
            if (rc < 0) {
                q->pending = rc;
                goto done;
            }
        }
        if (direct) {
            consumed++;
            continue;
        }
        uint64_t room = mrg ? q->held_room : q->held[0].wlen;
        if (room < need) { /* never fits (the driver broke NET-013): dropped, buffers kept */
            res->dropped++;
            consumed++;
            continue;
        }
        uint32_t k = 0;
        for (uint64_t r = 0; r < need; k++)
            r += q->held[k].wlen;
        /* NET-010, NET-011, NET-012: flags 0, GSO_NONE, num_buffers = buffers used */
        uint8_t hdr[VSV_HDR_LEN] = {0};
        hdr[10] = (uint8_t)(k & 0xFF);
        hdr[11] = (uint8_t)(k >> 8);
        if (!vsv_scatter(q, k, hdr, data + off, lens[p], n_used)) {
            q->pending = -VSV_E_OUTSIDE; /* the frame stays, the queue stops */
            goto done;
        }
        n_used += k;
        vsv_release(q, k);
        res->delivered++;
        res->buffers += k;
        consumed++;
    }
done:
    res->frames = consumed;
    rc = vsv_finish(q, n_used, res);
    if (rc < 0)
        return rc;
    return (int)consumed;
}

int vsv_rx(void *state, const uint8_t *data, const uint32_t *lens, uint32_t n,
           struct vsv_small *small, uint32_t max_small, struct vsv_result *res)
{
    return vsv_rx_run(state, data, lens, n ? n : 1, 0, n, small, max_small, res);
}

int vsv_rx_repeat(void *state, const uint8_t *data, const uint32_t *lens, uint32_t n_pattern,
                  uint32_t first, uint32_t n, struct vsv_small *small, uint32_t max_small,
                  struct vsv_result *res)
{
    if (n > VSV_REPEAT_MAX)
        return -VSV_E_INVALID; /* a frame that never fits is dropped, not waited for: bounded */
    return vsv_rx_run(state, data, lens, n_pattern, first, n, small, max_small, res);
}

/* -- a device loop --------------------------------------------------------------------- */

int vsv_poll(void *tx_state, uint8_t *out, uint64_t out_size, struct vsv_tx_frame *frames,
             uint32_t max_tx, uint64_t max_frame, void *rx_state, const uint8_t *data,
             const uint32_t *lens, uint32_t n_pattern, uint32_t first, uint32_t max_rx,
             struct vsv_small *small, uint32_t max_small, uint32_t max_bursts,
             uint32_t max_idle, struct vsv_poll_result *acc)
{
    if (acc == NULL || (rx_state != NULL && first >= n_pattern))
        return -VSV_E_INVALID;
    memset(acc, 0, sizeof *acc);
    acc->first = first;
    for (uint32_t b = 0, idle = 0; b < max_bursts && idle < max_idle; b++) {
        uint32_t moved = 0;
        bool tx_due = false; /* watched, not served: a chain there is the caller's */
        if (tx_state != NULL && max_tx == 0) {
            struct vsv_queue *tq = tx_state;
            tx_due = !tq->dev->broken && !tq->pending && vsv_ring_has_avail(tq->dev);
        } else if (tx_state != NULL) {
            struct vsv_result *t = &acc->tx;
            int n = vsv_tx_burst(tx_state, out, out_size, frames, max_tx, max_frame, t);
            if (n < 0)
                return n;
            if (t->error || t->plain != t->frames) {
                acc->tx_stop = 1; /* the caller checks these headers (NET-008) */
                return (int)acc->bursts;
            }
            moved += (uint32_t)n;
            acc->tx_frames += (uint32_t)n;
            acc->faults_num_buffers += t->faults_num_buffers;
            acc->faults_flags += t->faults_flags;
            acc->faults_no_csum += t->faults_no_csum;
            acc->tx_notified += t->notified;
        }
        if (rx_state != NULL) {
            struct vsv_result *r = &acc->rx;
            int n = vsv_rx_repeat(rx_state, data, lens, n_pattern, acc->first, max_rx, small,
                                  max_small, r);
            if (n < 0)
                return n;
            acc->first = (uint32_t)((acc->first + (uint64_t)n) % n_pattern);
            if (r->error || r->small) {
                acc->rx_stop = 1; /* the caller records the fault */
                return (int)acc->bursts;
            }
            moved += (uint32_t)n;
            acc->rx_frames += (uint32_t)n;
            acc->rx_delivered += r->delivered;
            acc->rx_dropped += r->dropped;
            acc->rx_buffers += r->buffers;
            if (r->popped) {
                if (acc->rx_popped == 0 || r->buf_min < acc->buf_min)
                    acc->buf_min = r->buf_min;
                if (r->buf_max > acc->buf_max)
                    acc->buf_max = r->buf_max;
            }
            acc->rx_popped += r->popped;
            acc->rx_notified += r->notified;
        }
        if (tx_due) { /* after this round's receive burst, as the caller's loop would */
            acc->tx_stop = 1;
            if (moved)
                acc->bursts++;
            return (int)acc->bursts;
        }
        if (moved) {
            acc->bursts++;
            idle = 0;
        } else {
            idle++;
        }
    }
    return (int)acc->bursts;
}

#endif /* VS_RING_VHOST_COMMON_H */
