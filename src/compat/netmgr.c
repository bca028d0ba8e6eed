/*
 * netmgr_*(): QNX's node descriptors, on a system with one node.
 *
 * QNX's Qnet makes other machines' processes reachable by a node
 * descriptor; peermap has no Qnet.  The calls answer as QNX's do when Qnet
 * is not running: the local node (ND_LOCAL_NODE) is the only node, it is
 * named by this machine's host name, and anything else is ENOTSUP.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <qnx/sys/netmgr.h>

#include "common/internal.h"

/* This machine's name, split at the first dot into node and domain. */
static int host_name(char *buf, size_t size, size_t *node_len)
{
    if (gethostname(buf, size) < 0)
        return -1;
    buf[size - 1] = '\0';
    char *dot = strchr(buf, '.');
    *node_len = dot ? (size_t)(dot - buf) : strlen(buf);
    return 0;
}

PM_EXPORT int netmgr_ndtostr(unsigned flags, int nd, char *buf, size_t maxbuf)
{
    char host[256], out[300];
    size_t node_len;
    pm_begin();
    if (ND_NODE_CMP(nd, ND_LOCAL_NODE) != 0)
        return pm_fail(ENOTSUP, "node descriptor %d: there is no Qnet, only the "
                       "local node (0)", nd);
    if (!buf && maxbuf)
        return pm_fail(EFAULT, "no buffer");
    if (host_name(host, sizeof host, &node_len) < 0)
        return pm_fail(errno, "gethostname: %m");

    /* Without Qnet QNX names the local node's root "/"; otherwise the node
     * name, with the domain only when asked (ND2S_LOCAL_STR: the shortest
     * form, which is the default here anyway), and the default QoS only
     * when asked. */
    int n;
    if (flags & ND2S_DIR_SHOW)
        n = snprintf(out, sizeof out, "/");
    else if (flags & ND2S_NAME_HIDE)
        n = 0, out[0] = '\0';
    else if ((flags & ND2S_DOMAIN_SHOW) && host[node_len])
        n = snprintf(out, sizeof out, "%s", host);
    else
        n = snprintf(out, sizeof out, "%.*s", (int)node_len, host);
    if (flags & ND2S_QOS_SHOW)
        n += snprintf(out + n, sizeof out - (size_t)n, "~loadbalance");
    if (maxbuf) {
        size_t c = (size_t)n < maxbuf - 1 ? (size_t)n : maxbuf - 1;
        memcpy(buf, out, c);
        buf[c] = '\0';
    }
    return n;
}

PM_EXPORT int netmgr_strtond(const char *nodename, char **endstr)
{
    char host[256];
    size_t node_len;
    pm_begin();
    if (!nodename)
        return pm_fail(EFAULT, "no node name");
    const char *p = nodename;
    if (strncmp(p, "/net/", 5) == 0)
        p += 5;
    size_t len = strcspn(p, "/~");
    const char *end = p + len;
    if (*end == '~')
        end += strcspn(end, "/");
    if (host_name(host, sizeof host, &node_len) < 0)
        return pm_fail(errno, "gethostname: %m");
    /* The local node by its name (with or without its domain). */
    int local = (len == node_len && strncmp(p, host, len) == 0) ||
                (len == strlen(host) && strncmp(p, host, len) == 0);
    if (!local)
        return pm_fail(ENOTSUP, "node \"%.*s\": there is no Qnet, only the local "
                       "node (%s)", (int)len, p, host);
    if (endstr)
        *endstr = (char *)end;
    return (int)ND_LOCAL_NODE;
}

PM_EXPORT int netmgr_remote_nd(int remote_nd, int local_nd)
{
    pm_begin();
    if (ND_NODE_CMP(remote_nd, ND_LOCAL_NODE) != 0 || ND_NODE_CMP(local_nd, ND_LOCAL_NODE) != 0)
        return pm_fail(ENOTSUP, "there is no Qnet: only the local node (0) exists");
    return (int)ND_LOCAL_NODE;
}
