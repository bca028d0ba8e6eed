/*
 * The identity module (src/trust/): a socket's peer is proven to be a given
 * process, never merely a process that once had its pid.
 */
#include <signal.h>
#include <sys/pidfd.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include "harness.h"
#include "helpers.h"
#include "trust/trust.h"

TEST(proc_start_of_self_and_of_the_dead)
{
    uint64_t a = 0, b = 0;
    CHECK(pm_proc_start(getpid(), &a) == 0);
    CHECK(pm_proc_start(getpid(), &b) == 0);
    CHECK(a == b && a > 0);
    pid_t c = fork();
    if (c == 0)
        _exit(0);
    REQUIRE(c > 0);
    /* A zombie is gone for identity purposes. */
    siginfo_t si;
    CHECK(waitid(P_PID, (id_t)c, &si, WEXITED | WNOWAIT) == 0);
    errno = 0;
    CHECK(pm_proc_start(c, &a) == -1 && errno == ESRCH);
    CHECK(waitpid(c, NULL, 0) == c);
    errno = 0;
    CHECK(pm_proc_start(c, &a) == -1 && errno == ESRCH);
    CHECK(pm_proc_start(0, &a) == -1 && errno == ESRCH);
}

TEST(proc_uids_of_self)
{
    uid_t r, e;
    CHECK(pm_proc_uids(getpid(), &r, &e) == 0);
    CHECK(r == getuid() && e == geteuid());
    CHECK(pm_proc_holds_uid(getpid(), geteuid()) == 1);
    CHECK(pm_proc_holds_uid(getpid(), 4242424) == 0);
}

TEST(pidfd_pid_follows_the_process)
{
    int self = pidfd_open(getpid(), 0);
    REQUIRE(self >= 0);
    CHECK(pm_pidfd_pid(self) == getpid());
    CHECK(pm_pidfd_alive(self) == 1);
    close(self);
    CHECK(pm_pidfd_pid(0 /* stdin: no pidfd */) == -1);

    int p[2];
    REQUIRE(pipe(p) == 0);
    pid_t c = fork();
    if (c == 0) {
        char x;
        close(p[1]);
        (void)!read(p[0], &x, 1);
        _exit(0);
    }
    REQUIRE(c > 0);
    close(p[0]);
    int pfd = pidfd_open(c, 0);
    REQUIRE(pfd >= 0);
    CHECK(pm_pidfd_pid(pfd) == c);
    close(p[1]);
    siginfo_t si;
    CHECK(waitid(P_PIDFD, (id_t)pfd, &si, WEXITED) == 0);
    errno = 0;
    CHECK(pm_pidfd_pid(pfd) == -1 && errno == ESRCH);
    CHECK(pm_pidfd_alive(pfd) == 0);
    close(pfd);
}

/* The attack that a pid check alone lets through: process A listens, forks
 * B which keeps the socket, A exits.  SO_PEERCRED still says A's pid, which
 * may by now belong to someone else; the peer must not pass as that pid. */
TEST(peer_that_exited_is_not_its_pid)
{
    if (!pm_peer_pidfd_supported())
        SKIP("this kernel has no SO_PEERPIDFD (Linux < 6.5)");
    int sv[2];
    REQUIRE(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == 0);
    int go[2];
    REQUIRE(pipe(go) == 0);
    pid_t a = fork();
    if (a == 0) {
        /* A: socketpair() records its creator's credentials on both ends,
         * so A makes a pair, sends us one end, and leaves the other to its
         * child B when it exits. */
        int pair[2];
        if (socketpair(AF_UNIX, SOCK_SEQPACKET, 0, pair) < 0)
            _exit(1);
        char c = 0;
        struct iovec iov = { &c, 1 };
        char cbuf[CMSG_SPACE(sizeof(int))];
        struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
                             .msg_control = cbuf, .msg_controllen = sizeof cbuf };
        struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
        cm->cmsg_level = SOL_SOCKET;
        cm->cmsg_type = SCM_RIGHTS;
        cm->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(cm), &pair[0], sizeof(int));
        if (sendmsg(sv[1], &mh, 0) != 1)
            _exit(1);
        pid_t b = fork();
        if (b == 0) {
            char x;
            close(go[1]);
            (void)!read(go[0], &x, 1); /* B keeps pair[1] until we close go */
            _exit(0);
        }
        _exit(0);
    }
    REQUIRE(a > 0);
    close(sv[1]);
    int apfd = pidfd_open(a, 0);
    REQUIRE(apfd >= 0);
    char c;
    struct iovec iov = { &c, 1 };
    char cbuf[CMSG_SPACE(sizeof(int))];
    struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
                         .msg_control = cbuf, .msg_controllen = sizeof cbuf };
    REQUIRE(recvmsg(sv[0], &mh, 0) == 1);
    int s;
    memcpy(&s, CMSG_DATA(CMSG_FIRSTHDR(&mh)), sizeof s);

    struct pm_peer_id id;
    REQUIRE(pm_peer_get(s, &id) == 0);
    CHECK(id.pid == a);
    /* While A lives, the peer is A. */
    CHECK(pm_peer_is_process(&id, a, apfd) == 1);
    /* Another pid is never it. */
    CHECK(pm_peer_is_process(&id, getpid(), apfd) == 0);
    pm_peer_release(&id);

    siginfo_t si;
    REQUIRE(waitid(P_PIDFD, (id_t)apfd, &si, WEXITED) == 0);
    /* A is gone, B holds the socket: SO_PEERCRED still reports A's number,
     * but the peer is no longer process A, whoever holds the number now. */
    int got = pm_peer_get(s, &id);
    if (got == 0) {
        CHECK(pm_peer_is_process(&id, a, apfd) == 0);
        pm_peer_release(&id);
    } else {
        CHECK(errno == ESRCH);
    }
    close(s);
    close(go[1]);
    close(go[0]);
    close(apfd);
    close(sv[0]);
}
