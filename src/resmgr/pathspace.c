/*
 * The path space: attach and detach (pathspace.h explains the design;
 * pathspace_resolve.c and pathspace_list.c read what this writes).  Nothing
 * is cached between calls: every answer comes from the directory as it is
 * now, so processes need no coordination and the only shared state is the
 * attach counter (pathspace_format.c).
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/internal.h"
#include "resmgr/pathspace_internal.h"
#include "trust/policy.h"
#include "trust/trust.h"

static int write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Write the record under a temporary name in our own bucket (no one else
 * can write there, so nothing can race the write or the rename), make it
 * readable as the entry's permissions say and writable by nobody, then
 * rename it into place so a reader sees no entry or a whole one.  No fsync:
 * the path space describes running processes and means nothing after a
 * crash.  -1 with errno and no reason (the caller retries ENOENT: the bucket
 * was removed under us). */
static int publish(int bfd, const char *name, const char *rec, size_t len, mode_t perms)
{
    char tmp[PM_PS_NAME_MAX + sizeof PM_PS_TMP_PREFIX];
    snprintf(tmp, sizeof tmp, PM_PS_TMP_PREFIX "%s", name);
    int fd = openat(bfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return -1;
    if (write_all(fd, rec, len) < 0 || fchmod(fd, perms) < 0) {
        int err = errno;
        close(fd);
        unlinkat(bfd, tmp, 0);
        errno = err;
        return -1;
    }
    if (close(fd) < 0 || renameat(bfd, tmp, bfd, name) < 0) {
        int err = errno;
        unlinkat(bfd, tmp, 0);
        errno = err;
        return -1;
    }
    return 0;
}

/* pm_ps_read_names() from the start of the directory: attach reads its
 * directories more than once. */
static int reread(int fd, unsigned max, int (*cb)(const char *name, void *arg), void *arg)
{
    if (lseek(fd, 0, SEEK_SET) < 0)
        return -1;
    return pm_ps_read_names(fd, max, cb, arg);
}

struct sweep_ctx { int ufd, bfd; const char *bucket; uid_t uid; };

static int sweep_one(const char *name, void *arg)
{
    struct sweep_ctx *c = arg;
    pm_ps_entry_sweep(c->ufd, c->bfd, c->bucket, name, c->uid);
    return 0;
}

/* Our own entries of dead managers in one bucket, or (bfd < 0) in all. */
static void sweep_bucket(int ufd, int bfd, const char *bucket, uid_t me)
{
    struct sweep_ctx c = { ufd, bfd, bucket, me };
    reread(bfd, UINT32_MAX - 1, sweep_one, &c);
}

static int sweep_user_bucket(const char *bucket, void *arg)
{
    struct sweep_ctx *c = arg;
    uint64_t hash;
    if (pm_ps_bucket_parse(bucket, &hash) < 0)
        return 0;
    int bfd = pm_ps_bucket_open(c->ufd, hash, c->uid);
    if (bfd >= 0) {
        sweep_bucket(c->ufd, bfd, bucket, c->uid);
        close(bfd);
    }
    return 0;
}

/* The per-user limits: refused with ENOSPC once reached, after dead
 * managers' entries (ours) were swept.  `created`: the bucket is new, so the
 * number of paths grew.  0 or -1 with a reason. */
static int within_limits(int ufd, int bfd, const char *bucket, const char *path, uid_t me,
                         int created, const struct pm_policy *pol)
{
    if (created && reread(ufd, pol->paths_per_user, NULL, NULL) >
                   (int)pol->paths_per_user) {
        struct sweep_ctx c = { ufd, -1, NULL, me };
        reread(ufd, UINT32_MAX - 1, sweep_user_bucket, &c);
        if (reread(ufd, pol->paths_per_user, NULL, NULL) > (int)pol->paths_per_user) {
            unlinkat(ufd, bucket, AT_REMOVEDIR);
            return pm_fail(ENOSPC, "uid %u has attached %u different paths, the limit "
                           "(\"limit paths_per_user\" in %s)", (unsigned)me,
                           pol->paths_per_user, pol->file);
        }
    }
    if (reread(bfd, pol->entries_per_path, NULL, NULL) >=
        (int)pol->entries_per_path) {
        sweep_bucket(ufd, bfd, bucket, me);
        if (reread(bfd, pol->entries_per_path, NULL, NULL) >=
            (int)pol->entries_per_path)
            return pm_fail(ENOSPC, "uid %u has attached %s %u times, the limit "
                           "(\"limit entries_per_path\" in %s)", (unsigned)me, path,
                           pol->entries_per_path, pol->file);
    }
    return 0;
}

int pm_pathspace_attach(const char *path, int chid, unsigned flags, mode_t mode,
                        struct pm_ps_handle *h)
{
    return pm_pathspace_attach_handle(path, chid, 0, flags, mode, h);
}

int pm_pathspace_attach_handle(const char *path, int chid, int handle, unsigned flags,
                               mode_t mode, struct pm_ps_handle *h)
{
    struct pm_ps_record r;
    struct pm_ps_space s;
    char name[PM_PS_NAME_MAX], bucket[17], rec[PM_PS_RECORD_MAX];
    uint32_t rnd;

    if (!h)
        return pm_fail(EINVAL, "path space: no handle");
    h->name[0] = 0;
    if (pm_ps_normalise(path, r.path) < 0)
        return -1;
    if ((flags & ~PM_PS_FLAGS) || (flags & PM_PS_BEFORE && flags & PM_PS_AFTER))
        return pm_fail(EINVAL, "path space: bad attach flags %#x", flags);
    if (chid < 0)
        return pm_fail(EINVAL, "path space: bad channel id %d", chid);
    if (handle < 0)
        return pm_fail(EINVAL, "path space: bad handle %d", handle);
    if (mode & ~(mode_t)(S_IFMT | 07777))
        return pm_fail(EINVAL, "path space: bad mode %#o", (unsigned)mode);
    if (!(mode & S_IFMT))
        mode |= flags & PM_PS_DIR ? S_IFDIR : S_IFREG;

    r.pid = getpid();
    r.uid = geteuid();
    if (pm_proc_start(r.pid, &r.start) < 0)
        return pm_fail(ENOSYS, "path space: cannot read /proc/self/stat (is /proc mounted?)");
    r.seq = pm_ps_next_seq();
    r.chid = chid;
    r.handle = handle;
    r.flags = flags;
    r.mode = mode;
    /* Uniqueness already follows from (seq, pid); the random part keeps two
     * path spaces merged by hand, or a clock stepped back, from colliding. */
    if (getrandom(&rnd, sizeof rnd, GRND_NONBLOCK) != sizeof rnd)
        rnd = (uint32_t)(r.seq ^ (r.seq >> 32));
    struct pm_ps_name n = { r.seq, r.pid, r.start, flags, rnd };
    pm_ps_name_format(&n, name);
    uint64_t hash = pm_ps_hash(r.path, strlen(r.path));
    pm_ps_bucket_name(hash, bucket);
    int len = pm_ps_record_format(&r, rec, sizeof rec);
    if (len < 0)
        return -1;

    const struct pm_policy *pol = pm_policy_get();
    if (pm_ps_space_open(1, &s) < 0) {
        int e = errno;
        pm_policy_put(pol);
        errno = e;
        return -1;
    }
    int rc = -1, ufd = pm_ps_user_make(&s, r.uid);
    for (int tries = 0; ufd >= 0 && tries < 4; tries++) {
        int created;
        int bfd = pm_ps_bucket_make(ufd, hash, r.uid, &created);
        if (bfd < 0)
            break;
        if (within_limits(ufd, bfd, bucket, r.path, r.uid, created, pol) < 0) {
            close(bfd);
            break;
        }
        /* Entries are read-only to everyone; who may read them is who may
         * reach the path. */
        rc = publish(bfd, name, rec, (size_t)len, mode & 0444);
        int e = errno;
        close(bfd);
        if (rc == 0 || e != ENOENT) {
            if (rc < 0)
                pm_fail(e, "cannot write an entry in the path space %s as uid %u: %s", s.path,
                        (unsigned)r.uid, strerror(e));
            break;
        }
        /* ENOENT: our bucket was removed (emptied by a detach) under us. */
    }
    if (rc < 0 && ufd >= 0 && !pm_has_reason())
        pm_fail(EAGAIN, "path space %s: the directory for %s kept disappearing", s.path, r.path);
    int err = errno;
    pm_policy_put(pol);
    if (ufd >= 0)
        close(ufd);
    if (rc == 0) {
        snprintf(h->dir, sizeof h->dir, "%s", s.path);
        /* An entry name is at most 63 bytes (pathspace_format.c). */
        snprintf(h->name, sizeof h->name, "%u/%s/%.64s", (unsigned)r.uid, bucket, name);
        h->pid = r.pid;
    }
    pm_ps_space_close(&s);
    errno = err;
    return rc;
}

int pm_pathspace_detach(struct pm_ps_handle *h)
{
    char user[16], bucket[17], entry[PM_PS_NAME_MAX];
    if (!h || !h->name[0])
        return pm_fail(EINVAL, "path space: nothing attached with this handle");
    if (h->pid != getpid())
        return pm_fail(EPERM, "path space: entry %s belongs to process %d", h->name, (int)h->pid);
    if (sscanf(h->name, "%15[0-9]/%16[0-9a-f]/%127s", user, bucket, entry) != 3)
        return pm_fail(EINVAL, "path space: entry name %s is not one of ours", h->name);
    int dfd = open(h->dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    int ufd = dfd < 0 ? -1 : openat(dfd, user, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    int bfd = ufd < 0 ? -1 : openat(ufd, bucket, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    int rc = bfd < 0 ? -1 : unlinkat(bfd, entry, 0);
    int err = errno;
    if (rc == 0)
        unlinkat(ufd, bucket, AT_REMOVEDIR);   /* the last one out; fails otherwise */
    if (bfd >= 0)
        close(bfd);
    if (ufd >= 0)
        close(ufd);
    if (dfd >= 0)
        close(dfd);
    if (rc < 0)
        return pm_fail(err, "cannot remove entry %s from %s: %s", h->name, h->dir, strerror(err));
    h->name[0] = 0;
    return 0;
}
