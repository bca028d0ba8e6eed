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
#include <errno.h>
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

/* Remove the path space and whatever the servers left in it. */
static inline void ex_pathspace_remove(void)
{
    if (!ex_space[0])
        return;
    DIR *d = opendir(ex_space);
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
            unlinkat(dirfd(d), e->d_name, 0);
    if (d)
        closedir(d);
    rmdir(ex_space);
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

#endif
