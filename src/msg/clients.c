/*
 * The processes that are, or recently were, clients of this process's
 * channels: pid -> process key of the last client that held that pid.
 *
 * A server learns a client's pid from the kernel (MsgInfo(),
 * ConnectClientInfo()) and may hand it to mmap_peer(), which reaches a
 * process by pid.  If the client has exited meanwhile and its pid went to
 * another process, that call must fail (ESRCH), not change the newcomer's
 * memory.  pm_msg_client_gone() tells: a pid that belongs to no record is
 * not ours to judge; one whose record's key is not the key of the process
 * holding the pid now is a departed client's.
 *
 * Bounds: an entry per connected client process (bounded by connections)
 * plus at most PM_DEPARTED_MAX entries of processes whose last connection
 * has closed, oldest forgotten first.  A forgotten pid is not forgotten
 * entirely: it is marked in a bitmap (one bit per possible pid, allocated
 * the first time it is needed: pid_max / 8 bytes, 512 KiB at most), and a
 * marked pid counts as a departed client whose key is lost, so mmap_peer()
 * on it fails safe (ESRCH) until a process with that pid connects again.
 * The table cannot be made to forget a departed client, however many
 * connections another user opens and closes.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/internal.h"
#include "common/sigsafe.h"
#include "msg/clients.h"
#include "msg/msg.h"
#include "trust/trust.h"

#define PM_DEPARTED_MAX 65536
#define NBUCKETS 4096

struct entry {
    pid_t pid;
    uint64_t key;
    unsigned live;                   /* open connections from this pid */
    struct entry *next;              /* in its bucket */
    struct entry *older, *newer;     /* departed only: age order */
};

/* Readers (pm_msg_client_gone(), on mmap_peer()'s path, which a signal
 * handler may take) never wait for each other; the writers are the
 * message-passing code as connections come and go. */
static struct pm_rwlock lock = PM_RWLOCK_INIT;
static struct entry *buckets[NBUCKETS];
static struct entry *oldest, *newest;  /* departed entries */
static unsigned ndeparted;
static unsigned char *forgotten;       /* bitmap by pid */
static size_t forgotten_bits;

static struct entry **find(pid_t pid)
{
    struct entry **e = &buckets[(unsigned)pid % NBUCKETS];
    while (*e && (*e)->pid != pid)
        e = &(*e)->next;
    return e;
}

static void unlink_departed(struct entry *e)
{
    if (e->older)
        e->older->newer = e->newer;
    else
        oldest = e->newer;
    if (e->newer)
        e->newer->older = e->older;
    else
        newest = e->older;
    e->older = e->newer = NULL;
    ndeparted--;
}

static size_t pid_max(void)
{
    long v = 0;
    FILE *f = fopen("/proc/sys/kernel/pid_max", "re");
    if (f) {
        if (fscanf(f, "%ld", &v) != 1)
            v = 0;
        fclose(f);
    }
    return v > 0 && v <= (1 << 22) ? (size_t)v + 1 : (size_t)(1 << 22) + 1;
}

/* Remember only that pid was a client's (lock held). */
static void mark_forgotten(pid_t pid)
{
    if (!forgotten) {
        forgotten_bits = pid_max();
        forgotten = calloc((forgotten_bits + 7) / 8, 1);
    }
    if (forgotten && (size_t)pid < forgotten_bits)
        forgotten[pid / 8] |= (unsigned char)(1u << (pid % 8));
}

static void forget_oldest(void)
{
    struct entry *e = oldest;
    unlink_departed(e);
    mark_forgotten(e->pid);
    *find(e->pid) = e->next;
    free(e);
}

void pm_clients_add(pid_t pid, uint64_t key)
{
    pm_rw_write_lock(&lock);
    struct entry **pe = find(pid), *e = *pe;
    if (!e) {
        e = calloc(1, sizeof *e);
        if (!e) {
            /* Without a record the pid would not count as a client's: mark
             * it instead, which fails safe. */
            mark_forgotten(pid);
            pm_rw_write_unlock(&lock);
            return;
        }
        e->pid = pid;
        *pe = e;
    } else if (!e->live) {
        unlink_departed(e);
    }
    /* The newest client with this pid is the one that can still be there. */
    e->key = key;
    e->live++;
    pm_rw_write_unlock(&lock);
}

void pm_clients_remove(pid_t pid)
{
    pm_rw_write_lock(&lock);
    struct entry *e = *find(pid);
    if (e && e->live && --e->live == 0) {
        e->older = newest;
        e->newer = NULL;
        if (newest)
            newest->newer = e;
        else
            oldest = e;
        newest = e;
        if (++ndeparted > PM_DEPARTED_MAX)
            forget_oldest();
    }
    pm_rw_write_unlock(&lock);
}

int pm_msg_client_gone(pid_t pid)
{
    if (pid <= 0)
        return 0;
    if (pm_rw_read_lock(&lock, pm_now_ns() + pm_timeout_ns()) < 0)
        return -1;
    struct entry *e = *find(pid);
    uint64_t key = e ? e->key : 0;
    int known = e != NULL ||
                (forgotten && (size_t)pid < forgotten_bits &&
                 (forgotten[pid / 8] & (1u << (pid % 8))));
    pm_rw_read_unlock(&lock);
    if (!known)
        return 0;
    uint64_t now;
    /* No key (lost, or the client had exited before we accepted it): no
     * process holding pid now can be shown to be that client. */
    if (!key || pm_proc_key(pid, &now) < 0)
        return 1;
    return now != key;
}
