/*
 * shm_handle_server - shares a table with each client that asks, the way
 * QNX 7.1 recommends instead of mmap_peer(): an anonymous shared memory
 * object, filled, sealed read-only, and a one-time handle for the asking
 * process, sent back in an ordinary reply.  The client maps the object
 * itself with mmap_handle(); nobody else can redeem the handle, and the
 * object has no name anyone could open.
 *
 *   shm_handle_server [-n name] [-r fd]
 *
 *   -n name   the name to attach (default "peermap-shm-handles")
 *   -r fd     write one byte to fd once the name is attached (for a parent)
 *
 * Messages (types below _IO_BASE):
 *   GET_TABLE {}  -> {handle, size}: a read-only handle for the sender
 *   QUIT      {}  -> EOK; the server exits 0
 *
 * For a QNX porter: this is QNX code (built with peermap's compatibility
 * include directory first, as `pkg-config --cflags peermap` gives it), so
 * shm_open(SHM_ANON, ...) and shm_ctl() come from <sys/mman.h>.  The one
 * "Linux only" line adds the memfd seals that make the object read-only
 * for everyone: QNX's SHMCTL_SEAL fixes the layout, and on QNX the creator
 * would keep the object read-only by handing out read-only handles alone.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <sys/dispatch.h>
#include <sys/iomsg.h>
#include <sys/neutrino.h>

#define TBL_MSG_GET  0x0020
#define TBL_MSG_QUIT 0x0021

struct tbl_hdr {
    uint16_t type;
    uint16_t subtype;
    uint32_t zero;
};

struct tbl_reply {
    shm_handle_t handle;  /* for the sender only, once */
    uint64_t size;
};

#define TBL_SIZE  (64 * 1024)
#define TBL_WORDS (TBL_SIZE / sizeof(uint32_t))

/* The table: squares, so the client can check every word. */
static int make_table(void)
{
    int fd = shm_open(SHM_ANON, O_RDWR | O_CREAT, 0600);
    if (fd < 0)
        return -1;
    if (shm_ctl(fd, SHMCTL_ANON | SHMCTL_SEAL, 0, TBL_SIZE) < 0)
        goto fail;
    uint32_t *t = mmap(NULL, TBL_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (t == MAP_FAILED)
        goto fail;
    for (uint32_t i = 0; i < TBL_WORDS; i++)
        t[i] = i * i;
    munmap(t, TBL_SIZE);
    /* Linux only: no one, us included, may write it from now on. */
    if (fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE | F_SEAL_SEAL) < 0)
        goto fail;
    return fd;
fail:;
    int e = errno;
    close(fd);
    errno = e;
    return -1;
}

int main(int argc, char **argv)
{
    const char *name = "peermap-shm-handles";
    int ready_fd = -1, opt;
    while ((opt = getopt(argc, argv, "n:r:")) != -1) {
        switch (opt) {
        case 'n': name = optarg; break;
        case 'r': ready_fd = atoi(optarg); break;
        default:
            fprintf(stderr, "usage: %s [-n name] [-r fd]\n", argv[0]);
            return 2;
        }
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    name_attach_t *attach = name_attach(NULL, name, 0);
    if (!attach) {
        fprintf(stderr, "%s: name_attach %s: %s\n", argv[0], name, strerror(errno));
        return EXIT_FAILURE;
    }
    printf("shm_handle_server: attached \"%s\" (pid %d)\n", name, (int)getpid());
    if (ready_fd >= 0) {
        char ok = 1;
        if (write(ready_fd, &ok, 1) != 1)
            perror("shm_handle_server: ready descriptor");
        close(ready_fd);
    }

    for (;;) {
        union {
            uint16_t type;
            struct tbl_hdr hdr;
            struct _pulse pulse;
        } msg;
        struct _msg_info info;
        rcvid_t rcvid = MsgReceive(attach->chid, &msg, sizeof msg, &info);
        if (rcvid == -1) {
            if (errno == EINTR)
                continue;
            fprintf(stderr, "%s: MsgReceive: %s\n", argv[0], strerror(errno));
            break;
        }
        if (rcvid == 0)
            continue; /* pulses: nothing to do */
        if (msg.type == _IO_CONNECT) { /* name_open() */
            MsgReply(rcvid, EOK, NULL, 0);
            continue;
        }
        if (msg.type == TBL_MSG_QUIT) {
            MsgReply(rcvid, EOK, NULL, 0);
            name_detach(attach, 0);
            printf("shm_handle_server: bye\n");
            return EXIT_SUCCESS;
        }
        if (msg.type != TBL_MSG_GET) {
            MsgError(rcvid, ENOSYS);
            continue;
        }
        int fd = make_table();
        struct tbl_reply r = { .size = TBL_SIZE };
        /* info.pid comes from the kernel, not from the message: the handle
         * is for the process that asked, and no other. */
        if (fd < 0 || shm_create_handle(fd, info.pid, O_RDONLY, &r.handle, 0) < 0) {
            int e = errno;
            fprintf(stderr, "shm_handle_server: %s\n", strerror(e));
            if (fd >= 0)
                close(fd);
            MsgError(rcvid, e);
            continue;
        }
        /* The handle holds the object now; we need our descriptor no more. */
        close(fd);
        printf("shm_handle_server: a %u-byte sealed table for pid %d\n", TBL_SIZE,
               (int)info.pid);
        MsgReply(rcvid, EOK, &r, sizeof r);
    }
    name_detach(attach, 0);
    return EXIT_FAILURE;
}
