#include "chanclient.h"

#include <sys/neutrino.h>

struct chan_at {
    pid_t pid;
    int chid;
};

int chanclient_start(struct target *t, int (*body)(int in, int out, void *arg), void *arg,
                     pid_t pid, int chid)
{
    struct chan_at at = { pid, chid };
    if (target_start(t, body, arg) < 0)
        return -1;
    return target_write(t, &at, sizeof at);
}

int chanclient_start_ready(struct target *t, int (*body)(int in, int out, void *arg),
                           void *arg, pid_t pid, int chid)
{
    unsigned char r;
    if (chanclient_start(t, body, arg, pid, chid) < 0)
        return -1;
    return target_read(t, &r, 1, 10000) == 0 ? r : -1;
}

int chanclient_attach(int in)
{
    struct chan_at at;
    if (child_read_full(in, &at, sizeof at) < 0)
        return -1;
    return ConnectAttach(ND_LOCAL_NODE, at.pid, at.chid, 0, 0);
}
