/*
 * Node descriptors as QNX code handles them (<sys/netmgr.h>): the local
 * node's name, a node name turned into a descriptor and used with
 * ConnectAttach(), ND_NODE_CMP().  With no Qnet, every other node is
 * ENOTSUP, as on a QNX node where Qnet is not running.
 */
#include <errno.h>
#include <string.h>
#include <sys/neutrino.h>
#include <sys/netmgr.h>
#include <unistd.h>

#include "qnx_check.h"

int main(void)
{
    char host[256], buf[256], path[300];
    gethostname(host, sizeof host);
    host[strcspn(host, ".")] = '\0';      /* the node name without a domain */

    /* Our own node's name. */
    int len = netmgr_ndtostr(ND2S_LOCAL_STR, ND_LOCAL_NODE, buf, sizeof buf);
    EXPECT_EQ(len, strlen(buf));
    EXPECT(strcmp(buf, host) == 0);
    EXPECT_EQ(netmgr_ndtostr(ND2S_DIR_SHOW, ND_LOCAL_NODE, buf, sizeof buf), 1);
    EXPECT(strcmp(buf, "/") == 0);
    EXPECT_EQ(netmgr_ndtostr(0, ND_LOCAL_NODE, buf, 2), (int)strlen(host));
    EXPECT_EQ(strlen(buf), 1);            /* cut to the buffer, terminated */

    /* ...and back, from the simple and the directory forms. */
    char *end;
    int nd = netmgr_strtond(host, &end);
    EXPECT_EQ(nd, ND_LOCAL_NODE);
    EXPECT_EQ(*end, '\0');
    snprintf(path, sizeof path, "/net/%s/dev/ser1", host);
    nd = netmgr_strtond(path, &end);
    EXPECT_EQ(nd, ND_LOCAL_NODE);
    EXPECT(nd == -1 || strcmp(end, "/dev/ser1") == 0);
    EXPECT_EQ(ND_NODE_CMP(nd, ND_LOCAL_NODE), 0);
    EXPECT_EQ(netmgr_remote_nd(ND_LOCAL_NODE, ND_LOCAL_NODE), ND_LOCAL_NODE);

    /* A descriptor from netmgr_strtond() is one ConnectAttach() takes. */
    int chid = ChannelCreate(0);
    int coid = ConnectAttach((uint32_t)nd, 0, chid, _NTO_SIDE_CHANNEL, 0);
    EXPECT(coid != -1);
    EXPECT_EQ(MsgSendPulse(coid, -1, 1, 2), 0);
    ConnectDetach(coid);
    ChannelDestroy(chid);

    /* No other node exists. */
    EXPECT_EQ(netmgr_strtond("no-such-node.example", NULL), -1);
    EXPECT_EQ(errno, ENOTSUP);
    EXPECT_EQ(netmgr_ndtostr(0, 5, buf, sizeof buf), -1);
    EXPECT_EQ(errno, ENOTSUP);
    EXPECT_EQ(netmgr_remote_nd(3, ND_LOCAL_NODE), -1);
    EXPECT_EQ(errno, ENOTSUP);

    return qnx_result("qnx_netmgr");
}
