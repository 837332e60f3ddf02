/*
 * shm_abi.c -- conformance/shm/virtiospec_shm.h (ABI version 2) over shm.c.
 *
 * The public state is opaque: it is the struct vs_shm_writer, vs_shm_reader, vs_shm_sender
 * or vs_shm_receiver of shm.h (followed by its private arrays), in the block the caller
 * provides. The table or signal is checked by vs_shm_table_create / vs_shm_signal_create and
 * copied into that state. A shared library built with -fvisibility=hidden
 * (shm_c_build.build_lib) exports these functions and nothing else.
 */
#define VS_ABI_PUBLIC "virtiospec_shm.h"
#include "vs_abi.h"

#include "ring_access.h"
#include "shm.h"

/* The public codes are the internal ones (one table, two spellings). */
#define SAME(name) VS_ABI_SAME(VIRTIOSPEC_SHM_E_, VS_SHM_E_, name)
SAME(OUTSIDE) SAME(MISALIGNED) SAME(TABLE) SAME(SIGNAL) SAME(BUSY) SAME(INVALID) SAME(NO_SPACE)
static_assert(VIRTIOSPEC_SHM_SIGNAL_SIZE == VS_SHM_SIGNAL_SIZE, "signal size");

/* The functions that only hand the state on. */
#define FORWARD(op) VS_ABI_FORWARD(virtiospec_shm_, vs_shm_, op)
FORWARD(writer_init) FORWARD(sender_inject) FORWARD(receiver_disable)
FORWARD(receiver_acknowledge) FORWARD(receiver_enable)

VS_ABI_VERSION(virtiospec_shm_abi_version, VIRTIOSPEC_SHM_ABI_VERSION)

static bool virtiospec_shm_cfg_ok(const struct virtiospec_shm_table_config *cfg)
{
    return cfg != NULL && cfg->reserved == 0;
}

size_t virtiospec_shm_writer_state_size(const struct virtiospec_shm_table_config *cfg)
{
    return virtiospec_shm_cfg_ok(cfg) ? vs_shm_writer_state_size(cfg->slots) : 0;
}

size_t virtiospec_shm_reader_state_size(const struct virtiospec_shm_table_config *cfg)
{
    return virtiospec_shm_cfg_ok(cfg) ? vs_shm_reader_state_size(cfg->slots, cfg->words) : 0;
}

size_t virtiospec_shm_sender_state_size(void)
{
    return sizeof(struct vs_shm_sender);
}

size_t virtiospec_shm_receiver_state_size(void)
{
    return sizeof(struct vs_shm_receiver);
}

/* The table of cfg in [region, region + length), checked (no access to the region). */
static int virtiospec_shm_table(struct vs_shm_table *t, void *state, void *region,
                                uint64_t length, const struct virtiospec_shm_table_config *cfg)
{
    if (state == NULL || !virtiospec_shm_cfg_ok(cfg))
        return -VS_SHM_E_INVALID;
    return vs_shm_table_create(t, region, length, cfg->offset, cfg->slots, cfg->words);
}

/* -- the table ------------------------------------------------------------------------------ */

int virtiospec_shm_writer_create(void *state, size_t state_size, void *region, uint64_t length,
                                 const struct virtiospec_shm_table_config *cfg)
{
    struct vs_shm_table t;
    int rc = virtiospec_shm_table(&t, state, region, length, cfg);
    if (rc < 0)
        return rc;
    return vs_shm_writer_create(state, state_size, &t);
}

int virtiospec_shm_writer_update(void *state, uint32_t slot, const uint32_t *value, uint32_t n)
{
    return vs_shm_writer_update(state, slot, value, n);
}

int virtiospec_shm_reader_create(void *state, size_t state_size, void *region, uint64_t length,
                                 const struct virtiospec_shm_table_config *cfg)
{
    struct vs_shm_table t;
    int rc = virtiospec_shm_table(&t, state, region, length, cfg);
    if (rc < 0)
        return rc;
    return vs_shm_reader_create(state, state_size, &t, cfg->max_attempts);
}

int virtiospec_shm_reader_read(void *state, uint32_t slot, uint32_t *version, uint32_t *value)
{
    return vs_shm_reader_read(state, slot, version, value);
}

int virtiospec_shm_reader_poll(void *state, uint32_t slot, uint32_t *version, uint32_t *value)
{
    return vs_shm_reader_poll(state, slot, version, value);
}

/* -- shm-signal ----------------------------------------------------------------------------- */

/* The signal at offset in [region, region + length), checked, in a state of state_size. */
static int virtiospec_shm_signal(struct vs_shm_signal *s, void *state, size_t state_size,
                                 size_t need, void *region, uint64_t length, uint64_t offset)
{
    if (state == NULL)
        return -VS_SHM_E_INVALID;
    int rc = vs_shm_signal_create(s, region, length, offset);
    if (rc < 0)
        return rc;
    return state_size < need ? -VS_SHM_E_NO_SPACE : 0;
}

int virtiospec_shm_sender_create(void *state, size_t state_size, void *region, uint64_t length,
                                 uint64_t offset)
{
    struct vs_shm_signal s;
    int rc = virtiospec_shm_signal(&s, state, state_size, sizeof(struct vs_shm_sender), region,
                                   length, offset);
    if (rc < 0)
        return rc;
    return vs_shm_sender_create(state, &s);
}

int virtiospec_shm_receiver_create(void *state, size_t state_size, void *region,
                                   uint64_t length, uint64_t offset)
{
    struct vs_shm_signal s;
    int rc = virtiospec_shm_signal(&s, state, state_size, sizeof(struct vs_shm_receiver),
                                   region, length, offset);
    if (rc < 0)
        return rc;
    return vs_shm_receiver_create(state, &s);
}

/* shm.c has no such operation: one load of pending through the access macros shm.c uses
 * (a relaxed atomic load), non-zero read as 1 (SHM-SIGNAL-001). */
int virtiospec_shm_receiver_pending(void *state)
{
    const struct vs_shm_signal *s = &((const struct vs_shm_receiver *)state)->s;
    return VS_LOAD32(s, s->offset + VS_SHM_SIGNAL_PENDING) != 0;
}

int virtiospec_shm_service(void *reader_state, void *receiver_state, uint32_t slot,
                           uint32_t *version, uint32_t *value)
{
    return vs_shm_reader_service(reader_state, receiver_state, slot, version, value);
}
