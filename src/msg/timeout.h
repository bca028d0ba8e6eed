/* The thread's kernel timeout (timeout.c), for the calls that block. */
#ifndef PEERMAP_MSG_TIMEOUT_H
#define PEERMAP_MSG_TIMEOUT_H

#include <stdint.h>

/* Use up this thread's TimerTimeout(): the armed states among `states`
 * (0: none, wait for ever), and its deadline (pm_now_ns()).  The timeout
 * is cleared whatever it named. */
int pm_timeout_take(int states, int64_t *deadline);

#endif
