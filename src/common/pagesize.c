/*
 * The page sizes of the running kernel.  Never a constant: aarch64 kernels
 * are built with 4, 16 or 64 KiB pages, and the huge page that goes with
 * them is 2 MiB, 32 MiB or 512 MiB (or whatever default_hugepagesz= says).
 */
#include <stdio.h>
#include <stdatomic.h>
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
    v = 0;
    FILE *f = fopen("/proc/meminfo", "re");
    if (f) {
        char line[128];
        unsigned long kib;
        while (fgets(line, sizeof line, f))
            if (sscanf(line, "Hugepagesize: %lu kB", &kib) == 1) {
                v = (size_t)kib * 1024;
                break;
            }
        fclose(f);
    }
    atomic_store_explicit(&cached, v, memory_order_relaxed);
    return v;
}
