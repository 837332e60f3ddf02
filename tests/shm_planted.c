/*
 * shm_planted.c -- reference/shm/c/shm_abi.c over shm.c with one planted bug, -DSHM_PLANT=<n>:
 *  1 (default) the writer's update is never odd: the words, then seq + 2, with no odd seq
 *    first (SHM-TABLE-004); a reader can take the words of an update half written for a
 *    stable value (shm_mutants.h has no such variant; the --stress tests use it);
 *  2 every create ignores state_size (no -NO_SPACE);
 *  3 the writer's update takes any number of words (no -INVALID);
 *  4 the signalled reader polls without acknowledging (pending stays set).
 * Built by tests/lib_builds.py.
 */
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#ifndef SHM_PLANT
#define SHM_PLANT 1
#endif

#define virtiospec_shm_writer_update orig_writer_update
#define virtiospec_shm_writer_create orig_writer_create
#define virtiospec_shm_sender_create orig_sender_create
#define virtiospec_shm_service orig_service
#include "shm_abi.c"
#undef virtiospec_shm_service
#undef virtiospec_shm_writer_update
#undef virtiospec_shm_writer_create
#undef virtiospec_shm_sender_create

#define EXPORT __attribute__((visibility("default")))
EXPORT int virtiospec_shm_writer_create(void *state, size_t state_size, void *region,
                                        uint64_t length,
                                        const struct virtiospec_shm_table_config *cfg);
EXPORT int virtiospec_shm_sender_create(void *state, size_t state_size, void *region,
                                        uint64_t length, uint64_t offset);
EXPORT int virtiospec_shm_service(void *reader_state, void *receiver_state, uint32_t slot,
                                  uint32_t *version, uint32_t *value);

int virtiospec_shm_service(void *reader_state, void *receiver_state, uint32_t slot,
                           uint32_t *version, uint32_t *value)
{
    if (SHM_PLANT == 4) {
        (void)vs_shm_receiver_disable(receiver_state);
        return vs_shm_reader_poll(reader_state, slot, version, value); /* no acknowledge */
    }
    return orig_service(reader_state, receiver_state, slot, version, value);
}

int virtiospec_shm_writer_create(void *state, size_t state_size, void *region, uint64_t length,
                                 const struct virtiospec_shm_table_config *cfg)
{
    return orig_writer_create(state, SHM_PLANT == 2 ? SIZE_MAX : state_size, region, length,
                              cfg);
}

int virtiospec_shm_sender_create(void *state, size_t state_size, void *region, uint64_t length,
                                 uint64_t offset)
{
    return orig_sender_create(state, SHM_PLANT == 2 ? SIZE_MAX : state_size, region, length,
                              offset);
}

__attribute__((visibility("default"))) int virtiospec_shm_writer_update(void *state,
                                                                        uint32_t slot,
                                                                        const uint32_t *value,
                                                                        uint32_t n);

int virtiospec_shm_writer_update(void *state, uint32_t slot, const uint32_t *value, uint32_t n)
{
    struct vs_shm_writer *w = state;
    const struct vs_shm_table *t = &w->t;
    if (SHM_PLANT == 3 && value != NULL && slot < t->slots && n > t->words)
        n = t->words; /* the extra words ignored */
    if (SHM_PLANT != 1 || slot >= t->slots || n != t->words || value == NULL)
        return orig_writer_update(state, slot, value, n); /* its refusals */
    uint64_t base = t->offset + (uint64_t)slot * 4 * (1 + t->words);
    for (uint32_t k = 0; k < n; k++)
        atomic_store_explicit((_Atomic uint32_t *)(void *)(t->r.mem + base + 4 + 4 * k),
                              value[k], memory_order_relaxed);
    atomic_thread_fence(memory_order_release);
    w->seqs[slot] += 2; /* never odd */
    atomic_store_explicit((_Atomic uint32_t *)(void *)(t->r.mem + base), w->seqs[slot],
                          memory_order_relaxed);
    return 0;
}
