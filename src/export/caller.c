/*
 * Who is asking, and acting as them.
 *
 * The kernel puts the caller's file-system uid and gid and its thread id
 * in every FUSE request; the rest of what a resource manager's checks need
 * (the process id, real and saved ids, supplementary groups) comes from
 * /proc/TID/status, read while the caller waits for our answer.  (The
 * caller could change its groups meanwhile, as it could between an open()
 * and its check on any file system.)
 *
 * Acting as the caller.  Reading the path space is itself a permission
 * check: an entry's file mode says who may reach it, and pm_open() lets the
 * kernel judge with the opener's own ids.  A root export gives every caller
 * exactly that judgement by switching the effective ids and groups of the
 * serving thread to the caller's for the look-up, with the raw system
 * calls: Linux keeps credentials per thread, and only the C library's
 * wrappers spread a change to every thread.  The real and saved uid stay
 * 0, so the thread can switch back.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "export/export.h"

/* The rest of the caller's identity from /proc/TID/status, taken only
 * when the file's file-system ids are the request's: a thread that ended
 * and whose id was reused, or a caller that changed its ids since the
 * request, would otherwise lend another identity's groups and real ids.
 * Without them the request's own ids stand, with no supplementary groups:
 * fewer rights, never more. */
static void read_status(pid_t tid, struct pmx_caller *c)
{
    char path[64], line[512];
    snprintf(path, sizeof path, "/proc/%d/status", (int)tid);
    FILE *f = fopen(path, "re");
    if (!f)
        return;
    struct pmx_caller t = *c;
    int uid_ok = 0, gid_ok = 0;
    while (fgets(line, sizeof line, f)) {
        unsigned r, e, s, fs;
        int tgid;
        if (sscanf(line, "Tgid: %d", &tgid) == 1 && tgid > 0) {
            t.pid = tgid;
        } else if (sscanf(line, "Uid: %u %u %u %u", &r, &e, &s, &fs) == 4) {
            t.ruid = r;
            t.suid = s;
            uid_ok = (uid_t)fs == c->uid;
        } else if (sscanf(line, "Gid: %u %u %u %u", &r, &e, &s, &fs) == 4) {
            t.rgid = r;
            t.sgid = s;
            gid_ok = (gid_t)fs == c->gid;
        } else if (strncmp(line, "Groups:", 7) == 0) {
            /* The line may be longer than the buffer: take what fits in
             * it, up to what a delegation carries. */
            char *p = line + 7;
            t.ngroups = 0;
            while (t.ngroups < PM_WIRE_DELEGATE_GROUPS) {
                char *end;
                unsigned long g = strtoul(p, &end, 10);
                if (end == p)
                    break;
                t.groups[t.ngroups++] = (gid_t)g;
                p = end;
            }
        }
    }
    fclose(f);
    if (uid_ok && gid_ok)
        *c = t;
}

void pmx_caller_of(fuse_req_t req, struct pmx_caller *c)
{
    const struct fuse_ctx *x = fuse_req_ctx(req);
    memset(c, 0, sizeof *c);
    c->uid = c->ruid = c->suid = x->uid;
    c->gid = c->rgid = c->sgid = x->gid;
    c->tid = x->pid;
    c->pid = x->pid;
    if (x->pid > 0)
        read_status(x->pid, c);
}

void pmx_caller_wire(const struct pmx_caller *c, struct pm_wire_delegate *w)
{
    memset(w, 0, sizeof *w);
    w->version = PM_WIRE_DELEGATE_VERSION;
    /* A caller the kernel could not name (pid 0: another pid namespace, a
     * kernel thread) is announced as the export itself would be. */
    w->pid = c->pid > 0 ? c->pid : getpid();
    w->ruid = c->ruid;
    w->euid = c->uid;
    w->suid = c->suid;
    w->rgid = c->rgid;
    w->egid = c->gid;
    w->sgid = c->sgid;
    w->ngroups = c->ngroups;
    for (uint32_t i = 0; i < c->ngroups; i++)
        w->groups[i] = c->groups[i];
}

/* Whether this thread currently acts as someone else. */
static _Thread_local int acting;
/* The export's own supplementary groups, to go back to. */
static gid_t self_groups[PM_WIRE_DELEGATE_GROUPS];
static int self_ngroups;

void pmx_caller_init(void)
{
    int n = getgroups(PM_WIRE_DELEGATE_GROUPS, self_groups);
    self_ngroups = n > 0 ? n : 0;
}

int pmx_act_as(const struct pmx_caller *c)
{
    if (pmx_cfg.euid != 0 || c->uid == 0)
        return 0;
    acting = 1;
    /* Groups and gid first: changing them needs the effective uid 0. */
    if (syscall(SYS_setgroups, (size_t)c->ngroups, c->groups) != 0 ||
        syscall(SYS_setresgid, -1, c->gid, -1) != 0 ||
        syscall(SYS_setresuid, -1, c->uid, -1) != 0) {
        int e = errno;
        pmx_act_as_self();
        return e;
    }
    return 0;
}

void pmx_act_as_self(void)
{
    if (!acting)
        return;
    /* Back to root first (the saved uid 0 allows it), then the rest.
     * Failing here would leave the thread as the caller: a root export
     * that cannot be root again must not go on serving. */
    if (syscall(SYS_setresuid, -1, 0, -1) != 0 ||
        syscall(SYS_setresgid, -1, pmx_cfg.egid, -1) != 0 ||
        syscall(SYS_setgroups, (size_t)self_ngroups, self_groups) != 0) {
        fprintf(stderr, "peermap export: cannot take back root's ids: %m\n");
        _exit(1);
    }
    acting = 0;
}
