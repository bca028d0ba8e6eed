/*
 * Where the path space lives (pathspace.h says why), and opening it and its
 * per-user and per-path directories so that what is read there can only
 * have been put there by its owner (or root).
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/internal.h"
#include "resmgr/pathspace_internal.h"
#include "trust/policy.h"

#define RUN_PARENT "/run/peermap"
#define RUN_DIR    RUN_PARENT "/pathspace"
#define TMP_DIR    "/tmp/peermap-pathspace-" /* + the effective uid */

static int choose(char *buf, size_t size)
{
    const char *env = secure_getenv("PEERMAP_PATHSPACE");
    const char *dir;
    char tmp[64];
    struct stat st;

    if (env && *env) {
        /* Relative would mean a different place for each working directory. */
        if (env[0] != '/')
            return pm_fail(EINVAL, "PEERMAP_PATHSPACE=\"%s\" is not an absolute path", env);
        dir = env;
    } else if ((stat(RUN_DIR, &st) == 0 && S_ISDIR(st.st_mode)) ||
               faccessat(AT_FDCWD, "/run", W_OK, AT_EACCESS) == 0) {
        dir = RUN_DIR;
    } else {
        /* One per user: a shared directory in /tmp would belong to whoever
         * made it first, who could then rearrange everyone else's entries,
         * so nobody else could use it.  Without /run/peermap/pathspace,
         * users cannot see each other's managers anyway: root's policy
         * needs root's set-up. */
        snprintf(tmp, sizeof tmp, TMP_DIR "%u", (unsigned)geteuid());
        dir = tmp;
    }
    if (strlen(dir) >= size)
        return pm_fail(ENAMETOOLONG, "path space directory name too long");
    strcpy(buf, dir);
    return 0;
}

int pm_pathspace_dir(char *buf, size_t size)
{
    return choose(buf, size);
}

/* mkdir with the sticky, world-writable mode, which the umask would cut:
 * anyone may make a directory of their own in it, nobody may touch
 * another's (a per-user directory in /tmp: 0755, its user's alone).
 * Someone else creating it first is not an error here: the ownership check
 * that follows decides whether it can be used. */
static int make_dir(const char *path)
{
    mode_t mode = strncmp(path, TMP_DIR, strlen(TMP_DIR)) == 0 ? 0755 : 01777;
    if (strcmp(path, RUN_DIR) == 0 && mkdir(RUN_PARENT, 0755) < 0 && errno != EEXIST)
        return pm_fail(errno, "cannot create %s: %s", RUN_PARENT, strerror(errno));
    if (mkdir(path, mode) < 0) {
        if (errno == EEXIST)
            return 0;
        return pm_fail(errno, "cannot create the path space %s: %s", path, strerror(errno));
    }
    if (chmod(path, mode) < 0)
        return pm_fail(errno, "cannot chmod the path space %s: %s", path, strerror(errno));
    return 0;
}

/*
 * The last directory proven safe, so that the walk from "/" is not repeated
 * on every lookup.  Reopening the same path and finding the same inode,
 * with the same owner and mode, is enough: a directory someone swapped in
 * (through an ancestor that became writable, a symbolic link, a mount) is
 * another inode and is walked again; what protects the directory's own
 * contents is its own mode, which is compared.
 */
static pthread_mutex_t proven_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
    int valid;
    char path[PATH_MAX];
    dev_t dev;
    ino_t ino;
    uid_t uid;
    mode_t mode;
    uid_t owner;
} proven;

/* A fork while another thread holds the lock must not leave the child's
 * copy locked forever. */
static pthread_once_t proven_once = PTHREAD_ONCE_INIT;
static void proven_prepare(void) { pthread_mutex_lock(&proven_lock); }
static void proven_release(void) { pthread_mutex_unlock(&proven_lock); }
static void proven_init(void) { pthread_atfork(proven_prepare, proven_release, proven_release); }

static int reopen_proven(struct pm_ps_space *s)
{
    struct stat st;
    pthread_once(&proven_once, proven_init);
    int fd = open(s->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    if (fstat(fd, &st) == 0) {
        pthread_mutex_lock(&proven_lock);
        int same = proven.valid && strcmp(proven.path, s->path) == 0 &&
                   proven.dev == st.st_dev && proven.ino == st.st_ino &&
                   proven.uid == st.st_uid && proven.mode == st.st_mode;
        s->owner = proven.owner;
        pthread_mutex_unlock(&proven_lock);
        if (same) {
            s->fd = fd;
            return 0;
        }
    }
    close(fd);
    return -1;
}

static void remember(const struct pm_ps_space *s)
{
    struct stat st;
    if (fstat(s->fd, &st) < 0)
        return;
    pthread_mutex_lock(&proven_lock);
    proven.valid = 1;
    strcpy(proven.path, s->path);
    proven.dev = st.st_dev;
    proven.ino = st.st_ino;
    proven.uid = st.st_uid;
    proven.mode = st.st_mode;
    proven.owner = s->owner;
    pthread_mutex_unlock(&proven_lock);
}

int pm_ps_space_open(int create, struct pm_ps_space *s)
{
    struct pm_safe_dir sd;

    s->fd = -1;
    if (choose(s->path, sizeof s->path) < 0)
        return -1;
    if (reopen_proven(s) == 0)
        return 0;
    if (create && access(s->path, F_OK) < 0 && errno == ENOENT && make_dir(s->path) < 0)
        return -1;
    if (pm_safe_dir_open(s->path, 0, &sd) < 0) {
        int e = errno;
        if (e == ENOENT && !create)
            return -1;      /* an answer ("nothing attached"), not a failure */
        if (e == EPERM || e == ENOTDIR || e == ELOOP) {
            if (sd.bad[0] && e == EPERM)
                return pm_fail(EPERM, "path space %s refused: %s is owned by uid %u with mode "
                               "%#o, so more than one user (or anyone) could rearrange it",
                               s->path, sd.bad, (unsigned)sd.bad_uid,
                               (unsigned)(sd.bad_mode & 07777));
            return pm_fail(EPERM, "path space %s is not a directory (or changed into a "
                           "symbolic link while it was opened)", s->path);
        }
        return pm_fail(e, "cannot open the path space %s: %s", s->path, strerror(e));
    }
    s->fd = sd.fd;
    s->owner = sd.owner;
    remember(s);
    return 0;
}

void pm_ps_space_close(struct pm_ps_space *s)
{
    if (s->fd >= 0)
        close(s->fd);
    s->fd = -1;
}

int pm_ps_space_holds(const struct pm_ps_space *s, uid_t uid)
{
    /* The one user besides root who could rearrange the space could move
     * entries of anyone else around in it: only its own (and root's, for
     * itself - a user cannot be protected from itself) stay believable. */
    return s->owner == 0 || s->owner == uid || s->owner == geteuid();
}

int pm_ps_dir_check(int fd, uid_t uid)
{
    struct stat st;
    if (fstat(fd, &st) < 0)
        return -1;
    if (!S_ISDIR(st.st_mode) || st.st_uid != uid || (st.st_mode & (S_IWGRP | S_IWOTH))) {
        errno = EPERM;
        return -1;
    }
    return 0;
}

static int open_checked(int dirfd, const char *name, uid_t uid)
{
    int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ELOOP || errno == ENOTDIR)
            errno = EPERM;
        return -1;
    }
    if (pm_ps_dir_check(fd, uid) < 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

int pm_ps_user_open(const struct pm_ps_space *s, uid_t uid)
{
    char name[16];
    if (!pm_ps_space_holds(s, uid)) {
        errno = EPERM;
        return -1;
    }
    snprintf(name, sizeof name, "%u", (unsigned)uid);
    return open_checked(s->fd, name, uid);
}

int pm_ps_bucket_open(int ufd, uint64_t hash, uid_t uid)
{
    char name[17];
    pm_ps_bucket_name(hash, name);
    return open_checked(ufd, name, uid);
}

/* What is at `name` in dirfd, for a reason. */
static void describe(int dirfd, const char *name, char *buf, size_t n)
{
    struct stat st;
    if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
        snprintf(buf, n, "%s", strerror(errno));
    else
        snprintf(buf, n, "%s owned by uid %u, mode %#o",
                 S_ISDIR(st.st_mode) ? "a directory" : S_ISLNK(st.st_mode) ? "a symbolic link"
                                                                           : "a file",
                 (unsigned)st.st_uid, (unsigned)(st.st_mode & 07777));
}

/* Open a directory of ours, making it if needed; one we just made gets mode
 * 0755 whatever the umask says (others must search and read it to find our
 * entries).  -1 with errno and no reason. */
static int open_own(int dirfd, const char *name, uid_t me, int *created)
{
    *created = 0;
    for (int tries = 0; tries < 4; tries++) {
        int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0 && errno == ENOENT) {
            if (mkdirat(dirfd, name, 0755) == 0)
                *created = 1;
            else if (errno != EEXIST)
                return -1;
            continue;
        }
        if (fd < 0) {
            if (errno == ELOOP || errno == ENOTDIR)
                errno = EPERM;
            return -1;
        }
        struct stat st;
        if (fstat(fd, &st) < 0 || !S_ISDIR(st.st_mode) || st.st_uid != me) {
            close(fd);
            errno = EPERM;
            return -1;
        }
        /* Ours but too open (or new, and cut by the umask): put right. */
        if (((st.st_mode & (S_IWGRP | S_IWOTH)) || *created) && fchmod(fd, 0755) < 0) {
            int e = errno;
            close(fd);
            errno = e;
            return -1;
        }
        return fd;
    }
    errno = EAGAIN;     /* made and removed under us, again and again */
    return -1;
}

int pm_ps_user_make(const struct pm_ps_space *s, uid_t me)
{
    char name[16], what[128];
    int created;
    if (!pm_ps_space_holds(s, me))
        return pm_fail(EPERM, "path space %s refused: uid %u could rearrange it and so move "
                       "uid %u's entries; use a directory of your own or root's",
                       s->path, (unsigned)s->owner, (unsigned)me);
    snprintf(name, sizeof name, "%u", (unsigned)me);
    for (int tries = 0; tries < 2; tries++) {
        int fd = open_own(s->fd, name, me, &created);
        if (fd >= 0)
            return fd;
        if (errno != EPERM)
            return pm_fail(errno, "cannot create %s/%s: %s", s->path, name, strerror(errno));
        describe(s->fd, name, what, sizeof what);
        /* Someone made our name first.  Root may move it aside (the sticky
         * bit does not stop root) and make its own; anyone else can only
         * say so.  The squatter keeps its junk under the new name. */
        if (me == 0 && tries == 0) {
            char aside[64];
            uint32_t rnd = 0;
            if (getrandom(&rnd, sizeof rnd, GRND_NONBLOCK) != sizeof rnd)
                rnd = (uint32_t)pm_ps_next_seq();
            snprintf(aside, sizeof aside, ".squatted.%s.%08x", name, (unsigned)rnd);
            if (renameat(s->fd, name, s->fd, aside) == 0)
                continue;
        }
        return pm_fail(EPERM, "path space %s: %s/%s, which must be uid %u's own directory, is "
                       "%s; only root can remove it", s->path, s->path, name, (unsigned)me,
                       what);
    }
    return pm_fail(EPERM, "path space %s: %s/%s keeps being replaced", s->path, s->path, name);
}

int pm_ps_bucket_make(int ufd, uint64_t hash, uid_t me, int *created)
{
    char name[17];
    pm_ps_bucket_name(hash, name);
    int fd = open_own(ufd, name, me, created);
    if (fd < 0)
        return pm_fail(errno, "cannot create path-space directory %s of uid %u: %s", name,
                       (unsigned)me, strerror(errno));
    return fd;
}

struct dirent64 {
    uint64_t d_ino;
    int64_t d_off;
    unsigned short d_reclen;
    unsigned char d_type;
    char d_name[];
};

int pm_ps_read_names(int fd, unsigned max, int (*cb)(const char *name, void *arg), void *arg)
{
    char buf[8192] __attribute__((aligned(8)));
    int seen = 0;
    for (;;) {
        long n = syscall(SYS_getdents64, fd, buf, sizeof buf);
        if (n < 0)
            return -1;
        if (n == 0)
            return seen;
        for (long off = 0; off < n;) {
            struct dirent64 *e = (struct dirent64 *)(buf + off);
            off += e->d_reclen;
            if (e->d_name[0] == '.' &&
                (!e->d_name[1] || (e->d_name[1] == '.' && !e->d_name[2])))
                continue;
            if ((unsigned)++seen > max)
                return seen;    /* one too many: the caller's limit is hit */
            if (cb && cb(e->d_name, arg))
                return seen;
        }
    }
}
