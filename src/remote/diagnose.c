/*
 * Turning a refusal into a reason a person can act on.  Only failure paths
 * come here, so reading /proc costs nothing on the fast path.
 */
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/internal.h"
#include "remote/tracee.h"

/* Value of "Key:" in /proc/pid/status, copied into out; 0 if found. */
static int status_field(pid_t pid, const char *key, char *out, size_t n)
{
    char path[64], line[256];
    size_t klen = strlen(key);
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "re");
    if (!f)
        return -1;
    int found = -1;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, key, klen) == 0 && line[klen] == ':') {
            char *v = line + klen + 1;
            v += strspn(v, " \t");
            v[strcspn(v, "\n")] = 0;
            snprintf(out, n, "%s", v);
            found = 0;
            break;
        }
    }
    fclose(f);
    return found;
}

static char stat_state(pid_t pid)
{
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "re");
    if (!f)
        return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *rp = strrchr(buf, ')');
    return rp && rp[1] == ' ' ? rp[2] : 0;
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
    snprintf(path, sizeof path, "/proc/%d/task", (int)pid);
    DIR *d = opendir(path);
    if (!d)
        return 0;
    pid_t found = 0;
    struct dirent *e;
    while (!found && (e = readdir(d))) {
        pid_t tid = (pid_t)atoi(e->d_name);
        if (tid <= 0 || tid == pid)
            continue;
        char tpath[96], buf[512];
        snprintf(tpath, sizeof tpath, "/proc/%d/task/%d/stat", (int)pid, (int)tid);
        FILE *f = fopen(tpath, "re");
        if (!f)
            continue;
        size_t n = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[n] = 0;
        char *rp = strrchr(buf, ')');
        if (rp && rp[1] == ' ' && rp[2] != 'Z' && rp[2] != 'X')
            found = tid;
    }
    closedir(d);
    return found;
}

static void comm_of(pid_t pid, char *out, size_t n)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/comm", (int)pid);
    out[0] = 0;
    FILE *f = fopen(path, "re");
    if (!f)
        return;
    if (fgets(out, (int)n, f))
        out[strcspn(out, "\n")] = 0;
    fclose(f);
}

static int yama_scope(void)
{
    FILE *f = fopen("/proc/sys/kernel/yama/ptrace_scope", "re");
    int v = -1;
    if (f) {
        if (fscanf(f, "%d", &v) != 1)
            v = -1;
        fclose(f);
    }
    return v;
}

int pm_diagnose_attach(pid_t pid, int err)
{
    char v[128];

    if (status_field(pid, "Tgid", v, sizeof v) == 0 && atoi(v) != pid) {
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
        pm_fail(0, "cannot attach to PID %d: %s", (int)pid, strerror(err));
        return err;
    }
    if (status_field(pid, "TracerPid", v, sizeof v) == 0 && atoi(v) != 0) {
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
    if (status_field(pid, "Uid", v, sizeof v) == 0) {
        unsigned r, e, s;
        if (sscanf(v, "%u %u %u", &r, &e, &s) == 3 &&
            (r != getuid() || e != getuid() || s != getuid()) && geteuid() != 0) {
            pm_fail(0, "PID %d belongs to uid %u; uid %u may not trace it "
                    "(needs CAP_SYS_PTRACE)", (int)pid, e, (unsigned)getuid());
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
                what, strerror(e), n);
        return;
    }
    pm_fail(0, "%s in PID %d failed: %s", what, (int)pid, strerror(e));
}
