/*
 * ring_threads_abi.h -- ring_threads.c's calls of ring.h, made instead through
 * conformance/ring/virtiospec_ring.h in two shared libraries loaded with dlopen: the driver's
 * (--driver-lib) and the device's (--device-lib), which may be one library, or one of them
 * the reference (ring.c behind the ABI). Included by ring_threads.c when built with
 * -DVS_THREADS_ABI; the harness then sees each side only through the ABI. With --packed the
 * functions are those of virtiospec_ring_packed.h (the same shapes but create's config):
 * the packed ring on the same two threads.
 */
#ifndef VS_RING_THREADS_ABI_H
#define VS_RING_THREADS_ABI_H

#include <dlfcn.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "virtiospec_ring.h"
#include "virtiospec_ring_packed.h"

#define VS_F_EVENT_IDX VIRTIOSPEC_RING_F_EVENT_IDX
#define VS_MAX_QUEUE_SIZE 32768u
#define VS_MUTANT 0 /* the libraries carry their own bugs, if any */

struct vs_driver; /* opaque: the library's state */
struct vs_device;
/* ring.h's segment and used element are the ABI's (the same fields; ring_abi.c checks it) */
#define vs_segment virtiospec_ring_segment
#define vs_used_elem virtiospec_ring_used_elem

/* The functions of one library, looked up by name. */
struct vs_abi {
    uint32_t (*abi_version)(void);
    size_t (*driver_state_size)(uint32_t);
    int (*driver_create)(void *, size_t, void *, uint64_t, const struct virtiospec_ring_config *);
    int (*pdriver_create)(void *, size_t, void *, uint64_t,
                          const struct virtiospec_ring_packed_config *);
    int (*pdevice_create)(void *, size_t, void *, uint64_t,
                          const struct virtiospec_ring_packed_config *);
    int (*driver_init)(void *);
    int (*driver_add)(void *, const struct virtiospec_ring_segment *, uint32_t,
                      const struct virtiospec_ring_segment *, uint32_t, uint64_t);
    int (*driver_kick_prepare)(void *);
    int (*driver_get_used)(void *, uint64_t *, uint32_t *);
    int (*driver_disable_cb)(void *);
    int (*driver_enable_cb)(void *);
    int (*driver_enable_cb_delayed)(void *);
    size_t (*device_state_size)(uint32_t);
    int (*device_create)(void *, size_t, void *, uint64_t, const struct virtiospec_ring_config *);
    int (*device_init)(void *);
    int (*device_pop)(void *, uint16_t *, struct virtiospec_ring_segment *, uint32_t, uint32_t *,
                      uint32_t *);
    int (*device_push)(void *, const struct virtiospec_ring_used_elem *, uint32_t);
    int (*device_should_notify)(void *);
    int (*device_enable_notify)(void *);
    int (*device_disable_notify)(void *);
};

static struct vs_abi vs_abi_side[2]; /* [0]: the driver's library, [1]: the device's */
static bool vs_abi_packed;           /* --packed: virtiospec_ring_packed.h */

/* The call each thread is in, for the report of a crash (vs_abi_crashed). */
static _Thread_local const char *vs_abi_call = "no call";
static _Thread_local const char *vs_abi_thread = "main";

#define VS_CALL(side, fn, ...) (vs_abi_call = "virtiospec_ring_" #fn, side->fn(__VA_ARGS__))

/* A fatal signal in a library call: name it and the call on stderr (write only: safe in a
 * signal handler), then die of it. */
static void vs_abi_say(const char *text)
{
    if (write(2, text, strlen(text)) < 0) {
    }
}

static void vs_abi_crashed(int sig)
{
    vs_abi_say("ring_threads: ");
    vs_abi_say(sig == SIGSEGV ? "SIGSEGV" : sig == SIGBUS ? "SIGBUS" : sig == SIGFPE ? "SIGFPE"
               : sig == SIGILL ? "SIGILL" : "SIGABRT");
    vs_abi_say(" in ");
    vs_abi_say(vs_abi_call);
    vs_abi_say(" (");
    vs_abi_say(vs_abi_thread);
    vs_abi_say(" thread)\n");
    signal(sig, SIG_DFL);
    raise(sig);
}

static void vs_abi_catch_crashes(void)
{
    static const int sigs[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT};
    for (size_t k = 0; k < sizeof sigs / sizeof sigs[0]; k++)
        signal(sigs[k], vs_abi_crashed);
}

static void *vs_abi_sym(void *lib, const char *path, const char *name)
{
    char full[96];
    snprintf(full, sizeof full, "virtiospec_ring_%s%s", vs_abi_packed ? "packed_" : "", name);
    void *fn = dlsym(lib, full);
    if (fn == NULL) {
        fprintf(stderr, "ring_threads: %s does not export %s\n", path, full);
        exit(4);
    }
    return fn;
}

/* a->field = the library's <name> (a->name when field is name). */
#define VS_ABI_GET_AS(a, lib, path, field, name) \
    do { \
        void *vs_fn_ = vs_abi_sym(lib, path, #name); \
        memcpy(&(a)->field, &vs_fn_, sizeof vs_fn_); \
    } while (0)
#define VS_ABI_GET(a, lib, path, name) VS_ABI_GET_AS(a, lib, path, name, name)

/* The calls each side's library must export besides its version, state size and create;
 * the ones taking only the state are also forwarded one for one below. */
#define VS_ABI_DRIVER_CALLS(X)                                                              \
    X(driver_init) X(driver_add) X(driver_kick_prepare) X(driver_get_used)                 \
    X(driver_disable_cb) X(driver_enable_cb) X(driver_enable_cb_delayed)
#define VS_ABI_DEVICE_CALLS(X)                                                              \
    X(device_init) X(device_pop) X(device_push) X(device_should_notify)                    \
    X(device_enable_notify) X(device_disable_notify)
#define VS_ABI_GET_ONE(name) VS_ABI_GET(a, lib, path, name);
/* A side's state size and create (the packed one's takes its own config: p<side>_create). */
#define VS_ABI_GET_SIDE(side)                                                               \
    VS_ABI_GET(a, lib, path, side##_state_size);                                            \
    if (vs_abi_packed)                                                                      \
        VS_ABI_GET_AS(a, lib, path, p##side##_create, side##_create);                       \
    else                                                                                    \
        VS_ABI_GET(a, lib, path, side##_create);

static void vs_abi_open(struct vs_abi *a, const char *path, int side)
{
    void *lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (lib == NULL) {
        fprintf(stderr, "ring_threads: cannot load %s: %s\n", path, dlerror());
        exit(4);
    }
    VS_ABI_GET(a, lib, path, abi_version);
    unsigned want = vs_abi_packed ? VIRTIOSPEC_RING_PACKED_ABI_VERSION
                                  : VIRTIOSPEC_RING_ABI_VERSION;
    if (a->abi_version() != want) {
        fprintf(stderr, "ring_threads: %s implements %sABI version %u, not %u\n", path,
                vs_abi_packed ? "the packed " : "", a->abi_version(), want);
        exit(4);
    }
    if (side == 0) {
        VS_ABI_GET_SIDE(driver)
        VS_ABI_DRIVER_CALLS(VS_ABI_GET_ONE)
    } else {
        VS_ABI_GET_SIDE(device)
        VS_ABI_DEVICE_CALLS(VS_ABI_GET_ONE)
    }
}

static void vs_abi_load(const char *driver_lib, const char *device_lib, bool packed)
{
    vs_abi_packed = packed;
    vs_abi_catch_crashes();
    vs_abi_open(&vs_abi_side[0], driver_lib, 0);
    vs_abi_open(&vs_abi_side[1], device_lib, 1);
}

#define VS_D (&vs_abi_side[0])
#define VS_V (&vs_abi_side[1])

static inline size_t vs_driver_state_size(uint32_t q)
{
    return VS_CALL(VS_D, driver_state_size, q);
}

static inline size_t vs_device_state_size(uint32_t q)
{
    return VS_CALL(VS_V, device_state_size, q);
}

static inline struct virtiospec_ring_config vs_abi_config(uint32_t q, uint64_t desc,
                                                          uint64_t avail, uint64_t used,
                                                          uint32_t features, uint16_t start)
{
    return (struct virtiospec_ring_config){.queue_size = q, .features = features, .desc = desc,
                                           .avail = avail, .used = used, .start_index = start};
}

/* The packed ring's: the descriptor ring at desc, the driver event structure where the split
 * ring's avail ring would be, the device's where its used ring would be. */
static inline struct virtiospec_ring_packed_config
vs_abi_packed_config(uint32_t q, uint64_t desc, uint64_t avail, uint64_t used, uint32_t features)
{
    return (struct virtiospec_ring_packed_config){
        .queue_size = q, .features = features, .desc = desc, .driver_event = avail,
        .device_event = used};
}

static inline int vs_driver_create(struct vs_driver *d, size_t size, uint8_t *mem,
                                   uint64_t mem_size, uint32_t q, uint64_t desc, uint64_t avail,
                                   uint64_t used, uint32_t features, uint64_t indirect_area,
                                   uint32_t indirect_max, uint16_t start)
{
    if (vs_abi_packed) {
        struct virtiospec_ring_packed_config p = vs_abi_packed_config(q, desc, avail, used,
                                                                      features);
        p.indirect_area = indirect_area;
        p.indirect_max = indirect_max;
        return VS_CALL(VS_D, pdriver_create, d, size, mem, mem_size, &p);
    }
    struct virtiospec_ring_config c = vs_abi_config(q, desc, avail, used, features, start);
    c.indirect_area = indirect_area;
    c.indirect_max = indirect_max;
    return VS_CALL(VS_D, driver_create, d, size, mem, mem_size, &c);
}

static inline int vs_device_create(struct vs_device *v, size_t size, uint8_t *mem,
                                   uint64_t mem_size, uint32_t q, uint64_t desc, uint64_t avail,
                                   uint64_t used, uint32_t features, uint16_t start)
{
    if (vs_abi_packed) {
        struct virtiospec_ring_packed_config p = vs_abi_packed_config(q, desc, avail, used,
                                                                      features);
        return VS_CALL(VS_V, pdevice_create, v, size, mem, mem_size, &p);
    }
    struct virtiospec_ring_config c = vs_abi_config(q, desc, avail, used, features, start);
    return VS_CALL(VS_V, device_create, v, size, mem, mem_size, &c);
}

/* The calls that take only the state: vs_<name>(state) is the side's library's <name>. */
#define VS_ABI_ON_DRIVER(name)                                                              \
    static inline int vs_##name(struct vs_driver *d) { return VS_CALL(VS_D, name, d); }
#define VS_ABI_ON_DEVICE(name)                                                              \
    static inline int vs_##name(struct vs_device *v) { return VS_CALL(VS_V, name, v); }
VS_ABI_ON_DRIVER(driver_init) VS_ABI_ON_DRIVER(driver_kick_prepare)
VS_ABI_ON_DRIVER(driver_disable_cb) VS_ABI_ON_DRIVER(driver_enable_cb)
VS_ABI_ON_DRIVER(driver_enable_cb_delayed)
VS_ABI_ON_DEVICE(device_init) VS_ABI_ON_DEVICE(device_should_notify)
VS_ABI_ON_DEVICE(device_enable_notify) VS_ABI_ON_DEVICE(device_disable_notify)

static inline int vs_driver_add(struct vs_driver *d, const struct vs_segment *out,
                                uint32_t n_out, const struct vs_segment *in, uint32_t n_in,
                                uint64_t token)
{
    return VS_CALL(VS_D, driver_add, d,
                   (const struct virtiospec_ring_segment *)(const void *)out, n_out,
                   (const struct virtiospec_ring_segment *)(const void *)in, n_in, token);
}

static inline int vs_driver_get_used(struct vs_driver *d, uint64_t *token, uint32_t *len)
{
    return VS_CALL(VS_D, driver_get_used, d, token, len);
}

static inline int vs_device_pop(struct vs_device *v, uint16_t *head, struct vs_segment *segs,
                                uint32_t max_segs, uint32_t *n_readable, uint32_t *n_writable)
{
    return VS_CALL(VS_V, device_pop, v, head, (struct virtiospec_ring_segment *)(void *)segs,
                   max_segs, n_readable, n_writable);
}

static inline int vs_device_push(struct vs_device *v, const struct vs_used_elem *used,
                                 uint32_t n)
{
    return VS_CALL(VS_V, device_push, v,
                   (const struct virtiospec_ring_used_elem *)(const void *)used, n);
}

#endif /* VS_RING_THREADS_ABI_H */
