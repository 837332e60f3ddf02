/*
 * shm_threads.c -- a table and a shm-signal (conformance/shm/virtiospec_shm.h) on two threads
 * pinned to two cores, each side from a shared library loaded with dlopen: the device side
 * (writer and sender, --device-lib) and the driver side (reader, receiver and the signalled
 * reader, --driver-lib); one library may give both. `virtiospec conformance run --target
 * shm-lib:X.so --stress S` runs it (conformance/shm/stress.py).
 *
 * --mode table: the writer updates slot 0 as fast as it can, every word of update n being
 *   n (version 2n); the reader reads it as fast as it can and checks every value it gets:
 *   all words equal, version twice the words, never older than one read before. A torn
 *   or stale value is an error (SHM-TABLE-005, SHM-TABLE-006, SHM-TABLE-007): a reader without its second seq
 *   check, a writer that is never odd, or a missing barrier shows as one.
 * --mode signal: the clock protocol (SHM-SIGNAL-002, SHM-SIGNAL-003, SHM-SIGNAL-004, SHM-SIGNAL-005, SHM-SIGNAL-006, SHM-SIGNAL-007, SHM-SIGNAL-008, SHM-SIGNAL-010). The device publishes a burst of
 *   1 to 3 values n (each an update of slot 0 and an inject, a notification only when
 *   inject says so), then sleeps until the driver has acted on the last (a channel of the
 *   harness, always reliable); within a burst it publishes while the driver serves.
 *   The driver serves (virtiospec_shm_service: acknowledge, then poll), acts on what it
 *   read, re-enables (enable), and sleeps until notified only when enable says nothing is
 *   pending. A watchdog reports a lost wakeup when the driver sleeps, the device waits for
 *   it, no notification is on the way and n is not acted on, for --lost-ms.
 *
 * Output: one JSON object on stdout. Exit status: 0 run completed, 1 lost wakeup,
 * 2 torn, stale or lost value or an error code, 4 usage or setup error.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "virtiospec_shm.h"

#define WORDS 4
#define TABLE_OFFSET 0
#define SIGNAL_OFFSET 128 /* its own cache lines */
#define REGION_SIZE 256

struct abi {
    size_t (*writer_state_size)(const struct virtiospec_shm_table_config *);
    int (*writer_create)(void *, size_t, void *, uint64_t, const struct virtiospec_shm_table_config *);
    int (*writer_update)(void *, uint32_t, const uint32_t *, uint32_t);
    size_t (*sender_state_size)(void);
    int (*sender_create)(void *, size_t, void *, uint64_t, uint64_t);
    int (*sender_inject)(void *);
    size_t (*reader_state_size)(const struct virtiospec_shm_table_config *);
    int (*reader_create)(void *, size_t, void *, uint64_t, const struct virtiospec_shm_table_config *);
    int (*reader_read)(void *, uint32_t, uint32_t *, uint32_t *);
    size_t (*receiver_state_size)(void);
    int (*receiver_create)(void *, size_t, void *, uint64_t, uint64_t);
    int (*receiver_disable)(void *);
    int (*receiver_enable)(void *);
    int (*service)(void *, void *, uint32_t, uint32_t *, uint32_t *);
};

/* A notification channel: a futex word counting notifications, and what the waiter saw. */
struct chan {
    _Alignas(64) _Atomic uint32_t seq;
    _Alignas(64) _Atomic uint32_t seen;
};

static struct {
    struct abi dev, drv;
    bool signal_mode;
    double max_seconds;
    unsigned lost_ms;
    int cpu[2];
    _Alignas(64) uint8_t region[REGION_SIZE];
    void *writer, *sender, *reader, *receiver;
    struct chan notify, done;            /* notify: the shm-signal; done: the harness's */
    _Alignas(64) _Atomic int stop;
    _Atomic int deadline;
    _Atomic int driver_asleep, device_asleep;
    _Atomic uint32_t published, acted;  /* signal mode: last n published, last acted on */
    _Atomic uint64_t updates, reads, busy, notifications, sleeps;
    int error, lost;
    char text[240];
    double lost_at, seconds;
    struct timespec t0;
} s;

static double since(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)(t.tv_sec - s.t0.tv_sec) + (double)(t.tv_nsec - s.t0.tv_nsec) * 1e-9;
}

static long futex(_Atomic uint32_t *word, int op, uint32_t val)
{
    return syscall(SYS_futex, (uint32_t *)(void *)word, op, val, NULL, NULL, 0);
}

static void post(struct chan *c)
{
    atomic_fetch_add(&c->seq, 1);
    futex(&c->seq, FUTEX_WAKE_PRIVATE, INT_MAX);
}

static void wait_for(struct chan *c, _Atomic int *asleep)
{
    uint32_t seen = atomic_load(&c->seen);
    for (unsigned i = 0; i < 1000 && atomic_load(&c->seq) == seen; i++) {
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause(); /* a short poll first: round trips of microseconds */
#endif
    }
    atomic_store(asleep, 1);
    while (atomic_load(&c->seq) == seen && !atomic_load(&s.stop))
        futex(&c->seq, FUTEX_WAIT_PRIVATE, seen);
    atomic_store(&c->seen, atomic_load(&c->seq));
    atomic_store(asleep, 0);
}

__attribute__((format(printf, 1, 2))) static void fail(const char *fmt, ...)
{
    if (!s.error && !s.lost) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(s.text, sizeof s.text, fmt, ap);
        va_end(ap);
        s.error = 1;
    }
    atomic_store(&s.stop, 1);
    post(&s.notify);
    post(&s.done);
}

static void pin(int cpu)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    (void)pthread_setaffinity_np(pthread_self(), sizeof set, &set);
}

/* One more on a counter only this thread writes: a plain store, never a locked add (on x86
 * that is a full fence, and could hide the missing barrier under test). */
static void count(_Atomic uint64_t *c)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + 1,
                          memory_order_relaxed);
}

static void publish(uint32_t n)
{
    uint32_t v[WORDS];
    for (int k = 0; k < WORDS; k++)
        v[k] = n;
    int rc = s.dev.writer_update(s.writer, 0, v, WORDS);
    if (rc < 0)
        fail("writer_update: error %d at update %u", -rc, n);
    count(&s.updates);
}

/* A value the reader got: consistent (every word n, version 2n) and not older than `last`. */
static bool check_value(const char *who, uint32_t version, const uint32_t *v, uint32_t *last)
{
    for (int k = 1; k < WORDS; k++) {
        if (v[k] != v[0]) {
            fail("%s: torn value: words %u and %u of one read (version %u)", who, v[0], v[k],
                 version);
            return false;
        }
    }
    if (version != 2u * v[0]) {
        fail("%s: torn value: the words of update %u came with version %u (update %u's)",
             who, v[0], version, version / 2);
        return false;
    }
    if ((int32_t)(v[0] - *last) < 0) {
        fail("%s: value %u read after %u: older than a value read before", who, v[0], *last);
        return false;
    }
    *last = v[0];
    return true;
}

static void *device_main(void *arg)
{
    (void)arg;
    pin(s.cpu[0]);
    for (uint32_t n = 1; !atomic_load(&s.stop) && !atomic_load(&s.deadline); n++) {
        publish(n);
        if (!s.signal_mode)
            continue;
        bool burst_end = n % 3 == 0 || (n % 7) % 2 == 0; /* bursts of 1 to 3 values */
        atomic_store(&s.published, n);
        int rc = s.dev.sender_inject(s.sender);
        if (rc < 0) {
            fail("sender_inject: error %d", -rc);
            break;
        }
        if (rc > 0) {
            count(&s.notifications);
            post(&s.notify);
        }
        while (burst_end && atomic_load(&s.acted) != n && !atomic_load(&s.stop))
            wait_for(&s.done, &s.device_asleep); /* the harness's channel: never lost */
    }
    atomic_store(&s.stop, 1);
    post(&s.notify);
    return NULL;
}

static void *driver_main(void *arg)
{
    (void)arg;
    pin(s.cpu[1]);
    uint32_t version, v[WORDS], last = 0;
    while (!atomic_load(&s.stop)) {
        if (!s.signal_mode) {
            int rc = s.drv.reader_read(s.reader, 0, &version, v);
            if (rc == -VIRTIOSPEC_SHM_E_BUSY) {
                count(&s.busy);
                continue;
            }
            if (rc < 0) {
                fail("reader_read: error %d", -rc);
                break;
            }
            count(&s.reads);
            if (!check_value("reader_read", version, v, &last))
                break;
            continue;
        }
        int rc = s.drv.service(s.reader, s.receiver, 0, &version, v);
        if (rc == -VIRTIOSPEC_SHM_E_BUSY) {
            count(&s.busy);
            continue;
        }
        if (rc < 0) {
            fail("service: error %d", -rc);
            break;
        }
        count(&s.reads);
        if (rc == 1) {
            if (!check_value("service", version, v, &last))
                break;
            atomic_store(&s.acted, v[0]);
            post(&s.done);
        }
        rc = s.drv.receiver_enable(s.receiver);
        if (rc < 0) {
            fail("receiver_enable: error %d", -rc);
            break;
        }
        if (rc > 0)
            continue; /* pending: serve again (service disables first) */
        count(&s.sleeps);
        wait_for(&s.notify, &s.driver_asleep);
    }
    return NULL;
}

static void *watchdog_main(void *arg)
{
    (void)arg;
    double both_since = -1;
    while (!atomic_load(&s.stop)) {
        struct timespec ten = {0, 10 * 1000 * 1000};
        nanosleep(&ten, NULL);
        double now = since();
        if (now >= s.max_seconds)
            atomic_store(&s.deadline, 1);
        bool stuck = s.signal_mode && atomic_load(&s.driver_asleep) &&
                     atomic_load(&s.device_asleep) &&
                     atomic_load(&s.notify.seq) == atomic_load(&s.notify.seen) &&
                     atomic_load(&s.acted) != atomic_load(&s.published);
        if (!stuck) {
            both_since = -1;
            continue;
        }
        if (both_since < 0)
            both_since = now;
        else if (now - both_since >= s.lost_ms / 1000.0) {
            s.lost = 1;
            s.lost_at = now;
            snprintf(s.text, sizeof s.text, "value %u published, %u acted on: the driver "
                     "sleeps and no notification is on the way",
                     atomic_load(&s.published), atomic_load(&s.acted));
            atomic_store(&s.stop, 1);
            post(&s.notify);
            post(&s.done);
        }
    }
    return NULL;
}

static void *sym(void *lib, const char *path, const char *name)
{
    char full[80];
    snprintf(full, sizeof full, "virtiospec_shm_%s", name);
    void *fn = dlsym(lib, full);
    if (fn == NULL) {
        fprintf(stderr, "shm_threads: %s does not export %s\n", path, full);
        exit(4);
    }
    return fn;
}

#define GET(a, lib, path, name) \
    do { \
        void *fn_ = sym(lib, path, #name); \
        memcpy(&(a)->name, &fn_, sizeof fn_); \
    } while (0)

static void *load(const char *path)
{
    void *lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (lib == NULL) {
        fprintf(stderr, "shm_threads: cannot load %s: %s\n", path, dlerror());
        exit(4);
    }
    uint32_t (*version)(void);
    void *fn = sym(lib, path, "abi_version");
    memcpy(&version, &fn, sizeof fn);
    if (version() != VIRTIOSPEC_SHM_ABI_VERSION) {
        fprintf(stderr, "shm_threads: %s implements ABI version %u, not %u\n", path, version(),
                (unsigned)VIRTIOSPEC_SHM_ABI_VERSION);
        exit(4);
    }
    return lib;
}

static void *state(size_t size)
{
    void *p = aligned_alloc(64, (size + 63) & ~(size_t)63);
    if (p == NULL)
        exit(4);
    memset(p, 0, size);
    return p;
}

static void usage(void)
{
    fprintf(stderr, "usage: shm_threads --device-lib PATH.so --driver-lib PATH.so "
                    "[--mode table|signal] [--max-seconds S] [--lost-ms MS] "
                    "[--device-cpu C] [--driver-cpu C]\n");
    exit(4);
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"device-lib", required_argument, NULL, 'A'}, {"driver-lib", required_argument, NULL, 'B'},
        {"mode", required_argument, NULL, 'm'}, {"max-seconds", required_argument, NULL, 't'},
        {"lost-ms", required_argument, NULL, 'l'}, {"device-cpu", required_argument, NULL, 'D'},
        {"driver-cpu", required_argument, NULL, 'V'}, {NULL, 0, NULL, 0}};
    const char *dev_path = NULL, *drv_path = NULL;
    s.max_seconds = 2;
    s.lost_ms = 200;
    s.cpu[1] = 1;
    int c;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 'A': dev_path = optarg; break;
        case 'B': drv_path = optarg; break;
        case 'm':
            if (strcmp(optarg, "signal") != 0 && strcmp(optarg, "table") != 0)
                usage();
            s.signal_mode = strcmp(optarg, "signal") == 0;
            break;
        case 't': s.max_seconds = atof(optarg); break;
        case 'l': s.lost_ms = (unsigned)atoi(optarg); break;
        case 'D': s.cpu[0] = atoi(optarg); break;
        case 'V': s.cpu[1] = atoi(optarg); break;
        default: usage();
        }
    }
    if (dev_path == NULL || drv_path == NULL || optind != argc || !(s.max_seconds > 0))
        usage();
    void *dl = load(dev_path), *rl = load(drv_path);
    GET(&s.dev, dl, dev_path, writer_state_size);
    GET(&s.dev, dl, dev_path, writer_create);
    GET(&s.dev, dl, dev_path, writer_update);
    GET(&s.drv, rl, drv_path, reader_state_size);
    GET(&s.drv, rl, drv_path, reader_create);
    GET(&s.drv, rl, drv_path, reader_read);
    struct virtiospec_shm_table_config cfg = {.offset = TABLE_OFFSET, .slots = 1,
                                              .words = WORDS, .max_attempts = 64};
    size_t wsz = s.dev.writer_state_size(&cfg), rsz = s.drv.reader_state_size(&cfg);
    s.writer = state(wsz);
    s.reader = state(rsz);
    int rc = s.dev.writer_create(s.writer, wsz, s.region, REGION_SIZE, &cfg);
    if (rc == 0)
        rc = s.drv.reader_create(s.reader, rsz, s.region, REGION_SIZE, &cfg);
    if (s.signal_mode && rc == 0) {
        GET(&s.dev, dl, dev_path, sender_state_size);
        GET(&s.dev, dl, dev_path, sender_create);
        GET(&s.dev, dl, dev_path, sender_inject);
        GET(&s.drv, rl, drv_path, receiver_state_size);
        GET(&s.drv, rl, drv_path, receiver_create);
        GET(&s.drv, rl, drv_path, receiver_disable);
        GET(&s.drv, rl, drv_path, receiver_enable);
        GET(&s.drv, rl, drv_path, service);
        size_t ssz = s.dev.sender_state_size(), xsz = s.drv.receiver_state_size();
        s.sender = state(ssz);
        s.receiver = state(xsz);
        rc = s.dev.sender_create(s.sender, ssz, s.region, REGION_SIZE, SIGNAL_OFFSET);
        if (rc == 0)
            rc = s.drv.receiver_create(s.receiver, xsz, s.region, REGION_SIZE, SIGNAL_OFFSET);
    }
    if (rc < 0) {
        fprintf(stderr, "shm_threads: create: error %d\n", -rc);
        return 4;
    }
    clock_gettime(CLOCK_MONOTONIC, &s.t0);
    pthread_t dev, drv, dog;
    if (pthread_create(&drv, NULL, driver_main, NULL) ||
        pthread_create(&dev, NULL, device_main, NULL) ||
        pthread_create(&dog, NULL, watchdog_main, NULL)) {
        fprintf(stderr, "shm_threads: pthread_create failed\n");
        return 4;
    }
    pthread_join(dev, NULL);
    pthread_join(drv, NULL);
    atomic_store(&s.stop, 1);
    pthread_join(dog, NULL);
    s.seconds = since();
    printf("{\"mode\": \"%s\", \"seconds\": %.6f, \"updates\": %llu, \"reads\": %llu, "
           "\"busy\": %llu, \"notifications\": %llu, \"sleeps\": %llu, \"lost_wakeup\": %s, "
           "\"lost_at\": %.6f, \"error\": \"%s\"}\n",
           s.signal_mode ? "signal" : "table", s.seconds,
           (unsigned long long)atomic_load(&s.updates), (unsigned long long)atomic_load(&s.reads),
           (unsigned long long)atomic_load(&s.busy),
           (unsigned long long)atomic_load(&s.notifications),
           (unsigned long long)atomic_load(&s.sleeps), s.lost ? "true" : "false", s.lost_at,
           s.text);
    return s.error ? 2 : s.lost ? 1 : 0;
}
