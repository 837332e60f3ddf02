/*
 * shm.h -- the idempotent table (a seqlock) and shm-signal in C (spec/shm.md).
 *
 * The same operations, names and semantics as the Python reference in reference/shm/
 * (table.py: TableWriter, TableReader; signal.py: SignalLayout, SignalSender,
 * SignalReceiver; clock.py: ClockDriver.service): the same loads, stores and barriers on the
 * region in the same order, the same checks and the same error kinds. Every shared access
 * goes through the access macros of ring_access.h, so shm.c builds like ring.c: C11 relaxed
 * atomics and fences, or (-DVS_STEPPED) every access handed to the checker.
 *
 * Conventions
 *  - A region is one block of host memory [mem, mem + length) (SHM-REGION-001); every
 *    position in it is an offset from mem (SHM-REGION-006). mem is aligned on 8
 *    (SHM-REGION-008); the stepped build passes NULL and the checker adds the region's base.
 *  - A table (SHM-TABLE-001) or signal (SHM-SIGNAL-001) is described by a struct checked
 *    once by its *_create function: it lies inside its region (SHM-REGION-007) and is
 *    aligned, so every access an operation makes is inside the region and aligned.
 *  - No allocation: a writer or reader lives in a caller-provided block of
 *    vs_shm_*_state_size bytes aligned on 8; its private arrays follow the struct.
 *  - Functions return >= 0 on success and minus a vs_shm_error code on failure; each code
 *    names one requirement (reference/shm/c/errors.py maps it to the Python error class).
 *  - One thread at a time per writer, reader, sender or receiver; the two sides of a table or
 *    signal may run on two threads (or two processes) at once, sharing only the region.
 *
 * Everything between "cdef-begin" and "cdef-end" is plain declarations (no preprocessor
 * conditionals, integer #defines only) so that cffi reads this very file.
 */
#ifndef VS_SHM_H
#define VS_SHM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* cdef-begin */
#define VS_SHM_MAX_ATTEMPTS 64   /* the reference reader's bound (SHM-TABLE-011) */
#define VS_SHM_SIGNAL_SIZE 8     /* le32 enabled; le32 pending (SHM-SIGNAL-001) */
#define VS_SHM_SIGNAL_ENABLED 0
#define VS_SHM_SIGNAL_PENDING 4

/*
 * Error codes: code                requirement      Python error (reference/shm/errors.py)
 */
enum vs_shm_error {
    VS_SHM_E_OUTSIDE = 1,      /* SHM-REGION-007  RegionOutOfBounds: does not fit its region */
    VS_SHM_E_MISALIGNED = 2,   /* SHM-REGION-008  Misaligned: region memory not 8-aligned */
    VS_SHM_E_TABLE = 3,        /* SHM-TABLE-001   BadLayout: empty or misaligned table, slot or
                                                  word index out of range */
    VS_SHM_E_SIGNAL = 4,       /* SHM-SIGNAL-001  BadLayout: misaligned signal */
    VS_SHM_E_BUSY = 5,         /* SHM-TABLE-011   TableBusy: no stable value in max attempts */
    VS_SHM_E_INVALID = 6,      /* -               ValueError: bad argument from the caller */
    VS_SHM_E_NO_SPACE = 7,     /* -               NoSpace: state block too small */
    VS_SHM_E_ABORTED = 8       /* -               Aborted: stepped build, operation abandoned */
};

/* A region as one side maps it. */
struct vs_shm_region {
    uint8_t *mem;    /* host address of offset 0 (NULL in the stepped build) */
    uint64_t length; /* bytes, > 0 */
};

/* A table of `slots` slots of `words` value words at `offset` (TableLayout). */
struct vs_shm_table {
    struct vs_shm_region r;
    uint64_t offset;
    uint32_t slots;
    uint32_t words;
};

/* A signal descriptor at `offset` (SignalLayout). */
struct vs_shm_signal {
    struct vs_shm_region r;
    uint64_t offset;
};

/* The writer's private state: each slot's seq, never loaded from the region (SHM-TABLE-003). */
struct vs_shm_writer {
    struct vs_shm_table t;
    uint32_t *seqs;                /* [slots] */
};

/* The reader's private state: the last good value of each slot and the last handed out. */
struct vs_shm_reader {
    struct vs_shm_table t;
    uint32_t max_attempts;
    uint32_t attempts;             /* attempts made by the last read */
    uint32_t *last_version;        /* [slots] */
    uint32_t *last_value;          /* [slots * words] */
    uint32_t *processed_version;   /* [slots] */
    uint32_t *processed_value;     /* [slots * words] */
    uint32_t *scratch;             /* [words]: the words of the attempt under way */
};

struct vs_shm_sender {
    struct vs_shm_signal s;
    uint64_t injections;
    uint64_t coalesced;
    uint64_t notifications;
};

struct vs_shm_receiver {
    struct vs_shm_signal s;
    uint64_t acknowledgements;
};

/* Layouts: check and fill in; no access to the region. */
int vs_shm_table_create(struct vs_shm_table *t, uint8_t *mem, uint64_t length, uint64_t offset,
                        uint32_t slots, uint32_t words);
uint64_t vs_shm_table_size(const struct vs_shm_table *t); /* 4 * slots * (1 + words) */
int vs_shm_signal_create(struct vs_shm_signal *s, uint8_t *mem, uint64_t length,
                         uint64_t offset);

/* State blocks: 0 when the sizes do not fit a size_t. */
size_t vs_shm_writer_state_size(uint32_t slots);
size_t vs_shm_reader_state_size(uint32_t slots, uint32_t words);
int vs_shm_writer_create(struct vs_shm_writer *w, size_t state_size,
                         const struct vs_shm_table *t);
int vs_shm_reader_create(struct vs_shm_reader *rd, size_t state_size,
                         const struct vs_shm_table *t, uint32_t max_attempts);
int vs_shm_sender_create(struct vs_shm_sender *tx, const struct vs_shm_signal *s);
int vs_shm_receiver_create(struct vs_shm_receiver *rx, const struct vs_shm_signal *s);

/* The table (TableWriter, TableReader). version/value: out, value has `words` entries. */
int vs_shm_writer_init(struct vs_shm_writer *w);
int vs_shm_writer_update(struct vs_shm_writer *w, uint32_t slot, const uint32_t *value,
                         uint32_t n);
int vs_shm_reader_attempt(struct vs_shm_reader *rd, uint32_t slot, uint32_t *version,
                          uint32_t *value);   /* 1: a value; 0: the attempt failed */
int vs_shm_reader_read(struct vs_shm_reader *rd, uint32_t slot, uint32_t *version,
                       uint32_t *value);      /* 0, or -VS_SHM_E_BUSY with the last good one */
int vs_shm_reader_poll(struct vs_shm_reader *rd, uint32_t slot, uint32_t *version,
                       uint32_t *value);      /* 1: new, handed out; 0: not new */

/* shm-signal (SignalLayout.init, SignalSender, SignalReceiver). */
int vs_shm_signal_init(const struct vs_shm_signal *s);
int vs_shm_sender_inject(struct vs_shm_sender *tx);          /* 1: send a notification */
int vs_shm_receiver_disable(struct vs_shm_receiver *rx);
int vs_shm_receiver_acknowledge(struct vs_shm_receiver *rx);
int vs_shm_receiver_enable(struct vs_shm_receiver *rx);      /* 1: pending; do not wait */

/* A signalled table's reader side (SHM-TABLE-012; ClockDriver.service for any slot):
 * disable and acknowledge the signal, then poll the slot. Results as vs_shm_reader_poll. */
int vs_shm_reader_service(struct vs_shm_reader *rd, struct vs_shm_receiver *rx, uint32_t slot,
                          uint32_t *version, uint32_t *value);
/* cdef-end */

#endif /* VS_SHM_H */
