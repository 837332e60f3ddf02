/*
 * ring_packed_c_workload.c -- a workload for the sanitizer build of ring_packed.c
 * (tests/ring/test_ring_packed_c.py).
 *
 * 1. Driver and device of one queue in one thread: thousands of rounds across many wraps of
 *    the ring, Q from 1 to 256 (not only powers of 2), with and without DESC suppression and
 *    indirect tables, lists used out of order; every token, length and byte checked.
 * 2. Hostile lists and used descriptors that must be refused with the right code, and then
 *    every operation refused until the side is created again.
 * 3. Two threads, one per side, on real C11 atomics (the normal build of ring_access.h):
 *    the driver adds numbered buffers, the device checks each one's bytes, writes a reply
 *    and uses it; the driver checks every reply, in order, with both sides switching their
 *    notifications on and off.
 * Built with -fsanitize=address,undefined; any report or wrong result makes it exit
 * non-zero.
 */
#define _POSIX_C_SOURCE 200809L

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ring_packed.h"
#include "ring_workload.h"

#define SLOT 0x40u /* data bytes per buffer ID in the two-thread run */

struct pair {
    uint8_t *mem;
    struct vs_packed_driver *drv;
    struct vs_packed_device *dev;
    uint32_t q;
    uint64_t desc, driver_event, device_event;
};

static void pair_open(struct pair *p, uint32_t q, uint32_t features)
{
    p->q = q;
    p->mem = guest_open(); /* the driver zeroes the ring */
    p->desc = RING_AT;
    p->driver_event = RING_AT + 16u * q;
    p->device_event = p->driver_event + 4;
    size_t ds = vs_packed_driver_state_size(q), vs = vs_packed_device_state_size(q);
    EXPECT(ds > 0 && vs > 0);
    p->drv = state_block(ds);
    p->dev = state_block(vs);
    EXPECT(vs_packed_driver_create(p->drv, ds, p->mem, MEM_SIZE, q, p->desc, p->driver_event,
                                   p->device_event, features, INDIRECT_AT, 4) == 0);
    EXPECT(vs_packed_device_create(p->dev, vs, p->mem, MEM_SIZE, q, p->desc, p->driver_event,
                                   p->device_event, features) == 0);
    EXPECT(vs_packed_driver_init(p->drv) == 0);
    EXPECT(vs_packed_device_init(p->dev) == 0);
}

static void pair_close(struct pair *p)
{
    sides_close(p->drv, p->dev, p->mem);
}

static uint32_t rng_state = 12345;

static uint32_t rnd(uint32_t n)
{
    rng_state = rng_state * 1103515245u + 12345u;
    return (rng_state >> 8) % n;
}

/* Rounds of: add a batch of lists, kick decision, the device pops them all, checks and uses
 * them in a rotated order, notification decision, the driver takes them back in that order. */
static void traffic(uint32_t q, uint32_t features, int rounds)
{
    struct pair p;
    pair_open(&p, q, features);
    struct vs_segment segs[256], out[3], in[2];
    struct vs_used_elem used[256];
    uint64_t tokens[256], next_token = 1;
    uint32_t lens[256];
    for (int r = 0; r < rounds; r++) {
        uint32_t batch = 1 + rnd(q < 5 ? q : 5);
        uint32_t added = 0;
        for (uint32_t k = 0; k < batch; k++) {
            uint32_t n_in = 1 + rnd(2), n_out = rnd(4);
            if (n_in > q)
                n_in = q;
            if (n_out > q - n_in)
                n_out = q - n_in;
            if (n_out > 3)
                n_out = 3;
            for (uint32_t i = 0; i < n_out; i++)
                out[i] = (struct vs_segment){DATA_AT + 0x100u * i, 16};
            for (uint32_t i = 0; i < n_in; i++)
                in[i] = (struct vs_segment){DATA_AT + 0x1000u + 0x100u * i, 64};
            int id = vs_packed_driver_add(p.drv, out, n_out, in, n_in, next_token);
            if (id == -VS_PE_FULL)
                break;
            EXPECT(id >= 0 && (uint32_t)id < q);
            tokens[added++] = next_token++;
        }
        EXPECT(vs_packed_driver_kick_prepare(p.drv) >= 0);
        uint32_t n = 0;
        for (;;) {
            uint16_t id;
            uint32_t nr, nw;
            int rc = vs_packed_device_pop(p.dev, &id, segs, 256, &nr, &nw);
            EXPECT(rc >= 0);
            if (rc <= 0)
                break;
            EXPECT(nw >= 1 && nr <= 3);
            used[n].id = id;
            used[n].len = rnd(65);
            n++;
        }
        EXPECT(n == added);
        uint32_t rot = n ? rnd(n) : 0; /* out of order (RING-PACKED-011) */
        struct vs_used_elem order[256];
        uint64_t want[256];
        for (uint32_t i = 0; i < n; i++) {
            order[i] = used[(i + rot) % n];
            want[i] = tokens[(i + rot) % n];
            lens[i] = order[i].len;
        }
        EXPECT(vs_packed_device_push(p.dev, order, n) == 0);
        EXPECT(vs_packed_device_push(p.dev, order, n ? 1 : 0) == (n ? -VS_PE_INVALID : 0));
        EXPECT(vs_packed_device_should_notify(p.dev) >= 0);
        for (uint32_t i = 0; i < n; i++) {
            uint64_t token = 0;
            uint32_t len = 0;
            EXPECT(vs_packed_driver_get_used(p.drv, &token, &len) == 1);
            EXPECT(token == want[i] && len == lens[i]);
        }
        EXPECT(vs_packed_driver_get_used(p.drv, NULL, NULL) == 0);
        if (r % 7 == 0) {
            EXPECT(vs_packed_driver_disable_cb(p.drv) == 0);
            EXPECT(vs_packed_device_disable_notify(p.dev) == 0);
            EXPECT(vs_packed_driver_enable_cb(p.drv) == 0);
            EXPECT(vs_packed_driver_enable_cb_delayed(p.drv) == 0);
            EXPECT(vs_packed_device_enable_notify(p.dev) == 0);
        }
    }
    EXPECT(vs_packed_driver_num_free(p.drv) == q);
    uint64_t left[1];
    EXPECT(vs_packed_driver_detach_unused(p.drv, left, 1) == 0);
    pair_close(&p);
}

static void put_desc(struct pair *p, uint32_t pos, uint64_t addr, uint32_t len, uint16_t id,
                     uint16_t flags)
{
    desc_write(p->mem + p->desc + 16u * pos, addr, len, id, flags);
}

static void put_table(struct pair *p, uint32_t k, uint64_t addr, uint32_t len, uint16_t flags)
{
    uint8_t *d = p->mem + INDIRECT_AT + 16u * k;
    memcpy(d, &addr, 8);
    memcpy(d + 8, &len, 4);
    memcpy(d + 14, &flags, 2);
}

#define AV VS_PDESC_F_AVAIL /* available in the first lap (wrap bit 1) */

/* A hostile list at position 0: the device must refuse it with `want`, write nothing, then
 * refuse everything until created again. */
static void hostile(uint32_t features, int want, void (*write)(struct pair *))
{
    struct pair p;
    pair_open(&p, 4, features);
    write(&p);
    uint8_t *before = malloc(MEM_SIZE);
    memcpy(before, p.mem, MEM_SIZE);
    struct vs_segment segs[8];
    uint16_t id;
    uint32_t nr, nw;
    EXPECT(vs_packed_device_pop(p.dev, &id, segs, 8, &nr, &nw) == -want);
    EXPECT(memcmp(before, p.mem, MEM_SIZE) == 0);
    EXPECT(vs_packed_device_needs_reset(p.dev) == 1);
    EXPECT(vs_packed_device_pop(p.dev, &id, segs, 8, &nr, &nw) == -VS_PE_DEVICE_STOPPED);
    EXPECT(vs_packed_device_push(p.dev, NULL, 0) == -VS_PE_DEVICE_STOPPED);
    EXPECT(vs_packed_device_should_notify(p.dev) == -VS_PE_DEVICE_STOPPED);
    EXPECT(vs_packed_device_enable_notify(p.dev) == -VS_PE_DEVICE_STOPPED);
    EXPECT(vs_packed_device_disable_notify(p.dev) == -VS_PE_DEVICE_STOPPED);
    free(before);
    pair_close(&p);
}

static void w_too_long(struct pair *p) /* 5 descriptors in a queue of 4 (RING-PACKED-080) */
{
    for (uint32_t k = 0; k < 4; k++)
        put_desc(p, k, DATA_AT, 8, 0, (uint16_t)(AV | VS_DESC_F_NEXT));
}

static void w_not_avail(struct pair *p) /* the second descriptor not available (-081) */
{
    put_desc(p, 0, DATA_AT, 8, 0, AV | VS_DESC_F_NEXT);
    put_desc(p, 1, DATA_AT, 8, 0, VS_PDESC_F_USED);
}

static void w_indirect_off(struct pair *p) /* INDIRECT, not negotiated (-082) */
{
    put_desc(p, 0, INDIRECT_AT, 32, 0, AV | VS_DESC_F_INDIRECT);
}

static void w_indirect_next(struct pair *p) /* INDIRECT in a chained list (-082) */
{
    put_desc(p, 0, INDIRECT_AT, 32, 0, AV | VS_DESC_F_INDIRECT | VS_DESC_F_NEXT);
}

static void w_indirect_odd(struct pair *p) /* a table of 24 bytes (-082) */
{
    put_desc(p, 0, INDIRECT_AT, 24, 0, AV | VS_DESC_F_INDIRECT);
}

static void w_indirect_big(struct pair *p) /* a table of 5 entries, Q = 4 (-080) */
{
    put_desc(p, 0, INDIRECT_AT, 80, 0, AV | VS_DESC_F_INDIRECT);
}

static void w_indirect_outside(struct pair *p) /* a table past the end (-083) */
{
    put_desc(p, 0, MEM_SIZE - 16, 32, 0, AV | VS_DESC_F_INDIRECT);
}

static void w_table_entry_outside(struct pair *p) /* an entry's buffer overflows (-083) */
{
    put_table(p, 0, DATA_AT, 8, 0);
    put_table(p, 1, UINT64_MAX - 15, 64, VS_DESC_F_WRITE);
    put_desc(p, 0, INDIRECT_AT, 32, 0, AV | VS_DESC_F_INDIRECT);
}

static void w_outside(struct pair *p)
{
    put_desc(p, 0, MEM_SIZE - 8, 64, 0, AV | VS_DESC_F_WRITE);
}

static void w_rw(struct pair *p) /* readable after writable (-084) */
{
    put_desc(p, 0, DATA_AT, 8, 0, AV | VS_DESC_F_WRITE | VS_DESC_F_NEXT);
    put_desc(p, 1, DATA_AT, 8, 0, AV);
}

/* The device refuses a list with a buffer ID it already holds (RING-PACKED-085). */
static void id_in_use(void)
{
    struct pair p;
    pair_open(&p, 4, 0);
    struct vs_segment segs[4];
    uint16_t id;
    uint32_t nr, nw;
    put_desc(&p, 0, DATA_AT, 8, 3, AV);
    EXPECT(vs_packed_device_pop(p.dev, &id, segs, 4, &nr, &nw) == 1 && id == 3);
    put_desc(&p, 1, DATA_AT, 8, 3, AV);
    /* no room for the caller's segments: refused, nothing consumed, not the driver's fault */
    EXPECT(vs_packed_device_pop(p.dev, &id, segs, 0, &nr, &nw) == -VS_PE_NO_SPACE);
    EXPECT(vs_packed_device_needs_reset(p.dev) == 0);
    EXPECT(vs_packed_device_pop(p.dev, &id, segs, 4, &nr, &nw) == -VS_PE_ID_IN_USE);
    EXPECT(vs_packed_device_needs_reset(p.dev) == 1);
    pair_close(&p);
}

/* The driver refuses used descriptors that name no outstanding list or claim more bytes than
 * it gave (RING-PACKED-086), frees nothing, and stops. */
static void hostile_used(uint16_t id, uint32_t len)
{
    struct pair p;
    pair_open(&p, 4, 0);
    struct vs_segment in = {DATA_AT, 16};
    EXPECT(vs_packed_driver_add(p.drv, NULL, 0, &in, 1, 7) == 0);
    put_desc(&p, 0, 0, len, id, VS_PDESC_F_AVAIL | VS_PDESC_F_USED | VS_DESC_F_WRITE);
    uint64_t token = 0;
    uint32_t got = 0;
    EXPECT(vs_packed_driver_get_used(p.drv, &token, &got) == -VS_PE_USED);
    EXPECT(vs_packed_driver_num_free(p.drv) == 3);
    EXPECT(vs_packed_driver_get_used(p.drv, &token, &got) == -VS_PE_DRIVER_STOPPED);
    EXPECT(vs_packed_driver_add(p.drv, NULL, 0, &in, 1, 8) == -VS_PE_DRIVER_STOPPED);
    EXPECT(vs_packed_driver_kick_prepare(p.drv) == -VS_PE_DRIVER_STOPPED);
    EXPECT(vs_packed_driver_enable_cb(p.drv) == -VS_PE_DRIVER_STOPPED);
    EXPECT(vs_packed_driver_disable_cb(p.drv) == -VS_PE_DRIVER_STOPPED);
    uint64_t tokens[4];
    EXPECT(vs_packed_driver_detach_unused(p.drv, tokens, 4) == 1 && tokens[0] == 7);
    pair_close(&p);
}

static void bad_arguments(void)
{
    struct pair p;
    pair_open(&p, 3, 0);
    struct vs_segment nine[9];
    for (int i = 0; i < 9; i++)
        nine[i] = (struct vs_segment){DATA_AT, 1};
    EXPECT(vs_packed_driver_add(p.drv, nine, 4, NULL, 0, 1) == -VS_PE_LIST_DESCS);
    EXPECT(vs_packed_driver_add(p.drv, NULL, 0, NULL, 0, 1) == -VS_PE_INVALID);
    nine[0].len = (uint64_t)1 << 32;
    EXPECT(vs_packed_driver_add(p.drv, nine, 1, NULL, 0, 1) == -VS_PE_INVALID);
    struct vs_used_elem bogus = {0, 0};
    EXPECT(vs_packed_device_push(p.dev, &bogus, 1) == -VS_PE_INVALID);
    uint64_t big[1];
    EXPECT(vs_packed_driver_detach_unused(p.drv, big, 0) == 0);
    pair_close(&p);
    _Alignas(8) uint8_t state[8];
    EXPECT(vs_packed_driver_state_size(0) == 0 && vs_packed_driver_state_size(32769) == 0);
    EXPECT(vs_packed_device_state_size(3) > 0);
    EXPECT(vs_packed_device_create((struct vs_packed_device *)(void *)state, sizeof state,
                                   NULL, MEM_SIZE, 3, RING_AT, 0, 4, 0) == -VS_PE_INVALID);
}

/* -- two threads on real atomics --------------------------------------------------------- */

#define THREAD_BUFFERS 100000u

struct shared {
    struct pair p;
    atomic_int device_done;
    int device_failures;
};

static uint64_t get64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

static void *device_thread(void *arg)
{
    struct shared *s = arg;
    struct vs_packed_device *dev = s->p.dev;
    struct vs_segment segs[4];
    uint32_t served = 0, idle = 0;
    while (served < THREAD_BUFFERS) {
        uint16_t id;
        uint32_t nr, nw;
        int rc = vs_packed_device_pop(dev, &id, segs, 4, &nr, &nw);
        if (rc < 0) {
            s->device_failures++;
            break;
        }
        if (rc == 0) {
            if (++idle % 64 == 0) {
                vs_packed_device_enable_notify(dev); /* as if about to sleep: re-check */
                sched_yield();
            }
            continue;
        }
        if (idle >= 64)
            vs_packed_device_disable_notify(dev);
        idle = 0;
        /* the driver wrote the buffer's number before making it available */
        if (nr != 1 || nw != 1 || segs[0].len != 8 || segs[1].len != 8 ||
            get64(s->p.mem + segs[0].addr) != served) {
            s->device_failures++;
            break;
        }
        uint64_t reply = ~(uint64_t)served;
        memcpy(s->p.mem + segs[1].addr, &reply, 8);
        struct vs_used_elem u = {id, 8};
        if (vs_packed_device_push(dev, &u, 1) != 0 || vs_packed_device_should_notify(dev) < 0) {
            s->device_failures++;
            break;
        }
        served++;
    }
    atomic_store(&s->device_done, 1);
    return NULL;
}

static void two_threads(uint32_t q, uint32_t features)
{
    struct shared s;
    pair_open(&s.p, q, features);
    atomic_init(&s.device_done, 0);
    s.device_failures = 0;
    pthread_t t;
    EXPECT(pthread_create(&t, NULL, device_thread, &s) == 0);
    struct vs_packed_driver *drv = s.p.drv;
    uint32_t sent = 0, back = 0;
    while (back < THREAD_BUFFERS) {
        if (atomic_load(&s.device_done) && s.device_failures)
            break; /* the device stopped early: its failure is reported below */
        bool progress = false;
        while (sent < THREAD_BUFFERS && vs_packed_driver_num_free(drv) > 0) {
            uint64_t slot = DATA_AT + SLOT * (sent % 1024u);
            uint64_t number = sent;
            memcpy(s.p.mem + slot, &number, 8);
            struct vs_segment out = {slot, 8}, in = {slot + 8, 8};
            int id = vs_packed_driver_add(drv, &out, 1, &in, 1, sent);
            if (id == -VS_PE_FULL)
                break;
            EXPECT(id >= 0);
            if (id < 0)
                goto out;
            sent++;
            progress = true;
        }
        EXPECT(vs_packed_driver_kick_prepare(drv) >= 0);
        for (;;) {
            uint64_t token;
            uint32_t len;
            int rc = vs_packed_driver_get_used(drv, &token, &len);
            EXPECT(rc >= 0);
            if (rc <= 0)
                break;
            /* in order (one device, using lists as it pops them), with its reply */
            uint64_t slot = DATA_AT + SLOT * (token % 1024u);
            EXPECT(token == back && len == 8 && get64(s.p.mem + slot + 8) == ~token);
            back++;
            progress = true;
        }
        if (!progress) {
            if (vs_packed_driver_enable_cb(drv) == 0) /* as if about to sleep: re-check */
                sched_yield();
            vs_packed_driver_disable_cb(drv);
        }
    }
out:
    pthread_join(t, NULL);
    EXPECT(s.device_failures == 0);
    EXPECT(back == THREAD_BUFFERS);
    EXPECT(vs_packed_driver_num_free(drv) == q);
    printf("two threads, Q=%u: %u buffers\n", q, back);
    pair_close(&s.p);
}

int main(void)
{
    static const uint32_t sizes[] = {1, 2, 3, 4, 5, 7, 8, 16, 255, 256};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        uint32_t q = sizes[i];
        traffic(q, 0, 800);
        traffic(q, VS_F_EVENT_IDX, 800);
        traffic(q, VS_F_INDIRECT, 400);
        traffic(q, VS_F_EVENT_IDX | VS_F_INDIRECT, 400);
    }
    hostile(0, VS_PE_TOO_LONG, w_too_long);
    hostile(0, VS_PE_NOT_AVAIL, w_not_avail);
    hostile(0, VS_PE_INDIRECT, w_indirect_off);
    hostile(VS_F_INDIRECT, VS_PE_INDIRECT, w_indirect_next);
    hostile(VS_F_INDIRECT, VS_PE_INDIRECT, w_indirect_odd);
    hostile(VS_F_INDIRECT, VS_PE_TOO_LONG, w_indirect_big);
    hostile(VS_F_INDIRECT, VS_PE_OUTSIDE, w_indirect_outside);
    hostile(VS_F_INDIRECT, VS_PE_OUTSIDE, w_table_entry_outside);
    hostile(0, VS_PE_OUTSIDE, w_outside);
    hostile(0, VS_PE_READ_AFTER_WRITE, w_rw);
    id_in_use();
    hostile_used(2, 0);      /* not outstanding */
    hostile_used(4096, 0);   /* beyond Q */
    hostile_used(0, 17);     /* more than the 16 writable bytes */
    bad_arguments();
    two_threads(8, VS_F_EVENT_IDX);
    two_threads(3, 0);
    two_threads(4, VS_F_INDIRECT);
    return expect_verdict("ring_packed_c_workload");
}
