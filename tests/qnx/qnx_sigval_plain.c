/*
 * Compiled WITHOUT the compatibility layer, as any Linux code (glibc
 * included) is: what glibc's own union sigval looks like, and functions
 * that take and return it by value.  qnx_sigval.c, built with the layer,
 * checks that its union sigval (with sival_long) is the same thing.
 */
#include <signal.h>
#include <stddef.h>

size_t plain_sigval_size(void);
size_t plain_sigval_align(void);
size_t plain_sigevent_size(void);
size_t plain_sigevent_value_offset(void);
size_t plain_siginfo_value_offset(void);
union sigval plain_echo(union sigval v);
void *plain_ptr_of(union sigval v);
int plain_int_of(union sigval v);

size_t plain_sigval_size(void) { return sizeof(union sigval); }
size_t plain_sigval_align(void) { return _Alignof(union sigval); }
size_t plain_sigevent_size(void) { return sizeof(struct sigevent); }
size_t plain_sigevent_value_offset(void) { return offsetof(struct sigevent, sigev_value); }
size_t plain_siginfo_value_offset(void) { return offsetof(siginfo_t, si_value); }
union sigval plain_echo(union sigval v) { return v; }
void *plain_ptr_of(union sigval v) { return v.sival_ptr; }
int plain_int_of(union sigval v) { return v.sival_int; }
