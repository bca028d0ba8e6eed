/*
 * The shm_ctl() attributes of the objects this process created or marked,
 * keyed by the object's identity (device, inode).  Linux keeps no such
 * attributes on a memfd, so they live here, in the process that set them:
 * that is also the only process shm_revoke() accepts as the creator.
 */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "shm/shm.h"

#define MAX_OBJECTS 1024

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct pm_shm_object objects[MAX_OBJECTS];
static int nobjects;

static int find(dev_t dev, ino_t ino)
{
    for (int i = 0; i < nobjects; i++)
        if (objects[i].dev == dev && objects[i].ino == ino)
            return i;
    return -1;
}

int pm_shm_object_get(dev_t dev, ino_t ino, struct pm_shm_object *out)
{
    pthread_mutex_lock(&lock);
    int i = find(dev, ino);
    if (i >= 0)
        *out = objects[i];
    pthread_mutex_unlock(&lock);
    return i >= 0 ? 0 : -1;
}

/* Is (dev, ino) still open in this process?  The table keeps only those:
 * an object we no longer hold can be neither revoked (shm_revoke() needs a
 * descriptor) nor reconfigured. */
static int held(dev_t dev, ino_t ino)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    int found = d == NULL; /* without /proc, keep everything */
    while (d && !found && (e = readdir(d)) != NULL) {
        struct stat st;
        if (e->d_name[0] != '.' && fstatat(dirfd(d), e->d_name, &st, 0) == 0 &&
            st.st_dev == dev && st.st_ino == ino)
            found = 1;
    }
    if (d)
        closedir(d);
    return found;
}

static void prune(void)
{
    int k = 0;
    for (int i = 0; i < nobjects; i++)
        if (held(objects[i].dev, objects[i].ino))
            objects[k++] = objects[i];
    nobjects = k;
}

int pm_shm_object_mark(dev_t dev, ino_t ino, int flags, int created_here)
{
    pthread_mutex_lock(&lock);
    int i = find(dev, ino);
    if (i >= 0 && objects[i].creator != getpid()) {
        /* Inherited across fork(): the child is not the creator. */
        objects[i].created_here = 0;
        objects[i].creator = getpid();
    }
    if (i < 0) {
        if (nobjects == MAX_OBJECTS)
            prune();
        if (nobjects == MAX_OBJECTS) {
            pthread_mutex_unlock(&lock);
            errno = ENOMEM;
            return -1;
        }
        i = nobjects++;
        objects[i] = (struct pm_shm_object){ .dev = dev, .ino = ino,
                                             .created_here = created_here,
                                             .creator = getpid() };
    }
    objects[i].flags |= flags;
    pthread_mutex_unlock(&lock);
    return 0;
}
