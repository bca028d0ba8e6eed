#include <stdatomic.h>
#include <stdlib.h>

#include "peermap.h"
#include "common/internal.h"

/* 0 means "not set": the environment, then the compiled-in default, apply. */
static atomic_uint timeout_ms;

PM_EXPORT void peermap_set_timeout_ms(unsigned ms)
{
    atomic_store(&timeout_ms, ms);
}

PM_EXPORT unsigned peermap_timeout_ms(void)
{
    unsigned ms = atomic_load(&timeout_ms);
    if (ms)
        return ms;
    const char *env = getenv("PEERMAP_TIMEOUT_MS");
    if (env) {
        char *end;
        unsigned long v = strtoul(env, &end, 10);
        if (*env && !*end && v > 0 && v <= 3600000)
            return (unsigned)v;
    }
    return PEERMAP_DEFAULT_TIMEOUT_MS;
}

int64_t pm_timeout_ns(void)
{
    return (int64_t)peermap_timeout_ms() * 1000000;
}

/*
 * The answer deadline of the routes without ptrace (peermap.h): a client
 * reply-blocked on us, or an agent, answers from a thread that does nothing
 * else, in microseconds; only a client that will not answer waits it out.
 * It is kept apart from the stop deadline above (2 s, for a thread ptrace
 * must stop) so that a few mute clients cannot stall a server for seconds.
 */
static atomic_uint inband_ms;

PM_EXPORT void peermap_set_inband_timeout_ms(unsigned ms)
{
    atomic_store(&inband_ms, ms > 3600000 ? 3600000 : ms);
}

PM_EXPORT unsigned peermap_inband_timeout_ms(void)
{
    unsigned ms = atomic_load(&inband_ms);
    if (ms)
        return ms;
    const char *env = getenv("PEERMAP_INBAND_TIMEOUT_MS");
    if (env) {
        char *end;
        unsigned long v = strtoul(env, &end, 10);
        if (*env && !*end && v > 0 && v <= 3600000)
            return (unsigned)v;
    }
    /* Never longer than the deadline the program chose for everything. */
    unsigned all = peermap_timeout_ms();
    return all < PEERMAP_DEFAULT_INBAND_TIMEOUT_MS ? all : PEERMAP_DEFAULT_INBAND_TIMEOUT_MS;
}

int64_t pm_inband_timeout_ns(void)
{
    return (int64_t)peermap_inband_timeout_ms() * 1000000;
}
