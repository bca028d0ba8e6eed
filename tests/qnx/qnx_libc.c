/*
 * What QNX's C library headers declare that glibc's do not, used the way
 * QNX code uses it: EOK and ESRVRFAULT from <errno.h> alone, min()/max()
 * from <stdlib.h>, strlcpy()/strlcat() from <string.h>, fls() from
 * <strings.h>, uint_t and friends from <sys/types.h>, getpid() and gettid()
 * from <process.h>, and QNX's fixed-width names (_Uint32t) from
 * <inttypes.h>.  Each must compile with nothing else included, and
 * behave as QNX's C library reference describes.
 */
#include <errno.h>
#include <inttypes.h>
#include <process.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/types.h>

#include "qnx_check.h"

/* A QNX-style status routine: EOK or an errno value. */
static int check_name(const char *name)
{
    if (name == NULL)
        return EINVAL;
    if (strlen(name) > 15)
        return ENAMETOOLONG;
    return EOK;
}

static void errno_values(void)
{
    EXPECT_EQ(EOK, 0);
    EXPECT_EQ(check_name("sensor"), EOK);
    EXPECT_EQ(check_name(NULL), EINVAL);
    /* QNX-only numbers are distinct from every Linux error. */
    EXPECT_EQ(ESRVRFAULT, 312);
    EXPECT(ESRVRFAULT != EFAULT && ESRVRFAULT != EINVAL && EMORE != EAGAIN);
    EXPECT(ENOREMOTE > 133 && ESECTYPEINVAL > ENOREMOTE);
}

static void min_max(void)
{
    int a = 3, b = 7;
    EXPECT_EQ(min(a, b), 3);
    EXPECT_EQ(max(a, b), 7);
    EXPECT_EQ(min(-2, 5), -2);
    EXPECT_EQ(max(2.5, 1.0) == 2.5, 1);
    EXPECT_EQ(__min(10u, 4u), 4);
    EXPECT_EQ(__max('a', 'z'), 'z');
    /* Both are macros, as QNX documents: usable in a constant expression. */
    char buf[max(4, 16)];
    EXPECT_EQ(sizeof buf, 16);
}

static void bounded_strings(void)
{
    char buf[8];

    /* strlcpy() always terminates and returns strlen(src). */
    EXPECT_EQ(strlcpy(buf, "abc", sizeof buf), 3);
    EXPECT(strcmp(buf, "abc") == 0);
    EXPECT_EQ(strlcpy(buf, "truncated!", sizeof buf), 10);
    EXPECT(strcmp(buf, "truncat") == 0);
    EXPECT_EQ(strlcpy(buf, "", sizeof buf), 0);
    EXPECT_EQ(buf[0], '\0');
    buf[0] = 'x';
    EXPECT_EQ(strlcpy(buf, "abc", 0), 3);   /* size 0: nothing written */
    EXPECT_EQ(buf[0], 'x');

    /* strlcat() appends, terminates, and returns the length it tried for. */
    strlcpy(buf, "ab", sizeof buf);
    EXPECT_EQ(strlcat(buf, "cd", sizeof buf), 4);
    EXPECT(strcmp(buf, "abcd") == 0);
    EXPECT_EQ(strlcat(buf, "efghij", sizeof buf), 10);
    EXPECT(strcmp(buf, "abcdefg") == 0);
    /* The usual truncation test. */
    EXPECT(strlcat(buf, "more", sizeof buf) >= sizeof buf);
    EXPECT(strcmp(buf, "abcdefg") == 0);
}

static void last_bit(void)
{
    EXPECT_EQ(fls(0), 0);
    EXPECT_EQ(fls(1), 1);
    EXPECT_EQ(fls(0x10), 5);
    EXPECT_EQ(fls(0x7fffffff), 31);
    EXPECT_EQ(fls((int)0x80000000u), 32);
    EXPECT_EQ(fls(-1), 32);
}

static void types(void)
{
    uint_t u = 40000u;
    int_t i = -5;
    uchar_t c = 200;
    ushort_t s = 60000;
    ulong_t l = 1ul << 40;
    paddr_t pa = (paddr_t)1 << 36;   /* physical addresses are 64 bits */
    _Uint32t w = 0xffffffffu;
    _Int16t h = -1;
    EXPECT_EQ(u, 40000);
    EXPECT_EQ(i, -5);
    EXPECT_EQ(c, 200);
    EXPECT_EQ(s, 60000);
    EXPECT_EQ(l >> 40, 1);
    EXPECT_EQ(pa >> 36, 1);
    EXPECT_EQ(sizeof(paddr_t), 8);
    EXPECT_EQ(w + 1u, 0);
    EXPECT_EQ(h, -1);
    EXPECT_EQ(sizeof(uint_t), sizeof(unsigned));
}

static void process_ids(void)
{
    pid_t me = getpid();
    EXPECT(me > 0);
    EXPECT(getppid() > 0);
    /* The main thread's ID is the process ID. */
    EXPECT_EQ(gettid(), me);
}

int main(void)
{
    errno_values();
    min_max();
    bounded_strings();
    last_bit();
    types();
    process_ids();
    return qnx_result("qnx_libc");
}
