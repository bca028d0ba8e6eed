/*
 * The process at the other end of an AF_UNIX socket.  SO_PEERCRED gives
 * the pid and ids the peer had when it called connect() or listen(); the
 * pid number alone can name a different process later (the peer exited,
 * its pid was reused, the socket lives on in a child it forked).
 * SO_PEERPIDFD (Linux 6.5) gives a pidfd for that very process, which is
 * what makes "is this really process P?" answerable.
 */
#include <errno.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <unistd.h>

#include "trust/trust.h"

#ifndef SO_PEERPIDFD
#define SO_PEERPIDFD 77 /* asm-generic and x86; glibc 2.36 lacks the name */
#endif

/* 0 unknown, 1 supported, -1 not supported by this kernel. */
static atomic_int peerpidfd_support;

int pm_peer_pidfd_supported(void)
{
    if (atomic_load(&peerpidfd_support) == 0) {
        int sv[2];
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0) {
            int pfd = -1;
            socklen_t len = sizeof pfd;
            int ok = getsockopt(sv[0], SOL_SOCKET, SO_PEERPIDFD, &pfd, &len) == 0;
            if (ok)
                close(pfd);
            atomic_store(&peerpidfd_support, ok ? 1 : -1);
            close(sv[0]);
            close(sv[1]);
        }
    }
    return atomic_load(&peerpidfd_support) > 0;
}

int pm_peer_get(int sock, struct pm_peer_id *id)
{
    struct ucred cr;
    socklen_t len = sizeof cr;
    id->pidfd = -1;
    if (getsockopt(sock, SOL_SOCKET, SO_PEERCRED, &cr, &len) < 0)
        return -1;
    id->pid = cr.pid;
    id->uid = cr.uid;
    id->gid = cr.gid;
    if (atomic_load(&peerpidfd_support) < 0)
        return 0;
    int pfd = -1;
    len = sizeof pfd;
    if (getsockopt(sock, SOL_SOCKET, SO_PEERPIDFD, &pfd, &len) == 0) {
        atomic_store(&peerpidfd_support, 1);
        id->pidfd = pfd;
        return 0;
    }
    if (errno == EINVAL && pm_peer_pidfd_supported()) {
        /* Linux 6.5 to 6.14 make pidfds for live processes only: EINVAL
         * for a peer that has exited (later kernels give a pidfd that says
         * so).  The kernel knows SO_PEERPIDFD, as our own socketpair shows:
         * this peer is gone. */
        errno = ESRCH;
        return -1;
    }
    if (errno == ENOPROTOOPT || errno == EINVAL) {
        /* An older kernel: remember, so that the next peer costs nothing. */
        atomic_store(&peerpidfd_support, -1);
        return 0;
    }
    /* ESRCH, or EINVAL from a kernel that has SO_PEERPIDFD (6.5 to 6.14
     * answer EINVAL for a peer already reaped): the peer is gone. */
    errno = ESRCH;
    return -1;
}

void pm_peer_release(struct pm_peer_id *id)
{
    if (id->pidfd >= 0)
        close(id->pidfd);
    id->pidfd = -1;
}

int pm_peer_is_process(const struct pm_peer_id *id, pid_t pid, int pidfd)
{
    if (id->pid != pid)
        return 0;
    if (id->pidfd < 0) {
        errno = ENOTSUP;
        return -1;
    }
    /* The peer first, the target last: see trust.h for why this order
     * proves they are one process. */
    if (pm_pidfd_pid(id->pidfd) != pid)
        return 0;
    if (pm_pidfd_pid(pidfd) != pid)
        return 0;
    return 1;
}

int pm_peer_is_pid(const struct pm_peer_id *id, pid_t pid)
{
    if (id->pid != pid)
        return 0;
    if (id->pidfd < 0) {
        errno = ENOTSUP;
        return -1;
    }
    /* Alive now, and it held `pid` at connect/listen time: it holds it now
     * (a process keeps its pid for life; a zombie too, until reaped). */
    return pm_pidfd_alive(id->pidfd);
}

int pm_peer_key(const struct pm_peer_id *id, uint64_t *key)
{
    if (id->pidfd >= 0)
        return pm_pidfd_key(id->pidfd, key);
    return pm_proc_key(id->pid, key);
}
