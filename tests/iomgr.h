/*
 * A resource manager for the tests of the FUSE export and of delegated
 * connections, built with the iofunc layer as a QNX manager would be, run
 * in a forked child.  Each resource it attaches is one of:
 *
 *   IOM_FILE   a regular file (S_IFREG) of up to IOM_FILE_MAX bytes:
 *              read/write at the open's offset or at _IO_XTYPE_OFFSET's,
 *              lseek, stat, chmod/chown (iofunc defaults), truncation by
 *              O_TRUNC
 *   IOM_DEV    the same data as a character device (S_IFCHR)
 *   IOM_STALL  a device whose read tells the test it has begun (a byte on
 *              the manager's pipe to the test), then waits for a byte from
 *              the test before answering "released"
 *   IOM_STALL_STAT  a device whose stat (a look-up through the export)
 *              tells the test it has begun and waits for the test's byte,
 *              as IOM_STALL's read does
 *   IOM_OVERCLAIM  the data of IOM_DEV, but a read's status claims
 *              every byte asked for while its reply carries only the
 *              first half of them (a manager that lies about its count)
 *   IOM_DIR    a directory manager (_RESMGR_FLAG_DIR) whose _IO_READ on
 *              the directory lists "alpha" and "beta" as QNX's struct
 *              dirent stream; both are regular files below it, opened by
 *              name; O_CREAT of any other name is refused (EROFS)
 *
 * Every resource answers IOM_DCMD_WHO with who the manager thinks is
 * asking: ConnectClientInfo() of the connection, and the sender's pid as
 * MsgInfo() has it.  Files start with IOM_FILL_LEN bytes of
 * iom_fill_byte(offset).
 */
#ifndef PEERMAP_TEST_IOMGR_H
#define PEERMAP_TEST_IOMGR_H

#include <stdint.h>
#include <sys/types.h>

#include <devctl.h>

struct target;  /* helpers.h */

enum iom_kind { IOM_FILE = 1, IOM_DEV, IOM_STALL, IOM_DIR, IOM_OVERCLAIM, IOM_STALL_STAT };

struct iom_res {
    const char *path;
    enum iom_kind kind;
    mode_t mode;           /* permission bits */
    uid_t uid;             /* owner of the resource */
    gid_t gid;
};

struct iom_who {
    int32_t pid;           /* ConnectClientInfo() */
    uint32_t ruid, euid, egid, ngroups;
    int32_t msg_pid;       /* MsgInfo() of the devctl itself */
};
#define IOM_DCMD_WHO __DIOF(_DCMD_MISC, 0x40, struct iom_who)

#define IOM_FILE_MAX (2u << 20)
#define IOM_FILL_LEN (1u << 20)
static inline unsigned char iom_fill_byte(uint64_t off)
{
    return (unsigned char)((off * 7 + 3) ^ (off >> 11));
}

/* Start a manager for n resources, run as run_uid/run_gid (0: stay root).
 * Returns 0 once every path is attached; the manager's stall pipe is
 * t->from_child (a byte per read that begins stalling), the release pipe
 * t->to_child (a byte releases one).  iom_stop() ends it with SIGTERM:
 * 0 when it was still serving until then, else its wait status. */
int iom_start(struct target *t, const struct iom_res *res, int n, uid_t run_uid, gid_t run_gid);
int iom_stop(struct target *t);

#endif
