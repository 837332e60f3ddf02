/*
 * ring_vhost_packed_workload.c -- a workload for the sanitizer build of the vhost-user fast
 * path on packed rings (ring_vhost_packed.c, with ring_packed.c compiled in), run by
 * tests/vhost_user/test_vhost_user_packed.py.
 *
 * Guest memory is three regions, each its own heap block of exactly its size (ASan sees any
 * byte touched outside them), with holes between and above them. A small packed driver
 * written here (descriptors stored directly, the first one's flags last) plays the other
 * side: frames both ways over several laps of the ring, with and without MRG_RXBUF, with
 * indirect tables; a queue created at a SET_VRING_BASE word of the second lap; hostile lists,
 * each refused with its error code, stopping the queue; then random descriptors. Any
 * sanitizer report or wrong result exits non-zero.
 */
#define _POSIX_C_SOURCE 200809L

#include "ring_packed.h"
#include "ring_vhost.h"

#include "ring_vhost_workload.h"

#define AVAIL 0x0080u
#define USED 0x8000u

/* -- a packed queue and its driver ------------------------------------------------------ */

struct q {
    uint32_t n;
    uint64_t desc, drv_event, dev_event, ind;
    uint16_t next, last_used; /* driver positions ... */
    uint8_t wrap, used_wrap;  /* ... and their wrap bits */
    uint16_t sizes[64];       /* ring descriptors of each outstanding buffer ID */
    void *state;
    uint32_t features;
};

static void q_open(struct q *q, uint64_t at, uint32_t n, uint32_t features, uint16_t pos,
                   uint8_t wrap)
{
    memset(host(at, 0x4000), 0, 0x4000);
    q->n = n;
    q->desc = at;
    q->drv_event = at + 16u * n;
    q->dev_event = q->drv_event + 4;
    q->ind = at + 0x2000;
    q->next = q->last_used = pos;
    q->wrap = q->used_wrap = wrap;
    q->features = features;
    /* the ring as the laps before left it: positions before `pos` used in this lap, the
     * others in the lap before (with wrap bit 1 and position 0 nothing was used yet) */
    for (uint32_t i = 0; i < n && (pos || !wrap); i++)
        put16(q->desc + 16u * i + 14, (i < pos) == (wrap != 0) ? (AVAIL | USED) : 0);
    struct vsv_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.queue_size = n;
    cfg.features = features;
    cfg.desc = q->desc;
    cfg.avail = q->drv_event;
    cfg.used = q->dev_event;
    cfg.last_avail = cfg.used_idx = (uint16_t)(pos | wrap << 15);
    cfg.call_fd = -1;
    regions_config(&cfg);
    size_t size = vsv_queue_state_size(n);
    EXPECT(size > 0);
    free(q->state);
    q->state = aligned_alloc(8, (size + 7) & ~(size_t)7);
    EXPECT(vsv_queue_create(q->state, size, &cfg) == 0);
}

static void step(uint32_t n, uint16_t *pos, uint8_t *wrap)
{
    if (++*pos == n) {
        *pos = 0;
        *wrap ^= 1;
    }
}

static uint16_t marks(uint8_t wrap) { return wrap ? AVAIL : USED; }

/* Make a list of k elements available (flags: WRITE or 0 for all; extra OR-ed into element
 * `bad_at`'s flags when bad_at >= 0), or one INDIRECT descriptor over a table of k. */
static void publish(struct q *q, uint16_t id, int k, const uint64_t *addrs,
                    const uint32_t *lens, uint16_t flags, int indirect, int bad_at,
                    uint16_t extra)
{
    uint16_t pos = q->next;
    uint8_t wrap = q->wrap;
    uint16_t head_flags = 0;
    if (indirect) {
        uint64_t table = q->ind + 16u * 8 * (id % 8);
        for (int i = 0; i < k; i++) {
            put64(table + 16u * i, addrs[i]);
            put32(table + 16u * i + 8, lens[i]);
            put16(table + 16u * i + 12, 0);
            put16(table + 16u * i + 14, (uint16_t)(flags | (i == bad_at ? extra : 0)));
        }
        uint64_t at = q->desc + 16u * pos;
        put64(at, table);
        put32(at + 8, 16u * (uint32_t)k);
        put16(at + 12, id);
        head_flags = (uint16_t)(0x4u | marks(wrap));
        step(q->n, &pos, &wrap);
        q->sizes[id] = 1;
    } else {
        for (int i = 0; i < k; i++) {
            uint64_t at = q->desc + 16u * pos;
            uint16_t f = (uint16_t)(flags | marks(wrap) | (i + 1 < k ? 0x1u : 0u) |
                                    (i == bad_at ? extra : 0));
            put64(at, addrs[i]);
            put32(at + 8, lens[i]);
            put16(at + 12, id);
            if (i == 0)
                head_flags = f;
            else
                put16(at + 14, f);
            step(q->n, &pos, &wrap);
        }
        q->sizes[id] = (uint16_t)k;
    }
    put16(q->desc + 16u * q->next + 14, head_flags); /* the head's flags last */
    q->next = pos;
    q->wrap = wrap;
}

/* The next used descriptor: its ID and len, or -1 when there is none. */
static int take_used(struct q *q, uint32_t *len)
{
    uint64_t at = q->desc + 16u * q->last_used;
    uint16_t f = get16(at + 14);
    uint16_t want = q->used_wrap ? (AVAIL | USED) : 0;
    if ((f & (AVAIL | USED)) != want)
        return -1;
    uint16_t id = get16(at + 12);
    *len = get32(at + 8);
    EXPECT(id < 64 && q->sizes[id] > 0);
    for (uint16_t i = 0; i < q->sizes[id % 64]; i++)
        step(q->n, &q->last_used, &q->used_wrap);
    q->sizes[id % 64] = 0;
    return id;
}

/* -- honest traffic --------------------------------------------------------------------- */

/* stride: the IDs of one round's lists are stride apart; 8 (= Q) gives them all one home
 * slot in ring_packed.c's table of held lists (the displaced path of vs_held_find) */
static void transmit(uint32_t features, int indirect, uint16_t pos, uint8_t wrap, int stride)
{
    struct q tx = {0};
    q_open(&tx, 0x10000, 8, features, pos, wrap);
    static uint8_t out[VSV_TX_CAP * 8];
    struct vsv_tx_frame frames[8];
    struct vsv_result res;
    for (int round = 0; round < 30; round++) {
        int lists = 1 + round % 3;
        for (int l = 0; l < lists; l++) {
            uint16_t id = (uint16_t)(round * 3 + stride * l) % 64;
            uint64_t a[2] = {BUF_A + 0x1000u * (uint32_t)l, BUF_B + 0x100u * (uint32_t)l};
            uint32_t n[2] = {12, 60 + (uint32_t)round};
            for (uint32_t b = 0; b < n[1]; b++)
                host(a[1], n[1])[b] = (uint8_t)(round + b);
            memset(host(a[0], 12), 0, 12);
            publish(&tx, id, 2, a, n, 0, indirect, -1, 0);
        }
        /* odd rounds: vsv_tx_burst (pop and done in one call; the bytes stay in out) */
        int got = round % 2 ? vsv_tx_burst(tx.state, out, sizeof out, frames, 8, 1514, &res)
                            : vsv_tx_pop(tx.state, out, sizeof out, frames, 8, 1514, &res);
        EXPECT(got == lists);
        for (int l = 0; l < got && l < lists; l++) {
            EXPECT(frames[l].total == 72u + (uint32_t)round);
            EXPECT(out[frames[l].off + 12] == (uint8_t)round);
        }
        if (round % 2 == 0)
            EXPECT(vsv_tx_done(tx.state, &res) == 0);
        EXPECT(res.error == 0 && res.frames == (uint32_t)got);
        uint32_t len;
        for (int l = 0; l < lists; l++)
            EXPECT(take_used(&tx, &len) == (round * 3 + stride * l) % 64);
        EXPECT(take_used(&tx, &len) == -1);
    }
    EXPECT(vsv_queue_broken(tx.state) == 0);
    free(tx.state);
}

static void receive(uint32_t features)
{
    struct q rx = {0};
    q_open(&rx, 0x10000, 8, features, 0, 1);
    const int mrg = (features & VSV_F_MRG_RXBUF) != 0;
    const uint32_t size = mrg ? 300 : 2048;
    for (uint16_t id = 0; id < 8; id++) {
        uint64_t a = BUF_A + 0x1000u * id;
        publish(&rx, id, 1, &a, &size, 0x2u, 0, -1, 0);
    }
    static uint8_t data[3 * 1000];
    uint32_t lens[3] = {1000, 1000, 1000};
    for (uint32_t i = 0; i < sizeof data; i++)
        data[i] = (uint8_t)(i * 7);
    struct vsv_small small[8];
    struct vsv_result res;
    for (int round = 0; round < 12; round++) {
        /* odd rounds: vsv_rx_repeat of the first frame only, as a traffic source sends */
        const int repeat = round % 2;
        int n = repeat ? vsv_rx_repeat(rx.state, data, lens, 1, 0, mrg ? 2 : 3, small, 8, &res)
                       : vsv_rx(rx.state, data, lens, mrg ? 2 : 3, small, 8, &res);
        EXPECT(n == (mrg ? 2 : 3) && res.error == 0);
        uint32_t len;
        int id;
        uint32_t total = 0, k = 0;
        while ((id = take_used(&rx, &len)) >= 0) {
            total += len;
            uint64_t a = BUF_A + 0x1000u * (uint32_t)id;
            if (!mrg) /* one buffer per frame: frame k's first byte after the header */
                EXPECT(len == 1012u && *host(a + 12, 1) == data[repeat ? 0 : 1000u * k]);
            k++;
            publish(&rx, (uint16_t)id, 1, &a, &size, 0x2u, 0, -1, 0);
        }
        EXPECT(total == (uint32_t)n * 1012u);
    }
    EXPECT(vsv_queue_broken(rx.state) == 0);
    free(rx.state);
}

/* -- hostile lists ---------------------------------------------------------------------- */

static void refused(uint64_t a1, uint32_t l1, uint16_t f1, uint64_t a2, uint32_t l2,
                    uint16_t f2, int indirect, int expect)
{
    struct q tx = {0};
    q_open(&tx, 0x10000, 8, VSV_F_INDIRECT, 0, 1);
    static uint8_t out[VSV_TX_CAP * 2];
    struct vsv_tx_frame frames[2];
    struct vsv_result res;
    uint64_t a[2] = {a1, a2};
    uint32_t n[2] = {l1, l2};
    publish(&tx, 1, 2, a, n, 0, indirect, 0, f1);
    put16(tx.desc + 16 + 14, (uint16_t)(get16(tx.desc + 16 + 14) | f2));
    EXPECT(vsv_tx_pop(tx.state, out, sizeof out, frames, 2, 1514, &res) == 0);
    EXPECT(vsv_tx_done(tx.state, &res) == 0 && res.error == -expect);
    EXPECT(vsv_queue_broken(tx.state) == -expect);
    uint32_t len;
    EXPECT(take_used(&tx, &len) == -1);
    free(tx.state);
}

static void garbage(void)
{
    struct q tx = {0};
    static uint8_t out[VSV_TX_CAP * 8];
    struct vsv_tx_frame frames[8];
    struct vsv_result res;
    for (int round = 0; round < 2000; round++) {
        if (round % 50 == 0)
            q_open(&tx, 0x10000, 8, VSV_F_INDIRECT | VSV_F_EVENT_IDX, 0, 1);
        for (uint32_t i = 0; i < 8; i++) {
            uint64_t at = tx.desc + 16u * i;
            uint64_t addr = rnd() % 4 == 0 ? (uint64_t)rnd() << 8 : 0x10000u + rnd() % 0x72000u;
            put64(at, addr);
            put32(at + 8, rnd() % 3 == 0 ? rnd() : rnd() % 0x200u);
            put16(at + 12, (uint16_t)(rnd() % 10));
            put16(at + 14, (uint16_t)rnd());
        }
        (void)vsv_tx_pop(tx.state, out, sizeof out, frames, 8, 1514, &res);
        (void)vsv_tx_done(tx.state, &res);
        (void)vsv_queue_waiting(tx.state);
        (void)vsv_queue_last_avail(tx.state);
    }
    free(tx.state);
}

int main(void)
{
    regions_open(0);
    transmit(0, 0, 0, 1, 1);
    transmit(VSV_F_INDIRECT | VSV_F_EVENT_IDX, 1, 0, 1, 1);
    transmit(0, 0, 5, 0, 1); /* started where a SET_VRING_BASE of the second lap put it */
    transmit(0, 0, 0, 1, 8); /* IDs >= Q sharing a home slot */
    receive(0);
    receive(VSV_F_MRG_RXBUF);
    refused(BUF_A + 0x100, 64, 0x2u, BUF_A, 12, 0, 0, VS_PE_READ_AFTER_WRITE); /* -084 */
    refused(HOLE, 64, 0, BUF_A, 12, 0, 0, VS_PE_OUTSIDE);                   /* -083 */
    refused(BUF_A, 12, 0, BUF_A + 0x100, 64, USED, 0, VS_PE_NOT_AVAIL);     /* -081 */
    refused(BUF_A, 12, 0x2u, BUF_A + 0x100, 64, 0, 1, VS_PE_READ_AFTER_WRITE);
    garbage();
    return regions_close("ring_vhost_packed_workload");
}
