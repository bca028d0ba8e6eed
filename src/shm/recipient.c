/*
 * Could the recipient of a read-only handle turn it into write access?
 *
 * The descriptor it gets is opened read-only, so mmap(PROT_WRITE,
 * MAP_SHARED) and mprotect() fail on it.  But whoever holds a descriptor
 * can open /proc/self/fd/N again, and whoever holds a mapping and
 * CAP_SYS_ADMIN (or CAP_CHECKPOINT_RESTORE) can open
 * /proc/self/map_files/..., each time with any access the inode's
 * permissions allow it: memfds are created 0777.  Only a seal stops that
 * for everyone, root included.
 */
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "common/internal.h"
#include "shm/shm.h"

#ifndef F_SEAL_FUTURE_WRITE
#define F_SEAL_FUTURE_WRITE 0x0010
#endif

#define CAP_DAC_OVERRIDE_BIT 1
#define CAP_FOWNER_BIT 3

struct creds {
    uid_t fsuid;
    gid_t fsgid;
    gid_t groups[64];
    int ngroups;
    unsigned long long capeff;
};

static int read_creds(pid_t pid, struct creds *c)
{
    char path[40], line[1024];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "re");
    if (!f)
        return -1;
    int got = 0;
    memset(c, 0, sizeof *c);
    while (fgets(line, sizeof line, f)) {
        unsigned a, b, d, e;
        if (sscanf(line, "Uid: %u %u %u %u", &a, &b, &d, &e) == 4) {
            c->fsuid = e;
            got |= 1;
        } else if (sscanf(line, "Gid: %u %u %u %u", &a, &b, &d, &e) == 4) {
            c->fsgid = e;
            got |= 2;
        } else if (strncmp(line, "Groups:", 7) == 0) {
            char *p = line + 7;
            int k;
            unsigned g;
            while (c->ngroups < 64 && sscanf(p, "%u%n", &g, &k) == 1) {
                c->groups[c->ngroups++] = g;
                p += k;
            }
        } else if (sscanf(line, "CapEff: %llx", &c->capeff) == 1) {
            got |= 4;
        }
    }
    fclose(f);
    return got == 7 ? 0 : -1;
}

/* 1: it, or a process it passes the descriptor to, could open the object
 * for writing; 0: it could not; -1: unknown
 * (treated as "could" by the caller).  Whether the recipient asked for a
 * descriptor or a mapping does not matter: the descriptor that carries the
 * object passes through its process either way, and a recipient that
 * speaks our protocol itself can keep it. */
static int may_write(pid_t pid, const struct stat *st)
{
    /* The descriptor does not stay with the recipient: it can send it on
     * (SCM_RIGHTS) to any process, which reopens it with that process's
     * own rights.  Write access for a group or for others, or an owner
     * other than root and our own user (who can reach our memory anyway),
     * is therefore write access for a process the recipient colludes
     * with, whatever the recipient's own credentials. */
    if ((st->st_mode & (S_IWGRP | S_IWOTH)) ||
        (st->st_uid != 0 && st->st_uid != geteuid()))
        return 1;
    struct creds c;
    if (read_creds(pid, &c) < 0)
        return -1;
    if ((c.capeff >> CAP_DAC_OVERRIDE_BIT & 1) || (c.capeff >> CAP_FOWNER_BIT & 1))
        return 1;
    if (c.fsuid == st->st_uid)
        return (st->st_mode & S_IWUSR) != 0;
    int in_group = c.fsgid == st->st_gid;
    for (int i = 0; i < c.ngroups && !in_group; i++)
        in_group = c.groups[i] == st->st_gid;
    if (in_group)
        return (st->st_mode & S_IWGRP) != 0;
    return (st->st_mode & S_IWOTH) != 0;
}

/* Before a read-only grant is handed over: if the recipient could open the
 * object for writing, seal it against future writes (F_SEAL_FUTURE_WRITE).
 * Mappings that are writable already - the creator's - keep working;
 * write() and new writable mappings fail from then on, for everyone.  Done
 * at redemption, not creation, and only where needed, so that an object
 * shared read-only with another user, or never redeemed, keeps its full
 * use.  0, or -1 with EACCES when the object needs the seal and cannot
 * take it. */
int pm_shm_keep_read_only(int objfd, pid_t pid)
{
    struct stat st;
    if (fstat(objfd, &st) < 0)
        return -1;
    if (may_write(pid, &st) == 0)
        return 0;
    if (!pm_shm_is_memfd(objfd))
        return 0; /* a named object: its name and mode are its guard (shm_create_handle(3)) */
    int seals = fcntl(objfd, F_GET_SEALS);
    if (seals >= 0 && (seals & (F_SEAL_WRITE | F_SEAL_FUTURE_WRITE)))
        return 0;
    int wfd = pm_shm_reopen(objfd, O_RDWR); /* adding seals needs write access */
    int r = wfd < 0 ? -1 : fcntl(wfd, F_ADD_SEALS, F_SEAL_FUTURE_WRITE);
    if (wfd >= 0)
        close(wfd);
    if (r < 0) {
        errno = EACCES;
        return -1;
    }
    return 0;
}
