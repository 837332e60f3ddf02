/*
 * ring_stepped.c -- the stepped build of ring.c, for the checkers (reference/ring_c_stepped.py).
 *
 * Compiled in one unit after ring.c built with -DVS_STEPPED: every access macro of
 * ring_access.h lands here and calls vs_py_access, a cffi extern "Python" callback that
 * hands the access to a Python generator and blocks until the checker answers it. The
 * checker may abandon an operation (a Hypothesis example ends mid-way): the callback then
 * returns nonzero and we longjmp back to the vs_stepped_* entry point, which returns
 * -VS_E_ABORTED, so the worker thread running the operation ends.
 *
 * Only C frames of ring.c lie between the setjmp and the longjmp (the Python callback has
 * already returned), and the frame of an operation is private to the thread running it.
 */
#include <setjmp.h>
#include <stdlib.h>

#define VS_ACCESS_LOAD 0
#define VS_ACCESS_STORE 1
#define VS_ACCESS_FENCE 2

/* Provided by cffi (extern "Python"): 0 = go on (*loaded holds a load's value), else abort. */
static int vs_py_access(void *py, int kind, uint64_t addr, uint32_t size, uint64_t value,
                        uint64_t *loaded);

struct vs_step_frame {
    jmp_buf abort;
    void *py;
};

static _Thread_local struct vs_step_frame *vs_frame;

static uint64_t vs_step(int kind, uint64_t addr, unsigned size, uint64_t value)
{
    uint64_t loaded = 0;
    if (vs_frame == NULL)
        abort(); /* an access outside a vs_stepped_* entry point: a bug of this file */
    if (vs_py_access(vs_frame->py, kind, addr, size, value, &loaded) != 0)
        longjmp(vs_frame->abort, 1);
    if (size < 8)
        loaded &= ((uint64_t)1 << (8 * size)) - 1;
    return loaded;
}

uint64_t vs_step_load(uint64_t addr, unsigned size)
{
    return vs_step(VS_ACCESS_LOAD, addr, size, 0);
}

void vs_step_store(uint64_t addr, unsigned size, uint64_t value)
{
    (void)vs_step(VS_ACCESS_STORE, addr, size, value);
}

void vs_step_fence(enum vs_fence_kind kind)
{
    (void)vs_step(VS_ACCESS_FENCE, 0, 0, (uint64_t)kind);
}

/* One entry point per operation: set the frame, run it, or return -VS_E_ABORTED. */
#define VS_STEPPED_ENTRY(name, params, args)                                                      \
    int vs_stepped_##name params                                                            \
    {                                                                                       \
        struct vs_step_frame frame;                                                         \
        frame.py = py;                                                                      \
        vs_frame = &frame;                                                                  \
        if (setjmp(frame.abort) != 0) {                                                     \
            vs_frame = NULL;                                                                \
            return -VS_E_ABORTED;                                                           \
        }                                                                                   \
        int rc = vs_##name args;                                                            \
        vs_frame = NULL;                                                                    \
        return rc;                                                                          \
    }

VS_STEPPED_ENTRY(driver_init, (void *py, struct vs_driver *d), (d))
VS_STEPPED_ENTRY(driver_add,
           (void *py, struct vs_driver *d, const struct vs_segment *out, uint32_t n_out,
            const struct vs_segment *in, uint32_t n_in, uint64_t token),
           (d, out, n_out, in, n_in, token))
VS_STEPPED_ENTRY(driver_kick_prepare, (void *py, struct vs_driver *d), (d))
VS_STEPPED_ENTRY(driver_get_used, (void *py, struct vs_driver *d, uint64_t *token, uint32_t *len),
           (d, token, len))
VS_STEPPED_ENTRY(driver_disable_cb, (void *py, struct vs_driver *d), (d))
VS_STEPPED_ENTRY(driver_enable_cb_prepare, (void *py, struct vs_driver *d), (d))
VS_STEPPED_ENTRY(driver_poll, (void *py, struct vs_driver *d, uint16_t last), (d, last))
VS_STEPPED_ENTRY(driver_enable_cb, (void *py, struct vs_driver *d), (d))
VS_STEPPED_ENTRY(driver_enable_cb_delayed, (void *py, struct vs_driver *d), (d))
VS_STEPPED_ENTRY(device_init, (void *py, struct vs_device *v), (v))
VS_STEPPED_ENTRY(device_pop,
           (void *py, struct vs_device *v, uint16_t *head, struct vs_segment *segs,
            uint32_t max_segs, uint32_t *n_readable, uint32_t *n_writable),
           (v, head, segs, max_segs, n_readable, n_writable))
VS_STEPPED_ENTRY(device_push, (void *py, struct vs_device *v, const struct vs_used_elem *used,
                         uint32_t n),
           (v, used, n))
VS_STEPPED_ENTRY(device_should_notify, (void *py, struct vs_device *v), (v))
VS_STEPPED_ENTRY(device_disable_notify, (void *py, struct vs_device *v), (v))
VS_STEPPED_ENTRY(device_enable_notify, (void *py, struct vs_device *v), (v))
