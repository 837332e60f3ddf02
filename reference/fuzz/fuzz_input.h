/*
 * fuzz_input.h -- the input stream and the finding macro every libFuzzer harness of
 * reference/fuzz/ reads and reports through (fuzz_common.h adds the access hooks on top).
 *
 * The fuzz input is read as a stream by fz_u8 .. fz_u64, little-endian, zero once exhausted.
 */
#ifndef VS_FUZZ_INPUT_H
#define VS_FUZZ_INPUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

struct fz_in {
    const uint8_t *p;
    size_t n;
};

static struct fz_in fz_input;

static inline void fz_begin(const uint8_t *data, size_t size)
{
    fz_input.p = data;
    fz_input.n = size;
}

static inline bool fz_more(void)
{
    return fz_input.n > 0;
}

static inline uint64_t fz_bytes(unsigned k)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < k && fz_input.n; i++, fz_input.p++, fz_input.n--)
        v |= (uint64_t)*fz_input.p << (8 * i);
    return v;
}

static inline uint8_t fz_u8(void) { return (uint8_t)fz_bytes(1); }
static inline uint16_t fz_u16(void) { return (uint16_t)fz_bytes(2); }
static inline uint32_t fz_u32(void) { return (uint32_t)fz_bytes(4); }
static inline uint64_t fz_u64(void) { return fz_bytes(8); }

#define FZ_LEN(a) (sizeof(a) / sizeof *(a))

/* rc is minus one of the n codes (a refusal the harness knows). */
static inline bool fz_one_of(int rc, const int *codes, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (rc == -codes[i])
            return true;
    return false;
}

/* An invariant broken: print it and abort (libFuzzer saves the input as crash-*). */
#define FZ_CHECK(cond, ...)                                                                 \
    do {                                                                                    \
        if (!(cond)) {                                                                      \
            fprintf(stderr, "virtiospec-fuzz: invariant broken (%s:%d): ", __FILE__,        \
                    __LINE__);                                                              \
            fprintf(stderr, __VA_ARGS__);                                                   \
            fputc('\n', stderr);                                                            \
            abort();                                                                        \
        }                                                                                   \
    } while (0)

#endif /* VS_FUZZ_INPUT_H */
