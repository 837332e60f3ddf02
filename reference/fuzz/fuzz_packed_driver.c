/*
 * fuzz_packed_driver.c -- libFuzzer harness: ring_packed.c's driver side against a hostile
 * device.
 *
 * The input is the device: a header (queue size 1..64, features, data memory, racing or
 * not), then operations -- used descriptors at any position with any ID, len and marks,
 * the device event structure, raw bytes -- interleaved with the driver's add, get_used,
 * kick and callback decisions, and a reset that detaches every buffer. What must hold:
 *
 *  - every access inside guest memory; stores only to the ring, the driver event structure
 *    and the indirect area (the device event structure once, zeroed at init);
 *  - get_used makes at most 3 loads and returns 0, 1 or -VS_PE_USED (RING-PACKED-086), then
 *    only -VS_PE_DRIVER_STOPPED;
 *  - it hands back only a token the driver made available and has not taken back, once,
 *    with a len no larger than the list's writable bytes;
 *  - add refuses only as the model says; detach_unused returns exactly the outstanding
 *    tokens.
 *
 * Build with -DVS_PACKED_MUTANT=VS_PM_DRIVER_TRUSTS_USED_ID to fuzz a known-bad variant.
 */
#include "fuzz_common.h"

#include "ring_packed.c"

#define OP_COUNT 10
#define MAX_Q 64
#define MAX_TOKENS 8192

struct model {
    uint32_t q;
    uint64_t desc, drv_event, dev_event, indirect, data, data_len;
    uint32_t indirect_max;
    bool broken;
    uint64_t next_token;
    uint8_t live[MAX_TOKENS];
    uint64_t writable[MAX_TOKENS];
    uint32_t descs[MAX_TOKENS];
    uint32_t free_descs, free_ids;
};

static struct model m;

static void reset_driver(struct vs_packed_driver *d, size_t size, uint32_t features)
{
    int rc = vs_packed_driver_create(d, size, fz_mem.base, fz_mem.size, m.q, m.desc,
                                     m.drv_event, m.dev_event, features, m.indirect,
                                     m.indirect_max);
    FZ_CHECK(rc == 0, "create failed: %d", rc);
    fz_own(m.dev_event, m.dev_event + 4); /* zeroed at init only (RING-PACKED-004) */
    rc = vs_packed_driver_init(d);
    fz_mem.n_owned--;
    FZ_CHECK(rc == 0, "init failed: %d", rc);
    m.broken = false;
    memset(m.live, 0, sizeof m.live);
    m.free_descs = m.q;
    m.free_ids = m.q;
}

static void check_flag_op(int rc, const char *what)
{
    if (m.broken)
        FZ_CHECK(rc == -VS_PE_DRIVER_STOPPED, "%s after a refusal returned %d", what, rc);
    else
        FZ_CHECK(rc == 0 || rc == 1, "%s returned %d", what, rc);
}

static void do_add(struct vs_packed_driver *d, bool indirect)
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
    int rc = vs_packed_driver_add(d, out, n_out, in, n_in, token);
    FZ_CHECK(FZ_LOADS() == 0, "add loaded shared memory");
    if (m.broken) {
        FZ_CHECK(rc == -VS_PE_DRIVER_STOPPED, "add after a refusal returned %d", rc);
        return;
    }
    if (n > m.q) {
        FZ_CHECK(rc == -VS_PE_LIST_DESCS, "add of %u > Q descriptors returned %d", n, rc);
        return;
    }
    if (need > m.free_descs || m.free_ids == 0) {
        FZ_CHECK(rc == -VS_PE_FULL, "add of %u descriptors with %u free returned %d", need,
                 m.free_descs, rc);
        return;
    }
    FZ_CHECK(rc >= 0 && (uint32_t)rc < m.q, "add returned %d", rc);
    m.next_token++;
    m.live[token] = 1;
    m.writable[token] = writable;
    m.descs[token] = need;
    m.free_descs -= need;
    m.free_ids--;
}

static void do_get_used(struct vs_packed_driver *d)
{
    uint64_t token = UINT64_MAX;
    uint32_t len = 0;
    FZ_OP_BEGIN();
    int rc = vs_packed_driver_get_used(d, &token, &len);
    FZ_CHECK(FZ_LOADS() <= 3, "get_used made %llu loads", (unsigned long long)FZ_LOADS());
    if (m.broken) {
        FZ_CHECK(rc == -VS_PE_DRIVER_STOPPED, "get_used after a refusal returned %d", rc);
        return;
    }
    if (rc == -VS_PE_USED) {
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
    m.free_ids++;
    FZ_CHECK(m.free_descs <= m.q && d->free_descs == m.free_descs,
             "driver counts %u free descriptors, the model %u (Q %u)", d->free_descs,
             m.free_descs, m.q);
}

static void do_detach(struct vs_packed_driver *d, size_t size, uint32_t features)
{
    static uint64_t tokens[MAX_Q];
    int rc = vs_packed_driver_detach_unused(d, tokens, m.q);
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
    reset_driver(d, size, features);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_input.p = data;
    fz_input.n = size;
    uint8_t b0 = fz_u8(), b1 = fz_u8();
    m.q = 1 + b0 % MAX_Q;
    uint32_t features = b1 & 3u;
    m.indirect_max = 1 + (b1 >> 4) % 4;
    m.desc = 16u * ((b1 >> 6) & 3u);
    m.drv_event = m.desc + 16u * m.q;
    m.dev_event = m.drv_event + 4;
    m.indirect = (m.dev_event + 4 + 15) & ~(uint64_t)15;
    m.data = m.indirect + 16u * m.q * m.indirect_max;
    m.data_len = fz_u16() % 2048;
    fz_mem_open(m.data + m.data_len);
    fz_mem.race = (b1 & 4u) != 0;
    fz_own(m.desc, m.desc + 16u * (uint64_t)m.q);
    fz_own(m.drv_event, m.drv_event + 4);
    fz_own(m.indirect, m.data);
    m.next_token = 0;
    size_t state = vs_packed_driver_state_size(m.q);
    struct vs_packed_driver *d = malloc(state);
    FZ_CHECK(d != NULL, "malloc");
    reset_driver(d, state, features);

    for (unsigned steps = 0; fz_more() && steps < 4096; steps++) {
        FZ_OP_BEGIN();
        switch (fz_u8() % OP_COUNT) {
        case 0:
        case 1:
            do_add(d, (features & VS_F_INDIRECT) != 0);
            break;
        case 2:
        case 3: { /* a used descriptor: an ID the driver gave or anything, marks chosen */
            uint32_t pos = (fz_u8() & 1) ? d->last_used : fz_u8() % m.q;
            uint8_t how = fz_u8();
            uint16_t id = (how & 1) ? fz_u16() : (uint16_t)(fz_u8() % m.q);
            uint32_t len = (how & 2) ? fz_u32() : fz_u8();
            static const uint16_t marks[4] = {0, VS_PDESC_F_AVAIL | VS_PDESC_F_USED,
                                              VS_PDESC_F_AVAIL, VS_PDESC_F_USED};
            uint16_t flags = (uint16_t)(marks[(how >> 2) & 3] | ((how & 16) ? VS_DESC_F_WRITE : 0));
            uint64_t at = m.desc + 16u * pos;
            fz_peer_put(at + 8, len, 4);
            fz_peer_put(at + 12, id, 2);
            fz_peer_put(at + 14, flags, 2);
            break;
        }
        case 4: /* the device event structure: anything */
            fz_peer_put(m.dev_event, fz_u32(), 4);
            break;
        case 5: { /* raw bytes anywhere */
            uint64_t at = fz_u16() % (fz_mem.size + 1);
            uint8_t buf[16];
            uint32_t n = fz_u8() % 17;
            for (uint32_t i = 0; i < n; i++)
                buf[i] = fz_u8();
            fz_peer_write(at, buf, n);
            break;
        }
        case 6:
            do_get_used(d);
            break;
        case 7:
            FZ_OP_BEGIN();
            check_flag_op(vs_packed_driver_kick_prepare(d), "kick_prepare");
            FZ_CHECK(FZ_LOADS() <= 1, "kick_prepare made %llu loads",
                     (unsigned long long)FZ_LOADS());
            break;
        case 8:
            switch (fz_u8() % 3) {
            case 0:
                check_flag_op(vs_packed_driver_disable_cb(d), "disable_cb");
                break;
            case 1:
                check_flag_op(vs_packed_driver_enable_cb(d), "enable_cb");
                break;
            default: {
                int rc = vs_packed_driver_poll(d, fz_u16());
                FZ_CHECK(rc == 0 || rc == 1 || rc == -VS_PE_INVALID, "poll returned %d", rc);
                break;
            }
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
