/*
 * The path space under attack: uid 65534 against root's managers and root's
 * clients.  Each test is one trick a local user has (hard links, symlinks,
 * renames, names made first, racing writes, claiming a path while root's
 * manager is not there, flooding), played as an attacker would: on whatever
 * it finds in the path space directory, whatever its layout, with a real
 * server of its own that records whatever a client sends it.  The verdict
 * is always the same: root's client reaches root's manager, or nothing
 * (ENOENT, or EPERM for a directory that cannot be trusted) - never the
 * attacker, and root's data never reaches the attacker.
 *
 * The test process is root (the victim client, and it starts the victim
 * manager as a root child); the attacker is a forked child that drops to
 * 65534 with setgroups/setresgid/setresuid.  Not root: every test skips.
 * fs.protected_hardlinks is a machine-wide switch, so it is not turned off:
 * instead the test itself makes, as root, the hard links the kernel would
 * let the attacker make with it off (links to every root-owned file of the
 * path space, in the attacker's own directory), and the attacker uses them.
 */
#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#include "harness.h"
#include "helpers.h"
#include "peermap.h"
#include "sys/dispatch.h"
#include "sys/iofunc.h"
#include "sys/neutrino.h"
#include "../src/common/internal.h"
#include "../src/resmgr/pathspace.h"

#define VPATH "/dev/pmtest/victim"

/* ---- a device that tells the test what it was sent ----------------- */

/* In a server child: where io_write reports the bytes it received. */
static int report_fd = -1;

static int dev_write(resmgr_context_t *ctp, io_write_t *msg, RESMGR_OCB_T *ocb)
{
    int status, nonblock;
    char buf[256];
    if ((status = iofunc_write_verify(ctp, msg, ocb, &nonblock)) != EOK)
        return status;
    size_t n = (size_t)_IO_WRITE_GET_NBYTES(msg);
    if (n > sizeof buf)
        n = sizeof buf;
    ssize_t got = n ? resmgr_msgread(ctp, buf, n, sizeof(msg->i)) : 0;
    if (got < 0)
        return errno;
    /* Before the reply: when the client's write returns, the test can look. */
    if (got > 0 && write(report_fd, buf, (size_t)got) != got)
        return EIO;
    _IO_SET_WRITE_NBYTES(ctp, (int)got);
    return _RESMGR_NPARTS(0);
}

static void *serve(void *arg)
{
    dispatch_t *dpp = arg;
    dispatch_context_t *ctp = dispatch_context_alloc(dpp);
    while (ctp) {
        /* EINTR is an answer (QNX's too): glibc's setresuid() in another
         * thread interrupts this one to change its ids as well. */
        dispatch_context_t *got = dispatch_block(ctp);
        if (!got && errno == EINTR)
            continue;
        if (!(ctp = got))
            break;
        dispatch_handler(ctp);
    }
    return NULL;
}

static resmgr_connect_funcs_t cfuncs;
static resmgr_io_funcs_t iofuncs;
static iofunc_attr_t dev_attr;

/* Attach `paths` (NULL-terminated; a trailing '/' means a directory
 * manager) and serve them from a thread.  0, or the errno of the failure. */
static int start_device(const char *const *paths)
{
    dispatch_t *dpp = dispatch_create();
    if (!dpp)
        return errno ? errno : EIO;
    iofunc_func_init(_RESMGR_CONNECT_NFUNCS, &cfuncs, _RESMGR_IO_NFUNCS, &iofuncs);
    iofuncs.write = dev_write;
    iofunc_attr_init(&dev_attr, S_IFCHR | 0666, NULL, NULL);
    for (int i = 0; paths[i]; i++) {
        char p[PATH_MAX];
        size_t n = strlen(paths[i]);
        int dir = n > 1 && paths[i][n - 1] == '/';
        snprintf(p, sizeof p, "%.*s", (int)(dir ? n - 1 : n), paths[i]);
        if (resmgr_attach(dpp, NULL, p, _FTYPE_ANY, dir || !strcmp(p, "/") ? _RESMGR_FLAG_DIR : 0,
                          &cfuncs, &iofuncs, &dev_attr) < 0)
            return errno ? errno : EIO;
    }
    pthread_t th;
    return pthread_create(&th, NULL, serve, dpp);
}

struct server {
    struct target t;
    int report;          /* read end: what the server was sent */
};

struct victim_arg {
    int report;
    const char *paths[4];
};

/* The victim: root's manager.  Writes 'R' when attached, or 'E' and the
 * errno; then serves until the test lets go. */
static int victim_body(int in, int out, void *arg)
{
    struct victim_arg *a = arg;
    char c;
    report_fd = a->report;
    int e = start_device(a->paths);
    if (e) {
        unsigned char ec = (unsigned char)e;
        child_write_full(out, "E", 1);
        child_write_full(out, &ec, 1);
        return 1;
    }
    child_write_full(out, "R", 1);
    child_read_full(in, &c, 1);
    return 0;
}

/* Start a server with `body`; 0 and its ready byte in *ready, or -1. */
static int server_start(struct server *s, int (*body)(int, int, void *), void *arg,
                        int *report_w, char *ready)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0)
        return -1;
    s->report = p[0];
    *report_w = p[1];
    int rc = target_start(&s->t, body, arg);
    close(p[1]);
    if (rc < 0)
        return -1;
    fcntl(s->report, F_SETFL, O_NONBLOCK);
    return target_read(&s->t, ready, 1, 10000);
}

static void server_stop(struct server *s)
{
    target_finish(&s->t, 5000);
    close(s->report);
}

/* What the server was sent so far (non-blocking), NUL-terminated. */
static size_t server_got(struct server *s, char *buf, size_t size)
{
    ssize_t n = read(s->report, buf, size - 1);
    buf[n > 0 ? n : 0] = 0;
    return n > 0 ? (size_t)n : 0;
}

static int start_victim(struct server *v, struct victim_arg *a, const char *path)
{
    char c = 0;
    memset(a, 0, sizeof *a);
    a->paths[0] = path;
    if (server_start(v, victim_body, a, &a->report, &c) < 0)
        return -1;
    return c == 'R' ? 0 : -1;
}

/* ---- the attacker --------------------------------------------------- */

struct attacker_arg {
    int report;
    const char *paths[4];      /* what it attaches for itself */
    int precreate;             /* make root's names first: 1 directories, 2 symlinks */
    int make_space;            /* create the path space directory itself, first */
    int own_space;             /* attach in a space of its own (for 'W') */
};

struct me {
    pid_t pid;
    unsigned long long start;
    int chid;
    char own[64];              /* a directory of its own, outside the space */
    unsigned counter;
};

/* Every entry below `dir` (not following links), depth first. */
typedef void (*walk_fn)(int dfd, const char *dpath, const char *name, const struct stat *st,
                        void *arg);

static void walk(const char *dpath, int depth, walk_fn fn, void *arg)
{
    DIR *d = opendir(dpath);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d))) {
        struct stat st;
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
            continue;
        fn(dirfd(d), dpath, e->d_name, &st, arg);
        if (S_ISDIR(st.st_mode) && depth < 4) {
            char sub[PATH_MAX];
            snprintf(sub, sizeof sub, "%s/%s", dpath, e->d_name);
            walk(sub, depth + 1, fn, arg);
        }
    }
    closedir(d);
}

static ssize_t slurp(int dfd, const char *name, char *buf, size_t size)
{
    int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, size - 1);
    close(fd);
    if (n >= 0)
        buf[n] = 0;
    return n;
}

/* The attacker's chid, from its own entry (whatever the layout). */
static void find_chid(int dfd, const char *dpath, const char *name, const struct stat *st,
                      void *arg)
{
    struct me *me = arg;
    char buf[8192];
    (void)dpath;
    if (!S_ISREG(st->st_mode) || st->st_uid != geteuid() || slurp(dfd, name, buf, sizeof buf) < 0)
        return;
    char *c = strstr(buf, "\nchid ");
    if (c)
        me->chid = atoi(c + 6);
}

/* Forge a copy of a genuine entry (name + record) that points at the
 * attacker's server and is newer: the same text with the attacker's pid,
 * start time and channel, and seq + 1.  Works for any record of "key
 * value" lines whose name starts "<seq>.<pid>.<start>.".  0 or -1. */
static int forge(const struct me *me, const char *name, const char *rec, char *oname,
                 size_t nsize, char *orec, size_t rsize)
{
    unsigned long long seq, start;
    int pid, k = 0;
    if (sscanf(name, "%20llu.%d.%llu.%n", &seq, &pid, &start, &k) != 3 || !k)
        return -1;
    snprintf(oname, nsize, "%020llu.%d.%llu.%s", seq + 1, (int)me->pid, me->start, name + k);
    size_t o = 0;
    for (const char *p = rec; *p;) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) + 1 : strlen(p);
        char line[PATH_MAX + 64];
        if (!strncmp(p, "seq ", 4))
            snprintf(line, sizeof line, "seq %llu\n", strtoull(p + 4, NULL, 10) + 1);
        else if (!strncmp(p, "pid ", 4))
            snprintf(line, sizeof line, "pid %d\n", (int)me->pid);
        else if (!strncmp(p, "start ", 6))
            snprintf(line, sizeof line, "start %llu\n", me->start);
        else if (!strncmp(p, "chid ", 5))
            snprintf(line, sizeof line, "chid %d\n", me->chid);
        else
            snprintf(line, sizeof line, "%.*s", (int)n, p);
        size_t l = strlen(line);
        if (o + l >= rsize)
            return -1;
        memcpy(orec + o, line, l);
        o += l;
        p += n;
    }
    orec[o] = 0;
    return strstr(orec, "pid ") ? 0 : -1;
}

static int write_file(int dfd, const char *name, const char *text, int flags)
{
    int fd = openat(dfd, name, O_WRONLY | O_CLOEXEC | flags, 0644);
    if (fd < 0)
        return -1;
    ssize_t n = write(fd, text, strlen(text));
    close(fd);
    return n == (ssize_t)strlen(text) ? 0 : -1;
}

/* A file of the attacker's with forged content, in its own directory. */
static int own_copy(struct me *me, const char *text, char *path, size_t size)
{
    snprintf(path, size, "%s/f%u", me->own, me->counter++);
    return write_file(AT_FDCWD, path, text, O_CREAT | O_TRUNC);
}

/* Try everything on a file of root's in the space. */
struct trick { struct me *me; const char *space; int tricks; };
#define T_LINK    0x1   /* hard links: write through them, rename them into place */
#define T_SYMLINK 0x2   /* symbolic links named like root's entries, wherever writable */
#define T_RENAME  0x4   /* rename over, rename away, unlink, rmdir root's things */

static void play(int dfd, const char *dpath, const char *name, const struct stat *st, void *arg)
{
    struct trick *t = arg;
    struct me *me = t->me;
    char buf[8192], fname[256], frec[8192], mine[PATH_MAX], there[PATH_MAX * 2];
    if (st->st_uid != 0)
        return;
    if (S_ISDIR(st->st_mode)) {
        if (t->tricks & T_RENAME) {
            snprintf(there, sizeof there, "%s/moved%u", t->space, me->counter++);
            renameat(dfd, name, AT_FDCWD, there);             /* rename root's dir away */
            snprintf(mine, sizeof mine, "%s/d%u", me->own, me->counter++);
            if (mkdir(mine, 0777) == 0)
                renameat(AT_FDCWD, mine, dfd, name);          /* rename over it */
            unlinkat(dfd, name, AT_REMOVEDIR);
        }
        return;
    }
    if (!S_ISREG(st->st_mode) || slurp(dfd, name, buf, sizeof buf) <= 0 ||
        forge(me, name, buf, fname, sizeof fname, frec, sizeof frec) < 0)
        return;
    if (t->tricks & T_LINK) {
        /* Through the entry itself, and through a link of it in our own
         * directory: write our record, then put the link in place under
         * the forged name, next to the original and at the top. */
        write_file(dfd, name, frec, O_TRUNC);
        snprintf(mine, sizeof mine, "%s/l%u", me->own, me->counter++);
        if (linkat(dfd, name, AT_FDCWD, mine, 0) == 0) {
            write_file(AT_FDCWD, mine, frec, O_TRUNC);
            linkat(AT_FDCWD, mine, dfd, fname, 0);
            snprintf(there, sizeof there, "%s/%s", t->space, fname);
            linkat(AT_FDCWD, mine, AT_FDCWD, there, 0);
            renameat(AT_FDCWD, mine, dfd, fname);
        }
    }
    if (t->tricks & T_SYMLINK) {
        if (own_copy(me, frec, mine, sizeof mine) == 0) {
            symlinkat(mine, dfd, fname);
            snprintf(there, sizeof there, "%s/%s", t->space, fname);
            symlink(mine, there);
        }
    }
    if (t->tricks & T_RENAME) {
        if (own_copy(me, frec, mine, sizeof mine) == 0) {
            renameat(AT_FDCWD, mine, dfd, name);               /* over root's entry */
            renameat(AT_FDCWD, mine, dfd, fname);              /* next to it */
        }
        snprintf(there, sizeof there, "%s/moved%u", t->space, me->counter++);
        renameat(dfd, name, AT_FDCWD, there);                  /* root's away */
        unlinkat(dfd, name, 0);
    }
    (void)dpath;
}

/* The links the kernel gives anyone when fs.protected_hardlinks is 0:
 * made by the test (root) in the attacker's directory. */
struct prelink { const char *own; unsigned n; };

static void prelink_one(int dfd, const char *dpath, const char *name, const struct stat *st,
                        void *arg)
{
    struct prelink *p = arg;
    char there[PATH_MAX];
    (void)dpath;
    if (!S_ISREG(st->st_mode) || st->st_uid != 0)
        return;
    snprintf(there, sizeof there, "%s/pre%u", p->own, p->n++);
    if (linkat(dfd, name, AT_FDCWD, there, 0) == 0)
        lchown(there, 0, 0);
}

/* Use the links the test left: they are root's files, whatever they are. */
static void use_prelinks(struct me *me, const char *space)
{
    DIR *d = opendir(me->own);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        char buf[8192], fname[256], frec[8192], path[PATH_MAX], there[PATH_MAX * 2];
        if (strncmp(e->d_name, "pre", 3))
            continue;
        snprintf(path, sizeof path, "%s/%s", me->own, e->d_name);
        if (slurp(AT_FDCWD, path, buf, sizeof buf) <= 0)
            continue;
        /* Already ours (written through another link): leave it be. */
        char mine[32];
        snprintf(mine, sizeof mine, "\npid %d\n", (int)me->pid);
        if (strstr(buf, mine))
            continue;
        /* The record's own name is unknown here: forge from its fields. */
        unsigned long long seq = 0, start = 0;
        int pid = 0;
        char *s = strstr(buf, "\nseq "), *p = strstr(buf, "\npid "), *st = strstr(buf, "\nstart ");
        if (!s || !p || !st)
            continue;
        seq = strtoull(s + 5, NULL, 10);
        pid = atoi(p + 5);
        start = strtoull(st + 7, NULL, 10);
        char name[128];
        snprintf(name, sizeof name, "%020llu.%d.%llu.0.%08x", seq, pid, start, 0x5a5a5a5au);
        if (forge(me, name, buf, fname, sizeof fname, frec, sizeof frec) < 0)
            continue;
        write_file(AT_FDCWD, path, frec, O_TRUNC);
        snprintf(there, sizeof there, "%s/%s", space, fname);
        rename(path, there);
    }
    if (d)
        closedir(d);
}

/* A directory of the attacker's dressed as root's user directory in the
 * version-2 layout: a per-path directory for VPATH holding a record that
 * claims to be root's and points at the attacker. */
static void fake_root_dir(struct me *me, const char *base)
{
    char sub[PATH_MAX + 32], rec[1024], file[PATH_MAX + 128];
    unsigned long long h = 0xcbf29ce484222325ull;
    for (const char *s = VPATH; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 0x100000001b3ull;
    }
    mkdir(base, 0777);
    chmod(base, 0777);
    snprintf(sub, sizeof sub, "%s/%016llx", base, h);
    mkdir(sub, 0777);
    chmod(sub, 0777);
    snprintf(rec, sizeof rec,
             "peermap-pathspace 2\nseq 9999999999999999999\npid %d\nstart %llu\nuid 0\n"
             "chid %d\nflags 0\nmode 020666\nhandle 0\npath %s\n",
             (int)me->pid, me->start, me->chid, VPATH);
    snprintf(file, sizeof file, "%s/09999999999999999999.%d.%llu.0.00000001", sub,
             (int)me->pid, me->start);
    write_file(AT_FDCWD, file, rec, O_CREAT | O_TRUNC);
    chmod(file, 0666);
}

/* Names root will use, made first: root's user directory (as a directory
 * of ours, or as a symbolic link to one). */
static void precreate(struct me *me, const char *space, int as_symlink)
{
    char dir[PATH_MAX], zero[PATH_MAX];
    snprintf(zero, sizeof zero, "%s/0", space);
    if (as_symlink) {
        snprintf(dir, sizeof dir, "%s/d%u", me->own, me->counter++);
        fake_root_dir(me, dir);
        unlink(zero);
        symlink(dir, zero);
    } else {
        fake_root_dir(me, zero);
    }
}

/* Copies of its own "/" claim under other names: a flood that costs the
 * attacker nothing but inodes. */
/* `out`: where a 'P' goes every FLOOD_STEP entries, so that the test's
 * deadline is on progress (a loaded machine may take minutes for all). */
struct flood { struct me *me; unsigned n; int done; int out; };
#define FLOOD_STEP 2000

static void flood_from(int dfd, const char *dpath, const char *name, const struct stat *st,
                       void *arg)
{
    struct flood *f = arg;
    char buf[8192];
    if (f->done || !S_ISREG(st->st_mode) || st->st_uid != geteuid() ||
        slurp(dfd, name, buf, sizeof buf) <= 0 || !strstr(buf, "\npath /\n"))
        return;
    f->done = 1;
    size_t len = strlen(name);
    if (len < 8)
        return;
    char copy[256];
    for (unsigned i = 0; i < f->n; i++) {
        if (i % FLOOD_STEP == FLOOD_STEP - 1)
            child_write_full(f->out, "P", 1);
        snprintf(copy, sizeof copy, "%.*s%08x", (int)(len - 8), name, i);
        if (write_file(dfd, copy, buf, O_CREAT | O_EXCL) < 0)
            continue;
        fchmodat(dfd, copy, st->st_mode & 07777, 0);
    }
    /* And junk at the top of the space, where only a full scan would see it. */
    char junk[PATH_MAX];
    for (unsigned i = 0; i < f->n / 6; i++) {
        if (i % FLOOD_STEP == FLOOD_STEP - 1)
            child_write_full(f->out, "P", 1);
        snprintf(junk, sizeof junk, "%s/%020u.%d.1.1.%08x", getenv("PEERMAP_PATHSPACE"), i,
                 (int)f->me->pid, i);
        write_file(AT_FDCWD, junk, "junk\n", O_CREAT | O_EXCL);
    }
    (void)dpath;
}

/* The attacker: attaches its own paths, then obeys one-letter commands
 * from the test, answering 'R' after each:
 *   H  hard links (and the test's pre-made ones)   S  symbolic links
 *   N  renames, unlinks                            F  flood (60,000; a 'P'
 *                                                     every 2,000)
 *   X  everything, over and over, until the next byte arrives
 *   W  replace the path space by a symbolic link to a space of its own
 * 'E'+errno if its own attach fails (it goes on anyway: precreate mode). */
static int attacker_body(int in, int out, void *arg)
{
    struct attacker_arg *a = arg;
    struct me me = { 0 };
    char c;
    const char *space = getenv("PEERMAP_PATHSPACE");
    report_fd = a->report;
    if (drop_to_nobody() < 0)
        return 90;
    me.pid = getpid();
    me.start = proc_start_time(me.pid);
    strcpy(me.own, "/tmp/pm-attacker-XXXXXX");
    if (!mkdtemp(me.own))
        return 91;
    chmod(me.own, 0777);
    if (a->make_space && mkdir(space, 01777) == 0)
        chmod(space, 01777);
    char mine[PATH_MAX];
    const char *where = space;
    if (a->own_space) {
        snprintf(mine, sizeof mine, "%s/space", me.own);
        mkdir(mine, 01777);
        chmod(mine, 01777);
        setenv("PEERMAP_PATHSPACE", mine, 1);
        where = mine;
    }
    if (a->precreate)
        precreate(&me, space, a->precreate == 2);
    int e = start_device(a->paths);
    walk(where, 0, find_chid, &me);
    if (a->precreate) {        /* again, with the channel known now */
        char zero[PATH_MAX + 4];
        snprintf(zero, sizeof zero, "%s/0", space);
        if (a->precreate == 1)
            fake_root_dir(&me, zero);
        else
            precreate(&me, space, 1);
    }
    if (e) {
        unsigned char ec = (unsigned char)e;
        child_write_full(out, "E", 1);
        child_write_full(out, &ec, 1);
    }
    child_write_full(out, "R", 1);
    /* Tell the test where its pre-made links go. */
    unsigned char len = (unsigned char)strlen(me.own);
    child_write_full(out, &len, 1);
    child_write_full(out, me.own, len);
    while (child_read_full(in, &c, 1) == 0) {
        struct trick t = { &me, space, 0 };
        if (c == 'H') {
            t.tricks = T_LINK;
            walk(space, 0, play, &t);
            use_prelinks(&me, space);
        } else if (c == 'S') {
            t.tricks = T_SYMLINK;
            walk(space, 0, play, &t);
        } else if (c == 'N') {
            t.tricks = T_RENAME;
            walk(space, 0, play, &t);
        } else if (c == 'W') {
            /* Swap the space root uses for a symbolic link to ours. */
            char old[PATH_MAX + 8];
            snprintf(old, sizeof old, "%s.old", space);
            rename(space, old);
            symlink(where, space);
        } else if (c == 'F') {
            struct flood f = { &me, 60000, 0, out };
            walk(space, 0, flood_from, &f);
        } else if (c == 'X') {
            struct pollfd p = { .fd = in, .events = POLLIN };
            t.tricks = T_LINK | T_SYMLINK | T_RENAME;
            while (poll(&p, 1, 0) == 0) {
                walk(space, 0, play, &t);
                use_prelinks(&me, space);
            }
        }
        child_write_full(out, "R", 1);
    }
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", me.own);
    if (system(cmd) != 0) {
        /* left for the test's cleanup */
    }
    return 0;
}

struct attacker {
    struct server s;
    struct attacker_arg a;
    char own[256];
    int attach_errno;
};

#define A_PRECREATE_DIRS  0x1
#define A_PRECREATE_LINKS 0x2
#define A_MAKE_SPACE      0x4
#define A_OWN_SPACE       0x8

static int start_attacker(struct attacker *x, int how, const char *p0, const char *p1)
{
    char c = 0;
    memset(&x->a, 0, sizeof x->a);
    x->a.paths[0] = p0;
    x->a.paths[1] = p1;
    x->a.precreate = how & A_PRECREATE_DIRS ? 1 : how & A_PRECREATE_LINKS ? 2 : 0;
    x->a.make_space = !!(how & A_MAKE_SPACE);
    x->a.own_space = !!(how & A_OWN_SPACE);
    x->attach_errno = 0;
    if (server_start(&x->s, attacker_body, &x->a, &x->a.report, &c) < 0)
        return -1;
    if (c == 'E') {
        unsigned char e;
        if (target_read(&x->s.t, &e, 1, 5000) < 0 || target_read(&x->s.t, &c, 1, 5000) < 0)
            return -1;
        x->attach_errno = e;
    }
    unsigned char len;
    if (c != 'R' || target_read(&x->s.t, &len, 1, 5000) < 0 ||
        target_read(&x->s.t, x->own, len, 5000) < 0)
        return -1;
    x->own[len] = 0;
    return 0;
}

/* A command, then its 'R'; the flood says 'P' as it goes, and each byte
 * must come within a minute. */
static int attacker_do(struct attacker *x, char cmd)
{
    char c;
    if (target_write(&x->s.t, &cmd, 1) < 0)
        return -1;
    do
        if (target_read(&x->s.t, &c, 1, 60000) < 0)
            return -1;
    while (c == 'P' && cmd == 'F');
    return c == 'R' ? 0 : -1;
}

static void stop_attacker(struct attacker *x)
{
    server_stop(&x->s);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", x->own);
    if (system(cmd) != 0) {
        /* nothing more to do */
    }
}

/* ---- the victim's client ------------------------------------------- */

/* Root's client writes a secret to `path`.  The write returns; then where
 * did it go?  1: root's manager has it; 0: it failed (nobody reached);
 * -1: the attacker has it (or both/none disagree). */
static int secret_goes_to(const char *path, struct server *victim, struct server *attacker)
{
    char got[512];
    static const char secret[] = "root's secret";
    int fd = pm_open(path, O_WRONLY);
    if (fd < 0)
        return server_got(attacker, got, sizeof got) ? -1 : 0;
    ssize_t n = pm_write(fd, secret, sizeof secret - 1);
    pm_close(fd);
    if (server_got(attacker, got, sizeof got))
        return -1;
    if (n != (ssize_t)sizeof secret - 1 || !victim)
        return 0;
    server_got(victim, got, sizeof got);
    return strcmp(got, secret) == 0 ? 1 : -1;
}

/* Resolution by root: 1 root's manager `pid`, 0 nothing (ENOENT/EPERM),
 * -1 anything else (the attacker, another errno). */
static int resolves_to(const char *path, pid_t pid)
{
    struct pm_ps_match m;
    errno = 0;
    if (pm_pathspace_resolve(path, &m) == 0)
        return m.pid == pid ? 1 : -1;
    return errno == ENOENT || errno == EPERM ? 0 : -1;
}

#define NEED_ROOT()                                                          \
    do {                                                                     \
        if (geteuid() != 0)                                                  \
            SKIP("the attacks need root: a root victim and a uid 65534 attacker"); \
    } while (0)

/* Root's links for the attacker (what fs.protected_hardlinks=0 allows). */
static void make_prelinks(struct attacker *x)
{
    struct prelink p = { x->own, 0 };
    walk(pathspace_dir(), 0, prelink_one, &p);
}

/* ---- the attacks ---------------------------------------------------- */

#define ATK_PATH "/dev/pmtest/attacker"

/* Root's manager serves VPATH; the attacker (serving ATK_PATH, given
 * root's links first when `prelinks`) makes each of `moves` (attacker_do()
 * commands) in turn.  Root's client's secret still goes to root's manager,
 * and (when `resolves`) VPATH still resolves to it. */
static void attack_a_running_manager(const char *moves, int prelinks, int resolves)
{
    struct server v;
    struct victim_arg va;
    struct attacker x;
    REQUIRE(pathspace_fresh() == 0);
    REQUIRE(start_victim(&v, &va, VPATH) == 0);
    REQUIRE(start_attacker(&x, 0, ATK_PATH, NULL) == 0);
    if (prelinks)
        make_prelinks(&x);
    for (const char *m = moves; *m; m++)
        REQUIRE(attacker_do(&x, *m) == 0);
    CHECK_EQ_LONG(secret_goes_to(VPATH, &v, &x.s), 1);
    if (resolves)
        CHECK_EQ_LONG(resolves_to(VPATH, v.t.pid), 1);
    stop_attacker(&x);
    server_stop(&v);
}

/* The issue as found: root's entry hard-linked, rewritten to name the
 * attacker's server, put in place under a fresh name. */
TEST(hard_link_and_rewrite)
{
    NEED_ROOT();
    attack_a_running_manager("H", 1, 1);
}

/* Renames over root's entries and directories, renames of them away,
 * unlinks, rmdirs; then hard links once more (renamed into place). */
TEST(rename_over_and_away)
{
    NEED_ROOT();
    attack_a_running_manager("NH", 1, 1);
}

/* Symbolic links named like root's entries wherever the attacker may
 * write, pointing at forged records of its own. */
TEST(symlinks_planted)
{
    NEED_ROOT();
    attack_a_running_manager("S", 0, 0);
}

/* Root's names made first: root's own directory (as a directory, then as a
 * symbolic link) holding a forged root entry, and the attacker's claim on
 * the path itself.  Before root's manager starts, root's client reaches
 * nobody; after, root's manager. */
static void names_made_first(int how)
{
    struct server v;
    struct victim_arg va;
    struct attacker x;
    REQUIRE(pathspace_fresh() == 0);
    REQUIRE(start_attacker(&x, how, VPATH, ATK_PATH) == 0);
    CHECK_EQ_LONG(resolves_to(VPATH, -1), 0);
    CHECK_EQ_LONG(secret_goes_to(VPATH, NULL, &x.s), 0);
    REQUIRE(start_victim(&v, &va, VPATH) == 0);
    CHECK_EQ_LONG(secret_goes_to(VPATH, &v, &x.s), 1);
    CHECK_EQ_LONG(resolves_to(VPATH, v.t.pid), 1);
    /* The one started last first: it holds a copy of the other's pipe. */
    server_stop(&v);
    stop_attacker(&x);
}

TEST(directories_made_first)
{
    NEED_ROOT();
    names_made_first(A_PRECREATE_DIRS);
}

TEST(symlinked_directories_made_first)
{
    NEED_ROOT();
    names_made_first(A_PRECREATE_LINKS);
}

/* Root's manager of VPATH in a path space it may refuse: when it says so
 * ('E'), the reason must be EPERM.  0, or -1 when it did not start. */
static int start_victim_refused_or_not(struct server *v, struct victim_arg *va)
{
    memset(va, 0, sizeof *va);
    va->paths[0] = VPATH;
    char c = 0;
    if (server_start(v, victim_body, va, &va->report, &c) < 0)
        return -1;
    if (c == 'E') {
        unsigned char e = 0;
        CHECK(target_read(&v->t, &e, 1, 5000) == 0 && e == EPERM);
    }
    return 0;
}

/* The path space directory itself made first by the attacker (a path
 * root's configuration names but nobody created yet): root must refuse it,
 * not serve from a directory the attacker can empty and refill. */
TEST(path_space_made_first)
{
    struct server v;
    struct victim_arg va;
    struct attacker x;
    char space[PATH_MAX];
    NEED_ROOT();
    REQUIRE(pathspace_fresh() == 0);
    snprintf(space, sizeof space, "%s/space", pathspace_dir());
    REQUIRE(setenv("PEERMAP_PATHSPACE", space, 1) == 0);
    REQUIRE(start_attacker(&x, A_MAKE_SPACE, VPATH, NULL) == 0);
    /* Root's manager: refused (EPERM) - or, where it is not, then robbed. */
    REQUIRE(start_victim_refused_or_not(&v, &va) == 0);
    REQUIRE(attacker_do(&x, 'N') == 0);
    CHECK(secret_goes_to(VPATH, &v, &x.s) >= 0);
    CHECK(resolves_to(VPATH, v.t.pid) >= 0);
    server_stop(&v);
    stop_attacker(&x);
    REQUIRE(setenv("PEERMAP_PATHSPACE", pathspace_dir(), 1) == 0);
}

/* Root's path space inside a directory the attacker owns: the attacker
 * swaps it for a symbolic link to a space of its own. */
TEST(path_space_swapped_for_a_symlink)
{
    struct server v;
    struct victim_arg va;
    struct attacker x;
    char shared[64] = "/tmp/pm-test-shared-XXXXXX", space[PATH_MAX];
    NEED_ROOT();
    REQUIRE(pathspace_fresh() == 0);
    REQUIRE(mkdtemp(shared) != NULL);
    REQUIRE(chown(shared, NOBODY, NOBODY) == 0);
    snprintf(space, sizeof space, "%s/space", shared);
    REQUIRE(setenv("PEERMAP_PATHSPACE", space, 1) == 0);
    REQUIRE(start_victim_refused_or_not(&v, &va) == 0);
    REQUIRE(start_attacker(&x, A_OWN_SPACE, VPATH, NULL) == 0);
    REQUIRE(attacker_do(&x, 'W') == 0);
    CHECK(secret_goes_to(VPATH, &v, &x.s) >= 0);
    CHECK(resolves_to(VPATH, v.t.pid) >= 0);
    stop_attacker(&x);
    server_stop(&v);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", shared);
    CHECK(system(cmd) == 0);
    REQUIRE(setenv("PEERMAP_PATHSPACE", pathspace_dir(), 1) == 0);
}

/* Every trick, over and over, while root attaches and detaches: whenever
 * root's entry is there, root's client finds root. */
TEST(racing_writes)
{
    struct attacker x;
    NEED_ROOT();
    REQUIRE(pathspace_fresh() == 0);
    REQUIRE(start_attacker(&x, 0, ATK_PATH, NULL) == 0);
    char go = 'X';
    REQUIRE(target_write(&x.s.t, &go, 1) == 0);
    int wrong = 0, right = 0;
    for (int i = 0; i < 300; i++) {
        struct pm_ps_handle h;
        REQUIRE(pm_pathspace_attach(VPATH, 1, 0, S_IFCHR | 0666, &h) == 0);
        for (int k = 0; k < 3; k++) {
            int r = resolves_to(VPATH, getpid());
            right += r == 1;
            wrong += r != 1;
        }
        pm_pathspace_detach(&h);
        if (resolves_to(VPATH, getpid()) < 0)
            wrong++;
    }
    CHECK_EQ_LONG(wrong, 0);
    CHECK_EQ_LONG(right, 900);
    REQUIRE(attacker_do(&x, 'R') == 0);   /* ends X */
    stop_attacker(&x);
}

/* The attacker claims the path (and everything) while root's manager is
 * not running: before it starts, and after it is killed. */
TEST(claim_before_start_and_after_death)
{
    struct server v;
    struct victim_arg va;
    struct attacker x;
    NEED_ROOT();
    REQUIRE(pathspace_fresh() == 0);
    REQUIRE(start_attacker(&x, 0, VPATH, "/") == 0);
    CHECK_EQ_LONG(resolves_to(VPATH, -1), 0);
    CHECK_EQ_LONG(secret_goes_to(VPATH, NULL, &x.s), 0);
    REQUIRE(start_victim(&v, &va, VPATH) == 0);
    CHECK_EQ_LONG(secret_goes_to(VPATH, &v, &x.s), 1);
    /* Killed, and reaped: its entry is stale, the attacker's still live. */
    kill(v.t.pid, SIGKILL);
    server_stop(&v);
    CHECK_EQ_LONG(resolves_to(VPATH, -1), 0);
    CHECK_EQ_LONG(secret_goes_to(VPATH, NULL, &x.s), 0);
    CHECK_EQ_LONG(resolves_to("/anything/else", -1), 0);
    stop_attacker(&x);
}

/* 60,000 entries for "/" by a live uid-65534 process (and junk beside
 * them): root's client still resolves root's path, and nothing else.  How
 * long it takes is bench_pathspace's business. */
TEST(flood_of_entries)
{
    struct server v;
    struct victim_arg va;
    struct attacker x;
    NEED_ROOT();
    REQUIRE(pathspace_fresh() == 0);
    REQUIRE(start_attacker(&x, 0, "/", NULL) == 0);
    REQUIRE(attacker_do(&x, 'F') == 0);
    REQUIRE(start_victim(&v, &va, VPATH) == 0);
    CHECK_EQ_LONG(secret_goes_to(VPATH, &v, &x.s), 1);
    CHECK_EQ_LONG(resolves_to("/elsewhere", -1), 0);
    server_stop(&v);
    stop_attacker(&x);
}

/* Root's policy lets uid 65534 serve /dev/pmtest/user: there it is
 * reached, first come first served against root; nowhere else. */
TEST(policy_grants_a_prefix_and_nothing_else)
{
    struct server v;
    struct victim_arg va;
    struct attacker x;
    char got[256];
    NEED_ROOT();
    REQUIRE(pathspace_fresh() == 0);
    REQUIRE(policy_set("# the user's own devices\nallow_attach nobody /dev/pmtest/user\n") == 0);
    REQUIRE(start_victim(&v, &va, "/dev/pmtest/user/taken") == 0);
    REQUIRE(start_attacker(&x, 0, "/dev/pmtest/user/dev", "/dev/pmtest/user/taken") == 0);
    /* Granted: root's client talks to uid 65534's manager. */
    int fd = pm_open("/dev/pmtest/user/dev", O_WRONLY);
    CHECK(fd >= 0);
    if (fd >= 0) {
        CHECK_EQ_LONG(pm_write(fd, "hello", 5), 5);
        pm_close(fd);
        server_got(&x.s, got, sizeof got);
        CHECK(strcmp(got, "hello") == 0);
    }
    /* Granted, but root served it first. */
    CHECK_EQ_LONG(secret_goes_to("/dev/pmtest/user/taken", &v, &x.s), 1);
    stop_attacker(&x);
    server_stop(&v);
    /* Not granted. */
    REQUIRE(start_attacker(&x, 0, VPATH, "/") == 0);
    CHECK_EQ_LONG(resolves_to(VPATH, -1), 0);
    CHECK_EQ_LONG(resolves_to("/dev/pmtest", -1), 0);
    CHECK_EQ_LONG(secret_goes_to(VPATH, NULL, &x.s), 0);
    stop_attacker(&x);
    policy_drop();
}

/* A policy is root's word only if nobody else could have written it: a
 * file owned by 65534, a root file in a directory of 65534's, or a file
 * others may write grant nothing.  (The variable naming the file is the
 * client's own environment, read with secure_getenv: another user cannot
 * set it for a victim.) */
TEST(policy_must_be_roots)
{
    struct attacker x;
    char file[PATH_MAX];
    NEED_ROOT();
    REQUIRE(pathspace_fresh() == 0);
    REQUIRE(start_attacker(&x, 0, VPATH, NULL) == 0);
    REQUIRE(policy_set("allow_attach nobody /\n") == 0);
    snprintf(file, sizeof file, "%s/pathspace.conf", policy_file_dir());
    /* The control: root's file grants it. */
    CHECK_EQ_LONG(resolves_to(VPATH, x.s.t.pid), 1);
    REQUIRE(chown(file, NOBODY, NOBODY) == 0);
    CHECK_EQ_LONG(resolves_to(VPATH, -1), 0);
    REQUIRE(chown(file, 0, 0) == 0 && chmod(file, 0664) == 0);
    CHECK_EQ_LONG(resolves_to(VPATH, -1), 0);
    REQUIRE(chmod(file, 0644) == 0);
    CHECK_EQ_LONG(resolves_to(VPATH, x.s.t.pid), 1);
    REQUIRE(chown(policy_file_dir(), NOBODY, NOBODY) == 0);
    CHECK_EQ_LONG(resolves_to(VPATH, -1), 0);
    REQUIRE(chown(policy_file_dir(), 0, 0) == 0 && chmod(policy_file_dir(), 0777) == 0);
    CHECK_EQ_LONG(resolves_to(VPATH, -1), 0);
    REQUIRE(chmod(policy_file_dir(), 0755) == 0);
    CHECK_EQ_LONG(resolves_to(VPATH, x.s.t.pid), 1);
    stop_attacker(&x);
    policy_drop();
}

/* QNX's usual start-up: a manager attaches as root, then drops to another
 * user.  The kernel makes it non-dumpable, out of that user's reach, so
 * root's entry still speaks for it; once it is made dumpable again (what an
 * exec() of an ordinary program does), that user could control it, and
 * root's word no longer holds. */
static int dropping_body(int in, int out, void *arg)
{
    struct victim_arg *a = arg;
    char c;
    report_fd = a->report;
    int e = start_device(a->paths);
    if (e || drop_to_nobody() < 0) {
        child_write_full(out, "E", 1);
        return 1;
    }
    child_write_full(out, "R", 1);            /* attached, then dropped */
    child_read_full(in, &c, 1);
    prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
    child_write_full(out, "D", 1);            /* now nobody may ptrace it */
    child_read_full(in, &c, 1);
    return 0;
}

TEST(root_manager_that_drops_root_keeps_its_path_while_out_of_reach)
{
    struct server v;
    struct victim_arg va;
    char c = 0;
    NEED_ROOT();
    REQUIRE(pathspace_fresh() == 0);
    memset(&va, 0, sizeof va);
    va.paths[0] = VPATH;
    REQUIRE(server_start(&v, dropping_body, &va, &va.report, &c) == 0);
    REQUIRE(c == 'R');
    CHECK_EQ_LONG(resolves_to(VPATH, v.t.pid), 1);
    int fd = pm_open(VPATH, O_WRONLY);
    CHECK(fd >= 0);
    CHECK(fd < 0 || pm_write(fd, "x", 1) == 1);
    if (fd >= 0)
        pm_close(fd);
    REQUIRE(target_write(&v.t, "d", 1) == 0);
    REQUIRE(target_read(&v.t, &c, 1, 10000) == 0 && c == 'D');
    CHECK_EQ_LONG(resolves_to(VPATH, -1), 0);
    server_stop(&v);
}
