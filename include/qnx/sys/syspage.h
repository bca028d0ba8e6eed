/*
 * <sys/syspage.h> - the parts of QNX's system page that portable code
 * reads: the clock (SYSPAGE_ENTRY(qtime)) and the number of CPUs
 * (_syspage_ptr->num_cpu).
 *
 * QNX maps a read-only page the kernel keeps up to date.  Here each
 * SYSPAGE_ENTRY(qtime) (and each _syspage_ptr) is a call that fills a
 * structure of the calling thread with current values and returns it, so
 * nsec and nsec_tod_adjust are as of that call.  Only the members below
 * exist, and their layout is not QNX's; code that walks the system page by
 * offsets, or reads other entries (cpuinfo, hwinfo, ...), does not compile.
 */
#ifndef PEERMAP_QNX_SYS_SYSPAGE_H
#define PEERMAP_QNX_SYS_SYSPAGE_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct qtime_entry {
    uint64_t cycles_per_sec;  /* rate of ClockCycles(): 1000000000 */
    uint64_t nsec_tod_adjust; /* nsec + this = nanoseconds since the epoch */
    uint64_t nsec;            /* nanoseconds since boot (CLOCK_BOOTTIME) */
    uint32_t nsec_inc;        /* resolution of CLOCK_REALTIME, in ns */
    uint32_t boot_time;       /* seconds since the epoch at boot */
};

struct syspage_entry {
    uint16_t num_cpu;         /* CPUs configured in the system */
};

struct qtime_entry *_pm_syspage_qtime(void);
struct syspage_entry *_pm_syspage(void);

#define SYSPAGE_ENTRY(entry) (_pm_syspage_##entry())
#define _syspage_ptr (_pm_syspage())

#ifdef __cplusplus
}
#endif

#endif
