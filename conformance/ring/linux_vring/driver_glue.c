/*
 * driver_glue.c -- the driver half of virtiospec_ring.h (ABI version 1 or 2) over Linux's own
 * drivers/virtio/virtio_ring.c (split ring), compiled in user space with tools/virtio's shims.
 *
 * virtio_ring.c is #included (below) so that the glue can reach what a transport reaches in
 * the kernel: the internal constructor that takes ring pointers (__vring_new_virtqueue), the
 * reset of a fresh ring (virtqueue_reinit_split), and, only to place the free-running
 * indices at cfg->start_index, the driver's two index fields. Every ring decision is Linux's:
 * the glue calls the exported functions (virtqueue_add_sgs, virtqueue_kick_prepare,
 * virtqueue_get_buf, virtqueue_disable_cb, virtqueue_enable_cb, virtqueue_enable_cb_delayed,
 * virtqueue_detach_unused_buf, virtqueue_is_broken) and translates their results.
 *
 * Addresses: a buffer is put in a scatterlist at its host address mem + guest offset, and
 * the DMA mapping (sg_phys, virt_to_phys; the device has no ACCESS_PLATFORM, so Linux maps
 * without the DMA API) subtracts mem again: descriptors hold guest offsets.
 * Memory: no allocation. While a side is created, Linux's kmalloc takes from the caller's
 * state block; while a chain is added, the one indirect table Linux asks for is the head's
 * slot of cfg->indirect_area (indirect_max entries); anything else gets NULL, as a failed
 * kmalloc (Linux then falls back to direct descriptors). kfree gives nothing back.
 *
 * The packed ring (driver_packed.c, #included at the end) is Linux's own constructor
 * vring_create_virtqueue_packed, whose three page allocations are the caller's ring parts.
 */
#include "shim.h"

#include <linux/virtio.h> /* the rest comes with virtio_ring.c (some are unguarded) */

/* The side the calling thread is in (set on entry to every ABI function). */
struct vsl_driver;
static _Thread_local struct vsl_driver *vsl_cur;

struct vsl_driver {
    uint64_t magic;
    struct virtio_device vdev;
    struct virtqueue *vq;
    uint8_t *mem;
    uint64_t mem_size;
    uint64_t indirect_area;
    uint32_t indirect_max;
    uint32_t q;
    uint32_t sg_cap;
    uint16_t start_index;
    bool indirect;
    uint8_t *slot;            /* armed by add: where the next indirect table goes */
    size_t slot_cap;
    uint8_t *arena_next;      /* armed by create: Linux's allocations, in the state */
    uint8_t *arena_end;
    uint8_t *pages[3];        /* armed by the packed create: the ring parts Linux "allocates" */
    int pages_next;
    uint64_t *tokens;         /* [Q]: Linux's "data" of head i is &tokens[i] */
    struct scatterlist *sg;   /* [sg_cap]: one entry per buffer of an add */
    struct scatterlist **sgs; /* [sg_cap] */
};

static dma_addr_t vsl_guest_addr(uintptr_t host)
{
    return (dma_addr_t)(host - (uintptr_t)vsl_cur->mem);
}

static void *vsl_kmalloc(size_t size)
{
    struct vsl_driver *d = vsl_cur;
    void *p = NULL;

    if (d->slot != NULL) {
        if (size <= d->slot_cap)
            p = d->slot;
        d->slot = NULL;
    } else if (d->arena_next != NULL) {
        size = VSL_ALIGN16(size);
        if (size <= (size_t)(d->arena_end - d->arena_next)) {
            p = d->arena_next;
            d->arena_next += size;
        }
    }
    return p;
}

/* vring_alloc_queue's pages (the packed ring's three parts, in Linux's order). */
static void *vsl_alloc_pages(void)
{
    struct vsl_driver *d = vsl_cur;
    return d->pages_next < 3 ? d->pages[d->pages_next++] : NULL;
}

static void *vsl_kmalloc_array(size_t n, size_t size)
{
    return (size != 0 && n > SIZE_MAX / size) ? NULL : vsl_kmalloc(n * size);
}

#undef virt_to_phys
#define virt_to_phys(p) vsl_guest_addr((uintptr_t)(p))
#define sg_phys(sg) vsl_guest_addr((uintptr_t)(page_to_phys(sg_page(sg)) + (sg)->offset))
#define kmalloc(size, gfp) vsl_kmalloc(size)
#define kmalloc_array(n, size, gfp) vsl_kmalloc_array((n), (size))
#define kfree(p) ((void)(p))
#define alloc_pages_exact(size, gfp) vsl_alloc_pages()
#define free_pages_exact(p, size) ((void)(p))
#undef dev_err
#define dev_err(dev, ...) ((void)(dev)) /* BAD_RING's message: the refusal says it */

#include "drivers/virtio/virtio_ring.c"

/* tools/virtio declares it plain inline: give it its one external definition here. */
extern void kmsan_handle_dma(struct page *page, size_t offset, size_t size,
                             enum dma_data_direction dir);

/* What a driver of queue size q needs besides this struct (Linux's objects included). */
static uint32_t vsl_sg_cap(uint32_t q)
{
    return q > 256 ? q : 256;
}

static size_t vsl_arena_size(uint32_t q)
{
    return VSL_ALIGN16(sizeof(struct vring_virtqueue))
        + VSL_ALIGN16(q * sizeof(struct vring_desc_state_split))
        + VSL_ALIGN16(q * sizeof(struct vring_desc_extra));
}

size_t virtiospec_ring_driver_state_size(uint32_t queue_size)
{
    uint32_t cap = vsl_sg_cap(queue_size);
    if (!vsl_queue_size_ok(queue_size))
        return 0;
    return VSL_ALIGN16(sizeof(struct vsl_driver)) + VSL_ALIGN16(queue_size * sizeof(uint64_t))
        + VSL_ALIGN16(cap * sizeof(struct scatterlist))
        + VSL_ALIGN16(cap * sizeof(struct scatterlist *)) + vsl_arena_size(queue_size);
}

static bool vsl_notify(struct virtqueue *vq)
{
    (void)vq;
    return true; /* the kick itself is the caller's (kick_prepare says whether) */
}

static void vsl_callback(struct virtqueue *vq)
{
    (void)vq; /* a driver with a callback: Linux leaves used-buffer notifications on */
}

int virtiospec_ring_driver_create(void *state, size_t state_size, void *mem, uint64_t mem_size,
                                  const struct virtiospec_ring_config *cfg)
{
    struct vsl_driver *d = state;
    struct vring_virtqueue_split split;
    uint8_t *at;
    uint32_t q;
    size_t need;

    if (!vsl_args_ok(state, mem, cfg))
        return -VIRTIOSPEC_RING_E_INVALID;
    q = cfg->queue_size;
    if (!vsl_queue_size_ok(q))
        return -VIRTIOSPEC_RING_E_QUEUE_SIZE;
    need = virtiospec_ring_driver_state_size(q);
    if (state_size < need)
        return -VIRTIOSPEC_RING_E_INVALID;
    if (!vsl_placement_ok(cfg, mem_size))
        return -VIRTIOSPEC_RING_E_PLACEMENT;
    if ((cfg->features & VIRTIOSPEC_RING_F_INDIRECT)
        && (cfg->indirect_max == 0 || cfg->indirect_area % 16 != 0
            || (uint64_t)cfg->indirect_max > UINT64_MAX / 16 / q
            || !vsl_inside(cfg->indirect_area, (uint64_t)q * cfg->indirect_max * 16, mem_size)))
        return -VIRTIOSPEC_RING_E_PLACEMENT;

    memset(state, 0, need);
    d->mem = mem;
    d->mem_size = mem_size;
    d->q = q;
    d->sg_cap = vsl_sg_cap(q);
    d->start_index = cfg->start_index;
    d->indirect = (cfg->features & VIRTIOSPEC_RING_F_INDIRECT) != 0;
    d->indirect_area = cfg->indirect_area;
    d->indirect_max = cfg->indirect_max;
    at = (uint8_t *)state + VSL_ALIGN16(sizeof(*d));
    d->tokens = (uint64_t *)(void *)at;
    at += VSL_ALIGN16(q * sizeof(uint64_t));
    d->sg = (struct scatterlist *)(void *)at;
    at += VSL_ALIGN16(d->sg_cap * sizeof(struct scatterlist));
    d->sgs = (struct scatterlist **)(void *)at;
    at += VSL_ALIGN16(d->sg_cap * sizeof(struct scatterlist *));
    d->arena_next = at;
    d->arena_end = at + vsl_arena_size(q);

    d->vdev.features = 1ULL << VIRTIO_F_VERSION_1;
    if (cfg->features & VIRTIOSPEC_RING_F_EVENT_IDX)
        d->vdev.features |= 1ULL << VIRTIO_RING_F_EVENT_IDX;
    if (d->indirect)
        d->vdev.features |= 1ULL << VIRTIO_RING_F_INDIRECT_DESC;
    INIT_LIST_HEAD(&d->vdev.vqs);
    spin_lock_init(&d->vdev.vqs_list_lock);

    memset(&split, 0, sizeof(split));
    split.vring.num = q;
    split.vring.desc = (struct vring_desc *)(void *)(d->mem + cfg->desc);
    split.vring.avail = (struct vring_avail *)(void *)(d->mem + cfg->avail);
    split.vring.used = (struct vring_used *)(void *)(d->mem + cfg->used);
    vsl_cur = d;
    d->vq = __vring_new_virtqueue(0, &split, &d->vdev, true, false, vsl_notify, vsl_callback,
                                  "virtiospec");
    d->arena_next = NULL;
    if (d->vq == NULL)
        return -VIRTIOSPEC_RING_E_INVALID;
    d->magic = VSL_DRIVER_MAGIC;
    return 0;
}

static struct vsl_driver *vsl_enter(void *state)
{
    struct vsl_driver *d = state;
    if (d == NULL || d->magic != VSL_DRIVER_MAGIC)
        return NULL;
    vsl_cur = d;
    return d;
}

/* Linux's own sticky state (BAD_RING sets it): the side refuses until re-created. */
#define VSL_ENTER(d, state)                                 \
    struct vsl_driver *d = vsl_enter(state);                \
    if (d == NULL)                                          \
        return -VIRTIOSPEC_RING_E_INVALID;                  \
    if (virtqueue_is_broken(d->vq))                         \
        return -VIRTIOSPEC_RING_E_NEEDS_RESET

int virtiospec_ring_driver_init(void *state)
{
    VSL_ENTER(d, state);
    struct vring_virtqueue *vq = to_vvq(d->vq);

    /* Linux's reset of a ring to its fresh state (zeroes both sides' fields)... */
    virtqueue_reinit_split(vq);
    /* ...then both free-running indices moved to the case's start (0 in the kernel). */
    vq->split.avail_idx_shadow = d->start_index;
    vq->last_used_idx = d->start_index;
    vq->split.vring.avail->idx = cpu_to_virtio16(&d->vdev, d->start_index);
    vq->split.vring.used->idx = cpu_to_virtio16(&d->vdev, d->start_index);
    return 0;
}

int virtiospec_ring_driver_add(void *state, const struct virtiospec_ring_segment *out,
                               uint32_t n_out, const struct virtiospec_ring_segment *in,
                               uint32_t n_in, uint64_t token)
{
    VSL_ENTER(d, state);
    struct vring_virtqueue *vq = to_vvq(d->vq);
    uint32_t total, k;
    unsigned int head;
    int rc;

    if ((n_out != 0 && out == NULL) || (n_in != 0 && in == NULL) || n_out > UINT32_MAX - n_in)
        return -VIRTIOSPEC_RING_E_INVALID;
    total = n_out + n_in;
    if (total == 0) /* virtqueue_add has BUG_ON(total_sg == 0) */
        return -VIRTIOSPEC_RING_E_INVALID;
    if (total > d->sg_cap) /* more than max(Q, 256) buffers: Linux says -ENOSPC */
        return -VIRTIOSPEC_RING_E_FULL;
    for (k = 0; k < total; k++) {
        const struct virtiospec_ring_segment *s = k < n_out ? &out[k] : &in[k - n_out];
        if (s->len > UINT32_MAX) /* a scatterlist entry holds 32 bits of length */
            return -VIRTIOSPEC_RING_E_INVALID;
        sg_init_one(&d->sg[k], (void *)((uintptr_t)d->mem + (uintptr_t)s->addr),
                    (unsigned int)s->len);
        d->sgs[k] = &d->sg[k];
    }
    head = vq->free_head;
    /* free_head names a free descriptor only while one is free: with none, it may be the
     * head of an outstanding chain, whose token and indirect table must stay untouched */
    if (head < d->q && d->vq->num_free > 0) {
        d->tokens[head] = token;
        if (d->indirect) {
            d->slot = d->mem + d->indirect_area + (uint64_t)head * d->indirect_max * 16;
            d->slot_cap = (size_t)d->indirect_max * 16;
        }
    }
    rc = virtqueue_add_sgs(d->vq, d->sgs, n_out, n_in, &d->tokens[head < d->q ? head : 0],
                           GFP_ATOMIC);
    d->slot = NULL;
    switch (rc) {
    case 0:
        return (int)head;
    case -ENOSPC:
        return -VIRTIOSPEC_RING_E_FULL;
    case -EIO:
        return -VIRTIOSPEC_RING_E_NEEDS_RESET;
    default:
        return -VIRTIOSPEC_RING_E_INVALID;
    }
}

int virtiospec_ring_driver_kick_prepare(void *state)
{
    VSL_ENTER(d, state);
    return virtqueue_kick_prepare(d->vq) ? 1 : 0;
}

int virtiospec_ring_driver_get_used(void *state, uint64_t *token, uint32_t *len)
{
    VSL_ENTER(d, state);
    unsigned int n = 0;
    void *data;

    if (token == NULL || len == NULL)
        return -VIRTIOSPEC_RING_E_INVALID;
    data = virtqueue_get_buf(d->vq, &n);
    if (data == NULL) /* none, or Linux found a bad used element and broke the queue */
        return virtqueue_is_broken(d->vq) ? -VIRTIOSPEC_RING_E_USED : 0;
    *token = *(const uint64_t *)data;
    *len = n;
    return 1;
}

int virtiospec_ring_driver_disable_cb(void *state)
{
    VSL_ENTER(d, state);
    virtqueue_disable_cb(d->vq);
    return 0;
}

int virtiospec_ring_driver_enable_cb(void *state)
{
    VSL_ENTER(d, state);
    return virtqueue_enable_cb(d->vq) ? 0 : 1; /* Linux: false means buffers are pending */
}

int virtiospec_ring_driver_enable_cb_delayed(void *state)
{
    VSL_ENTER(d, state);
    return virtqueue_enable_cb_delayed(d->vq) ? 0 : 1;
}

int virtiospec_ring_driver_detach_unused(void *state, uint64_t *tokens, uint32_t max)
{
    struct vsl_driver *d = vsl_enter(state);
    struct vring_virtqueue *vq;
    uint32_t i, n = 0;
    void *data;

    if (d == NULL || (tokens == NULL && max != 0))
        return -VIRTIOSPEC_RING_E_INVALID;
    vq = to_vvq(d->vq);
    for (i = 0; i < d->q; i++)
        n += vq->split.desc_state[i].data != NULL;
    if (n > max)
        return -VIRTIOSPEC_RING_E_NO_SPACE;
    n = 0; /* Linux's teardown after a reset: works on a broken queue too */
    while ((data = virtqueue_detach_unused_buf(d->vq)) != NULL)
        tokens[n++] = *(const uint64_t *)data;
    return (int)n;
}

int virtiospec_ring_driver_num_free(const void *state)
{
    const struct vsl_driver *d = state;
    if (d == NULL || d->magic != VSL_DRIVER_MAGIC)
        return -VIRTIOSPEC_RING_E_INVALID;
#if VIRTIOSPEC_RING_ABI_VERSION >= 2
    if (virtqueue_is_broken(d->vq))
        return -VIRTIOSPEC_RING_E_NEEDS_RESET;
#endif
    return (int)d->vq->num_free;
}

#if VIRTIOSPEC_RING_ABI_VERSION >= 2
int virtiospec_ring_driver_needs_reset(const void *state)
{
    const struct vsl_driver *d = state;
    if (d == NULL || d->magic != VSL_DRIVER_MAGIC)
        return -VIRTIOSPEC_RING_E_INVALID;
    /* Linux breaks a queue only in get_buf, on a used element it does not accept. */
    return virtqueue_is_broken(d->vq) ? -VIRTIOSPEC_RING_E_USED : 0;
}
#endif

#include "driver_packed.c"
