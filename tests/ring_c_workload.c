/*
 * ring_c_workload.c -- a workload for the sanitizer build of ring.c (tests/ring/test_ring_c.py).
 *
 * Driver and device of one queue in one thread, through the public ABI
 * (conformance/ring/virtiospec_ring.h): thousands of rounds across the 16-bit index wrap, with
 * and without EVENT_IDX and indirect tables, then hostile chains and used elements that
 * must be refused. Built with -fsanitize=address,undefined; any report or wrong result
 * makes it exit non-zero.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ring_workload.h"
#include "virtiospec_ring.h"

struct pair {
    uint8_t *mem;
    void *drv, *dev;
    struct virtiospec_ring_config cfg;
};

static uint64_t align(uint64_t x, uint64_t a)
{
    return (x + a - 1) & ~(a - 1);
}

static void pair_open(struct pair *p, uint32_t q, uint32_t features, uint16_t start)
{
    p->mem = guest_open();
    memset(&p->cfg, 0, sizeof p->cfg);
    p->cfg.queue_size = q;
    p->cfg.features = features;
    p->cfg.desc = RING_AT;
    p->cfg.avail = p->cfg.desc + 16u * q;
    p->cfg.used = align(p->cfg.avail + 6u + 2u * q, 4);
    p->cfg.indirect_area = INDIRECT_AT;
    p->cfg.indirect_max = 4;
    p->cfg.start_index = start;
    size_t ds = virtiospec_ring_driver_state_size(q), vs = virtiospec_ring_device_state_size(q);
    EXPECT(ds > 0 && vs > 0);
    p->drv = state_block(ds);
    p->dev = state_block(vs);
    EXPECT(virtiospec_ring_driver_create(p->drv, ds, p->mem, MEM_SIZE, &p->cfg) == 0);
    EXPECT(virtiospec_ring_device_create(p->dev, vs, p->mem, MEM_SIZE, &p->cfg) == 0);
    EXPECT(virtiospec_ring_driver_init(p->drv) == 0);
    EXPECT(virtiospec_ring_device_init(p->dev) == 0);
}

static void pair_close(struct pair *p)
{
    sides_close(p->drv, p->dev, p->mem);
}

/* Rounds of: add a batch, kick decision, device pops all and pushes them back in reverse,
 * notification decision, driver takes them all back with the right tokens and lens. */
static void traffic(uint32_t q, uint32_t features, uint16_t start, int rounds)
{
    struct pair p;
    pair_open(&p, q, features, start);
    struct virtiospec_ring_segment segs[64], out[3], in[2];
    struct virtiospec_ring_used_elem used[64];
    uint64_t next_token = 1;
    for (int r = 0; r < rounds; r++) {
        uint32_t batch = 1 + (uint32_t)r % (q < 4 ? q : 4);
        uint64_t tokens[64];
        uint32_t added = 0;
        for (uint32_t k = 0; k < batch; k++) {
            uint32_t n_in = q > 1 ? 1 + (uint32_t)(r + k) % 2 : 1;
            uint32_t n_out = (uint32_t)(r + k) % 3 % (q - n_in + 1);
            for (uint32_t i = 0; i < n_out; i++)
                out[i] = (struct virtiospec_ring_segment){DATA_AT + 0x100u * i, 16};
            for (uint32_t i = 0; i < n_in; i++)
                in[i] = (struct virtiospec_ring_segment){DATA_AT + 0x1000u + 0x100u * i, 64};
            int head = virtiospec_ring_driver_add(p.drv, out, n_out, in, n_in, next_token);
            if (head == -VIRTIOSPEC_RING_E_FULL)
                break;
            EXPECT(head >= 0 && (uint32_t)head < q);
            tokens[added++] = next_token++;
        }
        EXPECT(virtiospec_ring_driver_kick_prepare(p.drv) >= 0);
        uint32_t n = 0;
        for (;;) {
            uint16_t head;
            uint32_t nr, nw;
            int rc = virtiospec_ring_device_pop(p.dev, &head, segs, 64, &nr, &nw);
            EXPECT(rc >= 0);
            if (rc <= 0)
                break;
            EXPECT(nw >= 1);
            used[n].id = head;
            used[n].len = (uint32_t)(r % 65);
            n++;
        }
        EXPECT(n == added);
        for (uint32_t i = 0; i < n / 2; i++) {
            struct virtiospec_ring_used_elem t = used[i];
            used[i] = used[n - 1 - i];
            used[n - 1 - i] = t;
        }
        EXPECT(virtiospec_ring_device_push(p.dev, used, n) == 0);
        EXPECT(virtiospec_ring_device_should_notify(p.dev) >= 0);
        for (uint32_t i = 0; i < n; i++) {
            uint64_t token = 0;
            uint32_t len = 0;
            EXPECT(virtiospec_ring_driver_get_used(p.drv, &token, &len) == 1);
            EXPECT(token == tokens[added - 1 - i] && len == (uint32_t)(r % 65));
        }
        EXPECT(virtiospec_ring_driver_get_used(p.drv, NULL, NULL) == 0);
        if (r % 7 == 0) {
            EXPECT(virtiospec_ring_driver_disable_cb(p.drv) == 0);
            EXPECT(virtiospec_ring_device_disable_notify(p.dev) == 0);
            EXPECT(virtiospec_ring_driver_enable_cb(p.drv) == 0);
            EXPECT(virtiospec_ring_driver_enable_cb_delayed(p.drv) == 0);
            EXPECT(virtiospec_ring_device_enable_notify(p.dev) == 0);
        }
    }
    EXPECT(virtiospec_ring_driver_num_free(p.drv) == (int)q);
    uint64_t left[1];
    EXPECT(virtiospec_ring_driver_detach_unused(p.drv, left, 1) == 0);
    pair_close(&p);
}

static void put_desc(struct pair *p, uint64_t table, uint32_t i, uint64_t addr, uint32_t len,
                     uint16_t flags, uint16_t next)
{
    desc_write(p->mem + table + 16u * i, addr, len, flags, next);
}

static void publish(struct pair *p, uint16_t head, uint16_t idx)
{
    memcpy(p->mem + p->cfg.avail + 4, &head, 2);
    memcpy(p->mem + p->cfg.avail + 2, &idx, 2);
}

/* A hostile driver's writes: descriptors (in the ring's table or an indirect one), then head
 * at avail.ring[0] and avail.idx. */
struct hostile_write {
    const char *name;
    uint32_t features;
    int want; /* the refusal */
    uint16_t head, idx;
    uint32_t n;
    struct {
        uint64_t table, addr;
        uint32_t i, len;
        uint16_t flags, next;
    } d[7];
};

#define F_IND VIRTIOSPEC_RING_F_INDIRECT

static const struct hostile_write HOSTILE[] = {
    {"loop", 0, VIRTIOSPEC_RING_E_LOOP, 0, 1, 2,
     {{RING_AT, DATA_AT, 0, 8, 1, 1}, {RING_AT, DATA_AT, 1, 8, 1, 0}}},
    {"head", 0, VIRTIOSPEC_RING_E_INDEX, 8, 1, 0, {{0}}},
    {"next", 0, VIRTIOSPEC_RING_E_INDEX, 0, 1, 1, {{RING_AT, DATA_AT, 0, 8, 1, 9}}},
    {"outside", 0, VIRTIOSPEC_RING_E_OUTSIDE, 0, 1, 1, {{RING_AT, MEM_SIZE - 8, 0, 64, 2, 0}}},
    {"overflow", 0, VIRTIOSPEC_RING_E_OUTSIDE, 0, 1, 1,
     {{RING_AT, UINT64_MAX - 15, 0, 64, 2, 0}}},
    /* a valid table at an odd address: refused only without INDIRECT (odd_indirect_is_fine) */
    {"indirect_odd", 0, VIRTIOSPEC_RING_E_INDIRECT, 0, 1, 2,
     {{INDIRECT_AT + 3, DATA_AT, 0, 8, 0, 0}, {RING_AT, INDIRECT_AT + 3, 0, 16, 4, 0}}},
    {"indirect_nested", F_IND, VIRTIOSPEC_RING_E_INDIRECT, 0, 1, 2,
     {{INDIRECT_AT, INDIRECT_AT, 0, 16, 4, 0}, {RING_AT, INDIRECT_AT, 0, 16, 4, 0}}},
    {"indirect_outside", F_IND, VIRTIOSPEC_RING_E_OUTSIDE, 0, 1, 1,
     {{RING_AT, MEM_SIZE - 16, 0, 32, 4, 0}}},
    {"too_long", F_IND, VIRTIOSPEC_RING_E_TOO_LONG, 0, 1, 7,
     {{RING_AT, DATA_AT, 0, 8, 1, 1}, {RING_AT, DATA_AT, 1, 8, 1, 2},
      {RING_AT, DATA_AT, 2, 8, 1, 3}, {RING_AT, DATA_AT, 3, 8, 1, 4},
      {RING_AT, DATA_AT, 4, 8, 1, 5}, {RING_AT, DATA_AT, 5, 8, 1, 6},
      {RING_AT, INDIRECT_AT, 6, 64, 4, 0}}},
    {"read_after_write", 0, VIRTIOSPEC_RING_E_READ_AFTER_WRITE, 0, 1, 2,
     {{RING_AT, DATA_AT, 0, 8, 3, 1}, {RING_AT, DATA_AT, 1, 8, 0, 0}}},
    {"jump", 0, VIRTIOSPEC_RING_E_AVAIL_JUMP, 0, 9, 0, {{0}}},
};

static void hostile_write(struct pair *p, const struct hostile_write *w)
{
    for (uint32_t k = 0; k < w->n; k++)
        put_desc(p, w->d[k].table, w->d[k].i, w->d[k].addr, w->d[k].len, w->d[k].flags,
                 w->d[k].next);
    publish(p, w->head, w->idx);
}

/* One hostile chain at head 0: the device must refuse it with `want`, then need a reset. */
static void hostile(const struct hostile_write *w)
{
    struct pair p;
    pair_open(&p, 8, w->features, 0);
    hostile_write(&p, w);
    struct virtiospec_ring_segment segs[8];
    uint16_t head;
    uint32_t nr, nw;
    int rc = virtiospec_ring_device_pop(p.dev, &head, segs, 8, &nr, &nw);
    EXPECT(rc == -w->want);
    if (rc != -w->want)
        fprintf(stderr, "hostile %s: pop returned %d\n", w->name, rc);
    EXPECT(virtiospec_ring_device_needs_reset(p.dev) == -w->want);
    EXPECT(virtiospec_ring_device_pop(p.dev, &head, segs, 8, &nr, &nw) ==
           -VIRTIOSPEC_RING_E_NEEDS_RESET);
    pair_close(&p);
}

static void odd_indirect_is_fine(void)
{
    struct pair p;
    pair_open(&p, 8, VIRTIOSPEC_RING_F_INDIRECT, 0);
    hostile_write(&p, &HOSTILE[5]); /* indirect_odd, with INDIRECT */
    struct virtiospec_ring_segment segs[8];
    uint16_t head;
    uint32_t nr = 0, nw = 0;
    EXPECT(virtiospec_ring_device_pop(p.dev, &head, segs, 8, &nr, &nw) == 1);
    EXPECT(head == 0 && nr == 1 && nw == 0 && segs[0].addr == DATA_AT && segs[0].len == 8);
    pair_close(&p);
}

static void hostile_device(void)
{
    struct pair p;
    pair_open(&p, 8, 0, 0);
    struct virtiospec_ring_segment in = {DATA_AT, 16};
    EXPECT(virtiospec_ring_driver_add(p.drv, NULL, 0, &in, 1, 42) == 0);
    uint32_t id = 4096, len = 0;
    uint16_t idx = 1;
    memcpy(p.mem + p.cfg.used + 4, &id, 4);
    memcpy(p.mem + p.cfg.used + 8, &len, 4);
    memcpy(p.mem + p.cfg.used + 2, &idx, 2);
    EXPECT(virtiospec_ring_driver_get_used(p.drv, NULL, NULL) == -VIRTIOSPEC_RING_E_USED);
    /* ABI version 2: a STOPPED driver answers -NEEDS_RESET, and names what stopped it */
    EXPECT(virtiospec_ring_driver_num_free(p.drv) == -VIRTIOSPEC_RING_E_NEEDS_RESET);
    EXPECT(virtiospec_ring_driver_needs_reset(p.drv) == -VIRTIOSPEC_RING_E_USED);
    EXPECT(virtiospec_ring_driver_add(p.drv, NULL, 0, &in, 1, 43) ==
           -VIRTIOSPEC_RING_E_NEEDS_RESET);
    uint64_t tokens[8];
    EXPECT(virtiospec_ring_driver_detach_unused(p.drv, tokens, 8) == 1 && tokens[0] == 42);
    pair_close(&p);
}

static void bad_arguments(void)
{
    struct pair p;
    pair_open(&p, 8, 0, 0);
    struct virtiospec_ring_config cfg = p.cfg;
    uint64_t state[64];
    cfg.queue_size = 6;
    EXPECT(virtiospec_ring_device_create(state, sizeof state, p.mem, MEM_SIZE, &cfg) ==
           -VIRTIOSPEC_RING_E_QUEUE_SIZE);
    cfg = p.cfg;
    cfg.used += 2;
    EXPECT(virtiospec_ring_device_create(state, sizeof state, p.mem, MEM_SIZE, &cfg) ==
           -VIRTIOSPEC_RING_E_PLACEMENT);
    cfg = p.cfg;
    EXPECT(virtiospec_ring_device_create(state, 8, p.mem, MEM_SIZE, &cfg) ==
           -VIRTIOSPEC_RING_E_INVALID);
    struct virtiospec_ring_segment big = {0, (uint64_t)1 << 32};
    EXPECT(virtiospec_ring_driver_add(p.drv, &big, 1, NULL, 0, 1) ==
           -VIRTIOSPEC_RING_E_CHAIN_BYTES);
    struct virtiospec_ring_segment nine[9];
    for (int i = 0; i < 9; i++)
        nine[i] = (struct virtiospec_ring_segment){DATA_AT, 1};
    EXPECT(virtiospec_ring_driver_add(p.drv, nine, 9, NULL, 0, 1) ==
           -VIRTIOSPEC_RING_E_CHAIN_DESCS);
    struct virtiospec_ring_used_elem bogus = {3, 0};
    EXPECT(virtiospec_ring_device_push(p.dev, &bogus, 1) == -VIRTIOSPEC_RING_E_INVALID);
    pair_close(&p);
}

int main(void)
{
    EXPECT(virtiospec_ring_abi_version() == VIRTIOSPEC_RING_ABI_VERSION);
    EXPECT(virtiospec_ring_driver_state_size(3) == 0);
    for (uint32_t q = 1; q <= 256; q *= 4) {
        traffic(q, 0, 65500, 600);
        traffic(q, VIRTIOSPEC_RING_F_EVENT_IDX, 65500, 600);
        traffic(q, VIRTIOSPEC_RING_F_INDIRECT, 0, 300);
        traffic(q, VIRTIOSPEC_RING_F_EVENT_IDX | VIRTIOSPEC_RING_F_INDIRECT, 65535, 300);
    }
    for (size_t k = 0; k < sizeof HOSTILE / sizeof HOSTILE[0]; k++)
        hostile(&HOSTILE[k]);
    odd_indirect_is_fine();
    hostile_device();
    bad_arguments();
    return expect_verdict("ring_c_workload");
}
