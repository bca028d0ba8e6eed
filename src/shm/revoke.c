/*
 * shm_revoke(): take a revocable object away from a process that mapped it.
 *
 * The process's mappings of the object are found in /proc/PID/maps by the
 * object's identity (device and inode), and each is replaced, in place, by
 * an inaccessible anonymous mapping (PROT_NONE, MAP_FIXED) through
 * mmap_peer(): in-band when the process is reply-blocked on us, else its
 * agent or ptrace.  A touch then raises SIGSEGV, as on QNX, and the range
 * stays reserved, so nothing else can slip in under the old address and be
 * read or written by mistake.  The object itself is untouched: the creator
 * and other processes keep their mappings.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "common/internal.h"
#include "shm/shm.h"
#include "sys/mman_peer.h"

#define MAX_RANGES 64

struct range { uintptr_t start, end; };

/* The ranges of pid's address space that map (dev, ino): their count, or
 * -1 with errno (ESRCH gone, EACCES not ours to read). */
static int find_ranges(pid_t pid, dev_t dev, ino_t ino, struct range *r, int max)
{
    char path[40], line[512];
    snprintf(path, sizeof path, "/proc/%d/maps", (int)pid);
    FILE *f = fopen(path, "re");
    if (!f)
        return errno == ENOENT ? (errno = ESRCH, -1) : -1;
    int n = 0;
    while (fgets(line, sizeof line, f) && n < max) {
        uintptr_t a, b;
        unsigned maj, min;
        unsigned long long inode;
        if (sscanf(line, "%" SCNxPTR "-%" SCNxPTR " %*s %*s %x:%x %llu",
                   &a, &b, &maj, &min, &inode) != 5)
            continue;
        if (inode == (unsigned long long)ino && maj == major(dev) && min == minor(dev))
            r[n++] = (struct range){ a, b };
    }
    fclose(f);
    return n;
}

static int revoke_in(pid_t pid, dev_t dev, ino_t ino)
{
    struct range r[MAX_RANGES];
    /* Again until none is left: the process may map the object while we
     * work (from a descriptor it kept), and a full table means more. */
    for (int round = 0; round < 16; round++) {
        int n = find_ranges(pid, dev, ino, r, MAX_RANGES);
        if (n < 0)
            return pm_fail(errno, "shm_revoke: cannot read process %d's mappings", (int)pid);
        if (n == 0)
            return 0;
        for (int i = 0; i < n; i++) {
            size_t len = r[i].end - r[i].start;
            void *p;
            if (pid == getpid())
                p = mmap((void *)r[i].start, len, PROT_NONE,
                         MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE, -1, 0);
            else
                p = mmap_peer(pid, (void *)r[i].start, len, PROT_NONE,
                              MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE,
                              NOFD, 0);
            if (p == MAP_FAILED)
                return pm_fail(0, "shm_revoke: cannot withdraw the mapping at %#lx "
                               "from process %d", (unsigned long)r[i].start, (int)pid);
        }
    }
    return pm_fail(EAGAIN, "shm_revoke: process %d keeps mapping the object again", (int)pid);
}

/* pid -1: every process whose mappings we may read, this one included.
 * Processes that map it and that we cannot reach make the call fail. */
static int revoke_everywhere(dev_t dev, ino_t ino)
{
    int rc = revoke_in(getpid(), dev, ino);
    DIR *d = opendir("/proc");
    if (!d)
        return pm_fail(ENOSYS, "shm_revoke: /proc is not mounted");
    struct dirent *e;
    int failed = 0, err = 0;
    while ((e = readdir(d)) != NULL) {
        if (!isdigit((unsigned char)e->d_name[0]))
            continue;
        pid_t p = (pid_t)atoi(e->d_name);
        if (p == getpid())
            continue;
        struct range r[1];
        int n = find_ranges(p, dev, ino, r, 1);
        if (n <= 0)
            continue; /* gone, maps nothing of it, or hidden from us */
        if (revoke_in(p, dev, ino) < 0 && errno != ESRCH) {
            failed = 1;
            err = errno;
        }
    }
    closedir(d);
    if (failed)
        return pm_fail(err, "shm_revoke: some processes could not be reached");
    return rc;
}

PM_EXPORT int shm_revoke(int fd, pid_t pid)
{
    pm_begin();
    struct stat st;
    int r = pm_shm_is_object(fd, &st);
    if (r < 0)
        return pm_fail(EBADF, "shm_revoke: fd %d is not open", fd);
    if (r == 0)
        return pm_fail(EINVAL, "shm_revoke: fd %d is not a shared memory object", fd);
    if (pid == 0 || pid < -1)
        return pm_fail(EINVAL, "shm_revoke: pid %d", (int)pid);
    struct pm_shm_object obj;
    if (pm_shm_object_get(st.st_dev, st.st_ino, &obj) < 0 || !(obj.flags & SHMCTL_REVOCABLE))
        return pm_fail(EINVAL, "shm_revoke: the object was not made revocable "
                       "(shm_ctl(SHMCTL_REVOCABLE)) by this process");
    if (obj.creator != getpid())
        return pm_fail(EPERM, "shm_revoke: only the object's creator may revoke it "
                       "(a child made by fork() is not)");
    if (pid > 0 && kill(pid, 0) < 0 && errno == ESRCH)
        return pm_fail(ESRCH, "shm_revoke: no process %d", (int)pid);
    /* Unused handles first: nothing may be redeemed after we return. */
    pm_shm_forget_object(st.st_dev, st.st_ino, pid);
    return pid == -1 ? revoke_everywhere(st.st_dev, st.st_ino)
                     : revoke_in(pid, st.st_dev, st.st_ino);
}
