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
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "shm/shm.h"

#define CAP_DAC_OVERRIDE_BIT 1
#define CAP_FOWNER_BIT 3
#define CAP_SYS_ADMIN_BIT 21
#define CAP_CHECKPOINT_RESTORE_BIT 40

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

/* 1: it could open the object for writing; 0: it could not; -1: unknown
 * (treated as "could" by the caller). */
int pm_shm_recipient_may_write(pid_t pid, const struct stat *st, int has_fd)
{
    struct creds c;
    if (read_creds(pid, &c) < 0)
        return -1;
    int map_files = (c.capeff >> CAP_SYS_ADMIN_BIT & 1) ||
                    (c.capeff >> CAP_CHECKPOINT_RESTORE_BIT & 1);
    if (!has_fd && !map_files)
        return 0; /* no descriptor, and no way to get one */
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
