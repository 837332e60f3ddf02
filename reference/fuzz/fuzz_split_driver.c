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

#define FZ_STOPPED VS_E_NEEDS_RESET
#define FZ_USED VS_E_USED
#define FZ_FULL VS_E_FULL
#define FZ_TOO_MANY VS_E_CHAIN_DESCS
#include "fuzz_driver_model.h"

#define OP_COUNT 10

struct model {
    uint32_t q;
    uint64_t desc, avail, used, indirect, data, data_len;
    uint32_t indirect_max;
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
    fz_book_reset(m.q);
    m.used_shadow = start;
}

static void do_get_used(struct vs_driver *d)
{
    uint64_t token = UINT64_MAX;
    uint32_t len = 0;
    int rc = vs_driver_get_used(d, &token, &len);
    fz_used_answer(rc, d->broken != 0, token, len);
}

/* Callbacks off, on, on after most of the outstanding buffers, or a poll of an index. */
static void do_callbacks(struct vs_driver *d)
{
    static const char *const what[4] = {"disable_cb", "enable_cb", "enable_cb_delayed", "poll"};
    uint8_t which = fz_u8() % 4;
    int rc = which == 0   ? vs_driver_disable_cb(d)
             : which == 1 ? vs_driver_enable_cb(d)
             : which == 2 ? vs_driver_enable_cb_delayed(d)
                          : vs_driver_poll(d, fz_u16());
    fz_check_flag(rc, what[which], which < 3 ? FZ_STOPPED : 0); /* a poll never stops */
}

static void do_detach(struct vs_driver *d, size_t size, uint32_t features)
{
    static uint64_t tokens[VS_MAX_QUEUE_SIZE];
    fz_detach_answer(vs_driver_detach_unused(d, tokens, m.q), tokens);
    reset_driver(d, size, features, fz_u16());
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_begin(data, size);
    uint8_t b0 = fz_u8(), b1 = fz_u8();
    uint16_t start = fz_u16();
    uint32_t features = b1 & 3u;
    m.indirect_max = 1 + (b1 >> 4) % 4;
    uint64_t end = fz_split_ring(b0, &m.q, &m.desc, &m.avail, &m.used);
    m.indirect = (end + 15) & ~(uint64_t)15;
    m.data = m.indirect + 16u * m.q * m.indirect_max;
    m.data_len = fz_u16() % 2048;
    fz_mem_open(m.data + m.data_len);
    fz_mem.race = (b1 & 4u) != 0;
    fz_own(m.desc, m.desc + 16u * (uint64_t)m.q);
    fz_own(m.avail, m.avail + 6 + 2u * (uint64_t)m.q); /* flags, idx, ring, used_event */
    fz_own(m.indirect, m.data);
    fz_book.next_token = 0;
    size_t state = vs_driver_state_size(m.q);
    struct vs_driver *d = malloc(state);
    FZ_CHECK(d != NULL, "malloc");
    reset_driver(d, state, features, start);

    for (unsigned steps = 0; fz_more() && steps < 4096; steps++) {
        FZ_OP_BEGIN();
        switch (fz_u8() % OP_COUNT) {
        case 0:
        case 1: {
            struct fz_add a;
            if (fz_add_read(&a, m.data, m.data_len, features & VS_F_INDIRECT, m.indirect_max))
                fz_add_answer(&a, vs_driver_add(d, a.out, a.n_out, a.in, a.n_in, a.token));
            break;
        }
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
        case 4: /* raw bytes anywhere */
            fz_peer_scribble();
            break;
        case 5:
        case 6:
            do_get_used(d);
            break;
        case 7:
            fz_kick_answer(vs_driver_kick_prepare(d));
            break;
        case 8:
            do_callbacks(d);
            break;
        case 9:
            do_detach(d, state, features);
            break;
        }
    }
    return fz_end(d, NULL);
}
