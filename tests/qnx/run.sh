#!/bin/sh
# Run one QNX-style test program the way a QNX system would: in a path space
# of its own (a fresh sticky directory), so that the paths it attaches are
# seen by nothing else and vanish with it.
set -u
space=$(mktemp -d /tmp/peermap-qnx-XXXXXX) || exit 1
chmod 01777 "$space"
PEERMAP_PATHSPACE=$space "$@"
rc=$?
rm -rf "$space"
exit $rc
