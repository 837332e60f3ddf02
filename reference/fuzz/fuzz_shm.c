/*
 * fuzz_shm.c -- libFuzzer harness: shm.c's table reader and writer and the shm-signal sender
 * and receiver against a hostile peer sharing the region.
 *
 * The input is the peer: a header (region length, where the table and the signal lie, the
 * table's slots and words, the reader's attempt bound, racing or not), then operations --
 * any seq or value word, any enabled or pending word, raw bytes -- interleaved with our
 * sides' operations. With racing on, the peer may rewrite each word just before our side
 * loads it (a writer updating the slot under the reader's feet). What must hold:
 *
 *  - every access inside the region; the reader stores nothing in the table, the receiver
 *    only enabled and pending, the sender only pending, the writer only its table;
 *  - a read makes at most max_attempts (words + 2) loads (SHM-TABLE-011) and returns a
 *    version that is even with its value, or -VS_SHM_E_BUSY with the last good value, or
 *    -VS_SHM_E_TABLE for a slot out of range; without racing it returns exactly the words in
 *    the region;
 *  - a poll hands out a value only when its version differs from the last handed out
 *    (SHM-TABLE-009);
 *  - the signal's operations return 0 or 1 whatever enabled and pending hold;
 *  - after an update the slot holds the new even seq and the words written (SHM-TABLE-003).
 */
#include "fuzz_common.h"

#include "shm.c"

#define OP_COUNT 12
#define MAX_SLOTS 8
#define MAX_WORDS 8

struct model {
    struct vs_shm_table t;
    struct vs_shm_signal s;
    uint32_t max_attempts;
    uint32_t processed[MAX_SLOTS];
    uint32_t seqs[MAX_SLOTS]; /* our writer's */
};

static struct model m;

static uint64_t table_end(void)
{
    return m.t.offset + vs_shm_table_size(&m.t);
}

static void own_only(uint64_t lo, uint64_t hi)
{
    fz_mem.n_owned = 0;
    if (hi > lo)
        fz_own(lo, hi);
}

static void check_read(struct vs_shm_reader *rd, uint32_t slot, int rc, uint32_t version,
                       const uint32_t *value, const char *what)
{
    FZ_CHECK(FZ_LOADS() <= (uint64_t)m.max_attempts * (m.t.words + 2),
             "%s made %llu loads (bound %u attempts of %u words)", what,
             (unsigned long long)FZ_LOADS(), m.max_attempts, m.t.words);
    if (slot >= m.t.slots) {
        FZ_CHECK(rc == -VS_SHM_E_TABLE, "%s of slot %u of %u returned %d", what, slot,
                 m.t.slots, rc);
        return;
    }
    if (rc == -VS_SHM_E_BUSY) {
        FZ_CHECK(rd->attempts == m.max_attempts, "busy after %u of %u attempts", rd->attempts,
                 m.max_attempts);
    } else {
        FZ_CHECK(rc >= 0, "%s returned %d", what, rc);
        FZ_CHECK((version & 1u) == 0, "%s returned odd version %u", what, version);
        if (!fz_mem.race) { /* nobody wrote during the read: exactly what the region holds */
            uint64_t seq = m.t.offset + (uint64_t)slot * 4u * (1 + m.t.words);
            FZ_CHECK(fz_peek(seq, 4) == version, "%s returned version %u, seq is %llu", what,
                     version, (unsigned long long)fz_peek(seq, 4));
            for (uint32_t k = 0; k < m.t.words; k++)
                FZ_CHECK(fz_peek(seq + 4 + 4u * k, 4) == value[k], "%s: word %u torn", what,
                         k);
        }
    }
    /* whatever happened, what the caller got is the reader's last good value */
    FZ_CHECK(version == rd->last_version[slot] &&
                 memcmp(value, rd->last_value + (size_t)slot * m.t.words,
                        4u * m.t.words) == 0,
             "%s handed out something other than the last good value", what);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_begin(data, size);
    uint8_t b0 = fz_u8(), b1 = fz_u8();
    uint32_t slots = 1 + b0 % MAX_SLOTS, words = 1 + (b0 >> 3) % MAX_WORDS;
    uint64_t table_off = 4u * (fz_u8() % 16);
    uint64_t tsize = 4u * slots * (1 + words);
    uint64_t sig_off = (table_off + tsize + 4u * (fz_u8() % 4) + 3) & ~(uint64_t)3;
    uint64_t length = sig_off + VS_SHM_SIGNAL_SIZE + 4u * (fz_u8() % 8);
    m.max_attempts = 1 + (b1 >> 4) % 8;
    fz_mem_open(length);
    fz_mem.race = (b1 & 1u) != 0;
    FZ_CHECK(vs_shm_table_create(&m.t, fz_mem.base, length, table_off, slots, words) == 0,
             "table");
    FZ_CHECK(vs_shm_signal_create(&m.s, fz_mem.base, length, sig_off) == 0, "signal");
    size_t wsize = vs_shm_writer_state_size(slots);
    size_t rsize = vs_shm_reader_state_size(slots, words);
    struct vs_shm_writer *w = malloc(wsize);
    struct vs_shm_reader *rd = malloc(rsize);
    FZ_CHECK(w != NULL && rd != NULL, "malloc");
    FZ_CHECK(vs_shm_writer_create(w, wsize, &m.t) == 0, "writer");
    FZ_CHECK(vs_shm_reader_create(rd, rsize, &m.t, m.max_attempts) == 0, "reader");
    struct vs_shm_sender tx;
    struct vs_shm_receiver rx;
    FZ_CHECK(vs_shm_sender_create(&tx, &m.s) == 0 && vs_shm_receiver_create(&rx, &m.s) == 0,
             "signal sides");
    own_only(table_off, table_end());
    FZ_CHECK(vs_shm_writer_init(w) == 0, "writer init");
    own_only(sig_off, sig_off + 8);
    FZ_CHECK(vs_shm_signal_init(&m.s) == 0, "signal init");
    memset(m.processed, 0, sizeof m.processed);
    memset(m.seqs, 0, sizeof m.seqs);
    uint32_t value[MAX_WORDS];

    for (unsigned steps = 0; fz_more() && steps < 4096; steps++) {
        FZ_OP_BEGIN();
        uint32_t version = 0xFFFFFFFFu;
        memset(value, 0xA5, sizeof value);
        switch (fz_u8() % OP_COUNT) {
        case 0: /* a seq word: anything */
            fz_peer_put(table_off + 4u * (1 + words) * (fz_u8() % slots), fz_u32(), 4);
            break;
        case 1: /* a seq word made even or odd from what it is */
        {
            uint64_t at = table_off + 4u * (1 + words) * (fz_u8() % slots);
            fz_peer_put(at, fz_peek(at, 4) + 1 + (fz_u8() & 1), 4);
            break;
        }
        case 2: { /* raw bytes anywhere */
            uint64_t at = fz_u8() % (length + 1);
            uint8_t buf[16];
            uint32_t n = fz_u8() % 17;
            for (uint32_t i = 0; i < n; i++)
                buf[i] = fz_u8();
            fz_peer_write(at, buf, n);
            break;
        }
        case 3: { /* read */
            uint32_t slot = fz_u8() % (slots + 1);
            own_only(0, 0);
            FZ_OP_BEGIN();
            int rc = vs_shm_reader_read(rd, slot, &version, value);
            check_read(rd, slot, rc, version, value, "read");
            break;
        }
        case 4:
        case 5: { /* poll, or the signalled service (disable, acknowledge, poll) */
            bool service = fz_u8() & 1;
            uint32_t slot = fz_u8() % (slots + 1);
            own_only(service ? sig_off : 0, service ? sig_off + 8 : 0);
            FZ_OP_BEGIN();
            int rc = service ? vs_shm_reader_service(rd, &rx, slot, &version, value)
                             : vs_shm_reader_poll(rd, slot, &version, value);
            if (slot >= slots) {
                FZ_CHECK(rc == -VS_SHM_E_TABLE, "poll of slot %u returned %d", slot, rc);
                break;
            }
            FZ_CHECK(rc == 0 || rc == 1 || rc == -VS_SHM_E_BUSY, "poll returned %d", rc);
            if (rc != -VS_SHM_E_BUSY)
                check_read(rd, slot, 0, version, value, "poll");
            if (rc == 1) {
                FZ_CHECK(version != m.processed[slot], "poll handed out version %u again",
                         version);
                m.processed[slot] = version;
            } else if (rc == 0) {
                FZ_CHECK(version == m.processed[slot], "poll kept back a new version %u",
                         version);
            }
            break;
        }
        case 6: { /* one attempt */
            uint32_t slot = fz_u8() % (slots + 1);
            own_only(0, 0);
            FZ_OP_BEGIN();
            int rc = vs_shm_reader_attempt(rd, slot, &version, value);
            FZ_CHECK(FZ_LOADS() <= words + 2, "attempt made %llu loads",
                     (unsigned long long)FZ_LOADS());
            if (slot >= slots)
                FZ_CHECK(rc == -VS_SHM_E_TABLE, "attempt of slot %u returned %d", slot, rc);
            else
                FZ_CHECK(rc == 0 || (rc == 1 && (version & 1u) == 0),
                         "attempt returned %d, version %u", rc, version);
            break;
        }
        case 7: { /* the enabled or pending word: anything */
            fz_peer_put(sig_off + 4u * (fz_u8() & 1), fz_u32(), 4);
            break;
        }
        case 8: { /* receiver */
            own_only(sig_off, sig_off + 8);
            uint8_t which = fz_u8() % 3;
            int rc = which == 0   ? vs_shm_receiver_enable(&rx)
                     : which == 1 ? vs_shm_receiver_disable(&rx)
                                  : vs_shm_receiver_acknowledge(&rx);
            FZ_CHECK(rc == 0 || (which == 0 && rc == 1), "receiver op %u returned %d", which,
                     rc);
            break;
        }
        case 9: { /* sender */
            own_only(sig_off + VS_SHM_SIGNAL_PENDING, sig_off + 8);
            uint64_t coalesced = tx.coalesced;
            int rc = vs_shm_sender_inject(&tx);
            FZ_CHECK(rc == 0 || rc == 1, "inject returned %d", rc);
            FZ_CHECK(rc == 0 || tx.coalesced == coalesced, "a coalesced injection notified");
            break;
        }
        case 10:
        case 11: { /* our writer updates a slot */
            uint32_t slot = fz_u8() % (slots + 1);
            for (uint32_t k = 0; k < words; k++)
                value[k] = fz_u32();
            own_only(table_off, table_end());
            FZ_OP_BEGIN();
            int rc = vs_shm_writer_update(w, slot, value, words);
            FZ_CHECK(FZ_LOADS() == 0, "the writer loaded from the region");
            if (slot >= slots) {
                FZ_CHECK(rc == -VS_SHM_E_TABLE, "update of slot %u returned %d", slot, rc);
                break;
            }
            FZ_CHECK(rc == 0, "update returned %d", rc);
            m.seqs[slot] += 2;
            uint64_t seq = table_off + (uint64_t)slot * 4u * (1 + words);
            FZ_CHECK(fz_peek(seq, 4) == m.seqs[slot], "seq %llu after update, expected %u",
                     (unsigned long long)fz_peek(seq, 4), m.seqs[slot]);
            for (uint32_t k = 0; k < words; k++)
                FZ_CHECK(fz_peek(seq + 4 + 4u * k, 4) == value[k], "word %u not written", k);
            break;
        }
        }
    }
    return fz_end(w, rd);
}
