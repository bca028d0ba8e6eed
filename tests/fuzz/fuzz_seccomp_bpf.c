/*
 * libFuzzer target: the seccomp-BPF interpreter runs programs read out of
 * another process (through the kernel, which validated them, but a decoder
 * of foreign data trusts nothing).  Input: a seccomp_data, then instructions.
 * Properties: no crash, no sanitizer report, and the answer for a given
 * program and data is deterministic.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "remote/seccomp_bpf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct seccomp_data d;
    if (size < sizeof d)
        return 0;
    memcpy(&d, data, sizeof d);
    size_t n = (size - sizeof d) / sizeof(struct sock_filter);
    if (n > 4096)
        n = 4096; /* BPF_MAXINSNS */
    struct sock_filter *prog = malloc((n ? n : 1) * sizeof *prog);
    if (!prog)
        return 0;
    memcpy(prog, data + sizeof d, n * sizeof *prog);
    uint32_t a = pm_bpf_run(prog, n, &d);
    uint32_t b = pm_bpf_run(prog, n, &d);
    if (a != b)
        abort();
    (void)pm_seccomp_worse(a, b);
    free(prog);
    return 0;
}
