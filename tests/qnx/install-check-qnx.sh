#!/bin/sh
# Build every QNX-style program (tests/qnx/qnx_*.c) against an installed
# peermap exactly as a user builds QNX code:
#     cc -Wall -Wextra -Werror prog.c $(pkg-config --cflags --libs peermap)
# and run it.  A qnx_NAME_plain.c beside a program is compiled with no
# peermap flags at all (as Linux code is) and linked in.
set -u
build=$1 srcdir=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cmake --install "$build" --prefix "$tmp/prefix" >/dev/null || exit 1
pc=$(dirname "$(find "$tmp/prefix" -name peermap.pc | head -n 1)")
export PKG_CONFIG_PATH="$pc"
cflags=$(pkg-config --cflags peermap) libs=$(pkg-config --libs peermap)
libdir=$(pkg-config --variable=libdir peermap)
case "$cflags" in
    *"/qnx -I"*) ;;
    *) echo "pkg-config --cflags does not put the QNX layer first: $cflags"; exit 1 ;;
esac
find "$tmp/prefix" -name peermap-porting.7 | grep -q . || { echo "peermap-porting(7) not installed"; exit 1; }
for h in qnx/atomic.h qnx/errno.h qnx/bits/types/__sigval_t.h qnx/sys/can_dcmd.h sys/siginfo.h; do
    [ -f "$(pkg-config --variable=includedir peermap)/$h" ] || { echo "$h not installed"; exit 1; }
done
passed=0 failed=0
for src in "$srcdir"/qnx_*.c; do
    case "$src" in *_plain.c) continue ;; esac
    name=$(basename "$src" .c)
    extra=
    if [ -f "$srcdir/${name}_plain.c" ]; then
        cc -Wall -Wextra -Werror -c -o "$tmp/${name}_plain.o" "$srcdir/${name}_plain.c" || {
            echo "FAIL $name: the plain part does not compile"; failed=$((failed + 1)); continue; }
        extra="$tmp/${name}_plain.o"
    fi
    # shellcheck disable=SC2086  # the flags are words
    if ! cc -Wall -Wextra -Werror -o "$tmp/$name" "$src" $extra $cflags $libs -pthread; then
        echo "FAIL $name: does not compile with pkg-config's flags"
        failed=$((failed + 1))
        continue
    fi
    if LD_LIBRARY_PATH="$libdir" "$srcdir/run.sh" "$tmp/$name"; then
        passed=$((passed + 1))
    else
        echo "FAIL $name: exit status $?"
        failed=$((failed + 1))
    fi
done
echo "installed QNX programs: $passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
