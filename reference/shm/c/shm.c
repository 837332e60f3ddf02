/*
 * shm.c -- the idempotent table (a seqlock) and shm-signal in C (spec/shm.md).
 *
 * A transcription of reference/shm/table.py and reference/shm/signal.py: the same
 * operations, the same loads, stores and barriers on the region in the same order, the same
 * checks with the same error kinds. Every shared access goes through ring_access.h (the
 * macros ring.c uses), with a struct vs_shm_table or vs_shm_signal as the side `s` and an
 * offset in its region as the address; everything else is private state in the
 * caller-provided state block. Nothing here allocates or locks.
 *
 * In the normal build the barriers are C11 fences: wmb = release, rmb = acquire, mb =
 * seq_cst. With relaxed atomic accesses to every shared word that is the seqlock of Boehm
 * ("Can seqlocks get along with programming language memory models?", MSPC 2012): the
 * writer's release fence before the value stores pairs with the reader's acquire fence
 * before its second load of seq, the writer's release fence before the even seq with the
 * reader's acquire fence after its first load. The signal's two sides each store, mb, load
 * (SHM-SIGNAL-004, SHM-SIGNAL-006): seq_cst fences forbid both loads missing the other's store.
 */
#include "shm.h"

#include <string.h>

#include "ring_access.h"
#include "shm_mutants.h"

#define VS_SHM_WORD 4u

/* -- layouts (SHM-TABLE-001, SHM-SIGNAL-001, SHM-REGION-007, SHM-REGION-008) -------------------------- */

/* The region itself: non-empty, and (normal build) its memory aligned on 8. */
static int vs_shm_region_check(uint8_t *mem, uint64_t length)
{
#ifndef VS_STEPPED
    if (mem == NULL)
        return -VS_SHM_E_INVALID;
    if (((uintptr_t)mem & 7u) != 0)
        return -VS_SHM_E_MISALIGNED; /* SHM-REGION-008 */
#else
    (void)mem; /* the checker maps offsets to guest addresses */
#endif
    if (length == 0)
        return -VS_SHM_E_OUTSIDE;
    return 0;
}

/* [offset, offset + size) lies inside a region of `length` bytes, without overflow. */
static bool vs_shm_inside(uint64_t length, uint64_t offset, uint64_t size)
{
    return offset <= length && size <= length - offset;
}

static uint64_t vs_shm_slot_size(const struct vs_shm_table *t)
{
    return VS_SHM_WORD * (1 + (uint64_t)t->words);
}

int vs_shm_table_create(struct vs_shm_table *t, uint8_t *mem, uint64_t length, uint64_t offset,
                        uint32_t slots, uint32_t words)
{
    if (t == NULL)
        return -VS_SHM_E_INVALID;
    int rc = vs_shm_region_check(mem, length);
    if (rc < 0)
        return rc;
    if (slots < 1 || words < 1)
        return -VS_SHM_E_TABLE; /* at least one slot of one word */
    if (offset % VS_SHM_WORD != 0)
        return -VS_SHM_E_TABLE; /* 4-aligned */
    struct vs_shm_table out = {{mem, length}, offset, slots, words};
    uint64_t slot_size = vs_shm_slot_size(&out);
    if (slot_size > length || slots > length / slot_size ||
        !vs_shm_inside(length, offset, slots * slot_size))
        return -VS_SHM_E_OUTSIDE; /* the whole table inside the region (SHM-REGION-007) */
    *t = out;
    return 0;
}

uint64_t vs_shm_table_size(const struct vs_shm_table *t)
{
    return (uint64_t)t->slots * vs_shm_slot_size(t); /* SHM-TABLE-002 */
}

int vs_shm_signal_create(struct vs_shm_signal *s, uint8_t *mem, uint64_t length,
                         uint64_t offset)
{
    if (s == NULL)
        return -VS_SHM_E_INVALID;
    int rc = vs_shm_region_check(mem, length);
    if (rc < 0)
        return rc;
    if (offset % VS_SHM_WORD != 0)
        return -VS_SHM_E_SIGNAL; /* SHM-SIGNAL-001 */
    if (!vs_shm_inside(length, offset, VS_SHM_SIGNAL_SIZE))
        return -VS_SHM_E_OUTSIDE;
    s->r.mem = mem;
    s->r.length = length;
    s->offset = offset;
    return 0;
}

static uint64_t vs_shm_seq_at(const struct vs_shm_table *t, uint32_t slot)
{
    return t->offset + (uint64_t)slot * vs_shm_slot_size(t);
}

static uint64_t vs_shm_word_at(const struct vs_shm_table *t, uint32_t slot, uint32_t k)
{
    return vs_shm_seq_at(t, slot) + VS_SHM_WORD * (1 + (uint64_t)k);
}

/* -- state blocks --------------------------------------------------------------------------- */

static size_t vs_shm_align8(size_t n)
{
    return (n + 7) & ~(size_t)7;
}

size_t vs_shm_writer_state_size(uint32_t slots)
{
    size_t head = vs_shm_align8(sizeof(struct vs_shm_writer));
    if (slots > (SIZE_MAX - head) / VS_SHM_WORD)
        return 0;
    return head + (size_t)slots * VS_SHM_WORD;
}

/* last_version, processed_version: slots; last_value, processed_value: slots * words;
 * scratch: words. */
size_t vs_shm_reader_state_size(uint32_t slots, uint32_t words)
{
    size_t head = vs_shm_align8(sizeof(struct vs_shm_reader));
    uint64_t room = (SIZE_MAX - head) / VS_SHM_WORD; /* words that fit after the head */
    if (words > room)
        return 0;
    room -= words;                                 /* scratch */
    uint64_t per_slot = 2 * (1 + (uint64_t)words); /* a version and a value, twice */
    if (slots > room / per_slot)
        return 0;
    return head + VS_SHM_WORD * ((size_t)words + (size_t)(slots * per_slot));
}

int vs_shm_writer_create(struct vs_shm_writer *w, size_t state_size,
                         const struct vs_shm_table *t)
{
    if (w == NULL || t == NULL || t->slots < 1 || t->words < 1)
        return -VS_SHM_E_INVALID;
    size_t need = vs_shm_writer_state_size(t->slots);
    if (need == 0 || state_size < need)
        return -VS_SHM_E_NO_SPACE;
    memset(w, 0, need);
    w->t = *t;
    w->seqs = (uint32_t *)(void *)((uint8_t *)w + vs_shm_align8(sizeof *w));
    return 0;
}

int vs_shm_reader_create(struct vs_shm_reader *rd, size_t state_size,
                         const struct vs_shm_table *t, uint32_t max_attempts)
{
    if (rd == NULL || t == NULL || t->slots < 1 || t->words < 1 || max_attempts < 1)
        return -VS_SHM_E_INVALID; /* a reader needs at least one attempt */
    size_t need = vs_shm_reader_state_size(t->slots, t->words);
    if (need == 0 || state_size < need)
        return -VS_SHM_E_NO_SPACE;
    memset(rd, 0, need);
    rd->t = *t;
    rd->max_attempts = max_attempts;
    size_t values = (size_t)t->slots * t->words;
    uint32_t *p = (uint32_t *)(void *)((uint8_t *)rd + vs_shm_align8(sizeof *rd));
    rd->last_version = p;
    rd->last_value = p + t->slots;
    rd->processed_version = rd->last_value + values;
    rd->processed_value = rd->processed_version + t->slots;
    rd->scratch = rd->processed_value + values;
    return 0; /* every last and processed value: version 0, all words 0 (the initial one) */
}

int vs_shm_sender_create(struct vs_shm_sender *tx, const struct vs_shm_signal *s)
{
    if (tx == NULL || s == NULL)
        return -VS_SHM_E_INVALID;
    memset(tx, 0, sizeof *tx);
    tx->s = *s;
    return 0;
}

int vs_shm_receiver_create(struct vs_shm_receiver *rx, const struct vs_shm_signal *s)
{
    if (rx == NULL || s == NULL)
        return -VS_SHM_E_INVALID;
    memset(rx, 0, sizeof *rx);
    rx->s = *s;
    return 0;
}

/* -- the table: writer (SHM-TABLE-003, SHM-TABLE-004) ------------------------------------------------ */

int vs_shm_writer_init(struct vs_shm_writer *w)
{
    const struct vs_shm_table *t = &w->t;
    for (uint32_t i = 0; i < t->slots; i++) {
        VS_STORE32(t, vs_shm_seq_at(t, i), 0);
        for (uint32_t k = 0; k < t->words; k++)
            VS_STORE32(t, vs_shm_word_at(t, i, k), 0);
    }
    memset(w->seqs, 0, (size_t)t->slots * sizeof w->seqs[0]);
    return 0;
}

int vs_shm_writer_update(struct vs_shm_writer *w, uint32_t slot, const uint32_t *value,
                         uint32_t n)
{
    const struct vs_shm_table *t = &w->t;
    if (slot >= t->slots)
        return -VS_SHM_E_TABLE;
    if (n != t->words || value == NULL)
        return -VS_SHM_E_INVALID; /* a value is `words` words of 32 bits */
    uint32_t s = w->seqs[slot];
    uint64_t seq = vs_shm_seq_at(t, slot);
    VS_STORE32(t, seq, s + 1); /* odd: in progress */
#if !VS_SHM_IS_MUTANT(NO_WMB_BEFORE_DATA)
    VS_WMB(t); /* SHM-TABLE-004 */
#endif
    for (uint32_t k = 0; k < n; k++)
        VS_STORE32(t, vs_shm_word_at(t, slot, k), value[k]);
#if !VS_SHM_IS_MUTANT(NO_WMB_AFTER_DATA)
    VS_WMB(t); /* SHM-TABLE-004 */
#endif
    w->seqs[slot] = s + 2; /* mod 2^32 */
    VS_STORE32(t, seq, w->seqs[slot]); /* even: stable */
    return 0;
}

/* -- the table: reader (SHM-TABLE-005, SHM-TABLE-006, SHM-TABLE-009, SHM-TABLE-011) ---------------------------------------- */

static void vs_shm_copy_out(const struct vs_shm_table *t, uint32_t version, const uint32_t *words,
                            uint32_t *version_out, uint32_t *value_out)
{
    if (version_out != NULL)
        *version_out = version;
    if (value_out != NULL)
        memcpy(value_out, words, (size_t)t->words * sizeof words[0]);
}

/* One attempt into rd->scratch: 1 and *version, or 0 if it failed. */
static int vs_shm_attempt(struct vs_shm_reader *rd, uint32_t slot, uint32_t *version)
{
    const struct vs_shm_table *t = &rd->t;
    if (slot >= t->slots)
        return -VS_SHM_E_TABLE;
    uint64_t seq = vs_shm_seq_at(t, slot);
    uint32_t s1 = VS_LOAD32(t, seq);
    if (s1 & 1u)
        return 0; /* the writer is in the middle of an update */
#if !VS_SHM_IS_MUTANT(NO_RMB_BEFORE_DATA)
    VS_RMB(t); /* SHM-TABLE-006 */
#endif
    for (uint32_t k = 0; k < t->words; k++)
        rd->scratch[k] = VS_LOAD32(t, vs_shm_word_at(t, slot, k));
#if !VS_SHM_IS_MUTANT(NO_SEQ_RECHECK)
#if !VS_SHM_IS_MUTANT(NO_RMB_AFTER_DATA)
    VS_RMB(t); /* SHM-TABLE-006 */
#endif
    uint32_t s2 = VS_LOAD32(t, seq);
    if (s2 != s1)
        return 0; /* an update overlapped the loads: the words may be torn */
#endif
    *version = s1;
    return 1;
}

int vs_shm_reader_attempt(struct vs_shm_reader *rd, uint32_t slot, uint32_t *version,
                          uint32_t *value)
{
    uint32_t v = 0;
    int rc = vs_shm_attempt(rd, slot, &v);
    if (rc == 1)
        vs_shm_copy_out(&rd->t, v, rd->scratch, version, value);
    return rc;
}

int vs_shm_reader_read(struct vs_shm_reader *rd, uint32_t slot, uint32_t *version,
                       uint32_t *value)
{
    const struct vs_shm_table *t = &rd->t;
#if VS_SHM_IS_MUTANT(UNBOUNDED_READ)
    for (uint32_t n = 1;; n++) {
#else
    for (uint32_t n = 1; n <= rd->max_attempts; n++) { /* SHM-TABLE-011 */
#endif
        rd->attempts = n;
        uint32_t v = 0;
        int rc = vs_shm_attempt(rd, slot, &v);
        if (rc < 0)
            return rc;
        if (rc == 1) {
            uint32_t *last = rd->last_value + (size_t)slot * t->words;
            rd->last_version[slot] = v;
            memcpy(last, rd->scratch, (size_t)t->words * sizeof last[0]);
            vs_shm_copy_out(t, v, last, version, value);
            return 0;
        }
    }
    /* every attempt failed: the last good value, which is kept */
    vs_shm_copy_out(t, rd->last_version[slot], rd->last_value + (size_t)slot * t->words,
                    version, value);
    return -VS_SHM_E_BUSY;
}

int vs_shm_reader_poll(struct vs_shm_reader *rd, uint32_t slot, uint32_t *version,
                       uint32_t *value)
{
    const struct vs_shm_table *t = &rd->t;
    int rc = vs_shm_reader_read(rd, slot, version, value);
    if (rc < 0)
        return rc;
    uint32_t v = rd->last_version[slot]; /* what the read returned */
    if (v == rd->processed_version[slot])
        return 0; /* SHM-TABLE-009: not new, not handed out */
    rd->processed_version[slot] = v;
    memcpy(rd->processed_value + (size_t)slot * t->words, rd->last_value + (size_t)slot * t->words,
           (size_t)t->words * sizeof rd->last_value[0]);
    return 1;
}

/* -- shm-signal (SHM-SIGNAL-002, SHM-SIGNAL-003, SHM-SIGNAL-004, SHM-SIGNAL-005, SHM-SIGNAL-006, SHM-SIGNAL-007) ----------------------------------------------------- */

int vs_shm_signal_init(const struct vs_shm_signal *s)
{
    VS_STORE32(s, s->offset + VS_SHM_SIGNAL_ENABLED, 0);
    VS_STORE32(s, s->offset + VS_SHM_SIGNAL_PENDING, 0);
    return 0;
}

int vs_shm_sender_inject(struct vs_shm_sender *tx)
{
    const struct vs_shm_signal *s = &tx->s;
    tx->injections++;
    VS_MB(s); /* SHM-SIGNAL-003: the announced stores before pending's load */
    if (VS_LOAD32(s, s->offset + VS_SHM_SIGNAL_PENDING) != 0) { /* non-zero is 1 */
        tx->coalesced++;
        return 0;
    }
    VS_STORE32(s, s->offset + VS_SHM_SIGNAL_PENDING, 1);
#if !VS_SHM_IS_MUTANT(NO_MB_INJECT)
    VS_MB(s); /* SHM-SIGNAL-004: pending's store before enabled's load */
#endif
    uint32_t enabled = VS_LOAD32(s, s->offset + VS_SHM_SIGNAL_ENABLED);
    if (enabled != 0)
        tx->notifications++;
    return enabled != 0;
}

int vs_shm_receiver_disable(struct vs_shm_receiver *rx)
{
    VS_STORE32(&rx->s, rx->s.offset + VS_SHM_SIGNAL_ENABLED, 0); /* a hint (SHM-SIGNAL-007) */
    return 0;
}

int vs_shm_receiver_acknowledge(struct vs_shm_receiver *rx)
{
    const struct vs_shm_signal *s = &rx->s;
    VS_STORE32(s, s->offset + VS_SHM_SIGNAL_PENDING, 0);
#if !VS_SHM_IS_MUTANT(NO_MB_ACK)
    VS_MB(s); /* SHM-SIGNAL-005: the clear before reading the announced state */
#endif
    rx->acknowledgements++;
    return 0;
}

int vs_shm_receiver_enable(struct vs_shm_receiver *rx)
{
    const struct vs_shm_signal *s = &rx->s;
    VS_STORE32(s, s->offset + VS_SHM_SIGNAL_ENABLED, 1);
#if !VS_SHM_IS_MUTANT(NO_MB_ENABLE)
    VS_MB(s); /* SHM-SIGNAL-006 */
#endif
#if VS_SHM_IS_MUTANT(NO_RECHECK_ENABLE)
    return 0;
#else
    return VS_LOAD32(s, s->offset + VS_SHM_SIGNAL_PENDING) != 0;
#endif
}

int vs_shm_reader_service(struct vs_shm_reader *rd, struct vs_shm_receiver *rx, uint32_t slot,
                          uint32_t *version, uint32_t *value)
{
    (void)vs_shm_receiver_disable(rx);
#if VS_SHM_IS_MUTANT(ACK_AFTER_READ)
    int rc = vs_shm_reader_poll(rd, slot, version, value);
    (void)vs_shm_receiver_acknowledge(rx);
    return rc;
#else
    (void)vs_shm_receiver_acknowledge(rx); /* SHM-TABLE-012, SHM-SIGNAL-005 */
    return vs_shm_reader_poll(rd, slot, version, value);
#endif
}
