/*
 * The FUSE export's reads (resmgr/client.h: pm_read_view(),
 * pm_read_at_view()): a large answer left in the manager's memory file,
 * whose mapping stays the reader's until it gives it back, whatever else
 * goes over the connection meanwhile; a count never more than the bytes
 * the manager sent.  Against tests/iomgr.c's devices, through pm_open().
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <peermap.h>

#include "harness.h"
#include "helpers.h"
#include "iomgr.h"
#include "resmgr/client.h"

static int is_fill(const unsigned char *p, size_t n, uint64_t off)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != iom_fill_byte(off + i))
            return 0;
    return 1;
}

/* What each test reads through: a manager of one resource, opened
 * read-only in a fresh path space, and a 1 MiB buffer. */
struct reader {
    struct target mgr;
    int fd;
    unsigned char *buf;
};

/* The manager's exit status (0 when it ended as asked). */
static int reader_stop(struct reader *r)
{
    free(r->buf);
    if (r->fd >= 0)
        pm_close(r->fd);
    return iom_stop(&r->mgr);
}

/* 0, or -1 with nothing left running. */
static int reader_start(struct reader *r, const char *path, enum iom_kind kind)
{
    struct iom_res res[] = { { path, kind, 0666, 0, 0 } };
    r->fd = -1;
    r->buf = NULL;
    if (pathspace_fresh() < 0 || iom_start(&r->mgr, res, 1, 0, 0) < 0)
        return -1;
    r->fd = pm_open(path, O_RDONLY);
    r->buf = malloc(1u << 20);
    if (r->fd >= 0 && r->buf)
        return 0;
    reader_stop(r);
    return -1;
}

TEST(a_large_answer_is_left_where_it_came_a_small_one_is_copied)
{
    struct reader r;
    REQUIRE(reader_start(&r, "/rp/dev", IOM_DEV) == 0);
    int fd = r.fd;
    unsigned char *buf = r.buf;

    /* In the datagram: in buf. */
    struct pm_read_place at = PM_READ_PLACE_INIT;
    memset(buf, 0xee, 4096);
    CHECK_EQ_LONG(pm_read_at_view(fd, buf, 4096, 3, &at), 4096);
    CHECK(at.view == NULL);
    CHECK(is_fill(buf, 4096, 3));
    pm_read_place_done(fd, &at);

    /* In the manager's file: left there, buf untouched. */
    memset(buf, 0xee, 300000);
    CHECK_EQ_LONG(pm_read_at_view(fd, buf, 300000, 5, &at), 300000);
    CHECK(at.view != NULL);
    if (at.view)
        CHECK(is_fill(at.view, 300000, 5));
    CHECK(buf[0] == 0xee && buf[299999] == 0xee);
    pm_read_place_done(fd, &at);
    CHECK(at.view == NULL && at.map.map == NULL);

    /* Short at the end; at the open's offset too. */
    CHECK_EQ_LONG(pm_read_at_view(fd, buf, 1u << 20, IOM_FILL_LEN - 70000, &at), 70000);
    CHECK(at.view != NULL && is_fill(at.view, 70000, IOM_FILL_LEN - 70000));
    pm_read_place_done(fd, &at);
    CHECK_EQ_LONG(pm_read_at_view(fd, buf, 4096, IOM_FILL_LEN, &at), 0);
    pm_read_place_done(fd, &at);
    CHECK_EQ_LONG(pm_read_view(fd, buf, 200000, &at), 200000);
    CHECK(at.view != NULL && is_fill(at.view, 200000, 0));
    pm_read_place_done(fd, &at);
    /* Without `at`: in buf, as pm_read(). */
    CHECK_EQ_LONG(pm_read_view(fd, buf, 200000, NULL), 200000);
    CHECK(is_fill(buf, 200000, 200000));

    CHECK_EQ_LONG(reader_stop(&r), 0);
}

/* Every byte of a held answer can still be read (the manager may have
 * written over them since: its file is its own). */
static unsigned touch(const unsigned char *p, size_t n)
{
    unsigned sum = 0;
    for (size_t i = 0; i < n; i += 512)
        sum += *(const volatile unsigned char *)(p + i);
    return sum + *(const volatile unsigned char *)(p + n - 1);
}

/* The connection's next reply comes in a larger file (the manager grows
 * its file, or makes another): the connection maps that one, and the
 * mapping the reader holds stays until it gives it back (unmapped under
 * it, reading it would fault; the export's reply from it would fail and
 * leave its reader waiting for good). */
TEST(a_held_answer_outlives_later_exchanges_on_the_connection)
{
    struct reader r;
    REQUIRE(reader_start(&r, "/rp/dev", IOM_DEV) == 0);
    int fd = r.fd;
    unsigned char *buf = r.buf;
    struct pm_read_place held = PM_READ_PLACE_INIT, at = PM_READ_PLACE_INIT;
    CHECK_EQ_LONG(pm_read_at_view(fd, buf, 70000, 11, &held), 70000);
    REQUIRE(held.view != NULL);
    CHECK(is_fill(held.view, 70000, 11));
    /* The mapping is the reader's: the connection no longer has it. */
    CHECK(held.map.map != NULL && held.view >= held.map.map &&
          held.view + 70000 <= held.map.map + held.map.size);
    for (int round = 0; round < 3; round++) {
        /* Larger each time: the old mapping would be too small. */
        size_t n = (size_t)(round + 1) * 300000;
        CHECK_EQ_LONG(pm_read_at_view(fd, buf, n, 0, &at), (long)n);
        CHECK(at.view != NULL && is_fill(at.view, n, 0));
        CHECK(at.map.map != NULL && at.map.map != held.map.map);
        pm_read_place_done(fd, &at);
        CHECK_EQ_LONG(pm_read_at_view(fd, buf, n, 1, NULL), (long)n);
        CHECK(is_fill(buf, n, 1));
        touch(held.view, 70000);
    }
    pm_read_place_done(fd, &held);
    /* And the connection goes on with its own mapping. */
    CHECK_EQ_LONG(pm_read_at_view(fd, buf, 100000, 2, &at), 100000);
    CHECK(at.view != NULL && is_fill(at.view, 100000, 2));
    pm_read_place_done(fd, &at);
    CHECK_EQ_LONG(reader_stop(&r), 0);
}

/* A status claiming more than the reply carried: these reads count what
 * came (and leave nothing in place: the status is not the body's length);
 * pm_read() keeps QNX's count. */
TEST(a_count_is_never_more_than_the_bytes_sent)
{
    struct reader r;
    REQUIRE(reader_start(&r, "/rp/liar", IOM_OVERCLAIM) == 0);
    int fd = r.fd;
    unsigned char *buf = r.buf;
    static const size_t sizes[] = { 10, 4096, 131072, 140000, 1u << 20 };
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
        size_t n = sizes[i], sent = (n < IOM_FILL_LEN - 9 ? n : IOM_FILL_LEN - 9) / 2;
        struct pm_read_place at = PM_READ_PLACE_INIT;
        memset(buf, 0xee, n);
        CHECK_EQ_LONG(pm_read_at_view(fd, buf, n, 9, &at), (long)sent);
        CHECK(at.view == NULL);
        CHECK(is_fill(buf, sent, 9));
        CHECK(buf[sent] == 0xee);
        pm_read_place_done(fd, &at);
    }
    CHECK(pm_lseek(fd, 0, SEEK_SET) == 0);
    CHECK_EQ_LONG(pm_read_view(fd, buf, 200000, NULL), 100000);
    CHECK(pm_lseek(fd, 0, SEEK_SET) == 0);
    CHECK_EQ_LONG(pm_read(fd, buf, 200000), 200000);
    CHECK_EQ_LONG(reader_stop(&r), 0);
}
