/*
 * <sys/neutrino.h> as QNX code sees it: peermap's, plus the headers QNX's
 * includes - <limits.h> (CHAR_BIT, PATH_MAX, ...), <time.h> and <sched.h>
 * (<signal.h> and <sys/types.h> peermap's includes itself).
 *
 * It also makes <fcntl.h> (O_*), <unistd.h> (STDOUT_FILENO, close(), ...)
 * and <string.h> (strerror(), memcpy(), ...) visible: QNX servers and
 * resource managers use these with nothing but QNX's message-passing and
 * resource-manager headers included, and every one of those includes this
 * header.  None of them changes the meaning of anything.
 */
#pragma GCC system_header  /* #include_next is a GNU extension: no -pedantic warning */
#include_next <sys/neutrino.h>

#ifndef PEERMAP_QNX_SYS_NEUTRINO_H
#define PEERMAP_QNX_SYS_NEUTRINO_H
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#endif
