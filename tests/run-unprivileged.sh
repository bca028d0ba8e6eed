#!/bin/sh
# Run one test program as nobody (uid/gid 65534, no supplementary groups, no
# capabilities).  Skipped (exit 77) when the suite itself is not run as root.
# The non-root domain lacks PROCMGR_AID_MEM_PEER by default, as on QNX; the
# environment grants it, as a QNX parent would before spawning a non-root child.
[ "$(id -u)" = 0 ] || { echo "not root: nothing to drop"; exit 77; }
exec setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all \
     env PEERMAP_ABILITIES=mem_peer PEERMAP_TEST_UNPRIVILEGED=1 "$@"
