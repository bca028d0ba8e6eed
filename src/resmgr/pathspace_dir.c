/*
 * Where the path space lives (pathspace.h says why), and opening it safely.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/internal.h"
#include "resmgr/pathspace_internal.h"

#define RUN_PARENT "/run/peermap"
#define RUN_DIR    RUN_PARENT "/pathspace"
#define TMP_DIR    "/tmp/peermap-pathspace"

/* *dflt tells a built-in location (whose last component must not be a
 * symbolic link: /tmp is everyone's) from the user's choice. */
static int choose(char *buf, size_t size, int *dflt)
{
    const char *env = secure_getenv("PEERMAP_PATHSPACE");
    const char *dir;
    struct stat st;

    *dflt = 1;
    if (env && *env) {
        /* Relative would mean a different place for each working directory. */
        if (env[0] != '/')
            return pm_fail(EINVAL, "PEERMAP_PATHSPACE=\"%s\" is not an absolute path", env);
        dir = env;
        *dflt = 0;
    } else if ((stat(RUN_DIR, &st) == 0 && S_ISDIR(st.st_mode)) ||
               faccessat(AT_FDCWD, "/run", W_OK, AT_EACCESS) == 0) {
        dir = RUN_DIR;
    } else {
        dir = TMP_DIR;
    }
    if (strlen(dir) >= size)
        return pm_fail(ENAMETOOLONG, "path space directory name too long");
    strcpy(buf, dir);
    return 0;
}

int pm_pathspace_dir(char *buf, size_t size)
{
    int dflt;
    return choose(buf, size, &dflt);
}

/* mkdir with the sticky, world-writable mode, which the umask would cut. */
static int make_dir(const char *path)
{
    if (strcmp(path, RUN_DIR) == 0 && mkdir(RUN_PARENT, 0755) < 0 && errno != EEXIST)
        return pm_fail(errno, "cannot create %s: %s", RUN_PARENT, strerror(errno));
    if (mkdir(path, 01777) < 0) {
        if (errno == EEXIST)
            return 0;
        return pm_fail(errno, "cannot create the path space %s: %s", path, strerror(errno));
    }
    if (chmod(path, 01777) < 0)
        return pm_fail(errno, "cannot chmod the path space %s: %s", path, strerror(errno));
    return 0;
}

int pm_ps_dir_open(int create, char path_out[PATH_MAX])
{
    int dflt;
    struct stat st;

    if (choose(path_out, PATH_MAX, &dflt) < 0)
        return -1;
    int oflags = O_RDONLY | O_DIRECTORY | O_CLOEXEC | (dflt ? O_NOFOLLOW : 0);
    int fd = open(path_out, oflags);
    if (fd < 0 && errno == ENOENT && create) {
        if (make_dir(path_out) < 0)
            return -1;
        fd = open(path_out, oflags);
    }
    if (fd < 0) {
        if (errno == ENOENT && !create)
            return -1;      /* an answer ("nothing attached"), not a failure */
        if (errno == ELOOP || errno == ENOTDIR)
            return pm_fail(EPERM, "path space %s is not a directory (or is a symbolic link)",
                           path_out);
        return pm_fail(errno, "cannot open the path space %s: %s", path_out, strerror(errno));
    }
    if (fstat(fd, &st) < 0) {
        int err = errno;
        close(fd);
        return pm_fail(err, "cannot stat the path space %s", path_out);
    }
    /* Without the sticky bit anyone who may create entries may also remove
     * or replace everyone else's. */
    if ((st.st_mode & (S_IWGRP | S_IWOTH)) && !(st.st_mode & S_ISVTX)) {
        close(fd);
        return pm_fail(EPERM, "path space %s is writable by others but not sticky (mode %#o): "
                       "refused, anyone could remove entries",
                       path_out, (unsigned)(st.st_mode & 07777));
    }
    return fd;
}
