/*
 * ring_entries.c -- stepped entry points over any implementation of virtiospec_ring.h
 * compiled with -fsanitize=thread (build.py): vs_stepped_<fn>(py, side, args...) runs
 * virtiospec_ring_<fn>(side->state, args...) with every access to the side's view of guest
 * memory handed to the checker (tsan_hooks.c). Not instrumented itself.
 */
#include "virtiospec_ring.h"

struct vs_tsan_side {
    void *state;    /* the implementation's private state */
    uint8_t *view;  /* this side's view of guest memory, the `mem` it was created with */
    uint64_t view_size;
};

#define VS_TSAN_ENTRY(fn, params, args)                                                     \
    int vs_stepped_##fn params;                                                                \
    int vs_stepped_##fn params                                                                 \
    {                                                                                       \
        int rc;                                                                             \
        VS_TSAN_RUN(rc, py, s->view, s->view_size, VIRTIOSPEC_RING_E_ABORTED,               \
                    virtiospec_ring_##fn args);                                             \
        return rc;                                                                          \
    }

VS_TSAN_ENTRY(driver_init, (void *py, struct vs_tsan_side *s), (s->state))
VS_TSAN_ENTRY(driver_add,
              (void *py, struct vs_tsan_side *s, const struct virtiospec_ring_segment *out,
               uint32_t n_out, const struct virtiospec_ring_segment *in, uint32_t n_in,
               uint64_t token),
              (s->state, out, n_out, in, n_in, token))
VS_TSAN_ENTRY(driver_kick_prepare, (void *py, struct vs_tsan_side *s), (s->state))
VS_TSAN_ENTRY(driver_get_used, (void *py, struct vs_tsan_side *s, uint64_t *token, uint32_t *len),
              (s->state, token, len))
VS_TSAN_ENTRY(driver_disable_cb, (void *py, struct vs_tsan_side *s), (s->state))
VS_TSAN_ENTRY(driver_enable_cb, (void *py, struct vs_tsan_side *s), (s->state))
VS_TSAN_ENTRY(driver_enable_cb_delayed, (void *py, struct vs_tsan_side *s), (s->state))
VS_TSAN_ENTRY(device_init, (void *py, struct vs_tsan_side *s), (s->state))
VS_TSAN_ENTRY(device_pop,
              (void *py, struct vs_tsan_side *s, uint16_t *head,
               struct virtiospec_ring_segment *segs, uint32_t max_segs, uint32_t *n_readable,
               uint32_t *n_writable),
              (s->state, head, segs, max_segs, n_readable, n_writable))
VS_TSAN_ENTRY(device_push,
              (void *py, struct vs_tsan_side *s, const struct virtiospec_ring_used_elem *used,
               uint32_t n),
              (s->state, used, n))
VS_TSAN_ENTRY(device_should_notify, (void *py, struct vs_tsan_side *s), (s->state))
VS_TSAN_ENTRY(device_enable_notify, (void *py, struct vs_tsan_side *s), (s->state))
VS_TSAN_ENTRY(device_disable_notify, (void *py, struct vs_tsan_side *s), (s->state))
