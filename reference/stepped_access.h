/*
 * stepped_access.h -- what the stepped builds share (ring_stepped.c, shm_stepped.c): the
 * access functions of ring_access.h under -DVS_STEPPED, which hand every load, store and
 * fence to the checker through a cffi extern "Python" callback, and the entry points that
 * run one operation and return early when the checker abandons it.
 *
 * The callback answers 0 to go on (*loaded then holds a load's value), nonzero to abort:
 * we then longjmp back to the entry point of the operation, which returns the negated
 * abort code. Only C frames of the library lie between the setjmp and the longjmp (the
 * Python callback has already returned), none of them holds a resource, and the frame of
 * an operation is private to the thread running it.
 *
 * Include once, in the stepped unit (after the library's .c), having defined:
 *   VS_STEP_CALLBACK -- the name of the extern "Python" callback, as in the build's cdef;
 *   VS_STEP_ABORTED  -- the error code an abandoned operation returns (negated).
 * Then VS_STEP_ENTRY(entry, call, params, args) defines `int entry params`, which runs
 * `call args` in a frame; its params start with `void *py` (the checker's handle).
 */
#ifndef VS_STEPPED_ACCESS_H
#define VS_STEPPED_ACCESS_H

#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>

#include "ring_access.h"

#if !defined(VS_STEP_CALLBACK) || !defined(VS_STEP_ABORTED)
#error "define VS_STEP_CALLBACK and VS_STEP_ABORTED before including stepped_access.h"
#endif

/* The kinds of access the callback receives (reference/ring/c/stepped.py, shm_c.py). */
#define VS_ACCESS_LOAD 0
#define VS_ACCESS_STORE 1
#define VS_ACCESS_FENCE 2

/* Provided by cffi (extern "Python"): 0 = go on (*loaded holds a load's value), else abort. */
static int VS_STEP_CALLBACK(void *py, int kind, uint64_t addr, uint32_t size, uint64_t value,
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
        abort(); /* an access outside a stepped entry point: a bug of the stepped unit */
    if (VS_STEP_CALLBACK(vs_frame->py, kind, addr, size, value, &loaded) != 0)
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

/* One entry point per operation: set the frame, run it, or return -VS_STEP_ABORTED. */
#define VS_STEP_ENTRY(entry, call, params, args)                                            \
    int entry params                                                                        \
    {                                                                                       \
        struct vs_step_frame frame;                                                         \
        frame.py = py;                                                                      \
        vs_frame = &frame;                                                                  \
        if (setjmp(frame.abort) != 0) {                                                     \
            vs_frame = NULL;                                                                \
            return -VS_STEP_ABORTED;                                                        \
        }                                                                                   \
        int rc = call args;                                                                 \
        vs_frame = NULL;                                                                    \
        return rc;                                                                          \
    }

#endif /* VS_STEPPED_ACCESS_H */
