/*
 * tsan_hooks_probe.c -- a minimal implementation of virtiospec_ring.h whose device_pop makes
 * one of every kind of access the TSan hooks handle, on guest memory and on private memory,
 * so tests/ring/test_tsan_step.py can check each hook's steps (conformance/ring/tsan_step/).
 */
#include <stdint.h>
#include <string.h>

#include "virtiospec_ring.h"

struct probe {
    uint8_t *mem;
    uint64_t mem_size;
    uint32_t private_word;
    uint8_t copy[16];
};

uint32_t virtiospec_ring_abi_version(void) { return VIRTIOSPEC_RING_ABI_VERSION; }
size_t virtiospec_ring_driver_state_size(uint32_t q) { (void)q; return sizeof(struct probe); }
size_t virtiospec_ring_device_state_size(uint32_t q) { (void)q; return sizeof(struct probe); }

static int probe_create(void *state, void *mem, uint64_t mem_size)
{
    struct probe *p = state;
    p->mem = mem;
    p->mem_size = mem_size;
    return 0;
}

int virtiospec_ring_driver_create(void *state, size_t state_size, void *mem, uint64_t mem_size,
                                  const struct virtiospec_ring_config *cfg)
{
    (void)state_size, (void)cfg;
    return probe_create(state, mem, mem_size);
}

int virtiospec_ring_device_create(void *state, size_t state_size, void *mem, uint64_t mem_size,
                                  const struct virtiospec_ring_config *cfg)
{
    (void)state_size, (void)cfg;
    return probe_create(state, mem, mem_size);
}

int virtiospec_ring_driver_init(void *state) { (void)state; return 0; }
int virtiospec_ring_device_init(void *state) { (void)state; return 0; }

/* Guest offsets 0x100.. hold the probe's words. */
int virtiospec_ring_device_pop(void *state, uint16_t *head, struct virtiospec_ring_segment *segs,
                               uint32_t max_segs, uint32_t *n_readable, uint32_t *n_writable)
{
    struct probe *p = state;
    uint8_t *g = p->mem + 0x100;
    uint16_t plain;
    uint32_t v, expected;
    (void)segs, (void)max_segs;

    memcpy(&plain, g, 2);                                            /* plain load16 @0x100 */
    *(volatile uint32_t *)(void *)(g + 4) = plain + 1u;              /* volatile store @0x104 */
    v = __atomic_load_n((uint32_t *)(void *)(g + 8), __ATOMIC_ACQUIRE);  /* load; rmb */
    __atomic_store_n((uint32_t *)(void *)(g + 12), v, __ATOMIC_RELEASE); /* wmb; store */
    __atomic_store_n((uint32_t *)(void *)(g + 16), 7u, __ATOMIC_SEQ_CST); /* store; mb */
    v = __atomic_exchange_n((uint32_t *)(void *)(g + 20), 9u, __ATOMIC_SEQ_CST);
    (void)__atomic_fetch_add((uint32_t *)(void *)(g + 24), v, __ATOMIC_SEQ_CST);
    expected = 5;
    (void)__atomic_compare_exchange_n((uint32_t *)(void *)(g + 28), &expected, 6u, 0,
                                      __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
    p->private_word += 1;                                            /* private: no step */
    memcpy(p->copy, p->mem + 0x140, (size_t)(p->private_word & 0) + 16); /* two loads of 8 */
    memset(p->mem + 0x160 + (p->private_word & 0), 0xab, 8);         /* one store of 8 */
    __atomic_thread_fence(__ATOMIC_ACQ_REL);                         /* wmb; rmb */
    __sync_synchronize();                                            /* mb */
    *head = (uint16_t)(p->copy[0] + p->copy[8]);
    *n_readable = *n_writable = 0;
    return 1;
}

int virtiospec_ring_driver_add(void *state, const struct virtiospec_ring_segment *out,
                               uint32_t n_out, const struct virtiospec_ring_segment *in,
                               uint32_t n_in, uint64_t token)
{
    (void)state, (void)out, (void)n_out, (void)in, (void)n_in, (void)token;
    return 0;
}
int virtiospec_ring_driver_kick_prepare(void *state) { (void)state; return 0; }
int virtiospec_ring_driver_get_used(void *state, uint64_t *token, uint32_t *len)
{
    (void)state, (void)token, (void)len;
    return 0;
}
int virtiospec_ring_driver_disable_cb(void *state) { (void)state; return 0; }
int virtiospec_ring_driver_enable_cb(void *state) { (void)state; return 0; }
int virtiospec_ring_driver_enable_cb_delayed(void *state) { (void)state; return 0; }
int virtiospec_ring_driver_detach_unused(void *state, uint64_t *tokens, uint32_t max)
{
    (void)state, (void)tokens, (void)max;
    return 0;
}
int virtiospec_ring_driver_num_free(const void *state) { (void)state; return 0; }
int virtiospec_ring_driver_needs_reset(const void *state) { (void)state; return 0; }
int virtiospec_ring_device_push(void *state, const struct virtiospec_ring_used_elem *used,
                                uint32_t n)
{
    (void)state, (void)used, (void)n;
    return 0;
}
int virtiospec_ring_device_should_notify(void *state) { (void)state; return 0; }
int virtiospec_ring_device_enable_notify(void *state) { (void)state; return 0; }
int virtiospec_ring_device_disable_notify(void *state) { (void)state; return 0; }
int virtiospec_ring_device_needs_reset(const void *state) { (void)state; return 0; }
