/*
 * The example of QNX's mmap_peer() page, complete and running on Linux.
 *
 * The parent forks and waits.  The child maps one page of anonymous shared
 * memory into its parent with mmap_peer(), checks in the parent's
 * /proc/PID/maps that it is there, unmaps it with munmap_peer() and checks
 * that it is gone.  The parent exits with success only if the child did.
 *
 * Run it as root, or as any user with PEERMAP_ABILITIES=mem_peer in the
 * environment (non-root processes lack PROCMGR_AID_MEM_PEER by default).
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <peermap.h>
#include <sys/mman_peer.h>

#define MAP_LEN 4096

static void report_failure(const char *what)
{
    int e = errno;
    printf("child %d: %s failed: errno %d (%s): %s\n", (int)getpid(), what, e,
           strerror(e), peermap_errmsg());
    if (e == EPERM && geteuid() != 0 && !getenv("PEERMAP_ABILITIES"))
        printf("child %d: hint: a non-root process needs "
               "PEERMAP_ABILITIES=mem_peer\n", (int)getpid());
}

/* Whether /proc/<pid>/maps lists a mapping that starts at addr; its
 * permissions go to perms. */
static int mapped_at(pid_t pid, uintptr_t addr, char perms[5])
{
    char path[64], line[512];
    snprintf(path, sizeof path, "/proc/%d/maps", (int)pid);
    FILE *f = fopen(path, "re");
    if (!f)
        return -1;
    int found = 0;
    while (!found && fgets(line, sizeof line, f)) {
        unsigned long start, end;
        if (sscanf(line, "%lx-%lx %4s", &start, &end, perms) == 3 &&
            start == addr)
            found = 1;
    }
    fclose(f);
    return found;
}

static int child(pid_t parent)
{
    pid_t me = getpid();
    char perms[5] = "";

    void *p = mmap_peer(parent, NULL, MAP_LEN, PROT_READ | PROT_WRITE,
                        MAP_SHARED, NOFD, 0);
    if (p == MAP_FAILED) {
        report_failure("mmap_peer");
        return EXIT_FAILURE;
    }
    printf("child %d: mmap_peer(%d, NULL, %d, PROT_READ|PROT_WRITE, MAP_SHARED, "
           "NOFD, 0) = %p\n", (int)me, (int)parent, MAP_LEN, p);

    /* The address means something only in the parent: look there. */
    int before = mapped_at(parent, (uintptr_t)p, perms);
    if (before == 1)
        printf("child %d: /proc/%d/maps shows %p, %s\n", (int)me, (int)parent,
               p, perms);
    else
        printf("child %d: /proc/%d/maps does not show %p\n", (int)me,
               (int)parent, p);

    if (munmap_peer(parent, p, MAP_LEN) == -1) {
        report_failure("munmap_peer");
        return EXIT_FAILURE;
    }
    printf("child %d: munmap_peer(%d, %p, %d) = 0\n", (int)me, (int)parent, p,
           MAP_LEN);

    int after = mapped_at(parent, (uintptr_t)p, perms);
    if (after == 0)
        printf("child %d: /proc/%d/maps no longer shows %p\n", (int)me,
               (int)parent, p);
    else
        printf("child %d: %p is still mapped in %d\n", (int)me, p, (int)parent);
    return before == 1 && after == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

int main(void)
{
    pid_t parent = getpid();
    int go[2];

    /* Line by line, so that the two processes' output interleaves in the
     * order it happens even through a pipe. */
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (pipe(go) == -1) {
        perror("pipe");
        return EXIT_FAILURE;
    }

    pid_t pid = fork();
    if (pid == -1) {
        perror("fork");
        return EXIT_FAILURE;
    }

    if (pid == 0) {
        char byte;
        close(go[1]);
        /* Wait until the parent has let us trace it; EOF means it died. */
        if (read(go[0], &byte, 1) != 1)
            _exit(EXIT_FAILURE);
        close(go[0]);
        exit(child(parent));
    }

    close(go[0]);
    /* Yama's ptrace_scope=1 lets a process trace only its descendants unless
     * the target names its tracer.  Without Yama the call fails with EINVAL
     * and nothing is needed. */
    if (prctl(PR_SET_PTRACER, (unsigned long)pid, 0, 0, 0) == -1 &&
        errno != EINVAL)
        printf("parent %d: prctl(PR_SET_PTRACER): %s\n", (int)parent,
               strerror(errno));
    printf("parent %d: forked child %d; waiting for it\n", (int)parent, (int)pid);
    if (write(go[1], "g", 1) != 1) {
        perror("write");
        return EXIT_FAILURE;
    }
    close(go[1]);

    /* The child borrows this thread while it waits here.  No signal handler
     * is installed, so no EINTR is expected: the wait just goes on. */
    int status;
    if (waitpid(pid, &status, 0) == -1) {
        perror("waitpid");
        return EXIT_FAILURE;
    }
    int ok = WIFEXITED(status) && WEXITSTATUS(status) == EXIT_SUCCESS;
    printf("parent %d: child %s\n", (int)parent, ok ? "succeeded" : "failed");
    return ok ? EXIT_SUCCESS : EXIT_FAILURE;
}
