/*
 * Replaces tools/virtio/linux/printk.h (found first on the include path): the kernel's log
 * calls go to the glue, which keeps the last message of the calling thread. vringh.c says
 * why it refused a chain only in such a message (vringh_bad), so the glue reads the reason
 * from it (device_glue.c, vsl_refusal).
 */
#ifndef VIRTIOSPEC_LINUX_VRING_PRINTK_H
#define VIRTIOSPEC_LINUX_VRING_PRINTK_H

#include <stdarg.h>

#define KERN_SOH "\001"
#define KERN_EMERG KERN_SOH "0"
#define KERN_ALERT KERN_SOH "1"
#define KERN_CRIT KERN_SOH "2"
#define KERN_ERR KERN_SOH "3"
#define KERN_WARNING KERN_SOH "4"
#define KERN_NOTICE KERN_SOH "5"
#define KERN_INFO KERN_SOH "6"
#define KERN_DEBUG KERN_SOH "7"
#define KERN_CONT KERN_SOH "c"

int vsl_printk(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int vsl_vprintk(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));

#define printk vsl_printk
#define vprintk vsl_vprintk

#endif
