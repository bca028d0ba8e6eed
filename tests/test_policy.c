/*
 * Whose word is taken (src/trust/policy.c, src/trust/safe_path.c) and the
 * path space's use of it: the policy's grammar and its fail-closed reading,
 * the trust rule, directories nobody else can rearrange, the per-user
 * limits, and the proof that a channel answering for an entry is the
 * entry's manager's.  Runs as root and as nobody; what needs files of two
 * owners (or root's policy) skips as nobody.
 */
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

#include "harness.h"
#include "helpers.h"
#include "peermap.h"
#include "common/internal.h"
#include "msg/msg.h"
#include "resmgr/pathspace.h"
#include "trust/policy.h"
#include "trust/trust.h"

static int parse(const char *text, struct pm_policy *p)
{
    memset(p, 0, sizeof *p);
    return pm_policy_parse(text, strlen(text), p);
}

static int trusts(const struct pm_policy *p, uid_t client, uid_t owner, const char *path,
                  size_t *root_len)
{
    return pm_policy_trusts(p, client, owner, path, strlen(path), root_len);
}

TEST(grants_users_prefixes_and_limits)
{
    struct pm_policy p;
    size_t rl = 99;
    REQUIRE(parse("# a comment\n\n  allow_attach 1000 /srv//a/ /b\t# trailing\n"
                  "allow_attach nobody /dev/user\n"
                  "limit paths_per_user 10\nlimit entries_per_path 3\n",
                  &p) == 0);
    CHECK(strcmp(p.why, "") == 0);
    CHECK_EQ_LONG(p.nrules, 3);
    CHECK_EQ_LONG(p.nusers, 2);
    CHECK_EQ_LONG(p.users[0], 1000);
    CHECK_EQ_LONG(p.users[1], 65534);
    CHECK_EQ_LONG(p.paths_per_user, 10);
    CHECK_EQ_LONG(p.entries_per_path, 3);
    /* Normalised, component-wise. */
    CHECK(trusts(&p, 0, 1000, "/srv/a", &rl) && rl == 6);
    CHECK(trusts(&p, 0, 1000, "/srv/a/x/y", &rl) && rl == 6);
    CHECK(!trusts(&p, 0, 1000, "/srv/ab", &rl));
    CHECK(!trusts(&p, 0, 1000, "/srv", &rl));
    CHECK(trusts(&p, 0, 1000, "/b", &rl) && rl == 2);
    CHECK(!trusts(&p, 0, 65534, "/srv/a", &rl));
    CHECK(trusts(&p, 5, 65534, "/dev/user/tty", &rl) && rl == 9);
    /* Root's and one's own: always, the whole space. */
    CHECK(trusts(&p, 1000, 0, "/anything", &rl) && rl == 0);
    CHECK(trusts(&p, 4242, 4242, "/anything", &rl) && rl == 0);
    CHECK(!trusts(&p, 4242, 4243, "/anything", &rl));
    pm_policy_clear(&p);

    /* The shortest grant is the delegated prefix. */
    REQUIRE(parse("allow_attach 7 /a/b\nallow_attach 7 /a\nallow_attach 8 /\n", &p) == 0);
    CHECK(trusts(&p, 0, 7, "/a/b/c", &rl) && rl == 2);
    CHECK(trusts(&p, 0, 8, "/x", &rl) && rl == 1);
    pm_policy_clear(&p);
}

TEST(mistakes_grant_nothing)
{
    static const char *bad[] = {
        "allow_attach 1000 relative/path\n",
        "allow_attach 1000 /ok /a/../b\n",             /* all paths or none */
        "allow_attach 1000 /a/./b\n",
        "allow_attach no-such-user-here /x\n",
        "allow_attach @no-such-group-here /x\n",
        "allow_attach 4294967295 /x\n",                /* (uid_t)-1 */
        "allow_attach 1000\n",
        "allow 1000 /x\n",
        "allow_attach -5 /x\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        struct pm_policy p;
        size_t rl;
        REQUIRE(parse(bad[i], &p) == 0);
        CHECK_EQ_LONG(p.nrules, 0);
        CHECK(p.why[0] != 0);
        CHECK(strstr(p.why, "line 1") != NULL);
        CHECK(!trusts(&p, 0, 1000, "/x", &rl));
        pm_policy_clear(&p);
    }
    /* A bad limit keeps the default; a NUL byte spoils its line only. */
    struct pm_policy p;
    REQUIRE(parse("limit paths_per_user 0\nlimit entries_per_path 2000000\n"
                  "limit what 3\n", &p) == 0);
    CHECK_EQ_LONG(p.paths_per_user, PM_POLICY_PATHS_PER_USER);
    CHECK_EQ_LONG(p.entries_per_path, PM_POLICY_ENTRIES_PER_PATH);
    pm_policy_clear(&p);
    static const char nul[] = "allow_attach 1000 /x\0junk\nallow_attach 1001 /y\n";
    memset(&p, 0, sizeof p);
    REQUIRE(pm_policy_parse(nul, sizeof nul - 1, &p) == 0);
    CHECK_EQ_LONG(p.nrules, 1);
    CHECK_EQ_LONG(p.rules[0].uid, 1001);
    CHECK(strstr(p.why, "NUL") != NULL);
    pm_policy_clear(&p);
    /* Naming root grants nothing new. */
    REQUIRE(parse("allow_attach root /\nallow_attach 0 /x\n", &p) == 0);
    CHECK_EQ_LONG(p.nrules, 0);
    pm_policy_clear(&p);
}

TEST(group_members_are_granted)
{
    /* A group of this machine's that lists members, if there is one. */
    struct group *g;
    char name[256] = "", member[256] = "";
    setgrent();
    while ((g = getgrent()))
        if (g->gr_mem && g->gr_mem[0] && getpwnam(g->gr_mem[0])) {
            snprintf(name, sizeof name, "%s", g->gr_name);
            snprintf(member, sizeof member, "%s", g->gr_mem[0]);
            break;
        }
    endgrent();
    if (!name[0])
        SKIP("no group on this machine lists members");
    struct passwd *pw = getpwnam(member);
    REQUIRE(pw);
    uid_t uid = pw->pw_uid;
    char text[600];
    struct pm_policy p;
    size_t rl;
    snprintf(text, sizeof text, "allow_attach @%s /grp\n", name);
    REQUIRE(parse(text, &p) == 0);
    CHECK(uid == 0 || trusts(&p, 12345, uid, "/grp/x", &rl));
    CHECK(!trusts(&p, 12345, uid, "/other", &rl));
    pm_policy_clear(&p);
}

TEST(path_within_is_component_wise)
{
    CHECK(pm_path_within("/", 1, "/anything", 9));
    CHECK(pm_path_within("/dev", 4, "/dev", 4));
    CHECK(pm_path_within("/dev", 4, "/dev/ser1", 9));
    CHECK(!pm_path_within("/dev", 4, "/device", 7));
    CHECK(!pm_path_within("/dev/ser1", 9, "/dev", 4));
}

/* ---- directories nobody else can rearrange ---- */

TEST(safe_dirs_have_one_owner_besides_root)
{
    struct pm_safe_dir s;
    char top[64] = "/tmp/pm-test-safe-XXXXXX", sub[128], link[128];
    REQUIRE(mkdtemp(top));
    REQUIRE(chmod(top, 0755) == 0);
    CHECK(pm_safe_dir_open(top, 0, &s) == 0);
    CHECK_EQ_LONG(s.owner, geteuid());
    close(s.fd);
    /* Writable by others without the sticky bit: anyone could swap it. */
    REQUIRE(chmod(top, 0777) == 0);
    errno = 0;
    CHECK(pm_safe_dir_open(top, 0, &s) == -1 && errno == EPERM);
    CHECK(strcmp(s.bad, top) == 0);
    REQUIRE(chmod(top, 01777) == 0);
    CHECK(pm_safe_dir_open(top, PM_SAFE_PATH, &s) == 0);
    close(s.fd);
    /* A symbolic link on the way is resolved, and the real directories
     * are what is checked. */
    snprintf(sub, sizeof sub, "%s/real", top);
    snprintf(link, sizeof link, "%s/link", top);
    REQUIRE(mkdir(sub, 0755) == 0 && symlink(sub, link) == 0);
    CHECK(pm_safe_dir_open(link, 0, &s) == 0);
    struct stat a, b;
    CHECK(fstat(s.fd, &a) == 0 && stat(sub, &b) == 0 && a.st_ino == b.st_ino);
    close(s.fd);
    errno = 0;
    CHECK(pm_safe_dir_open("/nonexistent-peermap/x", 0, &s) == -1 && errno == ENOENT);
    CHECK(pm_safe_dir_open("relative", 0, &s) == -1 && errno == EINVAL);
    if (geteuid() == 0) {
        /* Two users on the way: neither can be believed for the other. */
        REQUIRE(chown(top, 65534, 65534) == 0);
        REQUIRE(chown(sub, 1, 1) == 0);
        errno = 0;
        CHECK(pm_safe_dir_open(sub, 0, &s) == -1 && errno == EPERM);
        CHECK(strcmp(s.bad, sub) == 0);
        CHECK_EQ_LONG(s.bad_uid, 1);
        REQUIRE(chown(sub, 65534, 65534) == 0);
        CHECK(pm_safe_dir_open(sub, 0, &s) == 0);
        CHECK_EQ_LONG(s.owner, 65534);
        close(s.fd);
    }
    unlink(link);
    rmdir(sub);
    rmdir(top);
}

TEST(root_files_are_roots_all_the_way_up)
{
    struct pm_safe_dir s;
    char top[64] = "/tmp/pm-test-rootfile-XXXXXX", file[128];
    if (geteuid() != 0)
        SKIP("needs root to make root's files and change their owners");
    REQUIRE(mkdtemp(top));
    REQUIRE(chmod(top, 0755) == 0);
    snprintf(file, sizeof file, "%s/f", top);
    int fd = open(file, O_WRONLY | O_CREAT | O_EXCL, 0644);
    REQUIRE(fd >= 0);
    close(fd);
    fd = pm_safe_root_file_open(file, &s);
    CHECK(fd >= 0);
    if (fd >= 0)
        close(fd);
    REQUIRE(chmod(file, 0646) == 0);
    errno = 0;
    CHECK(pm_safe_root_file_open(file, &s) == -1 && errno == EPERM);
    CHECK(strcmp(s.bad, file) == 0);
    REQUIRE(chmod(file, 0644) == 0 && chown(file, 65534, 65534) == 0);
    CHECK(pm_safe_root_file_open(file, &s) == -1 && errno == EPERM);
    REQUIRE(chown(file, 0, 0) == 0 && chown(top, 65534, 65534) == 0);
    CHECK(pm_safe_root_file_open(file, &s) == -1 && errno == EPERM);
    REQUIRE(chown(top, 0, 0) == 0);
    CHECK(pm_safe_root_file_open(top, &s) == -1 && errno == EISDIR);
    unlink(file);
    REQUIRE(mkfifo(file, 0644) == 0);
    CHECK(pm_safe_root_file_open(file, &s) == -1 && errno == EINVAL);
    unlink(file);
    rmdir(top);
}

/* ---- the policy in force ---- */

TEST(policy_file_states_and_reload)
{
    const struct pm_policy *p;
    REQUIRE(pathspace_fresh() == 0);
    p = pm_policy_get();
    CHECK_EQ_LONG(p->state, PM_POLICY_NONE);
    CHECK_EQ_LONG(p->nrules, 0);
    pm_policy_put(p);
    if (geteuid() != 0)
        SKIP("needs root: only root's policy files are obeyed");
    REQUIRE(policy_set("allow_attach 1000 /a\n") == 0);
    p = pm_policy_get();
    CHECK_EQ_LONG(p->state, PM_POLICY_LOADED);
    CHECK_EQ_LONG(p->nrules, 1);
    /* Held across a change: the old one stays valid until put. */
    REQUIRE(policy_set("allow_attach 1000 /a\nallow_attach 1001 /b\n") == 0);
    const struct pm_policy *q = pm_policy_get();
    CHECK_EQ_LONG(q->nrules, 2);
    CHECK_EQ_LONG(p->nrules, 1);
    pm_policy_put(p);
    pm_policy_put(q);
    char file[128];
    snprintf(file, sizeof file, "%s/pathspace.conf", policy_file_dir());
    REQUIRE(chmod(file, 0666) == 0);
    p = pm_policy_get();
    CHECK_EQ_LONG(p->state, PM_POLICY_REFUSED);
    CHECK_EQ_LONG(p->nrules, 0);
    CHECK(strstr(p->why, "writable by root only") != NULL);
    pm_policy_put(p);
    policy_drop();
}

/* ---- limits ---- */

TEST(per_user_limits_are_enospc)
{
    struct pm_ps_handle h[4], x;
    if (geteuid() != 0)
        SKIP("needs root: the limits come from root's policy file");
    REQUIRE(pathspace_fresh() == 0);
    REQUIRE(policy_set("limit entries_per_path 3\nlimit paths_per_user 2\n") == 0);
    for (int i = 0; i < 3; i++)
        REQUIRE(pm_pathspace_attach("/lim/a", 1, 0, 0644, &h[i]) == 0);
    errno = 0;
    CHECK(pm_pathspace_attach("/lim/a", 1, 0, 0644, &x) == -1 && errno == ENOSPC);
    CHECK(strstr(peermap_errmsg(), "entries_per_path") != NULL);
    REQUIRE(pm_pathspace_attach("/lim/b", 1, 0, 0644, &h[3]) == 0);
    pm_begin();
    errno = 0;
    CHECK(pm_pathspace_attach("/lim/c", 1, 0, 0644, &x) == -1 && errno == ENOSPC);
    CHECK(strstr(peermap_errmsg(), "paths_per_user") != NULL);
    /* Room again once one goes. */
    CHECK_EQ_LONG(pm_pathspace_detach(&h[3]), 0);
    CHECK_EQ_LONG(pm_pathspace_attach("/lim/c", 1, 0, 0644, &x), 0);
    CHECK_EQ_LONG(pm_pathspace_detach(&x), 0);
    CHECK_EQ_LONG(pm_pathspace_detach(&h[0]), 0);
    CHECK_EQ_LONG(pm_pathspace_attach("/lim/a", 1, 0, 0644, &h[0]), 0);
    for (int i = 0; i < 3; i++)
        CHECK_EQ_LONG(pm_pathspace_detach(&h[i]), 0);
    policy_drop();
}

static int die_attached(void *arg)
{
    struct pm_ps_handle h;
    (void)arg;
    return pm_pathspace_attach("/lim/a", 1, 0, 0644, &h) == 0 ? 0 : 1;
}

TEST(dead_entries_do_not_count)
{
    struct pm_ps_handle h;
    if (geteuid() != 0)
        SKIP("needs root: the limits come from root's policy file");
    REQUIRE(pathspace_fresh() == 0);
    REQUIRE(policy_set("limit entries_per_path 2\n") == 0);
    for (int i = 0; i < 2; i++) {
        pid_t c = fork();
        REQUIRE(c >= 0);
        if (c == 0)
            _exit(die_attached(NULL));
        int st;
        REQUIRE((st = reap_ms(c, 20000)) != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0);
    }
    /* Both dead managers' entries are swept to make room. */
    CHECK_EQ_LONG(pm_pathspace_attach("/lim/a", 1, 0, 0644, &h), 0);
    CHECK_EQ_LONG(pm_pathspace_detach(&h), 0);
    policy_drop();
}

/* ---- the channel must be the entry's manager's ---- */

/* A process that is alive and nothing more: the entry names it. */
static int idle(int in, int out, void *arg)
{
    char c;
    (void)arg;
    child_write_full(out, "R", 1);
    child_read_full(in, &c, 1);
    return 0;
}

TEST(a_channel_bound_by_someone_else_is_refused)
{
    struct target t;
    struct pm_ps_handle h;
    struct pm_ps_match m;
    REQUIRE(pathspace_fresh() == 0);
    REQUIRE(target_start_ready(&t, idle, NULL) >= 0);
    /* This process binds the address of the child's channel 77 (which the
     * child never made), as a squatter would after a manager lost it. */
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    size_t nlen;
    pm_channel_name(t.pid, 77, sa.sun_path, sizeof sa.sun_path, &nlen);
    int sq = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    REQUIRE(sq >= 0);
    REQUIRE(bind(sq, (struct sockaddr *)&sa,
                 (socklen_t)(offsetof(struct sockaddr_un, sun_path) + nlen)) == 0);
    REQUIRE(listen(sq, 4) == 0);
    /* The entry, as the library reads it: resolution trusts it (our uid,
     * the child is alive and ours) - only the connect can tell. */
    REQUIRE(pm_pathspace_attach("/squat", 77, 0, 0666, &h) == 0);
    REQUIRE(pm_pathspace_resolve("/squat", &m) == 0);
    m.pid = t.pid;
    m.start = 0;
    REQUIRE(pm_proc_start(t.pid, &m.start) == 0);
    pm_begin();
    errno = 0;
    CHECK(pm_pathspace_connect(&m, 0) == -1 && errno == ENOENT);
    /* Refused when connecting (ConnectAttach proves the listener is the
     * process) or right after (the listener's owner): either way the
     * reason names the manager's pid. */
    char pidtxt[32];
    snprintf(pidtxt, sizeof pidtxt, "pid %d", (int)t.pid);
    CHECK(strstr(peermap_errmsg(), pidtxt) != NULL);
    if (!strstr(peermap_errmsg(), pidtxt))
        fprintf(stderr, "  reason: %s\n", peermap_errmsg());
    /* Nothing was sent to the squatter. */
    int conn = accept4(sq, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (conn >= 0) {
        char buf[64];
        ssize_t n = recv(conn, buf, sizeof buf, MSG_DONTWAIT);
        CHECK(n <= 0);
        close(conn);
    }
    close(sq);
    CHECK_EQ_LONG(pm_pathspace_detach(&h), 0);
    target_finish(&t, 5000);
}
