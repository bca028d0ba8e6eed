/*
 * The attribute structure: iofunc_attr_init() and the attribute lock.
 *
 * The lock.  iofunc_attr_t has QNX's layout, which holds no mutex, only
 * lock_tid (the holder's thread id) and lock_count (its recursion depth).
 * Those two fields *are* the lock here; they are read and written only under
 * one of 64 internal mutexes, chosen by hashing the attribute's address, and
 * a thread that finds the attribute held by another waits on that stripe's
 * condition variable.  So no side table has to track attributes (nothing to
 * leak when a manager frees one), unrelated attributes rarely share a stripe,
 * and iofunc_attr_init() is the whole initialisation, as on QNX.
 * Recursive per thread: the holder may lock again, and must unlock as many
 * times.  Unlocking an attribute this thread does not hold is EPERM.
 *
 * iofunc_attr_init() zeroes the QNX part of the structure, then sets the
 * mount (dattr's: an entry lives on its directory's file system; without
 * dattr, none - set attr->mount afterwards, as QNX's examples do), the mode,
 * one link, a unique inode number, all three times to now and the owner:
 * the creator in info (its effective ids), else the parent directory's
 * owner, else this process's effective ids.  A parent directory with
 * S_ISGID gives its group to the new entry (BSD/POSIX directory rule).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "iofunc/iofunc_internal.h"
#include "msg/msg.h"

#define STRIPES 64

static struct stripe {
    pthread_mutex_t lock;
    pthread_cond_t cond;
} stripes[STRIPES];

static pthread_once_t stripes_once = PTHREAD_ONCE_INIT;

static void stripes_init(void)
{
    for (int i = 0; i < STRIPES; i++) {
        pthread_mutex_init(&stripes[i].lock, NULL);
        pthread_cond_init(&stripes[i].cond, NULL);
    }
}

static struct stripe *stripe_of(const iofunc_attr_t *attr)
{
    pthread_once(&stripes_once, stripes_init);
    uintptr_t h = (uintptr_t)attr;
    h ^= h >> 17;
    h *= (uintptr_t)0x9E3779B97F4A7C15ull;
    h ^= h >> 29;
    return &stripes[h % STRIPES];
}

static int32_t my_tid(void)
{
    return pm_self_tid(); /* cached: this runs around every I/O message */
}

/* Take the lock; `wait` says whether to wait for another holder. */
static int attr_lock(iofunc_attr_t *attr, int wait)
{
    if (!attr)
        return IOF_FAIL(EINVAL, "iofunc_attr_lock: no attribute structure");
    struct stripe *s = stripe_of(attr);
    int32_t me = my_tid();
    int err = EOK;
    pthread_mutex_lock(&s->lock);
    for (;;) {
        if (attr->lock_count == 0 || attr->lock_tid == me)
            break;
        if (!wait) {
            err = EBUSY;
            break;
        }
        pthread_cond_wait(&s->cond, &s->lock);
    }
    if (err == EOK) {
        if (attr->lock_count == UINT16_MAX) {
            err = EAGAIN;
        } else {
            attr->lock_tid = me;
            attr->lock_count++;
        }
    }
    pthread_mutex_unlock(&s->lock);
    if (err == EBUSY)
        return IOF_FAIL(err, "the attribute is locked by thread %d", (int)attr->lock_tid);
    if (err == EAGAIN)
        return IOF_FAIL(err, "the attribute lock is already held %u times by this thread",
                        (unsigned)UINT16_MAX);
    return EOK;
}

PM_EXPORT int iofunc_attr_lock(iofunc_attr_t *attr)
{
    return attr_lock(attr, 1);
}

PM_EXPORT int iofunc_attr_trylock(iofunc_attr_t *attr)
{
    return attr_lock(attr, 0);
}

PM_EXPORT int iofunc_attr_unlock(iofunc_attr_t *attr)
{
    if (!attr)
        return IOF_FAIL(EINVAL, "iofunc_attr_unlock: no attribute structure");
    struct stripe *s = stripe_of(attr);
    int32_t me = my_tid();
    int err = EOK;
    pthread_mutex_lock(&s->lock);
    if (attr->lock_count == 0 || attr->lock_tid != me) {
        err = EPERM;
    } else if (--attr->lock_count == 0) {
        attr->lock_tid = 0;
        pthread_cond_broadcast(&s->cond);
    }
    pthread_mutex_unlock(&s->lock);
    if (err)
        return IOF_FAIL(err, "iofunc_attr_unlock: this thread does not hold the attribute lock");
    return EOK;
}

PM_EXPORT int iofunc_lock_ocb_default(resmgr_context_t *ctp, void *reserved, IOFUNC_OCB_T *ocb)
{
    (void)ctp;
    (void)reserved;
    if (!ocb || !((iofunc_ocb_t *)ocb)->attr)
        return IOF_FAIL(EINVAL, "iofunc_lock_ocb_default: no OCB or no attribute");
    return iofunc_attr_lock((iofunc_attr_t *)((iofunc_ocb_t *)ocb)->attr);
}

PM_EXPORT int iofunc_unlock_ocb_default(resmgr_context_t *ctp, void *reserved, IOFUNC_OCB_T *ocb)
{
    (void)ctp;
    (void)reserved;
    if (!ocb || !((iofunc_ocb_t *)ocb)->attr)
        return IOF_FAIL(EINVAL, "iofunc_unlock_ocb_default: no OCB or no attribute");
    return iofunc_attr_unlock((iofunc_attr_t *)((iofunc_ocb_t *)ocb)->attr);
}

static atomic_uint_fast64_t next_inode = 1;

PM_EXPORT void iofunc_attr_init(iofunc_attr_t *attr, mode_t mode, iofunc_attr_t *dattr,
                                struct _client_info *info)
{
    if (!attr)
        return;
    memset(attr, 0, sizeof *attr);
    attr->mode = mode;
    attr->nlink = 1;
    attr->inode = (ino_t)atomic_fetch_add(&next_inode, 1);
    if (info) {
        attr->uid = info->cred.euid;
        attr->gid = info->cred.egid;
    } else if (dattr) {
        attr->uid = dattr->uid;
        attr->gid = dattr->gid;
    } else {
        attr->uid = geteuid();
        attr->gid = getegid();
    }
    if (dattr && (dattr->mode & S_ISGID))
        attr->gid = dattr->gid;
    if (dattr)
        attr->mount = dattr->mount;
    time_t now = time(NULL);
    attr->atime = attr->mtime = attr->ctime = now;
}

int iof_rdonly(const iofunc_attr_t *attr)
{
    return attr && attr->mount && (attr->mount->flags & ST_RDONLY);
}
