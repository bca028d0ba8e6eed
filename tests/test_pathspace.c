/*
 * The path space (src/resmgr/pathspace.h): attach, resolve, shadowing,
 * liveness, permissions.
 *
 * Every test works in a fresh directory of its own (PEERMAP_PATHSPACE, mode
 * 01777 like the real one).  Managers of other processes are forked children
 * synchronised with pipes and waitid(); nothing sleeps.  The program runs as
 * root and as nobody: the parts that need two users fork a child that drops
 * to uid 65534 and are skipped when not run as root.  Entries are sometimes
 * written by hand with this file's own copy of the on-disk format, so that
 * a bug shared with the library's writer cannot hide.
 */
#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>

#include "harness.h"
#include "helpers.h"
#include "../src/common/internal.h"
#include "../src/resmgr/pathspace.h"



/* Entries (not temporary files) in the path space: the files in
 * <space>/<uid>/<hash>/. */
static int count_in(int fd0, int depth)
{
    int n = 0;
    DIR *d = fdopendir(fd0);
    if (!d) {
        close(fd0);
        return 0;
    }
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        if (depth == 2) {
            n++;
            continue;
        }
        int fd = openat(dirfd(d), e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd >= 0)
            n += count_in(fd, depth + 1);
    }
    closedir(d);
    return n;
}

static int count_entries(void)
{
    int fd = open(pathspace_dir(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    return fd < 0 ? -1 : count_in(fd, 0);
}

static int resolve_errno(const char *path)
{
    struct pm_ps_match m;
    errno = 0;
    return pm_pathspace_resolve(path, &m) == 0 ? 0 : errno;
}

/* Drop to nobody, for good: in forked children only. */

/* ---- the on-disk format, written independently of the library ---- */

static uint64_t fnv1a(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 0x100000001b3ull;
    }
    return h;
}

/* An entry of this process's user, written by hand in the version-2 layout
 * and format: <space>/<uid>/<hash>/<seq>.<pid>.<start>.<flags>.<random>. */
static int fake_entry(const char *path, pid_t pid, unsigned long long start, int chid,
                      unsigned flags, mode_t perms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    unsigned long long seq = (unsigned long long)ts.tv_sec * 1000000000ull + ts.tv_nsec;
    unsigned uid = (unsigned)geteuid();
    char dir[PATH_MAX], file[PATH_MAX + 128], rec[PATH_MAX + 256];
    snprintf(dir, sizeof dir, "%s/%u", pathspace_dir(), uid);
    if (mkdir(dir, 0755) < 0 && errno != EEXIST)
        return -1;
    snprintf(dir, sizeof dir, "%s/%u/%016llx", pathspace_dir(), uid,
             (unsigned long long)fnv1a(path));
    if (mkdir(dir, 0755) < 0 && errno != EEXIST)
        return -1;
    snprintf(file, sizeof file, "%s/%020llu.%d.%llu.%x.%08x", dir, seq, (int)pid, start, flags,
             0x1234u);
    int len = snprintf(rec, sizeof rec,
                       "peermap-pathspace 2\nseq %llu\npid %d\nstart %llu\nuid %u\nchid %d\n"
                       "flags %#x\nmode %#o\nhandle 0\npath %s\n",
                       seq, (int)pid, start, uid, chid, flags, (unsigned)(S_IFREG | perms), path);
    int fd = open(file, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return -1;
    int ok = write(fd, rec, (size_t)len) == len && fchmod(fd, perms) == 0;
    close(fd);
    return ok ? 0 : -1;
}

/* ---- tests ---- */

TEST(file_manager_matches_its_path_only)
{
    struct pm_ps_handle h;
    struct pm_ps_match m;
    REQUIRE(pathspace_fresh() == 0);
    REQUIRE(pm_pathspace_attach("/dev//ser1/", 7, 0, S_IFCHR | 0666, &h) == 0);
    CHECK_EQ_LONG(count_entries(), 1);

    memset(&m, 0xff, sizeof m);
    REQUIRE(pm_pathspace_resolve("/dev/ser1", &m) == 0);
    CHECK_EQ_LONG(m.pid, getpid());
    CHECK_EQ_LONG(m.chid, 7);
    CHECK_EQ_LONG(m.flags, 0);
    CHECK_EQ_LONG(m.mode, S_IFCHR | 0666);
    CHECK_EQ_LONG(m.uid, geteuid());
    CHECK_EQ_LONG(m.gid, getegid());
    CHECK(strcmp(m.path, "/dev/ser1") == 0);
    CHECK(strcmp(m.rest, "") == 0);
    /* Clients' paths are normalised the same way. */
    CHECK_EQ_LONG(resolve_errno("//dev/ser1/"), 0);

    CHECK_EQ_LONG(resolve_errno("/dev/ser1/x"), ENOENT);
    CHECK_EQ_LONG(resolve_errno("/dev"), ENOENT);
    CHECK_EQ_LONG(resolve_errno("/dev/ser"), ENOENT);
    CHECK_EQ_LONG(resolve_errno("/dev/ser10"), ENOENT);

    CHECK_EQ_LONG(pm_pathspace_detach(&h), 0);
    CHECK_EQ_LONG(resolve_errno("/dev/ser1"), ENOENT);
    CHECK_EQ_LONG(count_entries(), 0);
}

TEST(directory_manager_receives_the_rest)
{
    struct pm_ps_handle h, root;
    struct pm_ps_match m;
    REQUIRE(pathspace_fresh() == 0);
    REQUIRE(pm_pathspace_attach("/fs/qnx", 3, PM_PS_DIR, 0755, &h) == 0);

    REQUIRE(pm_pathspace_resolve("/fs/qnx", &m) == 0);
    CHECK(strcmp(m.path, "/fs/qnx") == 0);
    CHECK(strcmp(m.rest, "") == 0);
    CHECK_EQ_LONG(m.flags, PM_PS_DIR);
    CHECK_EQ_LONG(m.mode, S_IFDIR | 0755);   /* default type for a directory */

    REQUIRE(pm_pathspace_resolve("/fs/qnx/a/b", &m) == 0);
    CHECK(strcmp(m.rest, "a/b") == 0);
    CHECK_EQ_LONG(m.chid, 3);
    CHECK_EQ_LONG(resolve_errno("/fs/qnxy"), ENOENT);
    CHECK_EQ_LONG(resolve_errno("/fs"), ENOENT);

    /* A manager of "/" serves everything else. */
    REQUIRE(pm_pathspace_attach("/", 9, PM_PS_DIR, 0755, &root) == 0);
    REQUIRE(pm_pathspace_resolve("/fs", &m) == 0);
    CHECK_EQ_LONG(m.chid, 9);
    CHECK(strcmp(m.path, "/") == 0);
    CHECK(strcmp(m.rest, "fs") == 0);
    REQUIRE(pm_pathspace_resolve("/", &m) == 0);
    CHECK(strcmp(m.rest, "") == 0);
    REQUIRE(pm_pathspace_resolve("/fs/qnx/c", &m) == 0);
    CHECK_EQ_LONG(m.chid, 3);
    CHECK(strcmp(m.rest, "c") == 0);

    CHECK_EQ_LONG(pm_pathspace_detach(&h), 0);
    CHECK_EQ_LONG(pm_pathspace_detach(&root), 0);
}

TEST(longest_prefix_wins)
{
    struct pm_ps_handle dev, ser1;
    struct pm_ps_match m;
    REQUIRE(pathspace_fresh() == 0);
    /* The longer prefix wins whatever the attach order: file manager first. */
    REQUIRE(pm_pathspace_attach("/dev/ser1", 2, 0, S_IFCHR | 0666, &ser1) == 0);
    REQUIRE(pm_pathspace_attach("/dev", 1, PM_PS_DIR, 0755, &dev) == 0);

    REQUIRE(pm_pathspace_resolve("/dev/ser1", &m) == 0);
    CHECK_EQ_LONG(m.chid, 2);
    CHECK(strcmp(m.rest, "") == 0);
    REQUIRE(pm_pathspace_resolve("/dev/ser2", &m) == 0);
    CHECK_EQ_LONG(m.chid, 1);
    CHECK(strcmp(m.rest, "ser2") == 0);
    /* A file manager serves nothing below its path. */
    REQUIRE(pm_pathspace_resolve("/dev/ser1/x", &m) == 0);
    CHECK_EQ_LONG(m.chid, 1);
    CHECK(strcmp(m.rest, "ser1/x") == 0);

    CHECK_EQ_LONG(pm_pathspace_detach(&ser1), 0);
    REQUIRE(pm_pathspace_resolve("/dev/ser1", &m) == 0);
    CHECK_EQ_LONG(m.chid, 1);
    CHECK(strcmp(m.rest, "ser1") == 0);
    CHECK_EQ_LONG(pm_pathspace_detach(&dev), 0);
}

TEST(newer_attach_shadows_older)
{
    struct pm_ps_handle a, b, after, before;
    struct pm_ps_match m;
    REQUIRE(pathspace_fresh() == 0);
    REQUIRE(pm_pathspace_attach("/x", 1, PM_PS_DIR, 0644, &a) == 0);
    REQUIRE(pm_pathspace_attach("/x", 2, PM_PS_DIR, 0644, &b) == 0);
    REQUIRE(pm_pathspace_resolve("/x/f", &m) == 0);
    CHECK_EQ_LONG(m.chid, 2);
    uint64_t newer = m.seq;

    /* AFTER yields to older entries, BEFORE goes ahead of newer ones. */
    REQUIRE(pm_pathspace_attach("/x", 3, PM_PS_DIR | PM_PS_AFTER, 0644, &after) == 0);
    REQUIRE(pm_pathspace_resolve("/x/f", &m) == 0);
    CHECK_EQ_LONG(m.chid, 2);
    REQUIRE(pm_pathspace_attach("/x", 4, PM_PS_DIR | PM_PS_BEFORE, 0644, &before) == 0);
    REQUIRE(pm_pathspace_resolve("/x/f", &m) == 0);
    CHECK_EQ_LONG(m.chid, 4);
    CHECK(m.seq > newer);
    CHECK_EQ_LONG(pm_pathspace_detach(&before), 0);

    CHECK_EQ_LONG(pm_pathspace_detach(&b), 0);
    REQUIRE(pm_pathspace_resolve("/x/f", &m) == 0);
    CHECK_EQ_LONG(m.chid, 1);        /* the older one is back */
    CHECK_EQ_LONG(pm_pathspace_detach(&a), 0);
    REQUIRE(pm_pathspace_resolve("/x/f", &m) == 0);
    CHECK_EQ_LONG(m.chid, 3);
    CHECK_EQ_LONG(pm_pathspace_detach(&after), 0);
    CHECK_EQ_LONG(resolve_errno("/x/f"), ENOENT);
}

/* A manager that attaches, reports, and exits without detaching when told. */
static int attach_and_wait(int in, int out, void *arg)
{
    struct pm_ps_handle h;
    char c;
    if (pm_pathspace_attach(arg, 5, PM_PS_DIR, 0644, &h) < 0)
        return 1;
    if (child_write_full(out, "R", 1) < 0)
        return 2;
    child_read_full(in, &c, 1);
    return 0;
}

TEST(dead_manager_disappears)
{
    struct target t;
    struct pm_ps_match m;
    siginfo_t si;
    REQUIRE(pathspace_fresh() == 0);
    REQUIRE(target_start_ready(&t, attach_and_wait, "/dead") >= 0);
    REQUIRE(pm_pathspace_resolve("/dead/x", &m) == 0);
    CHECK_EQ_LONG(m.pid, t.pid);
    CHECK_EQ_LONG(m.chid, 5);

    /* Released, it exits; not reaped yet, it is a zombie. */
    CHECK(target_write(&t, "Q", 1) == 0);
    memset(&si, 0, sizeof si);
    CHECK(waitid(P_PID, (id_t)t.pid, &si, WEXITED | WNOWAIT) == 0);
    CHECK_EQ_LONG(resolve_errno("/dead/x"), ENOENT);
    CHECK_EQ_LONG(count_entries(), 0);   /* removed: the same user looked */
    int st = target_finish(&t, 5000);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    CHECK_EQ_LONG(resolve_errno("/dead/x"), ENOENT);
}

TEST(reused_pid_is_detected)
{
    struct pm_ps_match m;
    REQUIRE(pathspace_fresh() == 0);
    unsigned long long mine = proc_start_time(getpid());
    REQUIRE(mine != 0);

    /* The hand-written entry is valid with the right start time... */
    REQUIRE(fake_entry("/alive", getpid(), mine, 11, 0, 0644) == 0);
    REQUIRE(pm_pathspace_resolve("/alive", &m) == 0);
    CHECK_EQ_LONG(m.chid, 11);
    CHECK_EQ_LONG(m.pid, getpid());

    /* ...and describes another process when the start time differs. */
    REQUIRE(fake_entry("/reused", getpid(), 1, 12, 0, 0644) == 0);
    CHECK_EQ_LONG(count_entries(), 2);
    CHECK_EQ_LONG(resolve_errno("/reused"), ENOENT);
    CHECK_EQ_LONG(count_entries(), 1);   /* ours, so removed */

    /* A stale newer entry must not hide a live older one either. */
    REQUIRE(fake_entry("/alive", getpid(), 1, 13, 0, 0644) == 0);
    REQUIRE(pm_pathspace_resolve("/alive", &m) == 0);
    CHECK_EQ_LONG(m.chid, 11);
}

TEST(bad_paths_are_einval)
{
    struct pm_ps_handle h;
    struct pm_ps_match m;
    static const char *bad[] = { "", "dev/ser1", "./x", "/a/./b", "/a/../b", "/..", "/a/.",
                                 "/a/.." };
    REQUIRE(pathspace_fresh() == 0);
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        errno = 0;
        CHECK(pm_pathspace_attach(bad[i], 1, 0, 0644, &h) == -1 && errno == EINVAL);
        CHECK_EQ_LONG(resolve_errno(bad[i]), EINVAL);
    }
    errno = 0;
    CHECK(pm_pathspace_attach(NULL, 1, 0, 0644, &h) == -1 && errno == EINVAL);
    CHECK(pm_pathspace_resolve(NULL, &m) == -1 && errno == EINVAL);
    /* Names that merely start with dots are ordinary. */
    CHECK_EQ_LONG(pm_pathspace_attach("/a/...b/.c", 1, 0, 0644, &h), 0);
    CHECK_EQ_LONG(resolve_errno("/a/...b/.c"), 0);
    CHECK_EQ_LONG(pm_pathspace_detach(&h), 0);

    char *longp = malloc(PATH_MAX + 10);
    REQUIRE(longp);
    for (int i = 0; i < PATH_MAX + 8; i += 2)
        memcpy(longp + i, "/a", 2);
    longp[PATH_MAX + 8] = 0;
    CHECK(pm_pathspace_attach(longp, 1, 0, 0644, &h) == -1 && errno == ENAMETOOLONG);
    CHECK_EQ_LONG(resolve_errno(longp), ENAMETOOLONG);
    free(longp);

    /* Other arguments. */
    CHECK(pm_pathspace_attach("/x", -1, 0, 0644, &h) == -1 && errno == EINVAL);
    CHECK(pm_pathspace_attach("/x", 1, 0x100, 0644, &h) == -1 && errno == EINVAL);
    CHECK(pm_pathspace_attach("/x", 1, PM_PS_BEFORE | PM_PS_AFTER, 0644, &h) == -1 &&
          errno == EINVAL);
    CHECK(pm_pathspace_attach("/x", 1, 0, 0644, NULL) == -1 && errno == EINVAL);
    CHECK_EQ_LONG(count_entries(), 0);
}

TEST(nothing_attached_is_enoent)
{
    REQUIRE(pathspace_fresh() == 0);
    pm_begin();
    CHECK_EQ_LONG(resolve_errno("/"), ENOENT);
    pm_begin();
    CHECK_EQ_LONG(resolve_errno("/dev/null"), ENOENT);
    CHECK(strstr(pm_reason(), "is attached at or above /dev/null") != NULL);
    /* No directory at all is the same answer. */
    pathspace_drop();
    CHECK_EQ_LONG(resolve_errno("/dev/null"), ENOENT);
    CHECK_EQ_LONG(pm_pathspace_list(NULL, NULL), 0);
}

TEST(detach_rules)
{
    struct pm_ps_handle h;
    REQUIRE(pathspace_fresh() == 0);
    REQUIRE(pm_pathspace_attach("/d", 1, 0, 0644, &h) == 0);
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0)   /* a fork child's copy of the handle is its parent's entry */
        _exit(pm_pathspace_detach(&h) == -1 && errno == EPERM ? 0 : 1);
    int st;
    REQUIRE((st = reap_ms(pid, 20000)) != -1);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    CHECK_EQ_LONG(resolve_errno("/d"), 0);
    CHECK_EQ_LONG(pm_pathspace_detach(&h), 0);
    CHECK(pm_pathspace_detach(&h) == -1 && errno == EINVAL);
}

TEST(created_where_told_with_sticky_mode)
{
    struct pm_ps_handle h;
    char dir[PATH_MAX], sub[PATH_MAX];
    struct stat st;
    REQUIRE(pathspace_fresh() == 0);
    snprintf(sub, sizeof sub, "%s/sub", pathspace_dir());
    REQUIRE(setenv("PEERMAP_PATHSPACE", sub, 1) == 0);
    REQUIRE(pm_pathspace_dir(dir, sizeof dir) == 0);
    CHECK(strcmp(dir, sub) == 0);
    REQUIRE(pm_pathspace_attach("/made", 1, 0, 0640, &h) == 0);
    REQUIRE(stat(sub, &st) == 0);
    CHECK_EQ_LONG(st.st_mode & 07777, 01777);
    CHECK(strcmp(h.dir, sub) == 0);
    /* The entry's read bits are the entry's permissions; nobody may write
     * it, and it lives in the user's own directory. */
    char file[PATH_MAX + PM_PS_NAME_MAX], user[PATH_MAX + 16];
    snprintf(file, sizeof file, "%s/%s", sub, h.name);
    REQUIRE(stat(file, &st) == 0);
    CHECK_EQ_LONG(st.st_mode & 07777, 0440);
    CHECK_EQ_LONG(st.st_uid, geteuid());
    snprintf(user, sizeof user, "%s/%u", sub, (unsigned)geteuid());
    REQUIRE(stat(user, &st) == 0);
    CHECK(S_ISDIR(st.st_mode));
    CHECK_EQ_LONG(st.st_mode & 07777, 0755);
    CHECK_EQ_LONG(st.st_uid, geteuid());
    CHECK(strncmp(h.name, user + strlen(sub) + 1, strlen(user) - strlen(sub) - 1) == 0);
    CHECK_EQ_LONG(resolve_errno("/made"), 0);
    /* Detach uses the directory of the attach, whatever the variable says now. */
    REQUIRE(setenv("PEERMAP_PATHSPACE", pathspace_dir(), 1) == 0);
    CHECK_EQ_LONG(pm_pathspace_detach(&h), 0);
    CHECK(stat(file, &st) == -1 && errno == ENOENT);
    /* The per-path directory went with its last entry; the user's stays. */
    CHECK_EQ_LONG(rmdir(user), 0);
    CHECK_EQ_LONG(rmdir(sub), 0);

    REQUIRE(setenv("PEERMAP_PATHSPACE", "relative/dir", 1) == 0);
    CHECK(pm_pathspace_dir(dir, sizeof dir) == -1 && errno == EINVAL);
    /* The default, for the documentation's sake. */
    REQUIRE(unsetenv("PEERMAP_PATHSPACE") == 0);
    REQUIRE(pm_pathspace_dir(dir, sizeof dir) == 0);
    char tmp[64];
    snprintf(tmp, sizeof tmp, "/tmp/peermap-pathspace-%u", (unsigned)geteuid());
    CHECK(strcmp(dir, "/run/peermap/pathspace") == 0 || strcmp(dir, tmp) == 0);
    REQUIRE(setenv("PEERMAP_PATHSPACE", pathspace_dir(), 1) == 0);
}

TEST(unsafe_directory_is_refused)
{
    struct pm_ps_handle h;
    REQUIRE(pathspace_fresh() == 0);
    REQUIRE(pm_pathspace_attach("/x", 1, 0, 0644, &h) == 0);
    /* World-writable without the sticky bit: anyone could remove entries. */
    REQUIRE(chmod(pathspace_dir(), 0777) == 0);
    CHECK(pm_pathspace_attach("/y", 1, 0, 0644, &h) == -1 && errno == EPERM);
    CHECK_EQ_LONG(resolve_errno("/x"), EPERM);
    REQUIRE(chmod(pathspace_dir(), 01777) == 0);
    CHECK_EQ_LONG(resolve_errno("/x"), 0);
}

static int attach_in_readonly_space(void *arg)
{
    struct pm_ps_handle h;
    (void)arg;
    errno = 0;
    if (pm_pathspace_attach("/ro", 1, 0, 0644, &h) == 0)
        return 1;
    return errno == EACCES ? 0 : 2;
}

TEST(unwritable_directory_is_eacces)
{
    REQUIRE(pathspace_fresh() == 0);
    /* Owned by the tester and not writable by anyone but root, who is
     * dropped to nobody for the attempt. */
    REQUIRE(chmod(pathspace_dir(), 0555) == 0);
    CHECK_EQ_LONG(run_in_child(attach_in_readonly_space, NULL, 1), 0);
    REQUIRE(chmod(pathspace_dir(), 01777) == 0);
}

struct listed { int n; int chids[8]; };

static void list_cb(const struct pm_ps_match *m, void *arg)
{
    struct listed *l = arg;
    if (l->n < 8)
        l->chids[l->n] = m->chid;
    l->n++;
}

TEST(list_shows_live_entries)
{
    struct pm_ps_handle a, b, c;
    struct listed l = { 0, { 0 } };
    REQUIRE(pathspace_fresh() == 0);
    REQUIRE(pm_pathspace_attach("/l/b", 100, PM_PS_DIR, 0644, &c) == 0);
    REQUIRE(pm_pathspace_attach("/l/a", 1, 0, 0644, &a) == 0);
    REQUIRE(pm_pathspace_attach("/l/a", 10, 0, 0644, &b) == 0);
    REQUIRE(fake_entry("/l/stale", getpid(), 1, 1000, 0, 0644) == 0);
    CHECK_EQ_LONG(pm_pathspace_list(list_cb, &l), 3);
    CHECK_EQ_LONG(l.n, 3);
    /* By path; at one path, the entry that resolves first comes first. */
    CHECK_EQ_LONG(l.chids[0], 10);
    CHECK_EQ_LONG(l.chids[1], 1);
    CHECK_EQ_LONG(l.chids[2], 100);
    CHECK_EQ_LONG(count_entries(), 3);   /* the stale one was removed */
    pm_pathspace_detach(&a);
    pm_pathspace_detach(&b);
    pm_pathspace_detach(&c);
    CHECK_EQ_LONG(pm_pathspace_list(NULL, NULL), 0);
}

#define NTHREADS 4
#define PER_THREAD 50

static void *attach_many(void *arg)
{
    struct pm_ps_handle *h = arg;
    for (int i = 0; i < PER_THREAD; i++)
        if (pm_pathspace_attach("/busy", i, 0, 0644, &h[i]) < 0)
            return (void *)1;
    return NULL;
}

TEST(concurrent_attaches_are_distinct_and_ordered)
{
    static struct pm_ps_handle h[NTHREADS][PER_THREAD];
    pthread_t th[NTHREADS];
    struct pm_ps_match m;
    REQUIRE(pathspace_fresh() == 0);
    for (int i = 0; i < NTHREADS; i++)
        REQUIRE(pthread_create(&th[i], NULL, attach_many, h[i]) == 0);
    for (int i = 0; i < NTHREADS; i++) {
        void *rv;
        pthread_join(th[i], &rv);
        CHECK(rv == NULL);
    }
    CHECK_EQ_LONG(count_entries(), NTHREADS * PER_THREAD);
    /* Whatever thread attached last (largest seq) is what resolves. */
    REQUIRE(pm_pathspace_resolve("/busy", &m) == 0);
    CHECK_EQ_LONG(m.chid, PER_THREAD - 1);
    for (int i = 0; i < NTHREADS; i++)
        for (int j = 0; j < PER_THREAD; j++)
            CHECK_EQ_LONG(pm_pathspace_detach(&h[i][j]), 0);
    CHECK_EQ_LONG(count_entries(), 0);
}

/* Run as nobody by the permission test: exit code = first failed check. */
static int nobody_resolves(void *arg)
{
    struct pm_ps_match m;
    (void)arg;
    pm_begin();
    if (resolve_errno("/secret") != EACCES)
        return 1;
    if (!strstr(pm_reason(), "may not reach"))
        return 2;
    /* Not a fall-through to "/" below an unreachable directory manager. */
    if (resolve_errno("/secret/x") != EACCES)
        return 3;
    /* Nor to the older, reachable manager it shadows. */
    if (resolve_errno("/shadowed") != EACCES)
        return 4;
    if (pm_pathspace_resolve("/open", &m) != 0 || m.chid != 2 || m.uid != 0)
        return 5;
    if (pm_pathspace_resolve("/other/y", &m) != 0 || m.chid != 3 || strcmp(m.rest, "other/y"))
        return 6;
    /* Group class: root's group is not nobody's. */
    if (resolve_errno("/group") != EACCES)
        return 7;
    if (resolve_errno("/world") != 0)
        return 8;
    return 0;
}

TEST(permissions_follow_the_entry_mode)
{
    struct pm_ps_handle s, o, r, old, shadow, g, w;
    if (geteuid() != 0)
        SKIP("needs root to have entries of two users");
    REQUIRE(pathspace_fresh() == 0);
    REQUIRE(pm_pathspace_attach("/secret", 1, PM_PS_DIR, 0600, &s) == 0);
    REQUIRE(pm_pathspace_attach("/open", 2, 0, 0666, &o) == 0);
    REQUIRE(pm_pathspace_attach("/", 3, PM_PS_DIR, 0666, &r) == 0);
    REQUIRE(pm_pathspace_attach("/shadowed", 4, 0, 0666, &old) == 0);
    REQUIRE(pm_pathspace_attach("/shadowed", 5, 0, 0600, &shadow) == 0);
    REQUIRE(pm_pathspace_attach("/group", 6, 0, 0660, &g) == 0);
    REQUIRE(pm_pathspace_attach("/world", 7, 0, 0604, &w) == 0);
    int rc = run_in_child(nobody_resolves, NULL, 1);
    CHECK_EQ_LONG(rc, 0);
    /* Root reaches everything. */
    CHECK_EQ_LONG(resolve_errno("/secret/x"), 0);
    CHECK_EQ_LONG(resolve_errno("/shadowed"), 0);
}

/* Nobody's manager: attaches, reports, then answers what it sees. */
static int nobody_manager(int in, int out, void *arg)
{
    struct pm_ps_handle h;
    struct pm_ps_match m;
    char c, path[PATH_MAX + PM_PS_NAME_MAX];
    (void)arg;
    if (drop_to_nobody() < 0)
        return 1;
    if (pm_pathspace_attach("/user", 21, PM_PS_DIR, 0644, &h) < 0)
        return 2;
    if (child_write_full(out, "R", 1) < 0 || child_read_full(in, &c, 1) < 0)
        return 3;
    /* c is root's entry name length, followed by the name. */
    char rootname[PM_PS_NAME_MAX] = "";
    if (c <= 0 || child_read_full(in, rootname, (size_t)c) < 0)
        return 4;
    if (pm_pathspace_resolve("/root/z", &m) != 0 || m.uid != 0 || m.chid != 20)
        return 5;
    if (pm_pathspace_resolve("/user/z", &m) != 0 || m.uid != NOBODY || m.chid != 21)
        return 6;
    /* The sticky directory keeps root's entry out of nobody's reach. */
    snprintf(path, sizeof path, "%s/%s", pathspace_dir(), rootname);
    if (unlink(path) == 0 || (errno != EPERM && errno != EACCES))
        return 7;
    if (child_write_full(out, "D", 1) < 0)
        return 8;
    child_read_full(in, &c, 1);   /* until the test closes the pipe */
    return 0;                     /* and exits without detaching */
}

static int root_exits_attached(void *arg)
{
    struct pm_ps_handle h;
    (void)arg;
    return pm_pathspace_attach("/rootstale", 30, 0, 0644, &h) == 0 ? 0 : 1;
}

static int nobody_sees_stale(void *arg)
{
    (void)arg;
    return resolve_errno("/rootstale") == ENOENT ? 0 : 1;
}

TEST(managers_of_two_users_coexist)
{
    struct pm_ps_handle h;
    struct pm_ps_match m;
    struct target t;
    char c;
    if (geteuid() != 0)
        SKIP("needs root to have entries of two users");
    REQUIRE(pathspace_fresh() == 0);
    REQUIRE(target_start_ready(&t, nobody_manager, NULL) >= 0);
    REQUIRE(pm_pathspace_attach("/root", 20, PM_PS_DIR, 0644, &h) == 0);

    /* Root believes nobody's attaches only where root's policy says so;
     * a listing shows what the caller believes. */
    CHECK_EQ_LONG(resolve_errno("/user/a"), ENOENT);
    CHECK_EQ_LONG(pm_pathspace_list(NULL, NULL), 1);
    REQUIRE(policy_set("allow_attach 65534 /user\n") == 0);
    CHECK_EQ_LONG(pm_pathspace_list(NULL, NULL), 2);
    REQUIRE(pm_pathspace_resolve("/user/a", &m) == 0);
    CHECK_EQ_LONG(m.pid, t.pid);
    CHECK_EQ_LONG(m.uid, NOBODY);
    CHECK_EQ_LONG(m.gid, NOBODY);
    CHECK(strcmp(m.rest, "a") == 0);
    REQUIRE(pm_pathspace_resolve("/root/a", &m) == 0);
    CHECK_EQ_LONG(m.uid, 0);

    char len = (char)strlen(h.name);
    CHECK(target_write(&t, &len, 1) == 0 && target_write(&t, h.name, (size_t)len) == 0);
    CHECK(target_read(&t, &c, 1, 5000) == 0 && c == 'D');
    int st = target_finish(&t, 5000);   /* EOF: it exits without detaching */
    CHECK(WIFEXITED(st));
    CHECK_EQ_LONG(WEXITSTATUS(st), 0);
    /* Root may remove nobody's stale entry. */
    CHECK_EQ_LONG(resolve_errno("/user/a"), ENOENT);
    CHECK_EQ_LONG(count_entries(), 1);

    /* A stale root entry is ignored by nobody but left for root to remove. */
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0)
        _exit(root_exits_attached(NULL));
    REQUIRE((st = reap_ms(pid, 20000)) != -1);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    CHECK_EQ_LONG(count_entries(), 2);
    CHECK_EQ_LONG(run_in_child(nobody_sees_stale, NULL, 1), 0);
    CHECK_EQ_LONG(count_entries(), 2);
    CHECK_EQ_LONG(resolve_errno("/rootstale"), ENOENT);
    CHECK_EQ_LONG(count_entries(), 1);
    CHECK_EQ_LONG(pm_pathspace_detach(&h), 0);
    policy_drop();
}

static int plant_for_root(void *arg)
{
    /* Nobody writes an entry claiming that pid (root's) serves /planted. */
    pid_t victim = *(pid_t *)arg;
    return fake_entry("/planted", victim, proc_start_time(victim), 40, 0, 0644) == 0 ? 0 : 1;
}

TEST(entry_cannot_speak_for_another_users_process)
{
    pid_t me = getpid();
    if (geteuid() != 0)
        SKIP("needs root to have entries of two users");
    REQUIRE(pathspace_fresh() == 0);
    /* Even where root trusts nobody's attaches, an entry in nobody's
     * directory speaks only for nobody's processes. */
    REQUIRE(policy_set("allow_attach nobody /\n") == 0);
    CHECK_EQ_LONG(run_in_child(plant_for_root, &me, 1), 0);
    CHECK_EQ_LONG(count_entries(), 1);
    CHECK_EQ_LONG(resolve_errno("/planted"), ENOENT);
    policy_drop();
}

TEST(handle_is_recorded_and_defaults_to_zero)
{
    struct pm_ps_handle a, b;
    struct pm_ps_match m;
    REQUIRE(pathspace_fresh() == 0);
    REQUIRE(pm_pathspace_attach_handle("/dev/h1", 3, 42, 0, 0666, &a) == 0);
    REQUIRE(pm_pathspace_attach("/dev/h2", 3, 0, 0666, &b) == 0);
    REQUIRE(pm_pathspace_resolve("/dev/h1", &m) == 0);
    CHECK_EQ_LONG(m.handle, 42);
    REQUIRE(pm_pathspace_resolve("/dev/h2", &m) == 0);
    CHECK_EQ_LONG(m.handle, 0);
    errno = 0;
    struct pm_ps_handle c;
    CHECK(pm_pathspace_attach_handle("/dev/h3", 3, -1, 0, 0666, &c) == -1 && errno == EINVAL);
    /* This file's own writer, as a cross-check of the format. */
    REQUIRE(fake_entry("/dev/h4", getpid(), proc_start_time(getpid()), 5, 0, 0644) == 0);
    REQUIRE(pm_pathspace_resolve("/dev/h4", &m) == 0);
    CHECK_EQ_LONG(m.chid, 5);
    CHECK_EQ_LONG(m.handle, 0);
    CHECK_EQ_LONG(pm_pathspace_detach(&a), 0);
    CHECK_EQ_LONG(pm_pathspace_detach(&b), 0);
}

/* nobody tries to take root's /dev/claimed (same path, and below it), and
 * attaches /dev/free, which nobody else claimed. */
static int squatter(int in, int out, void *arg)
{
    struct pm_ps_handle a, b, c;
    char x;
    (void)arg;
    if (drop_to_nobody() < 0)
        return 1;
    if (pm_pathspace_attach("/dev/claimed", 31, 0, 0666, &a) < 0 ||
        pm_pathspace_attach("/dev/claimed/sub", 32, 0, 0666, &b) < 0 ||
        pm_pathspace_attach("/dev/free", 33, 0, 0666, &c) < 0)
        return 2;
    if (child_write_full(out, "R", 1) < 0)
        return 3;
    child_read_full(in, &x, 1); /* stay alive until the test has looked */
    return 0;
}

TEST(a_user_cannot_take_paths_another_owner_claimed_first)
{
    struct pm_ps_handle h;
    struct pm_ps_match m;
    struct target t;
    if (geteuid() != 0)
        SKIP("needs root to have entries of two users");
    REQUIRE(pathspace_fresh() == 0);
    /* Root lets nobody serve /dev (QNX: allow_attach), nobody comes second. */
    REQUIRE(policy_set("allow_attach nobody /dev\n") == 0);
    REQUIRE(pm_pathspace_attach("/dev/claimed", 30, PM_PS_DIR, 0666, &h) == 0);
    REQUIRE(target_start_ready(&t, squatter, NULL) == 'R');
    /* Root's directory manager keeps the path and everything below it. */
    REQUIRE(pm_pathspace_resolve("/dev/claimed", &m) == 0);
    CHECK_EQ_LONG(m.chid, 30);
    REQUIRE(pm_pathspace_resolve("/dev/claimed/sub", &m) == 0);
    CHECK_EQ_LONG(m.chid, 30);
    CHECK(strcmp(m.rest, "sub") == 0);
    /* What nobody claimed first is nobody's. */
    REQUIRE(pm_pathspace_resolve("/dev/free", &m) == 0);
    CHECK_EQ_LONG(m.chid, 33);
    CHECK_EQ_LONG(m.uid, NOBODY);
    /* Once root's manager is gone, the next in line serves. */
    CHECK_EQ_LONG(pm_pathspace_detach(&h), 0);
    REQUIRE(pm_pathspace_resolve("/dev/claimed/sub", &m) == 0);
    CHECK_EQ_LONG(m.chid, 32);
    /* Without the policy, nothing of nobody's is believed at all. */
    policy_drop();
    CHECK_EQ_LONG(resolve_errno("/dev/claimed/sub"), ENOENT);
    CHECK_EQ_LONG(resolve_errno("/dev/free"), ENOENT);
    CHECK_EQ_LONG(target_finish(&t, 5000), 0);
}
