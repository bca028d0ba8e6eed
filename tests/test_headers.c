/*
 * The resource-manager message headers, <sys/iomsg.h> and <devctl.h>:
 * they compile together with the Linux headers a resource manager includes,
 * their constants have QNX's documented values, their structures have the
 * sizes and offsets QNX's documented layouts give, and the devctl command
 * macros encode size, class and direction as QNX documents.
 *
 * Nothing here sends a message; these are compile-time facts checked at run
 * time so that a wrong one is reported by name.
 */
#include <sys/iomsg.h>
#include <devctl.h>
#include <sys/siginfo.h>

#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/neutrino.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "msg/msg.h"   /* PM_SIGEV_*: where the library reads a pulse event */

#define OFF(type, member) ((long)offsetof(type, member))

TEST(message_types_have_qnx_values)
{
    CHECK_EQ_LONG(_IO_BASE, 0x100);
    CHECK_EQ_LONG(_IO_MAX, 0x1FF);
    CHECK_EQ_LONG(_IO_CONNECT, 0x100);
    CHECK_EQ_LONG(_IO_READ, 0x101);
    CHECK_EQ_LONG(_IO_WRITE, 0x102);
    CHECK_EQ_LONG(_IO_RSVD_CLOSE_OCB, 0x103);
    CHECK_EQ_LONG(_IO_STAT, 0x104);
    CHECK_EQ_LONG(_IO_NOTIFY, 0x105);
    CHECK_EQ_LONG(_IO_DEVCTL, 0x106);
    CHECK_EQ_LONG(_IO_RSVD_UNBLOCK, 0x107);
    CHECK_EQ_LONG(_IO_PATHCONF, 0x108);
    CHECK_EQ_LONG(_IO_LSEEK, 0x109);
    CHECK_EQ_LONG(_IO_CHMOD, 0x10A);
    CHECK_EQ_LONG(_IO_CHOWN, 0x10B);
    CHECK_EQ_LONG(_IO_UTIME, 0x10C);
    CHECK_EQ_LONG(_IO_OPENFD, 0x10D);
    CHECK_EQ_LONG(_IO_FDINFO, 0x10E);
    CHECK_EQ_LONG(_IO_LOCK, 0x10F);
    CHECK_EQ_LONG(_IO_SPACE, 0x110);
    CHECK_EQ_LONG(_IO_SHUTDOWN, 0x111);
    CHECK_EQ_LONG(_IO_MMAP, 0x112);
    CHECK_EQ_LONG(_IO_MSG, 0x113);
    CHECK_EQ_LONG(_IO_RSVD, 0x114);
    CHECK_EQ_LONG(_IO_DUP, 0x115);
    CHECK_EQ_LONG(_IO_CLOSE, 0x116);
    CHECK_EQ_LONG(_IO_RSVD_LOCK_OCB, 0x117);
    CHECK_EQ_LONG(_IO_RSVD_UNLOCK_OCB, 0x118);
    CHECK_EQ_LONG(_IO_SYNC, 0x119);
    CHECK_EQ_LONG(_IO_POWER, 0x11A);
    CHECK_EQ_LONG(_IO_ACL, 0x11B);
    CHECK_EQ_LONG(_IO_RSVD_PAUSE, 0x11C);
    CHECK_EQ_LONG(_IO_RSVD_UNPAUSE, 0x11D);
    CHECK_EQ_LONG(_IO_READ64, 0x11E);
    CHECK_EQ_LONG(_IO_WRITE64, 0x11F);
    CHECK_EQ_LONG(_IO_NOTIFY64, 0x120);
    CHECK_EQ_LONG(_IO_UTIME64, 0x121);
    CHECK((int)_IO_UTIME64 <= (int)_IO_MAX);
    CHECK_EQ_LONG(_IO_COMBINE_FLAG, 0x8000);
}

TEST(connect_constants_have_qnx_values)
{
    CHECK_EQ_LONG(_IO_CONNECT_COMBINE, 0);
    CHECK_EQ_LONG(_IO_CONNECT_COMBINE_CLOSE, 1);
    CHECK_EQ_LONG(_IO_CONNECT_OPEN, 2);
    CHECK_EQ_LONG(_IO_CONNECT_UNLINK, 3);
    CHECK_EQ_LONG(_IO_CONNECT_RENAME, 4);
    CHECK_EQ_LONG(_IO_CONNECT_MKNOD, 5);
    CHECK_EQ_LONG(_IO_CONNECT_READLINK, 6);
    CHECK_EQ_LONG(_IO_CONNECT_LINK, 7);
    CHECK_EQ_LONG(_IO_CONNECT_RSVD_UNBLOCK, 8);
    CHECK_EQ_LONG(_IO_CONNECT_MOUNT, 9);

    CHECK_EQ_LONG(_IO_CONNECT_EXTRA_NONE, 0);
    CHECK_EQ_LONG(_IO_CONNECT_EXTRA_LINK, 1);
    CHECK_EQ_LONG(_IO_CONNECT_EXTRA_SYMLINK, 2);
    CHECK_EQ_LONG(_IO_CONNECT_EXTRA_MQUEUE, 3);
    CHECK_EQ_LONG(_IO_CONNECT_EXTRA_PHOTON, 4);
    CHECK_EQ_LONG(_IO_CONNECT_EXTRA_SOCKET, 5);
    CHECK_EQ_LONG(_IO_CONNECT_EXTRA_SEM, 6);
    CHECK_EQ_LONG(_IO_CONNECT_EXTRA_RESMGR_LINK, 7);
    CHECK_EQ_LONG(_IO_CONNECT_EXTRA_PROC_SYMLINK, 8);
    CHECK_EQ_LONG(_IO_CONNECT_EXTRA_RENAME, 9);
    CHECK_EQ_LONG(_IO_CONNECT_EXTRA_MOUNT, 10);
    CHECK_EQ_LONG(_IO_CONNECT_EXTRA_MOUNT_OCB, 11);
    CHECK_EQ_LONG(_IO_CONNECT_EXTRA_TYMEM, 12);

    CHECK_EQ_LONG(_FTYPE_ANY, 0);
    CHECK_EQ_LONG(_FTYPE_FILE, 1);
    CHECK_EQ_LONG(_FTYPE_LINK, 2);
    CHECK_EQ_LONG(_FTYPE_SYMLINK, 3);
    CHECK_EQ_LONG(_FTYPE_PIPE, 4);
    CHECK_EQ_LONG(_FTYPE_SHMEM, 5);
    CHECK_EQ_LONG(_FTYPE_MQUEUE, 6);
    CHECK_EQ_LONG(_FTYPE_SOCKET, 7);
    CHECK_EQ_LONG(_FTYPE_SEM, 8);
    CHECK_EQ_LONG(_FTYPE_PHOTON, 9);
    CHECK_EQ_LONG(_FTYPE_DUMPER, 10);
    CHECK_EQ_LONG(_FTYPE_MOUNT, 11);
    CHECK_EQ_LONG(_FTYPE_NAME, 12);
    CHECK_EQ_LONG(_FTYPE_TYMEM, 13);

    CHECK_EQ_LONG(_IO_FLAG_RD, 1);
    CHECK_EQ_LONG(_IO_FLAG_WR, 2);
    CHECK_EQ_LONG(_IO_FLAG_MASK, 3);
    CHECK_EQ_LONG(_IO_CONNECT_EFLAG_DIR, 1);
    CHECK_EQ_LONG(_IO_CONNECT_EFLAG_DOT, 2);
    CHECK_EQ_LONG(_IO_CONNECT_EFLAG_DOTDOT, 4);
    CHECK_EQ_LONG(_IO_CONNECT_RET_FLAG, 0x80000000L);
}

TEST(s_ifnam_is_qnx_value_and_no_linux_type)
{
    CHECK_EQ_LONG(S_IFNAM, 050000);
    CHECK_EQ_LONG(S_IFNAM & ~S_IFMT, 0);
    CHECK(S_IFNAM != S_IFIFO && S_IFNAM != S_IFCHR && S_IFNAM != S_IFDIR);
    CHECK(S_IFNAM != S_IFBLK && S_IFNAM != S_IFREG && S_IFNAM != S_IFLNK);
    CHECK(S_IFNAM != S_IFSOCK);
    CHECK(S_ISNAM(S_IFNAM | 0644));
    CHECK(!S_ISNAM(S_IFREG | 0644));
    CHECK(!S_ISREG(S_IFNAM));
}

TEST(xtype_constants_have_qnx_values)
{
    CHECK_EQ_LONG(_IO_XTYPE_NONE, 0);
    CHECK_EQ_LONG(_IO_XTYPE_READCOND, 1);
    CHECK_EQ_LONG(_IO_XTYPE_MQUEUE, 2);
    CHECK_EQ_LONG(_IO_XTYPE_TCPIP, 3);
    CHECK_EQ_LONG(_IO_XTYPE_TCPIP_MSG, 4);
    CHECK_EQ_LONG(_IO_XTYPE_OFFSET, 5);
    CHECK_EQ_LONG(_IO_XTYPE_REGISTRY, 6);
    CHECK_EQ_LONG(_IO_XTYPE_MASK, 0xff);
    CHECK_EQ_LONG(_IO_XFLAG_DIR_EXTRA_HINT, 0x100);
    CHECK_EQ_LONG(_IO_XFLAG_NONBLOCK, 0x4000);
    CHECK_EQ_LONG(_IO_XFLAG_BLOCK, 0x8000);
    CHECK_EQ_LONG(sizeof(struct _xtype_offset), 8);
    CHECK_EQ_LONG(sizeof(struct _xtype_readcond), 12);
}

TEST(pulse_and_msg_info_layouts)
{
    /* 16 bytes where union sigval is 4 (32-bit); 24 on a 64-bit target,
     * where sival_ptr makes the union 8 bytes and scoid is followed by
     * padding, as with QNX's own 64-bit definition. */
    CHECK_EQ_LONG(OFF(struct _pulse, code), 4);
    CHECK_EQ_LONG(OFF(struct _pulse, value), 8);
    CHECK_EQ_LONG(OFF(struct _pulse, scoid), 8 + (long)sizeof(union sigval));
    CHECK_EQ_LONG(sizeof(struct _pulse), sizeof(void *) == 8 ? 24 : 16);
    CHECK_EQ_LONG(sizeof(struct _msg_info32), 48);
    CHECK_EQ_LONG(OFF(struct _msg_info32, pid), 8);
    CHECK_EQ_LONG(OFF(struct _msg_info32, coid), 24);
    CHECK_EQ_LONG(OFF(struct _msg_info32, dstmsglen), 36);
    CHECK_EQ_LONG(OFF(struct _msg_info32, priority), 40);
    /* <sys/neutrino.h>'s struct _msg_info has the same 32-bit layout. */
    CHECK_EQ_LONG(sizeof(struct _msg_info), sizeof(struct _msg_info32));
    CHECK_EQ_LONG(OFF(struct _msg_info, coid), OFF(struct _msg_info32, coid));
}

TEST(connect_message_layout)
{
    /* The fixed part is 40 bytes; the path starts right after it. */
    CHECK_EQ_LONG(OFF(struct _io_connect, subtype), 2);
    CHECK_EQ_LONG(OFF(struct _io_connect, file_type), 4);
    CHECK_EQ_LONG(OFF(struct _io_connect, reply_max), 8);
    CHECK_EQ_LONG(OFF(struct _io_connect, key), 12);
    CHECK_EQ_LONG(OFF(struct _io_connect, handle), 16);
    CHECK_EQ_LONG(OFF(struct _io_connect, ioflag), 20);
    CHECK_EQ_LONG(OFF(struct _io_connect, mode), 24);
    CHECK_EQ_LONG(OFF(struct _io_connect, sflag), 28);
    CHECK_EQ_LONG(OFF(struct _io_connect, access), 30);
    CHECK_EQ_LONG(OFF(struct _io_connect, zero), 32);
    CHECK_EQ_LONG(OFF(struct _io_connect, path_len), 34);
    CHECK_EQ_LONG(OFF(struct _io_connect, eflag), 36);
    CHECK_EQ_LONG(OFF(struct _io_connect, extra_type), 37);
    CHECK_EQ_LONG(OFF(struct _io_connect, extra_len), 38);
    CHECK_EQ_LONG(OFF(struct _io_connect, path), 40);
    CHECK_EQ_LONG(sizeof(struct _io_connect_link_reply), 20);
    CHECK_EQ_LONG(OFF(struct _io_connect_link_reply, nentries), 16);
    CHECK_EQ_LONG(sizeof(struct _io_connect_ftype_reply), 8);
    CHECK_EQ_LONG(sizeof(struct _io_connect_entry), 32);

    io_connect_t m;
    CHECK((void *)&m.connect == (void *)&m.link_reply);
    CHECK((void *)&m.connect == (void *)&m.ftype_reply);
    CHECK(sizeof(io_open_t) == sizeof(io_connect_t));
}

TEST(io_message_layouts)
{
    /* Every I/O message starts with type and combine_len. */
    CHECK_EQ_LONG(sizeof(struct _io_combine), 4);
    CHECK_EQ_LONG(sizeof(struct _io_close), 4);

    CHECK_EQ_LONG(sizeof(struct _io_read), 16);
    CHECK_EQ_LONG(OFF(struct _io_read, nbytes), 4);
    CHECK_EQ_LONG(OFF(struct _io_read, xtype), 8);
    CHECK_EQ_LONG(OFF(struct _io_read, zero), 12);
    CHECK_EQ_LONG(sizeof(struct _io_read64), 16);
    CHECK_EQ_LONG(OFF(struct _io_read64, nbytes_hi), 12);
    CHECK_EQ_LONG(sizeof(io_read_t), 16);

    /* The data of a write follows the 16-byte header. */
    CHECK_EQ_LONG(sizeof(struct _io_write), 16);
    CHECK_EQ_LONG(sizeof(struct _io_write64), 16);
    CHECK_EQ_LONG(OFF(struct _io_write64, nbytes_hi), 12);

    CHECK_EQ_LONG(sizeof(struct _io_stat), 8);
    CHECK_EQ_LONG(OFF(struct _io_stat, format), 4);
    CHECK_EQ_LONG(sizeof(io_stat_t), sizeof(struct stat));

    CHECK_EQ_LONG(sizeof(struct _io_devctl), 16);
    CHECK_EQ_LONG(OFF(struct _io_devctl, dcmd), 4);
    CHECK_EQ_LONG(OFF(struct _io_devctl, nbytes), 8);
    CHECK_EQ_LONG(sizeof(struct _io_devctl_reply), 16);
    CHECK_EQ_LONG(OFF(struct _io_devctl_reply, ret_val), 4);
    CHECK_EQ_LONG(OFF(struct _io_devctl_reply, nbytes), 8);

    CHECK_EQ_LONG(sizeof(struct _io_lseek), 16);
    CHECK_EQ_LONG(OFF(struct _io_lseek, whence), 4);
    CHECK_EQ_LONG(OFF(struct _io_lseek, flags), 6);
    CHECK_EQ_LONG(OFF(struct _io_lseek, offset), 8);
    CHECK_EQ_LONG(sizeof(io_lseek_t), 16);

    CHECK_EQ_LONG(sizeof(struct _io_pathconf), 8);
    CHECK_EQ_LONG(sizeof(struct _io_chmod), 8);
    CHECK_EQ_LONG(sizeof(struct _io_chown), 12);
    CHECK_EQ_LONG(OFF(struct _io_chown, uid), 8);
    CHECK_EQ_LONG(sizeof(struct _io_utime), 16);
    CHECK_EQ_LONG(sizeof(struct _io_utime64), 40);
    CHECK_EQ_LONG(OFF(struct _io_utime64, atime_s), 8);
    CHECK_EQ_LONG(sizeof(struct _io_msg), 8);
    CHECK_EQ_LONG(sizeof(struct _io_sync), 8);
    CHECK_EQ_LONG(sizeof(struct _io_space), 24);
    CHECK_EQ_LONG(sizeof(struct _io_lock), 12);
    CHECK_EQ_LONG(OFF(struct _io_openfd, info), 12);
    CHECK_EQ_LONG(sizeof(struct _io_openfd), 68);
    CHECK_EQ_LONG(OFF(struct _io_dup, info), 4);
    CHECK_EQ_LONG(sizeof(struct _io_dup), 60);
}

TEST(mmap_message_layout)
{
    CHECK_EQ_LONG(OFF(struct _io_mmap, prot), 4);
    CHECK_EQ_LONG(OFF(struct _io_mmap, offset), 8);
    CHECK_EQ_LONG(OFF(struct _io_mmap, info), 16);
    CHECK_EQ_LONG(OFF(struct _io_mmap, required_prot), 64);
    CHECK_EQ_LONG(OFF(struct _io_mmap, zero), 68);
    CHECK_EQ_LONG(OFF(struct _io_mmap, requested_len), 80);
    CHECK_EQ_LONG(sizeof(struct _io_mmap), 88);

    CHECK_EQ_LONG(OFF(struct _io_mmap_reply, allowed_prot), 4);
    CHECK_EQ_LONG(OFF(struct _io_mmap_reply, offset), 8);
    CHECK_EQ_LONG(OFF(struct _io_mmap_reply, coid), 16);
    CHECK_EQ_LONG(OFF(struct _io_mmap_reply, fd), 20);
    CHECK_EQ_LONG(sizeof(struct _io_mmap_reply), 24);

    /* The extension follows the base reply: a reply of the base's size
     * leaves extended.flags (zeroed by the sender) untouched. */
    CHECK_EQ_LONG(OFF(struct _io_mmap_reply_ext, extended), 24);
    CHECK_EQ_LONG(OFF(struct _io_mmap_reply_ext, extended.flags), 24);
    CHECK_EQ_LONG(OFF(struct _io_mmap_reply_ext, extended.zero64), 32);
    CHECK_EQ_LONG(OFF(struct _io_mmap_reply_ext, extended.stat), 64);

    io_mmap_ext_t m;
    CHECK((void *)&m.i == (void *)&m.o.base);
    CHECK(sizeof(io_mmap_t) >= sizeof(struct _io_mmap));
    CHECK(sizeof(m.o.extended.stat) >= sizeof(struct stat));
}

TEST(mmap_reply_flags_have_qnx_values)
{
    CHECK_EQ_LONG(_IO_MMAP_REPLY_FLAGS_USE_EXTENDED, 0x01);
    CHECK_EQ_LONG(_IO_MMAP_REPLY_FLAGS_CACHE_DEFAULT, 0);
    CHECK_EQ_LONG(_IO_MMAP_REPLY_FLAGS_CACHE_FORCE_INVALIDATE, 0x02);
    CHECK_EQ_LONG(_IO_MMAP_REPLY_FLAGS_CACHE_READ_FROM_CACHE, 0x04);
    CHECK_EQ_LONG(_IO_MMAP_REPLY_FLAGS_CACHE_DEFER_TO_MEMMGR, 0x06);
    CHECK_EQ_LONG(_IO_MMAP_REPLY_FLAGS_CACHE_MASK, 0x06);
    CHECK_EQ_LONG(_IO_MMAP_REPLY_FLAGS_STAT_FORM_MASK, 0x18);
    CHECK_EQ_LONG(_IO_MMAP_REPLY_FLAGS_BYPASS_FSTATVFS, 0x20);
    CHECK_EQ_LONG(_IO_MMAP_REPLY_FLAGS_REMOVABLE, 0x40);
    CHECK_EQ_LONG(_IO_MMAP_REPLY_FLAGS_SERVER_SHMEM_OBJECT, 0x80);

    CHECK_EQ_LONG(_STAT_FORM_UNSET, 0);
    CHECK_EQ_LONG(_STAT_FORM_T32_2001, 1);
    CHECK_EQ_LONG(_STAT_FORM_T32_2008, 2);
    CHECK_EQ_LONG(_STAT_FORM_T64_2008, 3);
    if (sizeof(void *) == 8) {
        CHECK_EQ_LONG(_STAT_FORM_PREFERRED, _STAT_FORM_T64_2008);
        CHECK_EQ_LONG(sizeof(((union _io_mmap_reply_ext_stat *)0)->preferred),
                      sizeof(struct __stat_t64_2008));
    }

    /* Each form survives the trip through the flags, and the stat-form bits
     * overlap no other flag. */
    for (unsigned f = _STAT_FORM_UNSET; f <= _STAT_FORM_T64_2008; f++) {
        unsigned flags = _IO_MMAP_REPLY_FLAGS_USE_EXTENDED |
                         _IO_MMAP_REPLY_FLAGS_STAT_FORM_TO_FLAGS(f) |
                         _IO_MMAP_REPLY_FLAGS_BYPASS_FSTATVFS;
        CHECK_EQ_LONG(_IO_MMAP_REPLY_FLAGS_STAT_FORM(flags), f);
    }
    unsigned others = _IO_MMAP_REPLY_FLAGS_USE_EXTENDED | _IO_MMAP_REPLY_FLAGS_CACHE_MASK |
                      _IO_MMAP_REPLY_FLAGS_BYPASS_FSTATVFS | _IO_MMAP_REPLY_FLAGS_REMOVABLE |
                      _IO_MMAP_REPLY_FLAGS_SERVER_SHMEM_OBJECT;
    CHECK_EQ_LONG(others & _IO_MMAP_REPLY_FLAGS_STAT_FORM_MASK, 0);
}

TEST(stat_forms_take_glibc_time_names)
{
    union _io_mmap_reply_ext_stat s;
    memset(&s, 0, sizeof s);
    s.t64_2008.st_mtime = 1700000000;   /* glibc: st_mtim.tv_sec */
    s.t64_2008.st_mtim.tv_nsec = 5;
    s.t32_2001.st_atime = 7;
    s.stat.st_size = 42;                /* Linux's own struct stat */
    CHECK_EQ_LONG(s.stat.st_size, 42);
    struct __stat_t32_2008 t;
    memset(&t, 0, sizeof t);
    t.st_ctime = 3;
    CHECK_EQ_LONG(t.st_ctim.tv_sec, 3);
}

/* A stand-in for resmgr_context_t: the reply helpers use only `status`. */
struct fake_ctp { long status; };

TEST(reply_helpers_set_status_and_get_nbytes)
{
    struct fake_ctp c = { 0 }, *ctp = &c;

    _IO_SET_READ_NBYTES(ctp, 123);
    CHECK_EQ_LONG(c.status, 123);
    _IO_SET_WRITE_NBYTES(ctp, 456);
    CHECK_EQ_LONG(c.status, 456);
    _IO_SET_PATHCONF_VALUE(ctp, 255);
    CHECK_EQ_LONG(c.status, 255);
    _IO_SET_CONNECT_RET(ctp, _IO_CONNECT_RET_LINK);
    CHECK(c.status < 0);

    io_read_t r;
    memset(&r, 0, sizeof r);
    r.i.type = _IO_READ;
    r.i.nbytes = 4096;
    CHECK(_IO_READ_GET_NBYTES(&r) == 4096);
    r.i64.type = _IO_READ64;
    r.i64.nbytes = 1;
    r.i64.nbytes_hi = 2;
    CHECK(_IO_READ_GET_NBYTES(&r) == ((uint64_t)2 << 32 | 1));

    io_write_t w;
    memset(&w, 0, sizeof w);
    w.i.type = _IO_WRITE;
    w.i.nbytes = 10;
    w.i.zero = 7;   /* not nbytes_hi for a plain _IO_WRITE */
    CHECK(_IO_WRITE_GET_NBYTES(&w) == 10);
    w.i64.type = _IO_WRITE64;
    CHECK(_IO_WRITE_GET_NBYTES(&w) == ((uint64_t)7 << 32 | 10));
}

struct twelve { char b[12]; };

TEST(dcmd_macros_encode_size_class_direction)
{
    CHECK_EQ_LONG(_POSIX_DEVDIR_NONE, 0);
    CHECK_EQ_LONG(_POSIX_DEVDIR_TO, 0x80000000L);
    CHECK_EQ_LONG(_POSIX_DEVDIR_FROM, 0x40000000L);
    CHECK_EQ_LONG(_POSIX_DEVDIR_TOFROM, 0xC0000000L);
    CHECK_EQ_LONG(DEVDIR_TO, _POSIX_DEVDIR_TO);
    CHECK_EQ_LONG(DEVDIR_FROM, _POSIX_DEVDIR_FROM);
    CHECK_EQ_LONG(DEVDIR_TOFROM, _POSIX_DEVDIR_TOFROM);
    CHECK_EQ_LONG(DEVDIR_NONE, _POSIX_DEVDIR_NONE);
    CHECK_EQ_LONG(_DCMD_ALL, 0x01);
    CHECK_EQ_LONG(_DCMD_FSYS, 0x02);
    CHECK_EQ_LONG(_DCMD_CHR, 0x03);
    CHECK_EQ_LONG(_DCMD_NET, 0x04);
    CHECK_EQ_LONG(_DCMD_MISC, 0x05);
    CHECK_EQ_LONG(_DCMD_PROC, 0x08);

    /* (sizeof(data) << 16) + (class << 8) + cmd + direction */
    CHECK_EQ_LONG(__DIOF(_DCMD_ALL, 1, int), 0x40040101L);
    CHECK_EQ_LONG(__DIOT(_DCMD_MISC, 0x10, struct twelve), 0x800C0510L);
    CHECK_EQ_LONG(__DIOTF(_DCMD_MISC, 0x11, uint64_t), 0xC0080511L);
    CHECK_EQ_LONG(__DION(_DCMD_CHR, 5), 0x0305);
    CHECK_EQ_LONG(DCMD_ALL_GETFLAGS, 0x40040101L);
    CHECK_EQ_LONG(DCMD_ALL_SETFLAGS, 0x80040102L);
    CHECK_EQ_LONG(DCMD_ALL_GETMOUNTFLAGS, 0x40040103L);
    CHECK_EQ_LONG(DCMD_ALL_GETOWN, 0x40040104L);
    CHECK_EQ_LONG(DCMD_ALL_SETOWN, 0x80040105L);

    int dcmd = (int)__DIOTF(_DCMD_MISC, 0x11, struct twelve);
    CHECK(get_device_direction(dcmd) == DEVDIR_TOFROM);
    CHECK(get_device_direction(dcmd) & DEVDIR_TO);
    CHECK(get_device_direction(__DIOF(_DCMD_ALL, 1, int)) == DEVDIR_FROM);
    CHECK(get_device_direction(__DION(_DCMD_ALL, 1)) == DEVDIR_NONE);
    CHECK_EQ_LONG(get_device_command(dcmd), 0x0511);
    CHECK_EQ_LONG((dcmd >> 16) & 0x3fff, 12);
    CHECK(set_device_direction(__DION(_DCMD_MISC, 1), DEVDIR_TO) ==
          (_POSIX_DEVDIR_TO | 0x0501u));
}

/* The command a devctl handler gets is an int (msg->i.dcmd); a command with
 * a direction bit is negative there, and must still match. */
static int which(int dcmd)
{
    switch (dcmd) {
    case DCMD_ALL_GETFLAGS: return 1;
    case DCMD_ALL_SETFLAGS: return 2;
    case __DIOTF(_DCMD_MISC, 0x11, struct twelve): return 3;
    default: return 0;
    }
}

TEST(dcmd_matches_an_int_command)
{
    io_devctl_t msg;
    memset(&msg, 0, sizeof msg);
    msg.i.type = _IO_DEVCTL;
    msg.i.dcmd = (int)DCMD_ALL_SETFLAGS;
    CHECK(msg.i.dcmd < 0);
    CHECK_EQ_LONG(which(msg.i.dcmd), 2);
    CHECK((unsigned)msg.i.dcmd == DCMD_ALL_SETFLAGS);
    CHECK_EQ_LONG(which((int)DCMD_ALL_GETFLAGS), 1);
    CHECK_EQ_LONG(which((int)__DIOTF(_DCMD_MISC, 0x11, struct twelve)), 3);
    CHECK_EQ_LONG(which(0), 0);

    /* The data follows the header in both directions. */
    CHECK((char *)_DEVCTL_DATA(msg.i) == (char *)&msg + sizeof(struct _io_devctl));
    CHECK((char *)_DEVCTL_DATA(msg.o) == (char *)&msg + sizeof(struct _io_devctl_reply));
}

/* Declared with QNX's signatures (checked without linking to them). */
_Static_assert(__builtin_types_compatible_p(__typeof__(devctl),
                                            int(int, int, void *, size_t, int *)),
               "devctl() has QNX's signature");
_Static_assert(__builtin_types_compatible_p(__typeof__(devctlv),
                                            int(int, int, int, int, const iov_t *,
                                                const iov_t *, int *)),
               "devctlv() has QNX's signature");

TEST(linux_headers_keep_their_meaning)
{
    /* Nothing in the QNX headers redefined these. */
    CHECK_EQ_LONG(O_RDONLY, 0);
    CHECK_EQ_LONG(O_WRONLY, 1);
    CHECK_EQ_LONG(O_RDWR, 2);
    CHECK_EQ_LONG(SEEK_END, 2);
    CHECK_EQ_LONG(S_IFMT, 0170000);
    CHECK_EQ_LONG(EOK, 0);
}

TEST(sigevent_types_fit_qnx_mask_and_miss_linux)
{
    int qnx[] = { SIGEV_SIGNAL_CODE, SIGEV_SIGNAL_THREAD, SIGEV_PULSE, SIGEV_UNBLOCK,
                  SIGEV_INTR };
    int linux_types[] = { SIGEV_NONE, SIGEV_SIGNAL, SIGEV_THREAD, SIGEV_THREAD_ID };
    CHECK_EQ_LONG(SIGEV_TYPE_MASK, 0xff);
    for (unsigned i = 0; i < sizeof qnx / sizeof qnx[0]; i++) {
        CHECK_EQ_LONG(qnx[i] & ~SIGEV_TYPE_MASK, 0);
        for (unsigned j = 0; j < sizeof linux_types / sizeof linux_types[0]; j++)
            CHECK(qnx[i] != linux_types[j]);
        for (unsigned j = 0; j < i; j++)
            CHECK(qnx[i] != qnx[j]);
    }
    /* QNX's flag values, all above the type. */
    CHECK_EQ_LONG(SIGEV_FLAG_CRITICAL, 0x100);
    CHECK_EQ_LONG(SIGEV_FLAG_UPDATEABLE, 0x400);
    CHECK_EQ_LONG(SIGEV_FLAG_SIVAL_INT, 0x800);
    CHECK_EQ_LONG(SIGEV_FLAG_CODE_UPDATEABLE, 0x4000);
    struct sigevent e = { .sigev_notify = SIGEV_PULSE };
    SIGEV_MAKE_UPDATEABLE(&e);
    CHECK_EQ_LONG(SIGEV_GET_TYPE(&e), SIGEV_PULSE);
    SIGEV_SET_TYPE(&e, SIGEV_SIGNAL);
    CHECK_EQ_LONG(e.sigev_notify, SIGEV_SIGNAL | SIGEV_FLAG_UPDATEABLE);
}

/* The header's names for QNX's members and the library's own reading of a
 * pulse event (src/msg/msg.h) must be the same storage. */
TEST(sigevent_qnx_members_are_where_the_library_reads_them)
{
    struct sigevent e;
    memset(&e, 0, sizeof e);
    CHECK((void *)&e.sigev_coid == (void *)&e.sigev_signo);
    CHECK((void *)&e.sigev_code == (void *)&PM_SIGEV_CODE(&e));
    CHECK((void *)&e.sigev_priority == (void *)&PM_SIGEV_PRIORITY(&e));
    /* Code, priority and the library's two words fit the pad, and none
     * overlaps the value, the signal number or the type. */
    CHECK((char *)&PM_SIGEV_PID(&e) + sizeof(int) <= (char *)&e + sizeof e);
    CHECK((char *)&e.sigev_code >= (char *)&e.sigev_notify + sizeof e.sigev_notify);
    CHECK((char *)&e.sigev_code > (char *)&e.sigev_value);
}

TEST(sigev_init_macros_fill_qnx_fields)
{
    struct sigevent e;
    memset(&e, 0xff, sizeof e);
    SIGEV_SIGNAL_CODE_INIT(&e, SIGUSR1, 0x1234, 7);
    CHECK_EQ_LONG(e.sigev_notify, SIGEV_SIGNAL_CODE);
    CHECK_EQ_LONG(e.sigev_signo, SIGUSR1);
    CHECK(e.sigev_value.sival_ptr == (void *)0x1234);
    CHECK_EQ_LONG(e.sigev_code, 7);
    SIGEV_SIGNAL_INIT(&e, SIGUSR2);
    CHECK_EQ_LONG(e.sigev_notify, SIGEV_SIGNAL);
    CHECK_EQ_LONG(e.sigev_signo, SIGUSR2);
    SIGEV_UNBLOCK_INIT(&e);
    CHECK_EQ_LONG(e.sigev_notify, SIGEV_UNBLOCK);
    SIGEV_THREAD_INIT(&e, NULL, 5, NULL);
    CHECK_EQ_LONG(e.sigev_notify, SIGEV_THREAD);
    CHECK(e.sigev_notify_attributes == NULL);
    CHECK_EQ_LONG(e.sigev_value.sival_int, 5);
}

/* Declared with QNX's signatures. */
_Static_assert(__builtin_types_compatible_p(__typeof__(ClockCycles), uint64_t(void)),
               "ClockCycles() has QNX's signature");
_Static_assert(__builtin_types_compatible_p(__typeof__(SchedGet),
                                            int(pid_t, int, struct sched_param *)),
               "SchedGet() has QNX's signature");
_Static_assert(__builtin_types_compatible_p(__typeof__(SchedSet),
                                            int(pid_t, int, int, const struct sched_param *)),
               "SchedSet() has QNX's signature");

TEST(nto_version_and_sched_nochange)
{
    CHECK_EQ_LONG(_NTO_VERSION, 710);
    /* SCHED_NOCHANGE is no Linux policy. */
    CHECK(SCHED_NOCHANGE != SCHED_OTHER && SCHED_NOCHANGE != SCHED_FIFO &&
          SCHED_NOCHANGE != SCHED_RR && SCHED_NOCHANGE != SCHED_BATCH &&
          SCHED_NOCHANGE != SCHED_IDLE);
}
