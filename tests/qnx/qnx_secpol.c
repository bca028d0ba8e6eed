/*
 * A QNX 8 resource manager's start-up, as QNX 8's guide writes it:
 * secpol_resmgr_attach() instead of resmgr_attach(), and
 * secpol_transition_type() to drop privileges once set up.  With no
 * security policy (always, on Linux) the path is attached with exactly the
 * permissions the manager's attribute gives, *perms_set says nothing was
 * changed, and the transition fails so that the manager drops privileges by
 * its own means.  A client then opens the path and sees those permissions.
 */
#include <errno.h>
#include <pthread.h>
#include <secpol/secpol.h>
#include <stdbool.h>
#include <sys/dispatch.h>
#include <sys/iofunc.h>
#include <sys/stat.h>

#include <peermap.h>   /* pm_open() & co.: the client side */

#include "qnx_check.h"

#define PATH "/dev/secpol-sample"

static resmgr_connect_funcs_t connect_funcs;
static resmgr_io_funcs_t io_funcs;
static iofunc_attr_t attr;

static void *serve(void *arg)
{
    dispatch_context_t *ctp = dispatch_context_alloc(arg);
    while (ctp && (ctp = dispatch_block(ctp)) != NULL)
        dispatch_handler(ctp);
    return NULL;
}

int main(void)
{
    alarm(30);

    /* No policy file exists to open. */
    EXPECT(secpol_open(NULL, 0) == NULL);
    EXPECT_EQ(errno, ENOTSUP);

    dispatch_t *dpp = dispatch_create();
    EXPECT(dpp != NULL);
    iofunc_func_init(_RESMGR_CONNECT_NFUNCS, &connect_funcs, _RESMGR_IO_NFUNCS, &io_funcs);
    iofunc_attr_init(&attr, S_IFCHR | 0640, NULL, NULL);

    bool perms_set = true;
    int id = secpol_resmgr_attach(NULL, dpp, NULL, PATH, _FTYPE_ANY, 0, &connect_funcs,
                                  &io_funcs, &attr, &perms_set);
    EXPECT(id != -1);
    EXPECT(!perms_set);
    EXPECT_EQ(attr.mode, S_IFCHR | 0640);          /* untouched */

    /* A path is required, as QNX documents. */
    EXPECT_EQ(secpol_resmgr_attach(NULL, dpp, NULL, NULL, _FTYPE_ANY, 0, &connect_funcs,
                                   &io_funcs, &attr, NULL), -1);
    EXPECT_EQ(errno, EINVAL);

    /* Set up: try to move to the policy's "run" type; without a policy
     * that fails and the manager keeps its own way of dropping privileges. */
    EXPECT_EQ(secpol_transition_type(NULL, NULL, 0), -1);
    EXPECT_EQ(errno, ENOTSUP);

    pthread_t t;
    pthread_create(&t, NULL, serve, dpp);

    /* A client sees the permissions the manager gave. */
    int fd = pm_open(PATH, O_RDONLY);
    EXPECT(fd >= 0);
    struct stat st;
    EXPECT_EQ(pm_fstat(fd, &st), 0);
    EXPECT_EQ(st.st_mode, S_IFCHR | 0640);
    pm_close(fd);

    return qnx_result("qnx_secpol");
}
