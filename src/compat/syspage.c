/*
 * The parts of QNX's system page that portable code reads (<sys/syspage.h>
 * in the compatibility layer): the clock and the number of CPUs.
 *
 * QNX's kernel keeps one read-only page up to date.  Here each access is a
 * call that fills a structure of the calling thread with the current values:
 * one per thread, so that no thread overwrites what another is reading.
 */
#include <stdint.h>
#include <time.h>
#include <unistd.h>

/* The compatibility layer's header, named by its place in include/: the
 * library is not built with the layer on its include path. */
#include <qnx/sys/syspage.h>

#include "common/internal.h"
#include "compat/compat.h"

static uint64_t ns_of(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

PM_EXPORT struct qtime_entry *_pm_syspage_qtime(void)
{
    static _Thread_local struct qtime_entry q;
    struct timespec res;
    uint64_t boot = ns_of(CLOCK_BOOTTIME);
    uint64_t tod = ns_of(CLOCK_REALTIME);

    q.cycles_per_sec = PM_CYCLES_PER_SEC;
    q.nsec = boot;
    q.nsec_tod_adjust = tod - boot;
    q.boot_time = (uint32_t)((tod - boot) / 1000000000u);
    q.nsec_inc = clock_getres(CLOCK_REALTIME, &res) == 0 && res.tv_sec == 0
                     ? (uint32_t)res.tv_nsec : 1000000u;
    return &q;
}

PM_EXPORT struct syspage_entry *_pm_syspage(void)
{
    static _Thread_local struct syspage_entry s;
    long n = sysconf(_SC_NPROCESSORS_CONF);
    s.num_cpu = (uint16_t)(n > 0 && n <= UINT16_MAX ? n : 1);
    return &s;
}
