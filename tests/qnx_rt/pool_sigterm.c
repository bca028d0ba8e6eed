/*
 * A multi-threaded resource manager written as QNX's guide shows it: main()
 * attaches its path, creates a thread pool and ends in thread_pool_start()
 * with POOL_FLAG_EXIT_SELF.  Its own threads are then the pool's, and
 * SIGTERM or Ctrl-C (SIGINT) must end it with the default action, as on
 * QNX - not leave it running until SIGKILL.
 */
#include <fcntl.h>
#include <sys/dispatch.h>
#include <sys/iofunc.h>

#include <peermap.h>

#include "qnx_run.h"

static resmgr_connect_funcs_t connect_funcs;
static resmgr_io_funcs_t io_funcs;
static iofunc_attr_t attr;
static int ready[2];

static int manager(void *arg)
{
    (void)arg;
    dispatch_t *dpp = dispatch_create();
    if (!dpp)
        return 10;
    iofunc_func_init(_RESMGR_CONNECT_NFUNCS, &connect_funcs, _RESMGR_IO_NFUNCS, &io_funcs);
    iofunc_attr_init(&attr, S_IFNAM | 0666, 0, 0);
    resmgr_attr_t resmgr_attr;
    memset(&resmgr_attr, 0, sizeof resmgr_attr);
    resmgr_attr.nparts_max = 1;
    resmgr_attr.msg_max_size = 2048;
    if (resmgr_attach(dpp, &resmgr_attr, "/dev/qnx_pool", _FTYPE_ANY, 0, &connect_funcs,
                      &io_funcs, &attr) == -1)
        return 11;
    thread_pool_attr_t pool_attr;
    memset(&pool_attr, 0, sizeof pool_attr);
    pool_attr.handle = dpp;
    pool_attr.context_alloc = dispatch_context_alloc;
    pool_attr.block_func = dispatch_block;
    pool_attr.unblock_func = dispatch_unblock;
    pool_attr.handler_func = dispatch_handler;
    pool_attr.context_free = dispatch_context_free;
    pool_attr.lo_water = 2;
    pool_attr.hi_water = 4;
    pool_attr.increment = 1;
    pool_attr.maximum = 50;
    thread_pool_t *tpp = thread_pool_create(&pool_attr, POOL_FLAG_EXIT_SELF);
    if (!tpp)
        return 12;
    close(ready[0]);
    if (write(ready[1], "r", 1) != 1)
        return 13;
    thread_pool_start(tpp); /* main's thread ends here */
    return 14;
}

static void one(int sig, const char *name)
{
    if (pipe(ready) < 0)
        exit(2);
    pid_t m = qr_fork(manager, NULL);
    close(ready[1]);
    char c;
    QR_EXPECT(read(ready[0], &c, 1) == 1, "the manager is ready");
    close(ready[0]);
    /* It serves: an open and a close. */
    int fd = pm_open("/dev/qnx_pool", O_RDONLY);
    QR_EXPECT(fd != -1, "pm_open");
    if (fd != -1)
        pm_close(fd);
    kill(m, sig);
    int st = qr_wait(m, 10000);
    QR_EXPECT(st != -1 && WIFSIGNALED(st) && WTERMSIG(st) == sig,
              "%s ends the manager by its default action (status %#x)", name, st);
}

int main(void)
{
    qr_pathspace();
    one(SIGTERM, "SIGTERM");
    one(SIGINT, "SIGINT");
    return qr_verdict("pool_sigterm");
}
