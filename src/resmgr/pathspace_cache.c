/*
 * The resolution cache (pathspace.h, "Cache").
 *
 * A result stays good while nothing it was made from changed.  The
 * resolver read: the path space directory, the directory of each user it
 * trusts (present or not), the buckets of the path's prefixes that exist
 * there, and the chosen entry's file.  Each of these is remembered by
 * device, inode and change time; a directory's ctime moves with every
 * entry created, removed or renamed in it and with every chmod or chown,
 * and a file's with any change to it, so comparing stamps (one fstatat()
 * each) says whether reading them again could give another answer.  A
 * bucket that did not exist is covered by its user directory's stamp, a
 * user directory that did not exist by the space's.  What depends on the
 * caller rather than on the files - may it read the entry, with its groups,
 * capabilities and ACLs as they are now - is asked again (faccessat());
 * its effective uid is part of the key.  The manager's life is not in any
 * stamp: pm_pathspace_connect() proves it on the listener.
 *
 * SLOTS results per process, least recently used replaced; one descriptor
 * of the path space is kept open to look at the others relative to it.
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/internal.h"
#include "resmgr/pathspace_internal.h"
#include "trust/policy.h"

#define SLOTS 16

struct slot {
    uint64_t used;            /* last use (0: free) */
    uid_t me;
    const struct pm_policy *pol; /* a reference: the pointer stays this one */
    char norm[PATH_MAX];
    struct pm_ps_trace t;
    char entry[48 + PM_PS_NAME_MAX];
    struct pm_ps_stamp e;     /* the entry's file */
    struct pm_ps_match m;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct slot *slots[SLOTS];
static uint64_t clock_;
/* The path space the slots are about, and a descriptor of it. */
static char space[PATH_MAX];
static int space_fd = -1;
static struct pm_ps_stamp space_stamp;

/* A fork while another thread holds the lock must not leave the child's
 * copy locked forever. */
static pthread_once_t once = PTHREAD_ONCE_INIT;
static void prepare(void) { pthread_mutex_lock(&lock); }
static void release(void) { pthread_mutex_unlock(&lock); }
static void init(void) { pthread_atfork(prepare, release, release); }

static void stamp_of(struct pm_ps_stamp *p, int present, const struct stat *st)
{
    p->present = present;
    p->dev = present ? st->st_dev : 0;
    p->ino = present ? st->st_ino : 0;
    p->ctime = present ? st->st_ctim : (struct timespec){ 0, 0 };
}

static int stamp_same(const struct pm_ps_stamp *p, int present, const struct stat *st)
{
    if (p->present != present)
        return 0;
    return !present || (p->dev == st->st_dev && p->ino == st->st_ino &&
                        p->ctime.tv_sec == st->st_ctim.tv_sec &&
                        p->ctime.tv_nsec == st->st_ctim.tv_nsec);
}

/* Look at dirfd/name now: 1 present, 0 absent, -1 cannot tell. */
static int look(int dirfd, const char *name, struct stat *st)
{
    if (fstatat(dirfd, name, st, AT_SYMLINK_NOFOLLOW) == 0)
        return 1;
    return errno == ENOENT || errno == ENOTDIR ? 0 : -1;
}

void pm_ps_trace_add(struct pm_ps_trace *t, int dirfd, const char *name, const char *rel)
{
    struct stat st;
    if (!t || !t->on)
        return;
    int p = look(dirfd, name, &st);
    if (p < 0 || t->n == PM_PS_TRACE_MAX || strlen(rel) >= sizeof t->s[0].rel) {
        t->overflow = 1;
        return;
    }
    struct pm_ps_stamp *s = &t->s[t->n++];
    strcpy(s->rel, rel);
    stamp_of(s, p, &st);
}

static void drop_slot(int i)
{
    if (!slots[i])
        return;
    pm_policy_put(slots[i]->pol);
    free(slots[i]);
    slots[i] = NULL;
}

static void drop_all(void)
{
    for (int i = 0; i < SLOTS; i++)
        drop_slot(i);
    if (space_fd >= 0)
        close(space_fd);
    space_fd = -1;
    space[0] = 0;
}

/* Is the path space the same directory as when the slots were filled?
 * (lock held) */
static int space_same(const char *dir)
{
    struct stat st;
    return space_fd >= 0 && strcmp(dir, space) == 0 && stat(dir, &st) == 0 &&
           stamp_same(&space_stamp, 1, &st);
}

int pm_ps_cache_find(const char *norm, uid_t me, struct pm_ps_match *m)
{
    char dir[PATH_MAX];
    int e = errno;
    if (pm_pathspace_dir(dir, sizeof dir) < 0) {
        errno = e;
        return -1;
    }
    pthread_once(&once, init);
    const struct pm_policy *pol = pm_policy_get();
    int hit = -1;
    pthread_mutex_lock(&lock);
    if (!space_same(dir)) {
        drop_all();
        goto out;
    }
    for (int i = 0; i < SLOTS; i++) {
        struct slot *x = slots[i];
        if (!x || x->me != me || strcmp(x->norm, norm) != 0)
            continue;
        int ok = x->pol == pol;
        struct stat st;
        for (int k = 0; ok && k < x->t.n; k++)
            ok = stamp_same(&x->t.s[k], look(space_fd, x->t.s[k].rel, &st), &st);
        if (ok)
            ok = stamp_same(&x->e, look(space_fd, x->entry, &st), &st);
        /* Whether we may read the entry is ours to ask again: the kernel's
         * answer follows our groups, capabilities and ACLs as they are
         * now, and the walk from the space down checks every directory
         * on the way. */
        if (ok)
            ok = faccessat(space_fd, x->entry, R_OK, AT_EACCESS | AT_SYMLINK_NOFOLLOW) == 0;
        if (!ok) {
            drop_slot(i);
            break;
        }
        x->used = ++clock_;
        *m = x->m;
        m->cached = 1;
        hit = 0;
        break;
    }
out:
    pthread_mutex_unlock(&lock);
    pm_policy_put(pol);
    errno = e;
    return hit;
}

void pm_ps_cache_put(const char *norm, uid_t me, const struct pm_ps_space *s,
                     const struct pm_policy *pol, const struct pm_ps_trace *t,
                     const char *entry_rel, const struct pm_ps_match *m)
{
    struct stat st, est;
    if (strlen(norm) >= PATH_MAX || strlen(entry_rel) >= sizeof slots[0]->entry ||
        fstat(s->fd, &st) < 0 || look(s->fd, entry_rel, &est) != 1)
        return;
    /* A reference of our own to the policy the result was made under; one
     * loaded since is another pointer, and the result is not kept. */
    const struct pm_policy *now = pm_policy_get();
    struct slot *x = now == pol ? calloc(1, sizeof *x) : NULL;
    if (!x) {
        pm_policy_put(now);
        return;
    }
    pthread_once(&once, init);
    pthread_mutex_lock(&lock);
    if (!space_same(s->path)) {
        /* Another space (or the first): start over with this one. */
        drop_all();
        space_fd = fcntl(s->fd, F_DUPFD_CLOEXEC, 3);
        if (space_fd < 0) {
            pthread_mutex_unlock(&lock);
            pm_policy_put(now);
            free(x);
            return;
        }
        strcpy(space, s->path);
        stamp_of(&space_stamp, 1, &st);
    }
    int victim = 0;
    for (int i = 0; i < SLOTS; i++) {
        if (slots[i] && slots[i]->me == me && strcmp(slots[i]->norm, norm) == 0) {
            victim = i;
            break;
        }
        if (!slots[i] || (slots[victim] && slots[i]->used < slots[victim]->used))
            victim = i;
    }
    drop_slot(victim);
    x->used = ++clock_;
    x->me = me;
    x->pol = now;
    strcpy(x->norm, norm);
    x->t = *t;
    strcpy(x->entry, entry_rel);
    stamp_of(&x->e, 1, &est);
    x->m = *m;
    x->m.cached = 0;
    slots[victim] = x;
    pthread_mutex_unlock(&lock);
}

void pm_pathspace_forget(const struct pm_ps_match *m)
{
    pthread_once(&once, init);
    pthread_mutex_lock(&lock);
    for (int i = 0; i < SLOTS; i++)
        if (slots[i] && slots[i]->m.pid == m->pid && slots[i]->m.key == m->key &&
            slots[i]->m.chid == m->chid)
            drop_slot(i);
    pthread_mutex_unlock(&lock);
}
