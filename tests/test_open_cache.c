/*
 * The path-space resolution cache (pathspace.h, "Cache"): a cached result
 * is used only while everything it was read from is unchanged, and what
 * the stamps cannot show - the manager's death, another process behind the
 * pid, the manager giving up its owner's uid - is proven on the listener
 * at every open.
 *
 * Every test works in a fresh path space (PEERMAP_PATHSPACE).  Managers in
 * other processes are forked children driven through pipes; nothing sleeps.
 */
#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <linux/capability.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <peermap.h>
#include <sys/iomsg.h>
#include <sys/neutrino.h>

#include "harness.h"
#include "helpers.h"
#include "../src/resmgr/pathspace.h"


/* ---- a raw manager: answers opens and closes, nothing else ---- */

struct mgr_arg {
    const char *path;
    mode_t mode;
    gid_t gid;    /* the group to attach with (its entry file's), 0: ours */
};

/* Serve on chid until told on `in`: 'd' = drop to nobody and become
 * dumpable (then 'k'), 'q' = quit.  Replies EOK to _IO_CONNECT and
 * _IO_CLOSE. */
static int manager_body(int in, int out, void *varg)
{
    struct mgr_arg *a = varg;
    if (a->gid && setegid(a->gid) < 0)
        return 6;
    int chid = ChannelCreate(0);
    struct pm_ps_handle h;
    if (chid < 0 || pm_pathspace_attach(a->path, chid, 0, S_IFCHR | a->mode, &h) < 0)
        return 1;
    if (child_write_full(out, &chid, sizeof chid) < 0)
        return 2;
    struct pollfd pf[1] = { { in, POLLIN, 0 } };
    for (;;) {
        /* Commands first: the test sends one only between opens. */
        if (poll(pf, 1, 0) == 1) {
            char c;
            if (read(in, &c, 1) != 1 || c == 'q')
                return 0;
            if (c == 'd') {
                if (drop_to_nobody() < 0 || prctl(PR_SET_DUMPABLE, 1) < 0)
                    return 3;
                if (child_write_full(out, "k", 1) < 0)
                    return 4;
            }
            continue;
        }
        union {
            uint16_t type;
            struct _io_connect c;
            char room[512];
        } msg;
        struct _msg_info info;
        rcvid_t r = MsgReceive(chid, &msg, sizeof msg, &info);
        if (r < 0)
            return 5;
        if (r == 0)
            continue;
        if (msg.type == _IO_CONNECT || msg.type == _IO_CLOSE)
            MsgReply(r, 0, NULL, 0);
        else if (msg.type == 0xfffe) /* the test's nudge: look at the pipe */
            MsgReply(r, 0, NULL, 0);
        else
            MsgError(r, ENOSYS);
    }
}

static int open_close(const char *path)
{
    int fd = pm_open(path, O_RDONLY);
    if (fd < 0)
        return errno;
    return pm_close(fd) == 0 ? 0 : errno;
}

/* Make the manager look at its pipe: a message it answers at once. */
static int mgr_chid;
static void nudge(pid_t pid)
{
    int coid = ConnectAttach(ND_LOCAL_NODE, pid, mgr_chid, _NTO_SIDE_CHANNEL, 0);
    if (coid < 0)
        return;
    uint16_t t = 0xfffe;
    MsgSend(coid, &t, sizeof t, NULL, 0);
    ConnectDetach(coid);
}

static int resolve_cached(const char *path, struct pm_ps_match *m)
{
    errno = 0;
    return pm_pathspace_resolve_cached(path, m) == 0 ? 0 : errno;
}

/* The entry file of the one entry of `uid` for `path` (attached by the
 * library): its full name, for chmod. */
static int entry_file(uid_t uid, const char *path, char *out, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (const char *s = path; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 0x100000001b3ull;
    }
    char dir[PATH_MAX];
    if ((size_t)snprintf(dir, sizeof dir, "%s/%u/%016llx", pathspace_dir(), (unsigned)uid,
                         (unsigned long long)h) >= sizeof dir)
        return -1;
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    struct dirent *e;
    int found = -1;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.' && strlen(dir) + strlen(e->d_name) + 2 <= n) {
            strcpy(out, dir);
            strcat(out, "/");
            strcat(out, e->d_name);
            found = 0;
        }
    closedir(d);
    return found;
}

/* ---- tests ---- */

TEST(a_cached_result_follows_every_change_to_what_it_was_read_from)
{
    struct pm_ps_handle a, b, c;
    struct pm_ps_match m;
    REQUIRE(pathspace_fresh() == 0);
    REQUIRE(pm_pathspace_attach("/x", 1, PM_PS_DIR, 0644, &a) == 0);
    REQUIRE(resolve_cached("/x/f", &m) == 0);
    CHECK_EQ_LONG(m.chid, 1);
    CHECK_EQ_LONG(m.cached, 0);
    REQUIRE(resolve_cached("/x/f", &m) == 0);
    CHECK_EQ_LONG(m.chid, 1);
    CHECK_EQ_LONG(m.cached, 1);

    /* A newer attach of the same path (its bucket changes). */
    REQUIRE(pm_pathspace_attach("/x", 2, PM_PS_DIR, 0644, &b) == 0);
    REQUIRE(resolve_cached("/x/f", &m) == 0);
    CHECK_EQ_LONG(m.chid, 2);
    CHECK_EQ_LONG(m.cached, 0);
    /* A longer prefix (a bucket that did not exist: the user directory). */
    REQUIRE(pm_pathspace_attach("/x/f", 3, 0, 0644, &c) == 0);
    REQUIRE(resolve_cached("/x/f", &m) == 0);
    CHECK_EQ_LONG(m.chid, 3);
    REQUIRE(resolve_cached("/x/f", &m) == 0);
    CHECK_EQ_LONG(m.cached, 1);
    /* Detaches. */
    CHECK_EQ_LONG(pm_pathspace_detach(&c), 0);
    REQUIRE(resolve_cached("/x/f", &m) == 0);
    CHECK_EQ_LONG(m.chid, 2);
    CHECK_EQ_LONG(pm_pathspace_detach(&b), 0);
    REQUIRE(resolve_cached("/x/f", &m) == 0);
    CHECK_EQ_LONG(m.chid, 1);
    REQUIRE(resolve_cached("/x/f", &m) == 0);
    CHECK_EQ_LONG(m.cached, 1);
    /* A chmod of the chosen entry's file: its ctime. */
    char file[PATH_MAX + 64];
    REQUIRE(entry_file(geteuid(), "/x", file, sizeof file) == 0);
    REQUIRE(chmod(file, 0640) == 0);
    REQUIRE(resolve_cached("/x/f", &m) == 0);
    CHECK_EQ_LONG(m.cached, 0);
    /* A chmod of the user directory (someone could have made it unsafe). */
    char udir[PATH_MAX];
    snprintf(udir, sizeof udir, "%s/%u", pathspace_dir(), (unsigned)geteuid());
    REQUIRE(resolve_cached("/x/f", &m) == 0);
    REQUIRE(chmod(udir, 0755) == 0);
    REQUIRE(resolve_cached("/x/f", &m) == 0);
    CHECK_EQ_LONG(m.cached, 0);
    /* Another path space (the environment). */
    REQUIRE(resolve_cached("/x/f", &m) == 0);
    CHECK_EQ_LONG(m.cached, 1);
    REQUIRE(pathspace_fresh() == 0);
    CHECK_EQ_LONG(resolve_cached("/x/f", &m), ENOENT);
}

TEST(a_cached_result_never_outlives_its_manager)
{
    struct target t;
    struct mgr_arg a = { "/dev/cached", 0666, 0 };
    REQUIRE(pathspace_fresh() == 0);
    REQUIRE(target_start(&t, manager_body, &a) == 0);
    REQUIRE(target_read(&t, &mgr_chid, sizeof mgr_chid, 20000) == 0);
    CHECK_EQ_LONG(open_close("/dev/cached"), 0);
    CHECK_EQ_LONG(open_close("/dev/cached"), 0); /* from the cache */
    kill(t.pid, SIGKILL);
    int st;
    REQUIRE((st = reap_ms(t.pid, 20000)) != -1);
    t.pid = 0;
    /* Its entry is still there (nobody swept it): the cache's stamps have
     * not moved, and the open must still find nobody. */
    CHECK_EQ_LONG(open_close("/dev/cached"), ENOENT);
    target_finish(&t, 1000);
}

TEST(a_listener_that_is_not_the_process_that_attached_is_refused)
{
    /* A result whose manager key is not the listener's: what a cached
     * result looks like after the manager died and another process got
     * its pid and made a channel of the same number. */
    struct target t;
    struct mgr_arg a = { "/dev/keyed", 0666, 0 };
    REQUIRE(pathspace_fresh() == 0);
    REQUIRE(target_start(&t, manager_body, &a) == 0);
    REQUIRE(target_read(&t, &mgr_chid, sizeof mgr_chid, 20000) == 0);
    struct pm_ps_match m;
    REQUIRE(resolve_cached("/dev/keyed", &m) == 0);
    CHECK(m.key != 0);
    int coid = pm_pathspace_connect(&m, 0);
    CHECK(coid >= 0);
    if (coid >= 0)
        ConnectDetach(coid);
    m.key ^= 1;
    errno = 0;
    CHECK_EQ_LONG(pm_pathspace_connect(&m, 0), -1);
    CHECK_EQ_LONG(errno, ENOENT);
    CHECK(target_write(&t, "q", 1) == 0);
    nudge(t.pid);
    target_finish(&t, 20000);
}

TEST(a_root_manager_that_gives_up_root_loses_its_cached_clients)
{
    if (getuid() != 0)
        SKIP("needs root for a manager that gives up root");
    struct target t;
    struct mgr_arg a = { "/dev/rooted", 0666, 0 };
    char c;
    REQUIRE(pathspace_fresh() == 0);
    REQUIRE(target_start(&t, manager_body, &a) == 0);
    REQUIRE(target_read(&t, &mgr_chid, sizeof mgr_chid, 20000) == 0);
    CHECK_EQ_LONG(open_close("/dev/rooted"), 0);
    CHECK_EQ_LONG(open_close("/dev/rooted"), 0); /* from the cache */
    /* The manager becomes nobody's, and dumpable: any process of nobody
     * could now control it; root's entry no longer speaks for it. */
    CHECK(target_write(&t, "d", 1) == 0);
    nudge(t.pid);
    c = 0;
    CHECK(target_read(&t, &c, 1, 20000) == 0);
    CHECK(c == 'k');
    CHECK_EQ_LONG(open_close("/dev/rooted"), ENOENT);
    CHECK(target_write(&t, "q", 1) == 0);
    nudge(t.pid);
    target_finish(&t, 20000);
}

static int nobody_opens(void *arg)
{
    const char *path = arg;
    if (drop_to_nobody() < 0)
        return 90;
    return open_close(path);
}


struct nobody_cycle {
    const char *path;
    int ready[2], go[2];
};

static int nobody_twice(void *arg)
{
    struct nobody_cycle *n = arg;
    if (drop_to_nobody() < 0)
        return 90;
    int first = open_close(n->path);
    int again = open_close(n->path); /* cached now */
    char c = 'r';
    if (first || again || write(n->ready[1], &c, 1) != 1 || read(n->go[0], &c, 1) != 1)
        return 91;
    return open_close(n->path);
}

TEST(an_entry_made_unreachable_is_refused_at_the_next_open)
{
    if (getuid() != 0)
        SKIP("needs root for a second user");
    struct target t;
    struct mgr_arg a = { "/dev/shrinking", 0666, 0 };
    char c;
    REQUIRE(pathspace_fresh() == 0);
    REQUIRE(target_start(&t, manager_body, &a) == 0);
    REQUIRE(target_read(&t, &mgr_chid, sizeof mgr_chid, 20000) == 0);
    CHECK_EQ_LONG(run_in_child(nobody_opens, (void *)a.path, 0), 0);
    struct nobody_cycle n = { a.path, { -1, -1 }, { -1, -1 } };
    REQUIRE(pipe(n.ready) == 0 && pipe(n.go) == 0);
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0)
        _exit(nobody_twice(&n));
    REQUIRE(read(n.ready[0], &c, 1) == 1);
    /* The owner takes the entry back from everyone else. */
    char file[PATH_MAX + 64];
    REQUIRE(entry_file(0, a.path, file, sizeof file) == 0);
    REQUIRE(chmod(file, 0600) == 0);
    REQUIRE(write(n.go[1], "g", 1) == 1);
    int st;
    REQUIRE((st = reap_ms(pid, 20000)) != -1);
    CHECK(WIFEXITED(st));
    CHECK_EQ_LONG(WEXITSTATUS(st), EACCES);
    close(n.ready[0]);
    close(n.ready[1]);
    close(n.go[0]);
    close(n.go[1]);
    CHECK(target_write(&t, "q", 1) == 0);
    nudge(t.pid);
    target_finish(&t, 20000);
}

#define SOMEGROUP 31337

struct grouped {
    const char *path;
    int ready[2], go[2];
};

/* As nobody with one supplementary group and CAP_SETGID only (no DAC
 * override): open twice (the second from the cache), then give up the
 * group and open again. */
static int drops_its_group(void *arg)
{
    struct grouped *g = arg;
    gid_t grp = SOMEGROUP;
    if (setgroups(1, &grp) < 0 || prctl(PR_SET_KEEPCAPS, 1) < 0 ||
        setresgid(NOBODY, NOBODY, NOBODY) < 0 || setresuid(NOBODY, NOBODY, NOBODY) < 0)
        return 90;
    struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
    struct __user_cap_data_struct d[2];
    memset(d, 0, sizeof d);
    d[0].effective = d[0].permitted = 1u << CAP_SETGID;
    if (syscall(SYS_capset, &h, d) < 0)
        return 91;
    int first = open_close(g->path);
    int again = open_close(g->path);
    if (first || again)
        return 92;
    if (setgroups(0, NULL) < 0)
        return 93;
    return open_close(g->path);
}

TEST(a_client_that_gives_up_the_group_an_entry_needs_is_refused_at_once)
{
    if (getuid() != 0)
        SKIP("needs root for groups and another user");
    struct target t;
    /* Root's entry, readable by its group only. */
    struct mgr_arg a = { "/dev/grouped", 0640, SOMEGROUP };
    REQUIRE(pathspace_fresh() == 0);
    REQUIRE(target_start(&t, manager_body, &a) == 0);
    REQUIRE(target_read(&t, &mgr_chid, sizeof mgr_chid, 20000) == 0);
    struct grouped g = { a.path, { -1, -1 }, { -1, -1 } };
    CHECK_EQ_LONG(run_in_child(drops_its_group, &g, 0), EACCES);
    CHECK(target_write(&t, "q", 1) == 0);
    nudge(t.pid);
    target_finish(&t, 20000);
}
