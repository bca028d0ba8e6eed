/* Every refusal: the documented errno, a reason, and an untouched target. */
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "helpers.h"
#include "peermap.h"
#include "sys/mman_peer.h"
#include "sys/procmgr.h"

static struct target tgt;
static int have_target;

static pid_t target_pid(void)
{
    if (!have_target && obedient_start(&tgt) == 0)
        have_target = 1;
    return have_target ? tgt.pid : -1;
}

#define EXPECT_MAP_ERR(err, call)                                            \
    do {                                                                     \
        errno = 0;                                                           \
        void *p_ = (call);                                                   \
        CHECK(p_ == MAP_FAILED);                                             \
        CHECK_EQ_LONG(errno, err);                                           \
        CHECK(peermap_errmsg()[0] != 0);                                     \
        if (p_ == MAP_FAILED)                                                \
            fprintf(stderr, "  %s -> %s: %s\n", #call, strerror(errno),      \
                    peermap_errmsg());                                       \
    } while (0)

static int memfd(size_t len)
{
    int fd = memfd_create("peermap-err", MFD_CLOEXEC);
    if (fd >= 0 && ftruncate(fd, (off_t)len) < 0)
        return -1;
    return fd;
}

TEST(argument_rules)
{
    pid_t pid = target_pid();
    REQUIRE(pid > 0);
    int fd = memfd(8192);
    REQUIRE(fd >= 0);
    EXPECT_MAP_ERR(EINVAL, mmap_peer(pid, NULL, 0, PROT_READ, MAP_SHARED, NOFD, 0));
    EXPECT_MAP_ERR(EINVAL, mmap_peer(pid, NULL, 4096, 0x10, MAP_SHARED, NOFD, 0));
    EXPECT_MAP_ERR(EINVAL, mmap_peer(pid, NULL, 4096, PROT_READ, MAP_SHARED | 0x02000000, NOFD, 0));
    EXPECT_MAP_ERR(EINVAL, mmap_peer(pid, NULL, 4096, PROT_READ, 0, fd, 0));
    EXPECT_MAP_ERR(EINVAL, mmap_peer(pid, NULL, 4096, PROT_READ, MAP_SHARED | MAP_ANON, fd, 0));
    EXPECT_MAP_ERR(EBADF, mmap_peer(pid, NULL, 4096, PROT_READ, MAP_SHARED, 9999, 0));
    EXPECT_MAP_ERR(EINVAL, mmap_peer(pid, (void *)0x10000000, 4096, PROT_READ,
                                     MAP_SHARED | MAP_FIXED, fd, 100));
    EXPECT_MAP_ERR(EINVAL, mmap_peer(pid, (void *)0x10000100, 4096, PROT_READ,
                                     MAP_PRIVATE | MAP_FIXED, NOFD, 0));
    EXPECT_MAP_ERR(EINVAL, mmap_peer(pid, NULL, 4096, PROT_READ | PROT_NOCACHE,
                                     MAP_SHARED, NOFD, 0));
    EXPECT_MAP_ERR(EINVAL, mmap_peer(pid, NULL, 4096, PROT_READ, MAP_SHARED | MAP_PHYS, fd, 0));
    EXPECT_MAP_ERR(ESRCH, mmap_peer(-5, NULL, 4096, PROT_READ, MAP_SHARED, NOFD, 0));
    errno = 0;
    CHECK(munmap_peer(pid, (void *)0x10000000, 0) == -1 && errno == EINVAL);
    close(fd);
    /* Neither SHARED nor PRIVATE is fine for anonymous memory: PRIVATE. */
    void *p = mmap_peer(pid, NULL, 4096, PROT_READ, 0, NOFD, 0);
    CHECK(p != MAP_FAILED && maps_has(pid, (uintptr_t)p, 4096, "r--p") == 1);
    CHECK(peermap_errmsg()[0] == 0); /* success clears the reason */
    if (p != MAP_FAILED)
        CHECK(munmap_peer(pid, p, 4096) == 0);
}

TEST(open_mode_rules)
{
    pid_t pid = target_pid();
    REQUIRE(pid > 0);
    int fd = memfd(4096);
    REQUIRE(fd >= 0);
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    int ro = open(path, O_RDONLY), wo = open(path, O_WRONLY);
    REQUIRE(ro >= 0 && wo >= 0);
    EXPECT_MAP_ERR(EACCES, mmap_peer(pid, NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, ro, 0));
    EXPECT_MAP_ERR(EACCES, mmap_peer(pid, NULL, 4096, PROT_READ, MAP_SHARED, wo, 0));
    void *p = mmap_peer(pid, NULL, 4096, PROT_READ, MAP_SHARED, ro, 0);
    CHECK(p != MAP_FAILED);
    if (p != MAP_FAILED)
        CHECK(munmap_peer(pid, p, 4096) == 0);
    close(ro);
    close(wo);
    close(fd);
}

static char *slurp_maps(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/maps", (int)pid);
    FILE *f = fopen(path, "re");
    if (!f)
        return NULL;
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    while (buf && n + 1 < cap) {
        size_t got = fread(buf + n, 1, cap - 1 - n, f);
        if (got == 0)
            break;
        n += got;
    }
    fclose(f);
    if (buf)
        buf[n] = 0;
    return buf;
}

TEST(errors_from_inside_the_target)
{
    pid_t pid = target_pid();
    REQUIRE(pid > 0);
    /* More address space than exists: the target's own mmap says ENOMEM. */
    EXPECT_MAP_ERR(ENOMEM, mmap_peer(pid, NULL, (size_t)1 << 50, PROT_READ,
                                     MAP_PRIVATE, NOFD, 0));
    /* A directory cannot be mapped: the target's mmap says ENODEV, after it
     * was handed the descriptor on a scratch page.  Neither may remain. */
    char *maps_before = slurp_maps(pid);
    int fds_before = count_fds(pid);
    int dir = open("/", O_RDONLY | O_DIRECTORY);
    REQUIRE(dir >= 0);
    EXPECT_MAP_ERR(ENODEV, mmap_peer(pid, NULL, 4096, PROT_READ, MAP_PRIVATE, dir, 0));
    close(dir);
    char *maps_after = slurp_maps(pid);
    CHECK(maps_before && maps_after && strcmp(maps_before, maps_after) == 0);
    CHECK_EQ_LONG(count_fds(pid), fds_before);
    free(maps_before);
    free(maps_after);
    CHECK(obedient_ping(&tgt) == 0);
}

TEST(failures_leave_mask_and_registers_intact)
{
    pid_t pid = target_pid();
    REQUIRE(pid > 0);
    /* The kernel's view of the target's blocked signals, before and after
     * calls that fail inside it (our injection blocks everything meanwhile). */
    char path[64], line[256];
    unsigned long long before = 0, after = 1;
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "re");
    REQUIRE(f);
    while (fgets(line, sizeof line, f))
        sscanf(line, "SigBlk: %llx", &before);
    fclose(f);
    for (int i = 0; i < 20; i++) {
        void *p = mmap_peer(pid, NULL, (size_t)1 << 50, PROT_READ, MAP_PRIVATE, NOFD, 0);
        CHECK(p == MAP_FAILED);
    }
    f = fopen(path, "re");
    REQUIRE(f);
    while (fgets(line, sizeof line, f))
        sscanf(line, "SigBlk: %llx", &after);
    fclose(f);
    CHECK(before == after);
    /* Registers: it still runs its loop and answers correctly. */
    /* Static: the same address in the fork, and in no frame of its stack
     * (a local of ours could be where the target's own calls write). */
    static uint64_t v = 0xabcdef;
    CHECK(obedient_write(&tgt, (uintptr_t)&v, 42) == 0);
    CHECK(obedient_read(&tgt, (uintptr_t)&v, &v) == 0 && v == 42);
}

TEST(munmap_rounds_to_whole_pages)
{
    pid_t pid = target_pid();
    REQUIRE(pid > 0);
    const size_t pg = (size_t)sysconf(_SC_PAGESIZE);
    char *p = mmap_peer(pid, NULL, 3 * pg, PROT_READ, MAP_PRIVATE, NOFD, 0);
    REQUIRE(p != MAP_FAILED);
    /* [p+100, p+pg+100) covers the first two pages. */
    CHECK(munmap_peer(pid, p + 100, pg) == 0);
    CHECK_EQ_LONG(maps_has(pid, (uintptr_t)p, 1, NULL), 0);
    CHECK_EQ_LONG(maps_has(pid, (uintptr_t)p + pg, 1, NULL), 0);
    CHECK_EQ_LONG(maps_has(pid, (uintptr_t)p + 2 * pg, pg, NULL), 1);
    CHECK(munmap_peer(pid, p + 2 * pg, pg) == 0);
}

TEST(abilities_gate_peer_and_exec)
{
    pid_t pid = target_pid();
    REQUIRE(pid > 0);
    pid_t c = fork();
    REQUIRE(c >= 0);
    if (c == 0) {
        int bad = 0;
        if (geteuid() != 0) {
            /* Non-root by default has no PROT_EXEC ability. */
            errno = 0;
            if (mmap_peer(pid, NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE, NOFD, 0) != MAP_FAILED ||
                errno != EPERM)
                bad |= 1;
        } else {
            void *p = mmap_peer(pid, NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE, NOFD, 0);
            if (p == MAP_FAILED || munmap_peer(pid, p, 4096) < 0)
                bad |= 2;
            /* Without WRITE_AND_EXEC, PROT_WRITE|PROT_EXEC is refused. */
            procmgr_ability(0, PROCMGR_AOP_DENY | PROCMGR_AID_PROT_WRITE_AND_EXEC, PROCMGR_AID_EOL);
            errno = 0;
            if (mmap_peer(pid, NULL, 4096, PROT_READ | PROT_WRITE | PROT_EXEC,
                          MAP_PRIVATE, NOFD, 0) != MAP_FAILED || errno != EPERM)
                bad |= 4;
        }
        /* Without MEM_PEER: another process is refused, ourselves not. */
        procmgr_ability(0, PROCMGR_AOP_DENY | PROCMGR_AID_MEM_PEER, PROCMGR_AID_EOL);
        errno = 0;
        if (mmap_peer(pid, NULL, 4096, PROT_READ, MAP_PRIVATE, NOFD, 0) != MAP_FAILED ||
            errno != EPERM || !strstr(peermap_errmsg(), "PROCMGR_AID_MEM_PEER"))
            bad |= 8;
        errno = 0;
        if (munmap_peer(pid, (void *)0x10000000, 4096) != -1 || errno != EPERM)
            bad |= 16;
        void *self = mmap_peer(getpid(), NULL, 4096, PROT_READ, MAP_PRIVATE, NOFD, 0);
        if (self == MAP_FAILED)
            bad |= 32;
        _exit(bad);
    }
    int st;
    CHECK((st = reap_ms(c, 20000)) != -1 && WIFEXITED(st));
    CHECK_EQ_LONG(WEXITSTATUS(st), 0);
}

TEST(map_phys_through_the_device_file)
{
    pid_t pid = target_pid();
    REQUIRE(pid > 0);
    if (geteuid() != 0) {
        EXPECT_MAP_ERR(EPERM, mmap_peer(pid, NULL, 4096, PROT_READ,
                                        MAP_SHARED | MAP_PHYS, NOFD, 0x1000));
        return;
    }
    /* A file stands in for /dev/mem, which this machine may not have. */
    char path[] = "/tmp/peermap-physmem-XXXXXX";
    int fd = mkstemp(path);
    REQUIRE(fd >= 0);
    char page[4096];
    for (int i = 0; i < 4; i++) {
        memset(page, 'A' + i, sizeof page);
        CHECK(write(fd, page, sizeof page) == (ssize_t)sizeof page);
    }
    setenv("PEERMAP_PHYSMEM", path, 1);
    char *p = mmap_peer(pid, NULL, 4096, PROT_READ | PROT_NOCACHE,
                        MAP_SHARED | MAP_PHYS, NOFD, 2 * 4096);
    CHECK(p != MAP_FAILED);
    if (p != MAP_FAILED) {
        char c = 0;
        CHECK(peek(pid, (uintptr_t)p, &c, 1) == 0 && c == 'C');
        CHECK(munmap_peer(pid, p, 4096) == 0);
    }
    setenv("PEERMAP_PHYSMEM", "/nonexistent/mem", 1);
    EXPECT_MAP_ERR(ENODEV, mmap_peer(pid, NULL, 4096, PROT_READ, MAP_SHARED | MAP_PHYS, NOFD, 0));
    unsetenv("PEERMAP_PHYSMEM");
    unlink(path);
    close(fd);
}

TEST(map_phys_anon_is_contiguous_or_refused)
{
    pid_t pid = target_pid();
    REQUIRE(pid > 0);
    void *p = mmap_peer(pid, NULL, 4096, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_PHYS | MAP_ANON, NOFD, 0);
    CHECK(p != MAP_FAILED);
    if (p != MAP_FAILED)
        CHECK(munmap_peer(pid, p, 4096) == 0);
    /* larger than any huge page (2 MiB .. 1 GiB, page-size dependent) */
    EXPECT_MAP_ERR(ENOMEM, mmap_peer(pid, NULL, (size_t)1 << 34, PROT_READ,
                                     MAP_PRIVATE | MAP_PHYS | MAP_ANON, NOFD, 0));
}

TEST(qnx_noop_flags_are_accepted)
{
    pid_t pid = target_pid();
    REQUIRE(pid > 0);
    void *p = mmap_peer(pid, NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_LAZY | MAP_NOINIT, NOFD, 0);
    CHECK(p != MAP_FAILED);
    if (p != MAP_FAILED)
        CHECK(munmap_peer(pid, p, 4096) == 0);
}

#ifndef MAP_32BIT
#define MAP_32BIT 0 /* x86_64 only: elsewhere no such flag, and its bit unknown */
#endif

TEST(qnx_flag_values_collide_with_nothing_in_linux)
{
    /* Linux's own bits (from the C library's headers) must stay distinct. */
    const int linux_prot = PROT_READ | PROT_WRITE | PROT_EXEC | PROT_GROWSDOWN | PROT_GROWSUP;
    const int linux_map = MAP_SHARED | MAP_PRIVATE | MAP_FIXED | MAP_ANONYMOUS |
                          MAP_32BIT | MAP_GROWSDOWN | MAP_DENYWRITE | MAP_EXECUTABLE |
                          MAP_LOCKED | MAP_NORESERVE | MAP_POPULATE | MAP_NONBLOCK |
                          MAP_STACK | MAP_HUGETLB | MAP_SYNC | MAP_FIXED_NOREPLACE |
                          (int)(0x3fu << MAP_HUGE_SHIFT);
    CHECK((PROT_NOCACHE & linux_prot) == 0);
    CHECK(((MAP_PHYS | MAP_LAZY | MAP_NOINIT) & linux_map) == 0);
    CHECK(NOFD == -1);
}

TEST(deadline_setting)
{
    unsetenv("PEERMAP_TIMEOUT_MS");
    peermap_set_timeout_ms(0);
    CHECK_EQ_LONG(peermap_timeout_ms(), PEERMAP_DEFAULT_TIMEOUT_MS);
    setenv("PEERMAP_TIMEOUT_MS", "1234", 1);
    CHECK_EQ_LONG(peermap_timeout_ms(), 1234);
    peermap_set_timeout_ms(500);
    CHECK_EQ_LONG(peermap_timeout_ms(), 500);
    peermap_set_timeout_ms(0);
    setenv("PEERMAP_TIMEOUT_MS", "junk", 1);
    CHECK_EQ_LONG(peermap_timeout_ms(), PEERMAP_DEFAULT_TIMEOUT_MS);
    unsetenv("PEERMAP_TIMEOUT_MS");
}

/* The target every refusal above was aimed at must still answer, and exit
 * normally when told to: checked after each test that used it. */
AFTER_EACH(target_survived)
{
    if (!have_target)
        return;
    have_target = 0;
    CHECK(obedient_ping(&tgt) == 0);
    CHECK_EQ_LONG(target_finish(&tgt, 10000), 0);
}
