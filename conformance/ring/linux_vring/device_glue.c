/*
 * device_glue.c -- the device half of virtiospec_ring.h (ABI version 1 or 2) over Linux's own
 * drivers/vhost/vringh.c (the host side of a split ring), compiled in user space with
 * tools/virtio's shims; plus the ABI version and nothing else of the driver.
 *
 * The glue is the smallest vringh user there is: vringh_init_user on the three ring parts,
 * vringh_getdesc_user with a getrange callback that maps guest offsets [0, mem_size) onto
 * the block of guest memory (addresses outside it are refused there, RING-SPLIT-082),
 * vringh_complete_multi_user, vringh_need_notify_user, vringh_notify_enable_user and
 * vringh_notify_disable_user. vringh.c says why it refused a chain only in its log message
 * (vringh_bad) and its errno; include/linux/printk.h beside this file routes that message
 * here, and vsl_refusal names the requirement from it. vringh has no state for "stopped
 * after an error" (its caller decides), so the glue adds none: needs_reset is always 0.
 */
#include "shim.h"

#include <stdarg.h>
#include <stdio.h>

#include <linux/compiler.h>
#include <linux/kernel.h>
#include <linux/uaccess.h>
#include <linux/vringh.h>
#include <linux/virtio_ring.h>
#include <uapi/linux/virtio_config.h>

/* The globals tools/virtio's shims declare (vringh_test.c defines them there). */
void *__kmalloc_fake, *__kfree_ignore_start, *__kfree_ignore_end;
void *__user_addr_min, *__user_addr_max;

static _Thread_local char vsl_msg[160]; /* the last kernel log message of this thread */

int vsl_vprintk(const char *fmt, va_list ap)
{
    if (fmt[0] == KERN_SOH[0] && fmt[1] != '\0')
        fmt += 2; /* a level prefix is not text */
    if (fmt[0] == '\0')
        return 0;
    return vsnprintf(vsl_msg, sizeof(vsl_msg), fmt, ap);
}

int vsl_printk(const char *fmt, ...)
{
    va_list ap;
    int n;
    va_start(ap, fmt);
    n = vsl_vprintk(fmt, ap);
    va_end(ap);
    return n;
}

#include "drivers/vhost/vringh.c"

struct vsl_device {
    uint64_t magic;
    struct vringh vrh;
    uint8_t *mem;
    uint64_t mem_size;
    uint32_t q;
    uint32_t iov_cap;
    uint16_t start_index;
    bool range_refused; /* the last getrange call was for an address outside memory */
    struct vringh_iov riov, wiov;
    struct iovec *rarr, *warr;       /* [iov_cap] each */
    struct vring_used_elem *scratch; /* [Q]: used elements in ring byte order */
};

uint32_t virtiospec_ring_abi_version(void)
{
    return VIRTIOSPEC_RING_ABI_VERSION;
}

static uint32_t vsl_iov_cap(uint32_t q)
{
    return 2 * q < 16 ? 16 : 2 * q;
}

size_t virtiospec_ring_device_state_size(uint32_t queue_size)
{
    if (!vsl_queue_size_ok(queue_size))
        return 0;
    return VSL_ALIGN16(sizeof(struct vsl_device))
        + 2 * VSL_ALIGN16(vsl_iov_cap(queue_size) * sizeof(struct iovec))
        + VSL_ALIGN16(queue_size * sizeof(struct vring_used_elem));
}

static bool vsl_getrange(struct vringh *vrh, u64 addr, struct vringh_range *r)
{
    struct vsl_device *d = container_of(vrh, struct vsl_device, vrh);

    if (addr >= d->mem_size) {
        d->range_refused = true;
        return false;
    }
    r->start = 0;
    r->end_incl = d->mem_size - 1;
    r->offset = (u64)(uintptr_t)d->mem;
    return true;
}

int virtiospec_ring_device_create(void *state, size_t state_size, void *mem, uint64_t mem_size,
                                  const struct virtiospec_ring_config *cfg)
{
    struct vsl_device *d = state;
    uint64_t features = 1ULL << VIRTIO_F_VERSION_1;
    uint8_t *at;
    size_t need;
    uint32_t q;

    if (!vsl_args_ok(state, mem, cfg))
        return -VIRTIOSPEC_RING_E_INVALID;
    q = cfg->queue_size;
    if (!vsl_queue_size_ok(q))
        return -VIRTIOSPEC_RING_E_QUEUE_SIZE;
    need = virtiospec_ring_device_state_size(q);
    if (state_size < need)
        return -VIRTIOSPEC_RING_E_INVALID;
    /* vringh_init_user: "you should check pointers yourself!" -- the glue does. */
    if (!vsl_placement_ok(cfg, mem_size))
        return -VIRTIOSPEC_RING_E_PLACEMENT;
    memset(state, 0, need);
    if (cfg->features & VIRTIOSPEC_RING_F_EVENT_IDX)
        features |= 1ULL << VIRTIO_RING_F_EVENT_IDX;
    if (cfg->features & VIRTIOSPEC_RING_F_INDIRECT)
        features |= 1ULL << VIRTIO_RING_F_INDIRECT_DESC;
    d->mem = mem;
    d->mem_size = mem_size;
    d->q = q;
    d->iov_cap = vsl_iov_cap(q);
    d->start_index = cfg->start_index;
    at = (uint8_t *)state + VSL_ALIGN16(sizeof(*d));
    d->rarr = (struct iovec *)(void *)at;
    at += VSL_ALIGN16(d->iov_cap * sizeof(struct iovec));
    d->warr = (struct iovec *)(void *)at;
    at += VSL_ALIGN16(d->iov_cap * sizeof(struct iovec));
    d->scratch = (struct vring_used_elem *)(void *)at;
    if (vringh_init_user(&d->vrh, features, q, true,
                         (vring_desc_t *)(void *)(d->mem + cfg->desc),
                         (vring_avail_t *)(void *)(d->mem + cfg->avail),
                         (vring_used_t *)(void *)(d->mem + cfg->used)) != 0)
        return -VIRTIOSPEC_RING_E_QUEUE_SIZE;
    /* Both free-running indices at the case's start (0 on a real device). */
    d->vrh.last_avail_idx = cfg->start_index;
    d->vrh.last_used_idx = cfg->start_index;
    d->magic = VSL_DEVICE_MAGIC;
    return 0;
}

static struct vsl_device *vsl_enter(void *state)
{
    struct vsl_device *d = state;
    if (d == NULL || d->magic != VSL_DEVICE_MAGIC)
        return NULL;
    /* tools/virtio's user accessors assert that every access lies in this window. */
    __user_addr_min = d->mem;
    __user_addr_max = d->mem + d->mem_size;
    return d;
}

#define VSL_ENTER(d, state)                  \
    struct vsl_device *d = vsl_enter(state); \
    if (d == NULL)                           \
    return -VIRTIOSPEC_RING_E_INVALID

int virtiospec_ring_device_init(void *state)
{
    VSL_ENTER(d, state);
    struct vring *vr = &d->vrh.vring;

    /* vringh has no set-up of its own (in Linux the driver hands over a zeroed ring). */
    WRITE_ONCE(vr->used->flags, cpu_to_vringh16(&d->vrh, 0));
    WRITE_ONCE(vr->used->idx, cpu_to_vringh16(&d->vrh, d->start_index));
    WRITE_ONCE(vring_avail_event(vr), cpu_to_vringh16(&d->vrh, 0));
    return 0;
}

/* The requirement a refusal of vringh_getdesc_user breaks, from its errno and message. */
static int vsl_refusal(const struct vsl_device *d, int err)
{
    static const struct {
        const char *prefix;
        int code;
    } reasons[] = {
        {"Guest says index", VIRTIOSPEC_RING_E_INDEX},
        {"Chained index", VIRTIOSPEC_RING_E_INDEX},
        {"Descriptor loop", VIRTIOSPEC_RING_E_LOOP},
        {"Multilevel indirect", VIRTIOSPEC_RING_E_INDIRECT},
        {"Strange indirect len", VIRTIOSPEC_RING_E_INDIRECT},
        {"Readable desc", VIRTIOSPEC_RING_E_READ_AFTER_WRITE},
        {"Wrapping descriptor", VIRTIOSPEC_RING_E_OUTSIDE},
    };
    size_t k;

    if (d->range_refused)
        return VIRTIOSPEC_RING_E_OUTSIDE;
    for (k = 0; k < sizeof(reasons) / sizeof(reasons[0]); k++)
        if (strncmp(vsl_msg, reasons[k].prefix, strlen(reasons[k].prefix)) == 0)
            return reasons[k].code;
    if (err == -ELOOP)
        return VIRTIOSPEC_RING_E_LOOP;
    return VIRTIOSPEC_RING_E_INVALID; /* a refusal the glue cannot attribute (a patched vringh.c) */
}

static void vsl_iov_reset(struct vsl_device *d)
{
    vringh_iov_cleanup(&d->riov); /* frees what vringh allocated beyond our arrays */
    vringh_iov_cleanup(&d->wiov);
    vringh_iov_init(&d->riov, d->rarr, d->iov_cap);
    vringh_iov_init(&d->wiov, d->warr, d->iov_cap);
}

int virtiospec_ring_device_pop(void *state, uint16_t *head, struct virtiospec_ring_segment *segs,
                               uint32_t max_segs, uint32_t *n_readable, uint32_t *n_writable)
{
    VSL_ENTER(d, state);
    uint32_t k, total;
    u16 h = 0;
    int rc;

    if (head == NULL || n_readable == NULL || n_writable == NULL || (segs == NULL && max_segs))
        return -VIRTIOSPEC_RING_E_INVALID;
    vsl_iov_reset(d);
    d->range_refused = false;
    vsl_msg[0] = '\0';
    rc = vringh_getdesc_user(&d->vrh, &d->riov, &d->wiov, vsl_getrange, &h);
    if (rc <= 0) {
        if (rc < 0)
            rc = -vsl_refusal(d, rc);
        vsl_iov_reset(d);
        return rc;
    }
    total = d->riov.used + d->wiov.used;
    if (total > max_segs) {
        vringh_abandon_user(&d->vrh, 1); /* the chain stays available */
        vsl_iov_reset(d);
        return -VIRTIOSPEC_RING_E_NO_SPACE;
    }
    for (k = 0; k < total; k++) {
        const struct iovec *v = k < d->riov.used ? &d->riov.iov[k]
                                                 : &d->wiov.iov[k - d->riov.used];
        segs[k].addr = (uint64_t)((uintptr_t)v->iov_base - (uintptr_t)d->mem);
        segs[k].len = v->iov_len;
    }
    *head = h;
    *n_readable = d->riov.used;
    *n_writable = d->wiov.used;
    vsl_iov_reset(d);
    return 1;
}

int virtiospec_ring_device_push(void *state, const struct virtiospec_ring_used_elem *used,
                                uint32_t n)
{
    VSL_ENTER(d, state);
    uint32_t k;

    if (n > d->q || (used == NULL && n != 0))
        return -VIRTIOSPEC_RING_E_INVALID;
    for (k = 0; k < n; k++) {
        d->scratch[k].id = cpu_to_vringh32(&d->vrh, used[k].id);
        d->scratch[k].len = cpu_to_vringh32(&d->vrh, used[k].len);
    }
    if (vringh_complete_multi_user(&d->vrh, d->scratch, n) != 0)
        return -VIRTIOSPEC_RING_E_INVALID;
    return 0;
}

int virtiospec_ring_device_should_notify(void *state)
{
    VSL_ENTER(d, state);
    int rc = vringh_need_notify_user(&d->vrh);
    return rc < 0 ? -VIRTIOSPEC_RING_E_INVALID : rc;
}

int virtiospec_ring_device_enable_notify(void *state)
{
    VSL_ENTER(d, state);
    return vringh_notify_enable_user(&d->vrh) ? 0 : 1; /* false: more buffers available */
}

int virtiospec_ring_device_disable_notify(void *state)
{
    VSL_ENTER(d, state);
    vringh_notify_disable_user(&d->vrh);
    return 0;
}

int virtiospec_ring_device_needs_reset(const void *state)
{
    const struct vsl_device *d = state;
    if (d == NULL || d->magic != VSL_DEVICE_MAGIC)
        return -VIRTIOSPEC_RING_E_INVALID;
    return 0;
}
