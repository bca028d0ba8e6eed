/*
 * Bulk copies that stay fast whatever the two buffers' alignment.
 *
 * Measured on the AMD EPYC (Zen 3) machines this project runs on: a copy
 * made with `rep movsb` - glibc's memcpy() for 2 KiB to 512 KiB, and the
 * kernel's copy to and from user space for read(), pread(), pwrite(),
 * process_vm_readv() at any size - runs 4 to 16 times slower when the
 * destination lies 1 to 31 bytes past the source modulo 4096.  A malloc()'d
 * buffer of 128 KiB or more starts 16 bytes into a page, so a file read
 * into it from a page boundary, or a memcpy() between it and a buffer at a
 * page boundary, falls into that band.  A loop of vector loads and stores
 * does not care (BENCHMARKS.md, History).
 *
 *   pm_copy()          memcpy() (regions must not overlap), by a vector
 *                      loop when memcpy() would take the slow band
 *   pm_copy_slow()     would a `rep movsb` from src to dst be in that band?
 *   pm_copy_bounce()   where, in a buffer of PM_COPY_BOUNCE_SLACK spare
 *                      bytes past `room`, a bounce copy of src should land
 *                      so that neither leg (src -> bounce, bounce -> dst) is
 *                      in the band
 */
#ifndef PEERMAP_COPY_H
#define PEERMAP_COPY_H

#include <stddef.h>
#include <stdint.h>

void pm_copy(void *dst, const void *src, size_t n);

/* The band: the destination 1..31 bytes past the source modulo 4096. */
static inline int pm_copy_slow(uintptr_t dst, uintptr_t src)
{
    uintptr_t d = (dst - src) & 4095;
    return d != 0 && d < 32;
}

#define PM_COPY_BOUNCE_SLACK 4096
static inline size_t pm_copy_bounce(uintptr_t room, uintptr_t src)
{
    /* 64 bytes before the source's position in a page: src -> bounce is
     * 4032 bytes "ahead" (fast), bounce -> dst is the band shifted by 64
     * (fast). */
    return (size_t)((src - 64 - room) & 4095);
}

#endif
