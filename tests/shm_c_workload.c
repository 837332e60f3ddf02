/*
 * shm_c_workload.c -- a workload for the sanitizer build of shm.c (tests/shm/test_shm_c.py).
 *
 * The normal build (C11 atomics and fences) over one 8-aligned region in host memory:
 *  1. layouts and state blocks that must be refused, with the code of their requirement;
 *  2. one thread: updates and reads of every slot across the 32-bit wrap of seq, polls
 *     (SHM-TABLE-009), a stalled writer making reads fail after exactly max_attempts
 *     attempts with the last good value kept (SHM-TABLE-011), signal coalescing;
 *  3. two threads: a writer publishing values whose words are all derived from one counter,
 *     a reader checking that every value it reads is whole (SHM-TABLE-007) and never older
 *     than the last (SHM-TABLE-008); and a sender announcing a counter through a signal to
 *     a receiver that sleeps when enable says nothing is pending, woken only by the
 *     notifications inject asks for, which must see the last counter (SHM-SIGNAL-010) with
 *     notifications <= acknowledgements + 1 (SHM-SIGNAL-011).
 * Built with -fsanitize=address,undefined; any report or wrong result exits non-zero.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "shm.h"

#define REGION_SIZE 0x1000u
#define SIGNAL_AT 0x0u
#define DATA_AT 0x10u /* the counter a signal announces */
#define TABLE_AT 0x40u
#define SLOTS 4u
#define WORDS 3u
#define ROUNDS 200000u
#define ANNOUNCED 50000u

static atomic_int failures; /* EXPECT runs on several threads */

#define EXPECT(cond)                                                                        \
    do {                                                                                    \
        if (!(cond)) {                                                                      \
            if (atomic_fetch_add(&failures, 1) < 20)                                                            \
                fprintf(stderr, "%s:%d: expected %s\n", __FILE__, __LINE__, #cond);         \
        }                                                                                   \
    } while (0)

static _Alignas(8) uint8_t region[REGION_SIZE];
static uint64_t writer_block[256];
static uint64_t reader_block[256];

/* The value of update k of a slot: three words, each a different function of k. */
static void value_of(uint32_t slot, uint32_t k, uint32_t out[WORDS])
{
    out[0] = k;
    out[1] = ~k ^ slot;
    out[2] = k * 0x01000193u + slot;
}

/* v is the initial value (all 0) or the value of one update of the slot, whole. */
static int whole(uint32_t slot, const uint32_t v[WORDS])
{
    static const uint32_t zero[WORDS];
    uint32_t want[WORDS];
    value_of(slot, v[0], want);
    return memcmp(v, want, sizeof want) == 0 || memcmp(v, zero, sizeof zero) == 0;
}

static void layouts(void)
{
    struct vs_shm_table t;
    struct vs_shm_signal s;
    EXPECT(vs_shm_table_create(&t, region, REGION_SIZE, 2, 1, 1) == -VS_SHM_E_TABLE);
    EXPECT(vs_shm_table_create(&t, region, REGION_SIZE, 0, 0, 1) == -VS_SHM_E_TABLE);
    EXPECT(vs_shm_table_create(&t, region, REGION_SIZE, 0, 1, 0) == -VS_SHM_E_TABLE);
    EXPECT(vs_shm_table_create(&t, region, REGION_SIZE, REGION_SIZE - 4, 1, 1) ==
           -VS_SHM_E_OUTSIDE);
    EXPECT(vs_shm_table_create(&t, region, REGION_SIZE, 0, UINT32_MAX, UINT32_MAX) ==
           -VS_SHM_E_OUTSIDE);
    EXPECT(vs_shm_table_create(&t, region, 16, 8, 1, 1) == 0 && vs_shm_table_size(&t) == 8);
    EXPECT(vs_shm_table_create(&t, region + 4, 16, 0, 1, 1) == -VS_SHM_E_MISALIGNED);
    EXPECT(vs_shm_table_create(&t, NULL, 16, 0, 1, 1) == -VS_SHM_E_INVALID);
    EXPECT(vs_shm_table_create(&t, region, 0, 0, 1, 1) == -VS_SHM_E_OUTSIDE);
    EXPECT(vs_shm_signal_create(&s, region, REGION_SIZE, 6) == -VS_SHM_E_SIGNAL);
    EXPECT(vs_shm_signal_create(&s, region, REGION_SIZE, REGION_SIZE - 4) == -VS_SHM_E_OUTSIDE);
    EXPECT(vs_shm_signal_create(&s, region, 8, 0) == 0);
    EXPECT(vs_shm_reader_state_size(UINT32_MAX, UINT32_MAX) == 0);

    EXPECT(vs_shm_table_create(&t, region, REGION_SIZE, TABLE_AT, SLOTS, WORDS) == 0);
    size_t need = vs_shm_writer_state_size(SLOTS);
    EXPECT(need > 0 && need <= sizeof writer_block);
    EXPECT(vs_shm_writer_create((void *)writer_block, need - 1, &t) == -VS_SHM_E_NO_SPACE);
    need = vs_shm_reader_state_size(SLOTS, WORDS);
    EXPECT(need > 0 && need <= sizeof reader_block);
    EXPECT(vs_shm_reader_create((void *)reader_block, need - 1, &t, 4) == -VS_SHM_E_NO_SPACE);
    EXPECT(vs_shm_reader_create((void *)reader_block, need, &t, 0) == -VS_SHM_E_INVALID);
}

static void one_thread(void)
{
    struct vs_shm_table t;
    EXPECT(vs_shm_table_create(&t, region, REGION_SIZE, TABLE_AT, SLOTS, WORDS) == 0);
    struct vs_shm_writer *w = (void *)writer_block;
    struct vs_shm_reader *rd = (void *)reader_block;
    EXPECT(vs_shm_writer_create(w, sizeof writer_block, &t) == 0);
    EXPECT(vs_shm_reader_create(rd, sizeof reader_block, &t, VS_SHM_MAX_ATTEMPTS) == 0);
    EXPECT(vs_shm_writer_init(w) == 0);

    uint32_t v[WORDS], got[WORDS], version = 1;
    EXPECT(vs_shm_reader_poll(rd, 0, &version, got) == 0 && version == 0); /* nothing new */
    for (uint32_t slot = 0; slot < SLOTS; slot++)
        w->seqs[slot] = UINT32_MAX - 2 * slot - 5; /* as if after 2^31 updates: wrap soon */
    for (uint32_t k = 1; k <= 20; k++) {
        for (uint32_t slot = 0; slot < SLOTS; slot++) {
            value_of(slot, k, v);
            EXPECT(vs_shm_writer_update(w, slot, v, WORDS) == 0);
            EXPECT(vs_shm_reader_poll(rd, slot, &version, got) == 1);
            EXPECT(memcmp(got, v, sizeof v) == 0 && version == w->seqs[slot]);
            EXPECT(rd->attempts == 1 && (version & 1u) == 0);
            EXPECT(vs_shm_reader_poll(rd, slot, &version, got) == 0); /* SHM-TABLE-009 */
        }
    }
    EXPECT(vs_shm_writer_update(w, SLOTS, v, WORDS) == -VS_SHM_E_TABLE);
    EXPECT(vs_shm_writer_update(w, 0, v, WORDS - 1) == -VS_SHM_E_INVALID);
    EXPECT(vs_shm_reader_read(rd, SLOTS, &version, got) == -VS_SHM_E_TABLE);

    /* A writer stalled mid-update (seq odd): bounded, last good value kept (SHM-TABLE-011). */
    uint32_t keep = w->seqs[1];
    uint32_t *seq1 = (uint32_t *)(void *)(region + TABLE_AT + 4 * (1 + WORDS));
    atomic_store_explicit((_Atomic uint32_t *)seq1, keep + 1, memory_order_relaxed);
    EXPECT(vs_shm_reader_read(rd, 1, &version, got) == -VS_SHM_E_BUSY);
    EXPECT(rd->attempts == VS_SHM_MAX_ATTEMPTS && version == keep && whole(1, got));
    EXPECT(vs_shm_reader_attempt(rd, 1, &version, got) == 0);
    atomic_store_explicit((_Atomic uint32_t *)seq1, keep, memory_order_relaxed);
    EXPECT(vs_shm_reader_attempt(rd, 1, &version, got) == 1 && version == keep);

    /* Signals: coalescing, enable's re-check, the service of a signalled table. */
    struct vs_shm_signal s;
    struct vs_shm_sender tx;
    struct vs_shm_receiver rx;
    EXPECT(vs_shm_signal_create(&s, region, REGION_SIZE, SIGNAL_AT) == 0);
    EXPECT(vs_shm_sender_create(&tx, &s) == 0 && vs_shm_receiver_create(&rx, &s) == 0);
    EXPECT(vs_shm_signal_init(&s) == 0);
    EXPECT(vs_shm_sender_inject(&tx) == 0); /* disabled: no notification */
    EXPECT(vs_shm_receiver_enable(&rx) == 1); /* pending: do not wait */
    EXPECT(vs_shm_sender_inject(&tx) == 0 && tx.coalesced == 1);
    EXPECT(vs_shm_receiver_acknowledge(&rx) == 0 && vs_shm_receiver_enable(&rx) == 0);
    EXPECT(vs_shm_sender_inject(&tx) == 1 && tx.notifications == 1);
    EXPECT(vs_shm_sender_inject(&tx) == 0 && tx.injections == 4 && tx.coalesced == 2);
    value_of(2, 99, v);
    EXPECT(vs_shm_writer_update(w, 2, v, WORDS) == 0);
    EXPECT(vs_shm_reader_service(rd, &rx, 2, &version, got) == 1 && got[0] == 99);
    EXPECT(vs_shm_reader_service(rd, &rx, 2, &version, got) == 0);
    EXPECT(vs_shm_receiver_enable(&rx) == 0 && rx.acknowledgements == 3);
    EXPECT(vs_shm_receiver_disable(&rx) == 0);
}

/* -- two threads ------------------------------------------------------------------------ */

struct shared {
    struct vs_shm_table t;
    struct vs_shm_signal s;
    atomic_bool done;
    atomic_int started; /* both threads of a pair run before either starts its work */
    /* the notification: a counted wakeup the sender posts when inject says so */
    pthread_mutex_t lock;
    pthread_cond_t cond;
    unsigned posted;
    unsigned long notifications, acknowledgements;
    uint32_t last_seen;
};

static void start_together(struct shared *sh)
{
    atomic_fetch_add(&sh->started, 1);
    while (atomic_load(&sh->started) % 2 != 0)
        sched_yield();
}

static void *table_writer(void *arg)
{
    struct shared *sh = arg;
    start_together(sh);
    struct vs_shm_writer *w = (void *)writer_block;
    uint32_t v[WORDS];
    for (uint32_t k = 1; k <= ROUNDS; k++) {
        value_of(k % SLOTS, k, v);
        EXPECT(vs_shm_writer_update(w, k % SLOTS, v, WORDS) == 0);
    }
    atomic_store(&sh->done, true);
    return NULL;
}

static void *table_reader(void *arg)
{
    struct shared *sh = arg;
    start_together(sh);
    struct vs_shm_reader *rd = (void *)reader_block;
    uint32_t last[SLOTS] = {0}, got[WORDS], version;
    unsigned long reads = 0, busy = 0;
    while (!atomic_load(&sh->done) || reads < 1000) {
        uint32_t slot = (uint32_t)(reads % SLOTS);
        int rc = vs_shm_reader_read(rd, slot, &version, got);
        EXPECT(rc == 0 || rc == -VS_SHM_E_BUSY);
        busy += rc == -VS_SHM_E_BUSY;
        EXPECT(whole(slot, got));                     /* SHM-TABLE-007 */
        EXPECT(got[0] >= last[slot]);                 /* SHM-TABLE-008 */
        EXPECT(got[0] == 0 || got[0] % SLOTS == slot);
        last[slot] = got[0];
        reads++;
    }
    for (uint32_t slot = 0; slot < SLOTS; slot++) { /* quiet now: the newest, first attempt */
        EXPECT(vs_shm_reader_read(rd, slot, &version, got) == 0 && rd->attempts == 1);
        EXPECT(got[0] == ROUNDS - (ROUNDS - slot) % SLOTS); /* its last update */
    }
    printf("table: %lu reads, %lu busy\n", reads, busy);
    return NULL;
}

static void *signal_sender(void *arg)
{
    struct shared *sh = arg;
    start_together(sh);
    struct vs_shm_sender tx;
    EXPECT(vs_shm_sender_create(&tx, &sh->s) == 0);
    uint32_t *data = (uint32_t *)(void *)(region + DATA_AT);
    for (uint32_t n = 1; n <= ANNOUNCED; n++) {
        atomic_store_explicit((_Atomic uint32_t *)data, n, memory_order_relaxed);
        if (vs_shm_sender_inject(&tx) == 1) { /* notify (ordered after the stores) */
            pthread_mutex_lock(&sh->lock);
            sh->posted++;
            sh->notifications++;
            pthread_cond_signal(&sh->cond);
            pthread_mutex_unlock(&sh->lock);
        }
        if (n % 8 == 0)
            sched_yield(); /* let the receiver catch up and go to sleep now and then */
    }
    EXPECT(tx.injections == ANNOUNCED && tx.notifications == sh->notifications);
    return NULL;
}

/* disable, acknowledge, read, enable; wait for a notification unless pending. A lost
 * wakeup would leave it waiting for good: it gives up after a few seconds instead. */
static void *signal_receiver(void *arg)
{
    struct shared *sh = arg;
    start_together(sh);
    struct vs_shm_receiver rx;
    EXPECT(vs_shm_receiver_create(&rx, &sh->s) == 0);
    uint32_t *data = (uint32_t *)(void *)(region + DATA_AT);
    for (;;) {
        vs_shm_receiver_disable(&rx);
        vs_shm_receiver_acknowledge(&rx);
        uint32_t seen = atomic_load_explicit((_Atomic uint32_t *)data, memory_order_relaxed);
        EXPECT(seen >= sh->last_seen);
        sh->last_seen = seen;
        if (seen == ANNOUNCED)
            break;
        if (vs_shm_receiver_enable(&rx) == 1)
            continue; /* pending: process again instead of waiting (SHM-SIGNAL-006) */
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += 10;
        int rc = 0;
        pthread_mutex_lock(&sh->lock);
        while (sh->posted == 0 && rc != ETIMEDOUT)
            rc = pthread_cond_timedwait(&sh->cond, &sh->lock, &until);
        if (sh->posted > 0)
            sh->posted--;
        pthread_mutex_unlock(&sh->lock);
        EXPECT(rc != ETIMEDOUT); /* SHM-SIGNAL-010: no lost wakeup */
        if (rc == ETIMEDOUT)
            break;
    }
    sh->acknowledgements = rx.acknowledgements;
    return NULL;
}

static void two_threads(void)
{
    static struct shared sh;
    memset(region, 0, sizeof region);
    EXPECT(vs_shm_table_create(&sh.t, region, REGION_SIZE, TABLE_AT, SLOTS, WORDS) == 0);
    EXPECT(vs_shm_writer_create((void *)writer_block, sizeof writer_block, &sh.t) == 0);
    EXPECT(vs_shm_reader_create((void *)reader_block, sizeof reader_block, &sh.t, 8) == 0);
    EXPECT(vs_shm_writer_init((void *)writer_block) == 0);
    atomic_init(&sh.done, false);
    atomic_init(&sh.started, 0);
    pthread_t a, b;
    EXPECT(pthread_create(&a, NULL, table_writer, &sh) == 0);
    EXPECT(pthread_create(&b, NULL, table_reader, &sh) == 0);
    pthread_join(a, NULL);
    pthread_join(b, NULL);

    EXPECT(vs_shm_signal_create(&sh.s, region, REGION_SIZE, SIGNAL_AT) == 0);
    EXPECT(vs_shm_signal_init(&sh.s) == 0);
    EXPECT(pthread_mutex_init(&sh.lock, NULL) == 0 && pthread_cond_init(&sh.cond, NULL) == 0);
    EXPECT(pthread_create(&a, NULL, signal_sender, &sh) == 0);
    EXPECT(pthread_create(&b, NULL, signal_receiver, &sh) == 0);
    pthread_join(a, NULL);
    pthread_join(b, NULL);
    EXPECT(sh.last_seen == ANNOUNCED);                           /* SHM-SIGNAL-010 */
    EXPECT(sh.notifications <= sh.acknowledgements + 1);         /* SHM-SIGNAL-011 */
    printf("signal: %lu notifications, %lu acknowledgements\n", sh.notifications,
           sh.acknowledgements);
    pthread_cond_destroy(&sh.cond);
    pthread_mutex_destroy(&sh.lock);
}

int main(void)
{
    layouts();
    one_thread();
    two_threads();
    if (failures) {
        fprintf(stderr, "shm_c_workload: %d failures\n", failures);
        return 1;
    }
    printf("shm_c_workload: ok\n");
    return 0;
}
