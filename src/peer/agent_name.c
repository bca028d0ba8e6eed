/*
 * Where an agent listens, and how a caller finds it when another process
 * holds the usual name (agent.h).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/internal.h"
#include "peer/agent.h"

socklen_t pm_agent_addr(pid_t pid, const char *token, struct sockaddr_un *sa)
{
    memset(sa, 0, sizeof *sa);
    sa->sun_family = AF_UNIX;
    /* sun_path[0] = 0: abstract, no file, gone with the socket. */
    int k = token ? pm_fmt(sa->sun_path + 1, sizeof sa->sun_path - 1,
                           "peermap.agent.%d.%s", (int)pid, token)
                  : pm_fmt(sa->sun_path + 1, sizeof sa->sun_path - 1,
                           "peermap.agent.%d", (int)pid);
    return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)k);
}

static const char b64url[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

int pm_agent_new_token(char token[PM_AGENT_TOKEN_LEN + 1])
{
    unsigned char r[9]; /* 72 bits, 66 of them used */
    size_t got = 0;
    while (got < sizeof r) {
        ssize_t n = getrandom(r + got, sizeof r - got, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        got += (size_t)n;
    }
    uint64_t bits = 0;
    memcpy(&bits, r, 8);
    for (int i = 0; i < PM_AGENT_TOKEN_LEN; i++) {
        unsigned v = i < 10 ? (unsigned)(bits >> (6 * i)) & 63 : r[8] & 63;
        token[i] = b64url[v];
    }
    token[PM_AGENT_TOKEN_LEN] = 0;
    return 0;
}

int pm_agent_token_of(const char *comm, size_t n, char token[PM_AGENT_TOKEN_LEN + 1])
{
    size_t pl = sizeof PM_AGENT_TOKEN_PREFIX - 1;
    /* "pma." + 11 characters of the alphabet, then the end (a newline from
     * /proc, or nothing). */
    if (n < pl + PM_AGENT_TOKEN_LEN || memcmp(comm, PM_AGENT_TOKEN_PREFIX, pl) != 0)
        return 0;
    for (size_t i = 0; i < PM_AGENT_TOKEN_LEN; i++) {
        char c = comm[pl + i];
        if (!c || !memchr(b64url, c, sizeof b64url - 1))
            return 0;
    }
    size_t end = pl + PM_AGENT_TOKEN_LEN;
    if (n > end && !(n == end + 1 && (comm[end] == '\n' || comm[end] == 0)))
        return 0;
    memcpy(token, comm + pl, PM_AGENT_TOKEN_LEN);
    token[PM_AGENT_TOKEN_LEN] = 0;
    return 1;
}

int pm_agent_find_token(pid_t pid, char token[PM_AGENT_TOKEN_LEN + 1], int64_t deadline_ns)
{
    char path[64];
    pm_fmt(path, sizeof path, "/proc/%d/task", (int)pid);
    /* getdents64() into a buffer on the stack rather than opendir(): no
     * allocation on mmap_peer()'s path. */
    int dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) {
        /* Hidden (hidepid) or gone: kill(0) tells which. */
        if (kill(pid, 0) == 0 || errno == EPERM)
            errno = EACCES;
        else
            errno = ESRCH;
        return -1;
    }
    union { struct dirent64 align; char b[4096]; } buf;
    int found = 0, n = 0;
    long got;
    /* A target may run thousands of threads: the deadline bounds the look. */
    while (!found && (got = syscall(SYS_getdents64, dfd, buf.b, sizeof buf.b)) > 0) {
        for (long off = 0; !found && off < got;) {
            struct dirent64 *e = (struct dirent64 *)(buf.b + off);
            off += e->d_reclen;
            if (e->d_name[0] == '.')
                continue;
            if (++n % 64 == 0 && pm_now_ns() > deadline_ns) {
                close(dfd);
                errno = ETIMEDOUT;
                return -1;
            }
            char cpath[48], comm[32];
            pm_fmt(cpath, sizeof cpath, "%.32s/comm", e->d_name); /* a tid */
            int fd = openat(dfd, cpath, O_RDONLY | O_CLOEXEC);
            if (fd < 0)
                continue; /* that thread has just exited */
            ssize_t r = read(fd, comm, sizeof comm);
            close(fd);
            if (r > 0 && pm_agent_token_of(comm, (size_t)r, token))
                found = 1;
        }
    }
    close(dfd);
    return found;
}
