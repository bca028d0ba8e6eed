/*
 * The tracer thread.
 *
 * Every ptrace request for a tracee must come from the thread that attached
 * it, and the kernel detaches a tracee cleanly (pending interrupt withdrawn,
 * nothing touched) only when that thread exits.  So the library traces from a
 * thread of its own: when a target cannot be stopped before the deadline,
 * that thread exits and the target is left exactly as it was; a new one
 * takes over.  The thread blocks every signal.  It starts when the library
 * is loaded (and in each fork() child), because a call made in a signal
 * handler cannot start a thread; PEERMAP_TRACER=ondemand defers it to the
 * first call that needs it.
 */
#ifndef PEERMAP_WORKER_H
#define PEERMAP_WORKER_H

#include "remote/tracee.h"

/* Run fn(arg) on the tracer thread and return its result; errno and the
 * failure reason come back to the calling thread.  Async-signal-safe
 * (unless PEERMAP_TRACER=ondemand and no tracer thread runs yet): a call
 * from a handler queues behind the one its thread was waiting for.
 * ETIMEDOUT when the thread did not take the job within the deadline,
 * EAGAIN when no tracer thread could be started. */
int pm_worker_run(int (*fn)(void *), void *arg);

/* Start a tracer thread if none serves (not from a signal handler): 0, or
 * -1 with EAGAIN and a reason. */
int pm_worker_ensure(void);

/* The current tracer thread's generation: sessions opened under an older one
 * have lost their tracee. */
unsigned pm_worker_generation(void);

/* For fn: pm_tracee_attach() that does not take this library's own hold
 * for someone else's.  A target that a retired tracer thread of ours still
 * holds (it never stopped, and that thread's exit has not released it yet),
 * or in which this thread finishes a call abandoned after a timeout, is
 * waited for until the call's deadline (then ETIMEDOUT), never refused with
 * EPERM. */
int pm_worker_attach(struct pm_tracee *t, pid_t pid);

/* For fn: give up on t without leaving it in a bad state.
 *  - A system call inside t did not finish in time: the tracer thread keeps t
 *    and finishes it in the background (waits for the call to end, undoes a
 *    mapping it made, t->undo_len, restores and detaches).
 *  - t is stuck (seized, never stopped again): this tracer thread retires.
 *    New calls go to a new one; this one stays only as long as it still has
 *    calls to finish, detaches t if it stops meanwhile, and its exit makes
 *    the kernel release t untouched. */
void pm_worker_adopt(const struct pm_tracee *t);

#endif
