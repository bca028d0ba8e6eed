/*
 * <sys/siginfo.h> - QNX's events (struct sigevent) on glibc.
 *
 * QNX extends struct sigevent with a connection (sigev_coid), a pulse code
 * (sigev_code) and a priority (sigev_priority), has notification types
 * POSIX lacks (pulses, unblock timeouts, ...), keeps flags in the upper bits
 * of sigev_notify, and offers SIGEV_*_INIT() macros to fill an event.
 * glibc's struct sigevent is used as it is (the C library, the kernel and
 * every Linux program agree on its layout); QNX's members are names for
 * parts of it that the QNX types leave unused:
 *
 *   sigev_notify    the type in the low 8 bits (SIGEV_TYPE_MASK), QNX's
 *                   SIGEV_FLAG_* above it; Linux's SIGEV_NONE, SIGEV_SIGNAL,
 *                   SIGEV_THREAD and SIGEV_THREAD_ID keep Linux's values,
 *                   the QNX-only types take values Linux does not use
 *   sigev_coid      = sigev_signo (on QNX too they share storage: an event
 *                   carries a signal number or a connection, never both)
 *   sigev_value     glibc's, a union sigval
 *   sigev_code      = _sigev_un._pad[0], an int (a short on QNX)
 *   sigev_priority  = _sigev_un._pad[1], an int (a short on QNX)
 *   _pad[2], _pad[3]  reserved for the library: SIGEV_PULSE_INIT() records
 *                   there the process and channel the connection leads to
 *                   (recorded, not needed: delivery reads only the members
 *                   above - the client's library sends the pulse on
 *                   sigev_coid itself - so an event filled member by
 *                   member is delivered the same)
 *
 * sigev_notify_function and sigev_notify_attributes (SIGEV_THREAD) are
 * glibc's and overlap code and priority, as they overlap on QNX.  Events
 * with QNX-only types or flags mean nothing to glibc's own calls
 * (timer_create(), mq_notify(), ...): peermap's calls read them.  See
 * peermap-porting(7), "Events".
 */
#ifndef PEERMAP_SYS_SIGINFO_H
#define PEERMAP_SYS_SIGINFO_H

#include <signal.h>
#include <stdint.h>

#if !defined(__GLIBC__)
#error "peermap's <sys/siginfo.h> names parts of glibc's struct sigevent"
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* ---- the type and the flags in sigev_notify ---- */

#define SIGEV_TYPE_MASK 0x000000ff

/* QNX-only types (SIGEV_NONE, SIGEV_SIGNAL and SIGEV_THREAD are glibc's). */
#define SIGEV_SIGNAL_CODE   0x21 /* a signal with a code and value */
#define SIGEV_SIGNAL_THREAD 0x22 /* a signal to the thread that armed the event */
#define SIGEV_PULSE         0x23 /* a pulse to sigev_coid */
#define SIGEV_UNBLOCK       0x24 /* end a kernel timeout (TimerTimeout()) */
#define SIGEV_INTR          0x25 /* interrupt events: no such thing on Linux */

#define SIGEV_FLAG_CRITICAL        0x00000100
#define SIGEV_FLAG_OVERDRIVE       0x00000200
#define SIGEV_FLAG_UPDATEABLE      0x00000400 /* the server may change the value */
#define SIGEV_FLAG_SIVAL_INT       0x00000800
#define SIGEV_FLAG_NOQUEUE         0x00001000
#define SIGEV_FLAG_HANDLE          0x00002000
#define SIGEV_FLAG_CODE_UPDATEABLE 0x00004000

/* Read and change the type without touching the flags. */
#define SIGEV_GET_TYPE(e) ((int)((unsigned)(e)->sigev_notify & SIGEV_TYPE_MASK))
#define SIGEV_SET_TYPE(e, t) \
    ((e)->sigev_notify = (int)(((unsigned)(e)->sigev_notify & ~(unsigned)SIGEV_TYPE_MASK) | \
                               ((unsigned)(t) & SIGEV_TYPE_MASK)))

#define SIGEV_MAKE_CRITICAL(e)    ((e)->sigev_notify |= SIGEV_FLAG_CRITICAL)
#define SIGEV_CLEAR_CRITICAL(e)   ((e)->sigev_notify &= ~SIGEV_FLAG_CRITICAL)
#define SIGEV_MAKE_OVERDRIVE(e)   ((e)->sigev_notify |= SIGEV_FLAG_OVERDRIVE)
#define SIGEV_CLEAR_OVERDRIVE(e)  ((e)->sigev_notify &= ~SIGEV_FLAG_OVERDRIVE)
#define SIGEV_MAKE_UPDATEABLE(e)  ((e)->sigev_notify |= SIGEV_FLAG_UPDATEABLE)
#define SIGEV_CLEAR_UPDATEABLE(e) ((e)->sigev_notify &= ~SIGEV_FLAG_UPDATEABLE)
#define SIGEV_MAKE_NOQUEUE(e)     ((e)->sigev_notify |= SIGEV_FLAG_NOQUEUE)
#define SIGEV_CLEAR_NOQUEUE(e)    ((e)->sigev_notify &= ~SIGEV_FLAG_NOQUEUE)

/* ---- QNX's members ---- */

#define sigev_coid     sigev_signo
#define sigev_code     _sigev_un._pad[0]
#define sigev_priority _sigev_un._pad[1]

/* A pulse's priority meaning "the receiving process's own". */
#define SIGEV_PULSE_PRIO_INHERIT (-1)

/* ---- filling an event ---- */

/* Fills every field of a pulse event and records where connection `coid`
 * leads (libpeermap; SIGEV_PULSE_INIT() calls it). */
void _pm_sigev_pulse_init(struct sigevent *e, int coid, int priority, int code, int value);

#define SIGEV_NONE_INIT(e) ((e)->sigev_notify = SIGEV_NONE)

#define SIGEV_SIGNAL_INIT(e, signo) \
    ((e)->sigev_notify = SIGEV_SIGNAL, (e)->sigev_signo = (signo))
#define SIGEV_SIGNAL_VALUE_INIT(e, signo, val) \
    (SIGEV_SIGNAL_INIT(e, signo), (e)->sigev_value.sival_ptr = (void *)(uintptr_t)(val))
#define SIGEV_SIGNAL_VALUE_PTR_INIT(e, signo, val) SIGEV_SIGNAL_VALUE_INIT(e, signo, val)
#define SIGEV_SIGNAL_VALUE_INT_INIT(e, signo, val) \
    (SIGEV_SIGNAL_INIT(e, signo), (e)->sigev_value.sival_ptr = 0, \
     (e)->sigev_value.sival_int = (int)(val))

#define SIGEV_SIGNAL_CODE_INIT(e, signo, val, code) \
    ((e)->sigev_notify = SIGEV_SIGNAL_CODE, (e)->sigev_signo = (signo), \
     (e)->sigev_value.sival_ptr = (void *)(uintptr_t)(val), (e)->sigev_code = (code))
#define SIGEV_SIGNAL_CODE_PTR_INIT(e, signo, val, code) SIGEV_SIGNAL_CODE_INIT(e, signo, val, code)
#define SIGEV_SIGNAL_CODE_INT_INIT(e, signo, val, code) \
    (SIGEV_SIGNAL_CODE_INIT(e, signo, 0, code), (e)->sigev_value.sival_int = (int)(val))

#define SIGEV_SIGNAL_THREAD_INIT(e, signo, val, code) \
    ((e)->sigev_notify = SIGEV_SIGNAL_THREAD, (e)->sigev_signo = (signo), \
     (e)->sigev_value.sival_ptr = (void *)(uintptr_t)(val), (e)->sigev_code = (code))

/* The value is stored whole (sival_ptr), as QNX's 64-bit SIGEV_PULSE_INIT
 * does; _INT_ stores an int (the upper half of the union stays 0). */
#define SIGEV_PULSE_INIT(e, coid, prio, code, val) \
    (_pm_sigev_pulse_init((e), (coid), (prio), (code), 0), \
     (e)->sigev_value.sival_ptr = (void *)(uintptr_t)(val))
#define SIGEV_PULSE_PTR_INIT(e, coid, prio, code, val) SIGEV_PULSE_INIT(e, coid, prio, code, val)
#define SIGEV_PULSE_INT_INIT(e, coid, prio, code, val) \
    _pm_sigev_pulse_init((e), (coid), (prio), (code), (int)(val))

#define SIGEV_UNBLOCK_INIT(e) ((e)->sigev_notify = SIGEV_UNBLOCK)
#define SIGEV_INTR_INIT(e)    ((e)->sigev_notify = SIGEV_INTR)

#define SIGEV_THREAD_INIT(e, fn, val, attr) \
    ((e)->sigev_notify = SIGEV_THREAD, (e)->sigev_notify_function = (fn), \
     (e)->sigev_value.sival_ptr = (void *)(uintptr_t)(val), \
     (e)->sigev_notify_attributes = (attr))

#ifdef __cplusplus
}
#endif

#endif
