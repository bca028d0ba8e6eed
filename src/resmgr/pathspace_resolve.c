/*
 * Resolving a path (pathspace.h): only the buckets of the path's prefixes,
 * only in the directories of users the caller trusts for that prefix, are
 * read.  What other users put anywhere else costs nothing, so the work is
 * bounded by (components of the path) x (trusted users) x (the per-path
 * limit), whatever anyone else does.
 */
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/internal.h"
#include "resmgr/pathspace_internal.h"
#include "trust/policy.h"

/* A bucket holding more names than this (the per-path limit twice, plus
 * room for files being written) was not filled by the library: its user's
 * entries for that path are ignored. */
static unsigned bucket_cap(const struct pm_policy *pol)
{
    return 2 * pol->entries_per_path + 16;
}

struct prefix { size_t len; uint64_t hash; };

struct bucket {
    int fd;
    uid_t uid;
    uint64_t hash;
};

struct cand {
    struct pm_ps_name n;
    size_t plen;          /* length of the matched prefix */
    size_t root_len;      /* the owner's delegated prefix (foreign owners) */
    int foreign;          /* neither root's nor the caller's: first come, first served */
    int b;                /* its bucket */
    char name[PM_PS_NAME_MAX];
};

struct ctx {
    const struct pm_policy *pol;
    uid_t me;
    const char *norm;
    size_t len;
    struct prefix *p;
    size_t np;
    struct bucket *b;
    size_t nb, bcap;
    struct cand *c;
    size_t nc, ccap;
    /* filled while reading one bucket */
    size_t cur_plen, cur_root;
    int cur_foreign;
    int oom;
    char note[256];       /* something the caller may want to know on ENOENT */
    struct pm_ps_trace *tr; /* what was read, for the cache (or NULL) */
};

/* At one path: BEFORE entries first, AFTER entries last, newest first. */
static int rank(unsigned flags)
{
    return flags & PM_PS_BEFORE ? 2 : flags & PM_PS_AFTER ? 0 : 1;
}

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

static void note(struct ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note(struct ctx *c, const char *fmt, ...)
{
    if (c->note[0])
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->note, sizeof c->note, fmt, ap);
    va_end(ap);
}

static int add_cand(const char *name, void *arg)
{
    struct ctx *c = arg;
    struct pm_ps_name n;
    if (name[0] == '.' || strlen(name) >= PM_PS_NAME_MAX || pm_ps_name_parse(name, &n) < 0)
        return 0;
    /* A file manager matches only the whole path. */
    if (c->cur_plen != c->len && !(n.flags & PM_PS_DIR))
        return 0;
    if (c->nc == c->ccap) {
        size_t cap = c->ccap ? c->ccap * 2 : 16;
        struct cand *bigger = realloc(c->c, cap * sizeof *bigger);
        if (!bigger) {
            c->oom = 1;
            return 1;
        }
        c->c = bigger;
        c->ccap = cap;
    }
    struct cand *x = &c->c[c->nc++];
    x->n = n;
    x->plen = c->cur_plen;
    x->root_len = c->cur_root;
    x->foreign = c->cur_foreign;
    x->b = (int)c->nb - 1;
    strcpy(x->name, name);
    return 0;
}

/* Read user `uid`'s bucket for prefix k (if the caller trusts it there). */
static int read_bucket(struct ctx *c, int ufd, uid_t uid, size_t k)
{
    size_t root_len;
    if (!pm_policy_trusts(c->pol, c->me, uid, c->norm, c->p[k].len, &root_len))
        return 0;
    int bfd = pm_ps_bucket_open(ufd, c->p[k].hash, uid);
    if (c->tr && (bfd >= 0 || errno != ENOENT)) {
        char bname[17], rel[48];
        pm_ps_bucket_name(c->p[k].hash, bname);
        snprintf(rel, sizeof rel, "%u/%s", (unsigned)uid, bname);
        pm_ps_trace_add(c->tr, ufd, bname, rel);
    }
    if (bfd < 0) {
        if (errno == EPERM)
            note(c, "uid %u's directory for %.*s is not uid %u's alone: ignored",
                 (unsigned)uid, (int)c->p[k].len, c->norm, (unsigned)uid);
        return 0;
    }
    if (c->nb == c->bcap) {
        size_t cap = c->bcap ? c->bcap * 2 : 8;
        struct bucket *bigger = realloc(c->b, cap * sizeof *bigger);
        if (!bigger) {
            close(bfd);
            return pm_fail(ENOMEM, "path space: out of memory");
        }
        c->b = bigger;
        c->bcap = cap;
    }
    c->b[c->nb++] = (struct bucket){ bfd, uid, c->p[k].hash };
    c->cur_plen = c->p[k].len;
    c->cur_root = root_len;
    c->cur_foreign = uid != 0 && uid != c->me;
    size_t before = c->nc;
    int seen = pm_ps_read_names(bfd, bucket_cap(c->pol), add_cand, c);
    if (c->oom)
        return pm_fail(ENOMEM, "path space: out of memory");
    if (seen > (int)bucket_cap(c->pol)) {
        c->nc = before;     /* none of them: the limit is the user's to keep */
        note(c, "uid %u has more than %u entries for %.*s: all ignored", (unsigned)uid,
             bucket_cap(c->pol), (int)c->p[k].len, c->norm);
    }
    return 0;
}

/*
 * First come, first served among the users a policy delegates to.  An entry
 * of a user trusted only by the policy (not root, not the caller) is ignored
 * when an older live entry of another owner, at or below the delegated
 * prefix, serves the same path (the path itself, or a directory manager
 * above it): two users given the same part of the path space cannot take
 * each other's clients, and neither can take a path root served first.
 */
static int taken(struct ctx *c, size_t i)
{
    const struct cand *x = &c->c[i];
    uid_t owner = c->b[x->b].uid;
    for (size_t j = 0; j < c->nc; j++) {
        const struct cand *y = &c->c[j];
        if (j == i || c->b[y->b].uid == owner || y->n.seq >= x->n.seq ||
            y->plen > x->plen || y->plen < x->root_len)
            continue;
        if (pm_ps_entry_claims(c->b[y->b].fd, y->name, c->b[y->b].uid))
            return 1;
    }
    return 0;
}

static int prefixes(struct ctx *c)
{
    size_t len = c->len;
    c->p = malloc((len / 2 + 2) * sizeof *c->p);
    if (!c->p)
        return pm_fail(ENOMEM, "path space: out of memory");
    c->np = 0;
    c->p[c->np++] = (struct prefix){ 1, pm_ps_hash(c->norm, 1) };
    for (size_t i = 1; i <= len; i++)
        if (i == len ? len > 1 : c->norm[i] == '/')
            c->p[c->np++] = (struct prefix){ i, pm_ps_hash(c->norm, i) };
    return 0;
}

/* The users whose entries the caller may believe somewhere: root, itself,
 * and the ones the policy names. */
static int users(struct ctx *c, const struct pm_ps_space *s)
{
    size_t nu = 2 + c->pol->nusers;
    uid_t *u = malloc(nu * sizeof *u);
    if (!u)
        return pm_fail(ENOMEM, "path space: out of memory");
    nu = 0;
    u[nu++] = 0;
    if (c->me != 0)
        u[nu++] = c->me;
    for (size_t i = 0; i < c->pol->nusers; i++)
        if (c->pol->users[i] != 0 && c->pol->users[i] != c->me)
            u[nu++] = c->pol->users[i];
    for (size_t i = 0; i < nu; i++) {
        if (c->tr) {
            char rel[24];
            snprintf(rel, sizeof rel, "%u", (unsigned)u[i]);
            pm_ps_trace_add(c->tr, s->fd, rel, rel);
        }
        int ufd = pm_ps_user_open(s, u[i]);
        if (ufd < 0) {
            if (errno == EPERM)
                note(c, "%s/%u is not uid %u's alone (or the space is not): ignored", s->path,
                     (unsigned)u[i], (unsigned)u[i]);
            continue;
        }
        int rc = 0;
        for (size_t k = 0; k < c->np && rc == 0; k++)
            rc = read_bucket(c, ufd, u[i], k);
        close(ufd);
        if (rc < 0) {
            free(u);
            return -1;
        }
    }
    free(u);
    return 0;
}

static int resolve(const char *path, struct pm_ps_match *m, int cache)
{
    char norm[PATH_MAX];
    struct pm_ps_space s;
    struct ctx c;
    int rc = -1;

    if (!m)
        return pm_fail(EINVAL, "path space: no result buffer");
    if (pm_ps_normalise(path, norm) < 0)
        return -1;
    uid_t me = geteuid();
    m->cached = 0;
    if (cache && pm_ps_cache_find(norm, me, m) == 0)
        return 0;
    if (pm_ps_space_open(0, &s) < 0) {
        if (errno == ENOENT)
            return pm_fail(ENOENT, "nothing is attached at or above %s (no path space at %s)",
                           norm, s.path);
        return -1;
    }
    memset(&c, 0, sizeof c);
    c.pol = pm_policy_get();
    c.me = me;
    struct pm_ps_trace *tr = cache ? calloc(1, sizeof *tr) : NULL;
    if (tr) {
        tr->on = 1;
        c.tr = tr;
    }
    c.norm = norm;
    c.len = strlen(norm);
    struct pm_ps_record *r = malloc(sizeof *r);
    if (!r) {
        pm_fail(ENOMEM, "path space: out of memory");
        goto out;
    }
    if (prefixes(&c) < 0 || users(&c, &s) < 0)
        goto out;
    if (c.nc > 1)
        qsort(c.c, c.nc, sizeof *c.c, cand_cmp);
    for (size_t i = 0; i < c.nc; i++) {
        struct cand *x = &c.c[i];
        struct bucket *b = &c.b[x->b];
        struct stat st;
        if (x->foreign && taken(&c, i))
            continue;
        switch (pm_ps_entry_load(b->fd, x->name, b->uid, b->hash, r, &st, cache)) {
        case PM_PS_SKIP:
            continue;
        case PM_PS_DENIED:
            /* Falling through to a shorter prefix or an older attach would
             * route the client to a manager it did not ask for. */
            pm_fail(EACCES, "%.*s is attached by uid %u (pid %d) with mode %03o, "
                    "which uid %u may not reach",
                    (int)x->plen, norm, (unsigned)b->uid, (int)x->n.pid,
                    (unsigned)(st.st_mode & 0777), (unsigned)c.me);
            goto out;
        case PM_PS_OK:
            break;
        }
        /* Same hash, another path: not a match after all. */
        if (strlen(r->path) != x->plen || memcmp(r->path, norm, x->plen) != 0)
            continue;
        m->pid = r->pid;
        m->start = r->start;
        m->chid = r->chid;
        m->handle = r->handle;
        m->flags = r->flags;
        m->mode = r->mode;
        m->uid = st.st_uid;
        m->gid = st.st_gid;
        m->seq = r->seq;
        strcpy(m->path, r->path);
        strcpy(m->rest, x->plen == c.len ? "" : norm + x->plen + (x->plen > 1));
        m->key = r->key;
        if (tr && i == 0 && !x->foreign && !tr->overflow && m->key) {
            char bname[17], rel[48 + PM_PS_NAME_MAX];
            pm_ps_bucket_name(b->hash, bname);
            snprintf(rel, sizeof rel, "%u/%s/%s", (unsigned)b->uid, bname, x->name);
            pm_ps_cache_put(norm, me, &s, c.pol, tr, rel, m);
        }
        rc = 0;
        goto out;
    }
    if (c.pol->why[0])
        note(&c, "policy %s %s: %s", c.pol->file,
             c.pol->state == PM_POLICY_REFUSED ? "ignored" : "partly ignored", c.pol->why);
    pm_fail(ENOENT, "nothing uid %u trusts is attached at or above %s in %s (root's and "
            "its own entries count, other users' where %s allows)%s%s", (unsigned)c.me, norm,
            s.path, c.pol->file, c.note[0] ? "; " : "", c.note);
out:;
    int err = errno;
    for (size_t i = 0; i < c.nb; i++)
        close(c.b[i].fd);
    free(c.b);
    free(c.c);
    free(c.p);
    free(r);
    free(tr);
    pm_policy_put(c.pol);
    pm_ps_space_close(&s);
    errno = err;
    return rc;
}

int pm_pathspace_resolve(const char *path, struct pm_ps_match *m)
{
    return resolve(path, m, 0);
}

int pm_pathspace_resolve_cached(const char *path, struct pm_ps_match *m)
{
    return resolve(path, m, 1);
}
