/*
 * Shared-memory handles: what the files of src/shm/ share.
 *
 * Creator side (server.c): every outstanding handle is one slot holding
 * the object (the creator's descriptor, duplicated), the
 * recipient (a pidfd taken when the handle was made, so a later holder of
 * the same pid number is someone else), and a listening SOCK_SEQPACKET
 * socket in the abstract namespace whose name is derived from the handle by
 * SHA-256.  One library thread, started with the first handle, accepts on
 * all of them, proves who connected from the kernel (SO_PEERPIDFD), and
 * answers the recipient alone.
 *
 * Recipient side (redeem.c): derive the name from the handle, connect,
 * send the request with a fresh nonce, and accept the answer only if it
 * carries proof that the server knows the handle (an impostor that bound
 * the name after the creator died cannot compute it).
 */
#ifndef PEERMAP_SHM_H
#define PEERMAP_SHM_H

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "sys/shm_handle.h"

/* --- SHA-256 (sha256.c) ------------------------------------------------ */

struct pm_sha256 {
    uint32_t h[8];
    uint64_t len;        /* bytes hashed so far */
    uint8_t buf[64];
    size_t nbuf;
};

void pm_sha256_init(struct pm_sha256 *c);
void pm_sha256_update(struct pm_sha256 *c, const void *data, size_t n);
void pm_sha256_final(struct pm_sha256 *c, uint8_t out[32]);

/* --- the redemption protocol (wire.c) ----------------------------------- */

/* Outstanding handles one process may have made and not yet seen redeemed
 * or deleted.  Each holds two descriptors (the object, the listener). */
#define PM_SHM_MAX_HANDLES 128

#define PM_SHM_MAGIC   0x6d687370u /* "pshm" */
#define PM_SHM_VERSION 1

enum pm_shm_op {
    PM_SHM_OP_OPEN = 1,   /* a descriptor (shm_open_handle) */
    PM_SHM_OP_MAP = 2,    /* a descriptor to map and close (mmap_handle) */
    PM_SHM_OP_DELETE = 3, /* forget the handle (shm_delete_handle) */
};

struct pm_shm_req {
    uint32_t magic;
    uint16_t version;
    uint16_t op;
    uint32_t access;      /* O_RDONLY, O_WRONLY or O_RDWR asked for */
    uint32_t zero;
    uint8_t nonce[16];    /* fresh per request: the proof must cover it */
};

/* Reply flags */
#define PM_SHM_REPLY_REVOCABLE 0x1u /* map it MADV_DONTFORK (QNX: MAP_NOINHERIT) */

struct pm_shm_reply {
    uint32_t magic;
    int32_t err;          /* 0, or the errno for the caller */
    uint32_t flags;
    uint32_t zero;
    uint8_t proof[32];    /* pm_shm_proof() over everything above */
};

/* The abstract socket name for a handle (without the leading NUL):
 * "peermap-shm-" and 32 hex digits of SHA-256("name", handle).  Anyone can
 * list abstract names (/proc/net/unix); the hash gives them nothing that
 * lets them redeem, and cannot be turned back into the handle. */
#define PM_SHM_NAME_LEN (12 + 32)
void pm_shm_name(shm_handle_t h, char out[PM_SHM_NAME_LEN + 1]);

/* The proof in a reply: SHA-256 over the handle, the request's nonce and
 * the reply's other fields. */
void pm_shm_proof(shm_handle_t h, const struct pm_shm_req *rq,
                  const struct pm_shm_reply *rp, uint8_t out[32]);

/* The creator's judge of a request: 0 when buf (n bytes, as received)
 * is a well-formed request, copied to *out; -1 otherwise. */
int pm_shm_req_parse(const void *buf, ssize_t n, struct pm_shm_req *out);

/* The recipient's judge of an answer to *rq for handle h: 0 when buf is a
 * well-formed answer carrying the proof, copied to *out; -1 otherwise. */
int pm_shm_reply_parse(shm_handle_t h, const struct pm_shm_req *rq, const void *buf,
                       ssize_t n, struct pm_shm_reply *out);

/* Constant-time comparison: 1 when equal. */
int pm_shm_equal(const uint8_t *a, const uint8_t *b, size_t n);

/* --- the creator's side (server.c) -------------------------------------- */

struct pm_shm_grant {
    int objfd;            /* the object (the creator's descriptor, duplicated) */
    pid_t pid;            /* the recipient */
    int pidfd;            /* ...that very process */
    int access;           /* O_RDONLY, O_WRONLY or O_RDWR */
    unsigned options;     /* SHM_CREATE_HANDLE_OPT_* */
    uint32_t reply_flags; /* PM_SHM_REPLY_* */
    dev_t dev;            /* the object's identity, for shm_revoke() */
    ino_t ino;
};

/* Register a grant under a fresh handle and start serving it.  Takes
 * ownership of g->objfd and g->pidfd (closed on failure too).  0 with
 * *h set, or -1 with errno (EAGAIN: too many outstanding handles). */
int pm_shm_serve(struct pm_shm_grant *g, shm_handle_t *h);

/* Forget a handle this process made: 0, or -1 with ESRCH. */
int pm_shm_forget(shm_handle_t h);

/* Forget every handle to object (dev, ino) made for `pid` (-1: anyone).
 * The number forgotten. */
int pm_shm_forget_object(dev_t dev, ino_t ino, pid_t pid);

/* --- the recipient's side (redeem.c) ------------------------------------ */

/* Ask the creator of `h` for `op` with `access`.  OPEN/MAP: the
 * descriptor (close-on-exec) with *reply_flags set; DELETE: 0.  -1 with
 * errno: ESRCH for anything that says "no handle for you" (unknown, spent,
 * deleted, creator gone, someone else's, a forged answer), or the errno the
 * creator answered (EACCES, EMFILE...), or ETIMEDOUT. */
int pm_shm_redeem(shm_handle_t h, int op, int access, uint32_t *reply_flags);

/* --- objects and their shm_ctl() attributes (registry.c) ---------------- */

/* What this process knows about a shared memory object. */
struct pm_shm_object {
    dev_t dev;
    ino_t ino;
    int flags;            /* SHMCTL_* applied so far */
    int created_here;     /* created by this process (peermap_shm_open) */
    pid_t creator;        /* getpid() at creation/marking: a forked child is
                             not the creator */
};

/* Look up (dev, ino): 0 with *out filled, or -1 (not known). */
int pm_shm_object_get(dev_t dev, ino_t ino, struct pm_shm_object *out);

/* Add `flags` to (dev, ino)'s entry (made if needed, with created_here as
 * given for a new one).  0, or -1 with ENOMEM when the table is full of
 * objects this process still holds. */
int pm_shm_object_mark(dev_t dev, ino_t ino, int flags, int created_here);

/* --- object checks (object.c) ------------------------------------------- */

/* Is fd a shared memory object (memfd, tmpfs or hugetlbfs file)?  1 with
 * *st filled, 0 (some other file), -1 with errno (EBADF...). */
int pm_shm_is_object(int fd, struct stat *st);

/* Is fd a memfd?  1 or 0. */
int pm_shm_is_memfd(int fd);

/* Reopen fd (through /proc/self/fd) with `access` | O_CLOEXEC: a new open
 * file description, sharing nothing but the object.  Descriptor or -1. */
int pm_shm_reopen(int fd, int access);

/* --- recipients (recipient.c) ------------------------------------------ */

/* Make sure process `pid` cannot turn a read-only grant of the object
 * behind objfd into write access: 0, or -1 with EACCES. */
int pm_shm_keep_read_only(int objfd, pid_t pid);

#endif
