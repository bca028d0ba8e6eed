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
 *   3. else /tmp/peermap-pathspace.
 * It is created on first attach with mode 01777: anyone may attach, only an
 * entry's owner (or root) may remove it, as in /tmp.  A system that runs
 * managers of several users should create /run/peermap/pathspace at boot
 * (systemd-tmpfiles: "d /run/peermap/pathspace 1777 root root -"), otherwise
 * a non-root manager started before any root one registers in /tmp while
 * later clients look in /run.  A directory that others may write but that
 * lacks the sticky bit is refused (EPERM): anyone could remove entries.
 * Containers with their own pid namespace need their own path space (a pid
 * means nothing across namespaces): set PEERMAP_PATHSPACE or give the
 * container its own /run.
 *
 * An entry is one file, written whole under a temporary name and renamed
 * into place (readers never see half a record), owned by the attaching
 * process's uid/gid, whose mode bits are the entry's permissions.  Its name
 * says everything a resolver needs before it may open the file:
 *   <seq>.<pid>.<start>.<flags>.<hash>.<random>
 * seq orders attaches: CLOCK_REALTIME in ns, made strictly increasing within
 * a process (stepping the clock back can misorder attaches of two processes
 * in that window); pid and start (field 22 of /proc/pid/stat) identify the
 * manager even after its pid is reused; hash is a 64-bit FNV-1a of the
 * attached path.  The file holds a versioned text record (see
 * pathspace_format.c) with the path, pid, start, chid, flags and mode.
 *
 * Permissions.  A caller reaches an entry when the kernel lets it open the
 * entry's file for reading: owner/group/other classes of the file's mode,
 * supplementary groups and ACLs included, root bypassing.  An entry the caller
 * may not reach is skipped like a non-match - except when it is the best
 * match: then resolve fails with EACCES instead of falling through to a
 * shorter prefix (or an older attach) served by someone else, which would
 * hand the client to a manager it never meant to talk to.  The unreadable
 * entry is recognised by the path hash in its name (a hash collision can
 * only produce a spurious EACCES, which attaching the path itself would
 * produce as well).
 *
 * Liveness.  An entry whose manager is gone (no such pid, a zombie, or a
 * different start time: the pid was reused) is ignored at once and removed by
 * the next resolver allowed to (its owner or root).  An entry owned by a
 * non-root uid is also ignored unless the manager process holds that uid
 * (real, effective, saved or filesystem): nobody can plant an entry that
 * routes clients to another user's process.  When /proc hides other users'
 * processes (hidepid), liveness falls back to kill(pid, 0) and pid reuse
 * cannot be detected.
 *
 * First come, first served between users.  An entry of a non-root user is
 * ignored when an older live entry of another owner serves the same path
 * (the same path, or a directory manager above it): a user cannot shadow or
 * nest under a path someone else claimed first and so capture their
 * clients.  Root's entries, and a user's entries over their own, shadow as
 * usual (newest first).
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
    char name[PM_PS_NAME_MAX];   /* the entry's file name; "" once detached */
    pid_t pid;                   /* the attaching process */
};

/* One resolved (or listed) entry. */
struct pm_ps_match {
    pid_t pid;                   /* the manager */
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
};

/* Attach `path` for this process's channel `chid`.  The path is normalised:
 * it must be absolute, repeated and trailing slashes are dropped, "." and
 * ".." components are refused (EINVAL).  `mode` holds the type to report
 * (S_IFCHR...; S_IFDIR or S_IFREG by PM_PS_DIR if none) and the entry's
 * permission bits (only 0777 are used; e.g. 0666 for everyone, 0600 for the
 * owner).  Errors: EINVAL (path, flags, chid < 0, mode), ENAMETOOLONG,
 * EACCES/EPERM/EROFS (path space not writable or unsafe), ENOSPC, EDQUOT. */
int pm_pathspace_attach(const char *path, int chid, unsigned flags, mode_t mode,
                        struct pm_ps_handle *h);
/* The same, recording `handle` (>= 0) for resolvers (pm_ps_match.handle);
 * pm_pathspace_attach() records 0. */
int pm_pathspace_attach_handle(const char *path, int chid, int handle, unsigned flags,
                               mode_t mode, struct pm_ps_handle *h);

/* Remove the entry.  EINVAL if h was not attached (or already detached),
 * EPERM from another process than the attaching one. */
int pm_pathspace_detach(struct pm_ps_handle *h);

/* The manager for `path` (normalised as for attach): the longest attached
 * prefix matching it (a file manager matches only its own path), the newest
 * attach among equal prefixes (PM_PS_BEFORE/AFTER first).  ENOENT if nothing
 * live matches, EACCES if the best match is an entry the caller may not
 * reach, EINVAL/ENAMETOOLONG for a bad path. */
int pm_pathspace_resolve(const char *path, struct pm_ps_match *m);

/* Call cb for every live entry the caller may reach, sorted by path, the
 * entry that resolves first at each path first.  Returns the number of
 * entries, or -1.  An empty or missing path space is 0. */
int pm_pathspace_list(void (*cb)(const struct pm_ps_match *m, void *arg), void *arg);

/* The directory the path space is in for this process right now (see above);
 * it need not exist yet.  0 or -1 (EINVAL: PEERMAP_PATHSPACE not absolute,
 * ENAMETOOLONG). */
int pm_pathspace_dir(char *buf, size_t size);

#endif
