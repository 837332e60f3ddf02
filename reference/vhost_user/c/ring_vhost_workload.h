/*
 * ring_vhost_workload.h -- what the sanitizer workloads of the two vhost-user fast paths
 * share (ring_vhost_workload.c, split; ring_vhost_packed_workload.c, packed): the check
 * macro (vs_expect.h's), guest memory as three regions, each its own heap block of exactly
 * its size (ASan sees any byte touched outside them) with holes between and above them,
 * guest-address accessors and a reproducible random source. Included once by each workload.
 */
#ifndef VS_RING_VHOST_WORKLOAD_H
#define VS_RING_VHOST_WORKLOAD_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ring_vhost.h"
#include "vs_expect.h"

/* regions: [0x10000, +0x20000) rings and tables, [0x40000, +0x20000), [0x80000, +0x1000) */
#define NREG 3
static const uint64_t reg_gpa[NREG] = {0x10000, 0x40000, 0x80000};
static const uint64_t reg_size[NREG] = {0x20000, 0x20000, 0x1000};
static uint8_t *reg_host[NREG];
#define HOLE 0x31000u /* inside the hole [0x30000, 0x40000) */
#define LIMIT 0x81000u /* one past the highest region */
#define BUF_A 0x40000u
#define BUF_B 0x80000u

static inline uint8_t *host(uint64_t gpa, uint64_t n)
{
    for (int i = 0; i < NREG; i++)
        if (gpa >= reg_gpa[i] && n <= reg_size[i] && gpa - reg_gpa[i] <= reg_size[i] - n)
            return reg_host[i] + (gpa - reg_gpa[i]);
    return NULL;
}

static inline void put16(uint64_t gpa, uint16_t v) { memcpy(host(gpa, 2), &v, 2); }
static inline void put32(uint64_t gpa, uint32_t v) { memcpy(host(gpa, 4), &v, 4); }
static inline void put64(uint64_t gpa, uint64_t v) { memcpy(host(gpa, 8), &v, 8); }
static inline uint16_t get16(uint64_t gpa) { uint16_t v; memcpy(&v, host(gpa, 2), 2); return v; }
static inline uint32_t get32(uint64_t gpa) { uint32_t v; memcpy(&v, host(gpa, 4), 4); return v; }

static uint64_t lcg = 88172645463325252ull;
static inline uint32_t rnd(void)
{
    lcg = lcg * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(lcg >> 33);
}

/* Allocate the regions (exactly their size) and fill them with `fill`. */
static inline void regions_open(uint8_t fill)
{
    for (int i = 0; i < NREG; i++) {
        reg_host[i] = malloc(reg_size[i]);
        if (reg_host[i] == NULL) {
            fprintf(stderr, "out of memory\n");
            exit(2);
        }
        memset(reg_host[i], fill, reg_size[i]);
    }
}

/* The regions as a queue's memory table. */
static inline void regions_config(struct vsv_config *cfg)
{
    cfg->n_regions = NREG;
    for (int i = 0; i < NREG; i++) {
        cfg->regions[i].guest_addr = reg_gpa[i];
        cfg->regions[i].size = reg_size[i];
        cfg->regions[i].host = reg_host[i];
    }
}

/* Free the regions and report: the exit status of the workload `name`. */
static inline int regions_close(const char *name)
{
    for (int i = 0; i < NREG; i++)
        free(reg_host[i]);
    return expect_verdict(name);
}

#endif /* VS_RING_VHOST_WORKLOAD_H */
