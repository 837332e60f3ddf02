/*
 * vs_abi.h -- the glue every C ABI file of the reference shares (reference/ring/c/ring_abi.c,
 * ring_packed_abi.c, reference/shm/c/shm_abi.c): the public header included with default
 * visibility (a library built with -fvisibility=hidden then exports the ABI and nothing
 * else), a compile-time check that a public code is the internal one (one table, two
 * spellings) and the one-line functions: the ABI version, the state size for a queue size,
 * and those that hand the opaque state on unchanged.
 *
 * Define VS_ABI_PUBLIC as the public header's name (a string) before including this file;
 * it is included once by each ABI file.
 */
#ifndef VS_ABI_PUBLIC
#error "define VS_ABI_PUBLIC (the public header) before including vs_abi.h"
#endif

#if defined(__GNUC__)
#pragma GCC visibility push(default)
#endif
#include VS_ABI_PUBLIC
#if defined(__GNUC__)
#pragma GCC visibility pop
#endif

#include <assert.h>

/* The public code <pub><name> is the internal <own><name>. */
#define VS_ABI_SAME(pub, own, name)                                                         \
    static_assert((int)pub##name == (int)own##name, #pub #name " is not " #own #name);

/* int <pub><op>(void *state): the internal <own><op> on the same state. */
#define VS_ABI_FORWARD(pub, own, op)                                                        \
    int pub##op(void *state)                                                                \
    {                                                                                       \
        return own##op(state);                                                              \
    }

/* uint32_t <fn>(void): the ABI version the library implements. */
#define VS_ABI_VERSION(fn, version)                                                         \
    uint32_t fn(void)                                                                       \
    {                                                                                       \
        return version;                                                                     \
    }

/* size_t <pub><side>_state_size(uint32_t queue_size): the internal one's answer. */
#define VS_ABI_STATE_SIZE(pub, own, side)                                                   \
    size_t pub##side##_state_size(uint32_t queue_size)                                      \
    {                                                                                       \
        return own##side##_state_size(queue_size);                                          \
    }

/* What the split and the packed ring ABIs define alike: the version, the two state sizes,
 * and the nine calls that hand the state on (init, kick and callback decisions, the
 * device's notification decisions). */
#define VS_ABI_RING(pub, own, version)                                                      \
    VS_ABI_VERSION(pub##abi_version, version)                                               \
    VS_ABI_STATE_SIZE(pub, own, driver)                                                     \
    VS_ABI_STATE_SIZE(pub, own, device)                                                     \
    VS_ABI_FORWARD(pub, own, driver_init)                                                   \
    VS_ABI_FORWARD(pub, own, driver_kick_prepare)                                           \
    VS_ABI_FORWARD(pub, own, driver_disable_cb)                                             \
    VS_ABI_FORWARD(pub, own, driver_enable_cb)                                              \
    VS_ABI_FORWARD(pub, own, driver_enable_cb_delayed)                                      \
    VS_ABI_FORWARD(pub, own, device_init)                                                   \
    VS_ABI_FORWARD(pub, own, device_should_notify)                                          \
    VS_ABI_FORWARD(pub, own, device_enable_notify)                                          \
    VS_ABI_FORWARD(pub, own, device_disable_notify)
