/*
 * ring_workload.h -- what the sanitizer workloads of the split and the packed ring
 * (ring_c_workload.c, ring_packed_c_workload.c) share: the check (vs_expect.h), where the
 * ring, the indirect tables and the data lie in guest memory, allocating that memory and the
 * two sides' state blocks, and writing a 16-byte descriptor as a hostile peer would.
 * Included once by each workload.
 */
#ifndef VS_RING_WORKLOAD_H
#define VS_RING_WORKLOAD_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vs_expect.h"

#define MEM_SIZE 0x80000u
#define RING_AT 0x1000u
#define INDIRECT_AT 0x40000u
#define DATA_AT 0x60000u

/* Guest memory, stale (0xA5 everywhere): a side must write what it relies on. */
static uint8_t *guest_open(void)
{
    uint8_t *mem = aligned_alloc(64, MEM_SIZE);
    memset(mem, 0xA5, MEM_SIZE);
    return mem;
}

/* A side's state block of size bytes, 8-aligned (aligned_alloc wants a multiple of 8). */
static void *state_block(size_t size)
{
    return aligned_alloc(8, (size + 7) & ~(size_t)7);
}

static void sides_close(void *drv, void *dev, uint8_t *mem)
{
    free(drv);
    free(dev);
    free(mem);
}

/* A 16-byte descriptor at d: addr, len, then two 16-bit fields (split: flags and next;
 * packed: buffer ID and flags). */
static void desc_write(uint8_t *d, uint64_t addr, uint32_t len, uint16_t w12, uint16_t w14)
{
    memcpy(d, &addr, 8);
    memcpy(d + 8, &len, 4);
    memcpy(d + 12, &w12, 2);
    memcpy(d + 14, &w14, 2);
}

#endif /* VS_RING_WORKLOAD_H */
