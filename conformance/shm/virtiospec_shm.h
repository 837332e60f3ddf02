/*
 * virtiospec_shm.h -- the C ABI of the idempotent table and shm-signal (spec/shm.md),
 * version 2 (version 1 had no signalled reader, virtiospec_shm_service).
 *
 * Any shared library that exports these functions can be checked by the conformance
 * suite:   virtiospec conformance run --target shm-lib:PATH.so[:ROLE,...]
 * The suite loads the library with cffi in ABI mode (dlopen), plays the other side of each
 * table or signal itself (with its Python reference), and shares one block of memory with it.
 *
 * Roles: a table has a *writer* and a *reader* (SHM-TABLE-001), a signal a *sender* and a
 * *receiver* (SHM-SIGNAL-001). A library may implement any of the four; the suite skips the
 * cases of a role whose functions the library does not export.
 *
 * Conventions
 *  - A region is one block of host memory [region, region + length) (SHM-REGION-001); every
 *    position in it is an offset from `region` (SHM-REGION-006). `region` is aligned on 8
 *    (SHM-REGION-008). The table or signal must lie inside it (SHM-REGION-007: checked by
 *    *_create without overflow, before any access) and every shared word is a naturally
 *    aligned little-endian 32-bit word accessed whole.
 *  - The caller owns all memory: it asks *_state_size for the size of a side's private
 *    state, provides that many bytes aligned on 8, and creates the side in it. No function
 *    allocates. *_create makes no access to the region; re-creating a side is a reset.
 *  - A fresh table or signal is all zero: the caller zeroes the region when it sets the
 *    device up, or the writer calls virtiospec_shm_writer_init.
 *  - A side is used by one thread at a time; the two sides of a table or signal may run on
 *    two threads (or two processes) at once, sharing only the region.
 *  - Functions return an int: >= 0 is a result (documented per function), < 0 is minus one
 *    of the error codes below. Each code names the requirement that the call, or the other
 *    side, broke; the suite accepts a refusal only with the code of the right requirement.
 *
 * Everything between "cdef-begin" and "cdef-end" is plain declarations (no preprocessor
 * conditionals, integer #defines only) so that cffi can read this very file.
 */
#ifndef VIRTIOSPEC_SHM_H
#define VIRTIOSPEC_SHM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* cdef-begin */
#define VIRTIOSPEC_SHM_ABI_VERSION 2
#define VIRTIOSPEC_SHM_SIGNAL_SIZE 8  /* le32 enabled at +0; le32 pending at +4 */

/*
 * Error codes.
 *   code                               requirement      meaning
 */
enum virtiospec_shm_error {
    VIRTIOSPEC_SHM_E_OUTSIDE = 1,    /* SHM-REGION-007  table or signal not inside its region
                                                        (offset + size > length, or overflow) */
    VIRTIOSPEC_SHM_E_MISALIGNED = 2, /* SHM-REGION-008  region memory not aligned on 8 */
    VIRTIOSPEC_SHM_E_TABLE = 3,      /* SHM-TABLE-001   no slot or no word, table offset not
                                                        4-aligned, or slot index >= slots */
    VIRTIOSPEC_SHM_E_SIGNAL = 4,     /* SHM-SIGNAL-001  signal offset not 4-aligned */
    VIRTIOSPEC_SHM_E_BUSY = 5,       /* SHM-TABLE-011   read: no stable value in max_attempts
                                                        attempts (the last good value is out) */
    VIRTIOSPEC_SHM_E_INVALID = 6,    /* -               bad argument from the caller */
    VIRTIOSPEC_SHM_E_NO_SPACE = 7    /* -               state block too small */
};

/* A table of `slots` slots of `words` value words at `offset` of its region (SHM-TABLE-001):
 * slot i at offset + i * 4 * (1 + words), `le32 seq` then `le32 value[words]`. */
struct virtiospec_shm_table_config {
    uint64_t offset;       /* 4-aligned */
    uint32_t slots;        /* >= 1 */
    uint32_t words;        /* >= 1 */
    uint32_t max_attempts; /* reader: its bound (SHM-TABLE-011), >= 1; the writer ignores it */
    uint32_t reserved;     /* 0 */
};

/* VIRTIOSPEC_SHM_ABI_VERSION of the library. */
uint32_t virtiospec_shm_abi_version(void);

/* Bytes of private state of a side; 0 when cfg is unusable or the size does not fit. */
size_t virtiospec_shm_writer_state_size(const struct virtiospec_shm_table_config *cfg);
size_t virtiospec_shm_reader_state_size(const struct virtiospec_shm_table_config *cfg);
size_t virtiospec_shm_sender_state_size(void);
size_t virtiospec_shm_receiver_state_size(void);

/* -- the table: writer -------------------------------------------------------------------
 * create: check cfg against the region (OUTSIDE, MISALIGNED, TABLE) and build the state;
 *         every slot's private seq is 0.
 * init:   store 0 to every seq and value word of the table (device set-up), and to nothing
 *         else (SHM-TABLE-002); every private seq back to 0.
 * update: overwrite slot `slot` with value[0, n), n == words (SHM-TABLE-003, SHM-TABLE-004): with s the
 *         slot's private seq, store s + 1 to seq; wmb; store the words; wmb; store s + 2
 *         (mod 2^32). Never loads seq. 0, or -TABLE for a slot >= slots (no access made).
 */
int virtiospec_shm_writer_create(void *state, size_t state_size, void *region, uint64_t length,
                                 const struct virtiospec_shm_table_config *cfg);
int virtiospec_shm_writer_init(void *state);
int virtiospec_shm_writer_update(void *state, uint32_t slot, const uint32_t *value, uint32_t n);

/* -- the table: reader -------------------------------------------------------------------
 * create: as the writer's; max_attempts >= 1. Every slot's last good value and last value
 *         handed out are version 0, all words 0 (the fresh table).
 * read:   at most max_attempts attempts of SHM-TABLE-005 (load seq; odd fails; rmb; load the
 *         words; rmb; load seq again; a change fails); only loads. 0: *version and
 *         value[0, words) are the value read, now the slot's last good value. -BUSY: every
 *         attempt failed; *version and value are the slot's last good value, which is kept
 *         (SHM-TABLE-011). -TABLE for a slot >= slots (no access made).
 * poll:   read, then hand the value out only if its version differs from the version last
 *         handed out for the slot (SHM-TABLE-009; versions compare for equality, mod 2^32).
 *         1: new, handed out; 0: not new; *version and value hold the value read either way.
 *         -BUSY as read.
 */
int virtiospec_shm_reader_create(void *state, size_t state_size, void *region, uint64_t length,
                                 const struct virtiospec_shm_table_config *cfg);
int virtiospec_shm_reader_read(void *state, uint32_t slot, uint32_t *version, uint32_t *value);
int virtiospec_shm_reader_poll(void *state, uint32_t slot, uint32_t *version, uint32_t *value);

/* -- shm-signal: sender ------------------------------------------------------------------
 * create: check the signal at `offset` (OUTSIDE, MISALIGNED, SIGNAL); no access.
 * inject: SHM-SIGNAL-002, SHM-SIGNAL-003, SHM-SIGNAL-004: mb; load pending; non-zero: coalesced, 0. Else store 1 to
 *         pending; mb; load enabled: 1 = send a notification now (enabled non-zero), 0 = not.
 *         Stores only 1, only to pending.
 */
int virtiospec_shm_sender_create(void *state, size_t state_size, void *region, uint64_t length,
                                 uint64_t offset);
int virtiospec_shm_sender_inject(void *state);

/* -- shm-signal: receiver ----------------------------------------------------------------
 * disable:     store 0 to enabled (a hint, SHM-SIGNAL-007). 0.
 * acknowledge: store 0 to pending; mb (SHM-SIGNAL-005). 0.
 * enable:      store 1 to enabled; mb; load pending (SHM-SIGNAL-006). 1: pending is non-zero,
 *              process again (acknowledge first) instead of waiting; 0: wait.
 * pending:     load pending. 1 if it is non-zero (SHM-SIGNAL-001), else 0. No store.
 * Stores 0 or 1 to enabled and 0 to pending, nothing else.
 *
 * service:     the signalled reader (a table reader and a receiver in one service, as a
 *              clock's driver is, SHM-SIGNAL-010): disable; acknowledge (store 0 to
 *              pending; mb); then poll slot `slot` of the reader (SHM-TABLE-012: acknowledge
 *              before read, so that an update published after the read is signalled
 *              again). Returns what poll returns: 1 a new value, 0 none, -BUSY; -TABLE for a
 *              slot >= slots (after the acknowledge). Then the caller calls enable: 1 means
 *              serve again, 0 wait for the next notification.
 */
int virtiospec_shm_receiver_create(void *state, size_t state_size, void *region,
                                   uint64_t length, uint64_t offset);
int virtiospec_shm_receiver_disable(void *state);
int virtiospec_shm_receiver_acknowledge(void *state);
int virtiospec_shm_receiver_enable(void *state);
int virtiospec_shm_receiver_pending(void *state);
int virtiospec_shm_service(void *reader_state, void *receiver_state, uint32_t slot,
                           uint32_t *version, uint32_t *value);
/* cdef-end */

#ifdef __cplusplus
}
#endif

#endif /* VIRTIOSPEC_SHM_H */
