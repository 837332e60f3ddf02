/*
 * ring_threads.c -- ring.c on two threads on two cores: the stress test and the benchmark.
 *
 * The driver side of one queue runs on one thread, the device side on another, each pinned
 * to its own CPU; they share only guest memory (the rings and the buffers) and two
 * notification channels standing for the available-buffer notification ("kick") and the
 * used-buffer notification ("interrupt"). ring.c is the real build (C11 atomics and
 * fences of ring_access.h), optionally one mutant of ring_mutants.h (-DVS_MUTANT=...).
 *
 * The protocol each side follows (spec/ring.md, RING-SPLIT-050, RING-SPLIT-051,
 * RING-SPLIT-052, RING-SPLIT-053, RING-SPLIT-054, RING-SPLIT-060, RING-SPLIT-061,
 * RING-SPLIT-062, RING-SPLIT-063, RING-SPLIT-064, RING-SPLIT-065, RING-SPLIT-070,
 * RING-SPLIT-071, RING-SPLIT-072, RING-SPLIT-073, RING-SPLIT-110, RING-SPLIT-111):
 *   busy:   notifications disabled (disable_cb / disable_notify);
 *   idle:   re-enable and re-check (enable_cb / enable_notify); only when the re-check
 *           says nothing is pending, sleep until the other side notifies;
 *   notify: only when kick_prepare / should_notify says so.
 * Batching, as in Linux's tools/virtio/ringtest: the driver decides whether to kick after
 * every --batch buffers it adds (and for a partial batch before it sleeps, when no buffer
 * decided on earlier is still out); the device pops up to --device-batch chains (default:
 * --batch), returns them in one push and decides once whether to interrupt.
 * A waiter is woken ONLY by a notification of the other side (an eventfd or a futex word).
 * Mode "none" never disables notifications (so every decision says notify); mode "poll"
 * sends none and busy-polls, as Linux's tools/virtio/ringtest does without --sleep.
 *
 * Every buffer carries its sequence number as its token (and, with --verify, in its data):
 * the device checks that chains come in order, the driver that used buffers come back in
 * order, so a lost, duplicated or reordered buffer is an error.
 *
 * A lost wakeup leaves both sides asleep with work pending and no notification on the way.
 * A watchdog thread looks for exactly that: both asleep, neither channel holding an
 * unconsumed notification, buffers pending for one of them, unchanged for --lost-ms. It
 * then reports the lost wakeup (which notification went missing and when), and wakes both
 * sides to stop the run. Nothing else ever wakes a sleeping side.
 *
 * Built with -DVS_THREADS_ABI (ring_threads_abi.h), each side comes from a shared library
 * behind conformance/ring/virtiospec_ring.h (--driver-lib, --device-lib; one library may give
 * both): `virtiospec conformance run --target lib:X.so --stress S` runs it. The harness
 * keeps its own counts of what it made available and took back, so it never looks inside
 * a side's state.
 *
 * Output: one JSON object on stdout. Exit status: 0 run completed, 1 lost wakeup,
 * 2 lost / duplicated / reordered buffer or ring error, 3 stall without pending work (a
 * harness bug), 4 usage or setup error.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <linux/futex.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#ifdef VS_THREADS_ABI
#include "ring_threads_abi.h" /* each side from a library behind virtiospec_ring.h */
#else
#include "ring.h"
#include "ring_mutants.h"
#endif

enum mode { MODE_EVENT_IDX, MODE_FLAGS, MODE_NONE, MODE_POLL };
static const char *const mode_names[] = {"event_idx", "flags", "none", "poll"};
enum wake { WAKE_EVENTFD, WAKE_FUTEX };
enum who { DRIVER = 0, DEVICE = 1 };

#define MAX_DEVICE_BATCH 256 /* the device returns at most this many chains per push */
#ifndef PART_ALIGN
#define PART_ALIGN 128
#endif

struct options {
    enum mode mode;
    enum wake wake;
    uint32_t q;
    uint32_t batch;         /* driver: buffers added per kick decision */
    uint32_t device_batch;  /* device: chains per push and interrupt decision (0: batch) */
    uint64_t buffers;       /* 0: until the deadline */
    double max_seconds;     /* 0: no deadline */
    unsigned lost_ms;       /* both asleep this long with work pending: a lost wakeup */
    unsigned exit_cycles;   /* busy cycles before and after each notify and wait (ringtest) */
    unsigned spin;          /* futex waiter: polls of the word before sleeping in the kernel */
    int cpu[2];
    bool verify;
    bool delayed;           /* driver: enable_cb_delayed instead of enable_cb when idle */
    bool interleave;        /* driver: add one, take back one, as ringtest's guest loop */
    const char *lib[2];     /* VS_THREADS_ABI: the driver's and the device's library */
    bool packed;            /* VS_THREADS_ABI: the packed ring's ABI (no indices in memory) */
};

/* A notification channel: the sender notifies, the waiter sleeps until notified. A
 * notification sent while the waiter is awake is kept (eventfd count, futex sequence) and
 * ends its next sleep at once, as an interrupt or a kick stays pending. The word the
 * sender writes and the word the waiter writes are on different cache lines. */
struct chan {
    int fd;                                  /* WAKE_EVENTFD */
    _Alignas(64) _Atomic uint32_t seq;       /* WAKE_FUTEX: notifications sent */
    _Alignas(64) _Atomic uint32_t seen;      /* WAKE_FUTEX: the waiter consumed up to here */
    _Atomic uint64_t rescues;                /* wakes that are not notifications (end, stop) */
};

/* What one side publishes (for the watchdog) and counts; its own cache lines. */
struct side {
    _Alignas(64) _Atomic int asleep;
    _Atomic uint64_t sleep_gen;
    _Atomic uint32_t pub_index; /* driver: last_used, device: last_avail, when it went to sleep */
    /* counts, written once at the end of the run */
    uint64_t notified, slept, spurious, checks, buffers;
};

struct shared {
    /* read-mostly */
    struct options o;
    uint8_t *mem;
    uint64_t mem_size, desc, avail, used, bufs;
    struct vs_driver *drv;
    struct vs_device *dev;
    pthread_barrier_t start;
    struct timespec t0;
    struct chan kick, intr;

    /* written once or twice a run */
    _Alignas(64) _Atomic int stop;   /* watchdog or an error: stop now */
    _Atomic int deadline;            /* watchdog: add no more buffers */
    _Atomic int driver_done;         /* the driver left: the device may leave */
    _Atomic int finished;            /* both sides left: the watchdog may leave */

    struct side side[2];

    /* --packed: buffers made available and returned, published after add / push (a packed
     * ring has no avail.idx or used.idx in memory for the watchdog to read) */
    _Alignas(64) _Atomic uint64_t made_available;
    _Alignas(64) _Atomic uint64_t returned;

    _Alignas(64) pthread_mutex_t tick_lock; /* the watchdog's 10 ms tick, cut short at the end */
    pthread_cond_t tick;

    /* results */
    _Alignas(64) uint64_t started;
    int error;                       /* exit status 2 */
    char error_text[200];
    int lost;                        /* 1: lost wakeup */
    const char *lost_what;           /* "kick", "interrupt", "kick+interrupt" */
    double lost_at;                  /* seconds since start when detected */
    double lost_asleep_ms;
    int stall;
    double seconds;
};

static double since(const struct timespec *t0)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)(t.tv_sec - t0->tv_sec) + (double)(t.tv_nsec - t0->tv_nsec) * 1e-9;
}

static void rescue(const struct shared *s, struct chan *c);

__attribute__((format(printf, 2, 3))) static void fail(struct shared *s, const char *fmt, ...)
{
    if (!s->error) {
        va_list ap;
        va_start(ap, fmt);
        s->error = 1;
        vsnprintf(s->error_text, sizeof s->error_text, fmt, ap);
        va_end(ap);
    }
    atomic_store(&s->stop, 1);
    rescue(s, &s->kick); /* the other side may be asleep: let it see the stop */
    rescue(s, &s->intr);
}

/* -- notifications ------------------------------------------------------------------- */

static inline void exit_cost(const struct shared *s)
{
#if defined(__x86_64__) || defined(__i386__)
    if (s->o.exit_cycles) {
        unsigned long long t = __builtin_ia32_rdtsc();
        while (__builtin_ia32_rdtsc() - t < s->o.exit_cycles) {
        }
    }
#else
    (void)s;
#endif
}

static long futex(_Atomic uint32_t *word, int op, uint32_t val)
{
    return syscall(SYS_futex, (uint32_t *)(void *)word, op, val, NULL, NULL, 0);
}

static void chan_post(const struct shared *s, struct chan *c)
{
    if (s->o.wake == WAKE_EVENTFD) {
        uint64_t one = 1;
        if (write(c->fd, &one, sizeof one) != (ssize_t)sizeof one)
            abort();
    } else {
        atomic_fetch_add(&c->seq, 1);
        futex(&c->seq, FUTEX_WAKE_PRIVATE, INT_MAX);
    }
}

/* Send a notification (with the sender's vmexit, as ringtest's notify()). */
static inline void notify(const struct shared *s, struct chan *c, uint64_t *count)
{
    exit_cost(s);
    chan_post(s, c);
    exit_cost(s);
    ++*count;
}

/* Wake a side without a notification: only to end the run. */
static void rescue(const struct shared *s, struct chan *c)
{
    atomic_fetch_add(&c->rescues, 1);
    chan_post(s, c);
}

/* Sleep until the channel has a notification, and consume it (with the waiter's vmexit
 * and vmentry, as ringtest's wait_for_notify()). */
static void wait_notified(struct shared *s, struct chan *c, struct side *me)
{
    atomic_fetch_add_explicit(&me->sleep_gen, 1, memory_order_relaxed);
    atomic_store_explicit(&me->asleep, 1, memory_order_release);
    exit_cost(s);
    if (s->o.wake == WAKE_EVENTFD) {
        uint64_t v;
        while (read(c->fd, &v, sizeof v) != (ssize_t)sizeof v) {
            if (errno != EINTR)
                abort();
        }
    } else {
        uint32_t seen = atomic_load_explicit(&c->seen, memory_order_relaxed);
        for (unsigned i = 0; i < s->o.spin; i++) {
            if (atomic_load_explicit(&c->seq, memory_order_acquire) != seen)
                break;
#if defined(__x86_64__) || defined(__i386__)
            __builtin_ia32_pause();
#endif
        }
        while (atomic_load_explicit(&c->seq, memory_order_acquire) == seen)
            futex(&c->seq, FUTEX_WAIT_PRIVATE, seen);
        atomic_store_explicit(&c->seen, atomic_load(&c->seq), memory_order_release);
    }
    exit_cost(s);
    atomic_store_explicit(&me->asleep, 0, memory_order_release);
}

/* Does the channel hold a notification its waiter has not consumed? (watchdog) */
static bool chan_pending(const struct shared *s, struct chan *c)
{
    if (s->o.wake == WAKE_EVENTFD) {
        struct pollfd p = {.fd = c->fd, .events = POLLIN};
        return poll(&p, 1, 0) > 0;
    }
    return atomic_load(&c->seq) != atomic_load(&c->seen);
}

/* -- the two sides ------------------------------------------------------------------- */

static void pin(struct shared *s, enum who me)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(s->o.cpu[me], &set);
#ifdef VS_THREADS_ABI
    vs_abi_thread = me == DRIVER ? "driver" : "device"; /* named in a crash report */
#endif
    int rc = pthread_setaffinity_np(pthread_self(), sizeof set, &set);
    if (rc != 0)
        fail(s, "pthread_setaffinity_np(cpu %d): error %d", s->o.cpu[me], rc);
}

static inline uint64_t buffer_at(uint64_t bufs, uint32_t q, uint64_t seq)
{
    return bufs + 64 * (seq & (q - 1)); /* at most Q outstanding, returned in order */
}

static inline uint16_t ring_u16(const uint8_t *mem, uint64_t at)
{
    uint16_t v = atomic_load_explicit((_Atomic uint16_t *)(void *)(mem + at),
                                      memory_order_relaxed);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    v = __builtin_bswap16(v);
#endif
    return v;
}

#ifdef VS_THREADS_ABI
#define PACKED(s) ((s)->o.packed)
#else
#define PACKED(s) false
#endif

/* What the driver has made available / the device has returned, as the other side (and the
 * watchdog) can see it: the index in memory, or with a packed ring the published count. */
static inline uint16_t avail_published(struct shared *s)
{
    return PACKED(s) ? (uint16_t)atomic_load(&s->made_available) : ring_u16(s->mem, s->avail + 2);
}

static inline uint16_t used_published(struct shared *s)
{
    return PACKED(s) ? (uint16_t)atomic_load(&s->returned) : ring_u16(s->mem, s->used + 2);
}

/* The driver's kick decision for the buffers added since the last one (RING-SPLIT-070). */
static int kick(struct shared *s, struct vs_driver *d, uint32_t *unkicked, uint64_t *kicks,
                uint64_t *checks)
{
    *unkicked = 0;
    ++*checks;
    int rc = vs_driver_kick_prepare(d);
    if (rc < 0)
        fail(s, "driver kick_prepare: error %d", -rc);
    else if (rc > 0)
        notify(s, &s->kick, kicks);
    return rc;
}

static void *driver_main(void *arg)
{
    struct shared *s = arg;
    struct side *me = &s->side[DRIVER];
    struct vs_driver *d = s->drv;
    const struct options o = s->o;
    uint8_t *const mem = s->mem;
    const uint64_t bufs = s->bufs;
    const bool sleeping = o.mode != MODE_POLL;
    const bool suppress = o.mode == MODE_EVENT_IDX || o.mode == MODE_FLAGS;
    uint64_t started = 0, completed = 0, limit = o.buffers ? o.buffers : UINT64_MAX;
    uint64_t kicks = 0, sleeps = 0, spurious = 0, checks = 0;
    uint32_t unkicked = 0; /* buffers added since the last kick decision */
    pin(s, DRIVER);
    pthread_barrier_wait(&s->start);
    if (suppress)
        vs_driver_disable_cb(d);
    while (!atomic_load_explicit(&s->stop, memory_order_relaxed)) {
        bool progress = false;
        if (started < limit && atomic_load_explicit(&s->deadline, memory_order_relaxed))
            limit = started; /* out of time: bring back what is out, add no more */
        /* add up to a batch; decide whether to kick after every `batch` buffers, as
         * ringtest's guest does (a partial batch is decided on before sleeping) */
        uint32_t added = 0;
        const uint32_t max_add = o.interleave ? 1 : o.batch;
        while (added < max_add && started < limit && started - completed < o.q) {
            /* one descriptor per buffer: room for one more (and its slot is free) */
            struct vs_segment seg = {buffer_at(bufs, o.q, started), 8};
            if (o.verify)
                memcpy(mem + seg.addr, &started, sizeof started);
            int rc = vs_driver_add(d, &seg, 1, NULL, 0, started);
            if (rc < 0) {
                fail(s, "driver add: error %d at buffer %llu", -rc, (unsigned long long)started);
                goto out;
            }
            started++;
            added++;
            if (PACKED(s))
                atomic_store_explicit(&s->made_available, started, memory_order_release);
            if (sleeping && ++unkicked == o.batch && kick(s, d, &unkicked, &kicks, &checks) < 0)
                goto out;
        }
        progress = added > 0;
        /* take back what the device used: in order, each once */
        for (;;) {
            uint64_t token;
            uint32_t len;
            int rc = vs_driver_get_used(d, &token, &len);
            if (rc == 0)
                break;
            if (rc < 0) {
                fail(s, "driver get_used: error %d after %llu buffers", -rc,
                     (unsigned long long)completed);
                goto out;
            }
            if (token != completed || len != 0) {
                fail(s, "driver: used buffer %llu (len %u) came back where %llu was due",
                     (unsigned long long)token, len, (unsigned long long)completed);
                goto out;
            }
            completed++;
            progress = true;
            if (o.interleave)
                break;
        }
        if (completed == limit)
            break;
        if (progress || !sleeping)
            continue; /* (mode poll: spin) */
        /* idle: the ring is full (or every buffer is out) and nothing came back */
        if (unkicked && unkicked >= started - completed) {
            /* every buffer out is undecided: the device may be asleep, decide now. (With
             * an earlier-decided buffer still out, the device still has work, or will be
             * woken for it; its completion wakes this side, which then decides.) */
            if (kick(s, d, &unkicked, &kicks, &checks) < 0)
                goto out;
            continue;
        }
        /* the next used entry to take back: one buffer per entry, from index 0 */
        atomic_store_explicit(&me->pub_index, (uint16_t)completed, memory_order_relaxed);
        if (suppress) {
            /* re-enable, then re-check (RING-SPLIT-073); delayed: ask for the notification
             * only once 3/4 of the outstanding buffers are used (RING-SPLIT-051) */
            int rc = o.delayed ? vs_driver_enable_cb_delayed(d) : vs_driver_enable_cb(d);
            if (rc < 0) {
                fail(s, "driver enable_cb: error %d", -rc);
                goto out;
            }
            if (rc > 0) { /* used buffers pending: do not sleep */
                vs_driver_disable_cb(d);
                continue;
            }
        }
        sleeps++;
        wait_notified(s, &s->intr, me);
        if (suppress)
            vs_driver_disable_cb(d);
        if (used_published(s) == (uint16_t)completed)
            spurious++;
    }
out:
    s->started = started;
    me->buffers = completed;
    me->notified = kicks;
    me->slept = sleeps;
    me->spurious = spurious;
    me->checks = checks;
    atomic_store(&s->driver_done, 1);
    rescue(s, &s->kick); /* the device may be asleep: let it see the end */
    return NULL;
}

static void *device_main(void *arg)
{
    struct shared *s = arg;
    struct side *me = &s->side[DEVICE];
    struct vs_device *v = s->dev;
    const struct options o = s->o;
    const uint8_t *const mem = s->mem;
    const uint64_t bufs = s->bufs;
    const bool sleeping = o.mode != MODE_POLL;
    const bool suppress = o.mode == MODE_EVENT_IDX || o.mode == MODE_FLAGS;
    struct vs_used_elem used[MAX_DEVICE_BATCH];
    const uint32_t want = o.device_batch ? o.device_batch : o.batch;
    const uint32_t batch = want < MAX_DEVICE_BATCH ? want : MAX_DEVICE_BATCH;
    uint64_t popped = 0, interrupts = 0, sleeps = 0, spurious = 0, checks = 0;
    pin(s, DEVICE);
    pthread_barrier_wait(&s->start);
    if (suppress)
        vs_device_disable_notify(v);
    while (!atomic_load_explicit(&s->stop, memory_order_relaxed)) {
        /* take up to a batch, return them in one push, decide once whether to interrupt */
        uint32_t n = 0;
        while (n < batch) {
            uint16_t head;
            struct vs_segment seg;
            uint32_t nr, nw;
            int rc = vs_device_pop(v, &head, &seg, 1, &nr, &nw);
            if (rc == 0)
                break;
            if (rc < 0) {
                fail(s, "device pop: error %d after %llu buffers", -rc,
                     (unsigned long long)popped);
                goto out;
            }
            if (nr != 1 || nw != 0 || seg.len != 8 || seg.addr != buffer_at(bufs, o.q, popped)) {
                fail(s, "device: chain %llu (head %u) is not the buffer made available",
                     (unsigned long long)popped, head);
                goto out;
            }
            if (o.verify) {
                uint64_t seq;
                memcpy(&seq, mem + seg.addr, sizeof seq);
                if (seq != popped) {
                    fail(s, "device: buffer %llu came where %llu was due",
                         (unsigned long long)seq, (unsigned long long)popped);
                    goto out;
                }
            }
            used[n].id = head;
            used[n].len = 0;
            n++;
            popped++;
        }
        if (n) {
            int rc = vs_device_push(v, used, n);
            if (rc < 0) {
                fail(s, "device push: error %d", -rc);
                goto out;
            }
            if (PACKED(s)) /* a plain store: a locked add would be the full fence under test */
                atomic_store_explicit(&s->returned, popped, memory_order_release);
            if (sleeping) {
                checks++;
                rc = vs_device_should_notify(v);
                if (rc < 0) {
                    fail(s, "device should_notify: error %d", -rc);
                    goto out;
                }
                if (rc > 0)
                    notify(s, &s->intr, &interrupts);
            }
            continue;
        }
        if (atomic_load_explicit(&s->driver_done, memory_order_acquire))
            break;
        if (!sleeping)
            continue; /* mode poll: spin */
        /* idle: nothing available */
        atomic_store_explicit(&me->pub_index, (uint16_t)popped, memory_order_relaxed);
        if (suppress) {
            int rc = vs_device_enable_notify(v); /* re-enable, then re-check (RING-SPLIT-072) */
            if (rc < 0) {
                fail(s, "device enable_notify: error %d", -rc);
                goto out;
            }
            if (rc > 0) { /* buffers pending: do not sleep */
                vs_device_disable_notify(v);
                continue;
            }
        }
        sleeps++;
        wait_notified(s, &s->kick, me);
        if (suppress)
            vs_device_disable_notify(v);
        if (avail_published(s) == (uint16_t)popped &&
            !atomic_load_explicit(&s->driver_done, memory_order_relaxed))
            spurious++;
    }
out:
    me->buffers = popped;
    me->notified = interrupts;
    me->slept = sleeps;
    me->spurious = spurious;
    me->checks = checks;
    return NULL;
}

/* -- the watchdog ---------------------------------------------------------------------- */

static void *watchdog_main(void *arg)
{
    struct shared *s = arg;
    uint64_t gen[2] = {0, 0};
    double both_since = -1;
    for (;;) {
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_nsec += 10 * 1000 * 1000;
        if (until.tv_nsec >= 1000000000) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000;
        }
        pthread_mutex_lock(&s->tick_lock);
        while (!atomic_load(&s->finished) &&
               pthread_cond_timedwait(&s->tick, &s->tick_lock, &until) != ETIMEDOUT) {
        }
        pthread_mutex_unlock(&s->tick_lock);
        if (atomic_load(&s->finished))
            break;
        double now = since(&s->t0);
        if (s->o.max_seconds > 0 && now >= s->o.max_seconds)
            atomic_store(&s->deadline, 1);
        bool both = atomic_load_explicit(&s->side[DRIVER].asleep, memory_order_acquire) &&
                    atomic_load_explicit(&s->side[DEVICE].asleep, memory_order_acquire);
        uint64_t g0 = atomic_load(&s->side[DRIVER].sleep_gen);
        uint64_t g1 = atomic_load(&s->side[DEVICE].sleep_gen);
        if (!both || g0 != gen[0] || g1 != gen[1] || atomic_load(&s->driver_done)) {
            both_since = both ? now : -1;
            gen[0] = g0;
            gen[1] = g1;
            continue;
        }
        if (now - both_since < s->o.lost_ms / 1000.0)
            continue;
        /* both asleep in the same sleeps for lost_ms: can anything wake either of them? */
        if (chan_pending(s, &s->kick) || chan_pending(s, &s->intr))
            continue;
        uint16_t last_avail = (uint16_t)atomic_load(&s->side[DEVICE].pub_index);
        uint16_t last_used = (uint16_t)atomic_load(&s->side[DRIVER].pub_index);
        bool dev_work = avail_published(s) != last_avail;
        bool drv_work = used_published(s) != last_used;
        if (dev_work || drv_work) {
            s->lost = 1;
            s->lost_what = dev_work && drv_work ? "kick+interrupt" : dev_work ? "kick"
                                                                            : "interrupt";
            s->lost_at = now;
            s->lost_asleep_ms = (now - both_since) * 1000.0;
        } else {
            s->stall = 1;
        }
        atomic_store(&s->stop, 1);
        rescue(s, &s->kick);
        rescue(s, &s->intr);
        break;
    }
    return NULL;
}

/* -- setup and report ------------------------------------------------------------------ */

static uint64_t align_up(uint64_t x, uint64_t a)
{
    return (x + a - 1) & ~(a - 1);
}

static void usage(void)
{
    fprintf(stderr,
            "usage: ring_threads [--mode event_idx|flags|none|poll] [--queue-size Q]\n"
            "         [--batch B] [--device-batch B] [--buffers N] [--max-seconds S]\n"
            "         [--lost-ms MS] [--exit-cycles C] [--wake eventfd|futex] [--spin N]\n"
            "         [--driver-cpu C] [--device-cpu C] [--verify] [--delayed]\n"
            "         [--interleave] [--driver-lib PATH.so --device-lib PATH.so [--packed]]\n");
    exit(4);
}

static uint64_t number(const char *arg, uint64_t max)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(arg, &end, 0);
    if (errno || *end || end == arg || v > max)
        usage();
    return v;
}

static void parse(int argc, char **argv, struct options *o)
{
    static const struct option longopts[] = {
        {"mode", required_argument, NULL, 'm'},
        {"queue-size", required_argument, NULL, 'q'},
        {"batch", required_argument, NULL, 'b'},
        {"device-batch", required_argument, NULL, 'd'},
        {"buffers", required_argument, NULL, 'n'},
        {"max-seconds", required_argument, NULL, 't'},
        {"lost-ms", required_argument, NULL, 'l'},
        {"exit-cycles", required_argument, NULL, 'e'},
        {"wake", required_argument, NULL, 'w'},
        {"spin", required_argument, NULL, 's'},
        {"driver-cpu", required_argument, NULL, 'D'},
        {"device-cpu", required_argument, NULL, 'V'},
        {"verify", no_argument, NULL, 'v'},
        {"delayed", no_argument, NULL, 'L'},
        {"interleave", no_argument, NULL, 'I'},
        {"driver-lib", required_argument, NULL, 'A'},
        {"device-lib", required_argument, NULL, 'B'},
        {"packed", no_argument, NULL, 'P'},
        {NULL, 0, NULL, 0}};
    *o = (struct options){.mode = MODE_EVENT_IDX, .wake = WAKE_EVENTFD, .q = 256, .batch = 1,
                          .buffers = 1000000, .lost_ms = 200, .cpu = {0, 1}};
    int c;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 'm': {
            int k = 0;
            while (k < 4 && strcmp(optarg, mode_names[k]) != 0)
                k++;
            if (k == 4)
                usage();
            o->mode = (enum mode)k;
            break;
        }
        case 'q': o->q = (uint32_t)number(optarg, VS_MAX_QUEUE_SIZE); break;
        case 'b': o->batch = (uint32_t)number(optarg, 1u << 20); break;
        case 'd': o->device_batch = (uint32_t)number(optarg, 1u << 20); break;
        case 'n': o->buffers = number(optarg, UINT64_MAX - 1); break;
        case 't': {
            char *end;
            o->max_seconds = strtod(optarg, &end);
            if (*end || end == optarg || !(o->max_seconds >= 0))
                usage();
            break;
        }
        case 'l': o->lost_ms = (unsigned)number(optarg, 600000); break;
        case 'e': o->exit_cycles = (unsigned)number(optarg, 1u << 30); break;
        case 'w':
            if (strcmp(optarg, "eventfd") == 0)
                o->wake = WAKE_EVENTFD;
            else if (strcmp(optarg, "futex") == 0)
                o->wake = WAKE_FUTEX;
            else
                usage();
            break;
        case 's': o->spin = (unsigned)number(optarg, 1u << 30); break;
        case 'D': o->cpu[DRIVER] = (int)number(optarg, CPU_SETSIZE - 1); break;
        case 'V': o->cpu[DEVICE] = (int)number(optarg, CPU_SETSIZE - 1); break;
        case 'v': o->verify = true; break;
        case 'L': o->delayed = true; break;
        case 'I': o->interleave = true; break;
        case 'A': o->lib[DRIVER] = optarg; break;
        case 'B': o->lib[DEVICE] = optarg; break;
        case 'P': o->packed = true; break;
        default: usage();
        }
    }
#ifdef VS_THREADS_ABI
    if (o->lib[DRIVER] == NULL || o->lib[DEVICE] == NULL)
        usage();
    vs_abi_load(o->lib[DRIVER], o->lib[DEVICE], o->packed); /* exits 4 naming what is missing */
#endif
    if (optind != argc || o->batch == 0 || (o->buffers == 0 && o->max_seconds <= 0) ||
        vs_driver_state_size(o->q) == 0 || vs_device_state_size(o->q) == 0)
        usage();
}

int main(int argc, char **argv)
{
    static struct shared s;
    parse(argc, argv, &s.o);
    const uint32_t q = s.o.q;
    const uint32_t features = s.o.mode == MODE_EVENT_IDX ? VS_F_EVENT_IDX : 0;

    /* guest memory: descriptor table, available ring, used ring, buffers; the parts
     * written by different sides on different cache lines */
    s.desc = 0;
    s.avail = align_up(s.desc + 16ull * q, PART_ALIGN);
    s.used = align_up(s.avail + 6 + 2ull * q, PART_ALIGN);
    s.bufs = align_up(s.used + 6 + 8ull * q, PART_ALIGN);
    s.mem_size = align_up(s.bufs + 64ull * q, 4096);
    s.mem = aligned_alloc(4096, s.mem_size);
    size_t dsz = vs_driver_state_size(q), vsz = vs_device_state_size(q);
    s.drv = aligned_alloc(64, align_up(dsz, 64));
    s.dev = aligned_alloc(64, align_up(vsz, 64));
    if (!s.mem || !s.drv || !s.dev) {
        fprintf(stderr, "ring_threads: out of memory\n");
        return 4;
    }
    memset(s.mem, 0, s.mem_size);
    int rc = vs_driver_create(s.drv, dsz, s.mem, s.mem_size, q, s.desc, s.avail, s.used,
                              features, 0, 0, 0);
    if (rc == 0)
        rc = vs_device_create(s.dev, vsz, s.mem, s.mem_size, q, s.desc, s.avail, s.used,
                              features, 0);
    if (rc < 0) {
        fprintf(stderr, "ring_threads: create: error %d\n", -rc);
        return 4;
    }
    vs_driver_init(s.drv);
    vs_device_init(s.dev);
    s.kick.fd = eventfd(0, EFD_CLOEXEC); /* the kick first, the interrupt second: */
    s.intr.fd = eventfd(0, EFD_CLOEXEC); /* the same order as ringtest's main.c */
    if (s.kick.fd < 0 || s.intr.fd < 0) {
        perror("ring_threads: eventfd");
        return 4;
    }
    pthread_barrier_init(&s.start, NULL, 3);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s.tick, &ca);
    pthread_mutex_init(&s.tick_lock, NULL);
    pthread_t drv, dev, dog;
    if (pthread_create(&dev, NULL, device_main, &s) ||
        pthread_create(&drv, NULL, driver_main, &s)) {
        fprintf(stderr, "ring_threads: pthread_create failed\n");
        return 4;
    }
    pthread_barrier_wait(&s.start);
    clock_gettime(CLOCK_MONOTONIC, &s.t0);
    if (pthread_create(&dog, NULL, watchdog_main, &s)) {
        fprintf(stderr, "ring_threads: pthread_create failed\n");
        return 4;
    }
    pthread_join(drv, NULL);
    pthread_join(dev, NULL);
    s.seconds = since(&s.t0);
    pthread_mutex_lock(&s.tick_lock);
    atomic_store(&s.finished, 1);
    pthread_cond_signal(&s.tick);
    pthread_mutex_unlock(&s.tick_lock);
    pthread_join(dog, NULL);

    const struct side *dr = &s.side[DRIVER], *dv = &s.side[DEVICE];
    bool ended = !s.error && !s.lost && !s.stall;
    if (ended && (dr->buffers != s.started || dv->buffers != s.started))
        fail(&s, "counts differ: %llu made available, %llu popped, %llu came back",
             (unsigned long long)s.started, (unsigned long long)dv->buffers,
             (unsigned long long)dr->buffers);
    else if (ended && s.o.buffers && !atomic_load(&s.deadline) && dr->buffers != s.o.buffers)
        fail(&s, "%llu of %llu buffers came back", (unsigned long long)dr->buffers,
             (unsigned long long)s.o.buffers);

    printf("{\"mode\": \"%s\", \"wake\": \"%s\", \"queue_size\": %u, \"batch\": %u, "
           "\"device_batch\": %u, "
           "\"mutant\": %d, \"exit_cycles\": %u, \"driver_cpu\": %d, \"device_cpu\": %d, "
           "\"buffers\": %llu, \"started\": %llu, \"popped\": %llu, \"seconds\": %.6f, "
           "\"kicks\": %llu, \"interrupts\": %llu, \"kick_checks\": %llu, "
           "\"notify_checks\": %llu, \"driver_sleeps\": %llu, \"device_sleeps\": %llu, "
           "\"driver_spurious\": %llu, \"device_spurious\": %llu, "
           "\"kick_fd_rescues\": %llu, \"interrupt_fd_rescues\": %llu, "
           "\"lost_wakeup\": %s, \"lost\": \"%s\", \"lost_at\": %.6f, "
           "\"lost_asleep_ms\": %.1f, \"stall\": %s, \"error\": \"%s\"}\n",
           mode_names[s.o.mode], s.o.wake == WAKE_EVENTFD ? "eventfd" : "futex", q, s.o.batch,
           s.o.device_batch ? s.o.device_batch : s.o.batch,
           VS_MUTANT, s.o.exit_cycles, s.o.cpu[DRIVER], s.o.cpu[DEVICE],
           (unsigned long long)dr->buffers, (unsigned long long)s.started,
           (unsigned long long)dv->buffers, s.seconds, (unsigned long long)dr->notified,
           (unsigned long long)dv->notified, (unsigned long long)dr->checks,
           (unsigned long long)dv->checks, (unsigned long long)dr->slept,
           (unsigned long long)dv->slept, (unsigned long long)dr->spurious,
           (unsigned long long)dv->spurious, (unsigned long long)atomic_load(&s.kick.rescues),
           (unsigned long long)atomic_load(&s.intr.rescues), s.lost ? "true" : "false",
           s.lost_what ? s.lost_what : "", s.lost_at, s.lost_asleep_ms,
           s.stall ? "true" : "false", s.error_text);
    fflush(stdout);
    if (s.error)
        return 2;
    if (s.lost)
        return 1;
    return s.stall ? 3 : 0;
}
