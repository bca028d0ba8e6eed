/*
 * Path space entries on disk: normalised paths, bucket and file names,
 * records.
 *
 * The record is text so that `cat` explains a path space, and versioned by
 * its first line so that a later format can coexist.  Version 2 (version 1
 * had no uid and lived in a flat, shared directory; it is not read):
 *
 *   peermap-pathspace 2
 *   seq 1763779392123456789
 *   pid 1234
 *   start 5678
 *   uid 0
 *   chid 1
 *   flags 0x1
 *   mode 020666
 *   handle 3
 *   path /dev/ser1
 *
 * Fields come in exactly this order.  The path is last and runs to the final
 * newline, so it may hold any byte but NUL.  A reader believes none of it
 * until it agrees with where the file is (the user directory, the bucket
 * named after the path's hash, the file's owner) and with the file's name.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "common/internal.h"
#include "resmgr/pathspace_internal.h"

#define MAGIC "peermap-pathspace 2\n"

int pm_ps_normalise(const char *in, char out[PATH_MAX])
{
    size_t o = 0;

    if (!in || in[0] != '/')
        return pm_fail(EINVAL, "path space: \"%s\" is not an absolute path",
                       in ? in : "(null)");
    for (const char *p = in; *p;) {
        while (*p == '/')
            p++;
        if (!*p)
            break;
        size_t len = strcspn(p, "/");
        /* Refused rather than folded: ".." depends on symbolic links the
         * path space cannot see, and a manager must know its exact path. */
        if ((len == 1 && p[0] == '.') || (len == 2 && p[0] == '.' && p[1] == '.'))
            return pm_fail(EINVAL, "path space: \"%s\" has a \".\" or \"..\" component", in);
        if (o + 1 + len >= PATH_MAX)
            return pm_fail(ENAMETOOLONG, "path space: path longer than %d bytes", PATH_MAX - 1);
        out[o++] = '/';
        memcpy(out + o, p, len);
        o += len;
        p += len;
    }
    if (o == 0)
        out[o++] = '/';
    out[o] = 0;
    return 0;
}

/* FNV-1a: only needs to tell paths apart by accident, not by intent: a
 * bucket belongs to one user, who can only collide with himself, and a
 * record's path must match exactly anyway. */
uint64_t pm_ps_hash(const char *s, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

/* Wall-clock nanoseconds so that attaches of different processes compare;
 * never equal to or below the previous value of this process, so that two
 * attaches in one clock tick still order.  The atomic is the only shared
 * state of the path space. */
uint64_t pm_ps_next_seq(void)
{
    static _Atomic uint64_t last;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t now = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
    uint64_t prev = atomic_load(&last), want;
    do
        want = now > prev ? now : prev + 1;
    while (!atomic_compare_exchange_weak(&last, &prev, want));
    return want;
}

void pm_ps_name_format(const struct pm_ps_name *n, char buf[PM_PS_NAME_MAX])
{
    /* seq is zero-padded so that `ls` lists attaches in order. */
    snprintf(buf, PM_PS_NAME_MAX, "%020llu.%d.%llu.%x.%08x",
             (unsigned long long)n->seq, (int)n->pid, (unsigned long long)n->start,
             n->flags, (unsigned)n->rnd);
}

void pm_ps_bucket_name(uint64_t hash, char buf[17])
{
    snprintf(buf, 17, "%016llx", (unsigned long long)hash);
}

/* Exactly 16 lower-case hex digits: 0 or -1. */
int pm_ps_bucket_parse(const char *s, uint64_t *hash)
{
    uint64_t h = 0;
    int i;
    for (i = 0; i < 16; i++) {
        char c = s[i];
        if (c >= '0' && c <= '9')
            h = h << 4 | (uint64_t)(c - '0');
        else if (c >= 'a' && c <= 'f')
            h = h << 4 | (uint64_t)(c - 'a' + 10);
        else
            return -1;
    }
    if (s[i])
        return -1;
    *hash = h;
    return 0;
}

/* One field of a name: digits of `base` only, then `term`. */
static int name_field(const char **p, int base, char term, unsigned long long *v)
{
    const char *s = *p;
    char *end;
    if (!((*s >= '0' && *s <= '9') || (base == 16 && ((*s >= 'a' && *s <= 'f')))))
        return -1;
    errno = 0;
    *v = strtoull(s, &end, base);
    if (errno || *end != term)
        return -1;
    *p = term ? end + 1 : end;
    return 0;
}

/* 0, or -1 (no errno, no reason) for anything that is not an entry name:
 * foreign files in the directory are ignored, never fatal. */
int pm_ps_name_parse(const char *s, struct pm_ps_name *n)
{
    unsigned long long seq, pid, start, flags, rnd;
    if (name_field(&s, 10, '.', &seq) || name_field(&s, 10, '.', &pid) ||
        name_field(&s, 10, '.', &start) || name_field(&s, 16, '.', &flags) ||
        name_field(&s, 16, 0, &rnd))
        return -1;
    if (pid == 0 || pid > INT32_MAX || (flags & ~(unsigned long long)PM_PS_FLAGS) ||
        rnd > UINT32_MAX)
        return -1;
    *n = (struct pm_ps_name){ seq, (pid_t)pid, start, (unsigned)flags, (uint32_t)rnd };
    return 0;
}

int pm_ps_record_format(const struct pm_ps_record *r, char *buf, size_t size)
{
    int len = snprintf(buf, size, MAGIC "seq %llu\npid %d\nstart %llu\nuid %u\nchid %d\n"
                       "flags %#x\nmode %#o\nhandle %d\npath %s\n",
                       (unsigned long long)r->seq, (int)r->pid,
                       (unsigned long long)r->start, (unsigned)r->uid, r->chid, r->flags,
                       (unsigned)r->mode, r->handle, r->path);
    if (len < 0 || (size_t)len >= size)
        return pm_fail(ENAMETOOLONG, "path space: record too long");
    return len;
}

/* "key <number>\n" at *p, in `base` (16 takes the 0x the writer puts). */
static int rec_field(char **p, const char *key, int base, unsigned long long max,
                     unsigned long long *v)
{
    size_t klen = strlen(key);
    char *end;
    if (strncmp(*p, key, klen) != 0 || (*p)[klen] != ' ')
        return -1;
    char *s = *p + klen + 1;
    if (*s < '0' || *s > '9')
        return -1;
    errno = 0;
    *v = strtoull(s, &end, base);
    if (errno || *end != '\n' || *v > max)
        return -1;
    *p = end + 1;
    return 0;
}

/* buf holds len bytes and has room for a terminating NUL at buf[len].
 * 0, or -1 (EINVAL, no reason) for a record this version cannot read. */
int pm_ps_record_parse(char *buf, size_t len, struct pm_ps_record *r)
{
    unsigned long long seq, pid, start, uid, chid, flags, mode, handle;
    buf[len] = 0;
    char *p = buf;

    errno = EINVAL;
    if (strlen(buf) != len || strncmp(p, MAGIC, strlen(MAGIC)) != 0)
        return -1;
    p += strlen(MAGIC);
    if (rec_field(&p, "seq", 10, UINT64_MAX, &seq) ||
        rec_field(&p, "pid", 10, INT32_MAX, &pid) ||
        rec_field(&p, "start", 10, UINT64_MAX, &start) ||
        rec_field(&p, "uid", 10, (uid_t)-1 - 1, &uid) ||
        rec_field(&p, "chid", 10, INT32_MAX, &chid) ||
        rec_field(&p, "flags", 16, PM_PS_FLAGS, &flags) ||
        rec_field(&p, "mode", 8, (unsigned long long)(S_IFMT | 07777), &mode) ||
        rec_field(&p, "handle", 10, INT32_MAX, &handle))
        goto bad;
    if (strncmp(p, "path ", 5) != 0)
        goto bad;
    p += 5;
    size_t plen = (size_t)(buf + len - p);
    if (plen < 2 || plen > PATH_MAX || p[plen - 1] != '\n' || p[0] != '/')
        goto bad;
    memcpy(r->path, p, plen - 1);
    r->path[plen - 1] = 0;
    r->seq = seq;
    r->pid = (pid_t)pid;
    r->start = start;
    r->uid = (uid_t)uid;
    r->chid = (int)chid;
    r->handle = (int)handle;
    r->flags = (unsigned)flags;
    r->mode = (mode_t)mode;
    return 0;
bad:
    errno = EINVAL;
    return -1;
}
