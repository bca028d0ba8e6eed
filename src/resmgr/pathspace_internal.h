/*
 * Pieces of the path space shared by its files (see pathspace.h for the
 * design): the directory and its per-user and per-path subdirectories,
 * entry names and records, loading one entry, manager liveness.
 */
#ifndef PEERMAP_RESMGR_PATHSPACE_INTERNAL_H
#define PEERMAP_RESMGR_PATHSPACE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "resmgr/pathspace.h"

/* What an entry's file name says. */
struct pm_ps_name {
    uint64_t seq;
    pid_t pid;
    uint64_t start;
    unsigned flags;
    uint32_t rnd;
};

/* The record inside the file. */
struct pm_ps_record {
    uint64_t seq;
    pid_t pid;
    uint64_t start;
    uid_t uid;
    int chid;
    int handle;
    unsigned flags;
    mode_t mode;
    char path[PATH_MAX];
    uint64_t key;     /* not in the file: the manager's process key, taken
                       * through the pidfd its liveness was proven with
                       * (0: unknown) */
};

/* The longest record a reader accepts (path plus the fixed fields). */
#define PM_PS_RECORD_MAX (PATH_MAX + 256)

/* A file being written, before it is renamed into place. */
#define PM_PS_TMP_PREFIX ".tmp."

/* pathspace_format.c */
int pm_ps_normalise(const char *in, char out[PATH_MAX]);
uint64_t pm_ps_hash(const char *s, size_t n);
uint64_t pm_ps_next_seq(void);
void pm_ps_name_format(const struct pm_ps_name *n, char buf[PM_PS_NAME_MAX]);
int pm_ps_name_parse(const char *s, struct pm_ps_name *n);
void pm_ps_bucket_name(uint64_t hash, char buf[17]);
int pm_ps_bucket_parse(const char *s, uint64_t *hash);
int pm_ps_record_format(const struct pm_ps_record *r, char *buf, size_t size);
int pm_ps_record_parse(char *buf, size_t len, struct pm_ps_record *r);

/* pathspace_proc.c */
enum pm_ps_state { PM_PS_GONE, PM_PS_LIVE, PM_PS_FOREIGN };
/* Is the manager the entry names still there, and does it hold the entry
 * owner's uid?  GONE: dead or pid reused; FOREIGN: alive but the owner is
 * none of its uids. */
enum pm_ps_state pm_ps_manager_state(pid_t pid, uint64_t start, uid_t owner);
/* The same, and when LIVE the manager's process key (trust.h; 0 when it
 * could not be had) through the same pidfd, so it is that process's. */
enum pm_ps_state pm_ps_manager_state_key(pid_t pid, uint64_t start, uid_t owner,
                                         uint64_t *key);
/* Does the process behind a proven listener's record still hold `owner`
 * (or, for root's entries, keep root's reach: see pathspace_proc.c)?
 * 1 or 0. */
struct pm_peer_id;
int pm_ps_listener_holds(const struct pm_peer_id *id, uid_t owner);

/* pathspace_dir.c */
/* The path space directory, opened through pm_safe_dir_open(). */
struct pm_ps_space {
    int fd;                  /* the directory */
    uid_t owner;             /* 0, or the one other user who could rearrange it */
    char path[PATH_MAX];
};
/* Open it (creating it when `create`, for attach).  0, or -1: ENOENT with
 * no reason recorded when it does not exist and !create; EPERM when someone
 * else could rearrange it (reason recorded). */
int pm_ps_space_open(int create, struct pm_ps_space *s);
void pm_ps_space_close(struct pm_ps_space *s);
/* May entries of `uid` in this space be believed at all: nobody but root,
 * uid, or the caller itself could have moved them there?  1 or 0. */
int pm_ps_space_holds(const struct pm_ps_space *s, uid_t uid);
/* Is the directory fd opened for uid's entries what it must be: a directory,
 * owned by uid, writable by uid only?  0, or -1 (EPERM). */
int pm_ps_dir_check(int fd, uid_t uid);
/* Open user uid's directory, or one of its per-path buckets, for reading,
 * with pm_ps_dir_check().  The descriptor, or -1: ENOENT (none), EPERM (not
 * to be believed), or open's error.  No reason recorded. */
int pm_ps_user_open(const struct pm_ps_space *s, uid_t uid);
int pm_ps_bucket_open(int ufd, uint64_t hash, uid_t uid);
/* The caller's own directory and a bucket in it, created as needed (and
 * put right when it is ours but too open).  Descriptors, or -1 with a
 * reason.  *created tells a new bucket (for the per-user path limit). */
int pm_ps_user_make(const struct pm_ps_space *s, uid_t me);
int pm_ps_bucket_make(int ufd, uint64_t hash, uid_t me, int *created);

/* pathspace_entry.c */
enum pm_ps_load { PM_PS_SKIP, PM_PS_OK, PM_PS_DENIED };
/* Check and read entry `name` in bucket `bfd` of user `uid`, whose paths
 * hash to `hash`.  OK: *r and *st filled, every check passed; DENIED: live
 * and the caller's own, but the kernel would not let the caller read it
 * (st filled); SKIP: anything else (stale entries are removed on the way
 * when the caller may).  With want_key, r->key is the manager's process
 * key (one fstat() more), else 0. */
enum pm_ps_load pm_ps_entry_load(int bfd, const char *name, uid_t uid, uint64_t hash,
                                 struct pm_ps_record *r, struct stat *st, int want_key);
/* Does entry `name` still claim its path: the owner's regular file, named
 * after a live manager holding the owner's uid?  1 or 0.  (Without reading
 * it: the first-come rule counts claims the caller cannot read too.) */
int pm_ps_entry_claims(int bfd, const char *name, uid_t uid);
/* Remove entry or temporary file `name` of user `uid` if its manager is gone
 * and the caller is its owner or root; then the bucket if it is empty. */
void pm_ps_entry_sweep(int ufd, int bfd, const char *bucket, const char *name, uid_t uid);

/* Read the names of directory fd (from where its offset is: a fresh
 * descriptor, or one rewound with lseek) other than "." and "..",
 * calling cb(name, arg) for each of the first `max`; stops early when cb
 * returns nonzero.  The number of names seen, max + 1 when there are more
 * than max (cb was not called for the extra one), or -1 with errno. */
int pm_ps_read_names(int fd, unsigned max, int (*cb)(const char *name, void *arg), void *arg);

/* pathspace_cache.c: what a resolution read, so that a later one can tell
 * cheaply whether anything it depends on changed (pathspace.h, "Cache"). */
#define PM_PS_TRACE_MAX 24
struct pm_ps_stamp {
    char rel[48];          /* below the path space: "<uid>" or "<uid>/<hash>" */
    int present;
    dev_t dev;
    ino_t ino;
    struct timespec ctime;
};
struct pm_ps_trace {
    int on;                /* record (a resolution that may be cached) */
    int n, overflow;
    struct pm_ps_stamp s[PM_PS_TRACE_MAX];
};
/* Record `rel` (relative to the space) as it is now, looked at through
 * dirfd/name. */
void pm_ps_trace_add(struct pm_ps_trace *t, int dirfd, const char *name, const char *rel);
/* A resolution still valid for `norm` and the caller's euid: 0 and *m
 * filled (m->cached set), or -1 (nothing cached, or something changed). */
int pm_ps_cache_find(const char *norm, uid_t me, struct pm_ps_match *m);
/* Remember a resolution: the space, the policy it was made under, the
 * directories it read (t) and the entry it chose (rel below the space). */
struct pm_policy;
void pm_ps_cache_put(const char *norm, uid_t me, const struct pm_ps_space *s,
                     const struct pm_policy *pol, const struct pm_ps_trace *t,
                     const char *entry_rel, const struct pm_ps_match *m);

#endif
