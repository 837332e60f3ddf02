/*
 * packed_entries.c -- stepped entry points of Linux's packed-ring driver
 * (conformance/ring/linux_vring/linux_packed.h), as ring_entries.c for the split ABI: compiled
 * into the Linux build only (build.py: Recipe.packed).
 */
#include "linux_packed.h"

#define VS_TSAN_PACKED_ENTRY(fn, params, args)                                              \
    int vs_stepped_packed_driver_##fn params;                                               \
    int vs_stepped_packed_driver_##fn params                                                \
    {                                                                                       \
        int rc;                                                                             \
        VS_TSAN_RUN(rc, py, s->view, s->view_size, VIRTIOSPEC_RING_E_ABORTED,               \
                    vsl_packed_driver_##fn args);                                           \
        return rc;                                                                          \
    }

VS_TSAN_PACKED_ENTRY(init, (void *py, struct vs_tsan_side *s), (s->state))
VS_TSAN_PACKED_ENTRY(add,
                     (void *py, struct vs_tsan_side *s,
                      const struct virtiospec_ring_segment *out, uint32_t n_out,
                      const struct virtiospec_ring_segment *in, uint32_t n_in, uint64_t token),
                     (s->state, out, n_out, in, n_in, token))
VS_TSAN_PACKED_ENTRY(kick_prepare, (void *py, struct vs_tsan_side *s), (s->state))
VS_TSAN_PACKED_ENTRY(get_used,
                     (void *py, struct vs_tsan_side *s, uint64_t *token, uint32_t *len),
                     (s->state, token, len))
VS_TSAN_PACKED_ENTRY(disable_cb, (void *py, struct vs_tsan_side *s), (s->state))
VS_TSAN_PACKED_ENTRY(enable_cb, (void *py, struct vs_tsan_side *s), (s->state))
