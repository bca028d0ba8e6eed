/*
 * In-band mmap_peer(): a server maps into (or unmaps from) a client that is
 * reply-blocked on it, by asking the client's library to do it (QNX's
 * recommended ALLOC_BUFFER pattern; no ptrace needed).
 *
 * The exchange, for a connection whose client waits in MsgSend():
 *   1. The server rings: a PM_WIRE_INBAND datagram on the connection (seq =
 *      the pending message, status = the request's id), the request in its
 *      header (not in a body: that would land in the client's reply
 *      buffer), with the object's descriptor for an fd-backed mapping - the
 *      object, never a path - and the first time the client's end of the
 *      connection's in-band socket (a socketpair) for the answers.
 *   2. The thread waiting for the reply reads the request, checks it (its
 *      own pid, its pending message, a map or an unmap and nothing else,
 *      flags it knows, in time, from a server it would let ptrace it),
 *      does it, and answers on the in-band socket; then waits on.
 *   3. The server waits for the answer with the call's deadline.
 * The answers are checked as well: a client can fail a request, never make
 * the server believe something impossible.
 */
#ifndef PEERMAP_MSG_INBAND_H
#define PEERMAP_MSG_INBAND_H

#include <stdint.h>
#include <sys/types.h>

#include "msg/wire.h"

#define PM_INBAND_REQ 0x49425131u  /* "IBQ1" */

#define PM_INBAND_ANS 0x49424131u  /* "IBA1" */

enum pm_inband_op { PM_INBAND_MAP = 1, PM_INBAND_UNMAP = 2 };

struct pm_inband_req {
    uint32_t magic;
    uint32_t id;        /* answers echo it */
    uint32_t seq;       /* the client's pending message */
    int32_t op;         /* pm_inband_op */
    int32_t pid;        /* the process the server means */
    int32_t prot;       /* Linux PROT_* */
    int32_t flags;      /* Linux MAP_* */
    int32_t has_fd;     /* an object travels with the request */
    uint64_t addr, len;
    int64_t off;
    int64_t deadline_ns; /* CLOCK_MONOTONIC: too late after this */
};

_Static_assert(sizeof(struct pm_inband_req) <= PM_WIRE_INBAND_MAX,
               "an in-band request must fit in a doorbell");

/* Why a client did not do it (err == 0 when it did). */
enum pm_inband_refusal {
    PM_INBAND_DONE = 0,
    PM_INBAND_REFUSED_POLICY = 1,   /* in-band off, or the server's uid */
    PM_INBAND_REFUSED_STALE = 2,    /* not our pending message, too late */
    PM_INBAND_REFUSED_PID = 3,      /* meant for another process (fork) */
    PM_INBAND_REFUSED_BAD = 4,      /* an operation or flag it does not do */
    /* Never on the wire: the caller's own thread holds the way in (a signal
     * handler's call, while the call it interrupted uses that connection or
     * holds its channel's lock). */
    PM_INBAND_REFUSED_SELF = 100,
};

struct pm_inband_ans {
    uint32_t magic;
    uint32_t id;
    int32_t err;        /* errno of the client's mmap/munmap, 0 on success */
    int32_t refused;    /* pm_inband_refusal */
    uint64_t addr;      /* the mapping's address in the client */
};

/* Server side (inband_server.c).  Returns 0 with *out set; -1 with errno
 * (the client's mmap errno, ESRCH if it died, ETIMEDOUT); or 1 when the
 * in-band route is not open: `pid` is not reply-blocked on any channel of
 * this process, or the client refused (then *refused says why). */
int pm_inband_call(pid_t pid, const struct pm_inband_req *rq, int objfd,
                   int64_t deadline_ns, uint64_t *out, int *refused);

/* Client side policy (peermap_inband_accept()). */
int pm_inband_accepting(void);

/*
 * Taking a request (inband_do.c), wherever it arrives:
 *   pm_inband_check_op()  the request's own shape: for process `self`, in
 *                         time, a map (known flags and protections, an
 *                         object exactly when not anonymous, aligned) or an
 *                         unmap.  PM_INBAND_DONE or the refusal.  Pure but
 *                         for the page size: fuzzed.
 *   pm_inband_recv_req()  read one request and the object that came with
 *                         it (*objfd, or -1): 1, 0 when none is queued, -1
 *                         when what came is no request (answer it BAD).
 *   pm_inband_do()        do it unless a->refused, answer on `sock`, and
 *                         undo a mapping whose answer cannot be delivered.
 */
int pm_inband_check_op(const struct pm_inband_req *rq, int has_obj, pid_t self,
                       int64_t now_ns);
int pm_inband_recv_req(int sock, struct pm_inband_req *rq, int *objfd);
void pm_inband_do(int sock, const struct pm_inband_req *rq, int objfd,
                  struct pm_inband_ans *a);

/* Is `a` a believable answer to `rq` (inband_do.c)?  Fuzzed. */
int pm_inband_answer_sane(const struct pm_inband_req *rq, const struct pm_inband_ans *a);

#endif
