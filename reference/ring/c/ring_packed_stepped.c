/*
 * ring_packed_stepped.c -- the stepped build of ring_packed.c, for the checkers
 * (reference/ring/c/packed_stepped.py).
 *
 * Compiled in one unit after ring_packed.c built with -DVS_STEPPED: every access macro of
 * ring_access.h lands in stepped_access.h and calls vs_py_access, a cffi extern "Python"
 * callback that hands the access to a Python generator and blocks until the checker answers
 * it. An operation the checker abandons returns -VS_PE_ABORTED (see ring_stepped.c).
 */
#define VS_STEP_CALLBACK vs_py_access
#define VS_STEP_ABORTED VS_PE_ABORTED
#include "stepped_access.h"

#define VS_PACKED_STEPPED_ENTRY(name, params, args) \
    VS_STEP_ENTRY(vs_stepped_packed_##name, vs_packed_##name, params, args)

VS_PACKED_STEPPED_ENTRY(driver_init, (void *py, struct vs_packed_driver *d), (d))
VS_PACKED_STEPPED_ENTRY(driver_add,
                        (void *py, struct vs_packed_driver *d, const struct vs_segment *out,
                         uint32_t n_out, const struct vs_segment *in, uint32_t n_in,
                         uint64_t token),
                        (d, out, n_out, in, n_in, token))
VS_PACKED_STEPPED_ENTRY(driver_kick_prepare, (void *py, struct vs_packed_driver *d), (d))
VS_PACKED_STEPPED_ENTRY(driver_get_used,
                        (void *py, struct vs_packed_driver *d, uint64_t *token, uint32_t *len),
                        (d, token, len))
VS_PACKED_STEPPED_ENTRY(driver_disable_cb, (void *py, struct vs_packed_driver *d), (d))
VS_PACKED_STEPPED_ENTRY(driver_enable_cb_prepare, (void *py, struct vs_packed_driver *d), (d))
VS_PACKED_STEPPED_ENTRY(driver_poll, (void *py, struct vs_packed_driver *d, uint16_t last),
                        (d, last))
VS_PACKED_STEPPED_ENTRY(driver_enable_cb, (void *py, struct vs_packed_driver *d), (d))
VS_PACKED_STEPPED_ENTRY(driver_enable_cb_delayed, (void *py, struct vs_packed_driver *d), (d))
VS_PACKED_STEPPED_ENTRY(device_init, (void *py, struct vs_packed_device *v), (v))
VS_PACKED_STEPPED_ENTRY(device_pop,
                        (void *py, struct vs_packed_device *v, uint16_t *id,
                         struct vs_segment *segs, uint32_t max_segs, uint32_t *n_readable,
                         uint32_t *n_writable),
                        (v, id, segs, max_segs, n_readable, n_writable))
VS_PACKED_STEPPED_ENTRY(device_push,
                        (void *py, struct vs_packed_device *v, const struct vs_used_elem *used,
                         uint32_t n),
                        (v, used, n))
VS_PACKED_STEPPED_ENTRY(device_should_notify, (void *py, struct vs_packed_device *v), (v))
VS_PACKED_STEPPED_ENTRY(device_disable_notify, (void *py, struct vs_packed_device *v), (v))
VS_PACKED_STEPPED_ENTRY(device_enable_notify, (void *py, struct vs_packed_device *v), (v))
