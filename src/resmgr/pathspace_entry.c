/*
 * One entry, checked before anything in it is believed (pathspace.h,
 * "Trust").  The directory it was found in is its owner's own (opened by
 * pathspace_dir.c), so nobody else can have put it there; what is left to
 * prove is that it is the owner's plain file that nobody else could have
 * written, that its manager is alive and still the owner's, and that the
 * record says what its name and place say.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "resmgr/pathspace_internal.h"

/* The owner's regular file, writable by the owner only.  The link count is
 * deliberately not checked: a hard link made elsewhere (possible for anyone
 * when fs.protected_hardlinks is 0) changes neither the file nor where it
 * is, and refusing such files would let anyone knock out anyone's entry. */
static int file_ok(const struct stat *st, uid_t uid)
{
    return S_ISREG(st->st_mode) && st->st_uid == uid &&
           !(st->st_mode & (S_IWGRP | S_IWOTH));
}

static int may_remove(uid_t uid)
{
    uid_t me = geteuid();
    return me == 0 || me == uid;
}

void pm_ps_entry_sweep(int ufd, int bfd, const char *bucket, const char *name, uid_t uid)
{
    struct pm_ps_name n;
    struct stat st;
    const char *entry = name;
    if (!may_remove(uid))
        return;
    if (strncmp(name, PM_PS_TMP_PREFIX, strlen(PM_PS_TMP_PREFIX)) == 0)
        entry = name + strlen(PM_PS_TMP_PREFIX);
    if (pm_ps_name_parse(entry, &n) < 0 || fstatat(bfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
        st.st_uid != uid || pm_ps_manager_state(n.pid, n.start, uid) != PM_PS_GONE)
        return;
    if (unlinkat(bfd, name, 0) == 0 && ufd >= 0 && bucket)
        unlinkat(ufd, bucket, AT_REMOVEDIR);   /* fails while anything is left */
}

int pm_ps_entry_claims(int bfd, const char *name, uid_t uid)
{
    struct pm_ps_name n;
    struct stat st;
    return pm_ps_name_parse(name, &n) == 0 &&
           fstatat(bfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && file_ok(&st, uid) &&
           pm_ps_manager_state(n.pid, n.start, uid) == PM_PS_LIVE;
}

enum pm_ps_load pm_ps_entry_load(int bfd, const char *name, uid_t uid, uint64_t hash,
                                 struct pm_ps_record *r, struct stat *st, int want_key)
{
    char buf[PM_PS_RECORD_MAX + 1];
    struct pm_ps_name n;
    struct stat fst;
    size_t len = 0;

    uint64_t key = 0;
    if (pm_ps_name_parse(name, &n) < 0 || fstatat(bfd, name, st, AT_SYMLINK_NOFOLLOW) < 0 ||
        !file_ok(st, uid))
        return PM_PS_SKIP;
    switch (pm_ps_manager_state_key(n.pid, n.start, uid, want_key ? &key : NULL)) {
    case PM_PS_GONE:
        pm_ps_entry_sweep(-1, bfd, NULL, name, uid);
        return PM_PS_SKIP;
    case PM_PS_FOREIGN:
        return PM_PS_SKIP;
    case PM_PS_LIVE:
        break;
    }
    /* The kernel's own permission check is the entry's access rule. */
    int fd = openat(bfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (fd < 0)
        return errno == EACCES || errno == EPERM ? PM_PS_DENIED : PM_PS_SKIP;
    /* What was opened is what was looked at. */
    if (fstat(fd, &fst) < 0 || fst.st_dev != st->st_dev || fst.st_ino != st->st_ino ||
        !file_ok(&fst, uid)) {
        close(fd);
        return PM_PS_SKIP;
    }
    /* Read until the size fstat gave (a record is written before the file
     * is renamed into place and never changes), or the buffer is full. */
    for (;;) {
        ssize_t got = read(fd, buf + len, sizeof buf - 1 - len);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            break;
        len += (size_t)got;
        if (len == sizeof buf - 1 || (off_t)len >= fst.st_size)
            break;
    }
    close(fd);
    if (len == sizeof buf - 1 || pm_ps_record_parse(buf, len, r) < 0)
        return PM_PS_SKIP;
    /* The record must agree with its name, its owner and its bucket. */
    if (r->seq != n.seq || r->pid != n.pid || r->start != n.start || r->flags != n.flags ||
        r->uid != uid || pm_ps_hash(r->path, strlen(r->path)) != hash)
        return PM_PS_SKIP;
    r->key = key;
    return PM_PS_OK;
}
