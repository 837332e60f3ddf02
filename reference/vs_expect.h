/*
 * vs_expect.h -- the check the single-threaded C sanitizer workloads report through
 * (tests/ring_c_workload.c, tests/ring_packed_c_workload.c, the vhost-user workloads of
 * reference/vhost_user/c/): EXPECT counts a failed condition and names the first 20, and
 * expect_verdict ends the run, printing "<name>: ok" (what tests/c_helpers.py waits for)
 * when nothing failed. Included once by each workload.
 */
#ifndef VS_EXPECT_H
#define VS_EXPECT_H

#include <stdio.h>

static int failures;

#define EXPECT(cond)                                                                        \
    do {                                                                                    \
        if (!(cond)) {                                                                      \
            if (failures++ < 20)                                                            \
                fprintf(stderr, "%s:%d: expected %s\n", __FILE__, __LINE__, #cond);         \
        }                                                                                   \
    } while (0)

/* The exit status of a workload called name: 0 and "<name>: ok" when nothing failed. */
static inline int expect_verdict(const char *name)
{
    if (failures) {
        fprintf(stderr, "%s: %d failures\n", name, failures);
        return 1;
    }
    printf("%s: ok\n", name);
    return 0;
}

#endif /* VS_EXPECT_H */
