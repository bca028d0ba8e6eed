/*
 * Shares of the export's serving threads among the users it serves.
 *
 * The export serves every request with one of at most PMX_THREADS threads,
 * and a request to a manager that stalls holds its thread until the
 * deadline.  Another user who keeps more requests waiting on a stalled
 * manager (its own, or anyone's slow one) than there are threads would
 * hold them all, for good, by sending new ones as the old ones time out:
 * every other user's requests, root's too, would queue behind them in the
 * kernel, each past its deadline.  So, as with descriptors (share.c): a
 * user other than root and the export's own is served by at most a
 * quarter of the threads at once, all such users together by at most
 * three quarters (the rest is root's and the export's user's); a request
 * over that is answered EAGAIN at once, without a wait, so that what
 * queued behind it is reached.  One program's thread has one request in
 * the export at a time: only a user running more than a quarter of the
 * threads' worth of requests at once is refused.  A release is never refused:
 * it only lets a connection go, waits for nobody, and refusing it would
 * keep the connection.
 */
#include <errno.h>
#include <pthread.h>

#include "export/export.h"

#define PER_USER (PMX_THREADS / 4)
#define ALL_OTHERS (PMX_THREADS * 3 / 4)

struct busy {
    uid_t uid;
    int n;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
/* Users with a request being served: at most ALL_OTHERS of them. */
static struct busy users[ALL_OTHERS];
static int nusers, others;

static int exempt(uid_t uid)
{
    return uid == 0 || uid == pmx_cfg.euid;
}

int pmx_worker_take(uid_t uid)
{
    if (exempt(uid))
        return 0;
    pthread_mutex_lock(&lock);
    int i = 0;
    while (i < nusers && users[i].uid != uid)
        i++;
    int ok = others < ALL_OTHERS && (i == nusers || users[i].n < PER_USER);
    if (ok) {
        if (i == nusers)
            users[nusers++] = (struct busy){ uid, 0 };
        users[i].n++;
        others++;
    }
    pthread_mutex_unlock(&lock);
    if (!ok)
        errno = EAGAIN;
    return ok ? 0 : -1;
}

void pmx_worker_put(uid_t uid)
{
    if (exempt(uid))
        return;
    pthread_mutex_lock(&lock);
    for (int i = 0; i < nusers; i++)
        if (users[i].uid == uid) {
            others--;
            if (--users[i].n == 0)
                users[i] = users[--nusers];
            break;
        }
    pthread_mutex_unlock(&lock);
}
