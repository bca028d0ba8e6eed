/*
 * union sigval with QNX's sival_long member.
 *
 * QNX's union sigval has a `long sival_long` beside sival_int and
 * sival_ptr (a pulse's value is read as msg.pulse.value.sival_long, and an
 * unblock pulse carries a whole rcvid there).  glibc's union has only the
 * two POSIX members, and a union cannot be extended from outside, so this
 * file takes the place of glibc's own <bits/types/__sigval_t.h> for
 * programs built with the compatibility layer (it comes first on the
 * include path, and glibc's <signal.h> includes it by that name).
 *
 * Nothing changes for Linux code: the POSIX members keep their names,
 * types and order (sival_int first, so `union sigval v = { 5 }` still sets
 * sival_int), and a long is no larger and no more aligned than a pointer on
 * any Linux ABI, so the union keeps glibc's size, alignment and calling
 * convention and passes unchanged to and from glibc (sigqueue(), timers,
 * si_value).  tests/qnx/qnx_sigval.c checks this against a file compiled
 * without the layer.  The guard is glibc's, so whichever definition comes
 * first is the only one.
 */
#ifndef ____sigval_t_defined
#define ____sigval_t_defined

#ifdef __USE_POSIX199309
union sigval
{
  int sival_int;
  void *sival_ptr;
  long sival_long;      /* QNX */
};

typedef union sigval __sigval_t;
#else
/* Strict ISO C without POSIX: glibc's reserved-name form, unchanged. */
union __sigval
{
  int __sival_int;
  void *__sival_ptr;
};

typedef union __sigval __sigval_t;
#endif

#endif
