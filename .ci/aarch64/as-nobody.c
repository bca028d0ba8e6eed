/*
 * What tests/run-unprivileged.sh does with util-linux's setpriv, for the
 * emulated machine, whose busybox setpriv cannot change uids: run a program
 * as nobody (uid/gid 65534, no supplementary groups, no capabilities) with
 * the environment the unprivileged suite expects.
 */
#define _GNU_SOURCE
#include <grp.h>
#include <linux/capability.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: as-nobody PROGRAM [ARG...]\n");
        return 2;
    }
    if (getuid() != 0) {
        puts("not root: nothing to drop");
        return 77;
    }
    struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
    struct __user_cap_data_struct d[2] = { { 0 } };
    /* Leaving uid 0 clears the permitted and effective sets; the
     * inheritable and ambient ones go explicitly. */
    if (setgroups(0, NULL) < 0 || setresgid(65534, 65534, 65534) < 0 ||
        setresuid(65534, 65534, 65534) < 0 ||
        syscall(SYS_capset, &h, d) < 0 ||
        prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0) {
        perror("as-nobody: dropping privileges");
        return 1;
    }
    setenv("PEERMAP_ABILITIES", "mem_peer", 1);
    setenv("PEERMAP_TEST_UNPRIVILEGED", "1", 1);
    execv(argv[1], argv + 1);
    perror("as-nobody: exec");
    return 1;
}
