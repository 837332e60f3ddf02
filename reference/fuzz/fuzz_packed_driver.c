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

#define FZ_STOPPED VS_PE_DRIVER_STOPPED
#define FZ_USED VS_PE_USED
#define FZ_FULL VS_PE_FULL
#define FZ_TOO_MANY VS_PE_LIST_DESCS
#include "fuzz_driver_model.h"

#define OP_COUNT 10
#define MAX_Q 64

struct model {
    uint32_t q;
    uint64_t desc, drv_event, dev_event, indirect, data, data_len;
    uint32_t indirect_max;
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
    fz_book_reset(m.q);
}

static void do_get_used(struct vs_packed_driver *d)
{
    uint64_t token = UINT64_MAX;
    uint32_t len = 0;
    int rc = vs_packed_driver_get_used(d, &token, &len);
    if (fz_used_answer(rc, d->broken != 0, token, len))
        FZ_CHECK(d->free_descs == fz_book.free_descs,
                 "driver counts %u free descriptors, the model %u", d->free_descs,
                 fz_book.free_descs);
}

/* Callbacks off or on, or a poll of a position and wrap counter (which may be invalid). */
static void do_callbacks(struct vs_packed_driver *d)
{
    uint8_t which = fz_u8() % 3;
    if (which < 2) {
        fz_check_flag(which ? vs_packed_driver_enable_cb(d) : vs_packed_driver_disable_cb(d),
                      which ? "enable_cb" : "disable_cb", FZ_STOPPED);
        return;
    }
    int rc = vs_packed_driver_poll(d, fz_u16());
    FZ_CHECK(rc == 0 || rc == 1 || rc == -VS_PE_INVALID, "poll returned %d", rc);
}

static void do_detach(struct vs_packed_driver *d, size_t size, uint32_t features)
{
    static uint64_t tokens[MAX_Q];
    fz_detach_answer(vs_packed_driver_detach_unused(d, tokens, m.q), tokens);
    reset_driver(d, size, features);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_begin(data, size);
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
    fz_book.next_token = 0;
    size_t state = vs_packed_driver_state_size(m.q);
    struct vs_packed_driver *d = malloc(state);
    FZ_CHECK(d != NULL, "malloc");
    reset_driver(d, state, features);

    for (unsigned steps = 0; fz_more() && steps < 4096; steps++) {
        FZ_OP_BEGIN();
        switch (fz_u8() % OP_COUNT) {
        case 0:
        case 1: {
            struct fz_add a;
            if (fz_add_read(&a, m.data, m.data_len, features & VS_F_INDIRECT, m.indirect_max))
                fz_add_answer(&a, vs_packed_driver_add(d, a.out, a.n_out, a.in, a.n_in, a.token));
            break;
        }
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
        case 5: /* raw bytes anywhere */
            fz_peer_scribble();
            break;
        case 6:
            do_get_used(d);
            break;
        case 7:
            fz_kick_answer(vs_packed_driver_kick_prepare(d));
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
