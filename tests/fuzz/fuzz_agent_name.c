/*
 * libFuzzer target: reading an agent's published name (peer/agent.h).  A
 * caller that finds a target's usual agent name taken reads the names of
 * the target's threads, which the target - possibly hostile - chose, and
 * builds a socket address from what pm_agent_token_of() accepts.
 *
 * Input: the bytes of one /proc/<pid>/task/<tid>/comm read.
 *
 * Properties (abort() on violation): deterministic; an accepted name is
 * "pma." followed by exactly 11 characters of [A-Za-z0-9_-] and nothing
 * else but one newline or NUL; the token is those 11 characters,
 * NUL-terminated; the address built from it fits in sun_path with room to
 * spare for the largest pid.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "peer/agent.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int in_alphabet(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '_';
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char token[PM_AGENT_TOKEN_LEN + 1], again[PM_AGENT_TOKEN_LEN + 1];
    memset(token, 'x', sizeof token);
    int ok = pm_agent_token_of((const char *)data, size, token);
    if (ok != pm_agent_token_of((const char *)data, size, again))
        abort();
    if (ok != 0 && ok != 1)
        abort();
    if (!ok)
        return 0;
    if (size < 15 || size > 16 || memcmp(data, "pma.", 4) != 0)
        abort();
    if (size == 16 && data[15] != '\n' && data[15] != 0)
        abort();
    for (int i = 0; i < PM_AGENT_TOKEN_LEN; i++)
        if (!in_alphabet((char)data[4 + i]) || token[i] != (char)data[4 + i])
            abort();
    if (token[PM_AGENT_TOKEN_LEN] != 0 || memcmp(token, again, sizeof token) != 0)
        abort();
    struct sockaddr_un sa;
    socklen_t len = pm_agent_addr(2147483647, token, &sa);
    if (len > sizeof sa || sa.sun_path[0] != 0)
        abort();
    return 0;
}
