/* mmap_peer()/munmap_peer() on a live target: every kind of object. */
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "helpers.h"
#include "peermap.h"
#include "sys/mman_peer.h"

#define LEN 65536

static int memfd_of(size_t len)
{
    int fd = memfd_create("peermap-test", MFD_CLOEXEC);
    if (fd >= 0 && ftruncate(fd, (off_t)len) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

TEST(anonymous_shared_seed_flags)
{
    struct target t;
    REQUIRE(obedient_start(&t) == 0);
    /* The seed's call: MAP_SHARED with NOFD and no MAP_ANON. */
    void *p = mmap_peer(t.pid, NULL, LEN, PROT_READ | PROT_WRITE, MAP_SHARED, NOFD, 0);
    CHECK(p != MAP_FAILED);
    if (p != MAP_FAILED) {
        CHECK_EQ_LONG(maps_has(t.pid, (uintptr_t)p, LEN, "rw-s"), 1);
        uint64_t v = 0;
        CHECK(obedient_write(&t, (uintptr_t)p + LEN - 8, 0x1122334455667788ull) == 0);
        CHECK(obedient_read(&t, (uintptr_t)p + LEN - 8, &v) == 0);
        CHECK(v == 0x1122334455667788ull);
        CHECK(obedient_read(&t, (uintptr_t)p, &v) == 0 && v == 0); /* zeroed */
        CHECK_EQ_LONG(munmap_peer(t.pid, p, LEN), 0);
        CHECK_EQ_LONG(maps_has(t.pid, (uintptr_t)p, LEN, NULL), 0);
    }
    CHECK(obedient_ping(&t) == 0);
    CHECK_EQ_LONG(target_finish(&t, 10000), 0);
}

TEST(anonymous_private_and_prot)
{
    struct target t;
    REQUIRE(obedient_start(&t) == 0);
    void *p = mmap_peer(t.pid, NULL, 3 * 4096, PROT_READ, MAP_PRIVATE | MAP_ANON, NOFD, 0);
    REQUIRE(p != MAP_FAILED);
    CHECK_EQ_LONG(maps_has(t.pid, (uintptr_t)p, 3 * 4096, "r--p"), 1);
    CHECK_EQ_LONG(munmap_peer(t.pid, p, 3 * 4096), 0);
    /* Unmapping what is no longer mapped is not an error. */
    CHECK_EQ_LONG(munmap_peer(t.pid, p, 3 * 4096), 0);
    CHECK_EQ_LONG(target_finish(&t, 10000), 0);
}

TEST(memfd_shared_is_coherent_both_ways)
{
    struct target t;
    int fd = memfd_of(LEN);
    REQUIRE(fd >= 0);
    uint64_t *mine = mmap(NULL, LEN, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    REQUIRE(mine != MAP_FAILED);
    REQUIRE(obedient_start(&t) == 0);
    uint64_t *theirs = mmap_peer(t.pid, NULL, LEN, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    REQUIRE(theirs != MAP_FAILED);
    uint64_t v = 0;
    mine[100] = 0xfeedface;
    CHECK(obedient_read(&t, (uintptr_t)&theirs[100], &v) == 0 && v == 0xfeedface);
    CHECK(obedient_write(&t, (uintptr_t)&theirs[200], 0xdecafbad) == 0);
    CHECK(mine[200] == 0xdecafbad);
    /* The target got its own descriptor only for the call. */
    CHECK_EQ_LONG(munmap_peer(t.pid, theirs, LEN), 0);
    CHECK(obedient_ping(&t) == 0);
    CHECK_EQ_LONG(target_finish(&t, 10000), 0);
    munmap(mine, LEN);
    close(fd);
}

TEST(shm_open_object)
{
    char name[64];
    snprintf(name, sizeof name, "/peermap-test-%d", (int)getpid());
    int fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL, 0600);
    REQUIRE(fd >= 0);
    shm_unlink(name);
    REQUIRE(ftruncate(fd, LEN) == 0);
    uint64_t *mine = mmap(NULL, LEN, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    REQUIRE(mine != MAP_FAILED);
    struct target t;
    REQUIRE(obedient_start(&t) == 0);
    uint64_t *theirs = mmap_peer(t.pid, NULL, LEN, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    CHECK(theirs != MAP_FAILED);
    if (theirs != MAP_FAILED) {
        uint64_t v;
        mine[7] = 77;
        CHECK(obedient_read(&t, (uintptr_t)&theirs[7], &v) == 0 && v == 77);
        CHECK_EQ_LONG(munmap_peer(t.pid, theirs, LEN), 0);
    }
    CHECK_EQ_LONG(target_finish(&t, 10000), 0);
    munmap(mine, LEN);
    close(fd);
}

static int temp_file(size_t len)
{
    char path[] = "/tmp/peermap-test-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0)
        return -1;
    unlink(path);
    char buf[4096];
    for (size_t i = 0; i < len; i += sizeof buf) {
        for (size_t k = 0; k < sizeof buf; k++)
            buf[k] = (char)((i + k) * 7 + 3);
        if (write(fd, buf, sizeof buf) != (ssize_t)sizeof buf) {
            close(fd);
            return -1;
        }
    }
    return fd;
}

TEST(regular_file_shared_and_unaligned_offset)
{
    int fd = temp_file(4 * 4096);
    REQUIRE(fd >= 0);
    struct target t;
    REQUIRE(obedient_start(&t) == 0);
    /* QNX allows an offset inside a page: the address points at it. */
    off_t off = 4096 + 100;
    char *p = mmap_peer(t.pid, NULL, 200, PROT_READ, MAP_SHARED, fd, off);
    REQUIRE(p != MAP_FAILED);
    CHECK_EQ_LONG((uintptr_t)p % 4096, 100);
    unsigned char got[8], want[8];
    CHECK(peek(t.pid, (uintptr_t)p, got, 8) == 0);
    CHECK(pread(fd, want, 8, off) == 8);
    CHECK(memcmp(got, want, 8) == 0);
    /* A write to the file shows through the shared mapping. */
    CHECK(pwrite(fd, "QNX!", 4, off) == 4);
    CHECK(peek(t.pid, (uintptr_t)p, got, 4) == 0 && memcmp(got, "QNX!", 4) == 0);
    CHECK_EQ_LONG(munmap_peer(t.pid, p, 200), 0);
    CHECK_EQ_LONG(maps_has(t.pid, (uintptr_t)p, 1, NULL), 0);
    CHECK_EQ_LONG(target_finish(&t, 10000), 0);
    close(fd);
}

TEST(private_file_mapping_is_copy_on_write)
{
    int fd = temp_file(4096);
    REQUIRE(fd >= 0);
    struct target t;
    REQUIRE(obedient_start(&t) == 0);
    /* Read-only fd, MAP_PRIVATE with write: allowed, changes stay private. */
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    int ro = open(path, O_RDONLY);
    REQUIRE(ro >= 0);
    char *p = mmap_peer(t.pid, NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE, ro, 0);
    REQUIRE(p != MAP_FAILED);
    CHECK(obedient_write(&t, (uintptr_t)p, 0x4141414141414141ull) == 0);
    char b[8];
    CHECK(pread(fd, b, 8, 0) == 8 && b[0] != 0x41);
    CHECK_EQ_LONG(munmap_peer(t.pid, p, 4096), 0);
    CHECK_EQ_LONG(target_finish(&t, 10000), 0);
    close(ro);
    close(fd);
}

TEST(map_fixed_and_noreplace)
{
    struct target t;
    REQUIRE(obedient_start(&t) == 0);
    void *p = mmap_peer(t.pid, NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE, NOFD, 0);
    REQUIRE(p != MAP_FAILED);
    CHECK_EQ_LONG(munmap_peer(t.pid, p, 8192), 0);
    void *q = mmap_peer(t.pid, p, 8192, PROT_READ, MAP_PRIVATE | MAP_FIXED, NOFD, 0);
    CHECK(q == p);
    CHECK_EQ_LONG(maps_has(t.pid, (uintptr_t)p, 8192, "r--p"), 1);
    errno = 0;
    void *r = mmap_peer(t.pid, p, 4096, PROT_READ, MAP_PRIVATE | MAP_FIXED_NOREPLACE, NOFD, 0);
    CHECK(r == MAP_FAILED && errno == EEXIST);
    CHECK(peermap_errmsg()[0] != 0);
    CHECK_EQ_LONG(munmap_peer(t.pid, p, 8192), 0);
    CHECK_EQ_LONG(target_finish(&t, 10000), 0);
}

TEST(own_pid_and_pid_zero_act_locally)
{
    int fd = memfd_of(4096);
    REQUIRE(fd >= 0);
    char *a = mmap_peer(getpid(), NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    char *b = mmap_peer(0, NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    REQUIRE(a != MAP_FAILED && b != MAP_FAILED);
    a[5] = 'x';
    CHECK(b[5] == 'x');
    CHECK_EQ_LONG(munmap_peer(getpid(), a, 4096), 0);
    CHECK_EQ_LONG(munmap_peer(0, b, 4096), 0);
    close(fd);
}

TEST(mmap64_peer_is_mmap_peer)
{
    struct target t;
    REQUIRE(obedient_start(&t) == 0);
    void *p = mmap64_peer(t.pid, NULL, 4096, PROT_READ, MAP_SHARED, NOFD, (off64_t)0);
    CHECK(p != MAP_FAILED);
    if (p != MAP_FAILED)
        CHECK_EQ_LONG(munmap_peer(t.pid, p, 4096), 0);
    CHECK_EQ_LONG(target_finish(&t, 10000), 0);
}

TEST(session_maps_many_regions)
{
    struct target t;
    REQUIRE(obedient_start(&t) == 0);
    peermap_session *s = peermap_attach(t.pid);
    REQUIRE(s != NULL);
    int fd = memfd_of(4096);
    void *p[8];
    for (int i = 0; i < 8; i++) {
        p[i] = peermap_mmap(s, NULL, 4096, PROT_READ | PROT_WRITE,
                            MAP_SHARED, i % 2 ? fd : NOFD, 0);
        CHECK(p[i] != MAP_FAILED);
    }
    for (int i = 0; i < 8; i++)
        if (p[i] != MAP_FAILED)
            CHECK_EQ_LONG(peermap_munmap(s, p[i], 4096), 0);
    CHECK_EQ_LONG(peermap_detach(s), 0);
    CHECK(obedient_ping(&t) == 0);
    CHECK_EQ_LONG(target_finish(&t, 10000), 0);
    close(fd);
}

static int dropped_body(int in, int out, void *arg)
{
    (void)arg;
    /* An unprivileged target cannot open a root caller's /proc/PID/fd:
     * the descriptor must travel by SCM_RIGHTS instead. */
    if (drop_to_nobody() < 0)
        return 20;
    return obedient_body(in, out, NULL);
}

TEST(root_caller_hands_fd_to_unprivileged_target)
{
    if (geteuid() != 0)
        SKIP("needs root to make a target of another user");
    int fd = memfd_of(LEN);
    REQUIRE(fd >= 0);
    uint64_t *mine = mmap(NULL, LEN, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    REQUIRE(mine != MAP_FAILED);
    struct target t;
    REQUIRE(target_start_ready(&t, dropped_body, NULL) == 'R');
    int fds_before = count_fds(t.pid);
    uint64_t *theirs = mmap_peer(t.pid, NULL, LEN, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    CHECK(theirs != MAP_FAILED);
    if (theirs == MAP_FAILED)
        fprintf(stderr, "  %s\n", peermap_errmsg());
    else {
        uint64_t v = 0;
        mine[3] = 0x5ca1ab1e;
        CHECK(obedient_read(&t, (uintptr_t)&theirs[3], &v) == 0 && v == 0x5ca1ab1e);
        CHECK_EQ_LONG(munmap_peer(t.pid, theirs, LEN), 0);
    }
    /* No descriptor (nor socket) of ours stayed behind in the target. */
    CHECK(fds_before > 0);
    CHECK_EQ_LONG(count_fds(t.pid), fds_before);
    CHECK(obedient_ping(&t) == 0);
    CHECK_EQ_LONG(target_finish(&t, 10000), 0);
    munmap(mine, LEN);
    close(fd);
}

static void *reader(void *a);

TEST(thread_id_is_not_a_process)
{
    pthread_t th;
    int pfd[4];
    REQUIRE(pipe(pfd) == 0 && pipe(pfd + 2) == 0);
    REQUIRE(pthread_create(&th, NULL, reader, pfd) == 0);
    pid_t tid = 0;
    REQUIRE(read(pfd[0], &tid, sizeof tid) == sizeof tid);
    errno = 0;
    CHECK(mmap_peer(tid, NULL, 4096, PROT_READ, MAP_PRIVATE, NOFD, 0) == MAP_FAILED);
    CHECK_EQ_LONG(errno, ESRCH);
    CHECK(strstr(peermap_errmsg(), "thread") != NULL);
    fprintf(stderr, "  reason: %s\n", peermap_errmsg());
    close(pfd[3]); /* lets the thread finish */
    pthread_join(th, NULL);
    close(pfd[0]);
    close(pfd[1]);
    close(pfd[2]);
}

/* Tells the test its thread id, then stays alive until the test is done. */
static void *reader(void *a)
{
    int *pfd = a;
    pid_t tid = gettid();
    char x;
    if (write(pfd[1], &tid, sizeof tid) == sizeof tid)
        (void)!read(pfd[2], &x, 1);
    return NULL;
}
