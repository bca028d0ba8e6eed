/*
 * Shares of the export's descriptors among the users it serves.
 *
 * Every open a caller keeps through the export is a connection the export
 * holds (and a passthrough open a second one, to the manager's memory
 * manager side), for as long as the caller likes.  A manager bounds what
 * one user's connections cost it (peermap_set_client_limits(3)), but the
 * export is one process serving every user: without shares of its own,
 * another user keeping files open would take every descriptor it has, and
 * root's opens would fail (each user's share at the manager is larger than
 * a service's usual 1024 descriptors).  So, as in limits.c: a user other
 * than root and the export's own holds at most a quarter of the export's
 * descriptors, all such users together at most a half (the rest is for
 * root, the export's user, and the path-space look-ups every request
 * makes); over it an open fails with EAGAIN, as a manager's share says.
 * Each connection counts two descriptors (it may become a passthrough
 * open).  At start the soft limit is raised to the hard one.
 */
#include <pthread.h>
#include <stdlib.h>
#include <sys/resource.h>

#include "export/export.h"

#define PER_CONN 2

struct held {
    uid_t uid;
    long n;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static long per_user = 256, all_others = 512;
static long others;              /* held by all users that have a share */
static struct held *users;       /* users holding any */
static size_t nusers, capusers;
static uid_t *owner;             /* coid -> uid + 1 (0: not counted) */
static size_t nowner;

void pmx_share_init(void)
{
    struct rlimit r;
    if (getrlimit(RLIMIT_NOFILE, &r) < 0)
        return;
    if (r.rlim_cur < r.rlim_max) {
        r.rlim_cur = r.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &r) < 0)
            getrlimit(RLIMIT_NOFILE, &r);
    }
    long lim = r.rlim_cur == RLIM_INFINITY || r.rlim_cur > (1 << 24) ? 1 << 24
                                                                     : (long)r.rlim_cur;
    per_user = lim / 4 > 16 ? lim / 4 : 16;
    all_others = lim / 2 > per_user ? lim / 2 : per_user;
}

static int exempt(uid_t uid)
{
    return uid == 0 || uid == pmx_cfg.euid;
}

int pmx_share_take(uid_t uid)
{
    if (exempt(uid))
        return 0;
    pthread_mutex_lock(&lock);
    size_t i = 0;
    while (i < nusers && users[i].uid != uid)
        i++;
    long had = i < nusers ? users[i].n : 0;
    int ok = had + PER_CONN <= per_user && others + PER_CONN <= all_others;
    if (ok && i == nusers) {
        if (nusers == capusers) {
            size_t cap = capusers ? capusers * 2 : 8;
            struct held *t = realloc(users, cap * sizeof *t);
            if (t) {
                users = t;
                capusers = cap;
            }
        }
        if (nusers < capusers)
            users[nusers++] = (struct held){ uid, 0 };
        else
            ok = 0;
    }
    if (ok) {
        users[i].n += PER_CONN;
        others += PER_CONN;
    }
    pthread_mutex_unlock(&lock);
    if (!ok)
        errno = EAGAIN;
    return ok ? 0 : -1;
}

/* Lock held. */
static void put_locked(uid_t uid)
{
    for (size_t i = 0; i < nusers; i++)
        if (users[i].uid == uid) {
            users[i].n -= PER_CONN;
            others -= PER_CONN;
            if (users[i].n <= 0)
                users[i] = users[--nusers];
            return;
        }
}

void pmx_share_put(uid_t uid)
{
    if (exempt(uid))
        return;
    pthread_mutex_lock(&lock);
    put_locked(uid);
    pthread_mutex_unlock(&lock);
}

int pmx_share_bind(int coid, uid_t uid)
{
    if (exempt(uid) || coid < 0)
        return 0;
    pthread_mutex_lock(&lock);
    if ((size_t)coid >= nowner) {
        size_t n = nowner ? nowner : 64;
        while (n <= (size_t)coid)
            n *= 2;
        uid_t *t = realloc(owner, n * sizeof *t);
        if (!t) {
            put_locked(uid);
            pthread_mutex_unlock(&lock);
            errno = ENOMEM;
            return -1;
        }
        for (size_t i = nowner; i < n; i++)
            t[i] = 0;
        owner = t;
        nowner = n;
    }
    owner[coid] = uid + 1;
    pthread_mutex_unlock(&lock);
    return 0;
}

void pmx_share_release(int coid)
{
    pthread_mutex_lock(&lock);
    if (coid >= 0 && (size_t)coid < nowner && owner[coid]) {
        put_locked(owner[coid] - 1);
        owner[coid] = 0;
    }
    pthread_mutex_unlock(&lock);
}
