/*
 * Running a target's seccomp filters on a system call before we make the
 * target run it, so that a filter that would kill it (or hand the call to a
 * supervisor and block) is found out first.  The programs come from the
 * kernel (PTRACE_SECCOMP_GET_FILTER, which needs CAP_SYS_ADMIN); the
 * interpreter still trusts nothing in them.
 */
#ifndef PEERMAP_SECCOMP_BPF_H
#define PEERMAP_SECCOMP_BPF_H

#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdint.h>

/* The action (SECCOMP_RET_ACTION_FULL bits) one filter returns for `d`.
 * A malformed program yields SECCOMP_RET_KILL_PROCESS, the kernel's answer
 * to an action it does not know. */
uint32_t pm_bpf_run(const struct sock_filter *prog, size_t len,
                    const struct seccomp_data *d);

/* Whether action a is worse for the target than action b (the kernel runs
 * every filter and applies the worst). */
int pm_seccomp_worse(uint32_t a, uint32_t b);

#endif
