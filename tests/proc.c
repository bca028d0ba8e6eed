/*
 * What the tests read of another process in /proc: how many descriptors it
 * holds, and the numeric fields of its stat line.
 */
#include "helpers.h"
#include "trust/trust.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int count_fds(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/fd", (int)pid);
    DIR *d = opendir(path);
    if (!d)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

int proc_stat_field(pid_t pid, int field, unsigned long long *v)
{
    char buf[1024];
    if (field < 4) {
        errno = EINVAL;
        return -1;
    }
    if (pm_proc_read(pid, "stat", buf, sizeof buf) <= 0)
        return -1;
    /* The command name (field 2) may hold spaces and parentheses: count
     * from the last ')'.  The space after it precedes field 3. */
    char *p = strrchr(buf, ')');
    for (int i = 3; p && i <= field; i++)
        p = strchr(p + 1, ' ');
    if (!p)
        return -1;
    char *end;
    errno = 0;
    *v = strtoull(p + 1, &end, 10);
    return end == p + 1 || errno ? -1 : 0;
}

unsigned long long proc_start_time(pid_t pid)
{
    unsigned long long v;
    return proc_stat_field(pid, 22, &v) == 0 ? v : 0;
}
