/*
 * ring_stepped.c -- the stepped build of ring.c, for the checkers (reference/ring/c/stepped.py).
 *
 * Compiled in one unit after ring.c built with -DVS_STEPPED: every access macro of
 * ring_access.h lands in stepped_access.h and calls vs_py_access, a cffi extern "Python"
 * callback that hands the access to a Python generator and blocks until the checker answers
 * it. The checker may abandon an operation (a Hypothesis example ends mid-way): the callback
 * then returns nonzero and the vs_stepped_* entry point returns -VS_E_ABORTED, so the worker
 * thread running the operation ends.
 */
#define VS_STEP_CALLBACK vs_py_access
#define VS_STEP_ABORTED VS_E_ABORTED
#include "stepped_access.h"

#define VS_STEPPED_ENTRY(name, params, args) \
    VS_STEP_ENTRY(vs_stepped_##name, vs_##name, params, args)

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
