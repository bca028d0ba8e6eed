/*
 * Listing the path space (pathspace.h): every live entry the caller trusts
 * and may reach, as resolution would see them.  Only the directories of
 * trusted users are read, each within the per-user limits, so a listing
 * costs what those users attached, not what anyone else did.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/internal.h"
#include "resmgr/pathspace_internal.h"
#include "trust/policy.h"

struct item {
    struct pm_ps_record r;
    struct stat st;
    size_t root_len;      /* the owner's delegated prefix (foreign owners) */
    int foreign;
};

struct ctx {
    const struct pm_policy *pol;
    uid_t me, uid;
    int ufd, bfd;
    const char *bucket;
    uint64_t hash;
    struct item *items;
    size_t n, cap;
    int oom;
    struct pm_ps_record *r;
};

static int rank(unsigned flags)
{
    return flags & PM_PS_BEFORE ? 2 : flags & PM_PS_AFTER ? 0 : 1;
}

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

static struct item *new_item(struct ctx *c)
{
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 16;
        struct item *bigger = realloc(c->items, cap * sizeof *bigger);
        if (!bigger) {
            c->oom = 1;
            return NULL;
        }
        c->items = bigger;
        c->cap = cap;
    }
    return &c->items[c->n];
}

static int one_entry(const char *name, void *arg)
{
    struct ctx *c = arg;
    struct stat st;
    if (name[0] == '.') {
        /* A temporary file left by an attacher that died mid-attach. */
        pm_ps_entry_sweep(c->ufd, c->bfd, c->bucket, name, c->uid);
        return 0;
    }
    /* An entry the caller may not read is not listed; its path is unknown,
     * so unlike the resolver the listing's first-come check cannot count it. */
    if (pm_ps_entry_load(c->bfd, name, c->uid, c->hash, c->r, &st, 0) != PM_PS_OK)
        return 0;
    size_t root_len, plen = strlen(c->r->path);
    if (!pm_policy_trusts(c->pol, c->me, c->uid, c->r->path, plen, &root_len))
        return 0;
    struct item *it = new_item(c);
    if (!it)
        return 1;
    it->r = *c->r;
    it->st = st;
    it->root_len = root_len;
    it->foreign = c->uid != 0 && c->uid != c->me;
    c->n++;
    return 0;
}

static int one_bucket(const char *name, void *arg)
{
    struct ctx *c = arg;
    if (pm_ps_bucket_parse(name, &c->hash) < 0)
        return 0;
    c->bfd = pm_ps_bucket_open(c->ufd, c->hash, c->uid);
    if (c->bfd < 0)
        return 0;
    c->bucket = name;
    size_t before = c->n;
    unsigned cap = 2 * c->pol->entries_per_path + 16;
    if (pm_ps_read_names(c->bfd, cap, one_entry, c) > (int)cap)
        c->n = before;          /* over the limit: the whole path is ignored */
    close(c->bfd);
    c->bfd = -1;
    return c->oom;
}

/* First come, first served among delegated users: as the resolver does
 * (pathspace_resolve.c, taken()), for an entry at its own path. */
static int taken(const struct ctx *c, size_t i)
{
    const struct item *x = &c->items[i];
    size_t xlen = strlen(x->r.path);
    for (size_t j = 0; j < c->n; j++) {
        const struct item *y = &c->items[j];
        size_t ylen = strlen(y->r.path);
        if (j == i || y->st.st_uid == x->st.st_uid || y->r.seq >= x->r.seq ||
            ylen < x->root_len)
            continue;
        if (ylen == xlen ? strcmp(x->r.path, y->r.path) == 0
                         : (y->r.flags & PM_PS_DIR) && pm_path_within(y->r.path, ylen,
                                                                      x->r.path, xlen))
            return 1;
    }
    return 0;
}

int pm_pathspace_list(void (*cb)(const struct pm_ps_match *m, void *arg), void *arg)
{
    struct pm_ps_space s;
    struct ctx c;

    if (pm_ps_space_open(0, &s) < 0)
        return errno == ENOENT ? 0 : -1;
    memset(&c, 0, sizeof c);
    c.pol = pm_policy_get();
    c.me = geteuid();
    c.bfd = -1;
    c.r = malloc(sizeof *c.r);
    size_t nu = 2 + c.pol->nusers;
    uid_t *u = malloc(nu * sizeof *u);
    if (!c.r || !u) {
        c.oom = 1;
        nu = 0;
    } else {
        nu = 0;
        u[nu++] = 0;
        if (c.me != 0)
            u[nu++] = c.me;
        for (size_t i = 0; i < c.pol->nusers; i++)
            if (c.pol->users[i] != 0 && c.pol->users[i] != c.me)
                u[nu++] = c.pol->users[i];
    }
    for (size_t i = 0; i < nu && !c.oom; i++) {
        c.uid = u[i];
        c.ufd = pm_ps_user_open(&s, u[i]);
        if (c.ufd < 0)
            continue;
        size_t before = c.n;
        unsigned cap = 2 * c.pol->paths_per_user + 16;
        if (pm_ps_read_names(c.ufd, cap, one_bucket, &c) > (int)cap)
            c.n = before;       /* over the limit: that user is left out */
        close(c.ufd);
    }
    free(u);
    free(c.r);
    pm_policy_put(c.pol);
    pm_ps_space_close(&s);
    if (c.oom) {
        free(c.items);
        return pm_fail(ENOMEM, "path space: out of memory");
    }
    /* Drop what resolution would ignore. */
    char *drop = calloc(c.n ? c.n : 1, 1);
    if (!drop) {
        free(c.items);
        return pm_fail(ENOMEM, "path space: out of memory");
    }
    for (size_t i = 0; i < c.n; i++)
        drop[i] = c.items[i].foreign && taken(&c, i);
    size_t k = 0;
    for (size_t i = 0; i < c.n; i++)
        if (!drop[i])
            c.items[k++] = c.items[i];
    free(drop);
    if (k > 1)
        qsort(c.items, k, sizeof *c.items, item_cmp);
    struct pm_ps_match *m = malloc(sizeof *m);
    if (!m && k) {
        free(c.items);
        return pm_fail(ENOMEM, "path space: out of memory");
    }
    for (size_t i = 0; i < k && cb; i++) {
        const struct item *it = &c.items[i];
        m->pid = it->r.pid;
        m->start = it->r.start;
        m->chid = it->r.chid;
        m->handle = it->r.handle;
        m->flags = it->r.flags;
        m->mode = it->r.mode;
        m->uid = it->st.st_uid;
        m->gid = it->st.st_gid;
        m->seq = it->r.seq;
        strcpy(m->path, it->r.path);
        m->rest[0] = 0;
        cb(m, arg);
    }
    free(m);
    free(c.items);
    return (int)k;
}
