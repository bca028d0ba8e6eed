/*
 * The page sizes of the running kernel.  Never a constant: aarch64 kernels
 * are built with 4, 16 or 64 KiB pages, and the huge page that goes with
 * them is 2 MiB, 32 MiB or 512 MiB (or whatever default_hugepagesz= says).
 */
#include <fcntl.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/internal.h"

size_t pm_page_size(void)
{
    static atomic_size_t cached;
    size_t v = atomic_load_explicit(&cached, memory_order_relaxed);
    if (!v) {
        v = (size_t)sysconf(_SC_PAGESIZE);
        atomic_store_explicit(&cached, v, memory_order_relaxed);
    }
    return v;
}

size_t pm_huge_page_size(void)
{
    /* (size_t)-1: not looked up yet; 0: the kernel has no huge pages. */
    static atomic_size_t cached = (size_t)-1;
    size_t v = atomic_load_explicit(&cached, memory_order_relaxed);
    if (v != (size_t)-1)
        return v;
    /* open()/read() and a hand parse, not stdio: mmap_peer() asks, and it
     * may run in a signal handler. */
    v = 0;
    char buf[4096];
    int fd = open("/proc/meminfo", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        ssize_t n = read(fd, buf, sizeof buf - 1);
        close(fd);
        if (n > 0) {
            buf[n] = 0;
            const char *p = strstr(buf, "Hugepagesize:");
            if (p)
                v = (size_t)strtoul(p + 13, NULL, 10) * 1024;
        }
    }
    atomic_store_explicit(&cached, v, memory_order_relaxed);
    return v;
}
