/*
 * shm_stepped.c -- the stepped build of shm.c, for the checkers (reference/shm/c/stepped.py).
 *
 * Compiled in one unit after shm.c built with -DVS_STEPPED: every access macro of
 * ring_access.h lands in stepped_access.h and calls vs_shm_py_access, a cffi extern "Python"
 * callback that hands the access (an offset in the region; the checker adds the region's
 * base) to the checker. The checker replays an operation from its saved private state,
 * answering the accesses it has answered before; at the first new one the callback returns
 * nonzero and the vs_shm_stepped_* entry point returns -VS_SHM_E_ABORTED. The checker then
 * yields that access, and runs the operation again once it has the answer.
 */
#define VS_STEP_CALLBACK vs_shm_py_access
#define VS_STEP_ABORTED VS_SHM_E_ABORTED
#include "stepped_access.h"

#define VS_SHM_STEPPED(name, params, args) \
    VS_STEP_ENTRY(vs_shm_stepped_##name, vs_shm_##name, params, args)

VS_SHM_STEPPED(writer_init, (void *py, struct vs_shm_writer *w), (w))
VS_SHM_STEPPED(writer_update,
               (void *py, struct vs_shm_writer *w, uint32_t slot, const uint32_t *value,
                uint32_t n),
               (w, slot, value, n))
VS_SHM_STEPPED(reader_attempt,
               (void *py, struct vs_shm_reader *rd, uint32_t slot, uint32_t *version,
                uint32_t *value),
               (rd, slot, version, value))
VS_SHM_STEPPED(reader_read,
               (void *py, struct vs_shm_reader *rd, uint32_t slot, uint32_t *version,
                uint32_t *value),
               (rd, slot, version, value))
VS_SHM_STEPPED(reader_poll,
               (void *py, struct vs_shm_reader *rd, uint32_t slot, uint32_t *version,
                uint32_t *value),
               (rd, slot, version, value))
VS_SHM_STEPPED(reader_service,
               (void *py, struct vs_shm_reader *rd, struct vs_shm_receiver *rx, uint32_t slot,
                uint32_t *version, uint32_t *value),
               (rd, rx, slot, version, value))
VS_SHM_STEPPED(signal_init, (void *py, const struct vs_shm_signal *s), (s))
VS_SHM_STEPPED(sender_inject, (void *py, struct vs_shm_sender *tx), (tx))
VS_SHM_STEPPED(receiver_disable, (void *py, struct vs_shm_receiver *rx), (rx))
VS_SHM_STEPPED(receiver_acknowledge, (void *py, struct vs_shm_receiver *rx), (rx))
VS_SHM_STEPPED(receiver_enable, (void *py, struct vs_shm_receiver *rx), (rx))
