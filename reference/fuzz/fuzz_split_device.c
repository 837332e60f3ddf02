/*
 * fuzz_split_device.c -- libFuzzer harness: ring.c's device side against a hostile driver.
 *
 * The input is the driver: a small header (queue size, features, where the ring lies, how
 * much data memory follows it, whether the driver races the device load by load), then a
 * sequence of operations -- write a descriptor, an indirect table, raw bytes, publish a head,
 * move avail.idx anywhere -- interleaved with the device's own pop, push, notification
 * decisions and resets. After every device operation the harness checks what must hold on
 * any input:
 *
 *  - every access inside guest memory and every store inside the used ring (fuzz_common.h);
 *  - a pop walks at most Q descriptors (+ the indirect one): at most 2 + 4 (Q + 1) loads;
 *  - a pop returns 0, 1, or one of the refusals RING-SPLIT-080, RING-SPLIT-081, RING-SPLIT-082, RING-SPLIT-083, RING-SPLIT-084, RING-SPLIT-092 names, and after a
 *    refusal the device needs a reset: everything returns -VS_E_NEEDS_RESET;
 *  - an accepted chain has a head < Q not already in flight, 1..Q segments, each inside
 *    guest memory, and the writable length the device records is theirs;
 *  - push accepts exactly the (head, len) the harness's own model says it must, and writes
 *    used.ring and used.idx as RING-SPLIT-040, RING-SPLIT-043 say.
 *
 * Build with -DVS_MUTANT=VS_M_<NAME> to fuzz a known-bad variant (tests/project/test_fuzz.py).
 */
#include "fuzz_common.h"

#include "ring.c"

#define FZ_STOPPED VS_E_NEEDS_RESET
#define FZ_NO_SPACE VS_E_NO_SPACE
#define FZ_INVALID VS_E_INVALID
#include "fuzz_device_model.h"

#define OP_COUNT 13

struct model {
    uint32_t q;
    uint64_t desc, avail, used, data, data_len;
    uint16_t avail_shadow; /* what the hostile driver thinks avail.idx is */
    uint16_t used_idx;
    uint8_t in_flight[VS_MAX_QUEUE_SIZE];
    uint64_t wlen[VS_MAX_QUEUE_SIZE];
};

static struct model m;

static const int refusals[] = {VS_E_AVAIL_JUMP, VS_E_INDEX, VS_E_LOOP, VS_E_TOO_LONG,
                                VS_E_INDIRECT, VS_E_OUTSIDE, VS_E_READ_AFTER_WRITE,
                                VS_E_IN_FLIGHT};

static uint64_t data_addr(void)
{
    return m.data + (m.data_len ? fz_u16() % (m.data_len + 1) : 0);
}

static void do_pop(struct vs_device *v, struct vs_segment *segs)
{
    uint16_t head = 0xFFFF, before = v->last_avail;
    uint32_t nr = 0, nw = 0, room = fz_pop_room(m.q);
    uint64_t wlen = 0;
    FZ_OP_BEGIN();
    int rc = vs_device_pop(v, &head, segs, room, &nr, &nw);
    FZ_CHECK(FZ_LOADS() <= 2 + 4 * ((uint64_t)m.q + 1), "pop made %llu loads (Q = %u)",
             (unsigned long long)FZ_LOADS(), m.q);
    bool known = fz_one_of(rc, refusals, FZ_LEN(refusals));
    if (!fz_pop_answer(rc, known, v->last_avail == before, v->broken != 0, room, m.q, segs, nr,
                       nw, &wlen))
        return;
    FZ_CHECK(head < m.q, "accepted head %u >= Q %u", head, m.q);
    FZ_CHECK(!m.in_flight[head], "accepted head %u already in flight", head);
    FZ_CHECK(v->last_avail == (uint16_t)(before + 1), "pop moved last_avail by %u",
             (uint16_t)(v->last_avail - before));
    FZ_CHECK(v->in_flight_len[head] == wlen, "recorded writable %llu, segments say %llu",
             (unsigned long long)v->in_flight_len[head], (unsigned long long)wlen);
    m.in_flight[head] = 1;
    m.wlen[head] = wlen;
}

/* Push a batch: heads in flight (valid) or anything (then the model decides). */
static void do_push(struct vs_device *v, bool wild)
{
    struct vs_used_elem el[8];
    uint32_t n = fz_u8() % 9, k = 0;
    bool valid = true;
    uint8_t seen[VS_MAX_QUEUE_SIZE / 8] = {0};
    for (uint32_t i = 0; i < n; i++) {
        if (wild) {
            el[k].id = fz_u16();
            el[k].len = fz_u32();
        } else {
            uint32_t h = fz_u16() % m.q, tries = 0;
            while (!m.in_flight[h] && tries++ < m.q)
                h = (h + 1) % m.q;
            if (!m.in_flight[h] || (seen[h / 8] & (1u << (h % 8))))
                continue;
            uint32_t len = fz_u32();
            el[k].id = h;
            el[k].len = (uint32_t)(m.wlen[h] ? len % (m.wlen[h] + 1) : 0);
        }
        uint32_t id = el[k].id;
        if (id >= m.q || !m.in_flight[id] || el[k].len > m.wlen[id] ||
            (seen[id / 8] & (1u << (id % 8))))
            valid = false;
        if (id < m.q)
            seen[id / 8] |= (uint8_t)(1u << (id % 8));
        k++;
    }
    uint16_t idx0 = v->used_idx;
    FZ_OP_BEGIN();
    if (!fz_push_answer(vs_device_push(v, el, k), valid)) {
        FZ_CHECK(v->used_idx == idx0, "a refused push moved used.idx");
        return;
    }
    for (uint32_t i = 0; i < k; i++) {
        uint64_t at = m.used + 4 + 8 * (uint64_t)((uint16_t)(idx0 + i) & (m.q - 1));
        FZ_CHECK(fz_peek(at, 4) == el[i].id && fz_peek(at + 4, 4) == el[i].len,
                 "used.ring[%u] is not the element pushed", (uint16_t)(idx0 + i));
        m.in_flight[el[i].id] = 0;
    }
    FZ_CHECK(fz_peek(m.used + 2, 2) == (uint16_t)(idx0 + k), "used.idx %llu after %u pushed",
             (unsigned long long)fz_peek(m.used + 2, 2), k);
}

static void reset_device(struct vs_device *v, size_t size, uint32_t features, uint16_t start)
{
    int rc = vs_device_create(v, size, fz_mem.base, fz_mem.size, m.q, m.desc, m.avail, m.used,
                              features, start);
    FZ_CHECK(rc == 0, "create failed: %d", rc);
    rc = vs_device_init(v);
    FZ_CHECK(rc == 0, "init failed: %d", rc);
    fz_refused = false;
    m.avail_shadow = start;
    m.used_idx = start;
    memset(m.in_flight, 0, m.q);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_begin(data, size);
    uint8_t b0 = fz_u8(), b1 = fz_u8();
    uint16_t start = fz_u16();
    uint32_t features = b1 & 3u;
    uint64_t end = fz_split_ring(b0, &m.q, &m.desc, &m.avail, &m.used);
    m.data = (end + 15) & ~(uint64_t)15;
    m.data_len = fz_u16() % 2048;
    fz_mem_open(m.data + m.data_len);
    fz_mem.race = (b1 & 4u) != 0;
    fz_own(m.used, m.used + 6 + 8u * (uint64_t)m.q); /* RING-SPLIT-040, -061 */
    size_t state = vs_device_state_size(m.q);
    struct vs_device *v = malloc(state);
    struct vs_segment *segs = malloc(sizeof *segs * m.q);
    FZ_CHECK(v != NULL && segs != NULL, "malloc");
    reset_device(v, state, features, start);

    for (unsigned steps = 0; fz_more() && steps < 4096; steps++) {
        FZ_OP_BEGIN();
        switch (fz_u8() % OP_COUNT) {
        case 0: { /* any descriptor, any fields (indices past Q write what follows) */
            uint32_t i = fz_u8() % (m.q + 4);
            uint64_t addr = fz_u64();
            uint32_t len = fz_u32();
            uint16_t flags = fz_u16(), next = fz_u16();
            fz_peer_desc(m.desc + 16u * (uint64_t)i, addr, len, flags, next);
            break;
        }
        case 1: { /* a plausible descriptor: a buffer in the data area, next inside Q */
            uint32_t i = fz_u8() % m.q;
            uint64_t addr = data_addr();
            uint32_t len = fz_u16();
            uint8_t flags = fz_u8() & 7u;
            fz_peer_desc(m.desc + 16u * (uint64_t)i, addr, len, flags, fz_u8() % m.q);
            break;
        }
        case 2: { /* publish a head below Q, or any head */
            uint8_t how = fz_u8();
            uint16_t head = (how & 1) ? fz_u16() : (uint16_t)(fz_u8() % m.q);
            fz_peer_put(m.avail + 4 + 2u * (m.avail_shadow & (m.q - 1)), head, 2);
            m.avail_shadow++;
            fz_peer_put(m.avail + 2, m.avail_shadow, 2);
            break;
        }
        case 3: /* avail.idx anywhere */
            m.avail_shadow = fz_u16();
            fz_peer_put(m.avail + 2, m.avail_shadow, 2);
            break;
        case 4: /* raw bytes anywhere, the used ring included */
            fz_peer_scribble();
            break;
        case 5:
        case 6:
            do_pop(v, segs);
            break;
        case 7:
            do_push(v, false);
            break;
        case 8:
            do_push(v, true);
            break;
        case 9:
            FZ_OP_BEGIN();
            fz_check_flag(vs_device_should_notify(v), "should_notify", FZ_STOPPED);
            break;
        case 10: {
            FZ_OP_BEGIN();
            bool on = fz_u8() & 1;
            fz_check_flag(on ? vs_device_enable_notify(v) : vs_device_disable_notify(v),
                          on ? "enable_notify" : "disable_notify", FZ_STOPPED);
            break;
        }
        case 11: { /* an indirect table in the data area, and a descriptor pointing at it */
            uint64_t table = data_addr() & ~(uint64_t)(fz_u8() & 1 ? 0 : 15);
            uint32_t n = fz_u8() % 9;
            for (uint32_t k = 0; k < n; k++) {
                uint64_t addr = data_addr();
                uint32_t len = fz_u16();
                uint8_t flags = fz_u8() & 7u;
                fz_peer_desc(table + 16u * k, addr, len, flags, fz_u8() % (n + 1));
            }
            uint32_t i = fz_u8() % m.q;
            uint32_t tlen = (fz_u8() & 1) ? 16u * n : fz_u16();
            fz_peer_desc(m.desc + 16u * (uint64_t)i, table, tlen,
                         VS_DESC_F_INDIRECT | (fz_u8() & 3u), 0);
            break;
        }
        case 12: /* the driver resets the device (RING-SPLIT-084): everything forgotten */
            reset_device(v, state, features, fz_u16());
            break;
        }
    }
    return fz_end(v, segs);
}
