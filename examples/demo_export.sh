#!/bin/sh
# The last part of `make demo`: the resource manager examples/resmgr_sample
# reached by `echo >` and `cat` through the FUSE export (peermap export), in
# a path space and a mount point of its own.  Needs FUSE mounting (root on
# most machines): otherwise it says so and ends without error.
#
#   examples/demo_export.sh [BUILD_DIR]      (default: build)
set -eu
build=${1:-build}
if [ ! -e /dev/fuse ] || [ ! -r /dev/fuse ] || [ ! -w /dev/fuse ]; then
    echo "demo_export: skipped: FUSE is not available to uid $(id -u) here (/dev/fuse)"
    exit 0
fi
tmp=$(mktemp -d)
sample= export_pid=
cleanup() {
    [ -n "$export_pid" ] && kill "$export_pid" 2>/dev/null && wait "$export_pid" 2>/dev/null
    [ -n "$sample" ] && kill "$sample" 2>/dev/null && wait "$sample" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT INT TERM
PEERMAP_PATHSPACE=$tmp/space
export PEERMAP_PATHSPACE
mkdir -m 1777 "$PEERMAP_PATHSPACE"
mkdir "$tmp/fs"

# The manager says when /dev/sample is attached (a byte on descriptor 3).
mkfifo "$tmp/ready"
"$build/examples/resmgr_sample" -p /dev/sample -r 3 3>"$tmp/ready" >/dev/null &
sample=$!
head -c 1 "$tmp/ready" >/dev/null
# The export says when it is mounted (a line on its output).
"$build/tools/peermap" export "$tmp/fs" >"$tmp/ready" &
export_pid=$!
if ! head -n 1 "$tmp/ready" | grep -q "path space is at"; then
    echo "demo_export: skipped: peermap export could not mount (FUSE not permitted?)"
    exit 0
fi

echo "== any program reaches the manager through the export (peermap export $tmp/fs)"
echo "\$ echo 'hello from a shell' > $tmp/fs/dev/sample"
echo 'hello from a shell' >"$tmp/fs/dev/sample"
echo "\$ cat $tmp/fs/dev/sample"
cat "$tmp/fs/dev/sample"
echo "\$ ls -l $tmp/fs/dev"
ls -l "$tmp/fs/dev"
