#!/bin/sh
# Install the build into a scratch prefix and build an application the way a
# user would: cc app.c $(pkg-config --cflags --libs peermap).  Both the shared
# and the static library must work.
set -eu
build=$1 app=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cmake --install "$build" --prefix "$tmp" >/dev/null
pc=$(dirname "$(find "$tmp" -name peermap.pc | head -n 1)")
[ -n "$pc" ] || { echo "peermap.pc was not installed"; exit 1; }
export PKG_CONFIG_PATH="$pc"
cc -Wall -Wextra -Werror -o "$tmp/app" "$app" $(pkg-config --cflags --libs peermap)
LD_LIBRARY_PATH="$(pkg-config --variable=libdir peermap)" "$tmp/app"
cc -Wall -Wextra -Werror -o "$tmp/app-static" "$app" $(pkg-config --cflags peermap) \
   "$(pkg-config --variable=libdir peermap)/libpeermap.a"
"$tmp/app-static"
# QNX code: shm_open(SHM_ANON) and a handle through <sys/mman.h> alone.
cat >"$tmp/qnx.c" <<'QNX'
#include <fcntl.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>
int main(void)
{
    shm_handle_t h;
    int fd = shm_open(SHM_ANON, O_RDWR | O_CREAT, 0600);
    if (fd < 0 || shm_ctl(fd, SHMCTL_ANON, 0, 4096) < 0 ||
        shm_create_handle(fd, getpid(), O_RDONLY, &h, 0) < 0) {
        perror("qnx");
        return 1;
    }
    void *p = mmap_handle(NULL, 4096, PROT_READ, MAP_SHARED, h, 0);
    return p == MAP_FAILED;
}
QNX
cc -Wall -Wextra -Werror -o "$tmp/qnx" "$tmp/qnx.c" $(pkg-config --cflags peermap) \
   "$(pkg-config --variable=libdir peermap)/libpeermap.a" -pthread
"$tmp/qnx" || { echo "QNX shm_open(SHM_ANON) program failed"; exit 1; }
# QNX's <sys/mman.h> brings NULL, size_t and the PROT_/MAP_ names with it:
# a call written as the documentation shows it needs no other header.
printf '#include <sys/mman_peer.h>\nvoid *f(pid_t pid, size_t len);\nvoid *f(pid_t pid, size_t len) { return mmap_peer(pid, NULL, len, PROT_READ, MAP_SHARED, NOFD, 0); }\n' > "$tmp/alone.c"
cc -Wall -Wextra -Werror -c -o "$tmp/alone.o" "$tmp/alone.c" $(pkg-config --cflags peermap)
for page in mmap_peer.3 munmap_peer.3 procmgr_ability.3 shm_create_handle.3 shm_ctl_special.3 peermap.1 peermap.7; do
    find "$tmp" -name "$page" | grep -q . || { echo "man page $page not installed"; exit 1; }
done
echo "install check: 1 passed, 0 failed"
