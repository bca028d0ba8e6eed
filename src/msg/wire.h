/*
 * What travels on a connection's socket (AF_UNIX, SOCK_SEQPACKET: message
 * boundaries kept, peer credentials from the kernel).
 *
 * Every datagram starts with a fixed header.  A message body of up to
 * PM_WIRE_INLINE_MAX bytes follows the header in the same datagram; a larger
 * one travels in a memfd passed with SCM_RIGHTS (bodyfile.h: the sender
 * writes it through a mapping, the receiver maps it too, or pread()s it),
 * starting `body_off` bytes into the file, so several MiB cost one exchange.
 * The sender picks that offset so that the copies at both ends avoid the
 * slow band of copy.h: a message's at its own buffer's offset in a page, a
 * reply's at the offset in a page of the client's reply buffer, which the
 * message tells (`reply_at`).  Nothing in a header is trusted:
 * pm_wire_check_*() compare every length with what actually arrived.
 */
#ifndef PEERMAP_MSG_WIRE_H
#define PEERMAP_MSG_WIRE_H

#include <stddef.h>
#include <stdint.h>

#define PM_WIRE_INLINE_MAX (64 * 1024)
/* A body in a file starts within its first page: body_off < this. */
#define PM_WIRE_BODY_OFF_MAX 4096

enum pm_wire_kind {
    PM_WIRE_MSG = 0x4d534731,     /* "MSG1": a message; a reply is awaited */
    PM_WIRE_PULSE = 0x50554c31,   /* "PUL1": a pulse; no reply */
    PM_WIRE_UNBLOCK = 0x554e4231, /* "UNB1": the sender of seq wants out */
    PM_WIRE_REPLY = 0x52504c31,   /* "RPL1": the reply to seq */
    PM_WIRE_ERROR = 0x45525231,   /* "ERR1": MsgError() for seq */
    PM_WIRE_REPLY_FD = 0x52504631, /* "RPF1": a reply (body inline) that
                                    * hands over a descriptor (an object,
                                    * e.g. a shared memory object) */
    PM_WIRE_HELLO = 0x48454c31,   /* "HEL1": sent on accept; status = the
                                   * channel's flags (the client needs
                                   * _NTO_CHF_UNBLOCK when signalled) */
    PM_WIRE_REFUSED = 0x52454631, /* "REF1": sent instead of the hello when
                                   * the server will not take the
                                   * connection (its user's share, or the
                                   * process's descriptors, are used up);
                                   * status = the errno for the client
                                   * (EAGAIN); then the server hangs up */
    PM_WIRE_MEMMGR = 0x4d4d4731,  /* "MMG1" (client to server, first on a
                                   * connection): this is the memory
                                   * manager's connection (memmgr/) */
    PM_WIRE_EVSOCK = 0x45565331,  /* "EVS1" (client to server, before its
                                   * first message on a connection): one
                                   * descriptor, the client's event relay
                                   * (msg/event.h); code = PM_EVSOCK_* */
    PM_WIRE_NOTIFY = 0x4e544631,  /* "NTF1" (server to client, at any
                                   * time): a notification armed with
                                   * SIGEV_PM_CONNECTION fired; status =
                                   * its _NOTIFY_COND_* bits.  No body.
                                   * Makes the connection readable (poll()),
                                   * and is skipped by the next MsgSend() */
    PM_WIRE_DELEGATE = 0x444c4731, /* "DLG1" (client to server, first on a
                                   * connection): this connection speaks for
                                   * the caller in the body (struct
                                   * pm_wire_delegate); honoured only from
                                   * root or the server's own user
                                   * (msg/delegate.c) */
    PM_WIRE_INBAND = 0x494e4231,  /* "INB1" (server to a reply-blocked
                                   * client): a map/unmap request (inband.h)
                                   * in the header's `inband` bytes; seq =
                                   * the pending message, status = the
                                   * request's id | PM_WIRE_INBAND_* flags;
                                   * no body; descriptors: the client's end
                                   * of the in-band socket, then the object
                                   * to map, each if its flag says so */
};
#define PM_WIRE_INBAND_MAX 64            /* the room for a request */
#define PM_WIRE_INBAND_SIDE (1ll << 32)  /* brings the in-band socket */
#define PM_WIRE_INBAND_OBJ  (1ll << 33)  /* brings the object to map */

/* Client to server. */
struct pm_wire_send {
    uint32_t kind;
    uint32_t seq;      /* per connection; the reply echoes it */
    int32_t coid;      /* the client's connection id, for _msg_info */
    int32_t tid;       /* the sending thread, for _msg_info */
    uint64_t srclen;   /* bytes in the message */
    uint64_t dstlen;   /* bytes the client can take back */
    int32_t code;      /* pulse code: -128..127 (it is 8 bits in a
                          * struct _pulse), anything else is refused */
    int32_t priority;
    int64_t value;     /* pulse value */
    uint32_t body_off; /* a body in a memfd starts here (< PM_WIRE_BODY_OFF_MAX;
                        * 0 for an inline body) */
    uint32_t reply_at; /* the client's reply buffer's offset in its page (a
                        * hint for where a reply in a file should start;
                        * any value < 4096) */
};

/* The body of PM_WIRE_DELEGATE: the caller a connection speaks for, as
 * the kernel told the sender (e.g. a FUSE request's ids and the caller's
 * /proc/PID/status).  Fixed size; ngroups <= PM_WIRE_DELEGATE_GROUPS. */
#define PM_WIRE_DELEGATE_VERSION 1
#define PM_WIRE_DELEGATE_GROUPS 64
struct pm_wire_delegate {
    uint32_t version;
    int32_t pid;
    uint32_t ruid, euid, suid;
    uint32_t rgid, egid, sgid;
    uint32_t ngroups;
    uint32_t groups[PM_WIRE_DELEGATE_GROUPS];
};

/* Server to client.  The in-band request travels in the header, not in
 * the body: a body lands in the client's reply buffer, which only the
 * reply may write.  (64 bytes more per reply: a few ns.) */
struct pm_wire_reply {
    uint32_t kind;
    uint32_t seq;
    int64_t status;    /* MsgReply()'s status, or the errno of MsgError() */
    uint64_t len;      /* bytes of reply data */
    unsigned char inband[PM_WIRE_INBAND_MAX]; /* PM_WIRE_INBAND's request */
    uint32_t body_off; /* a body in a memfd starts here, as in a message */
    uint32_t pad;      /* 0 */
};

/*
 * Validate a received datagram of `got` bytes (header included), with
 * `has_fd` the number of descriptors that came with it (at most one, but
 * for PM_WIRE_INBAND, which may bring two, as its flags say).  For a body carried in a memfd,
 * `fd_size` is that file's size: it must hold body_off + the length.
 * Returns 0 when the header is consistent with what arrived, -1 otherwise
 * (the peer is misbehaving).
 */
int pm_wire_check_send(const struct pm_wire_send *h, size_t got, int has_fd,
                       uint64_t fd_size);
int pm_wire_check_reply(const struct pm_wire_reply *h, size_t got, int has_fd,
                        uint64_t fd_size);

#endif
