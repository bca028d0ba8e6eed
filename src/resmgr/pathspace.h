/*
 * The path space: which resource manager serves which path.
 *
 * A manager attaches a path (resmgr_attach / name_attach); a client resolves
 * a path to the manager that attached its longest prefix, and then talks to
 * that manager's channel, (pid, chid).  Internal to the library.
 *
 * Where it lives.  The path space is a directory shared by every process
 * that should see the same paths:
 *   1. $PEERMAP_PATHSPACE, if set (absolute; ignored by set-uid programs,
 *      which read it with secure_getenv) - a test or a container points it
 *      at a directory of its own;
 *   2. else /run/peermap/pathspace, if it exists or /run is writable by the
 *      caller (root);
 *   3. else /tmp/peermap-pathspace-<euid>, the user's own: a shared one in
 *      /tmp would belong to whoever made it first, who could rearrange
 *      everyone else's entries in it (so nobody else could use it).
 * It is created on first attach with mode 01777 (anyone may make a
 * directory of their own in it, nobody may touch another's; 0755 for the
 * per-user one in /tmp).  A system
 * that runs managers of several users should create /run/peermap/pathspace
 * at boot (systemd-tmpfiles: "d /run/peermap/pathspace 1777 root root -"),
 * otherwise a non-root manager started before any root one registers in
 * /tmp while later clients look in /run.  Containers with their own pid
 * namespace need their own path space (a pid means nothing across
 * namespaces).
 *
 * Layout.  Every user writes only below a directory of its own:
 *   <space>/<uid>/                  owned by uid, mode 0755
 *   <space>/<uid>/<hash>/           one per attached path: 16 hex digits of
 *                                   the path's FNV-1a hash, mode 0755
 *   <space>/<uid>/<hash>/<seq>.<pid>.<start>.<flags>.<random>
 *                                   one per attach: a file, read-only
 * seq orders attaches (CLOCK_REALTIME in ns, strictly increasing within a
 * process); pid and start (field 22 of /proc/pid/stat) identify the manager
 * even after its pid is reused.  The file holds a versioned text record
 * (pathspace_format.c) with the path, pid, start, uid, chid, flags, mode and
 * handle; it is written under a temporary name in the bucket and renamed
 * into place, so readers see no entry or a whole one.
 *
 * Trust.  QNX's process manager lets only processes with the
 * PROCMGR_AID_PATHSPACE ability attach (root, by default).  Here anyone can
 * write a file, so the reader decides (trust/policy.h): a client believes
 * root's entries, its own, and another user's only for the prefixes root's
 * policy file grants that user ("allow_attach").  An entry is believed only
 * when
 *   - the path space directory and everything above it can be rearranged by
 *     nobody but root and (at most) one other user, who must then be the
 *     entry's owner or the client (pm_safe_dir_open);
 *   - it sits in <space>/<uid>/<hash>/, both directories owned by uid and
 *     writable by uid only, opened without following symbolic links;
 *   - it is a regular file owned by uid and writable by nobody else;
 *   - its record agrees with its name (seq, pid, start, flags), its owner
 *     (uid) and its bucket (the path's hash), and names exactly the path;
 *   - its manager is alive, is the process that attached (start time) and
 *     still holds uid (real, effective, saved or filesystem), root included.
 * Nobody else can create, change, rename, remove or shadow anything in a
 * user's directory, whatever links they make: the link count is not
 * checked on purpose (a hard link made elsewhere changes nothing here, and
 * refusing linked files would let anyone knock out any entry).  Another
 * user's attaches are invisible to a client that does not trust them: a
 * root client opening a path before its root manager started, or after it
 * died, gets ENOENT, never someone else's server.  After connecting,
 * pm_pathspace_connect() also proves that the listening channel is the
 * entry's manager's.
 *
 * Order.  Longest prefix first (a file manager matches only its own path),
 * then BEFORE entries, plain ones, AFTER entries, newest first within each.
 * Among trusted entries, root's and the client's own shadow as QNX's do.
 * An entry of a user trusted only through the policy is ignored when an
 * older live entry of another owner, at or below that user's granted
 * prefix, serves the same path (itself, or a directory manager above it):
 * users who share a grant cannot take each other's clients, nor a path root
 * served first.
 *
 * Permissions.  A caller reaches an entry when the kernel lets it open the
 * entry's file for reading: the file's read bits are the entry's
 * permissions (owner/group/other, supplementary groups and ACLs included,
 * root bypassing).  An entry the caller may not reach is skipped like a
 * non-match - except when it is the best match: then resolve fails with
 * EACCES instead of falling through to a shorter prefix (or an older attach)
 * served by someone else, which would hand the client to a manager it never
 * meant to talk to.
 *
 * Limits and cost.  Resolving /a/b/c opens the buckets of "/", "/a", "/a/b"
 * and "/a/b/c" in the directories of the users the caller trusts, nothing
 * else: other users' entries cost nothing, however many.  Per user, attach
 * refuses (ENOSPC) more than paths_per_user distinct paths and more than
 * entries_per_path attaches of one path (defaults 4096 and 256, set by the
 * policy file).  A user directory or bucket holding more than twice its
 * limit (it was not filled by the library) is ignored by readers.
 *
 * Liveness.  An entry whose manager is gone (no such pid, a zombie, or a
 * different start time: the pid was reused) is ignored at once and removed
 * by the next resolver allowed to (its owner or root), with its bucket when
 * it was the last.  When /proc hides other users' processes (hidepid),
 * liveness falls back to kill(pid, 0) and pid reuse cannot be detected.
 *
 * Every function is thread-safe and fails with -1, errno and a reason
 * (pm_fail).  None calls pm_begin(): that is the public caller's job.
 */
#ifndef PEERMAP_RESMGR_PATHSPACE_H
#define PEERMAP_RESMGR_PATHSPACE_H

#include <limits.h>
#include <stdint.h>
#include <sys/types.h>

/* Attach flags. */
#define PM_PS_DIR    0x1u  /* directory manager: the path and everything below */
#define PM_PS_BEFORE 0x2u  /* at the same path, resolve before entries without it */
#define PM_PS_AFTER  0x4u  /* at the same path, resolve after entries without it */
#define PM_PS_FLAGS  (PM_PS_DIR | PM_PS_BEFORE | PM_PS_AFTER)

#define PM_PS_NAME_MAX 128

/* What attach returns, for detach.  Plain data; detach only works in the
 * process that attached (a fork child's copy refers to its parent's entry). */
struct pm_ps_handle {
    char dir[PATH_MAX];          /* the path space at attach time */
    char name[PM_PS_NAME_MAX];   /* the entry, relative to dir:
                                    "<uid>/<hash>/<file>"; "" once detached */
    pid_t pid;                   /* the attaching process */
};

/* One resolved (or listed) entry. */
struct pm_ps_match {
    pid_t pid;                   /* the manager */
    uint64_t start;              /* its start time (/proc/pid/stat field 22) */
    int chid;                    /* its channel */
    unsigned flags;              /* PM_PS_* */
    mode_t mode;                 /* type and permissions to report to clients */
    uid_t uid;                   /* the entry's owner */
    gid_t gid;
    int handle;                  /* the manager's id for the attach (the
                                    resmgr_attach() id), to be put in the
                                    _io_connect's handle; 0 if none given */
    uint64_t seq;                /* attach order (larger is newer) */
    char path[PATH_MAX];         /* the attached path, normalised */
    char rest[PATH_MAX];         /* the resolved path below it: "" for the
                                    path itself, "a/b" below a directory
                                    manager; "" in listings */
    uint64_t key;                /* the manager's process key (trust.h), from
                                    pm_pathspace_resolve_cached(), else 0:
                                    connect checks the listener is it */
    int cached;                  /* from pm_pathspace_resolve_cached()'s
                                    cache: connect also checks the manager
                                    still holds the entry owner's uid */
};

/* Attach `path` for this process's channel `chid`.  The path is normalised:
 * it must be absolute, repeated and trailing slashes are dropped, "." and
 * ".." components are refused (EINVAL).  `mode` holds the type to report
 * (S_IFCHR...; S_IFDIR or S_IFREG by PM_PS_DIR if none) and the entry's
 * permission bits (only 0777 are used; e.g. 0666 for everyone, 0600 for the
 * owner).  Errors: EINVAL (path, flags, chid < 0, mode), ENAMETOOLONG,
 * EACCES/EROFS (path space not writable), EPERM (the path space, or our
 * directory in it, is not safe: someone else could rearrange it), ENOSPC
 * (a per-user limit, or the file system), EDQUOT. */
int pm_pathspace_attach(const char *path, int chid, unsigned flags, mode_t mode,
                        struct pm_ps_handle *h);
/* The same, recording `handle` (>= 0) for resolvers (pm_ps_match.handle);
 * pm_pathspace_attach() records 0. */
int pm_pathspace_attach_handle(const char *path, int chid, int handle, unsigned flags,
                               mode_t mode, struct pm_ps_handle *h);

/* Remove the entry.  EINVAL if h was not attached (or already detached),
 * EPERM from another process than the attaching one. */
int pm_pathspace_detach(struct pm_ps_handle *h);

/* The manager for `path` (normalised as for attach): among the entries the
 * caller trusts, the longest attached prefix matching it (a file manager
 * matches only its own path), the newest attach among equal prefixes
 * (PM_PS_BEFORE/AFTER first).  ENOENT if nothing live and trusted matches,
 * EACCES if the best match is an entry the caller may not reach, EPERM if
 * the path space is not safe, EINVAL/ENAMETOOLONG for a bad path. */
int pm_pathspace_resolve(const char *path, struct pm_ps_match *m);

/*
 * Cache.  pm_open() resolves the same few paths again and again, and a
 * resolution reads several directories and files and asks the kernel about
 * the manager.  pm_pathspace_resolve_cached() keeps the last results (per
 * process, per effective uid): a result is used again only when every
 * directory the resolution read (the user directories and the path's
 * buckets it looked in, and the path space itself) has the same inode and
 * change time (ctime: any entry added, removed or renamed, any chmod or
 * chown changes it), the chosen entry's file too, the policy is the same,
 * the environment names the same path space, and the caller may still read
 * the entry's file (asked of the kernel again: groups and capabilities
 * change).  What cannot be seen that way - the manager's death, a reused pid, the manager giving up its
 * owner's uid - pm_pathspace_connect() checks on the listener it reached
 * (m->cached): the same process (its key) still holding the uid.  Only
 * results whose entry was the first candidate are kept (a better one
 * skipped for a reason that may pass is never hidden), and never another
 * user's entry trusted through the policy (its first-come rule depends on
 * other managers' lives).  A failed connect on a cached result drops it
 * (pm_pathspace_forget()) and pm_open() resolves again.
 */
int pm_pathspace_resolve_cached(const char *path, struct pm_ps_match *m);
void pm_pathspace_forget(const struct pm_ps_match *m);

/* Call cb for every live entry the caller trusts and may reach, as
 * resolution sees them (entries a first-come rule ignores are left out),
 * sorted by path, the entry that resolves first at each path first.
 * Returns the number of entries, or -1.  An empty or missing path space
 * is 0. */
int pm_pathspace_list(void (*cb)(const struct pm_ps_match *m, void *arg), void *arg);

/* ConnectAttach() to the manager m names (from resolve or list), with
 * ConnectAttach's flags, and prove the channel is that manager's before
 * anything is sent: the listener's pid, uid (m->uid or root) and, where
 * the kernel gives pidfds for socket peers, its start time.  The coid, or
 * -1: ENOENT (gone, or someone else's channel there), or ConnectAttach's
 * errno. */
int pm_pathspace_connect(const struct pm_ps_match *m, int cof_flags);
/* The same with ConnectAttach()'s index (_NTO_SIDE_CHANNEL: a side-channel
 * coid, as name_open() returns). */
int pm_pathspace_connect_index(const struct pm_ps_match *m, unsigned index, int cof_flags);

/* The directory the path space is in for this process right now (see above);
 * it need not exist yet.  0 or -1 (EINVAL: PEERMAP_PATHSPACE not absolute,
 * ENAMETOOLONG). */
int pm_pathspace_dir(char *buf, size_t size);

#endif
