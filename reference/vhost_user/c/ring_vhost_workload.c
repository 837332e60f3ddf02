/*
 * ring_vhost_workload.c -- a workload for the sanitizer build of the vhost-user fast path
 * (ring_vhost.c, with ring.c compiled in), run by tests/vhost_user/test_vhost_user_fast.py.
 *
 * Guest memory is three regions, each its own heap block of exactly its size (so ASan sees
 * any byte read or written outside them), at guest addresses with holes between them and
 * above them. A small driver written here (descriptors stored directly) plays the other side:
 * honest traffic both ways across the 16-bit index wrap, with and without MRG_RXBUF,
 * EVENT_IDX and indirect tables; then hostile chains, each of which must be refused with its
 * error code and stop the queue; then random descriptor tables. Any sanitizer report or wrong
 * result exits non-zero.
 */
#define _POSIX_C_SOURCE 200809L

#include <sys/eventfd.h>
#include <unistd.h>

#include "ring_vhost.h"
#include "virtiospec_ring.h"

#include "ring_vhost_workload.h"

/* -- a queue and its driver ------------------------------------------------------------- */

struct q {
    uint32_t n;
    uint64_t desc, avail, used, ind;
    uint16_t avail_idx, last_used, next_desc;
    void *state;
    size_t size;
    uint32_t features;
    int efd;
};

static void q_open(struct q *q, uint64_t at, uint32_t n, uint32_t features, uint16_t start)
{
    memset(host(at, 0x4000), 0, 0x4000);
    q->n = n;
    q->desc = at;
    q->avail = at + 16u * n;
    q->used = (q->avail + 6u + 2u * n + 3u) & ~(uint64_t)3;
    q->ind = at + 0x2000;
    q->avail_idx = q->last_used = start;
    q->next_desc = 0;
    q->features = features;
    put16(q->avail + 2, start);
    put16(q->used + 2, start);
    struct vsv_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.queue_size = n;
    cfg.features = features;
    cfg.desc = q->desc;
    cfg.avail = q->avail;
    cfg.used = q->used;
    cfg.last_avail = cfg.used_idx = start;
    cfg.call_fd = q->efd;
    regions_config(&cfg);
    size_t size = vsv_queue_state_size(n);
    EXPECT(size > 0);
    if (q->state == NULL || q->size != size) { /* else: created again in place (a reset) */
        free(q->state);
        q->state = aligned_alloc(8, (size + 7) & ~(size_t)7);
        q->size = size;
    }
    EXPECT(vsv_queue_create(q->state, q->size, &cfg) == 0);
}

static void desc(struct q *q, uint64_t table, uint16_t i, uint64_t addr, uint32_t len,
                 uint16_t flags, uint16_t next)
{
    uint64_t at = table + 16u * i;
    put64(at, addr);
    put32(at + 8, len);
    put16(at + 12, flags);
    put16(at + 14, next);
    (void)q;
}

static void publish(struct q *q, uint16_t head)
{
    put16(q->avail + 4 + 2u * (q->avail_idx & (q->n - 1)), head);
    q->avail_idx++;
    put16(q->avail + 2, q->avail_idx);
}

/* A chain of k buffers at addrs/lens with flags; indirect when asked. Returns its head. */
static uint16_t chain(struct q *q, int k, const uint64_t *addrs, const uint32_t *lens,
                      uint16_t flags, int indirect)
{
    uint16_t head = q->next_desc;
    if (indirect) {
        uint64_t table = q->ind + 16u * 8 * head;
        for (int i = 0; i < k; i++)
            desc(q, table, (uint16_t)i, addrs[i], lens[i],
                 (uint16_t)(flags | (i + 1 < k ? 1 : 0)),
                 (uint16_t)(i + 1));
        desc(q, q->desc, head, table, 16u * (uint32_t)k, 4, 0);
        q->next_desc = (uint16_t)((q->next_desc + 1) & (q->n - 1));
    } else {
        for (int i = 0; i < k; i++) {
            uint16_t d = (uint16_t)((head + i) & (q->n - 1));
            desc(q, q->desc, d, addrs[i], lens[i], (uint16_t)(flags | (i + 1 < k ? 1 : 0)),
                 (uint16_t)((d + 1) & (q->n - 1)));
        }
        q->next_desc = (uint16_t)((q->next_desc + k) & (q->n - 1));
    }
    publish(q, head);
    return head;
}

static int reap(struct q *q)
{
    int n = 0;
    uint16_t idx = get16(q->used + 2);
    while (q->last_used != idx) {
        q->last_used++;
        n++;
    }
    return n;
}

/* -- honest traffic --------------------------------------------------------------------- */

static void transmit(uint32_t features, uint16_t start, int rounds)
{
    struct q q = {.efd = eventfd(0, EFD_NONBLOCK), .state = NULL};
    q_open(&q, 0x10000, 64, features, start);
    static uint8_t out[4 << 20];
    static struct vsv_tx_frame frames[64];
    struct vsv_result res;
    uint64_t sent = 0;
    for (int r = 0; r < rounds; r++) {
        int batch = 1 + (int)(rnd() % 16);
        for (int f = 0; f < batch; f++) {
            int k = 1 + (int)(rnd() % 3);
            uint64_t addrs[3];
            uint32_t lens[3];
            uint32_t total = 12 + 60 + rnd() % 1400;
            for (int i = 0; i < k; i++) {
                lens[i] = total / (uint32_t)k + (i == 0 ? total % (uint32_t)k : 0);
                addrs[i] = (i % 2 ? BUF_B : BUF_A + 0x2000u * (uint32_t)f) + 2048u * (uint32_t)i;
                memset(host(addrs[i], lens[i]), (int)((f + i) & 0xFF), lens[i]);
            }
            memset(host(addrs[0], 12), 0, 12);
            chain(&q, k, addrs, lens, 0, (features & VSV_F_INDIRECT) && k > 1);
        }
        /* odd rounds: vsv_tx_burst (pop and done in one call; the bytes stay in out) */
        int n = r % 2 ? vsv_tx_burst(q.state, out, sizeof out, frames, 64, 1518, &res)
                      : vsv_tx_pop(q.state, out, sizeof out, frames, 64, 1518, &res);
        EXPECT(n == batch);
        for (int i = 0; i < n; i++) {
            EXPECT(frames[i].plain == 1 && frames[i].len == frames[i].total);
            EXPECT(out[frames[i].off + 12] == (uint8_t)i);
        }
        if (r % 2 == 0)
            EXPECT(vsv_tx_done(q.state, &res) == 0);
        EXPECT(res.error == 0 && res.frames == (uint32_t)n && res.plain == (uint32_t)n);
        EXPECT(reap(&q) == n);
        sent += (uint64_t)n;
    }
    EXPECT(vsv_queue_used_idx(q.state) == (uint16_t)(start + sent));
    close(q.efd);
    free(q.state);
}

static void receive(uint32_t features, uint16_t start, int rounds)
{
    struct q q = {.efd = -1, .state = NULL};
    q_open(&q, 0x10000, 64, features, start);
    static uint8_t data[64 * 1600];
    static uint32_t lens[64];
    struct vsv_small small[64];
    struct vsv_result res;
    int mrg = (features & VSV_F_MRG_RXBUF) != 0;
    uint32_t bufsize = mrg ? 512 : 1600;
    for (int r = 0; r < rounds; r++) {
        while ((uint16_t)(q.avail_idx - q.last_used) < 64) { /* keep the ring full */
            /* one buffer per descriptor (reused only once used): the last two in region B */
            uint16_t d = q.next_desc;
            uint64_t a = d < 62 ? BUF_A + 1600u * d : BUF_B + 1600u * (d - 62u);
            uint32_t len = bufsize;
            chain(&q, 1, &a, &len, 2, 0);
        }
        uint32_t n = 1 + rnd() % 32, at = 0;
        for (uint32_t i = 0; i < n; i++) {
            lens[i] = 60 + rnd() % 1454;
            memset(data + at, (int)(i & 0xFF), lens[i]);
            at += lens[i];
        }
        /* odd rounds: the same through vsv_rx_repeat, the first npat frames over and over */
        uint32_t npat = r % 2 ? 1 + rnd() % 3 : n;
        if (npat > n)
            npat = n;
        uint32_t first = r % 2 ? rnd() % npat : 0;
        int got = r % 2 ? vsv_rx_repeat(q.state, data, lens, npat, first, n, small, 64, &res)
                        : vsv_rx(q.state, data, lens, n, small, 64, &res);
        EXPECT(got >= 0 && res.error == 0 && res.small == 0);
        EXPECT((uint32_t)got == res.delivered && res.dropped == 0);
        /* the driver checks the used entries: the header's num_buffers, frame by frame */
        uint16_t idx = get16(q.used + 2);
        int frames = 0;
        while (q.last_used != idx) {
            uint64_t e = q.used + 4 + 8u * (q.last_used & 63);
            uint32_t head = get32(e), len = get32(e + 4);
            uint64_t d = q.desc + 16u * head;
            uint64_t a = get32(d) | ((uint64_t)get32(d + 4) << 32);
            uint16_t nb = get16(a + 10);
            EXPECT(nb >= 1 && (mrg || nb == 1) && len >= 12 && len <= bufsize);
            /* frame f: pattern frame (first + f) % npat, filled with its number */
            EXPECT(*host(a + 12, 1) == (uint8_t)((first + (uint32_t)frames) % npat));
            if (nb == 0 || (uint16_t)(idx - q.last_used) < nb) {
                EXPECT(0);
                break;
            }
            q.last_used = (uint16_t)(q.last_used + nb);
            frames++;
        }
        EXPECT(frames == got);
    }
    free(q.state);
}

/* vsv_poll: transmit and receive bursts of a source in one call (the benchmark's loop) */
static void poll_loop(uint32_t features, int rounds)
{
    struct q tx = {.efd = -1, .state = NULL}, rx = {.efd = -1, .state = NULL};
    q_open(&tx, 0x10000, 16, features, 0);
    q_open(&rx, 0x18000, 16, features, 0xFFF8);
    static uint8_t out[4 << 20];
    static struct vsv_tx_frame frames[64];
    struct vsv_small small[16];
    struct vsv_poll_result acc;
    static uint8_t data[60 + 700];
    const uint32_t lens[2] = {60, 700};
    memset(data, 1, 60);
    memset(data + 60, 2, 700);
    uint32_t first = 0;
    for (int r = 0; r < rounds; r++) {
        uint32_t k = rnd() % 9, b = rnd() % 9;
        for (uint32_t f = 0; f < k; f++) {
            uint64_t a = BUF_A + 0x800u * tx.next_desc;
            uint32_t len = 12 + 60 + rnd() % 1000;
            memset(host(a, len), 0, 12); /* a plain header */
            chain(&tx, 1, &a, &len, 0, 0);
        }
        for (uint32_t i = 0; i < b; i++) {
            uint64_t a = BUF_A + 0x8000u + 0x800u * rx.next_desc;
            uint32_t len = 0x800;
            chain(&rx, 1, &a, &len, 2, 0);
        }
        uint16_t seen = rx.last_used;
        int n = vsv_poll(tx.state, out, sizeof out, frames, 64, 1518, rx.state, data, lens,
                         2, first, 16, small, 16, 64, 2, &acc);
        EXPECT(n >= 0 && acc.tx_stop == 0 && acc.rx_stop == 0);
        EXPECT(acc.tx_frames == k && reap(&tx) == (int)k);
        EXPECT(acc.rx_frames == b && acc.rx_delivered == b && acc.rx_buffers == b);
        /* frame f of the call is pattern frame (first + f) % 2: its length and first byte */
        for (uint32_t f = 0; f < b; f++, seen++) {
            uint64_t e = rx.used + 4 + 8u * (seen & 15);
            uint64_t d = rx.desc + 16u * get32(e);
            uint64_t a = get32(d) | ((uint64_t)get32(d + 4) << 32);
            uint32_t p = (first + f) % 2;
            EXPECT(get32(e + 4) == 12 + lens[p] && *host(a + 12, 1) == (uint8_t)(p + 1));
        }
        EXPECT(reap(&rx) == (int)b && acc.first == (first + b) % 2);
        first = acc.first;
    }
    /* a header for the spec (NEEDS_CSUM) hands the burst back: tx_stop, not in the sums */
    uint64_t a = BUF_A;
    uint32_t len = 12 + 80;
    memset(host(a, len), 0, 12);
    *host(a, 1) = 1;
    chain(&tx, 1, &a, &len, 0, 0);
    EXPECT(vsv_poll(tx.state, out, sizeof out, frames, 64, 1518, NULL, NULL, NULL, 0, 0, 0,
                    NULL, 0, 64, 2, &acc) == 0);
    EXPECT(acc.tx_stop == 1 && acc.tx_frames == 0 && acc.tx.frames == 1 && acc.tx.plain == 0);
    EXPECT(reap(&tx) == 1);
    free(tx.state);
    free(rx.state);
}

/* -- hostile chains --------------------------------------------------------------------- */

static void expect_refused(uint32_t features, int rx, int code, void (*make)(struct q *))
{
    struct q q = {.efd = -1, .state = NULL};
    q_open(&q, 0x10000, 16, features, 0);
    make(&q);
    struct vsv_result res;
    if (rx) {
        uint8_t frame[100] = {0}; /* needs 112 bytes: every hostile buffer has 200 */
        uint32_t len = sizeof frame;
        struct vsv_small small[16];
        int n = vsv_rx(q.state, frame, &len, 1, small, 16, &res);
        EXPECT(n == 0 && res.error == -code);
        EXPECT(vsv_rx(q.state, frame, &len, 1, small, 16, &res) == -VIRTIOSPEC_RING_E_NEEDS_RESET);
    } else {
        static uint8_t out[1 << 20];
        struct vsv_tx_frame frames[16];
        int n = vsv_tx_pop(q.state, out, sizeof out, frames, 16, 1518, &res);
        EXPECT(n == 0);
        EXPECT(vsv_tx_done(q.state, &res) == 0 && res.error == -code);
        EXPECT(vsv_tx_pop(q.state, out, sizeof out, frames, 16, 1518, &res) ==
               -VIRTIOSPEC_RING_E_NEEDS_RESET);
    }
    EXPECT(vsv_queue_broken(q.state) == -code);
    EXPECT(vsv_queue_enable_notify(q.state) == -VIRTIOSPEC_RING_E_NEEDS_RESET);
    free(q.state);
}

static uint16_t wflag;
static void mk_loop(struct q *q)
{
    desc(q, q->desc, 0, BUF_A, 200, (uint16_t)(wflag | 1), 1);
    desc(q, q->desc, 1, BUF_A, 200, (uint16_t)(wflag | 1), 0);
    publish(q, 0);
}
static void mk_bad_next(struct q *q)
{
    desc(q, q->desc, 0, BUF_A, 200, (uint16_t)(wflag | 1), 999);
    publish(q, 0);
}
static void mk_bad_head(struct q *q) { publish(q, 17); }
static void mk_beyond(struct q *q)
{
    desc(q, q->desc, 0, LIMIT - 8, 200, wflag, 0);
    publish(q, 0);
}
static void mk_huge(struct q *q)
{
    desc(q, q->desc, 0, UINT64_MAX - 8, 0xFFFFFFFFu, wflag, 0);
    publish(q, 0);
}
static void mk_hole(struct q *q)
{
    desc(q, q->desc, 0, HOLE + 8, 200, wflag, 0);
    publish(q, 0);
}
static void mk_straddle(struct q *q) /* runs from region A's end into the hole */
{
    desc(q, q->desc, 0, reg_gpa[1] + reg_size[1] - 4, 200, wflag, 0);
    publish(q, 0);
}
static void mk_empty_in_hole(struct q *q)
{
    desc(q, q->desc, 0, HOLE, 0, (uint16_t)(wflag | 1), 1);
    desc(q, q->desc, 1, BUF_A, 200, wflag, 0);
    publish(q, 0);
}
static void mk_indirect_hole(struct q *q)
{
    desc(q, q->desc, 0, HOLE + 0x100, 64, 4, 0);
    publish(q, 0);
}
static void mk_indirect_beyond(struct q *q)
{
    desc(q, q->desc, 0, LIMIT - 16, 64, 4, 0);
    publish(q, 0);
}
static void mk_read_after_write(struct q *q)
{
    desc(q, q->desc, 0, BUF_A, 200, 2 | 1, 1);
    desc(q, q->desc, 1, BUF_A, 200, 0, 0);
    publish(q, 0);
}
static void mk_jump(struct q *q) { put16(q->avail + 2, 40); }

static void hostile(void)
{
    uint32_t all = VSV_F_EVENT_IDX | VSV_F_INDIRECT | VSV_F_MRG_RXBUF;
    for (int rx = 0; rx < 2; rx++) {
        wflag = rx ? 2 : 0;
        expect_refused(all, rx, VIRTIOSPEC_RING_E_LOOP, mk_loop);
        expect_refused(all, rx, VIRTIOSPEC_RING_E_INDEX, mk_bad_next);
        expect_refused(all, rx, VIRTIOSPEC_RING_E_INDEX, mk_bad_head);
        expect_refused(all, rx, VIRTIOSPEC_RING_E_OUTSIDE, mk_beyond);
        expect_refused(all, rx, VIRTIOSPEC_RING_E_OUTSIDE, mk_huge);
        expect_refused(all, rx, VIRTIOSPEC_RING_E_OUTSIDE, mk_hole);
        expect_refused(all, rx, VIRTIOSPEC_RING_E_OUTSIDE, mk_straddle);
        expect_refused(all, rx, VIRTIOSPEC_RING_E_OUTSIDE, mk_empty_in_hole);
        expect_refused(all, rx, VIRTIOSPEC_RING_E_OUTSIDE, mk_indirect_hole);
        expect_refused(all, rx, VIRTIOSPEC_RING_E_OUTSIDE, mk_indirect_beyond);
        expect_refused(0, rx, VIRTIOSPEC_RING_E_INDIRECT, mk_indirect_hole);
        expect_refused(all, rx, VIRTIOSPEC_RING_E_READ_AFTER_WRITE, mk_read_after_write);
        expect_refused(all, rx, VIRTIOSPEC_RING_E_AVAIL_JUMP, mk_jump);
    }
}

/* Random descriptor tables and avail entries: refused or served, never outside memory. */
static void garbage(int rounds)
{
    static uint8_t out[1 << 20];
    struct vsv_tx_frame frames[16];
    struct vsv_small small[16];
    struct vsv_result res;
    uint8_t frame[300];
    memset(frame, 0x5A, sizeof frame);
    struct q q = {.efd = -1, .state = NULL};
    unsigned served = 0, refused[32] = {0};
    for (int r = 0; r < rounds; r++) {
        uint32_t features = rnd() % 16;
        q_open(&q, 0x10000, 16, features, (uint16_t)rnd());
        static const uint64_t bases[] = {BUF_A, BUF_A + 0x8000, BUF_B, 0x12000, 0x10000,
                                         HOLE, LIMIT - 64, 0};
        for (uint16_t i = 0; i < 16; i++) {
            uint64_t a = bases[rnd() % 8] + rnd() % 0x800;
            uint32_t len = rnd() % 8 ? rnd() % 2000 : rnd();
            uint16_t flags = (uint16_t)(rnd() % 4 ? rnd() % 4 : rnd() % 8);
            desc(&q, q.desc, i, a, len, flags, (uint16_t)(rnd() % 18));
        }
        for (uint16_t i = 0; i < 64; i++)
            put64(q.ind + 8u * i, ((uint64_t)rnd() << 32) | rnd());
        for (int k = 0; k < 12; k++)
            publish(&q, (uint16_t)(rnd() % 18));
        for (int step = 0; step < 4; step++) {
            if (rnd() % 2) {
                int n = vsv_tx_pop(q.state, out, sizeof out, frames, 16, 1518, &res);
                if (n >= 0) {
                    served += (unsigned)n;
                    vsv_tx_done(q.state, &res);
                    refused[-res.error & 31]++;
                }
            } else {
                uint32_t lens[3] = {rnd() % 300, rnd() % 300, rnd() % 300};
                if (vsv_rx(q.state, frame, lens, 1, small, 16, &res) >= 0) {
                    served += res.popped;
                    refused[-res.error & 31]++;
                }
            }
            vsv_queue_enable_notify(q.state);
        }
    }
    free(q.state);
    /* both outcomes must be common, or the garbage tests nothing */
    unsigned errors = 0;
    for (int i = 1; i < 32; i++)
        errors += refused[i];
    EXPECT(served > (unsigned)rounds / 2 && errors > (unsigned)rounds / 4);
    EXPECT(refused[VIRTIOSPEC_RING_E_OUTSIDE] && refused[VIRTIOSPEC_RING_E_LOOP] &&
           refused[VIRTIOSPEC_RING_E_INDEX] && refused[VIRTIOSPEC_RING_E_INDIRECT]);
    printf("garbage: %u chains served, %u batches refused (outside %u, loop %u, index %u, "
           "indirect %u)\n", served, errors, refused[VIRTIOSPEC_RING_E_OUTSIDE],
           refused[VIRTIOSPEC_RING_E_LOOP], refused[VIRTIOSPEC_RING_E_INDEX],
           refused[VIRTIOSPEC_RING_E_INDIRECT]);
}

int main(void)
{
    regions_open(0xA5);
    transmit(0, 0, 3000);
    transmit(VSV_F_EVENT_IDX | VSV_F_INDIRECT, 0xFFF0, 3000);
    receive(VSV_F_MRG_RXBUF | VSV_F_EVENT_IDX, 0xFF00, 3000);
    receive(0, 0, 2000);
    poll_loop(0, 500);
    poll_loop(VSV_F_MRG_RXBUF | VSV_F_EVENT_IDX | VSV_F_INDIRECT, 500);
    hostile();
    garbage(20000);
    return regions_close("ring_vhost_workload");
}
