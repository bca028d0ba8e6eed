/*
 * The FUSE export (peermap export, src/export/): every program reaches a
 * resource manager through the mount - shell tools (cat, echo >, dd, ls,
 * stat), and a C client with open/read/write/lseek/fstat/ioctl/devctl/
 * mmap/close - as root and as uid 65534, with the managers' own checks
 * judging each caller; directory managers listed; two clients at once;
 * a manager killed or stalled during a read; the export killed during a
 * read; --link in a scratch directory; a user's export serving only that
 * user.
 *
 * Each test mounts an export of a fresh path space (the tool, run as
 * PEERMAP_TOOL says) in a fresh directory under /tmp.  Skipped where
 * /dev/fuse is missing, or when run unprivileged where FUSE mounting is not
 * permitted for the user (on these machines /dev/fuse is root's alone);
 * as root a failed mount is a failure.
 */
#include <dirent.h>
#include <stdarg.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <devctl.h>
#include <peermap.h>
#include <sys/neutrino.h>

#include "harness.h"
#include "helpers.h"
#include "iomgr.h"


/* snprintf() that must not truncate (a test's paths are short; a longer
 * one is a broken test). */
__attribute__((format(printf, 3, 4)))
static void fmt(char *buf, size_t n, const char *f, ...)
{
    va_list ap;
    va_start(ap, f);
    int r = vsnprintf(buf, n, f, ap);
    va_end(ap);
    if (r < 0 || (size_t)r >= n)
        abort();
}

/* ---- the tool and the examples ---- */

static const char *tool(void)
{
    const char *p = getenv("PEERMAP_TOOL");
    return p && *p ? p : NULL;
}

/* BUILD/examples/NAME, next to BUILD/tools/peermap. */
static int example(const char *name, char *out)
{
    const char *t = tool();
    if (!t)
        return -1;
    char buf[PATH_MAX];
    fmt(buf, sizeof buf, "%s", t);
    char *slash = strrchr(buf, '/');
    if (!slash)
        return -1;
    *slash = '\0';
    slash = strrchr(buf, '/');
    if (!slash)
        return -1;
    *slash = '\0';
    fmt(out, PATH_MAX, "%s/examples/%s", buf, name);
    return access(out, X_OK);
}

/* The supplementary groups drop_to() gives (none unless a test says). */
static gid_t drop_groups[4];
static size_t drop_ngroups;

static int drop_to(uid_t uid)
{
    if (uid == 0)
        return 0;
    return setgroups(drop_ngroups, drop_groups) == 0 && setresgid(uid, uid, uid) == 0 &&
                   setresuid(uid, uid, uid) == 0
               ? 0
               : -1;
}

/* ---- mounts ---- */

static int mounted(const char *path)
{
    FILE *f = fopen("/proc/self/mountinfo", "re");
    if (!f)
        return 0;
    char line[4096];
    int found = 0;
    size_t len = strlen(path);
    while (!found && fgets(line, sizeof line, f)) {
        /* field 5 is the mount point */
        char *p = line;
        for (int i = 0; i < 4 && p; i++) {
            p = strchr(p, ' ');
            if (p)
                p++;
        }
        found = p && strncmp(p, path, len) == 0 && p[len] == ' ';
    }
    fclose(f);
    return found;
}

/* Wait (ms at most) until path is no longer a mount point, calling
 * while_mounted(arg), if not NULL, each time it still is.  The wait is on
 * the mount table's own notification (/proc/self/mountinfo is POLLPRI
 * after every mount and unmount since it was opened or last polled), not
 * on a clock.  0, or -1 if it is still mounted. */
static int unmounted_within(const char *path, int ms, void (*while_mounted)(const char *),
                            const char *arg)
{
    int fd = open("/proc/self/mountinfo", O_RDONLY | O_CLOEXEC);
    long long end = now_ms() + ms;
    int r = -1;
    for (;;) {
        if (!mounted(path)) {
            r = 0;
            break;
        }
        if (while_mounted)
            while_mounted(arg);
        long long left = end - now_ms();
        if (fd < 0 || left <= 0)
            break;
        struct pollfd p = { .fd = fd, .events = POLLPRI };
        poll(&p, 1, (int)left);
    }
    if (fd >= 0)
        close(fd);
    return r;
}

/* Every call on a path of a dead export fails at once. */
static void fails_at_once(const char *path)
{
    struct stat st;
    long long t0 = now_ms();
    CHECK(stat(path, &st) < 0 && (errno == ENOTCONN || errno == ENOENT));
    CHECK(now_ms() - t0 < 2000);
}

struct xport {
    pid_t pid;
    char dir[64];            /* a fresh directory holding the mount point */
    char mnt[96];
    char why[256];           /* why it did not start */
};

/* Read one line from fd within ms. */
static int read_line(int fd, char *buf, size_t n, int ms)
{
    size_t used = 0;
    long long end = now_ms() + ms;
    while (used + 1 < n) {
        struct pollfd p = { .fd = fd, .events = POLLIN };
        long long left = end - now_ms();
        if (left <= 0 || poll(&p, 1, (int)left) <= 0)
            return -1;
        ssize_t r = read(fd, buf + used, 1);
        if (r <= 0)
            return -1;
        if (buf[used] == '\n')
            break;
        used++;
    }
    buf[used] = '\0';
    return 0;
}

/* The export's descriptor limit (soft and hard) when not 0. */
static rlim_t xport_nofile;

/* Start `peermap export [extra...] -t TIMEOUT MNT`; as uid run_as when not
 * 0 (the mount point is made theirs).  0 once it says it is mounted. */
static int xport_start_as(struct xport *x, const char *const *extra, int timeout_ms,
                          uid_t run_as)
{
    memset(x, 0, sizeof *x);
    strcpy(x->dir, "/tmp/pm-export-XXXXXX");
    if (!mkdtemp(x->dir) || chmod(x->dir, 0755) < 0)
        return -1;
    fmt(x->mnt, sizeof x->mnt, "%s/mnt", x->dir);
    if (mkdir(x->mnt, 0755) < 0 || (run_as && chown(x->mnt, run_as, run_as) < 0))
        return -1;
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0)
        return -1;
    char ms[16];
    fmt(ms, sizeof ms, "%d", timeout_ms);
    const char *argv[16];
    int n = 0;
    argv[n++] = tool();
    argv[n++] = "export";
    argv[n++] = "-t";
    argv[n++] = ms;
    for (int i = 0; extra && extra[i] && n < 13; i++)
        argv[n++] = extra[i];
    argv[n++] = x->mnt;
    argv[n] = NULL;
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        dup2(p[1], STDOUT_FILENO);
        /* A test that gave up early still unmounts when the suite ends. */
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        struct rlimit nf = { xport_nofile, xport_nofile };
        if (xport_nofile && setrlimit(RLIMIT_NOFILE, &nf) < 0)
            _exit(125);
        if (drop_to(run_as) < 0)
            _exit(126);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    close(p[1]);
    x->pid = pid;
    char line[512];
    int r = read_line(p[0], line, sizeof line, 15000);
    close(p[0]);
    if (r < 0 || !strstr(line, "the path space is at")) {
        int st = reap_ms(pid, 5000);
        fmt(x->why, sizeof x->why, "peermap export did not mount (status %#x)", st);
        x->pid = 0;
        rmdir(x->mnt);
        rmdir(x->dir);
        return -1;
    }
    return 0;
}

static int xport_start(struct xport *x, const char *const *extra, int timeout_ms)
{
    return xport_start_as(x, extra, timeout_ms, 0);
}

/* SIGTERM, then the exit status (-1 if it had to be killed); the mount
 * must be gone. */
static int xport_stop(struct xport *x)
{
    int st = -1;
    if (x->pid > 0) {
        kill(x->pid, SIGTERM);
        st = reap_ms(x->pid, 10000);
        x->pid = 0;
    }
    int still = mounted(x->mnt);
    if (still)
        umount2(x->mnt, MNT_DETACH);
    rmdir(x->mnt);
    rmdir(x->dir);
    if (still)
        return -2;
    return st;
}

/* A build without libfuse3 (tests/CMakeLists.txt says so) has a tool
 * without the export: nothing here can run. */
#ifdef PEERMAP_TEST_NO_EXPORT
#define NEED_EXPORT_BUILT() SKIP("peermap was built without libfuse3 (>= 3.12): no export to test")
#else
#define NEED_EXPORT_BUILT() do { } while (0)
#endif

/* Skip when FUSE cannot work here; otherwise start the export. */
#define START_EXPORT(x, extra, ms)                                                  \
    do {                                                                            \
        NEED_EXPORT_BUILT();                                                        \
        if (access("/dev/fuse", F_OK) != 0)                                         \
            SKIP("/dev/fuse is missing");                                           \
        if (!tool())                                                                \
            SKIP("PEERMAP_TOOL is not set (run through ctest)");                    \
        if (xport_start((x), (extra), (ms)) < 0) {                                  \
            if (unprivileged() || access("/dev/fuse", R_OK | W_OK) != 0)            \
                SKIP("FUSE mounting is not permitted for uid %d here (%s)",         \
                     (int)geteuid(), (x)->why);                                     \
            REQUIRE(!"the export mounts");                                          \
        }                                                                           \
    } while (0)

static void mpath(const struct xport *x, const char *path, char *out)
{
    fmt(out, PATH_MAX, "%s%s", x->mnt, path);
}

/* ---- running things as someone ---- */

/* Run `cmd` with sh as uid (0: as we are); its output (stdout and stderr)
 * into out.  The exit status, or -1 (it did not finish in 20 s). */
static int sh_as(uid_t uid, const char *cmd, char *out, size_t outsz)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0)
        return -1;
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        dup2(p[1], STDOUT_FILENO);
        dup2(p[1], STDERR_FILENO);
        if (drop_to(uid) < 0)
            _exit(126);
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    close(p[1]);
    size_t used = 0;
    long long end = now_ms() + 20000;
    for (;;) {
        struct pollfd pp = { .fd = p[0], .events = POLLIN };
        long long left = end - now_ms();
        if (left <= 0 || poll(&pp, 1, (int)left) <= 0)
            break;
        char tmp[512];
        ssize_t r = read(p[0], tmp, sizeof tmp);
        if (r <= 0)
            break;
        size_t k = (size_t)r < outsz - 1 - used ? (size_t)r : outsz - 1 - used;
        memcpy(out + used, tmp, k);
        used += k;
    }
    out[used] = '\0';
    close(p[0]);
    int st = reap_ms(pid, (int)(end - now_ms() > 0 ? end - now_ms() : 1));
    return st >= 0 && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int sh(const char *cmd, char *out, size_t outsz)
{
    return sh_as(0, cmd, out, outsz);
}

/* Run fn(arg) in a child as uid: what it returns (0: all went well, else
 * the line that failed), -1 if it crashed or hung. */
static int as_user(uid_t uid, int (*fn)(void *), void *arg)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0)
        return -1;
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        int r = drop_to(uid) < 0 ? 1 : fn(arg);
        if (write(p[1], &r, sizeof r) != sizeof r)
            _exit(1);
        _exit(0);
    }
    close(p[1]);
    int r = -1;
    struct pollfd pp = { .fd = p[0], .events = POLLIN };
    if (poll(&pp, 1, 30000) <= 0 || read(p[0], &r, sizeof r) != sizeof r)
        r = -1;
    close(p[0]);
    reap_ms(pid, 5000);
    if (r > 0)
        fprintf(stderr, "  child as uid %u failed at line %d\n", (unsigned)uid, r);
    return r;
}

#define CC(cond)                                                                    \
    do {                                                                            \
        if (!(cond)) {                                                              \
            fprintf(stderr, "  child: %s:%d: %s (errno %d: %s)\n", __FILE__,        \
                    __LINE__, #cond, errno, strerror(errno));                       \
            return __LINE__;                                                        \
        }                                                                           \
    } while (0)

/* ---- the resmgr_sample example ---- */

struct proc {
    pid_t pid;
};

/* Start an example with `-r FD` appended; 0 once it says it is ready. */
static int start_example(struct proc *p, const char *name, const char *const *args)
{
    char bin[PATH_MAX];
    if (example(name, bin) < 0)
        return -1;
    int r[2];
    if (pipe(r) < 0)
        return -1;
    fcntl(r[0], F_SETFD, FD_CLOEXEC);
    char fdarg[16];
    fmt(fdarg, sizeof fdarg, "%d", r[1]);
    const char *argv[16];
    int n = 0;
    argv[n++] = bin;
    for (int i = 0; args && args[i] && n < 12; i++)
        argv[n++] = args[i];
    argv[n++] = "-r";
    argv[n++] = fdarg;
    argv[n] = NULL;
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        int null = open("/dev/null", O_WRONLY);
        if (null >= 0)
            dup2(null, STDOUT_FILENO);
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        execv(bin, (char *const *)argv);
        _exit(127);
    }
    close(r[1]);
    p->pid = pid;
    char c;
    struct pollfd pp = { .fd = r[0], .events = POLLIN };
    int ok = poll(&pp, 1, 10000) == 1 && read(r[0], &c, 1) == 1;
    close(r[0]);
    if (!ok) {
        kill(pid, SIGKILL);
        reap_ms(pid, 5000);
        return -1;
    }
    return 0;
}

static int stop_example(struct proc *p)
{
    kill(p->pid, SIGTERM);
    int st = reap_ms(p->pid, 10000);
    return st >= 0 && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

#define SAMPLE_DEVCTL_GETVAL __DIOF(_DCMD_MISC, 0x10, int)
#define SAMPLE_DEVCTL_SETVAL __DIOT(_DCMD_MISC, 0x11, int)

/* ---- tests ---- */

TEST(shell_tools_on_the_sample_device)
{
    REQUIRE(pathspace_fresh() == 0);
    struct xport x;
    START_EXPORT(&x, NULL, 3000);
    struct proc sample;
    const char *args[] = { "-p", "/dev/sample", NULL };
    REQUIRE(start_example(&sample, "resmgr_sample", args) == 0);
    char cmd[1024], out[4096], p[PATH_MAX];
    mpath(&x, "/dev/sample", p);

    fmt(cmd, sizeof cmd, "echo hello > %s", p);
    CHECK_EQ_LONG(sh(cmd, out, sizeof out), 0);
    fmt(cmd, sizeof cmd, "cat %s", p);
    CHECK_EQ_LONG(sh(cmd, out, sizeof out), 0);
    CHECK(strcmp(out, "hello\n") == 0);
    /* dd at offsets: reading bytes 1-3, writing at 2. */
    fmt(cmd, sizeof cmd, "dd if=%s bs=1 skip=1 count=3 status=none", p);
    CHECK_EQ_LONG(sh(cmd, out, sizeof out), 0);
    CHECK(strcmp(out, "ell") == 0);
    fmt(cmd, sizeof cmd, "printf XY | dd of=%s bs=1 seek=2 conv=notrunc status=none && cat %s",
             p, p);
    CHECK_EQ_LONG(sh(cmd, out, sizeof out), 0);
    CHECK(strcmp(out, "heXYo\n") == 0);
    /* stat: the manager's size and mode; a plain file to the kernel. */
    fmt(cmd, sizeof cmd, "stat -c '%%s %%a %%F %%u' %s", p);
    CHECK_EQ_LONG(sh(cmd, out, sizeof out), 0);
    CHECK(strcmp(out, "6 666 regular file 0\n") == 0);
    fmt(cmd, sizeof cmd, "ls -l %s/dev", x.mnt);
    CHECK_EQ_LONG(sh(cmd, out, sizeof out), 0);
    CHECK(strstr(out, "-rw-rw-rw- 1 root root 6 ") && strstr(out, " sample\n"));
    /* Anyone, as the device's mode says. */
    fmt(cmd, sizeof cmd, "cat %s && echo nobody > %s && cat %s", p, p, p);
    if (geteuid() == 0) {
        CHECK_EQ_LONG(sh_as(NOBODY, cmd, out, sizeof out), 0);
        CHECK(strcmp(out, "heXYo\nnobody\n") == 0);
    }
    /* Nothing is made where no manager serves. */
    char nothing[PATH_MAX];
    mpath(&x, "/dev/nothing", nothing);
    CHECK(open(nothing, O_CREAT | O_WRONLY, 0644) < 0 && errno == ENOENT);
    fmt(cmd, sizeof cmd, "echo x > %s", nothing);
    CHECK(sh(cmd, out, sizeof out) != 0);

    /* The manager goes: so does its path. */
    CHECK_EQ_LONG(stop_example(&sample), 0);
    fmt(cmd, sizeof cmd, "ls %s; cat %s", x.mnt, p);
    CHECK(sh(cmd, out, sizeof out) != 0);
    CHECK(!strstr(out, "dev\n"));
    CHECK(strstr(out, "No such file or directory") != NULL);
    CHECK_EQ_LONG(xport_stop(&x), 0);
}

struct client_arg {
    char path[PATH_MAX];
    int write;
};

/* open/read/write/lseek/fstat/ioctl/devctl/mmap/close on the sample. */
static int sample_client(void *varg)
{
    struct client_arg *a = varg;
    int fd = open(a->path, O_RDWR);
    CC(fd >= 0);
    if (a->write) {
        CC(write(fd, "0123456789", 10) == 10);
        CC(lseek(fd, 0, SEEK_CUR) == 10);
    }
    CC(lseek(fd, 3, SEEK_SET) == 3);
    char buf[32] = { 0 };
    CC(read(fd, buf, 4) == 4 && memcmp(buf, "3456", 4) == 0);
    CC(pread(fd, buf, 3, 7) == 3 && memcmp(buf, "789", 3) == 0);
    CC(read(fd, buf, 3) == 3 && memcmp(buf, "789", 3) == 0);  /* the file offset went on */
    CC(read(fd, buf, 3) == 0);
    CC(pwrite(fd, "AB", 2, 1) == 2);
    CC(pread(fd, buf, 4, 0) == 4 && memcmp(buf, "0AB3", 4) == 0);
    struct stat st;
    CC(fstat(fd, &st) == 0 && st.st_size == 10 && S_ISREG(st.st_mode) &&
       (st.st_mode & 0777) == 0666);
    /* devctl() on the plain descriptor: an ioctl the export forwards. */
    int v = 4242 + (int)getuid(), info = -1;
    CC(devctl(fd, (int)SAMPLE_DEVCTL_SETVAL, &v, sizeof v, &info) == EOK && info == v);
    int got = 0;
    CC(devctl(fd, (int)SAMPLE_DEVCTL_GETVAL, &got, sizeof got, &info) == EOK && got == v);
    /* The same command as a Linux program forms it. */
    got = 0;
    CC(ioctl(fd, _IOR(_DCMD_MISC, 0x10, int), &got) == v && got == v);
    CC(PEERMAP_DCMD_TO_IOCTL(SAMPLE_DEVCTL_GETVAL) == _IOR(_DCMD_MISC, 0x10, int));
    CC(devctl(fd, (int)__DION(_DCMD_MISC, 0x7f), NULL, 0, NULL) == ENOTTY);
    CC(isatty(fd) == 0);
    /* A device is read through no page cache: a private mapping still
     * reads it; a shared one cannot be coherent and is refused. */
    char *m = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, fd, 0);
    CC(m != MAP_FAILED);
    CC(memcmp(m, "0AB3456789", 10) == 0);
    munmap(m, 4096);
    errno = 0;
    CC(mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0) == MAP_FAILED && errno == ENODEV);
    CC(close(fd) == 0);
    return 0;
}

TEST(c_client_on_the_sample_device)
{
    REQUIRE(pathspace_fresh() == 0);
    struct xport x;
    START_EXPORT(&x, NULL, 3000);
    struct proc sample;
    const char *args[] = { "-p", "/dev/sample", "-t", "4", NULL };
    REQUIRE(start_example(&sample, "resmgr_sample", args) == 0);
    struct client_arg a;
    mpath(&x, "/dev/sample", a.path);
    a.write = 1;
    CHECK_EQ_LONG(as_user(0, sample_client, &a), 0);
    if (geteuid() == 0) {
        a.write = 0;
        CHECK_EQ_LONG(as_user(NOBODY, sample_client, &a), 0);
    }
    CHECK_EQ_LONG(xport_stop(&x), 0);
    CHECK_EQ_LONG(stop_example(&sample), 0);
}

struct mmap_arg {
    char path[PATH_MAX];
    char lib_path[PATH_MAX];   /* the same resource for pm_open() */
};

static int mmap_client(void *varg)
{
    struct mmap_arg *a = varg;
    long pg = sysconf(_SC_PAGESIZE);
    size_t len = IOM_FILL_LEN;
    int fd1 = open(a->path, O_RDWR), fd2 = open(a->path, O_RDWR);
    CC(fd1 >= 0 && fd2 >= 0);
    unsigned char *s1 = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd1, 0);
    unsigned char *s2 = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd2, 0);
    unsigned char *pv = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd2, 0);
    CC(s1 != MAP_FAILED && s2 != MAP_FAILED && pv != MAP_FAILED);
    /* Pages read with _IO_READ: the manager's bytes. */
    for (size_t i = 0; i < len; i += 997)
        CC(s1[i] == iom_fill_byte(i));
    /* Shared: one page cache for every client of the export. */
    memcpy(s1 + 3 * pg + 5, "shared!", 7);
    CC(memcmp(s2 + 3 * pg + 5, "shared!", 7) == 0);
    /* Private: a copy of its own, never written back. */
    memcpy(pv + 7 * pg, "private", 7);
    CC(s1[7 * pg] == iom_fill_byte(7 * (size_t)pg));
    /* msync: the manager has it (read with pm_read(), past the export). */
    CC(msync(s1, len, MS_SYNC) == 0);
    int lfd = pm_open(a->lib_path, O_RDONLY);
    CC(lfd >= 0);
    char buf[8] = { 0 };
    CC(pm_lseek(lfd, 3 * pg + 5, SEEK_SET) == 3 * pg + 5 && pm_read(lfd, buf, 7) == 7);
    CC(memcmp(buf, "shared!", 7) == 0);
    CC(pm_lseek(lfd, 7 * pg, SEEK_SET) == 7 * pg && pm_read(lfd, buf, 7) == 7);
    CC(memcmp(buf, "private", 7) != 0);
    pm_close(lfd);
    /* A write() is seen by a mapping of the same file at once. */
    CC(pwrite(fd2, "written", 7, 9 * pg) == 7);
    CC(memcmp(s1 + 9 * pg, "written", 7) == 0);
    munmap(s1, len);
    munmap(s2, len);
    munmap(pv, len);
    close(fd1);
    close(fd2);
    return 0;
}

TEST(mmap_shared_and_private_of_a_regular_file)
{
    REQUIRE(pathspace_fresh() == 0);
    struct xport x;
    START_EXPORT(&x, NULL, 3000);
    struct iom_res res[] = { { "/mm/file", IOM_FILE, 0666, 0, 0 } };
    struct target mgr;
    REQUIRE(iom_start(&mgr, res, 1, 0, 0) == 0);
    struct mmap_arg a;
    mpath(&x, "/mm/file", a.path);
    strcpy(a.lib_path, "/mm/file");
    CHECK_EQ_LONG(as_user(0, mmap_client, &a), 0);
    CHECK_EQ_LONG(xport_stop(&x), 0);
    CHECK_EQ_LONG(iom_stop(&mgr), 0);
}

static int shmem_client(void *varg)
{
    struct mmap_arg *a = varg;
    /* O_CREAT through the export: the manager makes the object. */
    int fd = open(a->path, O_CREAT | O_EXCL | O_RDWR, 0666);
    CC(fd >= 0);
    struct stat st;
    CC(fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0);
    char *m = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    CC(m != MAP_FAILED);
    strcpy(m + 4096, "through the export");
    CC(msync(m, 8192, MS_SYNC) == 0);
    /* The manager's own zero-copy mapping (pm_mmap) sees it. */
    int lfd = pm_open(a->lib_path, O_RDONLY);
    CC(lfd >= 0);
    char *lm = pm_mmap(NULL, 8192, PROT_READ, MAP_SHARED, lfd, 0);
    CC(lm != MAP_FAILED);
    CC(strcmp(lm + 4096, "through the export") == 0);
    pm_munmap(lm, 8192);
    pm_close(lfd);
    CC(open(a->path, O_CREAT | O_EXCL | O_RDWR, 0666) < 0 && errno == EEXIST);
    munmap(m, 8192);
    close(fd);
    return 0;
}

TEST(create_and_mmap_on_the_shmem_example)
{
    REQUIRE(pathspace_fresh() == 0);
    struct xport x;
    START_EXPORT(&x, NULL, 3000);
    struct proc shm;
    const char *args[] = { "-p", "/dev/pmshm", "-s", "64K", NULL };
    REQUIRE(start_example(&shm, "shmem_server", args) == 0);
    struct mmap_arg a;
    mpath(&x, "/dev/pmshm/obj", a.path);
    strcpy(a.lib_path, "/dev/pmshm/obj");
    CHECK_EQ_LONG(as_user(0, shmem_client, &a), 0);
    CHECK_EQ_LONG(xport_stop(&x), 0);
    CHECK_EQ_LONG(stop_example(&shm), 0);
}

/* Linux >= 6.9: FUSE passthrough. */
static int kernel_at_least(int major, int minor)
{
    struct utsname u;
    int a = 0, b = 0;
    return uname(&u) == 0 && sscanf(u.release, "%d.%d", &a, &b) == 2 &&
           (a > major || (a == major && b >= minor));
}

static int passthrough_client(void *varg)
{
    struct mmap_arg *a = varg;
    int fd = open(a->path, O_CREAT | O_RDWR, 0666);
    CC(fd >= 0);
    char *m = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    CC(m != MAP_FAILED);
    /* The manager's own object, zero-copy: a pm_mmap() client and the
     * export's mapping are the same memory, with no msync() in between. */
    int lfd = pm_open(a->lib_path, O_RDWR);
    CC(lfd >= 0);
    char *lm = pm_mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, lfd, 0);
    CC(lm != MAP_FAILED);
    strcpy(lm + 100, "from a pm_mmap() client");
    CC(strcmp(m + 100, "from a pm_mmap() client") == 0);
    strcpy(m + 200, "through the export");
    CC(strcmp(lm + 200, "through the export") == 0);
    char b[32] = { 0 };
    CC(pread(fd, b, 23, 100) == 23 && strcmp(b, "from a pm_mmap() client") == 0);
    /* More opens of the same file share the object; a read-only one
     * cannot write through it. */
    int ro = open(a->path, O_RDONLY);
    CC(ro >= 0);
    CC(mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, ro, 0) == MAP_FAILED &&
       errno == EACCES);
    CC(write(ro, "x", 1) < 0 && errno == EBADF);
    char *r = mmap(NULL, 4096, PROT_READ, MAP_SHARED, ro, 0);
    CC(r != MAP_FAILED && strcmp(r + 200, "through the export") == 0);
    munmap(r, 4096);
    close(ro);
    pm_munmap(lm, 8192);
    pm_close(lfd);
    munmap(m, 8192);
    close(fd);
    return 0;
}

TEST(a_manager_s_shared_memory_object_is_passed_through)
{
    if (geteuid() != 0)
        SKIP("needs root: registering a FUSE backing file needs CAP_SYS_ADMIN");
    if (!kernel_at_least(6, 9))
        SKIP("FUSE passthrough needs Linux >= 6.9");
    REQUIRE(pathspace_fresh() == 0);
    struct xport x;
    START_EXPORT(&x, NULL, 3000);
    struct proc shm;
    const char *args[] = { "-p", "/dev/pmshm", "-s", "64K", NULL };
    REQUIRE(start_example(&shm, "shmem_server", args) == 0);
    struct mmap_arg a;
    mpath(&x, "/dev/pmshm/pt", a.path);
    strcpy(a.lib_path, "/dev/pmshm/pt");
    CHECK_EQ_LONG(as_user(0, passthrough_client, &a), 0);
    CHECK_EQ_LONG(xport_stop(&x), 0);
    CHECK_EQ_LONG(stop_example(&shm), 0);
}

struct perm_arg {
    char mnt[PATH_MAX];
    int root;
};

static int perm_client(void *varg)
{
    struct perm_arg *a = varg;
    char pub[PATH_MAX], priv[PATH_MAX];
    fmt(pub, sizeof pub, "%s/perm/pub", a->mnt);
    fmt(priv, sizeof priv, "%s/perm/priv", a->mnt);
    int fd = open(pub, O_RDONLY);
    CC(fd >= 0);
    unsigned char b[4];
    CC(read(fd, b, 4) == 4 && b[1] == iom_fill_byte(1));
    /* The manager sees this process, not the export. */
    struct iom_who w;
    memset(&w, 0, sizeof w);
    CC(ioctl(fd, PEERMAP_DCMD_TO_IOCTL(IOM_DCMD_WHO), &w) >= 0);
    CC(w.pid == getpid() && w.euid == geteuid() && w.egid == getegid());
    close(fd);
    fd = open(pub, O_WRONLY);
    if (a->root) {
        CC(fd >= 0);
        close(fd);
        fd = open(priv, O_RDWR);
        CC(fd >= 0);
        close(fd);
    } else {
        /* 0644 root's: the manager refuses uid 65534 write access. */
        CC(fd < 0 && errno == EACCES);
        /* 0600 root's: not even reachable, as pm_open() would say. */
        CC(open(priv, O_RDONLY) < 0 && errno == EACCES);
        struct stat st;
        CC(stat(priv, &st) < 0 && errno == EACCES);
    }
    /* Listing: only what this caller may reach of the path space. */
    char dir[PATH_MAX];
    fmt(dir, sizeof dir, "%s/perm", a->mnt);
    DIR *d = opendir(dir);
    CC(d != NULL);
    int saw_pub = 0, saw_priv = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        saw_pub |= strcmp(e->d_name, "pub") == 0;
        saw_priv |= strcmp(e->d_name, "priv") == 0;
    }
    closedir(d);
    CC(saw_pub && saw_priv == a->root);
    return 0;
}

TEST(each_caller_gets_what_the_manager_gives_it)
{
    if (geteuid() != 0)
        SKIP("needs root: a root export serving uid 65534");
    REQUIRE(pathspace_fresh() == 0);
    struct xport x;
    START_EXPORT(&x, NULL, 3000);
    struct iom_res res[] = { { "/perm/pub", IOM_FILE, 0644, 0, 0 },
                             { "/perm/priv", IOM_FILE, 0600, 0, 0 } };
    struct target mgr;
    REQUIRE(iom_start(&mgr, res, 2, 0, 0) == 0);
    struct perm_arg a;
    fmt(a.mnt, sizeof a.mnt, "%s", x.mnt);
    a.root = 1;
    CHECK_EQ_LONG(as_user(0, perm_client, &a), 0);
    a.root = 0;
    CHECK_EQ_LONG(as_user(NOBODY, perm_client, &a), 0);
    CHECK_EQ_LONG(xport_stop(&x), 0);
    CHECK_EQ_LONG(iom_stop(&mgr), 0);
}

TEST(a_directory_manager_is_listed)
{
    REQUIRE(pathspace_fresh() == 0);
    struct xport x;
    START_EXPORT(&x, NULL, 3000);
    struct iom_res res[] = { { "/dm", IOM_DIR, 0755, geteuid(), getegid() },
                             { "/dm/sub/x", IOM_FILE, 0644, geteuid(), getegid() } };
    struct target mgr;
    REQUIRE(iom_start(&mgr, res, 2, 0, 0) == 0);
    char cmd[1024], out[4096];
    /* The manager's own entries, and what is attached below it. */
    fmt(cmd, sizeof cmd, "ls %s/dm", x.mnt);
    CHECK_EQ_LONG(sh(cmd, out, sizeof out), 0);
    CHECK(strcmp(out, "alpha\nbeta\nsub\n") == 0);
    fmt(cmd, sizeof cmd, "ls -l %s/dm | sed 1d | cut -c1", x.mnt);
    CHECK_EQ_LONG(sh(cmd, out, sizeof out), 0);
    CHECK(strcmp(out, "-\n-\nd\n") == 0);
    fmt(cmd, sizeof cmd, "wc -c < %s/dm/alpha; ls %s/dm/sub", x.mnt, x.mnt);
    CHECK_EQ_LONG(sh(cmd, out, sizeof out), 0);
    CHECK(strcmp(out, "1048576\nx\n") == 0);
    char p[PATH_MAX];
    mpath(&x, "/dm/nothere", p);
    CHECK(open(p, O_RDONLY) < 0 && errno == ENOENT);
    /* The manager refuses to create: its answer, not the export's. */
    CHECK(open(p, O_CREAT | O_RDWR, 0644) < 0 && errno == EROFS);
    struct stat st;
    mpath(&x, "/dm", p);
    CHECK(stat(p, &st) == 0 && S_ISDIR(st.st_mode));
    CHECK_EQ_LONG(xport_stop(&x), 0);
    CHECK_EQ_LONG(iom_stop(&mgr), 0);
}

struct two_arg {
    char path[PATH_MAX];
    int idx;
};

static int two_reader(void *varg)
{
    struct two_arg *a = varg;
    int fd = open(a->path, O_RDWR);
    CC(fd >= 0);
    unsigned seed = (unsigned)getpid();
    unsigned char buf[4096];
    for (int i = 0; i < 300; i++) {
        off_t off = (off_t)(rand_r(&seed) % (IOM_FILL_LEN - sizeof buf));
        CC(pread(fd, buf, sizeof buf, off) == (ssize_t)sizeof buf);
        for (size_t k = 0; k < sizeof buf; k += 127)
            CC(buf[k] == iom_fill_byte((uint64_t)off + k));
    }
    /* Each writes its own region past the fill and reads it back. */
    off_t mine = IOM_FILL_LEN + (off_t)a->idx * 65536;
    memset(buf, 'a' + a->idx, sizeof buf);
    for (int i = 0; i < 50; i++) {
        CC(pwrite(fd, buf, sizeof buf, mine) == (ssize_t)sizeof buf);
        unsigned char back[sizeof buf];
        CC(pread(fd, back, sizeof back, mine) == (ssize_t)sizeof back);
        CC(memcmp(back, buf, sizeof buf) == 0);
    }
    close(fd);
    return 0;
}

TEST(two_clients_at_once)
{
    REQUIRE(pathspace_fresh() == 0);
    struct xport x;
    START_EXPORT(&x, NULL, 3000);
    struct iom_res res[] = { { "/two/f", IOM_FILE, 0666, 0, 0 } };
    struct target mgr;
    REQUIRE(iom_start(&mgr, res, 1, 0, 0) == 0);
    struct two_arg a[2];
    pid_t kids[2];
    for (int i = 0; i < 2; i++) {
        mpath(&x, "/two/f", a[i].path);
        a[i].idx = i;
        kids[i] = fork();
        REQUIRE(kids[i] >= 0);
        if (kids[i] == 0)
            _exit(two_reader(&a[i]) ? 1 : 0);
    }
    for (int i = 0; i < 2; i++) {
        int st = reap_ms(kids[i], 60000);
        CHECK(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0);
    }
    CHECK_EQ_LONG(xport_stop(&x), 0);
    CHECK_EQ_LONG(iom_stop(&mgr), 0);
}

/* pread() of n bytes at off into buf: every byte the manager holds there
 * (none past IOM_FILL_LEN), byte for byte.  0, or the line that failed. */
static int read_checked(int fd, unsigned char *buf, size_t n, off_t off)
{
    size_t want = (uint64_t)off >= IOM_FILL_LEN ? 0
                  : n < IOM_FILL_LEN - (size_t)off ? n : IOM_FILL_LEN - (size_t)off;
    memset(buf, 0xee, n);
    ssize_t r = pread(fd, buf, n, off);
    if (r != (ssize_t)want) {
        fprintf(stderr, "  pread(%zu at %lld) = %zd, not %zu\n", n, (long long)off, r, want);
        return __LINE__;
    }
    for (size_t i = 0; i < want; i++)
        if (buf[i] != iom_fill_byte((uint64_t)off + i)) {
            fprintf(stderr, "  pread(%zu at %lld): byte %zu wrong\n", n, (long long)off, i);
            return __LINE__;
        }
    return 0;
}

/* Reads of every size that matters (in the datagram; in the manager's
 * file, whole or short; the kernel's largest request and past it) at odd
 * offsets, into buffers that start a page, 16 bytes in (malloc()'s) and at
 * an odd byte, through a device (direct I/O: each read one message) and a
 * regular file (page cache). */
static int read_sizes(const char *path)
{
    static const size_t sizes[] = { 1, 4096, 65536, 65537, 100003, 262144, 700001,
                                    (1u << 20) - 16, 1u << 20, (1u << 20) + 4097 };
    static const off_t offs[] = { 0, 1, 4095, 12345, IOM_FILL_LEN - 70001, IOM_FILL_LEN - 1,
                                  IOM_FILL_LEN };
    static const size_t starts[] = { 0, 16, 4093 };
    int fd = open(path, O_RDONLY);
    CC(fd >= 0);
    unsigned char *mem = NULL;
    CC(posix_memalign((void **)&mem, 4096, (2u << 20) + 8192) == 0);
    for (size_t b = 0; b < sizeof starts / sizeof *starts; b++)
        for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++)
            for (size_t k = 0; k < sizeof offs / sizeof *offs; k++) {
                int line = read_checked(fd, mem + starts[b], sizes[i], offs[k]);
                if (line)
                    return line;
            }
    /* And read() from the start to the end, 1 MiB at a time. */
    CC(lseek(fd, 0, SEEK_SET) == 0);
    size_t total = 0;
    for (;;) {
        ssize_t r = read(fd, mem + 16, 1u << 20);
        CC(r >= 0);
        if (r == 0)
            break;
        for (ssize_t i = 0; i < r; i++)
            CC(mem[16 + i] == iom_fill_byte(total + (size_t)i));
        total += (size_t)r;
        CC(total <= IOM_FILL_LEN);
    }
    CC(total == IOM_FILL_LEN);
    free(mem);
    close(fd);
    return 0;
}

static void large_reads(int map_bodies)
{
    REQUIRE(pathspace_fresh() == 0);
    /* The export maps the manager's files (and answers from them), or
     * must pread() them into its buffer (PEERMAP_MAP_BODIES=0). */
    if (!map_bodies)
        setenv("PEERMAP_MAP_BODIES", "0", 1);
    struct xport x;
    START_EXPORT(&x, NULL, 5000);
    unsetenv("PEERMAP_MAP_BODIES");
    struct iom_res res[] = { { "/big/dev", IOM_DEV, 0666, 0, 0 },
                             { "/big/file", IOM_FILE, 0666, 0, 0 } };
    struct target mgr;
    REQUIRE(iom_start(&mgr, res, 2, 0, 0) == 0);
    char p[PATH_MAX];
    mpath(&x, "/big/dev", p);
    CHECK_EQ_LONG(read_sizes(p), 0);
    mpath(&x, "/big/file", p);
    CHECK_EQ_LONG(read_sizes(p), 0);
    CHECK_EQ_LONG(xport_stop(&x), 0);
    CHECK_EQ_LONG(iom_stop(&mgr), 0);
}

TEST(large_reads_are_the_manager_s_bytes)
{
    large_reads(1);
}

TEST(large_reads_are_the_manager_s_bytes_when_its_files_are_not_mapped)
{
    large_reads(0);
}

/* A manager whose status claims more than its reply carries: the reader
 * gets what was sent and no more (never what the export's buffer held
 * before - another reader's bytes), and the export serves on. */
TEST(a_manager_claiming_more_than_it_sent_gives_only_what_it_sent)
{
    REQUIRE(pathspace_fresh() == 0);
    struct xport x;
    START_EXPORT(&x, NULL, 5000);
    struct iom_res res[] = { { "/oc/liar", IOM_OVERCLAIM, 0666, 0, 0 },
                             { "/oc/dev", IOM_DEV, 0666, 0, 0 } };
    struct target mgr;
    REQUIRE(iom_start(&mgr, res, 2, 0, 0) == 0);
    char pl[PATH_MAX], pd[PATH_MAX];
    mpath(&x, "/oc/liar", pl);
    mpath(&x, "/oc/dev", pd);
    int liar = open(pl, O_RDONLY), dev = open(pd, O_RDONLY);
    REQUIRE(liar >= 0 && dev >= 0);
    unsigned char *buf = malloc(1u << 20);
    REQUIRE(buf != NULL);
    static const size_t sizes[] = { 2000, 65536, 200000, 600000 };
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
        size_t n = sizes[i];
        /* The export's buffers full of the other device's bytes first. */
        CHECK(pread(dev, buf, 1u << 20, 1) == (ssize_t)(1u << 20) - 1);
        memset(buf, 0xee, n);
        ssize_t r = pread(liar, buf, n, 7);
        CHECK_EQ_LONG(r, (long)(n / 2));
        for (ssize_t k = 0; k < r; k++)
            if (buf[k] != iom_fill_byte(7 + (uint64_t)k)) {
                CHECK(!"the bytes the manager sent");
                break;
            }
        CHECK(buf[n / 2] == 0xee);
    }
    CHECK(read_checked(dev, buf, 300000, 5) == 0);
    free(buf);
    close(liar);
    close(dev);
    CHECK_EQ_LONG(xport_stop(&x), 0);
    CHECK_EQ_LONG(iom_stop(&mgr), 0);
}

/* A reader in a child: the errno of its read (0 if it read), via exit. */
static pid_t start_reader(const char *path, int *res_fd)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0)
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open(path, O_RDONLY);
        int e = fd < 0 ? 1000 + errno : 0;
        char buf[64];
        if (fd >= 0 && read(fd, buf, sizeof buf) < 0)
            e = errno;
        if (write(p[1], &e, sizeof e) != sizeof e)
            _exit(1);
        _exit(0);
    }
    close(p[1]);
    *res_fd = p[0];
    return pid;
}

/* start_reader() as uid. */
static pid_t start_reader_as(const char *path, int *res_fd, uid_t uid)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0)
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        int e = 2000;
        if (drop_to(uid) == 0) {
            int fd = open(path, O_RDONLY);
            e = fd < 0 ? 1000 + errno : 0;
            char buf[64];
            if (fd >= 0 && read(fd, buf, sizeof buf) < 0)
                e = errno;
        }
        if (write(p[1], &e, sizeof e) != sizeof e)
            _exit(1);
        _exit(0);
    }
    close(p[1]);
    *res_fd = p[0];
    return pid;
}

/* Is process pid waiting in open() or read() (its request in the export,
 * or queued for it), or done?  1 when either, within ms; else 0. */
static int waiting_or_done(pid_t pid, int res_fd, int ms)
{
    long long until = now_ms() + ms;
    do {
        struct pollfd pp = { .fd = res_fd, .events = POLLIN };
        if (poll(&pp, 1, 0) == 1)
            return 1;
        char path[64], buf[256];
        fmt(path, sizeof path, "/proc/%d/stat", (int)pid);
        int f = open(path, O_RDONLY | O_CLOEXEC);
        ssize_t n = f >= 0 ? read(f, buf, sizeof buf - 1) : -1;
        if (f >= 0)
            close(f);
        char state = 0;
        if (n > 0) {
            buf[n] = 0;
            const char *rp = strrchr(buf, ')');
            state = rp && rp[1] ? rp[2] : 0;
        }
        fmt(path, sizeof path, "/proc/%d/syscall", (int)pid);
        f = open(path, O_RDONLY | O_CLOEXEC);
        n = f >= 0 ? read(f, buf, sizeof buf - 1) : -1;
        if (f >= 0)
            close(f);
        long nr = -1;
        if (n > 0) {
            buf[n] = 0;
            nr = strtol(buf, NULL, 10);
        }
        if ((state == 'S' || state == 'D') && (nr == SYS_openat || nr == SYS_read))
            return 1;
        struct pollfd none = { .fd = -1 };
        poll(&none, 1, 5); /* nothing to wait on: /proc tells no change */
    } while (now_ms() < until);
    return 0;
}

static int reader_result(pid_t pid, int fd, int ms)
{
    int e = -1;
    struct pollfd pp = { .fd = fd, .events = POLLIN };
    if (poll(&pp, 1, ms) != 1 || read(fd, &e, sizeof e) != sizeof e)
        e = -1;
    close(fd);
    reap_ms(pid, 5000);
    return e;
}

TEST(a_manager_killed_during_a_read)
{
    REQUIRE(pathspace_fresh() == 0);
    struct xport x;
    START_EXPORT(&x, NULL, 30000);  /* the death ends the wait, not the deadline */
    struct iom_res res[] = { { "/kill/stall", IOM_STALL, 0666, 0, 0 } };
    struct target mgr;
    REQUIRE(iom_start(&mgr, res, 1, 0, 0) == 0);
    char p[PATH_MAX];
    mpath(&x, "/kill/stall", p);
    int rfd;
    pid_t reader = start_reader(p, &rfd);
    REQUIRE(reader > 0);
    char c;
    REQUIRE(target_read(&mgr, &c, 1, 10000) == 0);  /* the read is in the manager */
    kill(mgr.pid, SIGKILL);
    target_finish(&mgr, 5000);
    CHECK_EQ_LONG(reader_result(reader, rfd, 10000), ENXIO);
    /* The export serves on; the path is gone with its manager. */
    struct stat st;
    CHECK(stat(p, &st) < 0 && errno == ENOENT);
    CHECK_EQ_LONG(xport_stop(&x), 0);
}

/* Two managers behind the export x: one that stalls (kind, at `stall`)
 * and a file (mode, at `file`); *m1 and *m2 are they, ps and pf their
 * paths through the mount.  0, or -1. */
static int stall_beside_file(const struct xport *x, enum iom_kind kind, const char *stall,
                             const char *file, mode_t mode, struct target *m1,
                             struct target *m2, char *ps, char *pf)
{
    struct iom_res rs[] = { { stall, kind, 0666, 0, 0 } };
    struct iom_res rf[] = { { file, IOM_FILE, mode, 0, 0 } };
    if (iom_start(m1, rs, 1, 0, 0) < 0)
        return -1;
    if (iom_start(m2, rf, 1, 0, 0) < 0) {
        iom_stop(m1);
        return -1;
    }
    mpath(x, stall, ps);
    mpath(x, file, pf);
    return 0;
}

TEST(a_stalled_manager_costs_its_reader_eio_and_others_go_on)
{
    REQUIRE(pathspace_fresh() == 0);
    struct xport x;
    START_EXPORT(&x, NULL, 400);
    struct target m1, m2;
    char ps[PATH_MAX], pf[PATH_MAX];
    REQUIRE(stall_beside_file(&x, IOM_STALL, "/st/stall", "/st/file", 0666,
                              &m1, &m2, ps, pf) == 0);
    int rfd;
    long long t0 = now_ms();
    pid_t reader = start_reader(ps, &rfd);
    REQUIRE(reader > 0);
    char c;
    REQUIRE(target_read(&m1, &c, 1, 10000) == 0);
    /* While that read waits in its manager, another manager is served. */
    char cmd[PATH_MAX + 64], out[256];
    fmt(cmd, sizeof cmd, "head -c 3 %s | od -An -tu1", pf);
    CHECK_EQ_LONG(sh(cmd, out, sizeof out), 0);
    CHECK(strstr(out, "3") != NULL);
    /* The stalled read ends with EIO at the deadline, not before. */
    CHECK_EQ_LONG(reader_result(reader, rfd, 15000), EIO);
    CHECK(now_ms() - t0 >= 400);
    c = 1;
    CHECK(target_write(&m1, &c, 1) == 0);  /* let the manager go on */
    CHECK_EQ_LONG(xport_stop(&x), 0);
    CHECK_EQ_LONG(iom_stop(&m1), 0);
    CHECK_EQ_LONG(iom_stop(&m2), 0);
}

TEST(another_users_requests_on_a_stalled_manager_leave_threads_for_root)
{
    /* uid 65534 keeps more reads waiting on a stalled manager than the
     * export has threads (each holds its thread until the deadline, a
     * minute here, and it could send new ones as they end).  Root's read
     * of another manager's file must still be served, long before that
     * deadline: over its share of threads, 65534's requests are refused
     * (EAGAIN) at once instead of holding every thread. */
    if (geteuid() != 0)
        SKIP("needs root: a root export serving uid 65534");
    REQUIRE(pathspace_fresh() == 0);
    struct xport x;
    START_EXPORT(&x, NULL, 60000);
    /* In another directory than the stalled path, so that only the thread
     * share is tested (look-ups in one directory: the next test). */
    struct target m1, m2;
    char ps[PATH_MAX], pf[PATH_MAX];
    REQUIRE(stall_beside_file(&x, IOM_STALL, "/th/stall", "/tf/file", 0644,
                              &m1, &m2, ps, pf) == 0);
    enum { N = 48 }; /* more than the export's 32 threads */
    pid_t rd[N];
    int rfd[N];
    for (int i = 0; i < N; i++) {
        rd[i] = start_reader_as(ps, &rfd[i], NOBODY);
        REQUIRE(rd[i] > 0);
    }
    char c;
    REQUIRE(target_read(&m1, &c, 1, 20000) == 0); /* the manager stalls */
    int waiting = 0;
    for (int i = 0; i < N; i++)
        waiting += waiting_or_done(rd[i], rfd[i], 20000);
    CHECK_EQ_LONG(waiting, N);

    int rootfd;
    pid_t root = start_reader(pf, &rootfd);
    REQUIRE(root > 0);
    CHECK_EQ_LONG(reader_result(root, rootfd, 20000), 0);

    int refused = 0;
    for (int i = 0; i < N; i++) {
        struct pollfd pp = { .fd = rfd[i], .events = POLLIN };
        int e = -1;
        if (poll(&pp, 1, 0) == 1 && read(rfd[i], &e, sizeof e) == sizeof e &&
            (e == EAGAIN || e == 1000 + EAGAIN))
            refused++;
    }
    CHECK(refused > 0 && refused < N);
    /* Let the manager go on (every read it still holds), then the readers
     * end with it. */
    for (int i = 0; i < N; i++)
        if (target_write(&m1, &c, 1) < 0)
            break;
    for (int i = 0; i < N; i++) {
        close(rfd[i]);
        reap_ms(rd[i], 20000);
    }
    CHECK_EQ_LONG(xport_stop(&x), 0);
    iom_stop(&m1);
    CHECK_EQ_LONG(iom_stop(&m2), 0);
}

TEST(a_look_up_held_by_a_stalled_manager_leaves_its_directory_to_others)
{
    /* One manager stalls in the stat that a look-up of its path sends.
     * A look-up of another manager's path in the same directory must not
     * wait behind it: by default the kernel holds a FUSE directory for
     * each look-up in it, which here would last the export's deadline (a
     * minute) for every caller of every path beside the stalled one. */
    REQUIRE(pathspace_fresh() == 0);
    struct xport x;
    START_EXPORT(&x, NULL, 60000);
    struct target m1, m2;
    char ps[PATH_MAX], pf[PATH_MAX];
    REQUIRE(stall_beside_file(&x, IOM_STALL_STAT, "/pd/stall", "/pd/file", 0644,
                              &m1, &m2, ps, pf) == 0);
    int sfd;
    pid_t staller = start_reader(ps, &sfd);
    REQUIRE(staller > 0);
    char c;
    REQUIRE(target_read(&m1, &c, 1, 20000) == 0); /* the look-up is in the manager */
    int rootfd;
    pid_t root = start_reader(pf, &rootfd);
    REQUIRE(root > 0);
    /* Root's answer, while the other look-up still waits (had it waited
     * behind it, it could not come before the manager is let go). */
    struct pollfd pp = { .fd = rootfd, .events = POLLIN };
    int e = -1;
    CHECK(poll(&pp, 1, 20000) == 1 && read(rootfd, &e, sizeof e) == sizeof e);
    CHECK_EQ_LONG(e, 0);
    /* The stalled look-up ends with its manager. */
    kill(m1.pid, SIGKILL);
    target_finish(&m1, 5000);
    close(rootfd);
    reap_ms(root, 20000);
    CHECK(reader_result(staller, sfd, 20000) != -1);
    CHECK_EQ_LONG(xport_stop(&x), 0);
    CHECK_EQ_LONG(iom_stop(&m2), 0);
}

/* A reader of `path` (a stalled resource of a new manager, *mgr) through
 * the export x, waiting in it: the manager has the read.  p gets the path
 * through the mount.  0, or -1. */
static int read_from_a_stalled_manager(struct xport *x, const char *path, struct target *mgr,
                                       char *p, pid_t *reader, int *rfd)
{
    struct iom_res res[] = { { path, IOM_STALL, 0666, 0, 0 } };
    if (iom_start(mgr, res, 1, 0, 0) < 0)
        return -1;
    mpath(x, path, p);
    *reader = start_reader(p, rfd);
    char c;
    return *reader > 0 && target_read(mgr, &c, 1, 10000) == 0 ? 0 : -1;
}

TEST(the_export_killed_during_a_read)
{
    REQUIRE(pathspace_fresh() == 0);
    struct xport x;
    START_EXPORT(&x, NULL, 30000);
    struct target mgr;
    char p[PATH_MAX], c;
    int rfd;
    pid_t reader;
    REQUIRE(read_from_a_stalled_manager(&x, "/ek/stall", &mgr, p, &reader, &rfd) == 0);
    kill(x.pid, SIGKILL);
    reap_ms(x.pid, 5000);
    x.pid = 0;
    /* The reader is let go at once: the kernel aborts the connection. */
    int e = reader_result(reader, rfd, 10000);
    CHECK(e == ECONNABORTED || e == ENOTCONN);
    /* No mount is left to hang anyone: fusermount3 (auto_unmount) or the
     * export's watchdog removes it; until then every call fails at once
     * with ENOTCONN. */
    CHECK(unmounted_within(x.mnt, 10000, fails_at_once, p) == 0);
    c = 1;
    CHECK(target_write(&mgr, &c, 1) == 0);
    CHECK(xport_stop(&x) != -2);
    CHECK_EQ_LONG(iom_stop(&mgr), 0);
}

TEST(sigterm_while_a_manager_stalls_ends_within_the_shutdown_deadline)
{
    /* libfuse joins its workers before it returns, and a worker waiting on
     * a stalled manager (deadline 60 s here) would hold the shutdown that
     * long: the export gives up 10 s after the signal, with status 1, and
     * its watchdog removes the mount. */
    REQUIRE(pathspace_fresh() == 0);
    struct xport x;
    START_EXPORT(&x, NULL, 60000);
    struct target mgr;
    char p[PATH_MAX], c;
    int rfd;
    pid_t reader;
    REQUIRE(read_from_a_stalled_manager(&x, "/sd/stall", &mgr, p, &reader, &rfd) == 0);
    long long t0 = now_ms();
    kill(x.pid, SIGTERM);
    int st = reap_ms(x.pid, 20000);
    long long took = now_ms() - t0;
    if (st < 0)
        kill(x.pid, SIGKILL), reap_ms(x.pid, 5000);
    x.pid = 0;
    CHECK(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 1);
    CHECK(took >= 9000 && took < 20000);
    int e = reader_result(reader, rfd, 10000);
    CHECK(e == ECONNABORTED || e == ENOTCONN || e == EIO);
    CHECK(unmounted_within(x.mnt, 10000, NULL, NULL) == 0);
    c = 1;
    CHECK(target_write(&mgr, &c, 1) == 0);
    CHECK(xport_stop(&x) != -2);
    CHECK_EQ_LONG(iom_stop(&mgr), 0);
}

TEST(sigterm_unmounts)
{
    REQUIRE(pathspace_fresh() == 0);
    struct xport x;
    START_EXPORT(&x, NULL, 3000);
    REQUIRE(mounted(x.mnt));
    char mnt[sizeof x.mnt];
    strcpy(mnt, x.mnt);
    kill(x.pid, SIGTERM);
    int st = reap_ms(x.pid, 10000);
    x.pid = 0;
    CHECK(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0);
    CHECK(!mounted(mnt));
    CHECK_EQ_LONG(xport_stop(&x), -1);
}

/* ---- --link ---- */

static int is_link_to(const char *link, const char *target)
{
    char buf[PATH_MAX];
    ssize_t n = readlink(link, buf, sizeof buf - 1);
    if (n < 0)
        return 0;
    buf[n] = '\0';
    return strcmp(buf, target) == 0;
}

static int wait_for(int (*cond)(const char *, const char *), const char *a, const char *b,
                    int want, int ms)
{
    long long end = now_ms() + ms;
    for (;;) {
        if (!!cond(a, b) == want)
            return 0;
        if (now_ms() >= end)
            return -1;
        struct pollfd none;
        poll(&none, 0, 10);
    }
}

static int exists(const char *path, const char *unused)
{
    (void)unused;
    struct stat st;
    return lstat(path, &st) == 0;
}

TEST(link_makes_the_attached_paths_lead_to_the_export)
{
    if (geteuid() != 0)
        SKIP("needs root: --link is for root");
    REQUIRE(pathspace_fresh() == 0);
    char scratch[] = "/tmp/pm-link-XXXXXX";
    REQUIRE(mkdtemp(scratch) != NULL);
    REQUIRE(chmod(scratch, 0755) == 0);
    char dev[PATH_MAX], taken[PATH_MAX], lnk[PATH_MAX], deep[PATH_MAX], usr[PATH_MAX];
    fmt(dev, sizeof dev, "%s/dev", scratch);
    fmt(taken, sizeof taken, "%s/dev/taken", scratch);
    fmt(lnk, sizeof lnk, "%s/dev/lnk", scratch);
    fmt(deep, sizeof deep, "%s/deep", scratch);
    fmt(usr, sizeof usr, "%s/dev/usr", scratch);
    REQUIRE(mkdir(dev, 0755) == 0);
    int fd = open(taken, O_CREAT | O_WRONLY, 0644);
    REQUIRE(fd >= 0);
    REQUIRE(write(fd, "mine", 4) == 4);
    close(fd);
    struct xport x;
    const char *extra[] = { "--link", "--link-root", scratch, NULL };
    START_EXPORT(&x, extra, 3000);

    struct iom_res rootres[] = { { "/dev/lnk", IOM_DEV, 0666, 0, 0 },
                                 { "/dev/taken", IOM_FILE, 0666, 0, 0 },
                                 { "/deep/er/x", IOM_FILE, 0666, 0, 0 } };
    struct iom_res userres[] = { { "/dev/usr", IOM_FILE, 0666, NOBODY, NOBODY } };
    struct target mroot, muser;
    REQUIRE(iom_start(&muser, userres, 1, NOBODY, NOBODY) == 0);
    REQUIRE(iom_start(&mroot, rootres, 3, 0, 0) == 0);
    char target[PATH_MAX];
    mpath(&x, "/dev/lnk", target);
    CHECK(wait_for(is_link_to, lnk, target, 1, 10000) == 0);
    /* Through the link, the manager. */
    fd = open(lnk, O_RDONLY);
    CHECK(fd >= 0);
    unsigned char b[2];
    CHECK(fd >= 0 && read(fd, b, 2) == 2 && b[1] == iom_fill_byte(1));
    if (fd >= 0)
        close(fd);
    char x_link[PATH_MAX], x_target[PATH_MAX];
    fmt(x_link, sizeof x_link, "%s/deep/er/x", scratch);
    mpath(&x, "/deep/er/x", x_target);
    CHECK(wait_for(is_link_to, x_link, x_target, 1, 10000) == 0);
    /* Never over a file that was there; never for another user's entry. */
    char buf[8] = { 0 };
    fd = open(taken, O_RDONLY | O_NOFOLLOW);
    CHECK(fd >= 0 && read(fd, buf, sizeof buf) == 4 && strcmp(buf, "mine") == 0);
    if (fd >= 0)
        close(fd);
    CHECK(!exists(usr, NULL));

    /* The manager goes: its links go, and the directories made for them. */
    CHECK_EQ_LONG(iom_stop(&mroot), 0);
    CHECK(wait_for(exists, lnk, NULL, 0, 10000) == 0);
    CHECK(wait_for(exists, deep, NULL, 0, 10000) == 0);
    CHECK(exists(dev, NULL));
    fd = open(taken, O_RDONLY | O_NOFOLLOW);
    CHECK(fd >= 0);
    if (fd >= 0)
        close(fd);
    CHECK_EQ_LONG(xport_stop(&x), 0);
    CHECK_EQ_LONG(iom_stop(&muser), 0);
    unlink(taken);
    rmdir(dev);
    CHECK(rmdir(scratch) == 0);  /* nothing of ours left behind */
}

/* ---- a user's export ---- */

struct user_arg {
    char mnt[PATH_MAX];
    pid_t export_pid;
};

static int user_client(void *varg)
{
    struct user_arg *a = varg;
    char pub[PATH_MAX], priv[PATH_MAX];
    fmt(pub, sizeof pub, "%s/nr/pub", a->mnt);
    fmt(priv, sizeof priv, "%s/nr/priv", a->mnt);
    int fd = open(pub, O_RDONLY);
    CC(fd >= 0);
    struct iom_who w;
    CC(ioctl(fd, PEERMAP_DCMD_TO_IOCTL(IOM_DCMD_WHO), &w) >= 0);
    /* A user's export cannot speak for others: the manager sees the
     * export itself, which is this same user. */
    CC(w.euid == NOBODY && w.pid == a->export_pid);
    close(fd);
    CC(open(pub, O_WRONLY) < 0 && errno == EACCES);
    CC(open(priv, O_RDONLY) < 0 && errno == EACCES);
    return 0;
}

static int user_fewer_groups(void *varg)
{
    struct user_arg *a = varg;
    char pub[PATH_MAX];
    fmt(pub, sizeof pub, "%s/nr/pub", a->mnt);
    CC(open(pub, O_RDONLY) < 0 && errno == EACCES);
    return 0;
}

TEST(a_user_s_export_serves_that_user_only)
{
    NEED_EXPORT_BUILT();
    if (geteuid() != 0)
        SKIP("needs root: root mounts the FUSE device for uid 65534 (/dev/fuse is root's here)");
    if (access("/dev/fuse", F_OK) != 0)
        SKIP("/dev/fuse is missing");
    if (!tool())
        SKIP("PEERMAP_TOOL is not set (run through ctest)");
    REQUIRE(pathspace_fresh() == 0);
    struct iom_res res[] = { { "/nr/pub", IOM_FILE, 0644, 0, 0 },
                             { "/nr/priv", IOM_FILE, 0600, 0, 0 } };
    struct target mgr;
    REQUIRE(iom_start(&mgr, res, 2, 0, 0) == 0);
    /* As fusermount3 would for the user: open the device, mount it for
     * uid 65534, hand the descriptor over (libfuse's /dev/fd/N). */
    char dir[] = "/tmp/pm-export-user-XXXXXX";
    REQUIRE(mkdtemp(dir) != NULL);
    REQUIRE(chmod(dir, 0755) == 0);
    char mnt[PATH_MAX];
    fmt(mnt, sizeof mnt, "%s/mnt", dir);
    REQUIRE(mkdir(mnt, 0755) == 0 && chown(mnt, NOBODY, NOBODY) == 0);
    int dev = open("/dev/fuse", O_RDWR);
    REQUIRE(dev >= 0);
    char opts[128];
    fmt(opts, sizeof opts, "fd=%d,rootmode=40000,user_id=%d,group_id=%d", dev, NOBODY,
             NOBODY);
    REQUIRE(mount("peermap", mnt, "fuse.peermap", MS_NOSUID | MS_NODEV, opts) == 0);
    int p[2];
    REQUIRE(pipe(p) == 0);
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        close(p[0]);
        dup2(p[1], STDOUT_FILENO);
        char devpath[32];
        fmt(devpath, sizeof devpath, "/dev/fd/%d", dev);
        /* The export holds a group (100) its callers may lack. */
        drop_groups[0] = 100;
        drop_ngroups = 1;
        if (drop_to(NOBODY) < 0)
            _exit(126);
        execl(tool(), tool(), "export", "-t", "3000", devpath, (char *)NULL);
        _exit(127);
    }
    close(p[1]);
    close(dev);
    char line[256];
    CHECK(read_line(p[0], line, sizeof line, 15000) == 0);
    close(p[0]);

    /* Root is not that user: the kernel keeps it out. */
    char pub[PATH_MAX];
    fmt(pub, sizeof pub, "%s/nr/pub", mnt);
    CHECK(open(pub, O_RDONLY) < 0 && errno == EACCES);
    struct user_arg a;
    fmt(a.mnt, sizeof a.mnt, "%s", mnt);
    a.export_pid = pid;
    /* A caller of that user with the export's groups: served. */
    drop_groups[0] = 100;
    drop_ngroups = 1;
    CHECK_EQ_LONG(as_user(NOBODY, user_client, &a), 0);
    /* Without group 100 it would get the export's group rights: refused. */
    drop_ngroups = 0;
    CHECK_EQ_LONG(as_user(NOBODY, user_fewer_groups, &a), 0);

    kill(pid, SIGTERM);
    int st = reap_ms(pid, 10000);
    CHECK(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0);
    umount2(mnt, MNT_DETACH);
    CHECK(rmdir(mnt) == 0 && rmdir(dir) == 0);
    CHECK_EQ_LONG(iom_stop(&mgr), 0);
}

/* ---- another user holding opens through a root export ---- */

/*
 * Every open through the export is a connection the export holds (a
 * descriptor) for as long as the caller keeps its file open.  uid 65534
 * opens one file over and over (the manager lets it have up to its own
 * share of connections) and keeps them all: the export must keep room for
 * root, whose open still works.  The export runs with a descriptor limit
 * of EXPORT_NOFILE (soft and hard: a service's usual soft limit is 1024,
 * lower than any manager's share), so that the attacker reaches it.
 */
#define EXPORT_NOFILE 256

struct hog_arg {
    char path[PATH_MAX];
    int report;  /* write end: how many opens succeeded, then the errno */
    int hold;    /* read end: exit when it closes */
};

static int hog_body(void *varg)
{
    struct hog_arg *a = varg;
    int n = 0, e = 0;
    for (; n < 3 * EXPORT_NOFILE; n++) {
        int fd = open(a->path, O_RDONLY);
        if (fd < 0) {
            e = errno;
            break;
        }
    }
    int r[2] = { n, e };
    if (write(a->report, r, sizeof r) != sizeof r)
        return __LINE__;
    char c;
    while (read(a->hold, &c, 1) < 0 && errno == EINTR)
        ;
    return 0;
}

TEST(another_user_holding_opens_through_the_export_leaves_room_for_root)
{
    if (geteuid() != 0)
        SKIP("needs root: a root export serving uid 65534");
    REQUIRE(pathspace_fresh() == 0);
    struct xport x;
    xport_nofile = EXPORT_NOFILE;
    START_EXPORT(&x, NULL, 3000);
    xport_nofile = 0;
    struct iom_res res[] = { { "/hog/pub", IOM_FILE, 0644, 0, 0 } };
    struct target mgr;
    REQUIRE(iom_start(&mgr, res, 1, 0, 0) == 0);

    int rep[2], hold[2];
    REQUIRE(pipe2(rep, O_CLOEXEC) == 0 && pipe2(hold, O_CLOEXEC) == 0);
    struct hog_arg a = { .report = rep[1], .hold = hold[0] };
    fmt(a.path, sizeof a.path, "%s/hog/pub", x.mnt);
    pid_t hog = fork();
    REQUIRE(hog >= 0);
    if (hog == 0) {
        close(rep[0]);
        close(hold[1]);
        struct rlimit big = { 4 * EXPORT_NOFILE, 4 * EXPORT_NOFILE };
        if (setrlimit(RLIMIT_NOFILE, &big) < 0 || drop_to(NOBODY) < 0)
            _exit(2);
        _exit(hog_body(&a) ? 3 : 0);
    }
    close(rep[1]);
    close(hold[0]);
    int r[2] = { -1, -1 };
    struct pollfd p = { .fd = rep[0], .events = POLLIN };
    CHECK(poll(&p, 1, 60000) == 1 && read(rep[0], r, sizeof r) == sizeof r);
    /* It was stopped, and told why. */
    CHECK(r[0] > 0 && r[0] < EXPORT_NOFILE);
    CHECK(r[1] == EMFILE || r[1] == ENFILE || r[1] == EAGAIN);

    /* Root still gets in, while uid 65534 holds all it could get. */
    int fd = open(a.path, O_RDONLY);
    CHECK(fd >= 0);
    unsigned char b[4];
    CHECK(fd >= 0 && read(fd, b, 4) == 4 && b[1] == iom_fill_byte(1));
    if (fd >= 0)
        close(fd);

    close(hold[1]);
    CHECK_EQ_LONG(reap_ms(hog, 20000), 0);
    close(rep[0]);
    CHECK_EQ_LONG(xport_stop(&x), 0);
    CHECK_EQ_LONG(iom_stop(&mgr), 0);
}
