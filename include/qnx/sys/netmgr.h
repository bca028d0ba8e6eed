/*
 * <sys/netmgr.h> - QNX's node descriptors (Qnet, QNX's network of nodes).
 *
 * peermap has no Qnet: the local node is the only one, ND_LOCAL_NODE (0),
 * and the calls answer as QNX's do on a node where Qnet is not running -
 * ENOTSUP for anything but the local node - while still naming the local
 * node (netmgr_ndtostr(3)).
 */
#ifndef PEERMAP_QNX_SYS_NETMGR_H
#define PEERMAP_QNX_SYS_NETMGR_H

#include <stddef.h>
#include <sys/neutrino.h> /* ND_LOCAL_NODE */

#ifndef ND_LOCAL_NODE
#define ND_LOCAL_NODE 0u
#endif
#define ND_NODE_BITS 16
#define ND_NODE_MASK ((1 << ND_NODE_BITS) - 1)
/* 0 when a and b are the same node. */
#define ND_NODE_CMP(a, b) (((int)(a) & ND_NODE_MASK) - ((int)(b) & ND_NODE_MASK))

/* netmgr_ndtostr() flags: which parts of /net/node.domain~qos to give. */
#define ND2S_DIR_SHOW    0x0001
#define ND2S_DIR_HIDE    0x0002
#define ND2S_QOS_SHOW    0x0004
#define ND2S_QOS_HIDE    0x0008
#define ND2S_NAME_SHOW   0x0010
#define ND2S_NAME_HIDE   0x0020
#define ND2S_DOMAIN_SHOW 0x0040
#define ND2S_DOMAIN_HIDE 0x0080
#define ND2S_LOCAL_STR   0x1000
#define ND2S_SEP_FORCE   0x2000

#ifdef __cplusplus
extern "C" {
#endif

int netmgr_ndtostr(unsigned flags, int nd, char *buf, size_t maxbuf);
int netmgr_strtond(const char *nodename, char **endstr);
int netmgr_remote_nd(int remote_nd, int local_nd);

#ifdef __cplusplus
}
#endif

#endif
