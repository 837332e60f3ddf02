/*
 * tsan_hooks.c -- virtiospec's own ThreadSanitizer hooks: foreign C stepped under the models.
 *
 * C compiled with `gcc -fsanitize=thread --param tsan-distinguish-volatile=1` calls
 * __tsan_read<N>/__tsan_write<N> before every plain access, __tsan_volatile_* before every
 * volatile one, __tsan_atomic<N>_* instead of every atomic and __tsan_atomic_thread_fence
 * instead of every fence (__atomic_thread_fence, __sync_synchronize). Linked against these
 * definitions instead of the TSan runtime, every access that falls in the calling side's
 * *view* of guest memory becomes one step of the checker (a load, a store or a barrier),
 * handed to the extern "Python" callback VS_TSAN_CALLBACK; every other access passes through
 * to real memory untouched.
 *
 * The view is a private copy of guest memory per side, so that under TSO/PSO a side sees its
 * own buffered stores and nobody else's: before a plain load of the view the hook writes the
 * value the checker answered into the view, and the instrumented code then loads it. A plain
 * store is known only after it happened: the hook notes (address, size) and the next hook of
 * the same thread (or the end of the operation) reads the stored bytes back from the view
 * and hands the store to the checker, so the order of steps is the order of the accesses.
 * Atomics are done here (the instrumented code does not access memory itself), mapped to the
 * fences of the models: acquire load = load; rmb, release store = wmb; store, seq_cst store
 * = store; mb, read-modify-write = mb; load; store; mb.
 *
 * The callback answers 0 to go on or nonzero to abandon the operation: the hook then
 * longjmps to the entry point (tsan_hooks.h), which returns -VS_TSAN_ABORTED.
 *
 * Included once in the cffi module's source, after tsan_hooks.h; never compiled with
 * -fsanitize=thread itself.
 */
#include <stddef.h>
#include <string.h>

#include "tsan_hooks.h"

_Thread_local struct vs_tsan_frame *vs_tsan_cur;

static void vs_tsan_step(struct vs_tsan_frame *f, int kind, uint64_t off, unsigned size,
                         uint64_t value, uint64_t *loaded)
{
    uint64_t got = 0;
    f->steps++;
    if (VS_TSAN_CALLBACK(f->py, kind, off, size, value, &got) != 0)
        longjmp(f->abort, 1);
    if (loaded != NULL)
        *loaded = size < 8 ? got & (((uint64_t)1 << (8 * size)) - 1) : got;
}

/* The frame of this thread when p[0, n) lies in its view, else NULL (pass through). */
static struct vs_tsan_frame *vs_tsan_in_view(const volatile void *p, uint64_t n)
{
    struct vs_tsan_frame *f = vs_tsan_cur;
    if (f == NULL)
        return NULL;
    uintptr_t a = (uintptr_t)p, b = (uintptr_t)f->base;
    if (a < b || a - b > f->size || n > f->size - (a - b))
        return NULL;
    return f;
}

/* The largest naturally aligned piece (1, 2, 4 or 8 bytes) at off within n bytes. */
static unsigned vs_tsan_piece(uint64_t off, uint64_t n)
{
    unsigned k = 8;
    while (k > 1 && ((off & (k - 1)) != 0 || k > n))
        k >>= 1;
    return k;
}

static void vs_tsan_store_bytes(struct vs_tsan_frame *f, uint64_t off, uint64_t n)
{
    while (n > 0) {
        unsigned k = n <= 8 ? (unsigned)n : vs_tsan_piece(off, n);
        uint64_t v = 0;
        memcpy(&v, f->base + off, k);
        vs_tsan_step(f, VS_TSAN_STORE, off, k, v, NULL);
        off += k;
        n -= k;
    }
}

/* Hand over the plain store noted by the previous hook of this thread, if any. */
void vs_tsan_flush(struct vs_tsan_frame *f)
{
    if (f == NULL || f->pend_size == 0)
        return;
    uint64_t off = f->pend_off, n = f->pend_size;
    f->pend_size = 0;
    vs_tsan_store_bytes(f, off, n);
}

static void vs_tsan_load_into_view(struct vs_tsan_frame *f, uint64_t off, uint64_t n)
{
    while (n > 0) {
        unsigned k = n <= 8 ? (unsigned)n : vs_tsan_piece(off, n);
        uint64_t v = 0;
        vs_tsan_step(f, VS_TSAN_LOAD, off, k, 0, &v);
        memcpy(f->base + off, &v, k);
        off += k;
        n -= k;
    }
}

static void vs_tsan_read(const volatile void *p, uint64_t n)
{
    vs_tsan_flush(vs_tsan_cur);
    struct vs_tsan_frame *f = vs_tsan_in_view(p, n);
    if (f != NULL)
        vs_tsan_load_into_view(f, (uint64_t)((uintptr_t)p - (uintptr_t)f->base), n);
}

static void vs_tsan_write(const volatile void *p, uint64_t n)
{
    vs_tsan_flush(vs_tsan_cur);
    struct vs_tsan_frame *f = vs_tsan_in_view(p, n);
    if (f != NULL && n > 0) {
        f->pend_off = (uint64_t)((uintptr_t)p - (uintptr_t)f->base);
        f->pend_size = n;
    }
}

static void vs_tsan_fence(int mo)
{
    struct vs_tsan_frame *f = vs_tsan_cur;
    if (f == NULL)
        return;
    vs_tsan_flush(f);
    switch (mo) {
    case __ATOMIC_SEQ_CST:
        vs_tsan_step(f, VS_TSAN_FENCE, 0, 0, VS_TSAN_MB, NULL);
        break;
    case __ATOMIC_ACQ_REL:
        vs_tsan_step(f, VS_TSAN_FENCE, 0, 0, VS_TSAN_WMB, NULL);
        vs_tsan_step(f, VS_TSAN_FENCE, 0, 0, VS_TSAN_RMB, NULL);
        break;
    case __ATOMIC_RELEASE:
        vs_tsan_step(f, VS_TSAN_FENCE, 0, 0, VS_TSAN_WMB, NULL);
        break;
    case __ATOMIC_ACQUIRE:
    case __ATOMIC_CONSUME:
        vs_tsan_step(f, VS_TSAN_FENCE, 0, 0, VS_TSAN_RMB, NULL);
        break;
    default:
        break;
    }
}

#define VS_ACQUIRES(mo) ((mo) == __ATOMIC_ACQUIRE || (mo) == __ATOMIC_CONSUME || \
                         (mo) == __ATOMIC_ACQ_REL || (mo) == __ATOMIC_SEQ_CST)
#define VS_RELEASES(mo) ((mo) == __ATOMIC_RELEASE || (mo) == __ATOMIC_ACQ_REL || \
                         (mo) == __ATOMIC_SEQ_CST)

/* Plain, volatile and unaligned accesses of 1, 2, 4, 8 and 16 bytes; ranges. */
#define VS_PLAIN(n)                                                                         \
    void __tsan_read##n(void *p) { vs_tsan_read(p, n); }                                    \
    void __tsan_write##n(void *p) { vs_tsan_write(p, n); }                                  \
    void __tsan_unaligned_read##n(void *p) { vs_tsan_read(p, n); }                          \
    void __tsan_unaligned_write##n(void *p) { vs_tsan_write(p, n); }                        \
    void __tsan_volatile_read##n(void *p) { vs_tsan_read(p, n); }                           \
    void __tsan_volatile_write##n(void *p) { vs_tsan_write(p, n); }                         \
    void __tsan_unaligned_volatile_read##n(void *p) { vs_tsan_read(p, n); }                 \
    void __tsan_unaligned_volatile_write##n(void *p) { vs_tsan_write(p, n); }
VS_PLAIN(1)
VS_PLAIN(2)
VS_PLAIN(4)
VS_PLAIN(8)
VS_PLAIN(16)

void __tsan_read_range(void *p, unsigned long n) { vs_tsan_read(p, n); }
void __tsan_write_range(void *p, unsigned long n) { vs_tsan_write(p, n); }

/* Atomics of 1, 2, 4 and 8 bytes: loads, stores, read-modify-writes. */
#define VS_ATOMIC(n, T)                                                                     \
    T __tsan_atomic##n##_load(const volatile T *a, int mo)                                  \
    {                                                                                       \
        vs_tsan_flush(vs_tsan_cur);                                                         \
        struct vs_tsan_frame *f = vs_tsan_in_view(a, sizeof(T));                            \
        if (f == NULL)                                                                      \
            return __atomic_load_n(a, __ATOMIC_SEQ_CST);                                    \
        uint64_t off = (uint64_t)((uintptr_t)a - (uintptr_t)f->base), v = 0;                \
        vs_tsan_step(f, VS_TSAN_LOAD, off, sizeof(T), 0, &v);                               \
        __atomic_store_n((volatile T *)a, (T)v, __ATOMIC_RELAXED);                          \
        if (VS_ACQUIRES(mo))                                                                \
            vs_tsan_step(f, VS_TSAN_FENCE, 0, 0, VS_TSAN_RMB, NULL);                        \
        return (T)v;                                                                        \
    }                                                                                       \
    void __tsan_atomic##n##_store(volatile T *a, T v, int mo)                               \
    {                                                                                       \
        vs_tsan_flush(vs_tsan_cur);                                                         \
        struct vs_tsan_frame *f = vs_tsan_in_view(a, sizeof(T));                            \
        __atomic_store_n(a, v, __ATOMIC_SEQ_CST);                                           \
        if (f == NULL)                                                                      \
            return;                                                                         \
        uint64_t off = (uint64_t)((uintptr_t)a - (uintptr_t)f->base);                       \
        if (VS_RELEASES(mo))                                                                \
            vs_tsan_step(f, VS_TSAN_FENCE, 0, 0, VS_TSAN_WMB, NULL);                        \
        vs_tsan_step(f, VS_TSAN_STORE, off, sizeof(T), (uint64_t)v, NULL);                  \
        if (mo == __ATOMIC_SEQ_CST)                                                         \
            vs_tsan_step(f, VS_TSAN_FENCE, 0, 0, VS_TSAN_MB, NULL);                         \
    }                                                                                       \
    /* a read-modify-write: one locked instruction, a full barrier on both sides */         \
    static T vs_tsan_rmw##n(volatile T *a, int op, T arg, T expected, int *ok)              \
    {                                                                                       \
        vs_tsan_flush(vs_tsan_cur);                                                         \
        struct vs_tsan_frame *f = vs_tsan_in_view(a, sizeof(T));                            \
        uint64_t off = 0, got = 0;                                                          \
        if (f != NULL) {                                                                    \
            off = (uint64_t)((uintptr_t)a - (uintptr_t)f->base);                            \
            vs_tsan_step(f, VS_TSAN_FENCE, 0, 0, VS_TSAN_MB, NULL);                         \
            vs_tsan_step(f, VS_TSAN_LOAD, off, sizeof(T), 0, &got);                         \
            __atomic_store_n(a, (T)got, __ATOMIC_RELAXED);                                  \
        }                                                                                   \
        T old = __atomic_load_n(a, __ATOMIC_SEQ_CST), new_ = old;                           \
        *ok = 1;                                                                            \
        switch (op) {                                                                       \
        case 0: new_ = arg; break;                                                          \
        case 1: new_ = (T)(old + arg); break;                                               \
        case 2: new_ = (T)(old - arg); break;                                               \
        case 3: new_ = (T)(old & arg); break;                                               \
        case 4: new_ = (T)(old | arg); break;                                               \
        case 5: new_ = (T)(old ^ arg); break;                                               \
        case 6: new_ = (T)~(old & arg); break;                                              \
        default: *ok = old == expected; new_ = *ok ? arg : old; break;                      \
        }                                                                                   \
        __atomic_store_n(a, new_, __ATOMIC_SEQ_CST);                                        \
        if (f != NULL) {                                                                    \
            if (*ok)                                                                        \
                vs_tsan_step(f, VS_TSAN_STORE, off, sizeof(T), (uint64_t)new_, NULL);       \
            vs_tsan_step(f, VS_TSAN_FENCE, 0, 0, VS_TSAN_MB, NULL);                         \
        }                                                                                   \
        return old;                                                                         \
    }                                                                                       \
    T __tsan_atomic##n##_exchange(volatile T *a, T v, int mo)                               \
    { int ok; (void)mo; return vs_tsan_rmw##n(a, 0, v, 0, &ok); }                           \
    T __tsan_atomic##n##_fetch_add(volatile T *a, T v, int mo)                              \
    { int ok; (void)mo; return vs_tsan_rmw##n(a, 1, v, 0, &ok); }                           \
    T __tsan_atomic##n##_fetch_sub(volatile T *a, T v, int mo)                              \
    { int ok; (void)mo; return vs_tsan_rmw##n(a, 2, v, 0, &ok); }                           \
    T __tsan_atomic##n##_fetch_and(volatile T *a, T v, int mo)                              \
    { int ok; (void)mo; return vs_tsan_rmw##n(a, 3, v, 0, &ok); }                           \
    T __tsan_atomic##n##_fetch_or(volatile T *a, T v, int mo)                               \
    { int ok; (void)mo; return vs_tsan_rmw##n(a, 4, v, 0, &ok); }                           \
    T __tsan_atomic##n##_fetch_xor(volatile T *a, T v, int mo)                              \
    { int ok; (void)mo; return vs_tsan_rmw##n(a, 5, v, 0, &ok); }                           \
    T __tsan_atomic##n##_fetch_nand(volatile T *a, T v, int mo)                             \
    { int ok; (void)mo; return vs_tsan_rmw##n(a, 6, v, 0, &ok); }                           \
    int __tsan_atomic##n##_compare_exchange_strong(volatile T *a, T *c, T v, int mo,        \
                                                   int fmo)                                 \
    {                                                                                       \
        int ok;                                                                             \
        (void)mo, (void)fmo;                                                                \
        T old = vs_tsan_rmw##n(a, 7, v, *c, &ok);                                           \
        if (!ok)                                                                            \
            *c = old;                                                                       \
        return ok;                                                                          \
    }                                                                                       \
    int __tsan_atomic##n##_compare_exchange_weak(volatile T *a, T *c, T v, int mo, int fmo) \
    { return __tsan_atomic##n##_compare_exchange_strong(a, c, v, mo, fmo); }                \
    T __tsan_atomic##n##_compare_exchange_val(volatile T *a, T c, T v, int mo, int fmo)     \
    { int ok; (void)mo, (void)fmo; return vs_tsan_rmw##n(a, 7, v, c, &ok); }

VS_ATOMIC(8, uint8_t)
VS_ATOMIC(16, uint16_t)
VS_ATOMIC(32, uint32_t)
VS_ATOMIC(64, uint64_t)

/*
 * memcpy, memmove and memset of the instrumented objects are renamed to these (build.py:
 * objcopy --redefine-sym), as the TSan runtime intercepts them: the bytes read from the view
 * are loads, the bytes written stores, stepped in pieces of at most 8 aligned bytes. The
 * objects are compiled with -fno-builtin-memcpy/-memmove/-memset: gcc expands a builtin
 * call after the TSan pass, into stores no hook sees.
 */
void *vs_tsan_memmove(void *dst, const void *src, size_t n);
void *vs_tsan_memcpy(void *dst, const void *src, size_t n);
void *vs_tsan_memset(void *dst, int c, size_t n);

/* A plain store noted for [dst, dst + n) announces this very copy (gcc instruments an
 * aggregate copy, then may expand it as a call): the call steps those stores itself. */
static void vs_tsan_forget_store(const void *dst, size_t n)
{
    struct vs_tsan_frame *f = vs_tsan_in_view(dst, n);
    uint64_t off;
    if (f == NULL || f->pend_size == 0)
        return;
    off = (uint64_t)((uintptr_t)dst - (uintptr_t)f->base);
    if (f->pend_off >= off && f->pend_off + f->pend_size <= off + n)
        f->pend_size = 0;
}

void *vs_tsan_memmove(void *dst, const void *src, size_t n)
{
    vs_tsan_forget_store(dst, n);
    vs_tsan_read(src, n);
    memmove(dst, src, n);
    struct vs_tsan_frame *f = vs_tsan_in_view(dst, n);
    if (f != NULL)
        vs_tsan_store_bytes(f, (uint64_t)((uintptr_t)dst - (uintptr_t)f->base), n);
    return dst;
}

void *vs_tsan_memcpy(void *dst, const void *src, size_t n)
{
    return vs_tsan_memmove(dst, src, n);
}

void *vs_tsan_memset(void *dst, int c, size_t n)
{
    vs_tsan_forget_store(dst, n);
    vs_tsan_flush(vs_tsan_cur);
    memset(dst, c, n);
    struct vs_tsan_frame *f = vs_tsan_in_view(dst, n);
    if (f != NULL)
        vs_tsan_store_bytes(f, (uint64_t)((uintptr_t)dst - (uintptr_t)f->base), n);
    return dst;
}

void __tsan_atomic_thread_fence(int mo) { vs_tsan_fence(mo); }
void __tsan_atomic_signal_fence(int mo) { (void)mo; }
void __tsan_func_entry(void *pc) { (void)pc; }
void __tsan_func_exit(void) {}
void __tsan_init(void) {}
