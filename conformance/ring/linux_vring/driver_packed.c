/*
 * driver_packed.c -- #included by driver_glue.c: the driver of a packed ring over Linux's
 * virtio_ring.c, for --target linux-vring's ring_packed_driver (target_linux_vring.py).
 * virtiospec_ring.h has split sessions only, so these functions are this target's own
 * (declared in linux_packed.h, read by cffi); their error codes are those of
 * reference/ring/c/ring_packed.h, which reference/ring/c/packed_errors.py maps to requirements.
 * Everything but create and init goes through the split ABI functions above: each calls a
 * virtqueue_* function of Linux, which works on either ring layout.
 */
#include "linux_packed.h"

enum {
    VSL_PK_E_QUEUE_SIZE = 1, /* RING-PACKED-002 */
    VSL_PK_E_PLACEMENT = 2,  /* RING-PACKED-001 */
    VSL_PK_E_USED = 10,      /* RING-PACKED-086 */
    VSL_PK_E_STOPPED = 12,   /* RING-PACKED-086: driver stopped after an earlier error */
    VSL_PK_E_FULL = 13,
    VSL_PK_E_INVALID = 14,
};

static int vsl_packed_code(int rc)
{
    switch (rc) {
    case -VIRTIOSPEC_RING_E_USED:
        return -VSL_PK_E_USED;
    case -VIRTIOSPEC_RING_E_NEEDS_RESET:
        return -VSL_PK_E_STOPPED;
    case -VIRTIOSPEC_RING_E_FULL:
        return -VSL_PK_E_FULL;
    default:
        return rc < 0 ? -VSL_PK_E_INVALID : rc;
    }
}

size_t vsl_packed_driver_state_size(uint32_t q)
{
    uint32_t cap = vsl_sg_cap(q);
    if (q < 1 || q > 32768)
        return 0;
    return VSL_ALIGN16(sizeof(struct vsl_driver)) + VSL_ALIGN16(q * sizeof(uint64_t))
        + VSL_ALIGN16(cap * sizeof(struct scatterlist))
        + VSL_ALIGN16(cap * sizeof(struct scatterlist *))
        + VSL_ALIGN16(sizeof(struct vring_virtqueue))
        + VSL_ALIGN16(q * sizeof(struct vring_desc_state_packed))
        + VSL_ALIGN16(q * sizeof(struct vring_desc_extra));
}

int vsl_packed_driver_create(void *state, size_t state_size, void *mem, uint64_t mem_size,
                             uint32_t q, uint64_t desc, uint64_t driver_event,
                             uint64_t device_event, uint32_t features,
                             uint64_t indirect_area, uint32_t indirect_max)
{
    struct vsl_driver *d = state;
    size_t need = vsl_packed_driver_state_size(q);
    uint8_t *at;

    if (state == NULL || ((uintptr_t)state & 7) != 0)
        return -VSL_PK_E_INVALID;
    if (need == 0)
        return -VSL_PK_E_QUEUE_SIZE;
    if (state_size < need)
        return -VSL_PK_E_INVALID;
    if (mem == NULL || desc % 16 != 0 || driver_event % 4 != 0 || device_event % 4 != 0
        || !vsl_inside(desc, 16ULL * q, mem_size) || !vsl_inside(driver_event, 4, mem_size)
        || !vsl_inside(device_event, 4, mem_size))
        return -VSL_PK_E_PLACEMENT;
    if ((features & VIRTIOSPEC_RING_F_INDIRECT)
        && (indirect_max == 0 || indirect_area % 16 != 0
            || !vsl_inside(indirect_area, (uint64_t)q * indirect_max * 16, mem_size)))
        return -VSL_PK_E_PLACEMENT;
    memset(state, 0, need);
    d->mem = mem;
    d->mem_size = mem_size;
    d->q = q;
    d->sg_cap = vsl_sg_cap(q);
    d->indirect = (features & VIRTIOSPEC_RING_F_INDIRECT) != 0;
    d->indirect_area = indirect_area;
    d->indirect_max = indirect_max;
    at = (uint8_t *)state + VSL_ALIGN16(sizeof(*d));
    d->tokens = (uint64_t *)(void *)at;
    at += VSL_ALIGN16(q * sizeof(uint64_t));
    d->sg = (struct scatterlist *)(void *)at;
    at += VSL_ALIGN16(d->sg_cap * sizeof(struct scatterlist));
    d->sgs = (struct scatterlist **)(void *)at;
    at += VSL_ALIGN16(d->sg_cap * sizeof(struct scatterlist *));
    d->arena_next = at;
    d->arena_end = (uint8_t *)state + need;
    d->pages[0] = d->mem + desc;
    d->pages[1] = d->mem + driver_event;
    d->pages[2] = d->mem + device_event;
    d->pages_next = 0;

    d->vdev.features = (1ULL << VIRTIO_F_VERSION_1) | (1ULL << VIRTIO_F_RING_PACKED);
    if (features & VIRTIOSPEC_RING_F_EVENT_IDX)
        d->vdev.features |= 1ULL << VIRTIO_RING_F_EVENT_IDX;
    if (d->indirect)
        d->vdev.features |= 1ULL << VIRTIO_RING_F_INDIRECT_DESC;
    INIT_LIST_HEAD(&d->vdev.vqs);
    spin_lock_init(&d->vdev.vqs_list_lock);
    vsl_cur = d;
    d->vq = vring_create_virtqueue_packed(0, q, 16, &d->vdev, true, false, false, vsl_notify,
                                          vsl_callback, "virtiospec-packed");
    d->arena_next = NULL;
    d->pages_next = 3;
    if (d->vq == NULL)
        return -VSL_PK_E_INVALID;
    d->magic = VSL_DRIVER_MAGIC;
    return 0;
}

int vsl_packed_driver_init(void *state)
{
    struct vsl_driver *d = vsl_enter(state);
    if (d == NULL || !to_vvq(d->vq)->packed_ring)
        return -VSL_PK_E_INVALID;
    virtqueue_reinit_packed(to_vvq(d->vq)); /* Linux's reset of a ring to its fresh state */
    return 0;
}

int vsl_packed_driver_add(void *state, const struct virtiospec_ring_segment *out,
                          uint32_t n_out, const struct virtiospec_ring_segment *in,
                          uint32_t n_in, uint64_t token)
{
    return vsl_packed_code(virtiospec_ring_driver_add(state, out, n_out, in, n_in, token));
}

int vsl_packed_driver_kick_prepare(void *state)
{
    return vsl_packed_code(virtiospec_ring_driver_kick_prepare(state));
}

int vsl_packed_driver_get_used(void *state, uint64_t *token, uint32_t *len)
{
    return vsl_packed_code(virtiospec_ring_driver_get_used(state, token, len));
}

int vsl_packed_driver_disable_cb(void *state)
{
    return vsl_packed_code(virtiospec_ring_driver_disable_cb(state));
}

int vsl_packed_driver_enable_cb(void *state)
{
    return vsl_packed_code(virtiospec_ring_driver_enable_cb(state));
}

/* The free count in every state (the packed cases read it after a refusal too). */
int vsl_packed_driver_num_free(const void *state)
{
    const struct vsl_driver *d = state;
    if (d == NULL || d->magic != VSL_DRIVER_MAGIC)
        return -VSL_PK_E_INVALID;
    return (int)d->vq->num_free;
}
