/*
 * shm_planted.c -- reference/shm_abi.c over shm.c with the writer's update replaced by one
 * that is never odd: the words, then seq + 2, with no odd seq first (SHM-TABLE-004). A
 * reader can then take the words of an update half written for a stable value. Built by
 * tests/lib_builds.py for the shm-lib --stress tests (shm_mutants.h has no such variant).
 */
#include <stdatomic.h>
#include <stdint.h>

#define virtiospec_shm_writer_update orig_writer_update
#include "shm_abi.c"
#undef virtiospec_shm_writer_update

__attribute__((visibility("default"))) int virtiospec_shm_writer_update(void *state,
                                                                        uint32_t slot,
                                                                        const uint32_t *value,
                                                                        uint32_t n);

int virtiospec_shm_writer_update(void *state, uint32_t slot, const uint32_t *value, uint32_t n)
{
    struct vs_shm_writer *w = state;
    const struct vs_shm_table *t = &w->t;
    if (slot >= t->slots || n != t->words || value == NULL)
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
