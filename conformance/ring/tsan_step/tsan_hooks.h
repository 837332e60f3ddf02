/*
 * tsan_hooks.h -- the frame of one stepped operation of foreign C (tsan_hooks.c), and the
 * macro that defines its entry points.
 *
 * Before including, define VS_TSAN_CALLBACK: the name of the cffi extern "Python" callback
 *   int VS_TSAN_CALLBACK(void *py, int kind, uint64_t off, uint32_t size, uint64_t value,
 *                        uint64_t *loaded);
 * (kind: VS_TSAN_LOAD / STORE / FENCE; off: guest offset; a fence's kind in value; 0 = go
 * on, *loaded holding a load's value; nonzero = abandon the operation).
 */
#ifndef VS_TSAN_HOOKS_H
#define VS_TSAN_HOOKS_H

#include <setjmp.h>
#include <stdint.h>

#ifndef VS_TSAN_CALLBACK
#error "define VS_TSAN_CALLBACK before including tsan_hooks.h"
#endif

#define VS_TSAN_LOAD 0
#define VS_TSAN_STORE 1
#define VS_TSAN_FENCE 2
#define VS_TSAN_MB 0
#define VS_TSAN_WMB 1
#define VS_TSAN_RMB 2

static int VS_TSAN_CALLBACK(void *py, int kind, uint64_t addr, uint32_t size, uint64_t value,
                            uint64_t *loaded);

/* One operation in progress on this thread: the checker's handle, the side's view. */
struct vs_tsan_frame {
    jmp_buf abort;
    void *py;
    uint8_t *base;     /* the side's view of guest memory: [base, base + size) */
    uint64_t size;
    uint64_t pend_off; /* a plain store noted, not yet handed over */
    uint64_t pend_size;
    uint64_t steps;
};

extern _Thread_local struct vs_tsan_frame *vs_tsan_cur;
void vs_tsan_flush(struct vs_tsan_frame *f);

/*
 * VS_TSAN_RUN(rc, py, base, size, aborted, call): run `call` (an int expression calling the
 * instrumented code) with every access to [base, base + size) stepped; rc gets its result,
 * or -aborted when the checker abandoned it. A statement; use once per function (setjmp).
 */
#define VS_TSAN_RUN(rc, py_, base_, size_, aborted, call)                                   \
    do {                                                                                    \
        struct vs_tsan_frame vs_frame_;                                                     \
        vs_frame_.py = (py_);                                                               \
        vs_frame_.base = (uint8_t *)(base_);                                                \
        vs_frame_.size = (size_);                                                           \
        vs_frame_.pend_off = vs_frame_.pend_size = vs_frame_.steps = 0;                     \
        vs_tsan_cur = &vs_frame_;                                                           \
        if (setjmp(vs_frame_.abort) != 0) {                                                 \
            vs_tsan_cur = NULL;                                                             \
            (rc) = -(aborted);                                                              \
            break;                                                                          \
        }                                                                                   \
        (rc) = (call);                                                                      \
        vs_tsan_flush(&vs_frame_);                                                          \
        vs_tsan_cur = NULL;                                                                 \
    } while (0)

#endif /* VS_TSAN_HOOKS_H */
