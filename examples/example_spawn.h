/*
 * example_spawn.h - scaffolding shared by the example clients, not part of
 * what they show: a private path space, and starting and stopping their
 * servers, so that each client runs as one command (--spawn-server).
 *
 * A server started this way is told "-r FD" and writes one byte to FD once
 * its names are attached; we wait for that byte (10 s at most), never for a
 * fixed time.  It dies with us (PR_SET_PDEATHSIG) if we die first.
 */
#ifndef PEERMAP_EXAMPLE_SPAWN_H
#define PEERMAP_EXAMPLE_SPAWN_H

#include <dirent.h>
#include <grp.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sys/dispatch.h>
#include <sys/neutrino.h>

static char ex_space[64];

/* PEERMAP_PATHSPACE = a fresh 01777 directory: nothing else sees the
 * paths our servers attach.  0 or -1. */
static inline int ex_pathspace(const char *tag)
{
    snprintf(ex_space, sizeof ex_space, "/tmp/%s-XXXXXX", tag);
    if (!mkdtemp(ex_space) || chmod(ex_space, 01777) < 0 ||
        setenv("PEERMAP_PATHSPACE", ex_space, 1) < 0) {
        perror("path space");
        ex_space[0] = '\0';
        return -1;
    }
    return 0;
}

/* Remove `name` in dirfd and what is below it (the path space holds a
 * directory per user and one per attached path), never following links. */
static inline void ex_remove_tree(int at, const char *name, int depth)
{
    if (unlinkat(at, name, 0) == 0 || depth > 4)
        return;
    int fd = openat(at, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
            ex_remove_tree(dirfd(d), e->d_name, depth + 1);
    if (d)
        closedir(d);
    else if (fd >= 0)
        close(fd);
    unlinkat(at, name, AT_REMOVEDIR);
}

/* Remove the path space and whatever the servers left in it. */
static inline void ex_pathspace_remove(void)
{
    if (!ex_space[0])
        return;
    ex_remove_tree(AT_FDCWD, ex_space, 0);
    ex_space[0] = '\0';
}

/* The program `name` in this program's directory (argv0's when /proc is
 * not there). */
static inline void ex_sibling(const char *argv0, const char *name, char *buf, size_t n)
{
    char dir[PATH_MAX];
    ssize_t k = readlink("/proc/self/exe", dir, sizeof dir - 1);
    if (k < 0) {
        snprintf(dir, sizeof dir, "%s", argv0);
        k = (ssize_t)strlen(dir);
    }
    dir[k] = '\0';
    char *slash = strrchr(dir, '/');
    if (slash)
        slash[1] = '\0';
    else
        strcpy(dir, "./");
    snprintf(buf, n, "%s%s", dir, name);
}

/* Start prog with args (argv[0] first, NULL-terminated, at most 12) and
 * "-r FD"; wait for its ready byte.  Its pid, or -1 (a child that started
 * but never got ready is killed and reaped). */
static inline pid_t ex_spawn(const char *prog, const char *const *args)
{
    const char *argv[16];
    char fdbuf[16];
    int n = 0;
    while (args[n] && n < 12) {
        argv[n] = args[n];
        n++;
    }
    int ready[2];
    if (pipe(ready) < 0) {
        perror("pipe");
        return -1;
    }
    snprintf(fdbuf, sizeof fdbuf, "%d", ready[1]);
    argv[n++] = "-r";
    argv[n++] = fdbuf;
    argv[n] = NULL;
    pid_t pid = fork();
    if (pid < 0) {
        perror("fork");
        close(ready[0]);
        close(ready[1]);
        return -1;
    }
    if (pid == 0) {
        close(ready[0]);
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        execv(prog, (char *const *)argv);
        fprintf(stderr, "exec %s: %s\n", prog, strerror(errno));
        _exit(127);
    }
    close(ready[1]);
    struct pollfd p = { .fd = ready[0], .events = POLLIN };
    char ok = 0;
    int got = poll(&p, 1, 10000) == 1 && read(ready[0], &ok, 1) == 1;
    close(ready[0]);
    if (!got) {
        fprintf(stderr, "%s did not start\n", prog);
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        return -1;
    }
    return pid;
}

/* Wait for a server (after SIGTERM when `term`); 0 when it exited with
 * status 0.  A server that was not told to stop (term == 0) and does not
 * exit cleanly is a failure, and is killed. */
static inline int ex_reap(pid_t pid, int term)
{
    if (pid <= 0)
        return 0;
    int st = 0;
    if (term)
        kill(pid, SIGTERM);
    if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        printf("  FAILED: server %d did not exit cleanly (status %#x)\n", (int)pid, st);
        kill(pid, SIGKILL);
        return -1;
    }
    return 0;
}

/* Send `msg` (len bytes) to name `name` from a child running as uid and gid
 * 65534, as another local user would, to show a server refusing what only
 * its own user may ask.  The status the child's MsgSend() got (with *err its
 * errno), -3 if the child could not say, or -2 when we are not root (there
 * is no other user to become). */
static inline long ex_send_as_other_user(const char *name, const void *msg, size_t len,
                                         int *err)
{
    int p[2];
    long res[2] = { -3, 0 };
    if (geteuid() != 0)
        return -2;
    if (pipe(p) < 0)
        return -3;
    pid_t pid = fork();
    if (pid == 0) {
        close(p[0]);
        /* setre*id() with a real id set the saved one too; unlike
         * setres*id() they need no _GNU_SOURCE (QNX-style examples). */
        if (setgroups(0, NULL) == 0 && setregid(65534, 65534) == 0 &&
            setreuid(65534, 65534) == 0) {
            int coid = name_open(name, 0);
            res[0] = coid == -1 ? -1 : MsgSend(coid, msg, len, NULL, 0);
            res[1] = errno;
        }
        _exit(write(p[1], res, sizeof res) == sizeof res ? 0 : 1);
    }
    close(p[1]);
    struct pollfd pfd = { .fd = p[0], .events = POLLIN };
    if (pid > 0 && poll(&pfd, 1, 10000) == 1 && read(p[0], res, sizeof res) != sizeof res)
        res[0] = -3;
    close(p[0]);
    if (pid > 0) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
    }
    *err = (int)res[1];
    return res[0];
}

#endif
