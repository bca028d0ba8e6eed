/*
 * Directories no other user can rearrange.  Whoever may write a directory
 * may rename or remove what is in it, so a file's word is worth what the
 * least careful directory above it is worth: every one from "/" down must be
 * owned by root or by the one user whose word it is, and writable by others
 * only when sticky (then they may add names but not touch ours).  The walk
 * opens each component relative to the previous one without following
 * symbolic links, so what was checked is what is used.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "trust/policy.h"

static void note_bad(struct pm_safe_dir *s, const char *path, size_t len, const struct stat *st)
{
    if (len >= sizeof s->bad)
        len = sizeof s->bad - 1;
    memcpy(s->bad, path, len);
    s->bad[len] = 0;
    if (!len)
        strcpy(s->bad, "/");
    s->bad_uid = st->st_uid;
    s->bad_mode = st->st_mode;
}

/* One directory of the walk; path[0..len) names it for the reason. */
static int check_dir(int fd, struct pm_safe_dir *s, const char *path, size_t len)
{
    struct stat st;
    if (fstat(fd, &st) < 0)
        return -1;
    if (!S_ISDIR(st.st_mode)) {
        note_bad(s, path, len, &st);
        errno = ENOTDIR;
        return -1;
    }
    if (st.st_uid != 0) {
        if (s->owner != 0 && s->owner != st.st_uid) {
            note_bad(s, path, len, &st);
            errno = EPERM;
            return -1;
        }
        s->owner = st.st_uid;
    }
    if ((st.st_mode & (S_IWGRP | S_IWOTH)) && !(st.st_mode & S_ISVTX)) {
        note_bad(s, path, len, &st);
        errno = EPERM;
        return -1;
    }
    return 0;
}

int pm_safe_dir_open(const char *path, int flags, struct pm_safe_dir *s)
{
    char real[PATH_MAX];

    s->fd = -1;
    s->owner = 0;
    s->bad[0] = 0;
    s->bad_uid = 0;
    s->bad_mode = 0;
    if (!path || path[0] != '/') {
        errno = EINVAL;
        return -1;
    }
    if (!realpath(path, real))
        return -1;
    int cur = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (cur < 0)
        return -1;
    if (check_dir(cur, s, real, 0) < 0)
        goto fail;
    for (const char *p = real + 1; *p;) {
        size_t n = strcspn(p, "/");
        char comp[NAME_MAX + 1];
        if (n > NAME_MAX) {
            errno = ENAMETOOLONG;
            goto fail;
        }
        memcpy(comp, p, n);
        comp[n] = 0;
        int next = openat(cur, comp, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (next < 0) {
            /* A symbolic link put there since realpath() looked. */
            if (errno == ENOTDIR) {
                struct stat st;
                if (fstatat(cur, comp, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode))
                    errno = ELOOP;
            }
            goto fail;
        }
        close(cur);
        cur = next;
        p += n;
        if (check_dir(cur, s, real, (size_t)(p - real)) < 0)
            goto fail;
        while (*p == '/')
            p++;
    }
    if (!(flags & PM_SAFE_PATH)) {
        /* The very directory checked, now readable. */
        int rd = openat(cur, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (rd < 0)
            goto fail;
        close(cur);
        cur = rd;
    }
    s->fd = cur;
    return 0;
fail:;
    int e = errno;
    close(cur);
    errno = e;
    return -1;
}

int pm_safe_root_file_open(const char *path, struct pm_safe_dir *s)
{
    char real[PATH_MAX];
    struct stat st;

    s->fd = -1;
    s->owner = 0;
    s->bad[0] = 0;
    if (!path || path[0] != '/') {
        errno = EINVAL;
        return -1;
    }
    if (!realpath(path, real))
        return -1;
    char *slash = strrchr(real, '/');
    char base[NAME_MAX + 1];
    if (!slash[1] || strlen(slash + 1) > NAME_MAX) {
        errno = EISDIR;        /* realpath("/") */
        return -1;
    }
    strcpy(base, slash + 1);
    if (slash == real)
        slash[1] = 0;          /* a file in "/" */
    else
        *slash = 0;
    if (pm_safe_dir_open(real, PM_SAFE_PATH, s) < 0)
        return -1;
    if (s->owner != 0) {
        /* Some directory above belongs to someone else: not root's word. */
        struct stat dst;
        if (fstat(s->fd, &dst) == 0)
            note_bad(s, real, strlen(real), &dst);
        close(s->fd);
        s->fd = -1;
        errno = EPERM;
        return -1;
    }
    int fd = openat(s->fd, base, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    int e = errno;
    close(s->fd);
    s->fd = -1;
    if (fd < 0) {
        errno = e == ELOOP ? EPERM : e;
        return -1;
    }
    if (fstat(fd, &st) < 0)
        goto fail;
    if (!S_ISREG(st.st_mode)) {
        errno = S_ISDIR(st.st_mode) ? EISDIR : EINVAL;
        goto fail;
    }
    if (st.st_uid != 0 || (st.st_mode & (S_IWGRP | S_IWOTH))) {
        const char *dir = strcmp(real, "/") ? real : "";
        if (strlen(dir) + 1 + strlen(base) < sizeof s->bad) {
            strcpy(s->bad, dir);
            strcat(s->bad, "/");
            strcat(s->bad, base);
        } else {
            strcpy(s->bad, base);
        }
        s->bad_uid = st.st_uid;
        s->bad_mode = st.st_mode;
        errno = EPERM;
        goto fail;
    }
    return fd;
fail:
    e = errno;
    close(fd);
    errno = e;
    return -1;
}

int pm_path_within(const char *prefix, size_t plen, const char *path, size_t len)
{
    if (plen == 1 && prefix[0] == '/')
        return 1;
    return len >= plen && memcmp(prefix, path, plen) == 0 && (len == plen || path[plen] == '/');
}
