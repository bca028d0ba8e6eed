/*
 * Per-user shares of what clients make a server hold.
 *
 * Every connection costs the server a slot and a descriptor; a message
 * body in a memfd costs a descriptor while it is being served; a large
 * reply's memfd is kept per connection (up to PM_BODY_CACHE_MAX) so the
 * next one costs no allocation.  Another user could open connections until
 * the server has no slot or descriptor left for anyone, or make it keep
 * gigabytes of reply files.  So each user's use is counted, by the
 * effective uid the kernel recorded at connect(), and bounded:
 *   - one user:   conns connections, fds descriptors, cache bytes;
 *   - all users together (but root and our own): `others` per cent of a
 *     channel's slots and of RLIMIT_NOFILE,
 * leaving the rest to root and to the server's own user, whose clients are
 * never refused by a share (only by the process's real limits).  Users are
 * few, so the table is a short array searched in order.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "peermap.h"
#include "common/internal.h"
#include "msg/msg.h"

#define DEFAULT_CONNS (PM_MAX_SLOTS / 4)
#define DEFAULT_CACHE ((unsigned long long)64 << 20)
#define DEFAULT_OTHERS 75

struct use {
    uid_t uid;
    unsigned long long conns, fds, cache;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct peermap_client_limits set; /* as given; 0 = default */
static struct use *users;
static size_t nusers, capusers;

/* RLIMIT_NOFILE, asked of the kernel at most every NOFILE_AGE_NS (lock
 * held): every accept needs it, and it changes only when the process sets
 * it. */
#define NOFILE_AGE_NS 100000000
static unsigned long long nofile(void)
{
    static unsigned long long cached;
    static int64_t when;
    int64_t now = pm_now_ns();
    if (cached && now - when < NOFILE_AGE_NS)
        return cached;
    struct rlimit r;
    if (getrlimit(RLIMIT_NOFILE, &r) < 0 || r.rlim_cur == RLIM_INFINITY ||
        r.rlim_cur > (1ull << 30))
        cached = 1ull << 30;
    else
        cached = (unsigned long long)r.rlim_cur;
    when = now;
    return cached;
}

/* The limits in force, defaults resolved (lock held). */
static void resolve(struct peermap_client_limits *l)
{
    *l = set;
    if (!l->conns)
        l->conns = DEFAULT_CONNS;
    if (!l->fds) {
        unsigned long long q = nofile() / 4;
        l->fds = q < 16 ? 16 : q;
    }
    if (!l->cache)
        l->cache = DEFAULT_CACHE;
    if (!l->others)
        l->others = DEFAULT_OTHERS;
    if (l->others > 100)
        l->others = 100;
}

static int exempt(uid_t uid)
{
    return uid == 0 || uid == geteuid();
}

/* The user's entry (lock held); NULL when out of memory. */
static struct use *user(uid_t uid)
{
    for (size_t i = 0; i < nusers; i++)
        if (users[i].uid == uid)
            return &users[i];
    if (nusers == capusers) {
        size_t n = capusers ? capusers * 2 : 8;
        struct use *t = realloc(users, n * sizeof *t);
        if (!t)
            return NULL;
        users = t;
        capusers = n;
    }
    users[nusers] = (struct use){ .uid = uid };
    return &users[nusers++];
}

/* Drop an entry that holds nothing any more (lock held). */
static void tidy(struct use *u)
{
    if (!u->conns && !u->fds && !u->cache)
        *u = users[--nusers];
}

/* What the users who are held to shares use together (lock held). */
static void others_use(unsigned long long *conns, unsigned long long *fds)
{
    *conns = *fds = 0;
    for (size_t i = 0; i < nusers; i++)
        if (!exempt(users[i].uid)) {
            *conns += users[i].conns;
            *fds += users[i].fds;
        }
}

static unsigned long long share_of(unsigned long long capacity, unsigned long long pct)
{
    return capacity / 100 * pct + capacity % 100 * pct / 100;
}

/* Whether `u` may take dconns more connections and dfds more descriptors
 * (lock held); records the reason when not. */
static int fits(const struct use *u, unsigned long long dconns, unsigned long long dfds,
                const struct peermap_client_limits *l)
{
    if (exempt(u->uid))
        return 1;
    if (l->conns != PEERMAP_UNLIMITED && u->conns + dconns > l->conns) {
        pm_fail(EAGAIN, "uid %u already holds its share of this server's "
                "connections (%llu; peermap_set_client_limits())",
                (unsigned)u->uid, l->conns);
        return 0;
    }
    if (l->fds != PEERMAP_UNLIMITED && u->fds + dfds > l->fds) {
        pm_fail(EAGAIN, "uid %u already holds its share of this server's "
                "descriptors (%llu; peermap_set_client_limits())",
                (unsigned)u->uid, l->fds);
        return 0;
    }
    unsigned long long oc, of;
    others_use(&oc, &of);
    if (oc + dconns > share_of(PM_MAX_SLOTS, l->others) ||
        of + dfds > share_of(nofile(), l->others)) {
        pm_fail(EAGAIN, "other users' clients together hold %llu%% of this "
                "server's connections or descriptors: the rest is kept for "
                "root and uid %u", l->others, (unsigned)geteuid());
        return 0;
    }
    return 1;
}

/* Count dconns connections, dfds descriptors and dcache bytes more for
 * uid, if they fit its share. */
static int take(uid_t uid, long long dconns, long long dfds, long long dcache)
{
    struct peermap_client_limits l;
    int ok = 0;
    pthread_mutex_lock(&lock);
    resolve(&l);
    struct use *u = user(uid);
    if (!u) {
        pm_fail(EAGAIN, "out of memory for uid %u's share", (unsigned)uid);
    } else if (!fits(u, dconns > 0 ? (unsigned long long)dconns : 0,
                     dfds > 0 ? (unsigned long long)dfds : 0, &l)) {
        tidy(u);
    } else if (dcache > 0 && !exempt(uid) && l.cache != PEERMAP_UNLIMITED &&
               u->cache + (unsigned long long)dcache > l.cache) {
        pm_fail(EAGAIN, "uid %u already holds its share of this server's reply "
                "memory and mapped message files (%llu bytes)", (unsigned)uid, l.cache);
        tidy(u);
    } else {
        u->conns += (unsigned long long)dconns;
        u->fds += (unsigned long long)dfds;
        u->cache += (unsigned long long)dcache;
        tidy(u);
        ok = 1;
    }
    pthread_mutex_unlock(&lock);
    return ok ? 0 : -1;
}

/* Give back: never refused, never below zero. */
static void put(uid_t uid, unsigned long long conns, unsigned long long fds,
                unsigned long long cache)
{
    pthread_mutex_lock(&lock);
    for (size_t i = 0; i < nusers; i++)
        if (users[i].uid == uid) {
            struct use *u = &users[i];
            u->conns -= conns < u->conns ? conns : u->conns;
            u->fds -= fds < u->fds ? fds : u->fds;
            u->cache -= cache < u->cache ? cache : u->cache;
            tidy(u);
            break;
        }
    pthread_mutex_unlock(&lock);
}

int pm_limits_admit(uid_t uid)
{
    return take(uid, 1, 1, 0);
}

void pm_limits_leave(uid_t uid)
{
    put(uid, 1, 1, 0);
}

int pm_limits_fd(uid_t uid)
{
    return take(uid, 0, 1, 0);
}

void pm_limits_fd_put(uid_t uid)
{
    put(uid, 0, 1, 0);
}

int pm_limits_cache(uid_t uid, uint64_t from, uint64_t to)
{
    if (to <= from)
        return 0;
    return take(uid, 0, from ? 0 : 1, (long long)(to - from));
}

void pm_limits_cache_put(uid_t uid, uint64_t bytes)
{
    if (bytes)
        put(uid, 0, 1, bytes);
}

int pm_limits_view(uid_t uid, uint64_t from, uint64_t to)
{
    if (to <= from)
        return 0;
    return take(uid, 0, 0, (long long)(to - from));
}

void pm_limits_view_put(uid_t uid, uint64_t bytes)
{
    if (bytes)
        put(uid, 0, 0, bytes);
}

PM_EXPORT int peermap_set_client_limits(const struct peermap_client_limits *l)
{
    pm_begin();
    struct peermap_client_limits n = { 0 };
    if (l) {
        if (l->others > 100 && l->others != PEERMAP_UNLIMITED)
            return pm_fail(EINVAL, "others is a percentage (1-100), not %llu", l->others);
        n = *l;
    }
    pthread_mutex_lock(&lock);
    set = n;
    pthread_mutex_unlock(&lock);
    return 0;
}

PM_EXPORT int peermap_client_limits(struct peermap_client_limits *l)
{
    pm_begin();
    if (!l)
        return pm_fail(EFAULT, "no struct peermap_client_limits to fill");
    pthread_mutex_lock(&lock);
    resolve(l);
    pthread_mutex_unlock(&lock);
    return 0;
}
