/*
 * fuzz_vhost.c -- libFuzzer harness: the vhost-user fast path (ring_vhost.c, ring.c's device
 * side behind a memory table) against a hostile front-end and driver.
 *
 * The input is both: a header (queue size, features, a table of 1..3 regions with any guest
 * addresses and small sizes, overlapping or not, the ring in the first), then operations --
 * descriptors whose buffers lie in a region, between regions or across two, indirect tables,
 * heads and avail.idx anything, raw bytes -- interleaved with transmit batches (vsv_tx_pop +
 * vsv_tx_done), receive batches (vsv_rx, merged buffers or not) and notification toggles.
 * Every region is its own heap block of exactly its size, so ASan sees any byte copied past
 * a region. What must hold:
 *
 *  - a transmit batch never writes the descriptor table or the avail ring (a receive batch
 *    may: a hostile driver can hand out its own ring as a receive buffer);
 *  - transmit: frames lie inside the output buffer, heads < Q and distinct, copied <= total;
 *  - receive: consumed = delivered + dropped <= frames offered, buffers held <= Q, a small
 *    buffer's head < Q;
 *  - a batch's ring error is one of RING-SPLIT-080, RING-SPLIT-081, RING-SPLIT-082, RING-SPLIT-083, RING-SPLIT-084, RING-SPLIT-092's codes, after which the queue
 *    answers -VS_E_NEEDS_RESET to every batch.
 *
 * ring_vhost.c translates ring.c's accesses itself, so this harness does not hook them
 * (only fuzz_input.h, not fuzz_common.h): it runs the shipped build under ASan and UBSan.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_input.h"
#include "ring_vhost.c"

#define OP_COUNT 12
#define OUT_SIZE (2 * (uint64_t)VSV_TX_CAP + 64)

struct world {
    struct vsv_config cfg;
    uint32_t q;
    bool broken;
    uint16_t avail_shadow;
    bool exclusive_ring; /* no other region maps the ring's guest addresses */
    uint8_t snapshot[16 * 16 + 6 + 2 * 16];
};

static struct world w;
static uint8_t *out_buf;

/* The host byte of guest address a, in the first region that holds it, or NULL. */
static uint8_t *host_at(uint64_t a)
{
    for (uint32_t i = 0; i < w.cfg.n_regions; i++) {
        const struct vsv_region *r = &w.cfg.regions[i];
        if (a >= r->guest_addr && a - r->guest_addr < r->size)
            return r->host + (a - r->guest_addr);
    }
    return NULL;
}

static void put(uint64_t a, uint64_t v, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        uint8_t *p = host_at(a + i);
        if (p)
            *p = (uint8_t)(v >> (8 * i));
    }
}

/* A guest address inside a region (or just past it), chosen by the input. */
static const int refusals[] = {VS_E_AVAIL_JUMP, VS_E_INDEX, VS_E_LOOP, VS_E_TOO_LONG,
                                VS_E_INDIRECT, VS_E_OUTSIDE, VS_E_READ_AFTER_WRITE,
                                VS_E_IN_FLIGHT};

static uint64_t guest_addr(void)
{
    const struct vsv_region *r = &w.cfg.regions[fz_bytes(1) % w.cfg.n_regions];
    return r->guest_addr + fz_bytes(2) % (r->size + 1);
}

static void put_desc(uint64_t at, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
    put(at, addr, 8);
    put(at + 8, len, 4);
    put(at + 12, flags, 2);
    put(at + 14, next, 2);
}

/* The bytes of the descriptor table and the avail ring (the driver's, never the device's). */
static void snap(uint8_t *dst)
{
    uint64_t n = 16u * w.q, k = 0;
    for (uint64_t i = 0; i < n; i++)
        dst[k++] = *host_at(w.cfg.desc + i);
    for (uint64_t i = 0; i < 4 + 2u * w.q; i++)
        dst[k++] = *host_at(w.cfg.avail + i);
}

static void check_driver_memory(const char *what)
{
    uint8_t now[sizeof w.snapshot];
    snap(now);
    FZ_CHECK(memcmp(now, w.snapshot, 16u * w.q + 4 + 2u * w.q) == 0,
             "%s wrote the descriptor table or the avail ring", what);
}

static void after_batch(void *state, const struct vsv_result *res, const char *what)
{
    if (res->error) {
        FZ_CHECK(fz_one_of(res->error, refusals, FZ_LEN(refusals)),
                 "%s stopped the queue with %d", what, res->error);
        FZ_CHECK(vsv_queue_broken(state) != 0, "%s: error without needs-reset", what);
        w.broken = true;
    }
}

static void do_tx(void *state)
{
    static struct vsv_tx_frame frames[16];
    struct vsv_result res;
    uint32_t max = fz_bytes(1) % 17;
    snap(w.snapshot);
    int n = vsv_tx_pop(state, out_buf, OUT_SIZE, frames, max, 1514, &res);
    if (w.broken) {
        FZ_CHECK(n == -VS_E_NEEDS_RESET, "tx_pop after an error returned %d", n);
        return;
    }
    FZ_CHECK(n >= 0 && (uint32_t)n <= max && (uint32_t)n <= w.q, "tx_pop returned %d", n);
    for (int i = 0; i < n; i++) {
        FZ_CHECK(frames[i].head < w.q, "tx head %u >= Q", frames[i].head);
        FZ_CHECK((uint64_t)frames[i].off + frames[i].len <= OUT_SIZE, "tx frame past out");
        FZ_CHECK(frames[i].len <= frames[i].total, "copied more than the chain holds");
        for (int j = 0; j < i; j++)
            FZ_CHECK(frames[j].head != frames[i].head, "head %u popped twice", frames[i].head);
    }
    int rc = vsv_tx_done(state, &res);
    FZ_CHECK(rc == 0, "tx_done returned %d", rc);
    check_driver_memory("transmit");
    after_batch(state, &res, "transmit");
}

static void do_rx(void *state)
{
    static uint8_t data[4 * 2048];
    uint32_t lens[4];
    struct vsv_small small[8];
    struct vsv_result res;
    uint32_t n = fz_bytes(1) % 5, off = 0;
    for (uint32_t i = 0; i < n; i++) {
        lens[i] = (uint32_t)(fz_bytes(2) % 2048);
        memset(data + off, (int)(0x40 + i), lens[i]);
        off += lens[i];
    }
    uint32_t max_small = fz_bytes(1) % 9;
    uint16_t u0 = (uint16_t)vsv_queue_used_idx(state);
    int rc = vsv_rx(state, data, lens, n, small, max_small, &res);
    if (w.broken) {
        FZ_CHECK(rc == -VS_E_NEEDS_RESET, "rx after an error returned %d", rc);
        return;
    }
    FZ_CHECK(rc >= 0 && (uint32_t)rc <= n, "rx returned %d for %u frames", rc, n);
    FZ_CHECK(res.delivered + res.dropped == (uint32_t)rc, "rx: %u delivered + %u dropped != %d",
             res.delivered, res.dropped, rc);
    FZ_CHECK(vsv_queue_held(state) <= (int)w.q, "rx holds %d buffers (Q %u)",
             vsv_queue_held(state), w.q);
    FZ_CHECK(res.small <= max_small, "rx reported %u small buffers, room for %u", res.small,
             max_small);
    for (uint32_t i = 0; i < res.small; i++)
        FZ_CHECK(small[i].head < w.q && small[i].len < VSV_HDR_LEN, "bad small buffer");
    /* Every byte accounted for: the used elements of the batch are the small buffers (len 0)
     * and the delivered frames' buffers, whose lens add up to 12 + frame for each frame
     * delivered (NET-010, NET-011). Read back from the used ring when nothing else can map it. */
    uint16_t u1 = (uint16_t)vsv_queue_used_idx(state);
    FZ_CHECK((uint16_t)(u1 - u0) == res.small + res.buffers,
             "rx pushed %u elements for %u small + %u frame buffers", (uint16_t)(u1 - u0),
             res.small, res.buffers);
    if (w.exclusive_ring && res.dropped == 0) {
        uint64_t expect = 0, got = 0;
        for (uint32_t f = 0; f < (uint32_t)rc; f++)
            expect += VSV_HDR_LEN + (uint64_t)lens[f];
        for (uint16_t k = u0; k != u1; k++) {
            uint64_t at = w.cfg.used + 4 + 8u * (k & (w.q - 1));
            uint32_t id = 0, len = 0;
            for (unsigned b = 0; b < 4; b++) {
                id |= (uint32_t)*host_at(at + b) << (8 * b);
                len |= (uint32_t)*host_at(at + 4 + b) << (8 * b);
            }
            FZ_CHECK(id < w.q, "used id %u >= Q", id);
            got += len;
        }
        FZ_CHECK(got == expect, "rx: used lens add up to %llu, frames delivered need %llu",
                 (unsigned long long)got, (unsigned long long)expect);
    }
    after_batch(state, &res, "receive");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_begin(data, size);
    if (out_buf == NULL)
        out_buf = malloc(OUT_SIZE);
    memset(&w, 0, sizeof w);
    uint8_t b0 = (uint8_t)fz_bytes(1), b1 = (uint8_t)fz_bytes(1);
    w.q = 1u << (b0 % 5);
    w.cfg.queue_size = w.q;
    w.cfg.features = b1 & 15u;
    w.cfg.n_regions = 1 + (b0 >> 4) % 3;
    w.cfg.call_fd = -1;
    uint64_t ring = 16u * w.q + 6 + 2u * w.q;
    ring = ((ring + 3) & ~(uint64_t)3) + 6 + 8u * w.q;
    for (uint32_t i = 0; i < w.cfg.n_regions; i++) {
        struct vsv_region *r = &w.cfg.regions[i];
        r->guest_addr = (fz_bytes(1) & 1) ? fz_bytes(8) & ~(uint64_t)15
                                          : (fz_bytes(4) & ~(uint64_t)15);
        r->size = 1 + fz_bytes(2) % 2048;
        if (i == 0)
            r->size += ring;
        if (r->guest_addr > UINT64_MAX - r->size)
            r->guest_addr = UINT64_MAX - r->size + 1 - 16;
        r->host = malloc(r->size);
        FZ_CHECK(r->host != NULL, "malloc");
        memset(r->host, 0, r->size);
    }
    uint64_t base = w.cfg.regions[0].guest_addr;
    w.exclusive_ring = true;
    for (uint32_t i = 1; i < w.cfg.n_regions; i++) {
        const struct vsv_region *r = &w.cfg.regions[i];
        if (r->guest_addr < base + w.cfg.regions[0].size && base < r->guest_addr + r->size)
            w.exclusive_ring = false;
    }
    w.cfg.desc = base;
    w.cfg.avail = base + 16u * w.q;
    w.cfg.used = (w.cfg.avail + 6 + 2u * w.q + 3) & ~(uint64_t)3;
    w.cfg.limit = 0;
    w.cfg.last_avail = w.cfg.used_idx = w.avail_shadow = (uint16_t)fz_bytes(2);
    /* one state block for every input: most of it is the 2 MiB segment pool, which a
     * malloc per input would spend the run poisoning and unpoisoning */
    static void *state;
    size_t ssize = vsv_queue_state_size(w.q);
    if (state == NULL)
        state = malloc(vsv_queue_state_size(16));
    FZ_CHECK(state != NULL, "malloc");
    int rc = vsv_queue_create(state, ssize, &w.cfg);
    if (rc < 0) { /* a table the queue refuses (a ring part shadowed by an earlier region) */
        FZ_CHECK(rc == -VS_E_PLACEMENT || rc == -VS_E_INVALID, "create returned %d", rc);
        goto out;
    }

    for (unsigned steps = 0; fz_more() && steps < 2048; steps++) {
        switch (fz_bytes(1) % OP_COUNT) {
        case 0: { /* any descriptor */
            uint32_t i = fz_bytes(1) % w.q;
            uint64_t addr = fz_bytes(8);
            uint32_t len = (uint32_t)fz_bytes(4);
            put_desc(w.cfg.desc + 16u * i, addr, len, (uint16_t)fz_bytes(2), (uint16_t)fz_bytes(2));
            break;
        }
        case 1:
        case 2: { /* a buffer in some region (or across its end) */
            uint32_t i = fz_bytes(1) % w.q;
            uint64_t addr = guest_addr();
            uint32_t len = (uint32_t)fz_bytes(2);
            uint16_t flags = (uint16_t)(fz_bytes(1) & 3u);
            put_desc(w.cfg.desc + 16u * i, addr, len, flags, (uint16_t)(fz_bytes(1) % w.q));
            break;
        }
        case 3: { /* an indirect table somewhere */
            uint64_t table = guest_addr();
            uint32_t n = fz_bytes(1) % 5;
            for (uint32_t k = 0; k < n; k++)
                put_desc(table + 16u * k, guest_addr(), (uint32_t)fz_bytes(2),
                         (uint16_t)(fz_bytes(1) & 3u), (uint16_t)(fz_bytes(1) % (n + 1)));
            put_desc(w.cfg.desc + 16u * (fz_bytes(1) % w.q), table, 16u * n, VS_DESC_F_INDIRECT, 0);
            break;
        }
        case 4: { /* publish a head */
            uint16_t head = (fz_bytes(1) & 1) ? (uint16_t)fz_bytes(2)
                                              : (uint16_t)(fz_bytes(1) % w.q);
            put(w.cfg.avail + 4 + 2u * (w.avail_shadow & (w.q - 1)), head, 2);
            w.avail_shadow++;
            put(w.cfg.avail + 2, w.avail_shadow, 2);
            break;
        }
        case 5: /* avail.idx anywhere */
            w.avail_shadow = (uint16_t)fz_bytes(2);
            put(w.cfg.avail + 2, w.avail_shadow, 2);
            break;
        case 6: { /* raw bytes at a guest address */
            uint64_t at = guest_addr();
            uint32_t n = fz_bytes(1) % 17;
            for (uint32_t i = 0; i < n; i++)
                put(at + i, fz_bytes(1), 1);
            break;
        }
        case 7:
        case 8:
            do_tx(state);
            break;
        case 9:
        case 10:
            do_rx(state);
            break;
        case 11: {
            bool on = fz_bytes(1) & 1;
            int r2 = on ? vsv_queue_enable_notify(state) : vsv_queue_disable_notify(state);
            if (w.broken)
                FZ_CHECK(r2 == -VS_E_NEEDS_RESET, "notify toggle after an error: %d", r2);
            else
                FZ_CHECK(r2 == 0 || r2 == 1, "notify toggle returned %d", r2);
            /* the sizing hints: never more than Q believed (RING-SPLIT-084) */
            int waiting = vsv_queue_waiting(state), room = vsv_queue_room(state);
            FZ_CHECK(waiting >= 0 && waiting <= (int)w.q && room >= waiting &&
                         room <= 2 * (int)w.q,
                     "waiting %d, room %d (Q %u)", waiting, room, w.q);
            FZ_CHECK(w.broken || vsv_queue_last_avail(state) >= 0, "last_avail");
            break;
        }
        }
    }
out:
    for (uint32_t i = 0; i < w.cfg.n_regions; i++)
        free(w.cfg.regions[i].host);
    return 0;
}
