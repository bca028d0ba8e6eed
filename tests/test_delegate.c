/*
 * Connections that speak for another process (src/msg/delegate.c): the
 * FUSE export's way of making a manager judge the program behind each
 * open.  A manager honours the claim only from root or its own user, only
 * before the connection's first message, and only once; anyone else who
 * claims loses the connection.  The attacks run as uid 65534 against a
 * manager running as root.
 */
#include <fcntl.h>
#include <grp.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <devctl.h>
#include <peermap.h>
#include <sys/iomsg.h>
#include <sys/neutrino.h>

#include "harness.h"
#include "helpers.h"
#include "iomgr.h"
#include "msg/msg.h"
#include "resmgr/client.h"
#include "resmgr/pathspace.h"

static struct pm_wire_delegate claim(pid_t pid, uid_t uid, gid_t gid)
{
    struct pm_wire_delegate w;
    memset(&w, 0, sizeof w);
    w.version = PM_WIRE_DELEGATE_VERSION;
    w.pid = pid;
    w.ruid = w.euid = w.suid = uid;
    w.rgid = w.egid = w.sgid = gid;
    w.ngroups = 1;
    w.groups[0] = gid;
    return w;
}

static int who(int coid, struct iom_who *w)
{
    memset(w, 0, sizeof *w);
    return devctl(coid, (int)IOM_DCMD_WHO, w, sizeof *w, NULL);
}

/* A delegated open of `path` for the claimed caller: the coid, or -errno. */
static int open_for(const char *path, const struct pm_wire_delegate *w, int oflag)
{
    struct pm_ps_match m;
    if (pm_pathspace_resolve(path, &m) < 0)
        return -errno;
    int coid = ConnectAttach(ND_LOCAL_NODE, m.pid, m.chid, 0, _NTO_COF_CLOEXEC);
    if (coid < 0)
        return -errno;
    if (pm_delegate_announce(coid, w) < 0) {
        int e = errno;
        ConnectDetach(coid);
        return -e;
    }
    if (pm_open_on(coid, &m, path, pm_open_ioflag(oflag), 0) < 0) {
        int e = errno;
        ConnectDetach(coid);
        return -e;
    }
    return coid;
}

TEST(root_speaks_for_the_caller_and_the_manager_judges_the_caller)
{
    if (geteuid() != 0)
        SKIP("needs root: a root sender speaking for uid 65534");
    REQUIRE(pathspace_fresh() == 0);
    struct iom_res res[] = { { "/dlg/ro", IOM_FILE, 0644, 0, 0 } };
    struct target mgr;
    REQUIRE(iom_start(&mgr, res, 1, 0, 0) == 0);

    /* The caller is some other process: our parent will do. */
    struct pm_wire_delegate w = claim(getppid(), 65534, 65534);
    int coid = open_for("/dlg/ro", &w, O_RDONLY);
    CHECK(coid >= 0);
    if (coid >= 0) {
        struct iom_who got;
        CHECK_EQ_LONG(who(coid, &got), EOK);
        CHECK_EQ_LONG(got.euid, 65534);
        CHECK_EQ_LONG(got.egid, 65534);
        CHECK_EQ_LONG(got.pid, getppid());
        /* The sender is still there for a manager that wants to know. */
        CHECK_EQ_LONG(got.msg_pid, getpid());
        pm_close(coid);
    }
    /* 0644 and owned by root: uid 65534 may not write, whoever sends. */
    CHECK_EQ_LONG(open_for("/dlg/ro", &w, O_WRONLY), -EACCES);
    /* Speaking for root works the same way. */
    struct pm_wire_delegate r = claim(getpid(), 0, 0);
    coid = open_for("/dlg/ro", &r, O_WRONLY);
    CHECK(coid >= 0);
    if (coid >= 0)
        pm_close(coid);
    CHECK_EQ_LONG(iom_stop(&mgr), 0);
}

/* Run as uid 65534: 0 when every attempt failed as it must, else the line
 * that went wrong. */
static int attacker(void)
{
    if (drop_to_nobody() < 0)
        return 1;
    /* Claiming root: the manager drops the connection. */
    struct pm_wire_delegate w = claim(getpid(), 0, 0);
    int coid = open_for("/dlg/victim", &w, O_WRONLY);
    if (coid >= 0)
        return __LINE__;  /* root's write access, won by a claim */
    if (coid != -ENOENT)
        return __LINE__;  /* "its manager went away": the connection was dropped */
    /* Claiming our own ids changes nothing either: we may not speak. */
    w = claim(getpid(), 65534, 65534);
    if (open_for("/dlg/victim", &w, O_RDONLY) >= 0)
        return __LINE__;
    /* Without a claim we get exactly our own rights. */
    int fd = pm_open("/dlg/victim", O_RDONLY);
    if (fd < 0)
        return __LINE__;
    struct iom_who got;
    if (who(fd, &got) != EOK || got.euid != 65534 || got.pid != getpid())
        return __LINE__;
    pm_close(fd);
    if (pm_open("/dlg/victim", O_WRONLY) >= 0 || errno != EACCES)
        return __LINE__;
    return 0;
}

TEST(a_user_cannot_speak_for_root)
{
    if (geteuid() != 0)
        SKIP("needs root: the victim manager runs as root, the attacker as uid 65534");
    REQUIRE(pathspace_fresh() == 0);
    struct iom_res res[] = { { "/dlg/victim", IOM_FILE, 0644, 0, 0 } };
    struct target mgr;
    REQUIRE(iom_start(&mgr, res, 1, 0, 0) == 0);
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0)
        _exit(attacker());
    int st = 0;
    REQUIRE((st = reap_ms(pid, 20000)) != -1);
    CHECK(WIFEXITED(st));
    if (WEXITSTATUS(st))
        fprintf(stderr, "  attacker: line %d\n", WEXITSTATUS(st));
    CHECK_EQ_LONG(WEXITSTATUS(st), 0);
    /* The victim is unharmed and serves on. */
    int fd = pm_open("/dlg/victim", O_RDONLY);
    CHECK(fd >= 0);
    if (fd >= 0)
        pm_close(fd);
    CHECK_EQ_LONG(iom_stop(&mgr), 0);
}

/* Send a delegation datagram on an existing connection, as a client that
 * breaks the rules would. */
static int send_claim(int coid, const struct pm_wire_delegate *w)
{
    struct pm_cconn *c = pm_cconn_get(coid);
    if (!c)
        return -1;
    struct pm_wire_send h = { .kind = PM_WIRE_DELEGATE, .coid = coid, .srclen = sizeof *w };
    iov_t v[2] = { { &h, sizeof h }, { (void *)w, sizeof *w } };
    ssize_t r = pm_sendmsg_fds(c->fd, v, 2, NULL, 0, 0);
    pm_cconn_put(c);
    return r == (ssize_t)(sizeof h + sizeof *w) ? 0 : -1;
}

TEST(a_claim_comes_first_and_once)
{
    REQUIRE(pathspace_fresh() == 0);
    uid_t me = geteuid();
    struct iom_res res[] = { { "/dlg/once", IOM_FILE, 0666, me, getegid() } };
    struct target mgr;
    REQUIRE(iom_start(&mgr, res, 1, 0, 0) == 0);

    /* After the open: the claim would change who opened it. */
    int fd = pm_open("/dlg/once", O_RDONLY);
    REQUIRE(fd >= 0);
    struct pm_wire_delegate w = claim(getpid(), me + 1, getegid());
    CHECK(send_claim(fd, &w) == 0);
    struct iom_who got;
    CHECK(who(fd, &got) != EOK);  /* the manager dropped the connection */
    pm_close(fd);

    /* Twice: the second claim drops it too. */
    int coid = open_for("/dlg/once", &w, O_RDONLY);
    CHECK(coid >= 0);
    if (coid >= 0) {
        CHECK_EQ_LONG(who(coid, &got), EOK);
        CHECK_EQ_LONG(got.euid, me + 1);
        CHECK(send_claim(coid, &w) == 0);
        CHECK(who(coid, &got) != EOK);
        pm_close(coid);
    }
    CHECK_EQ_LONG(iom_stop(&mgr), 0);
}

TEST(the_manager_s_own_user_may_speak)
{
    /* As any user: a sender running as the manager's own user is believed
     * (it could run the manager itself). */
    REQUIRE(pathspace_fresh() == 0);
    uid_t me = geteuid();
    struct iom_res res[] = { { "/dlg/own", IOM_FILE, 0600, me, getegid() } };
    struct target mgr;
    REQUIRE(iom_start(&mgr, res, 1, 0, 0) == 0);
    uid_t other = me == 0 ? 65534 : me + 1;
    struct pm_wire_delegate w = claim(getpid(), other, other);
    /* 0600 of ours: the claimed caller may not read it. */
    CHECK_EQ_LONG(open_for("/dlg/own", &w, O_RDONLY), -EACCES);
    w = claim(getpid(), me, getegid());
    int coid = open_for("/dlg/own", &w, O_RDWR);
    CHECK(coid >= 0);
    if (coid >= 0)
        pm_close(coid);
    CHECK_EQ_LONG(iom_stop(&mgr), 0);
}

/* A root export is exempt from the per-user shares; the users it speaks
 * for are not.  One user opening files through the export by the hundred
 * is held to that user's share of the manager, and root still gets in. */
TEST(a_delegated_caller_is_held_to_its_users_share)
{
    if (geteuid() != 0)
        SKIP("needs root: a root sender speaking for uid 65534");
    REQUIRE(pathspace_fresh() == 0);
    /* The manager inherits a small descriptor limit: its per-user share of
     * descriptors is a quarter of it (peermap_set_client_limits(3)). */
    struct rlimit old, small = { 512, 512 };
    REQUIRE(getrlimit(RLIMIT_NOFILE, &old) == 0);
    if (old.rlim_max < small.rlim_max)
        small.rlim_max = small.rlim_cur = old.rlim_max;
    REQUIRE(setrlimit(RLIMIT_NOFILE, &small) == 0);
    struct iom_res res[] = { { "/dlg/share", IOM_FILE, 0644, 0, 0 } };
    struct target mgr;
    int started = iom_start(&mgr, res, 1, 0, 0);
    setrlimit(RLIMIT_NOFILE, &old);
    REQUIRE(started == 0);

    enum { N = 200 };
    int coids[N], n = 0, refused = 0, other = 0;
    struct pm_wire_delegate w = claim(getppid(), 65534, 65534);
    for (int i = 0; i < N; i++) {
        int c = open_for("/dlg/share", &w, O_RDONLY);
        if (c >= 0)
            coids[n++] = c;
        else if (c == -EAGAIN)
            refused++;
        else
            other++;
    }
    /* 512 / 4 = 128 descriptors for uid 65534, one per connection. */
    CHECK(n <= 128);
    CHECK(refused > 0);
    CHECK_EQ_LONG(other, 0);
    /* Root, itself or spoken for, is never held to a share. */
    struct pm_wire_delegate r = claim(getpid(), 0, 0);
    int c = open_for("/dlg/share", &r, O_RDONLY);
    CHECK(c >= 0);
    if (c >= 0)
        pm_close(c);
    c = pm_open("/dlg/share", O_RDONLY);
    CHECK(c >= 0);
    if (c >= 0)
        pm_close(c);
    /* What a user gives back, it may take again. */
    for (int i = 0; i < n; i++)
        pm_close(coids[i]);
    c = open_for("/dlg/share", &w, O_RDONLY);
    CHECK(c >= 0);
    if (c >= 0)
        pm_close(c);
    CHECK_EQ_LONG(iom_stop(&mgr), 0);
}
