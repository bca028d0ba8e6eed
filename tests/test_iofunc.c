/*
 * The POSIX layer of resource managers (<sys/iofunc.h>): every iofunc_*
 * call with its failure paths.  Handlers get a resmgr_context_t built here;
 * where the caller's identity matters, a forked child really connects to a
 * channel of ours and its message is received, so that ctp->info.scoid is a
 * real connection and the identity is the kernel's.  Run as root, the
 * "nobody" child drops to uid/gid 65534 with supplementary group 4242; run
 * as nobody, every child is nobody.
 */
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "helpers.h"
#include "sys/iofunc.h" /* first: the handler tables then take iofunc_*_t */
#include "devctl.h"
#include "sys/dispatch.h"
#include "peermap.h"

#define SUPP_GROUP 4242

/* ---- a context of our own ---- */

struct tctx {
    resmgr_context_t ctp;
    iov_t more[7];
    union {
        resmgr_iomsgs_t m;
        unsigned char raw[4096];
    } buf;
};

static dispatch_t *the_dpp;
static int next_coid = 1000;

static dispatch_t *dpp(void)
{
    if (!the_dpp)
        the_dpp = dispatch_create();
    return the_dpp;
}

/* A context whose connection is fake (no identity) but unique, so that
 * every open bound through it is a binding of its own. */
static void ctx_init(struct tctx *t)
{
    memset(t, 0, sizeof *t);
    t->ctp.dpp = dpp();
    t->ctp.id = -1;
    t->ctp.nparts_max = 8;
    t->ctp.msg = &t->buf.m;
    t->ctp.msg_max_size = sizeof t->buf;
    t->ctp.info.scoid = 0x7ffff0;
    t->ctp.info.coid = next_coid++;
}

static struct _client_info mkinfo(uid_t uid, gid_t gid, int nsupp, gid_t supp)
{
    struct _client_info ci;
    memset(&ci, 0, sizeof ci);
    ci.pid = getpid();
    ci.cred.ruid = ci.cred.euid = ci.cred.suid = uid;
    ci.cred.rgid = ci.cred.egid = ci.cred.sgid = gid;
    ci.cred.ngroups = (uint32_t)nsupp;
    if (nsupp)
        ci.cred.grouplist[0] = supp;
    return ci;
}

static void open_msg(io_open_t *m, unsigned ioflag, unsigned sflag)
{
    memset(m, 0, sizeof *m);
    m->connect.type = _IO_CONNECT;
    m->connect.subtype = _IO_CONNECT_OPEN;
    m->connect.ioflag = ioflag;
    m->connect.sflag = (uint16_t)sflag;
}

/* O_* to the connect message's form (access mode + 1). */
static unsigned io(int oflag)
{
    return (unsigned)((oflag & ~O_ACCMODE) | ((oflag & O_ACCMODE) + 1));
}

/* ---- a real client ---- */

enum who { CLIENT_SELF, CLIENT_NOBODY };

struct live {
    int chid;
    pid_t pid;
    rcvid_t rcvid;
    struct tctx t;
    uid_t euid;   /* who the client is, as we expect the kernel to say */
    int supp;     /* whether it has SUPP_GROUP */
};

static int live_start(struct live *l, enum who who)
{
    memset(l, 0, sizeof *l);
    l->chid = ChannelCreate(0);
    if (l->chid < 0)
        return -1;
    int drop = who == CLIENT_NOBODY && geteuid() == 0;
    pid_t parent = getpid();
    int chid = l->chid;
    l->pid = fork();
    if (l->pid < 0)
        return -1;
    if (l->pid == 0) {
        if (drop) {
            gid_t g = SUPP_GROUP;
            if (setgroups(1, &g) < 0 || setresgid(NOBODY, NOBODY, NOBODY) < 0 ||
                setresuid(NOBODY, NOBODY, NOBODY) < 0)
                _exit(20);
        }
        int coid = ConnectAttach(ND_LOCAL_NODE, parent, chid, 0, 0);
        if (coid < 0)
            _exit(21);
        MsgSend(coid, "hello", 5, NULL, 0);
        _exit(0);
    }
    l->euid = drop ? NOBODY : geteuid();
    l->supp = drop;
    char b[64];
    struct _msg_info info;
    rcvid_t r;
    long long until = now_ms() + 10000;
    do
        r = MsgReceive(l->chid, b, sizeof b, &info);
    while (r == 0 && now_ms() < until);
    if (r <= 0)
        return -1;
    l->rcvid = r;
    ctx_init(&l->t);
    l->t.ctp.rcvid = r;
    l->t.ctp.info = info;
    l->t.ctp.info.coid = next_coid++; /* our bindings must not replace each other */
    return 0;
}

static void live_stop(struct live *l)
{
    if (l->rcvid > 0)
        MsgReply(l->rcvid, 0, NULL, 0);
    if (l->pid > 0) {
        int st;
        waitpid(l->pid, &st, 0);
    }
    if (l->chid > 0)
        ChannelDestroy(l->chid);
}

/* ---- attr ---- */

TEST(attr_init_defaults)
{
    iofunc_attr_t a, b;
    memset(&a, 0xa5, sizeof a);
    time_t before = time(NULL);
    iofunc_attr_init(&a, S_IFCHR | 0640, NULL, NULL);
    iofunc_attr_init(&b, S_IFREG | 0600, NULL, NULL);
    CHECK_EQ_LONG(a.mode, S_IFCHR | 0640);
    CHECK_EQ_LONG(a.nlink, 1);
    CHECK_EQ_LONG(a.uid, geteuid());
    CHECK_EQ_LONG(a.gid, getegid());
    CHECK(a.mtime >= before && a.mtime <= time(NULL));
    CHECK(a.atime == a.mtime && a.ctime == a.mtime);
    CHECK(a.count == 0 && a.rcount == 0 && a.wcount == 0 && a.rlocks == 0 && a.wlocks == 0);
    CHECK(a.flags == 0 && a.lock_count == 0 && a.lock_tid == 0 && a.nbytes == 0);
    CHECK(a.mount == NULL && a.mmap_list == NULL && a.lock_list == NULL);
    CHECK(a.inode != 0 && b.inode != 0 && a.inode != b.inode);
    iofunc_attr_init(NULL, 0, NULL, NULL); /* harmless */
}

TEST(attr_init_owner_from_info_or_directory)
{
    struct _client_info ci = mkinfo(1234, 5678, 0, 0);
    iofunc_attr_t d, a;
    iofunc_attr_init(&d, S_IFDIR | 0755, NULL, NULL);
    d.uid = 42;
    d.gid = 43;
    iofunc_attr_init(&a, S_IFREG | 0644, NULL, &ci);
    CHECK(a.uid == 1234 && a.gid == 5678);
    iofunc_mount_t mnt = { .dev = 9 };
    d.mount = &mnt;
    iofunc_attr_init(&a, S_IFREG | 0644, &d, NULL);
    CHECK(a.uid == 42 && a.gid == 43);
    CHECK(a.mount == &mnt); /* the directory's file system */
    iofunc_attr_init(&a, S_IFREG | 0644, &d, &ci);
    CHECK(a.uid == 1234 && a.gid == 5678);
    d.mode |= S_ISGID; /* the directory's group is inherited */
    iofunc_attr_init(&a, S_IFREG | 0644, &d, &ci);
    CHECK(a.uid == 1234 && a.gid == 43);
}

struct lock_arg {
    iofunc_attr_t *a;
    atomic_int got;
    int tid;
    int try_rc, unlock_rc;
};

static void *try_other(void *p)
{
    struct lock_arg *l = p;
    l->try_rc = iofunc_attr_trylock(l->a);
    l->unlock_rc = iofunc_attr_unlock(l->a);
    return NULL;
}

static void *lock_other(void *p)
{
    struct lock_arg *l = p;
    __atomic_store_n(&l->tid, (int)gettid(), __ATOMIC_SEQ_CST);
    if (iofunc_attr_lock(l->a) == EOK) {
        atomic_store(&l->got, 1);
        iofunc_attr_unlock(l->a);
    }
    return NULL;
}


TEST(attr_lock_is_recursive_per_thread_and_exclusive)
{
    iofunc_attr_t a;
    iofunc_attr_init(&a, S_IFREG | 0600, NULL, NULL);
    CHECK_EQ_LONG(iofunc_attr_unlock(&a), EPERM); /* not held */
    CHECK_EQ_LONG(iofunc_attr_lock(&a), EOK);
    CHECK_EQ_LONG(iofunc_attr_lock(&a), EOK);
    CHECK_EQ_LONG(iofunc_attr_trylock(&a), EOK);
    CHECK_EQ_LONG(a.lock_count, 3);
    CHECK_EQ_LONG(a.lock_tid, gettid());

    struct lock_arg l = { .a = &a };
    pthread_t th;
    REQUIRE(pthread_create(&th, NULL, try_other, &l) == 0);
    pthread_join(th, NULL);
    CHECK_EQ_LONG(l.try_rc, EBUSY);
    CHECK_EQ_LONG(l.unlock_rc, EPERM); /* not its lock */
    CHECK_EQ_LONG(a.lock_count, 3);

    REQUIRE(pthread_create(&th, NULL, lock_other, &l) == 0);
    CHECK_EQ_LONG(iofunc_attr_unlock(&a), EOK);
    CHECK_EQ_LONG(iofunc_attr_unlock(&a), EOK);
    /* Once the other thread sleeps waiting for the lock, it must still be
     * waiting: we hold it once more. */
    CHECK(thread_in_syscall(&l.tid, SYS_futex, 10000) == 0);
    CHECK_EQ_LONG(atomic_load(&l.got), 0); /* still held once */
    CHECK_EQ_LONG(iofunc_attr_unlock(&a), EOK);
    pthread_join(th, NULL);
    CHECK_EQ_LONG(atomic_load(&l.got), 1);
    CHECK(a.lock_count == 0 && a.lock_tid == 0);
    CHECK_EQ_LONG(iofunc_attr_unlock(&a), EPERM);
    CHECK_EQ_LONG(iofunc_attr_lock(NULL), EINVAL);

    /* The OCB defaults lock the OCB's attribute. */
    iofunc_ocb_t ocb = { .attr = &a };
    CHECK_EQ_LONG(iofunc_lock_ocb_default(NULL, NULL, &ocb), EOK);
    CHECK_EQ_LONG(a.lock_count, 1);
    CHECK_EQ_LONG(iofunc_unlock_ocb_default(NULL, NULL, &ocb), EOK);
    CHECK_EQ_LONG(a.lock_count, 0);
    CHECK_EQ_LONG(iofunc_unlock_ocb_default(NULL, NULL, &ocb), EPERM);
}

struct hammer {
    iofunc_attr_t *a;
    long *counter;
};

static void *hammer_main(void *p)
{
    struct hammer *h = p;
    for (int i = 0; i < 20000; i++) {
        if (iofunc_attr_lock(h->a) != EOK)
            return NULL;
        iofunc_attr_lock(h->a); /* recursively, too */
        long v = *h->counter;
        *h->counter = v + 1;
        iofunc_attr_unlock(h->a);
        iofunc_attr_unlock(h->a);
    }
    return NULL;
}

TEST(attr_lock_excludes_under_contention)
{
    iofunc_attr_t a[2];
    long counter[2] = { 0, 0 };
    iofunc_attr_init(&a[0], S_IFREG, NULL, NULL);
    iofunc_attr_init(&a[1], S_IFREG, NULL, NULL);
    struct hammer h[6];
    pthread_t th[6];
    for (int i = 0; i < 6; i++) {
        h[i] = (struct hammer){ &a[i % 2], &counter[i % 2] };
        REQUIRE(pthread_create(&th[i], NULL, hammer_main, &h[i]) == 0);
    }
    for (int i = 0; i < 6; i++)
        pthread_join(th[i], NULL);
    CHECK_EQ_LONG(counter[0], 60000);
    CHECK_EQ_LONG(counter[1], 60000);
    CHECK(a[0].lock_count == 0 && a[1].lock_count == 0);
}

/* ---- tables ---- */

TEST(func_init_fills_the_defaults)
{
    resmgr_connect_funcs_t c;
    resmgr_io_funcs_t f;
    memset(&c, 0xff, sizeof c);
    memset(&f, 0xff, sizeof f);
    iofunc_func_init(_RESMGR_CONNECT_NFUNCS, &c, _RESMGR_IO_NFUNCS, &f);
    CHECK_EQ_LONG(c.nfuncs, _RESMGR_CONNECT_NFUNCS);
    CHECK_EQ_LONG(f.nfuncs, _RESMGR_IO_NFUNCS);
    CHECK(c.open == iofunc_open_default);
    CHECK(c.unlink == NULL && c.rename == NULL && c.mknod == NULL && c.readlink == NULL &&
          c.link == NULL && c.unblock == NULL && c.mount == NULL);
    CHECK(f.read == iofunc_read_default && f.write == iofunc_write_default);
    CHECK(f.close_ocb == iofunc_close_ocb_default && f.stat == iofunc_stat_default);
    CHECK(f.devctl == iofunc_devctl_default && f.pathconf == iofunc_pathconf_default);
    CHECK(f.lseek == iofunc_lseek_default && f.chmod == iofunc_chmod_default);
    CHECK(f.chown == iofunc_chown_default && f.sync == iofunc_sync_default);
    CHECK(f.lock_ocb == iofunc_lock_ocb_default && f.unlock_ocb == iofunc_unlock_ocb_default);
    CHECK(f.mmap == iofunc_mmap_default);
    CHECK(f.unblock == iofunc_unblock_default && f.close_dup == iofunc_close_dup_default);
    CHECK(f.notify == NULL && f.utime == NULL && f.openfd == NULL &&
          f.fdinfo == NULL && f.lock == NULL && f.space == NULL && f.shutdown == NULL &&
          f.msg == NULL && f.reserved == NULL && f.dup == NULL);
    /* The 64-bit forms go to read/write/...: no handler of their own. */
    CHECK(f.power == NULL && f.acl == NULL && f.pause == NULL && f.unpause == NULL &&
          f.read64 == NULL && f.write64 == NULL && f.notify64 == NULL && f.utime64 == NULL);

    /* A shorter table: only its slots are written. */
    void *sentinel;
    memset(&sentinel, 0xff, sizeof sentinel);
    memset(&f, 0xff, sizeof f);
    iofunc_func_init(0, NULL, 3, &f);
    CHECK_EQ_LONG(f.nfuncs, 3);
    CHECK(f.read == iofunc_read_default && f.write == iofunc_write_default &&
          f.close_ocb == iofunc_close_ocb_default);
    CHECK(memcmp(&f.stat, &sentinel, sizeof sentinel) == 0);
    /* A longer count than the table is cut to the table. */
    iofunc_func_init(1000, &c, 0, NULL);
    CHECK_EQ_LONG(c.nfuncs, _RESMGR_CONNECT_NFUNCS);
}

/* ---- access ---- */

TEST(check_access_permission_matrix)
{
    iofunc_attr_t a;
    iofunc_attr_init(&a, S_IFREG, NULL, NULL);
    a.uid = 1000;
    a.gid = 2000;
    struct {
        const char *name;
        struct _client_info ci;
        int shift; /* which class applies: 6 owner, 3 group, 0 other, -1 root */
    } who[] = {
        { "owner", mkinfo(1000, 9, 0, 0), 6 },
        { "owner in group", mkinfo(1000, 2000, 0, 0), 6 },
        { "group (egid)", mkinfo(1001, 2000, 0, 0), 3 },
        { "group (supplementary)", mkinfo(1001, 9, 1, 2000), 3 },
        { "other", mkinfo(NOBODY, NOBODY, 0, 0), 0 },
        { "root", mkinfo(0, 0, 0, 0), -1 },
    };
    const mode_t rights[] = { S_IREAD, S_IWRITE, S_IEXEC, S_IREAD | S_IWRITE };
    for (unsigned w = 0; w < sizeof who / sizeof who[0]; w++) {
        for (unsigned bits = 0; bits < 01000; bits++) {
            a.mode = S_IFREG | bits;
            for (unsigned r = 0; r < sizeof rights / sizeof rights[0]; r++) {
                mode_t want = rights[r];
                int expect;
                if (who[w].shift < 0)
                    expect = (want & S_IEXEC) && !(bits & 0111) ? EACCES : EOK;
                else {
                    mode_t have = (bits >> who[w].shift) & 7;
                    mode_t need = (want >> 6) & 7;
                    expect = (have & need) == need ? EOK : EACCES;
                }
                int got = iofunc_check_access(NULL, &a, want, &who[w].ci);
                if (got != expect) {
                    fprintf(stderr, "  %s, mode %03o, want %03o: %d, expected %d\n",
                            who[w].name, bits, (unsigned)want, got, expect);
                    pm_cur_failed = 1;
                }
            }
        }
    }
    /* Only the first matching class counts. */
    a.mode = S_IFREG | 0077;
    CHECK_EQ_LONG(iofunc_check_access(NULL, &a, S_IREAD, &who[0].ci), EACCES);
    /* Nothing asked: allowed. */
    CHECK_EQ_LONG(iofunc_check_access(NULL, &a, 0, &who[4].ci), EOK);
    /* "Owner or root", "group member or root". */
    CHECK_EQ_LONG(iofunc_check_access(NULL, &a, S_ISUID, &who[0].ci), EOK);
    CHECK_EQ_LONG(iofunc_check_access(NULL, &a, S_ISUID, &who[5].ci), EOK);
    CHECK_EQ_LONG(iofunc_check_access(NULL, &a, S_ISUID, &who[2].ci), EPERM);
    CHECK_EQ_LONG(iofunc_check_access(NULL, &a, S_ISUID, &who[4].ci), EPERM);
    CHECK_EQ_LONG(iofunc_check_access(NULL, &a, S_ISGID, &who[2].ci), EOK);
    CHECK_EQ_LONG(iofunc_check_access(NULL, &a, S_ISGID, &who[3].ci), EOK);
    CHECK_EQ_LONG(iofunc_check_access(NULL, &a, S_ISGID, &who[5].ci), EOK);
    CHECK_EQ_LONG(iofunc_check_access(NULL, &a, S_ISGID, &who[0].ci), EPERM);
    CHECK_EQ_LONG(iofunc_check_access(NULL, &a, S_ISGID, &who[4].ci), EPERM);
    CHECK_EQ_LONG(iofunc_check_access(NULL, NULL, S_IREAD, &who[4].ci), EINVAL);
}

TEST(client_identity_comes_from_the_kernel)
{
    struct live l;
    REQUIRE(live_start(&l, CLIENT_NOBODY) == 0);
    resmgr_context_t *ctp = &l.t.ctp;
    struct _client_info ci;
    CHECK_EQ_LONG(iofunc_client_info(ctp, (int)io(O_RDWR), &ci), EOK);
    CHECK_EQ_LONG(ci.pid, l.pid);
    CHECK_EQ_LONG(ci.cred.euid, l.euid);
    CHECK_EQ_LONG(ci.flags, io(O_RDWR));
    if (l.supp) {
        CHECK_EQ_LONG(ci.cred.egid, NOBODY);
        CHECK(ci.cred.ngroups >= 1 && ci.cred.grouplist[0] == SUPP_GROUP);
    }

    /* iofunc_check_access() asks the kernel itself when given no info. */
    iofunc_attr_t a;
    iofunc_attr_init(&a, S_IFREG | 0600, NULL, NULL);
    a.uid = l.euid == 0 ? 1 : 0; /* someone else */
    a.gid = 1;
    CHECK_EQ_LONG(iofunc_check_access(ctp, &a, S_IREAD, NULL), l.euid == 0 ? EOK : EACCES);
    a.mode = S_IFREG | 0604;
    CHECK_EQ_LONG(iofunc_check_access(ctp, &a, S_IREAD, NULL), EOK);
    CHECK_EQ_LONG(iofunc_check_access(ctp, &a, S_IWRITE, NULL), l.euid == 0 ? EOK : EACCES);
    if (l.supp) { /* the supplementary group is the kernel's too */
        a.gid = SUPP_GROUP;
        a.mode = S_IFREG | 0060;
        CHECK_EQ_LONG(iofunc_check_access(ctp, &a, S_IREAD | S_IWRITE, NULL), EOK);
        CHECK_EQ_LONG(iofunc_check_access(ctp, &a, S_ISGID, NULL), EOK);
    }

    /* iofunc_open() too, and iofunc_open_default() binds an OCB. */
    a.uid = l.euid;
    a.mode = S_IFREG | 0400;
    io_open_t m;
    open_msg(&m, io(O_RDONLY), SH_DENYNO);
    CHECK_EQ_LONG(iofunc_open(ctp, &m, &a, NULL, NULL), EOK);
    open_msg(&m, io(O_WRONLY), SH_DENYNO);
    CHECK_EQ_LONG(iofunc_open(ctp, &m, &a, NULL, NULL), l.euid == 0 ? EOK : EACCES);
    open_msg(&m, io(O_RDONLY), SH_DENYNO);
    CHECK_EQ_LONG(iofunc_open_default(ctp, &m, &a, NULL), EOK);
    CHECK(a.count == 1 && a.rcount == 1 && a.wcount == 0);
    CHECK_EQ_LONG(a.lock_count, 0); /* open_default took and released the lock */

    /* A connection that does not exist. */
    struct tctx bad;
    ctx_init(&bad);
    bad.ctp.info.scoid = 0x7fffff;
    CHECK_EQ_LONG(iofunc_client_info(&bad.ctp, 0, &ci), ESRCH);
    CHECK_EQ_LONG(iofunc_check_access(&bad.ctp, &a, S_IREAD, NULL), ESRCH);
    CHECK_EQ_LONG(iofunc_open(&bad.ctp, &m, &a, NULL, NULL), ESRCH);
    CHECK_EQ_LONG(iofunc_client_info(NULL, 0, &ci), EINVAL);
    live_stop(&l);
}

/* ---- open ---- */

TEST(open_checks_permissions_per_client)
{
    struct tctx t;
    ctx_init(&t);
    iofunc_attr_t a;
    iofunc_attr_init(&a, S_IFREG | 0640, NULL, NULL);
    a.uid = 1000;
    a.gid = 2000;
    struct _client_info owner = mkinfo(1000, 1, 0, 0), group = mkinfo(1001, 2000, 0, 0),
                        other = mkinfo(NOBODY, NOBODY, 0, 0), root = mkinfo(0, 0, 0, 0);
    io_open_t m;
    struct { struct _client_info *ci; int oflag; int expect; } cases[] = {
        { &owner, O_RDONLY, EOK }, { &owner, O_WRONLY, EOK }, { &owner, O_RDWR, EOK },
        { &group, O_RDONLY, EOK }, { &group, O_WRONLY, EACCES }, { &group, O_RDWR, EACCES },
        { &other, O_RDONLY, EACCES }, { &other, O_WRONLY, EACCES }, { &other, O_RDWR, EACCES },
        { &root, O_RDONLY, EOK }, { &root, O_WRONLY, EOK }, { &root, O_RDWR, EOK },
    };
    for (unsigned i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        open_msg(&m, io(cases[i].oflag), SH_DENYNO);
        int got = iofunc_open(&t.ctp, &m, &a, NULL, cases[i].ci);
        if (got != cases[i].expect) {
            fprintf(stderr, "  case %u: %d, expected %d\n", i, got, cases[i].expect);
            pm_cur_failed = 1;
        }
    }
    /* Opening with no access at all (stat-only, ioflag 0) needs no right. */
    open_msg(&m, 0, SH_DENYNO);
    CHECK_EQ_LONG(iofunc_open(&t.ctp, &m, &a, NULL, &other), EOK);
    CHECK(a.count == 0); /* iofunc_open() itself counts nothing */
    CHECK_EQ_LONG(iofunc_open(&t.ctp, NULL, &a, NULL, &other), EINVAL);
    CHECK_EQ_LONG(iofunc_open(&t.ctp, &m, NULL, NULL, &other), EINVAL);
}

TEST(open_trunc_excl_readonly_mount_directory)
{
    struct tctx t;
    ctx_init(&t);
    struct _client_info me = mkinfo(1000, 1000, 0, 0);
    iofunc_attr_t a;
    iofunc_attr_init(&a, S_IFREG | 0644, NULL, &me);
    a.nbytes = 4096;
    a.mtime = a.ctime = 1;
    io_open_t m;

    /* O_TRUNC without write access: nothing happens. */
    open_msg(&m, io(O_RDONLY | O_TRUNC), SH_DENYNO);
    CHECK_EQ_LONG(iofunc_open(&t.ctp, &m, &a, NULL, &me), EOK);
    CHECK_EQ_LONG(a.nbytes, 4096);
    /* O_TRUNC refused for permissions: nothing happens. */
    struct _client_info other = mkinfo(1001, 1001, 0, 0);
    open_msg(&m, io(O_WRONLY | O_TRUNC), SH_DENYNO);
    CHECK_EQ_LONG(iofunc_open(&t.ctp, &m, &a, NULL, &other), EACCES);
    CHECK_EQ_LONG(a.nbytes, 4096);
    /* Allowed: truncated, times marked. */
    CHECK_EQ_LONG(iofunc_open(&t.ctp, &m, &a, NULL, &me), EOK);
    CHECK_EQ_LONG(a.nbytes, 0);
    CHECK((a.flags & (IOFUNC_ATTR_MTIME | IOFUNC_ATTR_CTIME | IOFUNC_ATTR_DIRTY_SIZE)) ==
          (IOFUNC_ATTR_MTIME | IOFUNC_ATTR_CTIME | IOFUNC_ATTR_DIRTY_SIZE));
    iofunc_time_update(&a);
    CHECK(a.mtime > 1 && a.ctime > 1);
    /* O_TRUNC on something that is not a regular file is ignored. */
    iofunc_attr_t dev;
    iofunc_attr_init(&dev, S_IFCHR | 0666, NULL, &me);
    dev.nbytes = 10;
    CHECK_EQ_LONG(iofunc_open(&t.ctp, &m, &dev, NULL, &me), EOK);
    CHECK_EQ_LONG(dev.nbytes, 10);

    /* O_CREAT|O_EXCL on what exists. */
    open_msg(&m, io(O_RDWR | O_CREAT | O_EXCL), SH_DENYNO);
    CHECK_EQ_LONG(iofunc_open(&t.ctp, &m, &a, NULL, &me), EEXIST);
    open_msg(&m, io(O_RDWR | O_CREAT), SH_DENYNO);
    CHECK_EQ_LONG(iofunc_open(&t.ctp, &m, &a, NULL, &me), EOK);

    /* A read-only mount. */
    iofunc_mount_t mnt = { .flags = ST_RDONLY };
    a.mount = &mnt;
    open_msg(&m, io(O_WRONLY), SH_DENYNO);
    CHECK_EQ_LONG(iofunc_open(&t.ctp, &m, &a, NULL, &me), EROFS);
    open_msg(&m, io(O_RDONLY | O_TRUNC), SH_DENYNO);
    CHECK_EQ_LONG(iofunc_open(&t.ctp, &m, &a, NULL, &me), EROFS);
    open_msg(&m, io(O_RDONLY), SH_DENYNO);
    CHECK_EQ_LONG(iofunc_open(&t.ctp, &m, &a, NULL, &me), EOK);
    a.mount = NULL;

    /* A directory. */
    iofunc_attr_t d;
    iofunc_attr_init(&d, S_IFDIR | 0777, NULL, &me);
    open_msg(&m, io(O_WRONLY), SH_DENYNO);
    CHECK_EQ_LONG(iofunc_open(&t.ctp, &m, &d, NULL, &me), EISDIR);
    open_msg(&m, io(O_RDONLY), SH_DENYNO);
    CHECK_EQ_LONG(iofunc_open(&t.ctp, &m, &d, NULL, &me), EOK);

    /* Creating in a directory: write+search on it, the new attr for the
     * creator, who may open it whatever its mode. */
    iofunc_attr_t n;
    d.uid = 1000;
    d.mode = S_IFDIR | 0500;
    open_msg(&m, io(O_RDWR | O_CREAT), SH_DENYNO);
    m.connect.mode = 0;
    CHECK_EQ_LONG(iofunc_open(&t.ctp, &m, &n, &d, &me), EACCES);
    d.mode = S_IFDIR | 0300;
    d.mount = &mnt;
    mnt.flags = 0;
    CHECK_EQ_LONG(iofunc_open(&t.ctp, &m, &n, &d, &me), EOK);
    CHECK_EQ_LONG(n.mode, S_IFREG);
    CHECK(n.uid == 1000 && n.gid == 1000 && n.mount == &mnt);
    CHECK_EQ_LONG(iofunc_open(&t.ctp, &m, NULL, &d, &me), EOK); /* only the check */
    mnt.flags = ST_RDONLY;
    CHECK_EQ_LONG(iofunc_open(&t.ctp, &m, &n, &d, &me), EROFS);
}

TEST(open_share_modes_conflict_with_ebusy)
{
    struct _client_info me = mkinfo(1000, 1000, 0, 0);
    iofunc_attr_t a;
    iofunc_attr_init(&a, S_IFREG | 0666, NULL, &me);
    io_open_t m;
    struct tctx t1, t2, t3;
    ctx_init(&t1);
    ctx_init(&t2);
    ctx_init(&t3);

    /* A reader that denies writing. */
    open_msg(&m, io(O_RDONLY), SH_DENYWR);
    REQUIRE(iofunc_open(&t1.ctp, &m, &a, NULL, &me) == EOK);
    REQUIRE(iofunc_ocb_attach(&t1.ctp, &m, NULL, &a, NULL) == EOK);
    CHECK(a.count == 1 && a.rcount == 1 && a.wcount == 0 && a.rlocks == 0 && a.wlocks == 1);
    open_msg(&m, io(O_WRONLY), SH_DENYNO);
    CHECK_EQ_LONG(iofunc_open(&t2.ctp, &m, &a, NULL, &me), EBUSY);
    open_msg(&m, io(O_RDWR), SH_DENYNO);
    CHECK_EQ_LONG(iofunc_open(&t2.ctp, &m, &a, NULL, &me), EBUSY);
    open_msg(&m, io(O_RDONLY), SH_DENYNO);
    CHECK_EQ_LONG(iofunc_open(&t2.ctp, &m, &a, NULL, &me), EOK);
    /* Denying reading while someone reads. */
    open_msg(&m, io(O_RDONLY), SH_DENYRD);
    CHECK_EQ_LONG(iofunc_open(&t2.ctp, &m, &a, NULL, &me), EBUSY);
    open_msg(&m, io(O_RDONLY), SH_DENYRW);
    CHECK_EQ_LONG(iofunc_open(&t2.ctp, &m, &a, NULL, &me), EBUSY);
    /* Another that denies writing is fine (nobody writes). */
    open_msg(&m, io(O_RDONLY), SH_DENYWR);
    CHECK_EQ_LONG(iofunc_open(&t2.ctp, &m, &a, NULL, &me), EOK);
    /* SH_COMPAT is SH_DENYNO. */
    open_msg(&m, io(O_RDONLY), SH_COMPAT);
    CHECK_EQ_LONG(iofunc_open(&t2.ctp, &m, &a, NULL, &me), EOK);
    /* Not an SH_* value. */
    open_msg(&m, io(O_RDONLY), 0x50);
    CHECK_EQ_LONG(iofunc_open(&t2.ctp, &m, &a, NULL, &me), EINVAL);

    /* The reader closes: writers may come, and may deny reading. */
    struct tctx tw;
    ctx_init(&tw);
    /* Detach through a hand-made OCB equal to the one attached. */
    iofunc_ocb_t twin = { .attr = &a, .ioflag = (int32_t)io(O_RDONLY), .sflag = SH_DENYWR };
    CHECK_EQ_LONG(iofunc_ocb_detach(&t1.ctp, &twin),
                  IOFUNC_OCB_LAST_INUSE | IOFUNC_OCB_LAST_READER | IOFUNC_OCB_LAST_WRLOCK);
    CHECK(a.count == 0 && a.rcount == 0 && a.wlocks == 0);
    open_msg(&m, io(O_WRONLY), SH_DENYRD);
    REQUIRE(iofunc_open(&tw.ctp, &m, &a, NULL, &me) == EOK);
    REQUIRE(iofunc_ocb_attach(&tw.ctp, &m, NULL, &a, NULL) == EOK);
    CHECK(a.count == 1 && a.wcount == 1 && a.rlocks == 1 && a.wlocks == 0);
    open_msg(&m, io(O_RDONLY), SH_DENYNO);
    CHECK_EQ_LONG(iofunc_open(&t3.ctp, &m, &a, NULL, &me), EBUSY);
    open_msg(&m, io(O_WRONLY), SH_DENYNO);
    CHECK_EQ_LONG(iofunc_open(&t3.ctp, &m, &a, NULL, &me), EOK);
    open_msg(&m, io(O_WRONLY), SH_DENYWR);
    CHECK_EQ_LONG(iofunc_open(&t3.ctp, &m, &a, NULL, &me), EBUSY);
    open_msg(&m, 0, SH_DENYNO); /* no access at all: no conflict */
    CHECK_EQ_LONG(iofunc_open(&t3.ctp, &m, &a, NULL, &me), EOK);
    /* SH_DENYRW excludes everyone. */
    iofunc_ocb_t twin2 = { .attr = &a, .ioflag = (int32_t)io(O_WRONLY), .sflag = SH_DENYRD };
    CHECK_EQ_LONG(iofunc_ocb_detach(&tw.ctp, &twin2),
                  IOFUNC_OCB_LAST_INUSE | IOFUNC_OCB_LAST_WRITER | IOFUNC_OCB_LAST_RDLOCK);
    open_msg(&m, 0, SH_DENYRW);
    REQUIRE(iofunc_open(&t3.ctp, &m, &a, NULL, &me) == EOK);
    REQUIRE(iofunc_ocb_attach(&t3.ctp, &m, NULL, &a, NULL) == EOK);
    CHECK(a.rlocks == 1 && a.wlocks == 1);
    open_msg(&m, io(O_RDONLY), SH_DENYNO);
    CHECK_EQ_LONG(iofunc_open(&t2.ctp, &m, &a, NULL, &me), EBUSY);
    open_msg(&m, io(O_WRONLY), SH_DENYNO);
    CHECK_EQ_LONG(iofunc_open(&t2.ctp, &m, &a, NULL, &me), EBUSY);
    iofunc_ocb_t twin3 = { .attr = &a, .ioflag = 0, .sflag = SH_DENYRW };
    CHECK_EQ_LONG(iofunc_ocb_detach(&t3.ctp, &twin3),
                  IOFUNC_OCB_LAST_INUSE | IOFUNC_OCB_LAST_RDLOCK | IOFUNC_OCB_LAST_WRLOCK);
    CHECK(a.count == 0 && a.rcount == 0 && a.wcount == 0 && a.rlocks == 0 && a.wlocks == 0);
    /* The three OCBs still belong to their bindings, freed when the dispatch is. */
}

/* ---- OCBs ---- */

static atomic_int callocs, frees;
static iofunc_ocb_t *last_calloc;

static IOFUNC_OCB_T *my_calloc(resmgr_context_t *ctp, IOFUNC_ATTR_T *attr)
{
    (void)ctp;
    (void)attr;
    atomic_fetch_add(&callocs, 1);
    last_calloc = calloc(1, sizeof(iofunc_ocb_t) + 64);
    if (last_calloc)
        last_calloc->flags = IOFUNC_OCB_FLAGS_PRIVATE; /* a mark of ours */
    return last_calloc;
}

static void my_free(IOFUNC_OCB_T *ocb)
{
    atomic_fetch_add(&frees, 1);
    free(ocb);
}

TEST(ocb_attach_counts_and_close_uncounts)
{
    struct _client_info me = mkinfo(1000, 1000, 0, 0);
    iofunc_funcs_t funcs = { _IOFUNC_NFUNCS, my_calloc, my_free };
    iofunc_mount_t mnt = { .funcs = &funcs, .conf = IOFUNC_PC_CHOWN_RESTRICTED };
    iofunc_attr_t a;
    iofunc_attr_init(&a, S_IFREG | 0666, NULL, &me);
    a.mount = &mnt;
    a.nbytes = 777;
    io_open_t m;
    struct tctx t1, t2, t3;
    ctx_init(&t1);
    ctx_init(&t2);
    ctx_init(&t3);

    /* The mount's allocator is used; fields are filled from the message. */
    open_msg(&m, io(O_RDWR | O_APPEND | O_NONBLOCK), SH_DENYNO);
    atomic_store(&callocs, 0);
    atomic_store(&frees, 0);
    REQUIRE(iofunc_ocb_attach(&t1.ctp, &m, NULL, &a, NULL) == EOK);
    CHECK_EQ_LONG(atomic_load(&callocs), 1);
    iofunc_ocb_t *o1 = last_calloc;
    REQUIRE(o1 != NULL);
    CHECK(o1->attr == &a);
    CHECK_EQ_LONG(o1->ioflag, io(O_RDWR | O_APPEND | O_NONBLOCK));
    CHECK_EQ_LONG(o1->offset, 777); /* O_APPEND: at the end */
    CHECK_EQ_LONG(o1->sflag, SH_DENYNO);
    CHECK_EQ_LONG(o1->flags, IOFUNC_OCB_FLAGS_PRIVATE);
    CHECK(a.count == 1 && a.rcount == 1 && a.wcount == 1 && a.rlocks == 0 && a.wlocks == 0);
    CHECK_EQ_LONG(a.lock_count, 0);

    open_msg(&m, io(O_RDONLY), SH_DENYNO);
    REQUIRE(iofunc_ocb_attach(&t2.ctp, &m, NULL, &a, NULL) == EOK);
    iofunc_ocb_t *o2 = last_calloc;
    CHECK_EQ_LONG(o2->offset, 0);
    CHECK(a.count == 2 && a.rcount == 2 && a.wcount == 1);

    /* A caller's own OCB. */
    iofunc_ocb_t *mine = calloc(1, sizeof *mine);
    open_msg(&m, io(O_WRONLY), SH_DENYNO);
    REQUIRE(iofunc_ocb_attach(&t3.ctp, &m, mine, &a, NULL) == EOK);
    CHECK_EQ_LONG(atomic_load(&callocs), 2);
    CHECK(mine->attr == &a && a.count == 3 && a.wcount == 2);

    /* Closing: counts go down, times are brought up to date. */
    a.flags |= IOFUNC_ATTR_MTIME;
    a.mtime = 1;
    CHECK_EQ_LONG(iofunc_close_ocb_default(&t3.ctp, NULL, mine), EOK);
    CHECK_EQ_LONG(atomic_load(&frees), 1); /* through the mount's ocb_free */
    CHECK(a.count == 2 && a.rcount == 2 && a.wcount == 1);
    CHECK(a.mtime > 1 && !(a.flags & IOFUNC_ATTR_MTIME) && (a.flags & IOFUNC_ATTR_DIRTY_TIME));
    CHECK_EQ_LONG(iofunc_close_ocb(&t1.ctp, o1, &a), EOK);
    CHECK(a.count == 1 && a.rcount == 1 && a.wcount == 0);
    /* detach alone reports what reached zero, and frees nothing. */
    CHECK_EQ_LONG(iofunc_ocb_detach(&t2.ctp, o2), IOFUNC_OCB_LAST_INUSE | IOFUNC_OCB_LAST_READER);
    CHECK(a.count == 0 && a.rcount == 0);
    CHECK_EQ_LONG(atomic_load(&frees), 2);
    iofunc_ocb_t *o2again = o2; /* not freed yet: free it as its allocator would */
    my_free(o2again);
    CHECK_EQ_LONG(iofunc_ocb_detach(&t2.ctp, NULL), 0);
    CHECK_EQ_LONG(iofunc_close_ocb_default(&t2.ctp, NULL, NULL), EINVAL);

    /* Without a mount: plain calloc/free (valgrind/ASan would see a leak). */
    iofunc_attr_t b;
    iofunc_attr_init(&b, S_IFREG | 0666, NULL, &me);
    struct tctx t4;
    ctx_init(&t4);
    open_msg(&m, io(O_RDONLY), SH_DENYRW);
    int before = atomic_load(&callocs);
    REQUIRE(iofunc_ocb_attach(&t4.ctp, &m, NULL, &b, NULL) == EOK);
    CHECK_EQ_LONG(atomic_load(&callocs), before);
    CHECK(b.count == 1 && b.rlocks == 1 && b.wlocks == 1);

    /* Binding fails (no dispatch): the counts are undone, the OCB freed. */
    struct tctx bad;
    ctx_init(&bad);
    bad.ctp.dpp = NULL;
    int fr = atomic_load(&frees);
    open_msg(&m, io(O_RDWR), SH_DENYWR);
    CHECK_EQ_LONG(iofunc_ocb_attach(&bad.ctp, &m, NULL, &a, NULL), EINVAL);
    CHECK(a.count == 0 && a.rcount == 0 && a.wcount == 0 && a.wlocks == 0);
    CHECK_EQ_LONG(atomic_load(&frees), fr + 1);
    CHECK_EQ_LONG(a.lock_count, 0);
    CHECK_EQ_LONG(iofunc_ocb_attach(&bad.ctp, NULL, NULL, &a, NULL), EINVAL);
}

/* ---- read / write ---- */

TEST(read_write_verify)
{
    struct tctx t;
    ctx_init(&t);
    iofunc_attr_t a;
    iofunc_attr_init(&a, S_IFREG | 0666, NULL, NULL);
    iofunc_ocb_t rd = { .attr = &a, .ioflag = (int32_t)io(O_RDONLY) };
    iofunc_ocb_t wr = { .attr = &a, .ioflag = (int32_t)io(O_WRONLY | O_NONBLOCK) };
    iofunc_ocb_t none = { .attr = &a, .ioflag = 0 };
    io_read_t r;
    io_write_t w;
    memset(&r, 0, sizeof r);
    memset(&w, 0, sizeof w);
    r.i.type = _IO_READ;
    w.i.type = _IO_WRITE;
    int nb = -1;
    CHECK_EQ_LONG(iofunc_read_verify(&t.ctp, &r, &rd, &nb), EOK);
    CHECK_EQ_LONG(nb, 0);
    CHECK_EQ_LONG(iofunc_read_verify(&t.ctp, &r, &wr, &nb), EBADF);
    CHECK_EQ_LONG(iofunc_read_verify(&t.ctp, &r, &none, NULL), EBADF);
    CHECK_EQ_LONG(iofunc_write_verify(&t.ctp, &w, &rd, &nb), EBADF);
    CHECK_EQ_LONG(iofunc_write_verify(&t.ctp, &w, &none, NULL), EBADF);
    CHECK_EQ_LONG(iofunc_write_verify(&t.ctp, &w, &wr, &nb), EOK);
    CHECK_EQ_LONG(nb, O_NONBLOCK);
    /* Per-call overrides. */
    w.i.xtype = _IO_XFLAG_BLOCK;
    CHECK_EQ_LONG(iofunc_write_verify(&t.ctp, &w, &wr, &nb), EOK);
    CHECK_EQ_LONG(nb, 0);
    r.i.xtype = _IO_XFLAG_NONBLOCK;
    CHECK_EQ_LONG(iofunc_read_verify(&t.ctp, &r, &rd, &nb), EOK);
    CHECK_EQ_LONG(nb, O_NONBLOCK);
    /* xtypes: offset (with its structure), readcond for reads only. */
    r.i.xtype = _IO_XTYPE_OFFSET;
    t.ctp.size = (int)(sizeof r.i + sizeof(struct _xtype_offset));
    CHECK_EQ_LONG(iofunc_read_verify(&t.ctp, &r, &rd, NULL), EOK);
    t.ctp.size = (int)sizeof r.i;
    CHECK_EQ_LONG(iofunc_read_verify(&t.ctp, &r, &rd, NULL), EBADMSG);
    t.ctp.size = 0;
    r.i.xtype = _IO_XTYPE_READCOND;
    CHECK_EQ_LONG(iofunc_read_verify(&t.ctp, &r, &rd, NULL), EOK);
    w.i.xtype = _IO_XTYPE_READCOND;
    CHECK_EQ_LONG(iofunc_write_verify(&t.ctp, &w, &wr, NULL), EINVAL);
    w.i.xtype = _IO_XTYPE_OFFSET | _IO_XFLAG_NONBLOCK;
    CHECK_EQ_LONG(iofunc_write_verify(&t.ctp, &w, &wr, NULL), EOK);
    r.i.xtype = _IO_XTYPE_TCPIP;
    CHECK_EQ_LONG(iofunc_read_verify(&t.ctp, &r, &rd, NULL), EINVAL);
    w.i.xtype = _IO_XTYPE_MQUEUE;
    CHECK_EQ_LONG(iofunc_write_verify(&t.ctp, &w, &wr, NULL), EINVAL);
    CHECK_EQ_LONG(iofunc_read_verify(&t.ctp, NULL, &rd, NULL), EINVAL);
    CHECK_EQ_LONG(iofunc_read_verify(&t.ctp, &r, NULL, NULL), EBADF);
}

TEST(read_and_write_defaults)
{
    struct tctx t;
    ctx_init(&t);
    iofunc_attr_t a;
    iofunc_attr_init(&a, S_IFREG | 0666, NULL, NULL);
    iofunc_ocb_t rw = { .attr = &a, .ioflag = (int32_t)io(O_RDWR), .offset = 5 };
    iofunc_ocb_t rd = { .attr = &a, .ioflag = (int32_t)io(O_RDONLY) };
    io_read_t r;
    io_write_t w;
    memset(&r, 0, sizeof r);
    memset(&w, 0, sizeof w);
    r.i.type = _IO_READ;
    r.i.nbytes = 100;
    t.ctp.status = 99;
    CHECK_EQ_LONG(iofunc_read_default(&t.ctp, &r, &rw), EOK);
    CHECK_EQ_LONG(t.ctp.status, 0); /* end of file */
    CHECK(a.flags & IOFUNC_ATTR_ATIME);
    CHECK_EQ_LONG(rw.offset, 5);

    a.flags = 0;
    w.i.type = _IO_WRITE;
    w.i.nbytes = 1234;
    CHECK_EQ_LONG(iofunc_write_default(&t.ctp, &w, &rw), EOK);
    CHECK_EQ_LONG(t.ctp.status, 1234); /* everything "written" */
    CHECK((a.flags & (IOFUNC_ATTR_MTIME | IOFUNC_ATTR_CTIME)) == (IOFUNC_ATTR_MTIME | IOFUNC_ATTR_CTIME));
    a.flags = 0;
    w.i.nbytes = 0;
    CHECK_EQ_LONG(iofunc_write_default(&t.ctp, &w, &rw), EOK);
    CHECK_EQ_LONG(t.ctp.status, 0);
    CHECK_EQ_LONG(a.flags, 0);
    /* A 64-bit write beyond what a status can say: a partial write. */
    w.i64.type = _IO_WRITE64;
    w.i64.nbytes = 5;
    w.i64.nbytes_hi = 1;
    CHECK_EQ_LONG(iofunc_write_default(&t.ctp, &w, &rw), EOK);
    CHECK_EQ_LONG(t.ctp.status, INT_MAX);

    w.i.type = _IO_WRITE;
    w.i.nbytes = 10;
    CHECK_EQ_LONG(iofunc_write_default(&t.ctp, &w, &rd), EBADF);
    iofunc_ocb_t wo = { .attr = &a, .ioflag = (int32_t)io(O_WRONLY) };
    CHECK_EQ_LONG(iofunc_read_default(&t.ctp, &r, &wo), EBADF);
    w.i.xtype = _IO_XTYPE_TCPIP;
    CHECK_EQ_LONG(iofunc_write_default(&t.ctp, &w, &rw), EINVAL);
}

/* ---- stat ---- */

TEST(stat_fills_from_the_attribute)
{
    struct tctx t;
    ctx_init(&t);
    iofunc_mount_t mnt = { .dev = 0x1234, .blocksize = 4096 };
    iofunc_attr_t a;
    iofunc_attr_init(&a, S_IFREG | 0640, NULL, NULL);
    a.mount = &mnt;
    a.uid = 11;
    a.gid = 22;
    a.nlink = 3;
    a.nbytes = 1025;
    a.rdev = 77;
    a.atime = 100;
    a.mtime = 200;
    a.ctime = 300;
    struct stat st;
    CHECK_EQ_LONG(iofunc_stat(&t.ctp, &a, &st), EOK);
    CHECK_EQ_LONG(st.st_ino, a.inode);
    CHECK_EQ_LONG(st.st_mode, S_IFREG | 0640);
    CHECK(st.st_nlink == 3 && st.st_uid == 11 && st.st_gid == 22);
    CHECK_EQ_LONG(st.st_size, 1025);
    CHECK(st.st_atime == 100 && st.st_mtime == 200 && st.st_ctime == 300);
    CHECK_EQ_LONG(st.st_dev, 0x1234);
    CHECK_EQ_LONG(st.st_rdev, 77);
    CHECK_EQ_LONG(st.st_blksize, 4096);
    CHECK_EQ_LONG(st.st_blocks, 3);

    /* Pending times are made real first; no mount: dev 0, 512-byte blocks. */
    a.mount = NULL;
    a.flags |= IOFUNC_ATTR_MTIME;
    a.nbytes = 0;
    CHECK_EQ_LONG(iofunc_stat(&t.ctp, &a, &st), EOK);
    CHECK(st.st_mtime > 200 && st.st_atime == 100);
    CHECK(st.st_dev == 0 && st.st_blksize == 512 && st.st_blocks == 0);

    /* The default handler replies with msg->o. */
    iofunc_ocb_t ocb = { .attr = &a };
    io_stat_t *m = &t.buf.m.stat;
    memset(m, 0, sizeof *m);
    m->i.type = _IO_STAT;
    CHECK_EQ_LONG(iofunc_stat_default(&t.ctp, m, &ocb), _RESMGR_NPARTS(1));
    CHECK(t.ctp.iov[0].iov_base == (void *)&m->o && t.ctp.iov[0].iov_len == sizeof(struct stat));
    CHECK_EQ_LONG(m->o.st_ino, a.inode);
    CHECK_EQ_LONG(iofunc_stat(&t.ctp, NULL, &st), EINVAL);
}

/* ---- lseek ---- */

static int seek(struct tctx *t, iofunc_ocb_t *ocb, int whence, int64_t off, uint16_t combine)
{
    io_lseek_t *m = &t->buf.m.lseek;
    memset(m, 0, sizeof *m);
    m->i.type = _IO_LSEEK;
    m->i.combine_len = combine;
    m->i.whence = (short)whence;
    m->i.offset = (uint64_t)off;
    return iofunc_lseek_default(&t->ctp, m, ocb);
}

TEST(lseek_edges)
{
    struct tctx t;
    ctx_init(&t);
    iofunc_attr_t a;
    iofunc_attr_init(&a, S_IFREG | 0666, NULL, NULL);
    a.nbytes = 1000;
    iofunc_ocb_t ocb = { .attr = &a, .ioflag = (int32_t)io(O_RDWR) };
    io_lseek_t *m = &t.buf.m.lseek;

    CHECK_EQ_LONG(seek(&t, &ocb, SEEK_SET, 10, 0), _RESMGR_NPARTS(1));
    CHECK_EQ_LONG(ocb.offset, 10);
    CHECK_EQ_LONG(m->o, 10);
    CHECK(t.ctp.iov[0].iov_base == (void *)&m->o && t.ctp.iov[0].iov_len == sizeof m->o);
    CHECK_EQ_LONG(seek(&t, &ocb, SEEK_CUR, 5, 0), -1);
    CHECK_EQ_LONG(ocb.offset, 15);
    CHECK_EQ_LONG(seek(&t, &ocb, SEEK_CUR, -15, 0), -1);
    CHECK_EQ_LONG(ocb.offset, 0);
    CHECK_EQ_LONG(seek(&t, &ocb, SEEK_END, -1, 0), -1);
    CHECK_EQ_LONG(m->o, 999);
    CHECK_EQ_LONG(seek(&t, &ocb, SEEK_END, 24, 0), -1); /* past the end is fine */
    CHECK_EQ_LONG(ocb.offset, 1024);
    /* Failures leave the offset alone. */
    CHECK_EQ_LONG(seek(&t, &ocb, SEEK_SET, -1, 0), EINVAL);
    CHECK_EQ_LONG(seek(&t, &ocb, SEEK_CUR, -1025, 0), EINVAL);
    CHECK_EQ_LONG(seek(&t, &ocb, SEEK_END, -1001, 0), EINVAL);
    CHECK_EQ_LONG(seek(&t, &ocb, 3, 0, 0), EINVAL);
    CHECK_EQ_LONG(seek(&t, &ocb, -1, 0, 0), EINVAL);
    CHECK_EQ_LONG(seek(&t, &ocb, SEEK_SET, INT64_MIN, 0), EINVAL);
    CHECK_EQ_LONG(seek(&t, &ocb, SEEK_CUR, INT64_MAX, 0), EOVERFLOW);
    CHECK_EQ_LONG(ocb.offset, 1024);
    CHECK_EQ_LONG(seek(&t, &ocb, SEEK_SET, INT64_MAX, 0), -1);
    CHECK_EQ_LONG(ocb.offset, INT64_MAX);
    CHECK_EQ_LONG(seek(&t, &ocb, SEEK_CUR, 1, 0), EOVERFLOW);
    CHECK_EQ_LONG(seek(&t, &ocb, SEEK_CUR, INT64_MIN, 0), EINVAL); /* = -1 */
    CHECK_EQ_LONG(ocb.offset, INT64_MAX);
    /* A combine message: the offset moves, nothing is replied. */
    CHECK_EQ_LONG(seek(&t, &ocb, SEEK_SET, 42, _IO_COMBINE_FLAG | 16), EOK);
    CHECK_EQ_LONG(ocb.offset, 42);
    /* Pipes do not seek. */
    iofunc_attr_t p;
    iofunc_attr_init(&p, S_IFIFO | 0666, NULL, NULL);
    iofunc_ocb_t pocb = { .attr = &p };
    CHECK_EQ_LONG(seek(&t, &pocb, SEEK_SET, 0, 0), ESPIPE);
}

/* ---- chmod / chown ---- */

static int do_chmod(struct live *l, iofunc_ocb_t *ocb, mode_t mode)
{
    io_chmod_t *m = &l->t.buf.m.chmod;
    memset(m, 0, sizeof *m);
    m->i.type = _IO_CHMOD;
    m->i.mode = mode;
    return iofunc_chmod_default(&l->t.ctp, m, ocb);
}

static int do_chown(struct live *l, iofunc_ocb_t *ocb, int uid, int gid)
{
    io_chown_t *m = &l->t.buf.m.chown;
    memset(m, 0, sizeof *m);
    m->i.type = _IO_CHOWN;
    m->i.uid = uid;
    m->i.gid = gid;
    return iofunc_chown_default(&l->t.ctp, m, ocb);
}

TEST(chmod_only_by_owner_or_root)
{
    struct live l;
    REQUIRE(live_start(&l, CLIENT_NOBODY) == 0);
    int other = l.euid == 0 ? 1 : 0;
    iofunc_attr_t a;
    iofunc_attr_init(&a, S_IFREG | 0644, NULL, NULL);
    iofunc_ocb_t ocb = { .attr = &a };

    /* Not the owner. */
    a.uid = (uid_t)other;
    a.flags = 0;
    CHECK_EQ_LONG(do_chmod(&l, &ocb, 0777), l.euid == 0 ? EOK : EPERM);
    if (l.euid != 0) {
        CHECK_EQ_LONG(a.mode, S_IFREG | 0644);
        CHECK_EQ_LONG(a.flags, 0);
    }
    /* The owner: permission bits only, never the type. */
    a.uid = l.euid;
    a.gid = (gid_t)other;
    CHECK_EQ_LONG(do_chmod(&l, &ocb, S_IFDIR | 0600), EOK);
    CHECK_EQ_LONG(a.mode, S_IFREG | 0600);
    CHECK((a.flags & (IOFUNC_ATTR_CTIME | IOFUNC_ATTR_DIRTY_MODE)) ==
          (IOFUNC_ATTR_CTIME | IOFUNC_ATTR_DIRTY_MODE));
    /* S_ISGID needs the group (or root), S_ISUID is the owner's. */
    CHECK_EQ_LONG(do_chmod(&l, &ocb, S_ISUID | S_ISGID | 0755), EOK);
    CHECK_EQ_LONG(a.mode, S_IFREG | S_ISUID | (l.euid == 0 ? S_ISGID : 0) | 0755);
    if (l.supp) {
        a.gid = SUPP_GROUP;
        CHECK_EQ_LONG(do_chmod(&l, &ocb, S_ISGID | 0750), EOK);
        CHECK_EQ_LONG(a.mode, S_IFREG | S_ISGID | 0750);
    }
    /* A read-only mount. */
    iofunc_mount_t mnt = { .flags = ST_RDONLY };
    a.mount = &mnt;
    CHECK_EQ_LONG(do_chmod(&l, &ocb, 0600), EROFS);
    a.mount = NULL;
    CHECK_EQ_LONG(iofunc_chmod_default(&l.t.ctp, &l.t.buf.m.chmod, NULL), EINVAL);
    live_stop(&l);

    if (geteuid() == 0) { /* and root may, owner or not */
        REQUIRE(live_start(&l, CLIENT_SELF) == 0);
        a.uid = 4321;
        a.gid = 4321;
        CHECK_EQ_LONG(do_chmod(&l, &ocb, S_ISGID | 0700), EOK);
        CHECK_EQ_LONG(a.mode, S_IFREG | S_ISGID | 0700);
        live_stop(&l);
    }
}

TEST(chown_rules)
{
    struct live l;
    REQUIRE(live_start(&l, CLIENT_NOBODY) == 0);
    uid_t me = l.euid;
    gid_t mygid = l.supp ? NOBODY : getegid();
    iofunc_mount_t restricted = { .conf = IOFUNC_PC_CHOWN_RESTRICTED };
    iofunc_mount_t free_chown = { .conf = 0 };
    iofunc_attr_t a;
    iofunc_attr_init(&a, S_IFREG | S_ISUID | S_ISGID | 0755, NULL, NULL);
    iofunc_ocb_t ocb = { .attr = &a };

    if (me != 0) {
        /* Not the owner: EPERM, nothing changes. */
        a.uid = 0;
        a.gid = 0;
        a.flags = 0;
        CHECK_EQ_LONG(do_chown(&l, &ocb, -1, (int)mygid), EPERM);
        CHECK(a.uid == 0 && a.gid == 0 && a.flags == 0);

        /* The owner, restricted: the group to one of theirs, not away. */
        a.uid = me;
        a.mount = &restricted;
        CHECK_EQ_LONG(do_chown(&l, &ocb, 12345, -1), EPERM);
        CHECK_EQ_LONG(do_chown(&l, &ocb, -1, 12345), EPERM);
        CHECK_EQ_LONG(a.mode & (S_ISUID | S_ISGID), S_ISUID | S_ISGID);
        CHECK_EQ_LONG(do_chown(&l, &ocb, (int)me, (int)mygid), EOK);
        CHECK(a.uid == me && a.gid == mygid);
        CHECK_EQ_LONG(a.mode & (S_ISUID | S_ISGID), 0); /* cleared for non-root */
        CHECK((a.flags & (IOFUNC_ATTR_CTIME | IOFUNC_ATTR_DIRTY_OWNER)) ==
              (IOFUNC_ATTR_CTIME | IOFUNC_ATTR_DIRTY_OWNER));
        if (l.supp) {
            CHECK_EQ_LONG(do_chown(&l, &ocb, -1, SUPP_GROUP), EOK);
            CHECK_EQ_LONG(a.gid, SUPP_GROUP);
        }
        /* No mount: restricted too. */
        a.mount = NULL;
        CHECK_EQ_LONG(do_chown(&l, &ocb, 12345, -1), EPERM);
        /* Not restricted: the owner may give the file away. */
        a.mount = &free_chown;
        CHECK_EQ_LONG(do_chown(&l, &ocb, 12345, 54321), EOK);
        CHECK(a.uid == 12345 && a.gid == 54321);
        CHECK_EQ_LONG(do_chown(&l, &ocb, (int)me, -1), EPERM); /* no longer the owner */
    }
    /* A read-only mount. */
    iofunc_mount_t ro = { .flags = ST_RDONLY };
    a.mount = &ro;
    CHECK_EQ_LONG(do_chown(&l, &ocb, -1, -1), EROFS);
    a.mount = NULL;
    live_stop(&l);

    if (geteuid() == 0) { /* root: anything, and the set-id bits stay */
        REQUIRE(live_start(&l, CLIENT_SELF) == 0);
        a.uid = 1;
        a.gid = 1;
        a.mount = &restricted;
        a.mode = S_IFREG | S_ISUID | 0755;
        CHECK_EQ_LONG(do_chown(&l, &ocb, 777, 888), EOK);
        CHECK(a.uid == 777 && a.gid == 888 && (a.mode & S_ISUID));
        CHECK_EQ_LONG(do_chown(&l, &ocb, -1, -1), EOK);
        CHECK(a.uid == 777 && a.gid == 888);
        live_stop(&l);
    }
}

/* ---- devctl ---- */

static int dev(struct tctx *t, iofunc_ocb_t *ocb, unsigned dcmd, const void *in, size_t n)
{
    io_devctl_t *m = &t->buf.m.devctl;
    memset(m, 0, sizeof *m);
    m->i.type = _IO_DEVCTL;
    m->i.dcmd = (int32_t)dcmd;
    m->i.nbytes = (uint32_t)n;
    if (n)
        memcpy(_DEVCTL_DATA(m->i), in, n);
    t->ctp.size = (int)(sizeof m->i + n);
    return iofunc_devctl_default(&t->ctp, m, ocb);
}

static int reply_int(struct tctx *t)
{
    int v;
    memcpy(&v, _DEVCTL_DATA(t->buf.m.devctl.o), sizeof v);
    return v;
}

TEST(devctl_flags_round_trip)
{
    struct tctx t;
    ctx_init(&t);
    iofunc_mount_t mnt = { .flags = ST_NOSUID, .conf = 0 };
    iofunc_attr_t a;
    iofunc_attr_init(&a, S_IFREG | 0666, NULL, NULL);
    a.mount = &mnt;
    iofunc_ocb_t ocb = { .attr = &a, .ioflag = (int32_t)io(O_WRONLY | O_CREAT | O_TRUNC) };

    CHECK_EQ_LONG(dev(&t, &ocb, DCMD_ALL_GETFLAGS, NULL, 0), _RESMGR_NPARTS(1));
    CHECK_EQ_LONG(reply_int(&t), O_WRONLY); /* not the open-time flags */
    CHECK_EQ_LONG(t.buf.m.devctl.o.ret_val, 0);
    CHECK_EQ_LONG(t.buf.m.devctl.o.nbytes, sizeof(int));
    CHECK(t.ctp.iov[0].iov_base == (void *)&t.buf.m.devctl.o &&
          t.ctp.iov[0].iov_len == sizeof t.buf.m.devctl.o + sizeof(int));

    int f = O_APPEND | O_NONBLOCK | O_RDWR; /* the access mode cannot change */
    CHECK_EQ_LONG(dev(&t, &ocb, DCMD_ALL_SETFLAGS, &f, sizeof f), _RESMGR_NPARTS(1));
    CHECK_EQ_LONG(ocb.ioflag & _IO_FLAG_MASK, _IO_FLAG_WR);
    CHECK_EQ_LONG(dev(&t, &ocb, DCMD_ALL_GETFLAGS, NULL, 0), -1);
    CHECK_EQ_LONG(reply_int(&t), O_WRONLY | O_APPEND | O_NONBLOCK);
    f = 0;
    CHECK_EQ_LONG(dev(&t, &ocb, DCMD_ALL_SETFLAGS, &f, sizeof f), -1);
    CHECK_EQ_LONG(dev(&t, &ocb, DCMD_ALL_GETFLAGS, NULL, 0), -1);
    CHECK_EQ_LONG(reply_int(&t), O_WRONLY);
    /* Synchronous I/O only where the mount says it is supported. */
    f = O_SYNC;
    CHECK_EQ_LONG(dev(&t, &ocb, DCMD_ALL_SETFLAGS, &f, sizeof f), EINVAL);
    mnt.conf |= IOFUNC_PC_SYNC_IO;
    CHECK_EQ_LONG(dev(&t, &ocb, DCMD_ALL_SETFLAGS, &f, sizeof f), -1);
    CHECK_EQ_LONG(dev(&t, &ocb, DCMD_ALL_GETFLAGS, NULL, 0), -1);
    CHECK_EQ_LONG(reply_int(&t), O_WRONLY | O_SYNC);
    /* No data. */
    CHECK_EQ_LONG(dev(&t, &ocb, DCMD_ALL_SETFLAGS, NULL, 0), EINVAL);
    /* The other access modes. */
    iofunc_ocb_t r = { .attr = &a, .ioflag = (int32_t)io(O_RDONLY) };
    iofunc_ocb_t rw = { .attr = &a, .ioflag = (int32_t)io(O_RDWR) };
    CHECK_EQ_LONG(dev(&t, &r, DCMD_ALL_GETFLAGS, NULL, 0), -1);
    CHECK_EQ_LONG(reply_int(&t), O_RDONLY);
    CHECK_EQ_LONG(dev(&t, &rw, DCMD_ALL_GETFLAGS, NULL, 0), -1);
    CHECK_EQ_LONG(reply_int(&t), O_RDWR);
    /* Mount flags. */
    CHECK_EQ_LONG(dev(&t, &rw, DCMD_ALL_GETMOUNTFLAGS, NULL, 0), -1);
    CHECK_EQ_LONG(reply_int(&t), ST_NOSUID);
    /* Everything else is the framework's (ENOTTY). */
    CHECK_EQ_LONG(dev(&t, &rw, DCMD_ALL_GETOWN, NULL, 0), _RESMGR_DEFAULT);
    CHECK_EQ_LONG(dev(&t, &rw, __DIOF(_DCMD_MISC, 1, int), NULL, 0), _RESMGR_DEFAULT);
}

/* ---- pathconf, sync, times ---- */

static int pc(struct tctx *t, iofunc_ocb_t *ocb, int name)
{
    io_pathconf_t *m = &t->buf.m.pathconf;
    memset(m, 0, sizeof *m);
    m->i.type = _IO_PATHCONF;
    m->i.name = (short)name;
    t->ctp.status = 12345;
    int rc = iofunc_pathconf_default(&t->ctp, m, ocb);
    return rc == EOK ? t->ctp.status : -1000 - rc;
}

TEST(pathconf_and_sync)
{
    struct tctx t;
    ctx_init(&t);
    iofunc_mount_t mnt = { .conf = IOFUNC_PC_CHOWN_RESTRICTED | IOFUNC_PC_SYNC_IO };
    iofunc_attr_t a;
    iofunc_attr_init(&a, S_IFREG | 0666, NULL, NULL);
    a.mount = &mnt;
    iofunc_ocb_t ocb = { .attr = &a };
    CHECK_EQ_LONG(pc(&t, &ocb, _PC_NAME_MAX), NAME_MAX);
    CHECK_EQ_LONG(pc(&t, &ocb, _PC_PATH_MAX), PATH_MAX);
    CHECK(pc(&t, &ocb, _PC_LINK_MAX) >= 1);
    CHECK_EQ_LONG(pc(&t, &ocb, _PC_CHOWN_RESTRICTED), 1);
    CHECK_EQ_LONG(pc(&t, &ocb, _PC_SYNC_IO), 1);
    CHECK_EQ_LONG(pc(&t, &ocb, _PC_NO_TRUNC), -1);
    mnt.conf = IOFUNC_PC_NO_TRUNC;
    CHECK_EQ_LONG(pc(&t, &ocb, _PC_CHOWN_RESTRICTED), -1);
    CHECK_EQ_LONG(pc(&t, &ocb, _PC_NO_TRUNC), 1);
    CHECK_EQ_LONG(pc(&t, &ocb, _PC_SYNC_IO), -1);
    a.mount = NULL;
    CHECK_EQ_LONG(pc(&t, &ocb, _PC_CHOWN_RESTRICTED), 1);
    CHECK_EQ_LONG(pc(&t, &ocb, _PC_VDISABLE), -1000 - EINVAL);
    CHECK_EQ_LONG(pc(&t, &ocb, 9999), -1000 - EINVAL);

    io_sync_t s = { .i = { .type = _IO_SYNC, .flag = O_SYNC } };
    CHECK_EQ_LONG(iofunc_sync_default(&t.ctp, &s, &ocb), EOK);
}

TEST(time_update_applies_and_clears_the_flags)
{
    iofunc_attr_t a;
    iofunc_attr_init(&a, S_IFREG | 0666, NULL, NULL);
    a.atime = a.mtime = a.ctime = 1;
    a.flags = IOFUNC_ATTR_MTIME | IOFUNC_ATTR_DIRTY_SIZE;
    CHECK_EQ_LONG(iofunc_time_update(&a), EOK);
    CHECK(a.mtime > 1 && a.atime == 1 && a.ctime == 1);
    CHECK_EQ_LONG(a.flags, IOFUNC_ATTR_DIRTY_SIZE | IOFUNC_ATTR_DIRTY_TIME);
    a.flags = IOFUNC_ATTR_ATIME | IOFUNC_ATTR_CTIME;
    CHECK_EQ_LONG(iofunc_time_update(&a), EOK);
    CHECK(a.atime > 1 && a.ctime > 1);
    CHECK_EQ_LONG(a.flags, IOFUNC_ATTR_DIRTY_TIME);
    /* Nothing pending: nothing changes, nothing is dirtied. */
    a.flags = 0;
    time_t m = a.mtime;
    CHECK_EQ_LONG(iofunc_time_update(&a), EOK);
    CHECK(a.flags == 0 && a.mtime == m);
    CHECK_EQ_LONG(iofunc_time_update(NULL), EINVAL);
}

/* ---- end to end: the defaults behind a real resource manager ---- */

struct e2e {
    dispatch_t *dpp;
    dispatch_context_t *ctp;
    pthread_t th;
    resmgr_connect_funcs_t cf;
    resmgr_io_funcs_t iof;
    iofunc_attr_t attr, ro_attr;
    char dir[64], path[96], ro_path[96];
};

static void *e2e_serve(void *arg)
{
    struct e2e *e = arg;
    for (;;) {
        if (!dispatch_block(e->ctp))
            return NULL;
        dispatch_handler(e->ctp);
    }
}

/* The open is counted before its reply and the close undone before its
 * reply, both by the serving thread: by the time pm_open()/pm_close()
 * return, the count is final.  (Read atomically: another thread wrote it.) */
static int count_is(iofunc_attr_t *a, unsigned want)
{
    return __atomic_load_n(&a->count, __ATOMIC_SEQ_CST) == want;
}

TEST(end_to_end_defaults_behind_resmgr_attach)
{
    static struct e2e e;
    memset(&e, 0, sizeof e);
    snprintf(e.dir, sizeof e.dir, "/tmp/pm-iofunc-XXXXXX");
    REQUIRE(mkdtemp(e.dir) != NULL);
    setenv("PEERMAP_PATHSPACE", e.dir, 1);
    snprintf(e.path, sizeof e.path, "/dev/iofunc-test-%d", (int)getpid());
    snprintf(e.ro_path, sizeof e.ro_path, "/dev/iofunc-test-ro-%d", (int)getpid());

    e.dpp = dispatch_create();
    REQUIRE(e.dpp != NULL);
    iofunc_func_init(_RESMGR_CONNECT_NFUNCS, &e.cf, _RESMGR_IO_NFUNCS, &e.iof);
    iofunc_attr_init(&e.attr, S_IFREG | 0644, NULL, NULL);
    iofunc_attr_init(&e.ro_attr, S_IFREG | 0444, NULL, NULL);
    e.ro_attr.uid = geteuid() == 0 ? 1 : 0; /* someone else's, read-only */
    int id = resmgr_attach(e.dpp, NULL, e.path, _FTYPE_ANY, 0, &e.cf, &e.iof, &e.attr);
    int id2 = resmgr_attach(e.dpp, NULL, e.ro_path, _FTYPE_ANY, 0, &e.cf, &e.iof, &e.ro_attr);
    if (id < 0 || id2 < 0) {
        fprintf(stderr, "  resmgr_attach: %s (%s)\n", strerror(errno), peermap_errmsg());
        pm_cur_failed = 1;
        return;
    }
    e.ctp = dispatch_context_alloc(e.dpp);
    REQUIRE(e.ctp != NULL);
    REQUIRE(pthread_create(&e.th, NULL, e2e_serve, &e) == 0);

    int fd = pm_open(e.path, O_RDWR);
    if (fd < 0)
        fprintf(stderr, "  pm_open: %s (%s)\n", strerror(errno), peermap_errmsg());
    CHECK(fd >= 0);
    if (fd >= 0) {
        CHECK(count_is(&e.attr, 1));
        CHECK(e.attr.rcount == 1 && e.attr.wcount == 1);
        CHECK_EQ_LONG(pm_write(fd, "abc", 3), 3);
        char b[16];
        CHECK_EQ_LONG(pm_read(fd, b, sizeof b), 0);
        CHECK_EQ_LONG(pm_lseek(fd, 5, SEEK_SET), 5);
        CHECK_EQ_LONG(pm_lseek(fd, 2, SEEK_CUR), 7);
        errno = 0;
        CHECK(pm_lseek(fd, -8, SEEK_CUR) == -1 && errno == EINVAL);
        struct stat st;
        CHECK_EQ_LONG(pm_fstat(fd, &st), 0);
        CHECK_EQ_LONG(st.st_ino, e.attr.inode);
        CHECK_EQ_LONG(st.st_mode, S_IFREG | 0644);
        CHECK_EQ_LONG(st.st_uid, geteuid());
        CHECK(st.st_mtime >= e.attr.ctime); /* the write marked it */
        int f = -1;
        CHECK_EQ_LONG(devctl(fd, DCMD_ALL_GETFLAGS, &f, sizeof f, NULL), EOK);
        CHECK_EQ_LONG(f, O_RDWR);
        f = O_NONBLOCK | O_APPEND;
        CHECK_EQ_LONG(devctl(fd, DCMD_ALL_SETFLAGS, &f, sizeof f, NULL), EOK);
        f = -1;
        CHECK_EQ_LONG(devctl(fd, DCMD_ALL_GETFLAGS, &f, sizeof f, NULL), EOK);
        CHECK_EQ_LONG(f, O_RDWR | O_NONBLOCK | O_APPEND);
        CHECK_EQ_LONG(devctl(fd, __DIOF(_DCMD_MISC, 7, int), &f, sizeof f, NULL), ENOTTY);
        CHECK_EQ_LONG(pm_close(fd), 0);
        CHECK(count_is(&e.attr, 0));
        CHECK(e.attr.rcount == 0 && e.attr.wcount == 0);
    }

    /* The open checks the client's rights. */
    int ro = pm_open(e.ro_path, O_RDONLY);
    CHECK(ro >= 0);
    if (ro >= 0)
        pm_close(ro);
    errno = 0;
    int wr = pm_open(e.ro_path, O_WRONLY);
    if (geteuid() == 0) {
        CHECK(wr >= 0);
    } else {
        CHECK(wr == -1 && errno == EACCES);
    }
    if (wr >= 0)
        pm_close(wr);
    CHECK(count_is(&e.ro_attr, 0));

    dispatch_unblock(e.ctp);
    pthread_join(e.th, NULL);
    resmgr_detach(e.dpp, id, _RESMGR_DETACH_ALL);
    resmgr_detach(e.dpp, id2, _RESMGR_DETACH_ALL);
    dispatch_context_free(e.ctp);
    dispatch_destroy(e.dpp);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", e.dir);
    if (system(cmd) != 0)
        fprintf(stderr, "  could not remove %s\n", e.dir);
    unsetenv("PEERMAP_PATHSPACE");
}
