/*
 * fuzz_device_model.h -- the checks the split and the packed device harnesses make of a pop
 * and a push alike. Include it after fuzz_common.h and the ring library, with FZ_STOPPED,
 * FZ_NO_SPACE and FZ_INVALID defined as the library's codes for "needs a reset", "the
 * caller's segment array is too small" and "a bad push batch".
 */
#ifndef VS_FUZZ_DEVICE_MODEL_H
#define VS_FUZZ_DEVICE_MODEL_H

#include "fuzz_common.h"

/* The room a pop is given: mostly Q segments; with the byte's top bit, a smaller array. */
static inline uint32_t fz_pop_room(uint32_t q)
{
    uint8_t room_byte = fz_u8();
    return room_byte & 0x80 ? room_byte % (q + 1) : q;
}

/*
 * A pop answered rc. known: rc is one of the refusals the spec names; still: the queue did
 * not move (nothing consumed, nothing taken); needs_reset: the device's own flag after it.
 * Returns true when a chain or list of nr + nw segments was accepted, with its writable bytes
 * in *wlen; every other answer is checked here.
 */
static inline bool fz_pop_answer(int rc, bool known, bool still, bool needs_reset, uint32_t room,
                                 uint32_t q, const struct vs_segment *segs, uint32_t nr,
                                 uint32_t nw, uint64_t *wlen)
{
    if (fz_refused) {
        FZ_CHECK(rc == -FZ_STOPPED, "pop after a refusal returned %d", rc);
        return false;
    }
    if (rc == -FZ_NO_SPACE) { /* the caller's array, not the driver's fault */
        FZ_CHECK(room < q, "pop with room for Q segments returned NO_SPACE");
        FZ_CHECK(!needs_reset && still, "NO_SPACE broke or moved the queue");
        return false;
    }
    if (rc < 0) {
        FZ_CHECK(known, "pop returned unknown %d", rc);
        FZ_CHECK(needs_reset, "refusal %d without needs-reset", rc);
        FZ_CHECK(still, "a refused pop consumed an entry or took descriptors");
        fz_refused = true;
        return false;
    }
    FZ_CHECK(rc == 0 || rc == 1, "pop returned %d", rc);
    if (rc == 0) {
        FZ_CHECK(still, "an empty pop consumed an entry");
        return false;
    }
    FZ_CHECK(nr + nw >= 1 && nr + nw <= room, "%u + %u segments accepted (room %u, Q %u)", nr,
             nw, room, q);
    *wlen = 0;
    for (uint32_t i = 0; i < nr + nw; i++) {
        FZ_CHECK(fz_in_guest(segs[i].addr, segs[i].len),
                 "accepted segment [0x%llx, +0x%llx) outside guest memory",
                 (unsigned long long)segs[i].addr, (unsigned long long)segs[i].len);
        if (i >= nr)
            *wlen += segs[i].len;
    }
    return true;
}

/* A push of a batch the model judged valid or not answered rc; true when it was accepted. */
static inline bool fz_push_answer(int rc, bool valid)
{
    FZ_CHECK(FZ_LOADS() == 0, "push loaded shared memory");
    if (fz_refused) {
        FZ_CHECK(rc == -FZ_STOPPED, "push after a refusal returned %d", rc);
        return false;
    }
    if (!valid) {
        FZ_CHECK(rc == -FZ_INVALID, "push of a bad batch returned %d", rc);
        return false;
    }
    FZ_CHECK(rc == 0, "push of a valid batch returned %d", rc);
    return true;
}

#endif /* VS_FUZZ_DEVICE_MODEL_H */
