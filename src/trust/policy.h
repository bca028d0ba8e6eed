/*
 * Whose word a process takes: directories no other user can rearrange, and
 * the path-space trust policy (which users' attaches a client believes for
 * which paths).
 *
 * On QNX the process manager refuses an attach from a process without the
 * PROCMGR_AID_PATHSPACE ability (non-root lacks it by default), and a
 * security policy may restrict where a process may attach ("allow_attach").
 * peermap has no process manager: anyone can write a file.  So the decision
 * moves to the reader.  A client trusts root's attaches, its own, and another
 * user's only where root's policy file says so; everything else in the path
 * space is ignored, whatever it claims.  The resolver (src/resmgr), the agent
 * and the FUSE export share this module; like trust.h it depends on nothing
 * else in the library and records no reason (pm_fail): it returns -1 with
 * errno, and the caller says what it was doing.
 */
#ifndef PEERMAP_TRUST_POLICY_H
#define PEERMAP_TRUST_POLICY_H

#include <limits.h>
#include <stddef.h>
#include <sys/types.h>

/* --- directories no other user can rearrange (safe_path.c) ------------ */

/* What pm_safe_dir_open() found on the way. */
struct pm_safe_dir {
    int fd;              /* the directory, O_RDONLY (or O_PATH), close-on-exec */
    uid_t owner;         /* the one user other than root owning a directory on
                            the way (the last one included), or 0 if all are
                            root's: only root and this user can rename, remove
                            or replace anything at or above the directory */
    char bad[PATH_MAX];  /* on EPERM: the directory (or file) that failed */
    uid_t bad_uid;       /* its owner */
    mode_t bad_mode;     /* its type and mode */
};

#define PM_SAFE_PATH 0x1   /* open the last directory with O_PATH: search only */

/* Open directory `path` (absolute) by walking down from "/" one component at a
 * time, never following a symbolic link, and check every directory on the
 * way: owned by root or by one single other user, and writable by group or
 * others only if sticky (a sticky directory lets nobody else rename what its
 * owner or root owns).  `path` may contain symbolic links: it is first
 * resolved with realpath(), and the walk then proves the real directories.
 * 0, or -1 with errno: ENOENT (missing), ENOTDIR, EPERM (a directory someone
 * else could change: s->bad tells which), ELOOP (changed into a symbolic
 * link during the walk), EACCES, ENAMETOOLONG. */
int pm_safe_dir_open(const char *path, int flags, struct pm_safe_dir *s);

/* Open the regular file `path` for reading when its word is root's: it and
 * every directory above it are owned by root, the file is writable by root
 * only and the directories by root only unless sticky.  The descriptor, or
 * -1 with errno: ENOENT, EPERM (s->bad tells which part failed), EISDIR
 * or EINVAL (not a regular file), EACCES. */
int pm_safe_root_file_open(const char *path, struct pm_safe_dir *s);

/* Is `path` (normalised: absolute, single slashes, no trailing slash except
 * for "/") at or below `prefix` (normalised too), component-wise?  "/dev"
 * covers "/dev" and "/dev/ser1", not "/device".  1 or 0. */
int pm_path_within(const char *prefix, size_t plen, const char *path, size_t len);

/* --- the trust policy (policy.c) -------------------------------------- */

/* Where root's policy lives.  PEERMAP_PATHSPACE_POLICY names another file
 * (read with secure_getenv(), so set-user-ID programs ignore it); either
 * way the file is obeyed only when pm_safe_root_file_open() accepts it: no
 * environment variable can make a process trust more than root said. */
#define PM_POLICY_PATH "/etc/peermap/pathspace.conf"

/* Per-user limits on path-space entries, and their defaults (the policy may
 * change them: "limit paths_per_user N", "limit entries_per_path N"). */
#define PM_POLICY_PATHS_PER_USER   4096u  /* distinct attached paths per user */
#define PM_POLICY_ENTRIES_PER_PATH 256u   /* attaches of one path by one user */
#define PM_POLICY_LIMIT_MAX        1000000u

/* One "allow_attach" grant: entries of `uid` at `prefix` or below it. */
struct pm_policy_rule {
    uid_t uid;
    size_t len;
    char *prefix;        /* normalised */
};

enum pm_policy_state {
    PM_POLICY_NONE,      /* no policy file: only root and oneself are trusted */
    PM_POLICY_LOADED,    /* obeyed (lines it could not read are in `why`) */
    PM_POLICY_REFUSED,   /* there is a file but root's word is not proven
                            (`why` says why): ignored, as if there were none */
};

struct pm_policy {
    enum pm_policy_state state;
    size_t nrules;
    struct pm_policy_rule *rules;
    size_t nusers;
    uid_t *users;                 /* the distinct uids the rules grant, sorted */
    unsigned paths_per_user;
    unsigned entries_per_path;
    char file[PATH_MAX];          /* the file it came from (or would have) */
    char why[256];                /* "" or the first problem, in words */
};

/* The policy in force now: the file is looked at (two stat() calls) on every
 * call and read again when it changed.  Never NULL: when there is no file,
 * it cannot be trusted, or memory runs out, the result is a policy that
 * trusts no one else (state tells which).  Thread-safe; every get needs a
 * pm_policy_put(). */
const struct pm_policy *pm_policy_get(void);
void pm_policy_put(const struct pm_policy *p);

/* Does a client whose effective uid is `client` take the word of an entry
 * owned by `owner` for `path` (normalised, `len` bytes)?  Root's: always.
 * The client's own: always (a user cannot be protected from itself).
 * Another user's: when a rule grants `owner` a prefix of `path`.
 * 1 and *root_len = the length of the shortest such prefix (0 for root's and
 * one's own: the whole space), or 0. */
int pm_policy_trusts(const struct pm_policy *p, uid_t client, uid_t owner,
                     const char *path, size_t len, size_t *root_len);

/* Parse policy text (buf, len bytes) into *p, which must be zeroed: the
 * loader's work without the file, for tests and fuzzing.  Lines it cannot
 * read are ignored (the first one is described in p->why): a mistake never
 * grants anything.  0, or -1 with ENOMEM (p is then empty).  Free with
 * pm_policy_clear(). */
int pm_policy_parse(const char *buf, size_t len, struct pm_policy *p);
void pm_policy_clear(struct pm_policy *p);

#endif
