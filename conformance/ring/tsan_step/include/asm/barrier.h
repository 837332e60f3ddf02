/*
 * asm/barrier.h for Linux's tools/virtio shims in the stepped build: put first on the
 * include path (before tools/virtio/), it replaces tools/virtio/asm/barrier.h, whose
 * barriers are inline assembly or compiler barriers that the TSan instrumentation does not
 * see. Each barrier becomes a C11 fence, which -fsanitize=thread turns into a call of
 * __tsan_atomic_thread_fence, which tsan_hooks.c steps as the models' barrier:
 *
 *   virt_mb, mb            seq_cst fence  -> mb  (drains the store buffer; x86 mfence)
 *   virt_wmb, wmb, dma_wmb release fence  -> wmb (orders stores; no-op under TSO)
 *   virt_rmb, rmb, dma_rmb acquire fence  -> rmb (orders loads; no-op under TSO)
 *   virt_store_mb          store, then seq_cst fence
 *
 * On x86 tools/virtio defines virt_wmb and virt_rmb as compiler barriers, which is what TSO
 * needs and exactly what the models' wmb and rmb do under TSO; under PSO and RMO the models
 * hold Linux to the barriers it asks for on any architecture (the kernel's smp_wmb/smp_rmb).
 */
#ifndef VS_TSAN_ASM_BARRIER_H
#define VS_TSAN_ASM_BARRIER_H

#include <stdlib.h>

#define barrier() __asm__ __volatile__("" ::: "memory")
#define virt_mb() __atomic_thread_fence(__ATOMIC_SEQ_CST)
#define virt_rmb() __atomic_thread_fence(__ATOMIC_ACQUIRE)
#define virt_wmb() __atomic_thread_fence(__ATOMIC_RELEASE)
#define virt_store_mb(var, value)                                                           \
    do {                                                                                    \
        __atomic_store_n(&(var), (value), __ATOMIC_RELAXED);                                \
        __atomic_thread_fence(__ATOMIC_SEQ_CST);                                            \
    } while (0)
#define mb() virt_mb()
#define rmb() virt_rmb()
#define wmb() virt_wmb()
#define dma_rmb() virt_rmb()
#define dma_wmb() virt_wmb()

#endif /* VS_TSAN_ASM_BARRIER_H */
