/*
 * shm_stepped.c -- the stepped build of shm.c, for the checkers (reference/shm_c.py).
 *
 * Compiled in one unit after shm.c built with -DVS_STEPPED: every access macro of
 * ring_access.h lands here and calls vs_shm_py_access, a cffi extern "Python" callback that
 * hands the access (an offset in the region; the checker adds the region's base) to the
 * checker. The checker replays an operation from its saved private state, answering the
 * accesses it has answered before; at the first new one the callback returns nonzero and we
 * longjmp back to the vs_shm_stepped_* entry point, which returns -VS_SHM_E_ABORTED. The
 * checker then yields that access, and runs the operation again once it has the answer.
 *
 * Only C frames of shm.c lie between the setjmp and the longjmp (the Python callback has
 * already returned), none of them holds a resource, and the frame of an operation is
 * private to the thread running it.
 */
#include <setjmp.h>
#include <stdlib.h>

#define VS_SHM_ACCESS_LOAD 0
#define VS_SHM_ACCESS_STORE 1
#define VS_SHM_ACCESS_FENCE 2

/* Provided by cffi (extern "Python"): 0 = go on (*loaded holds a load's value), else abort. */
static int vs_shm_py_access(void *py, int kind, uint64_t addr, uint32_t size, uint64_t value,
                            uint64_t *loaded);

struct vs_shm_step_frame {
    jmp_buf abort;
    void *py;
};

static _Thread_local struct vs_shm_step_frame *vs_shm_frame;

static uint64_t vs_shm_step(int kind, uint64_t addr, unsigned size, uint64_t value)
{
    uint64_t loaded = 0;
    if (vs_shm_frame == NULL)
        abort(); /* an access outside a vs_shm_stepped_* entry point: a bug of this file */
    if (vs_shm_py_access(vs_shm_frame->py, kind, addr, size, value, &loaded) != 0)
        longjmp(vs_shm_frame->abort, 1);
    if (size < 8)
        loaded &= ((uint64_t)1 << (8 * size)) - 1;
    return loaded;
}

uint64_t vs_step_load(uint64_t addr, unsigned size)
{
    return vs_shm_step(VS_SHM_ACCESS_LOAD, addr, size, 0);
}

void vs_step_store(uint64_t addr, unsigned size, uint64_t value)
{
    (void)vs_shm_step(VS_SHM_ACCESS_STORE, addr, size, value);
}

void vs_step_fence(enum vs_fence_kind kind)
{
    (void)vs_shm_step(VS_SHM_ACCESS_FENCE, 0, 0, (uint64_t)kind);
}

/* One entry point per operation: set the frame, run it, or return -VS_SHM_E_ABORTED. */
#define VS_SHM_STEPPED(name, params, args)                                                  \
    int vs_shm_stepped_##name params                                                        \
    {                                                                                       \
        struct vs_shm_step_frame frame;                                                     \
        frame.py = py;                                                                      \
        vs_shm_frame = &frame;                                                              \
        if (setjmp(frame.abort) != 0) {                                                     \
            vs_shm_frame = NULL;                                                            \
            return -VS_SHM_E_ABORTED;                                                       \
        }                                                                                   \
        int rc = vs_shm_##name args;                                                        \
        vs_shm_frame = NULL;                                                                \
        return rc;                                                                          \
    }

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
