/*
 * ring_notify_count.c -- count the notifications of a ring benchmark from outside it.
 *
 * An LD_PRELOAD library for `virtiospec bench ring`. Linux's tools/virtio/ringtest prints
 * nothing; its notifications are write()s of 8 bytes to two eventfds that main.c creates
 * first thing: the kick (guest to host) first, the call (host to guest) second. This
 * library wraps eventfd() to learn those two descriptors and write() to count the writes
 * to each, and at exit appends one line "kick_writes=K call_writes=C" to the file named
 * by $VS_NOTIFY_COUNT_OUT. The benchmark runs ring.c's harness (ring_threads.c, which
 * creates its eventfds in the same order) under it too, so both are counted the same way.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

typedef int (*eventfd_fn)(unsigned int, int);
typedef ssize_t (*write_fn)(int, const void *, size_t);

static eventfd_fn real_eventfd;
static write_fn real_write;
static _Atomic int fds[2] = {-1, -1};
static _Atomic int nfds;
static _Atomic unsigned long long writes[2];

__attribute__((constructor)) static void vs_count_init(void)
{
    /* POSIX: a data pointer from dlsym converts to a function pointer */
    void *e = dlsym(RTLD_NEXT, "eventfd");
    void *w = dlsym(RTLD_NEXT, "write");
    *(void **)(void *)&real_eventfd = e;
    *(void **)(void *)&real_write = w;
}

__attribute__((visibility("default"))) int eventfd(unsigned int initval, int flags)
{
    if (!real_eventfd)
        vs_count_init();
    int fd = real_eventfd(initval, flags);
    if (fd >= 0) {
        int k = atomic_fetch_add(&nfds, 1);
        if (k < 2)
            atomic_store(&fds[k], fd);
    }
    return fd;
}

__attribute__((visibility("default"))) ssize_t write(int fd, const void *buf, size_t n)
{
    if (!real_write)
        vs_count_init();
    if (n == 8) {
        if (fd == atomic_load_explicit(&fds[0], memory_order_relaxed))
            atomic_fetch_add_explicit(&writes[0], 1, memory_order_relaxed);
        else if (fd == atomic_load_explicit(&fds[1], memory_order_relaxed))
            atomic_fetch_add_explicit(&writes[1], 1, memory_order_relaxed);
    }
    return real_write(fd, buf, n);
}

__attribute__((destructor)) static void vs_count_report(void)
{
    const char *path = getenv("VS_NOTIFY_COUNT_OUT");
    if (!path || !*path)
        return;
    FILE *f = fopen(path, "a");
    if (!f)
        return;
    fprintf(f, "kick_writes=%llu call_writes=%llu\n", atomic_load(&writes[0]),
            atomic_load(&writes[1]));
    fclose(f);
}
