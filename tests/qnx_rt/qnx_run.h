/*
 * qnx_run.h - scaffolding for the QNX-style programs in this directory,
 * not part of what they show: a private path space, a child process with a
 * deadline, and a verdict.  Each program is written as QNX's documentation
 * teaches and exits 0 when it behaved as it would on QNX.
 */
#ifndef QNX_RUN_H
#define QNX_RUN_H

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int qr_failed;

#define QR_EXPECT(cond, ...)                                               \
    do {                                                                   \
        if (!(cond)) {                                                     \
            fprintf(stderr, "%s:%d: FAILED: ", __FILE__, __LINE__);       \
            fprintf(stderr, __VA_ARGS__);                                  \
            fprintf(stderr, " (errno %d: %s)\n", errno, strerror(errno));  \
            qr_failed = 1;                                                 \
        }                                                                  \
    } while (0)

/* A path space of our own (PEERMAP_PATHSPACE), removed at exit. */
static char qr_space[64];
static void qr_space_remove(void)
{
    char cmd[128];
    if (qr_space[0]) {
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", qr_space);
        if (system(cmd) != 0) {
            /* leftovers in /tmp: harmless */
        }
    }
}
static inline void qr_pathspace(void)
{
    snprintf(qr_space, sizeof qr_space, "/tmp/qnx-style-XXXXXX");
    if (!mkdtemp(qr_space) || chmod(qr_space, 01777) < 0 ||
        setenv("PEERMAP_PATHSPACE", qr_space, 1) < 0) {
        perror("path space");
        exit(2);
    }
    atexit(qr_space_remove);
}

/* Fork a child running fn(arg); it dies with us. */
static inline pid_t qr_fork(int (*fn)(void *), void *arg)
{
    pid_t p = fork();
    if (p == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        _exit(fn(arg));
    }
    return p;
}

/* waitpid() with a deadline (ms), on a pidfd; the child is killed when it
 * passes.  The wait status, or -1. */
static inline int qr_wait(pid_t pid, int ms)
{
    int st;
    int pfd = (int)syscall(SYS_pidfd_open, pid, 0);
    struct pollfd p = { .fd = pfd, .events = POLLIN };
    if (pfd >= 0 && poll(&p, 1, ms) == 1) {
        close(pfd);
        return waitpid(pid, &st, 0) == pid ? st : -1;
    }
    if (pfd >= 0)
        close(pfd);
    kill(pid, SIGKILL);
    waitpid(pid, &st, 0);
    fprintf(stderr, "child %d did not end within %d ms: killed\n", (int)pid, ms);
    return -1;
}

static inline int qr_verdict(const char *what)
{
    printf("%s: %s\n", what, qr_failed ? "FAILED" : "ok");
    return qr_failed ? 1 : 0;
}

#endif
