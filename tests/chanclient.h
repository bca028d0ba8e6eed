/*
 * A target that is a client of one of the test's channels: the test says
 * which channel (its process and chid) on the target's pipe, the child
 * connects to it through the library and goes on with its own commands.
 */
#ifndef PEERMAP_TEST_CHANCLIENT_H
#define PEERMAP_TEST_CHANCLIENT_H

#include <sys/types.h>

#include "helpers.h"

/* The test's side: start body(in, out, arg) and tell it channel chid of
 * process pid.  0, or -1. */
int chanclient_start(struct target *t, int (*body)(int in, int out, void *arg), void *arg,
                     pid_t pid, int chid);

/* chanclient_start(), then wait (10 s at most) for the one byte the child
 * writes once it is connected: that byte, or -1. */
int chanclient_start_ready(struct target *t, int (*body)(int in, int out, void *arg),
                           void *arg, pid_t pid, int chid);

/* The child's side: read which channel from `in` and ConnectAttach() to
 * it (an ordinary connection, not a side channel): the coid, or -1. */
int chanclient_attach(int in);

#endif
