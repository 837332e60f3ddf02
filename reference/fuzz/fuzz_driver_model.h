/*
 * fuzz_driver_model.h -- the token book the split and the packed driver harnesses keep: which
 * buffers the driver under test holds, how many writable bytes each has and how many
 * descriptors it takes, and the checks of add, get_used and detach_unused against it.
 * Include it after fuzz_common.h and the ring library, with FZ_STOPPED, FZ_USED, FZ_FULL and
 * FZ_TOO_MANY defined as the library's codes for "stopped", "bad used entry", "no room" and
 * "more than Q descriptors".
 */
#ifndef VS_FUZZ_DRIVER_MODEL_H
#define VS_FUZZ_DRIVER_MODEL_H

#include "fuzz_common.h"

#define FZ_MAX_TOKENS 8192

struct fz_book {
    uint32_t q;
    uint64_t next_token;
    uint8_t live[FZ_MAX_TOKENS];
    uint64_t writable[FZ_MAX_TOKENS];
    uint32_t descs[FZ_MAX_TOKENS]; /* ring descriptors each holds */
    uint32_t free_descs, free_ids;
};

static struct fz_book fz_book;

/* A new driver on a queue of q: nothing outstanding (tokens keep counting up). */
static inline void fz_book_reset(uint32_t q)
{
    fz_refused = false;
    fz_book.q = q;
    memset(fz_book.live, 0, sizeof fz_book.live);
    fz_book.free_descs = q;
    fz_book.free_ids = q;
}

struct fz_add {
    struct vs_segment out[4], in[4];
    uint32_t n_out, n_in, need;
    uint64_t writable, token;
};

/* Read an add from the input: 0..4 readable then 0..4 writable segments in the data area.
 * False when there is nothing to add (no segment, or every token spent). */
static inline bool fz_add_read(struct fz_add *a, uint64_t data, uint64_t data_len, bool indirect,
                               uint32_t indirect_max)
{
    a->n_out = fz_u8() % 5;
    a->n_in = fz_u8() % 5;
    a->writable = 0;
    for (uint32_t k = 0; k < a->n_out + a->n_in; k++) {
        struct vs_segment *s = k < a->n_out ? &a->out[k] : &a->in[k - a->n_out];
        s->addr = data + (data_len ? fz_u16() % data_len : 0);
        s->len = 1 + fz_u8();
        if (k >= a->n_out)
            a->writable += s->len;
    }
    uint32_t n = a->n_out + a->n_in;
    if (n == 0 || fz_book.next_token >= FZ_MAX_TOKENS)
        return false;
    a->token = fz_book.next_token;
    a->need = indirect && n > 1 && n <= indirect_max ? 1 : n;
    FZ_OP_BEGIN();
    return true;
}

/* The add answered rc: refused only as the book says, else its token is outstanding. */
static inline void fz_add_answer(const struct fz_add *a, int rc)
{
    uint32_t n = a->n_out + a->n_in;
    FZ_CHECK(FZ_LOADS() == 0, "add loaded shared memory");
    if (fz_refused) {
        FZ_CHECK(rc == -FZ_STOPPED, "add after a refusal returned %d", rc);
        return;
    }
    if (n > fz_book.q) {
        FZ_CHECK(rc == -FZ_TOO_MANY, "add of %u > Q descriptors returned %d", n, rc);
        return;
    }
    if (a->need > fz_book.free_descs || fz_book.free_ids == 0) {
        FZ_CHECK(rc == -FZ_FULL, "add of %u descriptors with %u free returned %d", a->need,
                 fz_book.free_descs, rc);
        return;
    }
    FZ_CHECK(rc >= 0 && (uint32_t)rc < fz_book.q, "add returned %d", rc);
    fz_book.next_token++;
    fz_book.live[a->token] = 1;
    fz_book.writable[a->token] = a->writable;
    fz_book.descs[a->token] = a->need;
    fz_book.free_descs -= a->need;
    fz_book.free_ids--;
}

/* get_used answered rc (needs_reset: the driver's own flag after it) with token and len;
 * true when it handed a buffer back. */
static inline bool fz_used_answer(int rc, bool needs_reset, uint64_t token, uint32_t len)
{
    FZ_CHECK(FZ_LOADS() <= 3, "get_used made %llu loads", (unsigned long long)FZ_LOADS());
    if (fz_refused) {
        FZ_CHECK(rc == -FZ_STOPPED, "get_used after a refusal returned %d", rc);
        return false;
    }
    if (rc == -FZ_USED) {
        FZ_CHECK(needs_reset, "refusal without needs-reset");
        fz_refused = true;
        return false;
    }
    FZ_CHECK(rc == 0 || rc == 1, "get_used returned %d", rc);
    if (rc == 0)
        return false;
    FZ_CHECK(token < FZ_MAX_TOKENS && fz_book.live[token],
             "get_used handed back token %llu, which the driver does not own",
             (unsigned long long)token);
    FZ_CHECK(len <= fz_book.writable[token], "get_used len %u beyond the %llu writable bytes",
             len, (unsigned long long)fz_book.writable[token]);
    fz_book.live[token] = 0;
    fz_book.free_descs += fz_book.descs[token];
    fz_book.free_ids++;
    FZ_CHECK(fz_book.free_descs <= fz_book.q, "more than Q descriptors free");
    return true;
}

/* kick_prepare answered rc: a decision, from at most one load of the device's side. */
static inline void fz_kick_answer(int rc)
{
    fz_check_flag(rc, "kick_prepare", FZ_STOPPED);
    FZ_CHECK(FZ_LOADS() <= 1, "kick_prepare made %llu loads", (unsigned long long)FZ_LOADS());
}

/* detach_unused answered rc with tokens: exactly the outstanding ones, each once. */
static inline void fz_detach_answer(int rc, const uint64_t *tokens)
{
    FZ_CHECK(rc >= 0, "detach_unused returned %d", rc);
    uint32_t expect = 0;
    for (uint64_t t = 0; t < fz_book.next_token; t++)
        expect += fz_book.live[t];
    FZ_CHECK((uint32_t)rc == expect, "detach_unused returned %d buffers, %u outstanding", rc,
             expect);
    for (int i = 0; i < rc; i++) {
        FZ_CHECK(tokens[i] < FZ_MAX_TOKENS && fz_book.live[tokens[i]],
                 "detach_unused returned token %llu it does not own",
                 (unsigned long long)tokens[i]);
        fz_book.live[tokens[i]] = 0;
    }
}

#endif /* VS_FUZZ_DRIVER_MODEL_H */
