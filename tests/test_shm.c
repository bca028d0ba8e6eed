/*
 * Shared-memory handles, shm_ctl(), shm_open(SHM_ANON) and shm_revoke().
 *
 * Every rule is checked from the recipient's side in a child process that
 * obeys commands on a pipe (the "agent" below): the right process redeems
 * once, with at most the access granted; the wrong process, a second try,
 * a deleted handle, a dead creator, an impostor standing in for a dead
 * creator, random handle values and a user of another uid all get ESRCH and
 * nothing else; revocation makes a mapping fault.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <dirent.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "helpers.h"
#include "peermap.h"
#include "sys/neutrino.h"
#include "sys/shm_handle.h"
#include "shm/shm.h"

#define PAGE sysconf(_SC_PAGESIZE) /* 4, 16 or 64 KiB on aarch64, never 4096 */
#define TEXT "handle test: the creator wrote this"

/* Our own descriptors, not counting the one own_fds() reads with. */
static int own_fds(void)
{
    return count_fds(getpid()) - 1;
}

/* An anonymous object of `size` bytes holding TEXT. */
static int make_object(size_t size, int revocable)
{
    int fd = peermap_shm_open(SHM_ANON, O_RDWR | O_CREAT, 0600);
    if (fd < 0)
        return -1;
    if (shm_ctl(fd, SHMCTL_ANON | (revocable ? SHMCTL_REVOCABLE : 0), 0, size) < 0 ||
        pwrite(fd, TEXT, sizeof TEXT, 0) != (ssize_t)sizeof TEXT) {
        close(fd);
        return -1;
    }
    return fd;
}

/* ---- the agent: a child that does what it is told ---- */

/* Where one agent passes a descriptor to another (ops P and W): made
 * before the agents start, so that both inherit it. */
static int pass_sv[2] = { -1, -1 };

static int send_fd(int s, int fd)
{
    union { struct cmsghdr h; char buf[CMSG_SPACE(sizeof(int))]; } cm;
    char one = 'f';
    struct iovec iov = { &one, 1 };
    struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1,
                        .msg_control = cm.buf, .msg_controllen = sizeof cm.buf };
    struct cmsghdr *h = CMSG_FIRSTHDR(&m);
    h->cmsg_level = SOL_SOCKET;
    h->cmsg_type = SCM_RIGHTS;
    h->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(h), &fd, sizeof fd);
    return sendmsg(s, &m, MSG_NOSIGNAL) == 1 ? 0 : -1;
}

static int recv_fd(int s, int ms)
{
    struct pollfd p = { s, POLLIN, 0 };
    if (poll(&p, 1, ms) != 1)
        return -1;
    union { struct cmsghdr h; char buf[CMSG_SPACE(sizeof(int))]; } cm;
    char one;
    struct iovec iov = { &one, 1 };
    struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1,
                        .msg_control = cm.buf, .msg_controllen = sizeof cm.buf };
    if (recvmsg(s, &m, MSG_CMSG_CLOEXEC) != 1)
        return -1;
    struct cmsghdr *h = CMSG_FIRSTHDR(&m);
    int fd = -1;
    if (h && h->cmsg_level == SOL_SOCKET && h->cmsg_type == SCM_RIGHTS)
        memcpy(&fd, CMSG_DATA(h), sizeof fd);
    return fd;
}

struct agent_cmd {
    char op;
    int flags;          /* o: shm_open_handle flags; m: prot */
    shm_handle_t h;
    uint64_t addr;      /* t/f: an address */
    size_t len;
    pid_t pid;          /* M: the server */
    int chid;
    int count;          /* b/n: attempts; g: the group to keep */
};

struct agent_res {
    int rc;
    int err;
    uint64_t addr;
    char text[40];
    int access;         /* o: F_GETFL & O_ACCMODE of the descriptor */
    int reopen_rw;      /* o: /proc/self/fd/N reopened O_RDWR */
    int write_ok;       /* o: a write() through any route succeeded */
    int map_w;          /* o: mmap(PROT_WRITE, MAP_SHARED) succeeded */
    int fds_before, fds_after;
    int hits;           /* b/n: attempts that got anything */
};

static void try_write_routes(int fd, struct agent_res *r)
{
    void *p = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    r->map_w = p != MAP_FAILED;
    if (p != MAP_FAILED)
        munmap(p, PAGE);
    char path[40];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    int rw = open(path, O_RDWR | O_CLOEXEC);
    r->reopen_rw = rw >= 0;
    r->write_ok = pwrite(fd, "X", 1, 100) == 1;
    if (rw >= 0) {
        if (pwrite(rw, "X", 1, 100) == 1)
            r->write_ok = 1;
        void *q = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, rw, 0);
        if (q != MAP_FAILED) {
            r->map_w = 1;
            munmap(q, PAGE);
        }
        close(rw);
    }
}

static int agent(int in, int out, void *arg)
{
    (void)arg;
    for (;;) {
        struct agent_cmd c;
        struct agent_res r = { 0 };
        if (child_read_full(in, &c, sizeof c) < 0 || c.op == 'q')
            return 0;
        r.fds_before = own_fds();
        errno = 0;
        switch (c.op) {
        case 'o':
            r.rc = shm_open_handle(c.h, c.flags);
            r.err = errno;
            if (r.rc >= 0) {
                r.access = fcntl(r.rc, F_GETFL) & O_ACCMODE;
                if (pread(r.rc, r.text, sizeof r.text - 1, 0) < 0)
                    r.text[0] = 0;
                try_write_routes(r.rc, &r);
                close(r.rc);
            }
            break;
        case 'm': {
            void *p = mmap_handle(NULL, c.len, c.flags, MAP_SHARED, c.h, 0);
            r.err = errno;
            r.rc = p == MAP_FAILED ? -1 : 0;
            if (p != MAP_FAILED) {
                r.addr = (uint64_t)(uintptr_t)p;
                memcpy(r.text, p, sizeof r.text - 1);
                if (c.flags & PROT_WRITE)
                    memcpy((char *)p + 200, "written by the recipient", 25);
            }
            break;
        }
        case 'd':
            r.rc = shm_delete_handle(c.h);
            r.err = errno;
            break;
        case 't': { /* touch: a revoked mapping kills us here with SIGSEGV */
            /* The kernel's default action, not a sanitizer's handler. */
            struct sigaction dfl = { .sa_handler = SIG_DFL };
            sigaction(SIGSEGV, &dfl, NULL);
            r.rc = *(volatile char *)(uintptr_t)c.addr;
            break;
        }
        case 'f': { /* does a child made by fork() see the mapping? */
            pid_t k = fork();
            if (k == 0)
                _exit(maps_has(getpid(), (uintptr_t)c.addr, c.len, NULL) == 1 ? 1 : 0);
            int st = 0;
            waitpid(k, &st, 0);
            r.rc = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
            break;
        }
        case 'x':
            r.rc = drop_to_nobody();
            r.err = errno;
            break;
        case 'g': { /* become uid/gid 65534 with one supplementary group */
            gid_t g = (gid_t)c.count;
            r.rc = setgroups(1, &g) == 0 && setresgid(65534, 65534, 65534) == 0 &&
                           setresuid(65534, 65534, 65534) == 0 ? 0 : -1;
            r.err = errno;
            break;
        }
        case 'P': /* redeem, and pass the descriptor on (pass_sv) */
            r.rc = shm_open_handle(c.h, c.flags);
            r.err = errno;
            if (r.rc >= 0) {
                r.access = fcntl(r.rc, F_GETFL) & O_ACCMODE;
                try_write_routes(r.rc, &r);
                if (send_fd(pass_sv[0], r.rc) < 0)
                    r.rc = -1;
                else
                    close(r.rc);
            }
            break;
        case 'W': { /* take a passed descriptor and try to write through it */
            int fd = recv_fd(pass_sv[1], 5000);
            r.rc = fd;
            if (fd >= 0) {
                r.access = fcntl(fd, F_GETFL) & O_ACCMODE;
                try_write_routes(fd, &r);
                close(fd);
            }
            break;
        }
        case 'b': /* random handle values */
            for (int i = 0; i < c.count; i++) {
                shm_handle_t h;
                if (getrandom(&h, sizeof h, 0) != sizeof h)
                    return 20;
                int fd = shm_open_handle(h, O_RDONLY);
                if (fd >= 0 || errno != ESRCH) {
                    r.hits++;
                    if (fd >= 0)
                        close(fd);
                }
                void *p = mmap_handle(NULL, PAGE, PROT_READ, MAP_SHARED, h, 0);
                if (p != MAP_FAILED || errno != ESRCH)
                    r.hits++;
            }
            break;
        case 'n': { /* straight at the live listener, whose name anyone can list */
            char name[PM_SHM_NAME_LEN + 1];
            pm_shm_name(c.h, name);
            struct sockaddr_un sa = { .sun_family = AF_UNIX };
            memcpy(sa.sun_path + 1, name, PM_SHM_NAME_LEN);
            socklen_t len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + PM_SHM_NAME_LEN);
            for (int i = 0; i < c.count; i++) {
                int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
                if (s < 0 || connect(s, (struct sockaddr *)&sa, len) < 0) {
                    if (s >= 0)
                        close(s);
                    continue;
                }
                struct pm_shm_req rq = { .magic = PM_SHM_MAGIC, .version = PM_SHM_VERSION,
                                         .op = PM_SHM_OP_OPEN, .access = O_RDONLY };
                send(s, &rq, sizeof rq, MSG_NOSIGNAL);
                char buf[256];
                struct pollfd p = { s, POLLIN, 0 };
                if (poll(&p, 1, 2000) == 1 && recv(s, buf, sizeof buf, 0) > 0)
                    r.hits++;
                close(s);
            }
            break;
        }
        case 'M': { /* be reply-blocked on the server until it answers */
            int coid = ConnectAttach(ND_LOCAL_NODE, c.pid, c.chid, 0, 0);
            char reply = 0;
            r.rc = coid < 0 ? -1 : (int)MsgSend(coid, "r", 1, &reply, 1);
            r.err = errno;
            if (coid >= 0)
                ConnectDetach(coid);
            break;
        }
        }
        r.fds_after = own_fds();
        if (child_write_full(out, &r, sizeof r) < 0)
            return 0;
    }
}

static int ask(struct target *t, struct agent_cmd c, struct agent_res *r)
{
    if (target_write(t, &c, sizeof c) < 0)
        return -1;
    return target_read(t, r, sizeof *r, 20000);
}

static int start_agent(struct target *t)
{
    return target_start(t, agent, NULL);
}

static void stop_agent(struct target *t)
{
    struct agent_cmd q = { .op = 'q' };
    target_write(t, &q, sizeof q);
    target_finish(t, 5000);
}

/* ---------------------------------------------------------------------- */

TEST(sha256_known_answers)
{
    static const struct { const char *in; const char *hex; } v[] = {
        { "", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" },
        { "abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" },
        { "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
          "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1" },
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        struct pm_sha256 c;
        uint8_t d[32];
        char hex[65];
        pm_sha256_init(&c);
        pm_sha256_update(&c, v[i].in, strlen(v[i].in));
        pm_sha256_final(&c, d);
        for (int k = 0; k < 32; k++)
            snprintf(hex + 2 * k, 3, "%02x", d[k]);
        CHECK(strcmp(hex, v[i].hex) == 0);
    }
    /* A million 'a's, fed unevenly: the block boundaries. */
    struct pm_sha256 c;
    uint8_t d[32];
    char a[1001], hex[65];
    memset(a, 'a', sizeof a);
    pm_sha256_init(&c);
    for (int i = 0; i < 1000; i++)
        pm_sha256_update(&c, a, i % 2 ? 999 : 1001);
    pm_sha256_final(&c, d);
    for (int k = 0; k < 32; k++)
        snprintf(hex + 2 * k, 3, "%02x", d[k]);
    CHECK(strcmp(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0") == 0);
}

TEST(shm_open_shm_anon_makes_an_anonymous_object)
{
    int fd = peermap_shm_open(SHM_ANON, O_RDWR | O_CREAT, 0640);
    REQUIRE(fd >= 0);
    struct stat st;
    REQUIRE(fstat(fd, &st) == 0);
    CHECK((st.st_mode & 0777) == (0640 & ~(mode_t)022) || (st.st_mode & 0777) == 0640 ||
          (st.st_mode & 0777) == (0640 & ~(mode_t)027));
    CHECK(st.st_size == 0);
    CHECK(pm_shm_is_memfd(fd));
    CHECK(fcntl(fd, F_GETFD) == 0); /* no O_CLOEXEC asked */
    CHECK(ftruncate(fd, PAGE) == 0);
    CHECK(shm_ctl(fd, SHMCTL_GET_FLAGS, 0, 0) == 0);
    close(fd);

    fd = peermap_shm_open(SHM_ANON, O_RDONLY | O_CLOEXEC, 0600);
    REQUIRE(fd >= 0);
    CHECK((fcntl(fd, F_GETFL) & O_ACCMODE) == O_RDONLY);
    CHECK(fcntl(fd, F_GETFD) == FD_CLOEXEC);
    close(fd);

    errno = 0;
    CHECK(peermap_shm_open(SHM_ANON, O_WRONLY, 0600) == -1 && errno == EINVAL);
    CHECK(peermap_shm_open(SHM_ANON, O_RDWR | O_APPEND, 0600) == -1 && errno == EINVAL);

    /* Other names go to the C library unchanged. */
    char name[64];
    snprintf(name, sizeof name, "/peermap-test-shm-%d", (int)getpid());
    fd = peermap_shm_open(name, O_RDWR | O_CREAT | O_EXCL, 0600);
    REQUIRE(fd >= 0);
    CHECK(peermap_shm_open(name, O_RDWR | O_CREAT | O_EXCL, 0600) == -1 && errno == EEXIST);
    int again = peermap_shm_open(name, O_RDWR | O_CREAT, 0600);
    CHECK(again >= 0);
    struct stat a, b;
    CHECK(fstat(fd, &a) == 0 && fstat(again, &b) == 0 && a.st_ino == b.st_ino);
    CHECK(shm_unlink(name) == 0);
    CHECK(peermap_shm_open(name, O_RDWR, 0600) == -1 && errno == ENOENT);
    close(again);
    close(fd);
}

TEST(shm_ctl_honours_refuses_or_accepts_each_flag)
{
    int fd = peermap_shm_open(SHM_ANON, O_RDWR, 0600);
    REQUIRE(fd >= 0);
    /* ANON without LAZY: the size, allocated now. */
    CHECK(shm_ctl(fd, SHMCTL_ANON, 0, 4 * PAGE) == 0);
    struct stat st;
    CHECK(fstat(fd, &st) == 0 && st.st_size == 4 * PAGE && st.st_blocks >= 4 * PAGE / 512);
    CHECK(shm_ctl(fd, SHMCTL_ANON, 0, PAGE) == -1 && errno == EINVAL); /* already has memory */
    CHECK(shm_ctl(fd, SHMCTL_GET_FLAGS, 0, 0) == SHMCTL_ANON);
    /* Hints: accepted and recorded. */
    CHECK(shm_ctl(fd, SHMCTL_GLOBAL | SHMCTL_HIGHUSAGE | SHMCTL_LOWERPROT, 0, 0) == 0);
    CHECK(shm_ctl(fd, SHMCTL_GET_FLAGS, 0, 0) ==
          (SHMCTL_ANON | SHMCTL_GLOBAL | SHMCTL_HIGHUSAGE | SHMCTL_LOWERPROT));
    /* SEAL: the size is fixed from now on, for us too. */
    CHECK(shm_ctl(fd, SHMCTL_SEAL | SHMCTL_REVOCABLE, 0, 0) == 0);
    CHECK(ftruncate(fd, 8 * PAGE) == -1 && errno == EPERM);
    CHECK(ftruncate(fd, PAGE) == -1 && errno == EPERM);
    CHECK(shm_ctl(fd, SHMCTL_GET_FLAGS, 0, 0) & SHMCTL_REVOCABLE);
    /* Refused: what Linux cannot give. */
    CHECK(shm_ctl(fd, SHMCTL_PHYS, 0x10000000, PAGE) == -1 && errno == ENOTSUP);
    CHECK(shm_ctl(fd, SHMCTL_TYMEM | SHMCTL_ANON, 3, PAGE) == -1 && errno == ENOTSUP);
    CHECK(shm_ctl(fd, SHMCTL_ISADMA | SHMCTL_ANON, 0, PAGE) == -1 && errno == ENOTSUP);
    CHECK(shm_ctl(fd, 0x40000000, 0, 0) == -1 && errno == EINVAL);
    CHECK(shm_ctl_special(fd, SHMCTL_GLOBAL, 0, 0, 1) == -1 && errno == EINVAL);
    CHECK(shm_ctl_special(fd, SHMCTL_GLOBAL, 0, 0, 0) == 0);
    close(fd);

    /* LAZY: sized, nothing allocated yet.  PHYS|ANON of one page: one page
     * is always contiguous. */
    fd = peermap_shm_open(SHM_ANON, O_RDWR, 0600);
    REQUIRE(fd >= 0);
    CHECK(shm_ctl(fd, SHMCTL_ANON | SHMCTL_LAZY, 0, 256 * PAGE) == 0);
    CHECK(fstat(fd, &st) == 0 && st.st_size == 256 * PAGE && st.st_blocks == 0);
    close(fd);
    fd = peermap_shm_open(SHM_ANON, O_RDWR, 0600);
    REQUIRE(fd >= 0);
    CHECK(shm_ctl(fd, SHMCTL_ANON | SHMCTL_PHYS, 0, PAGE) == 0);
    close(fd);
    fd = peermap_shm_open(SHM_ANON, O_RDWR, 0600);
    CHECK(shm_ctl(fd, SHMCTL_ANON | SHMCTL_PHYS, 0, 4 * PAGE) == -1 && errno == ENOTSUP);
    close(fd);

    /* Not a shared memory object; not a descriptor. */
    int p[2];
    REQUIRE(pipe(p) == 0);
    CHECK(shm_ctl(p[0], SHMCTL_ANON, 0, PAGE) == -1 && errno == EINVAL);
    close(p[0]);
    close(p[1]);
    CHECK(shm_ctl(-1, SHMCTL_ANON, 0, PAGE) == -1 && errno == EBADF);

    /* A named object this process did not create cannot be made revocable. */
    char name[64];
    snprintf(name, sizeof name, "/peermap-test-ctl-%d", (int)getpid());
    int made = shm_open(name, O_RDWR | O_CREAT | O_EXCL, 0600);
    REQUIRE(made >= 0);
    int opened = peermap_shm_open(name, O_RDWR, 0600);
    shm_unlink(name);
    CHECK(shm_ctl(opened, SHMCTL_REVOCABLE, 0, 0) == -1 && errno == EPERM);
    CHECK(shm_ctl(opened, SHMCTL_ANON, 0, PAGE) == 0); /* sizing is anyone's with write access */
    close(opened);
    close(made);
}

TEST(create_handle_checks_its_arguments)
{
    int fd = make_object(PAGE, 0);
    REQUIRE(fd >= 0);
    shm_handle_t h;
    pid_t me = getpid();
    CHECK(shm_create_handle(fd, me, O_RDONLY, NULL, 0) == -1 && errno == EINVAL);
    CHECK(shm_create_handle(fd, me, O_RDONLY | O_CREAT, &h, 0) == -1 && errno == EINVAL);
    CHECK(shm_create_handle(fd, me, O_ACCMODE, &h, 0) == -1 && errno == EINVAL);
    CHECK(shm_create_handle(fd, me, O_RDONLY, &h, 0x8) == -1 && errno == EINVAL);
    CHECK(shm_create_handle(-1, me, O_RDONLY, &h, 0) == -1 && errno == EBADF);
    CHECK(shm_create_handle(fd, 0, O_RDONLY, &h, 0) == -1 && errno == EINVAL);
    /* A pid nobody has (the largest pid_max allows is 2^22). */
    CHECK(shm_create_handle(fd, 4194304 + 1, O_RDONLY, &h, 0) == -1 && errno == ESRCH);
    int p[2];
    REQUIRE(pipe(p) == 0);
    CHECK(shm_create_handle(p[0], me, O_RDONLY, &h, 0) == -1 && errno == EINVAL);
    close(p[0]);
    close(p[1]);
    /* Never more than the descriptor's own access. */
    int ro = pm_shm_reopen(fd, O_RDONLY);
    REQUIRE(ro >= 0);
    CHECK(shm_create_handle(ro, me, O_RDWR, &h, 0) == -1 && errno == EACCES);
    CHECK(shm_create_handle(ro, me, O_WRONLY, &h, 0) == -1 && errno == EACCES);
    CHECK(shm_create_handle(ro, me, O_RDONLY, &h, 0) == 0);
    CHECK(shm_delete_handle(h) == 0);
    CHECK(shm_delete_handle(h) == -1 && errno == ESRCH);
    close(ro);
    close(fd);
}

/* The right process redeems once; everyone else, and a second try, get
 * ESRCH - and their attempts cost the rightful recipient nothing. */
TEST(only_the_named_process_redeems_and_only_once)
{
    int fd = make_object(PAGE, 0);
    REQUIRE(fd >= 0);
    struct target right, wrong;
    REQUIRE(start_agent(&right) == 0);
    REQUIRE(start_agent(&wrong) == 0);
    shm_handle_t h;
    REQUIRE(shm_create_handle(fd, right.pid, O_RDONLY, &h, 0) == 0);
    struct agent_res r;

    /* Another process of the same user, and this process (the creator). */
    REQUIRE(ask(&wrong, (struct agent_cmd){ .op = 'o', .h = h, .flags = O_RDONLY }, &r) == 0);
    CHECK(r.rc == -1 && r.err == ESRCH);
    CHECK(r.fds_after == r.fds_before);
    REQUIRE(ask(&wrong, (struct agent_cmd){ .op = 'm', .h = h, .flags = PROT_READ, .len = PAGE }, &r) == 0);
    CHECK(r.rc == -1 && r.err == ESRCH);
    REQUIRE(ask(&wrong, (struct agent_cmd){ .op = 'd', .h = h }, &r) == 0);
    CHECK(r.rc == -1 && r.err == ESRCH);
    CHECK(shm_open_handle(h, O_RDONLY) == -1 && errno == ESRCH);

    /* More access than granted: refused, and the handle is not spent. */
    REQUIRE(ask(&right, (struct agent_cmd){ .op = 'o', .h = h, .flags = O_RDWR }, &r) == 0);
    CHECK(r.rc == -1 && r.err == EACCES);
    REQUIRE(ask(&right, (struct agent_cmd){ .op = 'm', .h = h, .flags = PROT_READ | PROT_WRITE,
                                      .len = PAGE }, &r) == 0);
    CHECK(r.rc == -1 && r.err == EACCES);
    CHECK(shm_open_handle(h, O_RDONLY | O_TRUNC) == -1 && errno == EINVAL);

    /* The recipient. */
    REQUIRE(ask(&right, (struct agent_cmd){ .op = 'o', .h = h, .flags = O_RDONLY }, &r) == 0);
    CHECK(r.rc >= 0);
    CHECK(strcmp(r.text, TEXT) == 0);
    CHECK(r.access == O_RDONLY);
    CHECK(!r.write_ok && !r.map_w); /* same user, root or not: no way to write */

    /* Twice: gone.  Also for the creator's delete. */
    REQUIRE(ask(&right, (struct agent_cmd){ .op = 'o', .h = h, .flags = O_RDONLY }, &r) == 0);
    CHECK(r.rc == -1 && r.err == ESRCH);
    CHECK(shm_delete_handle(h) == -1 && errno == ESRCH);
    /* The object was sealed against writes (the recipient could have
     * reopened it writable otherwise); our own write() fails too. */
    CHECK(pwrite(fd, "Y", 1, 0) == -1 && errno == EPERM);
    stop_agent(&right);
    stop_agent(&wrong);
    close(fd);
}

TEST(read_write_grant_maps_shared_both_ways)
{
    int fd = make_object(2 * PAGE, 0);
    REQUIRE(fd >= 0);
    struct target t;
    REQUIRE(start_agent(&t) == 0);
    shm_handle_t h;
    REQUIRE(shm_create_handle(fd, t.pid, O_RDWR, &h, SHM_CREATE_HANDLE_OPT_NOFD) == 0);
    struct agent_res r;
    /* NOFD: no descriptor, whatever the access. */
    REQUIRE(ask(&t, (struct agent_cmd){ .op = 'o', .h = h, .flags = O_RDONLY }, &r) == 0);
    CHECK(r.rc == -1 && r.err == EACCES);
    REQUIRE(ask(&t, (struct agent_cmd){ .op = 'm', .h = h, .flags = PROT_READ | PROT_WRITE,
                                  .len = 2 * PAGE }, &r) == 0);
    REQUIRE(r.rc == 0);
    CHECK(strcmp(r.text, TEXT) == 0);
    CHECK(r.fds_after == r.fds_before); /* the descriptor did not stay */
    CHECK(maps_has(t.pid, (uintptr_t)r.addr, 2 * PAGE, "rw-s") == 1);
    char back[32] = { 0 };
    CHECK(pread(fd, back, 25, 200) == 25 && strcmp(back, "written by the recipient") == 0);
    stop_agent(&t);
    close(fd);
}

TEST(o_wronly_grant_opens_for_writing_and_cannot_be_mapped)
{
    int fd = make_object(PAGE, 0);
    REQUIRE(fd >= 0);
    struct target t;
    REQUIRE(start_agent(&t) == 0);
    shm_handle_t h;
    REQUIRE(shm_create_handle(fd, t.pid, O_WRONLY, &h, 0) == 0);
    struct agent_res r;
    /* Linux maps nothing without read access. */
    REQUIRE(ask(&t, (struct agent_cmd){ .op = 'm', .h = h, .flags = PROT_READ, .len = PAGE }, &r) == 0);
    CHECK(r.rc == -1 && r.err == EACCES);
    REQUIRE(ask(&t, (struct agent_cmd){ .op = 'o', .h = h, .flags = O_RDONLY }, &r) == 0);
    CHECK(r.rc == -1 && r.err == EACCES);
    REQUIRE(ask(&t, (struct agent_cmd){ .op = 'o', .h = h, .flags = O_WRONLY }, &r) == 0);
    CHECK(r.rc >= 0 && r.access == O_WRONLY);
    stop_agent(&t);
    close(fd);
}

TEST(deleted_handles_and_dead_recipients_redeem_nothing)
{
    int fd = make_object(PAGE, 0);
    REQUIRE(fd >= 0);
    struct target t;
    REQUIRE(start_agent(&t) == 0);
    struct agent_res r;
    shm_handle_t h1, h2;
    /* The creator deletes. */
    REQUIRE(shm_create_handle(fd, t.pid, O_RDWR, &h1, 0) == 0);
    CHECK(shm_delete_handle(h1) == 0);
    REQUIRE(ask(&t, (struct agent_cmd){ .op = 'o', .h = h1, .flags = O_RDWR }, &r) == 0);
    CHECK(r.rc == -1 && r.err == ESRCH);
    /* The recipient deletes. */
    REQUIRE(shm_create_handle(fd, t.pid, O_RDWR, &h2, 0) == 0);
    REQUIRE(ask(&t, (struct agent_cmd){ .op = 'd', .h = h2 }, &r) == 0);
    CHECK(r.rc == 0);
    REQUIRE(ask(&t, (struct agent_cmd){ .op = 'o', .h = h2, .flags = O_RDWR }, &r) == 0);
    CHECK(r.rc == -1 && r.err == ESRCH);
    CHECK(shm_delete_handle(h2) == -1 && errno == ESRCH);
    stop_agent(&t);

    /* A recipient that is gone: nobody can redeem for it, not even a
     * process that might later have its pid number. */
    REQUIRE(start_agent(&t) == 0);
    shm_handle_t h3;
    REQUIRE(shm_create_handle(fd, t.pid, O_RDWR, &h3, 0) == 0);
    stop_agent(&t);
    struct target other;
    REQUIRE(start_agent(&other) == 0);
    REQUIRE(ask(&other, (struct agent_cmd){ .op = 'o', .h = h3, .flags = O_RDWR }, &r) == 0);
    CHECK(r.rc == -1 && r.err == ESRCH);
    stop_agent(&other);
    CHECK(shm_delete_handle(h3) == 0);
    close(fd);
}

/* The creator: a child that makes a handle for us, reports it, and waits. */
static int creator_body(int in, int out, void *arg)
{
    (void)arg;
    int fd = make_object(PAGE, 0);
    shm_handle_t h;
    if (fd < 0 || shm_create_handle(fd, getppid(), O_RDONLY, &h, 0) < 0)
        return 1;
    child_write_full(out, &h, sizeof h);
    char c;
    child_read_full(in, &c, 1);
    return 0;
}

TEST(a_dead_creator_redeems_nothing_and_an_impostor_is_not_believed)
{
    struct target c;
    shm_handle_t h;
    REQUIRE(target_start(&c, creator_body, NULL) == 0);
    REQUIRE(target_read(&c, &h, sizeof h, 5000) == 0);
    CHECK(target_finish(&c, 5000) == 0);
    int before = own_fds();
    CHECK(shm_open_handle(h, O_RDONLY) == -1 && errno == ESRCH);

    /* Someone who listed the name while the creator lived binds it now
     * and answers with an object of its own. */
    REQUIRE(target_start(&c, creator_body, NULL) == 0);
    REQUIRE(target_read(&c, &h, sizeof h, 5000) == 0);
    CHECK(target_finish(&c, 5000) == 0);
    char name[PM_SHM_NAME_LEN + 1];
    pm_shm_name(h, name);
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    memcpy(sa.sun_path + 1, name, PM_SHM_NAME_LEN);
    socklen_t len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + PM_SHM_NAME_LEN);
    int l = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    REQUIRE(l >= 0);
    REQUIRE(bind(l, (struct sockaddr *)&sa, len) == 0 && listen(l, 4) == 0);
    pid_t imp = fork();
    REQUIRE(imp >= 0);
    if (imp == 0) {
        int s = accept(l, NULL, NULL);
        struct pm_shm_req rq;
        if (s < 0 || recv(s, &rq, sizeof rq, 0) != sizeof rq)
            _exit(1);
        struct pm_shm_reply rp = { .magic = PM_SHM_MAGIC };
        memset(rp.proof, 0x5a, sizeof rp.proof); /* it cannot know the handle */
        int bogus = peermap_shm_open(SHM_ANON, O_RDONLY, 0600);
        union { struct cmsghdr h; char b[CMSG_SPACE(sizeof(int))]; } cm;
        memset(&cm, 0, sizeof cm);
        struct iovec iov = { &rp, sizeof rp };
        struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cm.b,
                            .msg_controllen = sizeof cm.b };
        struct cmsghdr *ch = CMSG_FIRSTHDR(&m);
        ch->cmsg_level = SOL_SOCKET;
        ch->cmsg_type = SCM_RIGHTS;
        ch->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(ch), &bogus, sizeof bogus);
        _exit(sendmsg(s, &m, 0) == sizeof rp ? 0 : 2);
    }
    close(l);
    errno = 0;
    CHECK(shm_open_handle(h, O_RDONLY) == -1 && errno == ESRCH);
    CHECK(strstr(peermap_errmsg(), "does not come from the handle's creator") != NULL);
    int st;
    CHECK((st = reap_ms(imp, 20000)) != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0);
    CHECK(own_fds() == before); /* the impostor's descriptor was closed */
}

TEST(random_handle_values_get_nothing_and_cost_the_creator_nothing)
{
    int fd = make_object(PAGE, 0);
    REQUIRE(fd >= 0);
    struct target right, attacker;
    REQUIRE(start_agent(&right) == 0);
    REQUIRE(start_agent(&attacker) == 0);
    shm_handle_t h;
    REQUIRE(shm_create_handle(fd, right.pid, O_RDONLY, &h, 0) == 0);
    int before = own_fds();
    struct agent_res r;
    /* 2000 guesses, each tried as shm_open_handle() and as mmap_handle(). */
    REQUIRE(ask(&attacker, (struct agent_cmd){ .op = 'b', .count = 2000 }, &r) == 0);
    CHECK_EQ_LONG(r.hits, 0);
    /* The live listener's name is public (/proc/net/unix): 300 connections
     * straight at it, each with a well-formed request, get no answer. */
    REQUIRE(ask(&attacker, (struct agent_cmd){ .op = 'n', .h = h, .count = 300 }, &r) == 0);
    CHECK_EQ_LONG(r.hits, 0);
    CHECK(own_fds() == before);
    /* The recipient is still served. */
    REQUIRE(ask(&right, (struct agent_cmd){ .op = 'o', .h = h, .flags = O_RDONLY }, &r) == 0);
    CHECK(r.rc >= 0 && strcmp(r.text, TEXT) == 0);
    /* The handle's listener, object and pidfd go once the answer is sent.
     * The serving thread answers and lets go of the handle under the
     * handle table's lock, which shm_delete_handle() takes: once it
     * returns, the thread is done with the handle (spent: ESRCH). */
    errno = 0;
    CHECK(shm_delete_handle(h) == -1 && errno == ESRCH);
    CHECK_EQ_LONG(own_fds(), before - 3);
    stop_agent(&right);
    stop_agent(&attacker);
    close(fd);
}

TEST(outstanding_handles_are_bounded)
{
    int fd = make_object(PAGE, 0);
    REQUIRE(fd >= 0);
    static shm_handle_t hs[PM_SHM_MAX_HANDLES];
    int made = 0;
    for (int i = 0; i < PM_SHM_MAX_HANDLES; i++)
        made += shm_create_handle(fd, getpid(), O_RDONLY, &hs[i], 0) == 0;
    CHECK_EQ_LONG(made, PM_SHM_MAX_HANDLES);
    shm_handle_t more;
    CHECK(shm_create_handle(fd, getpid(), O_RDONLY, &more, 0) == -1 && errno == EAGAIN);
    /* Our own handles, redeemed by ourselves (the creator may be the
     * recipient): one frees a slot. */
    int got = shm_open_handle(hs[0], O_RDONLY);
    CHECK(got >= 0);
    close(got);
    CHECK(shm_create_handle(fd, getpid(), O_RDONLY, &hs[0], 0) == 0);
    for (int i = 0; i < PM_SHM_MAX_HANDLES; i++)
        CHECK(shm_delete_handle(hs[i]) == 0);
    close(fd);
}

/* Another user (uid 65534) against a root creator: a handle meant for
 * someone else gives it nothing; a read-only handle meant for it gives it
 * read access only, without sealing the creator's object (it could not
 * write the inode anyway). */
TEST(another_user_cannot_redeem_or_widen_a_handle)
{
    if (geteuid() != 0)
        SKIP("needs root to start a process of uid 65534");
    int fd = make_object(PAGE, 0);
    REQUIRE(fd >= 0);
    struct target right, hostile;
    REQUIRE(start_agent(&right) == 0);
    REQUIRE(start_agent(&hostile) == 0);
    struct agent_res r;
    REQUIRE(ask(&hostile, (struct agent_cmd){ .op = 'x' }, &r) == 0);
    REQUIRE(r.rc == 0);
    shm_handle_t theirs, mine;
    REQUIRE(shm_create_handle(fd, right.pid, O_RDWR, &theirs, 0) == 0);
    REQUIRE(ask(&hostile, (struct agent_cmd){ .op = 'o', .h = theirs, .flags = O_RDONLY }, &r) == 0);
    CHECK(r.rc == -1 && r.err == ESRCH);
    REQUIRE(ask(&hostile, (struct agent_cmd){ .op = 'm', .h = theirs, .flags = PROT_READ,
                                        .len = PAGE }, &r) == 0);
    CHECK(r.rc == -1 && r.err == ESRCH);
    REQUIRE(ask(&hostile, (struct agent_cmd){ .op = 'n', .h = theirs, .count = 50 }, &r) == 0);
    CHECK_EQ_LONG(r.hits, 0);
    REQUIRE(ask(&hostile, (struct agent_cmd){ .op = 'b', .count = 500 }, &r) == 0);
    CHECK_EQ_LONG(r.hits, 0);
    REQUIRE(ask(&right, (struct agent_cmd){ .op = 'o', .h = theirs, .flags = O_RDWR }, &r) == 0);
    CHECK(r.rc >= 0 && r.access == O_RDWR);

    REQUIRE(shm_create_handle(fd, hostile.pid, O_RDONLY, &mine, 0) == 0);
    REQUIRE(ask(&hostile, (struct agent_cmd){ .op = 'o', .h = mine, .flags = O_RDONLY }, &r) == 0);
    CHECK(r.rc >= 0 && strcmp(r.text, TEXT) == 0 && r.access == O_RDONLY);
    CHECK(!r.reopen_rw && !r.write_ok && !r.map_w);
    CHECK(pwrite(fd, "Z", 1, 300) == 1); /* not sealed: it was not needed */
    stop_agent(&right);
    stop_agent(&hostile);
    close(fd);
}

/* A read-only grant stays read-only whoever ends up holding the
 * descriptor.  The recipient (uid 65534) cannot write the object itself,
 * but the object's mode lets a group write it: the recipient passes its
 * descriptor to a colluder of that group, which must not be able to
 * reopen it for writing (/proc/self/fd/N) and write the creator's
 * object.  A descriptor goes wherever its holder sends it, so the mode's
 * group and other bits count, not only the recipient's credentials. */
TEST(a_read_only_grant_cannot_be_widened_by_passing_it_on)
{
    if (geteuid() != 0)
        SKIP("needs root to start processes of uid 65534");
    const gid_t group = 4242; /* a group 65534 is not in */
    int fd = make_object(PAGE, 0);
    REQUIRE(fd >= 0);
    REQUIRE(fchown(fd, 0, group) == 0 && fchmod(fd, 0660) == 0);
    REQUIRE(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, pass_sv) == 0);
    struct target hostile, colluder;
    REQUIRE(start_agent(&hostile) == 0);
    REQUIRE(start_agent(&colluder) == 0);
    struct agent_res r;
    REQUIRE(ask(&hostile, (struct agent_cmd){ .op = 'x' }, &r) == 0);
    REQUIRE(r.rc == 0);
    REQUIRE(ask(&colluder, (struct agent_cmd){ .op = 'g', .count = (int)group }, &r) == 0);
    REQUIRE(r.rc == 0);
    shm_handle_t h;
    REQUIRE(shm_create_handle(fd, hostile.pid, O_RDONLY, &h, 0) == 0);
    REQUIRE(ask(&hostile, (struct agent_cmd){ .op = 'P', .h = h, .flags = O_RDONLY }, &r) == 0);
    REQUIRE(r.rc >= 0);
    CHECK(r.access == O_RDONLY && !r.reopen_rw && !r.write_ok && !r.map_w);
    REQUIRE(ask(&colluder, (struct agent_cmd){ .op = 'W' }, &r) == 0);
    REQUIRE(r.rc >= 0);
    CHECK(r.access == O_RDONLY);
    CHECK(!r.write_ok && !r.map_w);
    char seen[2] = { 0 };
    CHECK(pread(fd, seen, 1, 100) == 1 && seen[0] != 'X');
    stop_agent(&hostile);
    stop_agent(&colluder);
    close(pass_sv[0]);
    close(pass_sv[1]);
    pass_sv[0] = pass_sv[1] = -1;
    close(fd);
}

TEST(a_forked_creator_child_serves_nothing_and_is_not_the_creator)
{
    int fd = make_object(PAGE, 1);
    REQUIRE(fd >= 0);
    struct target t;
    REQUIRE(start_agent(&t) == 0);
    shm_handle_t h;
    REQUIRE(shm_create_handle(fd, t.pid, O_RDONLY, &h, 0) == 0);
    pid_t k = fork();
    REQUIRE(k >= 0);
    if (k == 0) {
        int ok = shm_delete_handle(h) == -1 && errno == ESRCH &&
                 shm_revoke(fd, t.pid) == -1 && errno == EPERM;
        _exit(ok ? 0 : 1);
    }
    int st;
    CHECK((st = reap_ms(k, 20000)) != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0);
    struct agent_res r;
    REQUIRE(ask(&t, (struct agent_cmd){ .op = 'o', .h = h, .flags = O_RDONLY }, &r) == 0);
    CHECK(r.rc >= 0);
    stop_agent(&t);
    close(fd);
}

/* shm_revoke: the recipient's mapping really stops giving access. */
static void revoke_case(int inband)
{
    int fd = make_object(4 * PAGE, 1);
    REQUIRE(fd >= 0);
    struct target t;
    REQUIRE(start_agent(&t) == 0);
    shm_handle_t h, unused;
    REQUIRE(shm_create_handle(fd, t.pid, O_RDWR, &h, SHM_CREATE_HANDLE_OPT_NOFD) == 0);
    REQUIRE(shm_create_handle(fd, t.pid, O_RDWR, &unused, 0) == 0);
    struct agent_res r;
    REQUIRE(ask(&t, (struct agent_cmd){ .op = 'm', .h = h, .flags = PROT_READ | PROT_WRITE,
                                  .len = 4 * PAGE }, &r) == 0);
    REQUIRE(r.rc == 0);
    uint64_t addr = r.addr;
    CHECK(maps_has(t.pid, (uintptr_t)addr, 4 * PAGE, "rw-s") == 1);
    /* MAP_NOINHERIT: a child of the recipient does not get it. */
    REQUIRE(ask(&t, (struct agent_cmd){ .op = 'f', .addr = addr, .len = 4 * PAGE }, &r) == 0);
    CHECK_EQ_LONG(r.rc, 0);

    if (inband) {
        int chid = ChannelCreate(0);
        REQUIRE(chid > 0);
        struct agent_cmd m = { .op = 'M', .pid = getpid(), .chid = chid };
        REQUIRE(target_write(&t, &m, sizeof m) == 0);
        struct _msg_info info;
        char b;
        rcvid_t rcv = MsgReceive(chid, &b, 1, &info);
        REQUIRE(rcv > 0);
        CHECK(shm_revoke(fd, t.pid) == 0);
        CHECK_EQ_LONG(peermap_last_path(), PEERMAP_PATH_INBAND);
        MsgReply(rcv, 0, &b, 1);
        REQUIRE(target_read(&t, &r, sizeof r, 5000) == 0);
        ChannelDestroy(chid);
    } else {
        CHECK(shm_revoke(fd, t.pid) == 0);
    }
    /* From outside: the range is there, inaccessible, and not the object. */
    CHECK(maps_has(t.pid, (uintptr_t)addr, 4 * PAGE, "---p") == 1);
    struct stat st;
    REQUIRE(fstat(fd, &st) == 0);
    struct range_probe { int n; } probe = { 0 };
    char path[40], line[512];
    snprintf(path, sizeof path, "/proc/%d/maps", (int)t.pid);
    FILE *f = fopen(path, "re");
    while (f && fgets(line, sizeof line, f)) {
        unsigned long long ino;
        if (sscanf(line, "%*x-%*x %*s %*s %*s %llu", &ino) == 1 && ino == (unsigned long long)st.st_ino)
            probe.n++;
    }
    if (f)
        fclose(f);
    CHECK_EQ_LONG(probe.n, 0);
    /* The unused handle went with it. */
    REQUIRE(ask(&t, (struct agent_cmd){ .op = 'o', .h = unused, .flags = O_RDWR }, &r) == 0);
    CHECK(r.rc == -1 && r.err == ESRCH);
    /* The creator keeps its object. */
    char back[sizeof TEXT];
    CHECK(pread(fd, back, sizeof back, 0) == (ssize_t)sizeof back && strcmp(back, TEXT) == 0);
    /* From inside: a touch faults. */
    struct agent_cmd touch = { .op = 't', .addr = addr };
    REQUIRE(target_write(&t, &touch, sizeof touch) == 0);
    CHECK(target_read(&t, &r, sizeof r, 5000) == -1);
    int status = target_finish(&t, 5000);
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV);
    close(fd);
}

TEST(shm_revoke_in_band_makes_a_reply_blocked_recipient_fault)
{
    revoke_case(1);
}

TEST(shm_revoke_by_ptrace_makes_a_running_recipient_fault)
{
    /* As uid 65534 the harness grants PROCMGR_AID_MEM_PEER, as a QNX parent
     * would; the recipient is our child, so Yama allows the ptrace. */
    revoke_case(0);
}

TEST(shm_revoke_refuses_what_it_may_not_do)
{
    int plain = make_object(PAGE, 0);
    REQUIRE(plain >= 0);
    CHECK(shm_revoke(plain, getpid()) == -1 && errno == EINVAL); /* not revocable */
    CHECK(shm_revoke(-1, getpid()) == -1 && errno == EBADF);
    int rev = make_object(PAGE, 1);
    REQUIRE(rev >= 0);
    CHECK(shm_revoke(rev, 0) == -1 && errno == EINVAL);
    CHECK(shm_revoke(rev, 4194304 + 1) == -1 && errno == ESRCH);
    /* pid -1: every mapping, the creator's own included. */
    char *p = mmap(NULL, PAGE, PROT_READ, MAP_SHARED, rev, 0);
    REQUIRE(p != MAP_FAILED);
    CHECK(strcmp(p, TEXT) == 0);
    CHECK(shm_revoke(rev, -1) == 0);
    CHECK(maps_has(getpid(), (uintptr_t)p, PAGE, "---p") == 1);
    munmap(p, PAGE);
    close(rev);
    close(plain);
}

TEST(names_have_qnx_values)
{
    CHECK_EQ_LONG(sizeof(shm_handle_t), 8);
    CHECK_EQ_LONG(SHM_CREATE_HANDLE_OPT_NOFD, 0x1);
    CHECK(SHM_ANON == (char *)-1);
    CHECK_EQ_LONG(SHMCTL_ANON, 0x1);
    CHECK_EQ_LONG(SHMCTL_PHYS, 0x2);
    CHECK_EQ_LONG(SHMCTL_SEAL, 0x4);
    CHECK_EQ_LONG(SHMCTL_REVOCABLE, 0x8);
    CHECK_EQ_LONG(SHMCTL_GLOBAL, 0x10);
    CHECK_EQ_LONG(SHMCTL_PRIV, 0x20);
    CHECK_EQ_LONG(SHMCTL_LOWERPROT, 0x40);
    CHECK_EQ_LONG(SHMCTL_LAZYWRITE, 0x80);
    CHECK_EQ_LONG(SHMCTL_HIGHUSAGE, 0x200);
    CHECK_EQ_LONG(SHMCTL_LAZY, 0x400);
    CHECK_EQ_LONG(SHMCTL_REPEAT, 0x800);
    CHECK_EQ_LONG(SHMCTL_NODEFRAG, 0x1000);
    CHECK_EQ_LONG(SHMCTL_TYMEM, 0x2000);
    CHECK_EQ_LONG(SHMCTL_GET_FLAGS, 0x4000);
    CHECK_EQ_LONG(SHMCTL_HAS_SPECIAL, 0x8000);
}
