/*
 * <atomic.h> - QNX's atomic operations on an unsigned int.
 *
 * Each is one indivisible read-modify-write of *loc, safe between threads
 * and between processes sharing the memory, and a full barrier (sequential
 * consistency), made with the compiler's __atomic builtins: a lock-prefixed
 * instruction on x86, an exclusive or LSE sequence on arm64.  The *_value()
 * forms return what *loc held before the operation; the others return
 * nothing.  As on QNX, `loc` must point at ordinary cached memory.
 *
 * Unlike QNX's they cannot be used from an interrupt handler: there are no
 * interrupt handlers in a Linux process.  They are safe in signal handlers.
 */
#ifndef PEERMAP_QNX_ATOMIC_H
#define PEERMAP_QNX_ATOMIC_H

#define PM_ATOMIC_RMW_(name, builtin)                                        \
    static inline void name(volatile unsigned *loc, unsigned v)              \
    {                                                                        \
        (void)builtin(loc, v, __ATOMIC_SEQ_CST);                             \
    }                                                                        \
    static inline unsigned name##_value(volatile unsigned *loc, unsigned v)  \
    {                                                                        \
        return builtin(loc, v, __ATOMIC_SEQ_CST);                            \
    }

/* *loc += incr */
PM_ATOMIC_RMW_(atomic_add, __atomic_fetch_add)
/* *loc -= decr */
PM_ATOMIC_RMW_(atomic_sub, __atomic_fetch_sub)
/* *loc |= bits */
PM_ATOMIC_RMW_(atomic_set, __atomic_fetch_or)
/* *loc &= ~bits */
static inline void atomic_clr(volatile unsigned *loc, unsigned bits)
{
    (void)__atomic_fetch_and(loc, ~bits, __ATOMIC_SEQ_CST);
}
static inline unsigned atomic_clr_value(volatile unsigned *loc, unsigned bits)
{
    return __atomic_fetch_and(loc, ~bits, __ATOMIC_SEQ_CST);
}
/* *loc ^= bits */
PM_ATOMIC_RMW_(atomic_toggle, __atomic_fetch_xor)

#undef PM_ATOMIC_RMW_

#endif
