/*
 * <atomic.h> as QNX's C library reference describes it: the atomic_*()
 * operations change an unsigned int shared by threads - or by processes,
 * "that aren't necessarily in the same process" - without a mutex, and the
 * *_value() forms return the previous value.
 */
#include <atomic.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "qnx_check.h"

#define THREADS 4
#define ROUNDS  100000

static volatile unsigned count;
static volatile unsigned flags;
static volatile unsigned ticket;
static unsigned seen[THREADS * ROUNDS / 100];

static void *worker(void *arg)
{
    unsigned bit = 1u << (unsigned)(size_t)arg;
    for (int i = 0; i < ROUNDS; i++) {
        atomic_add(&count, 3);
        atomic_sub(&count, 1);
        atomic_set(&flags, bit);
        atomic_clr(&flags, bit);
        atomic_set(&flags, bit);
        if (i % 100 == 0) {
            /* Every thread draws distinct tickets. */
            unsigned t = atomic_add_value(&ticket, 1);
            if (t < sizeof seen / sizeof seen[0])
                atomic_add(&seen[t], 1);
        }
    }
    return NULL;
}

static void threads(void)
{
    pthread_t t[THREADS];
    for (size_t i = 0; i < THREADS; i++)
        pthread_create(&t[i], NULL, worker, (void *)i);
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    EXPECT_EQ(count, 2u * THREADS * ROUNDS);
    EXPECT_EQ(flags, (1u << THREADS) - 1);
    EXPECT_EQ(ticket, THREADS * ROUNDS / 100);
    for (unsigned i = 0; i < sizeof seen / sizeof seen[0]; i++)
        if (seen[i] != 1) {
            EXPECT_EQ(seen[i], 1);
            break;
        }
}

static void values(void)
{
    volatile unsigned v = 10;
    EXPECT_EQ(atomic_add_value(&v, 5), 10);
    EXPECT_EQ(v, 15);
    EXPECT_EQ(atomic_sub_value(&v, 20), 15);
    EXPECT_EQ(v, (unsigned)-5);         /* unsigned arithmetic wraps */
    v = 0x0f;
    EXPECT_EQ(atomic_set_value(&v, 0xf0), 0x0f);
    EXPECT_EQ(v, 0xff);
    EXPECT_EQ(atomic_clr_value(&v, 0x3c), 0xff);
    EXPECT_EQ(v, 0xc3);
    EXPECT_EQ(atomic_toggle_value(&v, 0x81), 0xc3);
    EXPECT_EQ(v, 0x42);
    atomic_toggle(&v, 0x42);
    EXPECT_EQ(v, 0);
}

/* Two processes on one shared counter. */
static void processes(void)
{
    volatile unsigned *shared = mmap(NULL, sizeof *shared, PROT_READ | PROT_WRITE,
                                     MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    EXPECT(shared != MAP_FAILED);
    if (shared == MAP_FAILED)
        return;
    *shared = 0;
    pid_t child = fork();
    if (child == 0) {
        for (int i = 0; i < ROUNDS; i++)
            atomic_add(shared, 1);
        _exit(0);
    }
    for (int i = 0; i < ROUNDS; i++)
        atomic_add(shared, 1);
    int status;
    EXPECT_EQ(waitpid(child, &status, 0), child);
    EXPECT_EQ(*shared, 2u * ROUNDS);
    munmap((void *)shared, sizeof *shared);
}

int main(void)
{
    values();
    threads();
    processes();
    return qnx_result("qnx_atomic");
}
