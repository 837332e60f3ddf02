/*
 * fuzz_split_driver.c -- libFuzzer harness: ring.c's driver side against a hostile device.
 *
 * The input is the device: a header (queue size, features, start index, data memory), then
 * operations -- used elements with any id and len, used.idx anywhere, raw bytes anywhere,
 * avail_event and used.flags anything -- interleaved with the driver's own add, get_used,
 * kick and callback decisions, and a reset that detaches every buffer. What must hold on
 * any input:
 *
 *  - every access inside guest memory; stores only to the descriptor table, the avail ring
 *    and the indirect area (used.flags once, at init: RING-SPLIT-065);
 *  - get_used returns 0, 1 or -VS_E_USED (RING-SPLIT-085), then only -VS_E_NEEDS_RESET;
 *  - it hands back only the token of a chain the driver made available and has not taken
 *    back, once, with a len no larger than the chain's writable bytes;
 *  - add refuses only as the model says (FULL when no descriptor is free, CHAIN_DESCS
 *    beyond Q);
 *  - detach_unused returns exactly the tokens still outstanding (the driver returns every
 *    buffer it owns).
 *
 * Build with -DVS_MUTANT=VS_M_TRUST_USED_ID to fuzz a known-bad variant.
 */
#include "fuzz_common.h"

#include "ring.c"

#define OP_COUNT 10
#define MAX_TOKENS 8192

struct model {
    uint32_t q;
    uint64_t desc, avail, used, indirect, data, data_len;
    uint32_t indirect_max;
    bool broken;
    uint64_t next_token;
    uint8_t live[MAX_TOKENS];
    uint64_t writable[MAX_TOKENS];
    uint32_t descs[MAX_TOKENS]; /* ring descriptors each holds */
    uint32_t free_descs;
    uint16_t used_shadow;
};

static struct model m;

static void reset_driver(struct vs_driver *d, size_t size, uint32_t features, uint16_t start)
{
    int rc = vs_driver_create(d, size, fz_mem.base, fz_mem.size, m.q, m.desc, m.avail, m.used,
                              features, m.indirect, m.indirect_max, start);
    FZ_CHECK(rc == 0, "create failed: %d", rc);
    fz_own(m.used, m.used + 2); /* used.flags, at init only (RING-SPLIT-065) */
    rc = vs_driver_init(d);
    fz_mem.n_owned--;
    FZ_CHECK(rc == 0, "init failed: %d", rc);
    m.broken = false;
    memset(m.live, 0, sizeof m.live);
    m.free_descs = m.q;
    m.used_shadow = start;
}

static void check_flag_op(int rc, const char *what, bool may_fail)
{
    if (m.broken && may_fail)
        FZ_CHECK(rc == -VS_E_NEEDS_RESET, "%s after a refusal returned %d", what, rc);
    else
        FZ_CHECK(rc == 0 || rc == 1, "%s returned %d", what, rc);
}

static void do_add(struct vs_driver *d, bool indirect)
{
    struct vs_segment out[4], in[4];
    uint32_t n_out = fz_u8() % 5, n_in = fz_u8() % 5;
    uint64_t writable = 0;
    for (uint32_t k = 0; k < n_out + n_in; k++) {
        struct vs_segment *s = k < n_out ? &out[k] : &in[k - n_out];
        s->addr = m.data + (m.data_len ? fz_u16() % m.data_len : 0);
        s->len = 1 + fz_u8();
        if (k >= n_out)
            writable += s->len;
    }
    if (n_out + n_in == 0 || m.next_token >= MAX_TOKENS)
        return;
    uint64_t token = m.next_token;
    uint32_t n = n_out + n_in;
    uint32_t need = indirect && n > 1 && n <= m.indirect_max ? 1 : n;
    FZ_OP_BEGIN();
    int rc = vs_driver_add(d, out, n_out, in, n_in, token);
    FZ_CHECK(FZ_LOADS() == 0, "add loaded shared memory");
    if (m.broken) {
        FZ_CHECK(rc == -VS_E_NEEDS_RESET, "add after a refusal returned %d", rc);
        return;
    }
    if (n > m.q) {
        FZ_CHECK(rc == -VS_E_CHAIN_DESCS, "add of %u > Q descriptors returned %d", n, rc);
        return;
    }
    if (need > m.free_descs) {
        FZ_CHECK(rc == -VS_E_FULL, "add of %u descriptors with %u free returned %d", need,
                 m.free_descs, rc);
        return;
    }
    FZ_CHECK(rc >= 0 && (uint32_t)rc < m.q, "add returned %d", rc);
    m.next_token++;
    m.live[token] = 1;
    m.writable[token] = writable;
    m.descs[token] = need;
    m.free_descs -= need;
}

static void do_get_used(struct vs_driver *d)
{
    uint64_t token = UINT64_MAX;
    uint32_t len = 0;
    FZ_OP_BEGIN();
    int rc = vs_driver_get_used(d, &token, &len);
    FZ_CHECK(FZ_LOADS() <= 3, "get_used made %llu loads", (unsigned long long)FZ_LOADS());
    if (m.broken) {
        FZ_CHECK(rc == -VS_E_NEEDS_RESET, "get_used after a refusal returned %d", rc);
        return;
    }
    if (rc == -VS_E_USED) {
        FZ_CHECK(d->broken != 0, "refusal without needs-reset");
        m.broken = true;
        return;
    }
    FZ_CHECK(rc == 0 || rc == 1, "get_used returned %d", rc);
    if (rc == 0)
        return;
    FZ_CHECK(token < MAX_TOKENS && m.live[token],
             "get_used handed back token %llu, which the driver does not own",
             (unsigned long long)token);
    FZ_CHECK(len <= m.writable[token], "get_used len %u beyond the %llu writable bytes", len,
             (unsigned long long)m.writable[token]);
    m.live[token] = 0;
    m.free_descs += m.descs[token];
    FZ_CHECK(m.free_descs <= m.q, "more than Q descriptors free");
}

static void do_detach(struct vs_driver *d, size_t size, uint32_t features)
{
    static uint64_t tokens[VS_MAX_QUEUE_SIZE];
    int rc = vs_driver_detach_unused(d, tokens, m.q);
    FZ_CHECK(rc >= 0, "detach_unused returned %d", rc);
    uint32_t expect = 0;
    for (uint64_t t = 0; t < m.next_token; t++)
        expect += m.live[t];
    FZ_CHECK((uint32_t)rc == expect, "detach_unused returned %d buffers, %u outstanding", rc,
             expect);
    for (int i = 0; i < rc; i++) {
        FZ_CHECK(tokens[i] < MAX_TOKENS && m.live[tokens[i]],
                 "detach_unused returned token %llu it does not own",
                 (unsigned long long)tokens[i]);
        m.live[tokens[i]] = 0;
    }
    reset_driver(d, size, features, fz_u16());
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_input.p = data;
    fz_input.n = size;
    uint8_t b0 = fz_u8(), b1 = fz_u8();
    uint16_t start = fz_u16();
    m.q = 1u << (b0 % 6);
    uint32_t features = b1 & 3u;
    m.indirect_max = 1 + (b1 >> 4) % 4;
    m.desc = 16u * ((b0 >> 4) & 3u);
    m.avail = m.desc + 16u * m.q;
    m.used = (m.avail + 6 + 2u * m.q + 3) & ~(uint64_t)3;
    m.indirect = (m.used + 6 + 8u * m.q + 15) & ~(uint64_t)15;
    m.data = m.indirect + 16u * m.q * m.indirect_max;
    m.data_len = fz_u16() % 2048;
    fz_mem_open(m.data + m.data_len);
    fz_mem.race = (b1 & 4u) != 0;
    fz_own(m.desc, m.desc + 16u * (uint64_t)m.q);
    fz_own(m.avail, m.avail + 6 + 2u * (uint64_t)m.q); /* flags, idx, ring, used_event */
    fz_own(m.indirect, m.data);
    m.next_token = 0;
    size_t state = vs_driver_state_size(m.q);
    struct vs_driver *d = malloc(state);
    FZ_CHECK(d != NULL, "malloc");
    reset_driver(d, state, features, start);

    for (unsigned steps = 0; fz_more() && steps < 4096; steps++) {
        FZ_OP_BEGIN();
        switch (fz_u8() % OP_COUNT) {
        case 0:
        case 1:
            do_add(d, (features & VS_F_INDIRECT) != 0);
            break;
        case 2: { /* a used element: a head the driver gave, or anything */
            uint32_t slot = fz_u8() % m.q;
            uint8_t how = fz_u8();
            uint32_t id = (how & 1) ? fz_u32() : fz_u8() % m.q;
            uint32_t len = (how & 2) ? fz_u32() : fz_u8();
            fz_peer_put(m.used + 4 + 8u * slot, id, 4);
            fz_peer_put(m.used + 8 + 8u * slot, len, 4);
            break;
        }
        case 3: /* used.idx one further, or anywhere */
            m.used_shadow = (fz_u8() & 1) ? fz_u16() : (uint16_t)(m.used_shadow + 1);
            fz_peer_put(m.used + 2, m.used_shadow, 2);
            break;
        case 4: { /* raw bytes anywhere */
            uint64_t at = fz_u16() % (fz_mem.size + 1);
            uint8_t buf[16];
            uint32_t n = fz_u8() % 17;
            for (uint32_t i = 0; i < n; i++)
                buf[i] = fz_u8();
            fz_peer_write(at, buf, n);
            break;
        }
        case 5:
        case 6:
            do_get_used(d);
            break;
        case 7:
            FZ_OP_BEGIN();
            check_flag_op(vs_driver_kick_prepare(d), "kick_prepare", true);
            FZ_CHECK(FZ_LOADS() <= 1, "kick_prepare made %llu loads",
                     (unsigned long long)FZ_LOADS());
            break;
        case 8:
            switch (fz_u8() % 4) {
            case 0:
                check_flag_op(vs_driver_disable_cb(d), "disable_cb", true);
                break;
            case 1:
                check_flag_op(vs_driver_enable_cb(d), "enable_cb", true);
                break;
            case 2:
                check_flag_op(vs_driver_enable_cb_delayed(d), "enable_cb_delayed", true);
                break;
            default:
                check_flag_op(vs_driver_poll(d, fz_u16()), "poll", false);
                break;
            }
            break;
        case 9:
            do_detach(d, state, features);
            break;
        }
    }
    free(d);
    fz_mem_close();
    return 0;
}
