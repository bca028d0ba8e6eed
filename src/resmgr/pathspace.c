/*
 * The path space's operations: attach, detach, resolve, list (pathspace.h
 * explains the design).  Nothing is cached between calls: every answer comes
 * from the directory as it is now, so processes need no coordination and the
 * only shared state is the attach counter (pathspace_format.c).
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/internal.h"
#include "resmgr/pathspace_internal.h"
#include "trust/trust.h"

#define TMP_PREFIX ".tmp."

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

/* Write the record under a temporary name (O_EXCL: never someone else's
 * file or link), give it the entry's permissions, then rename it into place
 * so a reader sees no entry or a whole one.  No fsync: the path space
 * describes running processes and means nothing after a crash. */
static int publish(int dirfd, const char *dir, const char *name, const char *rec,
                   size_t len, mode_t perms)
{
    char tmp[PM_PS_NAME_MAX + sizeof TMP_PREFIX];
    snprintf(tmp, sizeof tmp, TMP_PREFIX "%s", name);
    int fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return pm_fail(errno, "cannot create an entry in the path space %s as uid %u: %s",
                       dir, (unsigned)geteuid(), strerror(errno));
    if (write_all(fd, rec, len) < 0 || fchmod(fd, perms) < 0) {
        int err = errno;
        close(fd);
        unlinkat(dirfd, tmp, 0);
        return pm_fail(err, "cannot write an entry in the path space %s: %s", dir, strerror(err));
    }
    if (close(fd) < 0 || renameat(dirfd, tmp, dirfd, name) < 0) {
        int err = errno;
        unlinkat(dirfd, tmp, 0);
        return pm_fail(err, "cannot write an entry in the path space %s: %s", dir, strerror(err));
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
    char name[PM_PS_NAME_MAX], rec[PM_PS_RECORD_MAX];
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
    struct pm_ps_name n = { r.seq, r.pid, r.start, flags,
                            pm_ps_hash(r.path, strlen(r.path)), rnd };
    pm_ps_name_format(&n, name);
    int len = pm_ps_record_format(&r, rec, sizeof rec);
    if (len < 0)
        return -1;

    int dirfd = pm_ps_dir_open(1, h->dir);
    if (dirfd < 0)
        return -1;
    int rc = publish(dirfd, h->dir, name, rec, (size_t)len, mode & 0777);
    close(dirfd);
    if (rc < 0)
        return -1;
    strcpy(h->name, name);
    h->pid = r.pid;
    return 0;
}

int pm_pathspace_detach(struct pm_ps_handle *h)
{
    if (!h || !h->name[0])
        return pm_fail(EINVAL, "path space: nothing attached with this handle");
    if (h->pid != getpid())
        return pm_fail(EPERM, "path space: entry %s belongs to process %d", h->name, (int)h->pid);
    int dirfd = open(h->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dirfd < 0)
        return pm_fail(errno, "cannot open the path space %s: %s", h->dir, strerror(errno));
    int rc = unlinkat(dirfd, h->name, 0);
    int err = errno;
    close(dirfd);
    if (rc < 0)
        return pm_fail(err, "cannot remove entry %s from %s: %s", h->name, h->dir, strerror(err));
    h->name[0] = 0;
    return 0;
}

/* A dead manager's entry goes as soon as someone allowed to remove it looks:
 * its owner or root (the sticky directory says the same; asking first just
 * avoids a refused unlink for every resolve by another user). */
static void remove_stale(int dirfd, const char *name, const struct stat *st)
{
    uid_t me = geteuid();
    if (me == 0 || me == st->st_uid)
        unlinkat(dirfd, name, 0);
}

enum load_result { LOAD_SKIP, LOAD_OK, LOAD_DENIED };

/* Check and read one entry.  st is filled for OK and DENIED. */
static enum load_result load(int dirfd, const char *name, const struct pm_ps_name *n,
                             struct pm_ps_record *r, struct stat *st)
{
    char buf[PM_PS_RECORD_MAX + 1];
    size_t len = 0;

    if (fstatat(dirfd, name, st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st->st_mode))
        return LOAD_SKIP;
    switch (pm_ps_manager_state(n->pid, n->start, st->st_uid)) {
    case PM_PS_GONE:
        remove_stale(dirfd, name, st);
        return LOAD_SKIP;
    case PM_PS_FOREIGN:
        return LOAD_SKIP;
    case PM_PS_LIVE:
        break;
    }
    /* The kernel's own permission check is the entry's access rule. */
    int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (fd < 0)
        return errno == EACCES || errno == EPERM ? LOAD_DENIED : LOAD_SKIP;
    for (;;) {
        ssize_t got = read(fd, buf + len, sizeof buf - 1 - len);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            break;
        len += (size_t)got;
        if (len == sizeof buf - 1)
            break;
    }
    close(fd);
    if (len == sizeof buf - 1 || pm_ps_record_parse(buf, len, r) < 0)
        return LOAD_SKIP;
    /* The name is what resolvers trust before opening: it must agree. */
    if (r->seq != n->seq || r->pid != n->pid || r->start != n->start ||
        r->flags != n->flags || pm_ps_hash(r->path, strlen(r->path)) != n->hash)
        return LOAD_SKIP;
    return LOAD_OK;
}

static void fill(struct pm_ps_match *m, const struct pm_ps_record *r, const struct stat *st,
                 const char *rest)
{
    m->pid = r->pid;
    m->chid = r->chid;
    m->handle = r->handle;
    m->flags = r->flags;
    m->mode = r->mode;
    m->uid = st->st_uid;
    m->gid = st->st_gid;
    m->seq = r->seq;
    strcpy(m->path, r->path);
    strcpy(m->rest, rest);
}

/* At one path: BEFORE entries first, AFTER entries last, newest first. */
static int rank(unsigned flags)
{
    return flags & PM_PS_BEFORE ? 2 : flags & PM_PS_AFTER ? 0 : 1;
}

struct cand {
    struct pm_ps_name n;
    size_t plen;                  /* length of the matched prefix */
    char name[PM_PS_NAME_MAX];
};

/* Best first: longest prefix, then rank, then newest. */
static int cand_cmp(const void *a, const void *b)
{
    const struct cand *x = a, *y = b;
    if (x->plen != y->plen)
        return x->plen > y->plen ? -1 : 1;
    if (rank(x->n.flags) != rank(y->n.flags))
        return rank(y->n.flags) - rank(x->n.flags);
    if (x->n.seq != y->n.seq)
        return x->n.seq > y->n.seq ? -1 : 1;
    return strcmp(y->name, x->name);
}

struct prefix { size_t len; uint64_t hash; };

/* Entries whose name matches a prefix of `norm` (by hash: unreadable entries
 * must compete too).  Returns the count, *out malloc'd; -1 on ENOMEM. */
static int candidates(int dirfd, const char *norm, struct cand **out)
{
    size_t len = strlen(norm), np = 0, cap = 0;
    int nc = 0;
    struct cand *c = NULL;
    struct prefix *p = malloc((len / 2 + 2) * sizeof *p);
    if (!p)
        return pm_fail(ENOMEM, "path space: out of memory");
    p[np++] = (struct prefix){ 1, pm_ps_hash(norm, 1) };
    for (size_t i = 1; i <= len; i++)
        if (i == len ? len > 1 : norm[i] == '/')
            p[np++] = (struct prefix){ i, pm_ps_hash(norm, i) };

    DIR *d = fdopendir(fcntl(dirfd, F_DUPFD_CLOEXEC, 0));
    if (!d) {
        free(p);
        return pm_fail(errno, "cannot read the path space: %s", strerror(errno));
    }
    struct dirent *e;
    while ((e = readdir(d))) {
        struct pm_ps_name n;
        if (e->d_name[0] == '.' || strlen(e->d_name) >= PM_PS_NAME_MAX ||
            pm_ps_name_parse(e->d_name, &n) < 0)
            continue;
        for (size_t k = np; k-- > 0;) {
            /* A file manager matches only the whole path. */
            if (p[k].hash != n.hash || (p[k].len != len && !(n.flags & PM_PS_DIR)))
                continue;
            if ((size_t)nc == cap) {
                cap = cap ? cap * 2 : 16;
                struct cand *bigger = realloc(c, cap * sizeof *c);
                if (!bigger) {
                    closedir(d);
                    free(c);
                    free(p);
                    return pm_fail(ENOMEM, "path space: out of memory");
                }
                c = bigger;
            }
            c[nc].n = n;
            c[nc].plen = p[k].len;
            strcpy(c[nc].name, e->d_name);
            nc++;
            break;
        }
    }
    closedir(d);
    free(p);
    *out = c;
    return nc;
}

/*
 * First come, first served between users.  An entry of a non-root user that
 * would serve the same path as an older live entry of another owner - the
 * same path, or below that owner's directory manager - would take that
 * owner's clients: it is ignored.  (QNX guards its path space with the
 * PROCMGR_AID_PATHSPACE ability; here anyone may write an entry, so the
 * resolver decides.)  Root's entries are trusted, as are a user's own.
 */
static void find_hijackers(int dirfd, const struct cand *c, int nc, char *ignore)
{
    uid_t *owner = malloc((size_t)(nc ? nc : 1) * sizeof *owner);
    char *live = malloc((size_t)(nc ? nc : 1));
    if (!owner || !live) {
        free(owner);
        free(live);
        return;
    }
    for (int i = 0; i < nc; i++) {
        struct stat st;
        live[i] = fstatat(dirfd, c[i].name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
                  S_ISREG(st.st_mode) &&
                  pm_ps_manager_state(c[i].n.pid, c[i].n.start, st.st_uid) == PM_PS_LIVE;
        owner[i] = live[i] ? st.st_uid : 0;
    }
    for (int i = 0; i < nc; i++) {
        ignore[i] = 0;
        if (!live[i] || owner[i] == 0)
            continue;
        for (int j = 0; j < nc && !ignore[i]; j++)
            ignore[i] = j != i && live[j] && owner[j] != owner[i] &&
                        c[j].n.seq < c[i].n.seq;
    }
    free(owner);
    free(live);
}

int pm_pathspace_resolve(const char *path, struct pm_ps_match *m)
{
    char norm[PATH_MAX], dir[PATH_MAX];
    struct pm_ps_record *r;
    struct cand *c = NULL;
    int rc = -1;

    if (!m)
        return pm_fail(EINVAL, "path space: no result buffer");
    if (pm_ps_normalise(path, norm) < 0)
        return -1;
    int dirfd = pm_ps_dir_open(0, dir);
    if (dirfd < 0) {
        if (errno == ENOENT)
            return pm_fail(ENOENT, "nothing is attached at or above %s (no path space at %s)",
                           norm, dir);
        return -1;
    }
    r = malloc(sizeof *r);
    int nc = r ? candidates(dirfd, norm, &c) : pm_fail(ENOMEM, "path space: out of memory");
    if (nc < 0)
        goto out;
    if (nc > 0)
        qsort(c, (size_t)nc, sizeof *c, cand_cmp);
    char *ignore = malloc((size_t)(nc ? nc : 1));
    if (!ignore) {
        pm_fail(ENOMEM, "path space: out of memory");
        goto out;
    }
    find_hijackers(dirfd, c, nc, ignore);
    size_t len = strlen(norm);
    for (int i = 0; i < nc; i++) {
        struct stat st;
        if (ignore[i])
            continue;
        switch (load(dirfd, c[i].name, &c[i].n, r, &st)) {
        case LOAD_SKIP:
            continue;
        case LOAD_DENIED:
            /* Falling through to a shorter prefix or an older attach would
             * route the client to a manager it did not ask for. */
            pm_fail(EACCES, "%.*s is attached by uid %u (pid %d) with mode %03o, "
                    "which uid %u may not reach",
                    (int)c[i].plen, norm, (unsigned)st.st_uid, (int)c[i].n.pid,
                    (unsigned)(st.st_mode & 0777), (unsigned)geteuid());
            free(ignore);
            goto out;
        case LOAD_OK:
            break;
        }
        /* Same hash, another path: not a match after all. */
        if (strlen(r->path) != c[i].plen || memcmp(r->path, norm, c[i].plen) != 0)
            continue;
        const char *rest = c[i].plen == len ? "" : norm + c[i].plen + (c[i].plen > 1);
        fill(m, r, &st, rest);
        rc = 0;
        free(ignore);
        goto out;
    }
    free(ignore);
    pm_fail(ENOENT, "nothing is attached at or above %s in %s", norm, dir);
out:
    free(c);
    free(r);
    close(dirfd);
    return rc;
}

struct item {
    struct pm_ps_record r;
    struct stat st;
};

static int item_cmp(const void *a, const void *b)
{
    const struct item *x = a, *y = b;
    int c = strcmp(x->r.path, y->r.path);
    if (c)
        return c;
    if (rank(x->r.flags) != rank(y->r.flags))
        return rank(y->r.flags) - rank(x->r.flags);
    if (x->r.seq != y->r.seq)
        return x->r.seq > y->r.seq ? -1 : 1;
    return 0;
}

/* A temporary file left by an attacher that died mid-attach. */
static void sweep_tmp(int dirfd, const char *name)
{
    struct pm_ps_name n;
    struct stat st;
    if (strncmp(name, TMP_PREFIX, strlen(TMP_PREFIX)) != 0 ||
        pm_ps_name_parse(name + strlen(TMP_PREFIX), &n) < 0 ||
        fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return;
    if (pm_ps_manager_state(n.pid, n.start, st.st_uid) == PM_PS_GONE)
        remove_stale(dirfd, name, &st);
}

int pm_pathspace_list(void (*cb)(const struct pm_ps_match *m, void *arg), void *arg)
{
    char dir[PATH_MAX];
    struct item *items = NULL;
    size_t n = 0, cap = 0;

    int dirfd = pm_ps_dir_open(0, dir);
    if (dirfd < 0)
        return errno == ENOENT ? 0 : -1;
    DIR *d = fdopendir(fcntl(dirfd, F_DUPFD_CLOEXEC, 0));
    if (!d) {
        close(dirfd);
        return pm_fail(errno, "cannot read the path space %s: %s", dir, strerror(errno));
    }
    struct dirent *e;
    while ((e = readdir(d))) {
        struct pm_ps_name nm;
        if (e->d_name[0] == '.') {
            sweep_tmp(dirfd, e->d_name);
            continue;
        }
        if (strlen(e->d_name) >= PM_PS_NAME_MAX || pm_ps_name_parse(e->d_name, &nm) < 0)
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 8;
            struct item *bigger = realloc(items, cap * sizeof *items);
            if (!bigger) {
                closedir(d);
                close(dirfd);
                free(items);
                return pm_fail(ENOMEM, "path space: out of memory");
            }
            items = bigger;
        }
        if (load(dirfd, e->d_name, &nm, &items[n].r, &items[n].st) == LOAD_OK)
            n++;
    }
    closedir(d);
    close(dirfd);
    if (n)
        qsort(items, n, sizeof *items, item_cmp);
    struct pm_ps_match *m = malloc(sizeof *m);
    if (!m && n) {
        free(items);
        return pm_fail(ENOMEM, "path space: out of memory");
    }
    for (size_t i = 0; i < n && cb; i++) {
        fill(m, &items[i].r, &items[i].st, "");
        cb(m, arg);
    }
    free(m);
    free(items);
    return (int)n;
}
