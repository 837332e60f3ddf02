/*
 * fuzz_packed_device.c -- libFuzzer harness: ring_packed.c's device side against a hostile
 * driver.
 *
 * The input is the driver: a header (queue size 1..64, any integer: RING-PACKED-002,
 * features, data memory, racing or not), then operations -- a descriptor at any position
 * with any marks, ID and NEXT/WRITE/INDIRECT, an indirect table, the driver event
 * structure, raw bytes -- interleaved with the device's pop, push, notification decisions
 * and resets. What must hold on any input:
 *
 *  - every access inside guest memory; stores only to the descriptor ring and the device
 *    event structure;
 *  - a pop reads at most Q ring descriptors and one table of at most Q entries:
 *    1 + 4 Q + 3 Q loads;
 *  - a pop returns 0, 1, or a refusal of RING-PACKED-080, RING-PACKED-081, RING-PACKED-082, RING-PACKED-083, RING-PACKED-084, RING-PACKED-085, and after it the device
 *    needs a reset (everything returns -VS_PE_DEVICE_STOPPED);
 *  - an accepted list has an ID not already held, 1..Q elements inside guest memory, and
 *    the device never holds more than Q descriptors;
 *  - push accepts exactly the batches the model says, and writes each used descriptor's
 *    ID, len and marks (RING-PACKED-014).
 */
#include "fuzz_common.h"

#include "ring_packed.c"

#define FZ_STOPPED VS_PE_DEVICE_STOPPED
#define FZ_NO_SPACE VS_PE_NO_SPACE
#define FZ_INVALID VS_PE_INVALID
#include "fuzz_device_model.h"

#define OP_COUNT 12
#define MAX_Q 64

struct model {
    uint32_t q;
    uint64_t desc, drv_event, dev_event, data, data_len;
    uint8_t held[65536];
    uint64_t writable[65536];
    uint32_t n_held;
    uint16_t held_ids[MAX_Q];
};

static struct model m;

static const int refusals[] = {VS_PE_TOO_LONG, VS_PE_NOT_AVAIL, VS_PE_INDIRECT, VS_PE_OUTSIDE,
                               VS_PE_READ_AFTER_WRITE, VS_PE_ID_IN_USE};

static uint64_t data_addr(void)
{
    return m.data + (m.data_len ? fz_u16() % (m.data_len + 1) : 0);
}

/* Marks chosen by the input: available in lap 1 or 0, used in either, or nonsense. */
static uint16_t marks(void)
{
    static const uint16_t choice[4] = {VS_PDESC_F_AVAIL, VS_PDESC_F_USED, 0,
                                       VS_PDESC_F_AVAIL | VS_PDESC_F_USED};
    return choice[fz_u8() & 3];
}

static void do_pop(struct vs_packed_device *v, struct vs_segment *segs)
{
    uint16_t id = 0;
    uint32_t nr = 0, nw = 0, held0 = v->held;
    uint16_t last0 = v->last_avail;
    uint32_t room = fz_pop_room(m.q);
    uint64_t wlen = 0;
    FZ_OP_BEGIN();
    int rc = vs_packed_device_pop(v, &id, segs, room, &nr, &nw);
    FZ_CHECK(FZ_LOADS() <= 1 + 7 * (uint64_t)m.q, "pop made %llu loads (Q = %u)",
             (unsigned long long)FZ_LOADS(), m.q);
    bool still = v->last_avail == last0 && v->held == held0;
    bool known = fz_one_of(rc, refusals, FZ_LEN(refusals));
    if (!fz_pop_answer(rc, known, still, vs_packed_device_needs_reset(v), room, m.q, segs, nr,
                       nw, &wlen))
        return;
    FZ_CHECK(!m.held[id], "accepted ID %u already held", id);
    FZ_CHECK(v->held > held0 && v->held <= m.q, "device holds %u descriptors (Q %u)", v->held,
             m.q);
    m.held[id] = 1;
    m.writable[id] = wlen;
    m.held_ids[m.n_held++] = id;
}

static void do_push(struct vs_packed_device *v, bool wild)
{
    struct vs_used_elem el[8];
    uint32_t n = fz_u8() % 9, k = 0;
    bool valid = true;
    for (uint32_t i = 0; i < n; i++) {
        uint16_t id = fz_u16();
        if (!wild) { /* an ID the device holds, if any */
            if (m.n_held == 0)
                break;
            id = m.held_ids[id % m.n_held];
        }
        uint32_t len = fz_u32();
        if (!wild)
            len = (uint32_t)(len % (m.writable[id] + 1));
        bool repeat = false;
        for (uint32_t j = 0; j < k; j++)
            repeat |= el[j].id == id;
        if (!m.held[id] || repeat || len > m.writable[id])
            valid = false;
        el[k].id = id;
        el[k].len = len;
        k++;
    }
    uint16_t pos = v->used_pos;
    uint8_t wrap = v->used_wrap;
    FZ_OP_BEGIN();
    if (!fz_push_answer(vs_packed_device_push(v, el, k), valid))
        return;
    if (k) { /* the first used descriptor: ID, len, marks both = the wrap counter */
        uint64_t at = m.desc + 16u * pos;
        uint16_t flags = (uint16_t)fz_peek(at + 14, 2);
        FZ_CHECK(fz_peek(at + 12, 2) == el[0].id && fz_peek(at + 8, 4) == el[0].len,
                 "used descriptor at %u is not the element pushed", pos);
        FZ_CHECK(vs_is_used(flags, wrap) && (((flags & VS_DESC_F_WRITE) != 0) == (el[0].len != 0)),
                 "used descriptor flags 0x%x (wrap %u)", flags, wrap);
    }
    for (uint32_t i = 0; i < k; i++) {
        m.held[el[i].id] = 0;
        for (uint32_t j = 0; j < m.n_held; j++)
            if (m.held_ids[j] == el[i].id) {
                m.held_ids[j] = m.held_ids[--m.n_held];
                break;
            }
    }
}

static void reset_device(struct vs_packed_device *v, size_t size, uint32_t features)
{
    int rc = vs_packed_device_create(v, size, fz_mem.base, fz_mem.size, m.q, m.desc,
                                     m.drv_event, m.dev_event, features);
    FZ_CHECK(rc == 0, "create failed: %d", rc);
    FZ_CHECK(vs_packed_device_init(v) == 0, "init failed");
    fz_refused = false;
    for (uint32_t j = 0; j < m.n_held; j++)
        m.held[m.held_ids[j]] = 0;
    m.n_held = 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_begin(data, size);
    uint8_t b0 = fz_u8(), b1 = fz_u8();
    m.q = 1 + b0 % MAX_Q;
    uint32_t features = b1 & 3u;
    m.desc = 16u * ((b1 >> 4) & 3u);
    m.drv_event = m.desc + 16u * m.q;
    m.dev_event = m.drv_event + 4;
    m.data = (m.dev_event + 4 + 15) & ~(uint64_t)15;
    m.data_len = fz_u16() % 2048;
    fz_mem_open(m.data + m.data_len);
    fz_mem.race = (b1 & 4u) != 0;
    fz_own(m.desc, m.desc + 16u * (uint64_t)m.q); /* used descriptors (RING-PACKED-014) */
    fz_own(m.dev_event, m.dev_event + 4);         /* RING-PACKED-061 */
    size_t state = vs_packed_device_state_size(m.q);
    struct vs_packed_device *v = malloc(state);
    struct vs_segment *segs = malloc(sizeof *segs * m.q);
    FZ_CHECK(v != NULL && segs != NULL, "malloc");
    reset_device(v, state, features);

    for (unsigned steps = 0; fz_more() && steps < 4096; steps++) {
        FZ_OP_BEGIN();
        switch (fz_u8() % OP_COUNT) {
        case 0: { /* any descriptor at a ring position */
            uint32_t pos = fz_u8() % m.q;
            uint64_t addr = fz_u64();
            uint32_t len = fz_u32();
            uint16_t id = fz_u16(), flags = fz_u16();
            fz_peer_desc(m.desc + 16u * pos, addr, len, id, flags);
            break;
        }
        case 1:
        case 2: { /* a plausible one: data buffer, small ID, chosen marks */
            uint32_t pos = fz_u8() % m.q;
            uint64_t addr = data_addr();
            uint32_t len = fz_u16();
            uint16_t id = fz_u8() % (m.q + 1);
            uint16_t flags = (uint16_t)((fz_u8() & 7u) | marks());
            fz_peer_desc(m.desc + 16u * pos, addr, len, id, flags);
            break;
        }
        case 3: { /* an indirect table in the data area, and the descriptor naming it */
            uint64_t table = data_addr() & ~(uint64_t)(fz_u8() & 1 ? 0 : 15);
            uint32_t n = fz_u8() % 9;
            for (uint32_t k = 0; k < n; k++)
                fz_peer_desc(table + 16u * k, data_addr(), fz_u16(), 0, fz_u8() & 7u);
            uint32_t pos = fz_u8() % m.q;
            uint32_t tlen = (fz_u8() & 1) ? 16u * n : fz_u16();
            uint16_t flags = (uint16_t)(VS_DESC_F_INDIRECT | (fz_u8() & 3u) | marks());
            fz_peer_desc(m.desc + 16u * pos, table, tlen, fz_u8() % (m.q + 1), flags);
            break;
        }
        case 4: /* the driver event structure: anything */
            fz_peer_put(m.drv_event, fz_u32(), 4);
            break;
        case 5: /* raw bytes anywhere */
            fz_peer_scribble();
            break;
        case 6:
        case 7:
            do_pop(v, segs);
            break;
        case 8:
            do_push(v, fz_u8() & 1);
            break;
        case 9:
            FZ_OP_BEGIN();
            fz_check_flag(vs_packed_device_should_notify(v), "should_notify", FZ_STOPPED);
            break;
        case 10: {
            bool on = fz_u8() & 1;
            fz_check_flag(on ? vs_packed_device_enable_notify(v)
                             : vs_packed_device_disable_notify(v),
                          on ? "enable_notify" : "disable_notify", FZ_STOPPED);
            break;
        }
        case 11:
            reset_device(v, state, features);
            break;
        }
    }
    return fz_end(v, segs);
}
