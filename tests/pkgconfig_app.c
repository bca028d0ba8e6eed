/* Built by install-check.sh against an installed peermap, with nothing but
 * `cc app.c $(pkg-config --cflags --libs peermap)`: the headers must be found
 * under their own directory and must not hide the system's <sys/mman.h>. */
#include <stdio.h>
#include <sys/mman.h>
#include <sys/mman_peer.h>
#include <sys/procmgr.h>
#include <peermap.h>
#include <unistd.h>

int main(void)
{
    void *p = mmap_peer(getpid(), NULL, 65536, PROT_READ | PROT_WRITE, MAP_SHARED, NOFD, 0);
    if (p == MAP_FAILED) {
        perror("mmap_peer");
        return 1;
    }
    ((char *)p)[0] = 1;
    if (munmap_peer(getpid(), p, 65536) != 0) {
        perror("munmap_peer");
        return 1;
    }
    if (procmgr_ability(0, PROCMGR_AOP_DENY | PROCMGR_AID_PROT_EXEC, PROCMGR_AID_EOL) != 0)
        return 1;
    printf("installed peermap works (timeout %u ms)\n", peermap_timeout_ms());
    return 0;
}
