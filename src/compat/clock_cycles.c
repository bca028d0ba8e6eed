/*
 * ClockCycles(): QNX's free-running 64-bit counter.
 *
 * QNX reads the CPU's cycle counter and publishes its rate in the system
 * page.  Linux does not publish the TSC's rate to processes, and a rate
 * measured here would be off by the error of the measurement, so the
 * counter is CLOCK_MONOTONIC_RAW in nanoseconds (read through the vDSO,
 * without a system call) and the published rate, SYSPAGE_ENTRY(qtime)->
 * cycles_per_sec, is exactly 10^9.  RAW rather than plain MONOTONIC because
 * it is not slewed by NTP, like a hardware counter.
 */
#include <stdint.h>
#include <time.h>

#include <sys/neutrino.h>

#include "common/internal.h"
#include "compat/compat.h"

PM_EXPORT uint64_t ClockCycles(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_RAW, &ts);
    return (uint64_t)ts.tv_sec * PM_CYCLES_PER_SEC + (uint64_t)ts.tv_nsec;
}
