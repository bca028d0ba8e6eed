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
