/*
 * Events: a struct sigevent that a server (or a timer) delivers to a
 * process, as QNX's kernel does it - a pulse sent on the *client's*
 * connection sigev_coid, a signal raised in the client, a thread started in
 * the client.
 *
 * Linux has no kernel that could act inside the client, so the client's
 * own library does: every process that sends a message to another process
 * hands each server, once per connection, one end of a datagram socket
 * (PM_WIRE_EVSOCK) whose other end a library thread of its own reads (the
 * relay, event_relay.c).  MsgDeliverEvent() in the server writes the event
 * there; the relay checks who wrote it (the kernel says: SCM_CREDENTIALS)
 * and delivers it with the client's own rights.  A pulse so reaches
 * whatever channel the client's coid leads to - a private one included -
 * and never a channel the client itself could not reach; the server's
 * bytes are never trusted beyond what QNX trusts (see event_relay.c for
 * what an unregistered event may do).  Within one process there is no
 * relay: delivery is a function call.
 *
 * Files:
 *   event.c          MsgDeliverEvent(), MsgVerifyEvent(), local delivery
 *   event_wire.c     the relay's request: format and check (fuzzed)
 *   event_relay.c    the client side: endpoint, thread, who may deliver
 *   event_sock.c     the server side: the endpoints clients handed over
 *   event_register.c MsgRegisterEvent() & co. (QNX 7.1 secure events)
 */
#ifndef PEERMAP_MSG_EVENT_H
#define PEERMAP_MSG_EVENT_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "sys/neutrino.h"

/* The pulse codes the system and the library use (-32..-64): an event
 * from another process may not carry them (it could fake a disconnect, an
 * unblock or a dispatch_unblock()). */
#define PM_EVENT_SYSTEM_CODE(c) ((c) <= -32 && (c) >= -64)

/* Who an event comes from, for the checks and for siginfo. */
struct pm_event_origin {
    pid_t pid;      /* the delivering process (ourselves for timers) */
    uid_t uid;      /* its effective uid, from the kernel */
    pid_t tid;      /* SIGEV_SIGNAL_THREAD: the thread to signal, 0 none */
    int foreign;    /* delivered by another process */
    uint64_t key;   /* foreign: the very process that wrote the request
                     * (its process key, trust.h; never 0) */
};

/*
 * Is `ev` well formed?  0, or -1 with EINVAL and a reason.  Checked:
 * the type is one we deliver, a pulse code fits in 8 bits, a signal number
 * is a valid one, SIGEV_THREAD has a function.  Registered events (handle)
 * are not looked into.
 */
int pm_event_check(const struct sigevent *ev);

/* Deliver `ev` in this process (a pulse on sigev_coid, a signal to
 * ourselves, a thread...).  0, or -1 with errno and a reason. */
int pm_event_deliver(const struct sigevent *ev, const struct pm_event_origin *from);

/* ---- the relay's request (event_wire.c) ---- */

#define PM_EVREQ_MAGIC 0x31545645u /* "EVT1" */

struct pm_evreq {
    uint32_t magic;
    int32_t  notify;    /* sigev_notify: type and flags */
    int32_t  signo;     /* sigev_signo / sigev_coid / sigev_handle */
    int32_t  code;      /* sigev_code */
    int32_t  priority;  /* sigev_priority */
    int32_t  tid;       /* the client thread of the rcvid, for
                         * SIGEV_SIGNAL_THREAD (the relay signals it only
                         * within its own process) */
    int64_t  value;     /* sigev_value */
};

/* A request of `got` bytes as the relay received it: 0 when it is one,
 * -1 otherwise.  Pure (fuzzed). */
int pm_evreq_check(const void *buf, size_t got);

/* Event to request and back (no pointers travel: a SIGEV_THREAD event
 * from another process is honoured only when registered, from the
 * client's own copy). */
void pm_evreq_from_event(struct pm_evreq *r, const struct sigevent *ev, pid_t tid);
void pm_evreq_to_event(const struct pm_evreq *r, struct sigevent *ev);

/* ---- the client side (event_relay.c) ---- */

struct pm_cconn;
/* Before the first message on connection c (exchange lock held, socket
 * fd): hand the server our relay endpoint if it is another process's.
 * Failure is not an error for the message: events will fail instead. */
void pm_relay_offer(struct pm_cconn *c, int fd, int coid);

/* ---- the server side (event_sock.c) ---- */

struct pm_channel;
struct pm_sconn;
/* A client handed us its relay endpoint `fd` on connection c (channel
 * lock held); flags: PM_EVSOCK_*.  Takes fd. */
void pm_evsock_take(struct pm_sconn *c, int fd, int32_t flags);
/* Drop connection c's reference (channel lock held). */
void pm_evsock_release(struct pm_sconn *c);
/* Each of these takes the rcvid of a message of the client, which may
 * have been replied to: what must still exist is the connection it came
 * on - not a later client's in the same slot (pm_sconn_gen_ours()). */
/* Send request r to the relay of the client of rcvid.  0, or -1 with
 * ESRCH (no such client, or it has gone), EAGAIN (its relay is full),
 * EACCES (its connection takes registered events only, and r is not). */
int pm_evsock_send(rcvid_t rcvid, const struct pm_evreq *r);
/* SIGEV_PM_CONNECTION: a PM_WIRE_NOTIFY datagram (status = conds) on the
 * connection of rcvid, which makes it readable for the client's poll().
 * 0, or -1 with ESRCH (no such connection).  A full socket is not an
 * error: notifications it already holds wake the client. */
int pm_evsock_notify(rcvid_t rcvid, int conds);
/* The client of rcvid: its pid and (effective) uid from the kernel, and
 * the thread of its last message.  0, or -1 with ESRCH. */
int pm_evsock_client(rcvid_t rcvid, pid_t *pid, uid_t *uid, pid_t *tid);
/* MsgVerifyEvent() for the client of another process of rcvid: what this
 * side can know (it has a relay; its connection takes this kind of
 * event).  EOK, or -1 with errno. */
int pm_evsock_verify(rcvid_t rcvid, const struct sigevent *ev);

#define PM_EVSOCK_REG_EVENTS 0x1 /* the connection takes registered events only */
#define PM_EVSOCK_NOEVENT    0x2 /* the connection takes no events at all */

/* ---- registered events (event_register.c) ---- */

/* Deliver registered event `handle` for process `from` (value: the
 * server's sigev_value, used when the event is updateable).  0, or -1 with
 * ESRCH (no such handle) or EACCES (`from` may not deliver it). */
int pm_event_registered_deliver(unsigned handle, int64_t value,
                                const struct pm_event_origin *from);
/* Does registered event `handle` exist?  EOK, or -1 with ESRCH. */
int pm_event_registered_find(unsigned handle);

#endif
