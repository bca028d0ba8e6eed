/*
 * Turning a refusal into a reason a person can act on.  Only failure paths
 * come here, so reading /proc costs nothing on the fast path.  They run on
 * the tracer thread, for callers that may be signal handlers: plain
 * open()/read() and hand parsing, no stdio (see worker.c).
 */
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/internal.h"
#include "remote/tracee.h"
#include "trust/trust.h"

/* Value of "Key:" in a status file already read into buf, copied into out
 * (leading blanks and the newline dropped); 0 if found. */
static int field_of(const char *buf, const char *key, char *out, size_t n)
{
    size_t klen = strlen(key);
    for (const char *line = buf; line && *line;) {
        if (strncmp(line, key, klen) == 0 && line[klen] == ':') {
            const char *v = line + klen + 1;
            v += strspn(v, " \t");
            size_t l = strcspn(v, "\n");
            if (l >= n)
                l = n - 1;
            memcpy(out, v, l);
            out[l] = 0;
            return 0;
        }
        line = strchr(line, '\n');
        if (line)
            line++;
    }
    return -1;
}

/* Value of "Key:" in /proc/pid/status, copied into out; 0 if found. */
static int status_field(pid_t pid, const char *key, char *out, size_t n)
{
    char buf[4096];
    if (pm_proc_read(pid, "status", buf, sizeof buf) < 0)
        return -1;
    return field_of(buf, key, out, n);
}

/* The state letter after the command name in a stat file. */
static char state_of(const char *buf)
{
    const char *rp = strrchr(buf, ')');
    return rp && rp[1] == ' ' ? rp[2] : 0;
}

static char stat_state(pid_t pid)
{
    char buf[512];
    if (pm_proc_read(pid, "stat", buf, sizeof buf) < 0)
        return 0;
    return state_of(buf);
}

pid_t pm_tracer_of(pid_t pid)
{
    char v[32];
    if (status_field(pid, "TracerPid", v, sizeof v) < 0)
        return -1;
    return (pid_t)atoi(v);
}

int pm_process_dead(pid_t pid)
{
    char s = stat_state(pid);
    return s == 0 || s == 'Z' || s == 'X' || s == 'x';
}

pid_t pm_live_thread(pid_t pid)
{
    char path[64];
    if (stat_state(pid) != 'Z')
        return 0;
    pm_fmt(path, sizeof path, "/proc/%d/task", (int)pid);
    /* getdents64() into a buffer on the stack: opendir() allocates. */
    int dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return 0;
    union { struct dirent64 align; char b[4096]; } d;
    pid_t found = 0;
    long got;
    while (!found && (got = syscall(SYS_getdents64, dfd, d.b, sizeof d.b)) > 0) {
        for (long off = 0; !found && off < got;) {
            struct dirent64 *e = (struct dirent64 *)(d.b + off);
            off += e->d_reclen;
            pid_t tid = (pid_t)atoi(e->d_name);
            if (tid <= 0 || tid == pid)
                continue;
            char what[48], buf[512];
            pm_fmt(what, sizeof what, "task/%d/stat", (int)tid);
            if (pm_proc_read(pid, what, buf, sizeof buf) < 0)
                continue;
            char st = state_of(buf);
            if (st && st != 'Z' && st != 'X')
                found = tid;
        }
    }
    close(dfd);
    return found;
}

static void comm_of(pid_t pid, char *out, size_t n)
{
    out[0] = 0;
    char buf[64];
    if (pm_proc_read(pid, "comm", buf, sizeof buf) < 0)
        return;
    size_t l = strcspn(buf, "\n");
    if (l >= n)
        l = n - 1;
    memcpy(out, buf, l);
    out[l] = 0;
}

static int yama_scope(void)
{
    char buf[16];
    int fd = open("/proc/sys/kernel/yama/ptrace_scope", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return -1;
    buf[n] = 0;
    return atoi(buf);
}

int pm_diagnose_attach(pid_t pid, int err)
{
    char status[4096], v[128];
    int have = pm_proc_read(pid, "status", status, sizeof status) >= 0;

    if (have && field_of(status, "Tgid", v, sizeof v) == 0 && atoi(v) != pid) {
        pm_fail(0, "%d is a thread ID (of process %s), not a process ID",
                (int)pid, v);
        return ESRCH;
    }
    if (err == ESRCH || pm_process_dead(pid)) {
        if (stat_state(pid) == 'Z')
            pm_fail(0, "PID %d is a zombie", (int)pid);
        else if (kill(pid, 0) < 0 && errno == ESRCH)
            pm_fail(0, "no process with PID %d", (int)pid);
        else
            pm_fail(0, "PID %d is exiting", (int)pid);
        return ESRCH;
    }
    if (err != EPERM) {
        pm_fail(0, "cannot attach to PID %d: %s", (int)pid, pm_strerror(err));
        return err;
    }
    if (have && field_of(status, "TracerPid", v, sizeof v) == 0 && atoi(v) != 0) {
        char comm[32];
        comm_of(atoi(v), comm, sizeof comm);
        pm_fail(0, "PID %d is already traced by PID %s%s%s%s", (int)pid, v,
                comm[0] ? " (" : "", comm, comm[0] ? ")" : "");
        return EPERM;
    }
    int yama = yama_scope();
    if (yama >= 3) {
        pm_fail(0, "Yama ptrace_scope=3 forbids all attaching");
        return EPERM;
    }
    if (yama == 2 && geteuid() != 0) {
        pm_fail(0, "Yama ptrace_scope=2 forbids attaching without CAP_SYS_PTRACE");
        return EPERM;
    }
    /* Uid rule: the caller's real uid must match the target's real, effective
     * and saved uids (or the caller has CAP_SYS_PTRACE). */
    if (have && field_of(status, "Uid", v, sizeof v) == 0) {
        char *p = v, *end;
        unsigned long ids[3];
        int n = 0;
        for (; n < 3; n++) {
            ids[n] = strtoul(p, &end, 10);
            if (end == p)
                break;
            p = end;
        }
        if (n == 3 && (ids[0] != getuid() || ids[1] != getuid() || ids[2] != getuid()) &&
            geteuid() != 0) {
            pm_fail(0, "PID %d belongs to uid %lu; uid %u may not trace it "
                    "(needs CAP_SYS_PTRACE)", (int)pid, ids[1], (unsigned)getuid());
            return EPERM;
        }
    }
    if (yama == 1) {
        pm_fail(0, "Yama ptrace_scope=1 allows attaching only to descendants "
                "(or a target that called prctl(PR_SET_PTRACER))");
        return EPERM;
    }
    pm_fail(0, "the kernel refused to let us trace PID %d (not dumpable, "
            "an LSM, or a setuid program)", (int)pid);
    return EPERM;
}

void pm_diagnose_call(pid_t pid, const char *what, long err)
{
    char v[64];
    int e = (int)-err;
    if ((e == EPERM || e == EACCES || e == ENOSYS) &&
        status_field(pid, "Seccomp", v, sizeof v) == 0 && atoi(v) != 0) {
        char n[32] = "?";
        status_field(pid, "Seccomp_filters", n, sizeof n);
        pm_fail(0, "target's seccomp filter denied %s (%s; %s filter(s))",
                what, pm_strerror(e), n);
        return;
    }
    pm_fail(0, "%s in PID %d failed: %s", what, (int)pid, pm_strerror(e));
}
