#!/bin/sh
# The code in the documentation compiles and runs as shown: every ```c block
# of README.md and every .EX/.EE block of a man page's EXAMPLES section is
# built against the installed library, the way a reader would build it:
#     cc x.c $(pkg-config --cflags --libs peermap)
# (plus -Wl,-rpath, as README.md says for a prefix the dynamic linker does
# not search), with warnings as errors.
#
#   doc-examples.sh BUILD_DIR SOURCE_DIR
#
# What a block is:
#   - a whole program (it defines main): built, linked and run; it must exit
#     0 within 20 s.  It runs in a private path space, with
#     PEERMAP_ABILITIES=mem_peer (what a non-root reader would set).
#   - anything else: a translation unit, compiled (cc -c).  A block without
#     #include lines of its own is a fragment: the standard C headers a
#     reader adds without thinking (errno.h, stdio.h, stdlib.h, string.h,
#     unistd.h) and the #include lines of the page's SYNOPSIS go before it.
# Lines just before the block (troff comments `.\" example: WORDS`, or in
# README.md `<!-- example: WORDS -->`) say otherwise:
#   not C                        text, a shell session, output: not built
#   in HEAD                      statements: compiled as the body of the
#                                function HEAD, e.g.
#                                in int example(pid_t client, int fd)
#   context DECLARATION          a line a fragment assumes (#include <x.h>,
#                                a prototype, a variable) put before it;
#                                any number of these
#   compile only: REASON         a program that cannot run here (REASON is
#                                printed): built and linked, not run
#   needs PROGRAM ARGS...        run while PROGRAM (an example program from
#                                the build tree, e.g. resmgr_sample -p
#                                /dev/sample) serves in the same path space
#   serves                       a server: started, it must attach a path
#                                within 10 s and still be running; then
#                                stopped with SIGTERM
# A block that is none of these fails the test: say what it is.
set -u
build=$(cd "$1" && pwd) src=$(cd "$2" && pwd)
tmp=$(mktemp -d)
server=0
cleanup() {
    [ "$server" != 0 ] && kill -9 "$server" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT
cmake --install "$build" --prefix "$tmp/prefix" >/dev/null || exit 1
PKG_CONFIG_PATH=$(dirname "$(find "$tmp/prefix" -name peermap.pc | head -n 1)")
export PKG_CONFIG_PATH
libdir=$(pkg-config --variable=libdir peermap) || exit 1
CFLAGS="-Wall -Wextra -Werror -Wno-unused-parameter -Wno-unused-function"

# ---- extraction: one file per block, and a .how file saying what it is ----
mkdir "$tmp/blocks"
extract_man() {  # page
    awk -v out="$tmp/blocks" -v page="$1" -v tag="$(basename "$1")" '
    function unescape(s) {
        gsub(/\\f(\(..|\[[^]]*\]|.)/, "", s)   # font changes
        gsub(/\\&/, "", s); gsub(/\\-/, "-", s)
        gsub(/\\\(aq/, "\047", s); gsub(/\\\(dq/, "\"", s); gsub(/\\\(ga/, "`", s)
        gsub(/\\\(ti/, "~", s); gsub(/\\\(ha/, "^", s); gsub(/\\\(rs/, "\\", s)
        gsub(/\\e/, "\\", s)
        return s
    }
    /^\.SH/ { sec = $0; sub(/^\.SH[ \t]*/, "", sec); gsub(/"/, "", sec) }
    sec == "SYNOPSIS" && /#include/ {
        s = unescape($0); sub(/^\.[A-Z]+[ \t]+/, "", s); gsub(/"/, "", s)
        if (s ~ /^#include/) incs = incs s "\n"
    }
    sec ~ /^EXAMPLES?$/ && /^\.\\" example:/ {
        d = $0; sub(/^\.\\" example:[ \t]*/, "", d)
        if (d ~ /^context /) { sub(/^context /, "", d); ctx = ctx d "\n" } else how = d
        next
    }
    sec ~ /^EXAMPLES?$/ && /^\.EX/ { n++; inb = 1; body = ""; next }
    inb && /^\.EE/ {
        f = sprintf("%s/%s.%d", out, tag, n)
        printf "%s", body > (f ".c"); close(f ".c")
        printf "%s\n", (how == "" ? "-" : how) > (f ".how"); close(f ".how")
        printf "%s%s", incs, ctx > (f ".inc"); close(f ".inc")
        printf "%s EXAMPLES block %d\n", page, n > (f ".where"); close(f ".where")
        inb = 0; how = ""; ctx = ""; next
    }
    inb { body = body unescape($0) "\n"; next }
    # Only layout requests may stand between a directive and its block.
    /^\.(PP|P|LP|in|RS|RE|sp|nf|fi)([ \t]|$)/ { next }
    { how = ""; ctx = "" }
    ' "$1"
}
extract_readme() {  # README.md
    awk -v out="$tmp/blocks" -v page="$1" '
    /^<!-- example:.*-->$/ {
        d = $0; sub(/^<!-- example:[ \t]*/, "", d); sub(/[ \t]*-->$/, "", d)
        if (d ~ /^context /) { sub(/^context /, "", d); ctx = ctx d "\n" } else how = d
        next
    }
    /^```c[ \t]*$/ && !inb { n++; inb = 1; body = ""; start = NR; next }
    /^```/ && inb {
        f = sprintf("%s/README.md.%d", out, n)
        printf "%s", body > (f ".c"); close(f ".c")
        printf "%s\n", (how == "" ? "-" : how) > (f ".how"); close(f ".how")
        printf "%s", ctx > (f ".inc"); close(f ".inc")
        printf "%s line %d\n", page, start > (f ".where"); close(f ".where")
        inb = 0; how = ""; ctx = ""; next
    }
    inb { body = body $0 "\n"; next }
    /^[ \t]*$/ { next }
    { how = ""; ctx = "" }
    ' "$1"
}
extract_readme "$src/README.md"
for page in "$src"/man/man*/*.[0-9]; do
    extract_man "$page"
done

# ---- building and running ----
space="$tmp/space"
fresh_space() {
    rm -rf "$space" && mkdir "$space" && chmod 01777 "$space"
    PEERMAP_PATHSPACE=$space
    export PEERMAP_PATHSPACE
}
# Wait (10 s at most) until something is attached in the path space.
wait_attached() {
    i=0
    while [ $i -lt 100 ]; do
        [ -n "$(ls -A "$space")" ] && return 0
        kill -0 "$1" 2>/dev/null || return 1
        sleep 0.1
        i=$((i + 1))
    done
    return 1
}
stop_server() {
    [ "$server" = 0 ] && return 0
    kill -TERM "$server" 2>/dev/null
    wait "$server" 2>/dev/null
    server=0
}

passed=0 failed=0 notc=0 ran=0
fail() {  # where message [log]
    echo "FAIL: $1: $2"
    [ -n "${3:-}" ] && [ -s "$3" ] && head -n 12 "$3" | sed 's/^/    /'
    failed=$((failed + 1))
}
export PEERMAP_ABILITIES=mem_peer
std='#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>'
for c in "$tmp"/blocks/*.c; do
    b=${c%.c}
    where=$(cat "$b.where")
    how=$(cat "$b.how")
    x="$b.prog" log="$b.log"
    case "$how" in
    "not C")
        notc=$((notc + 1))
        continue ;;
    "in "*)
        head=${how#in }
        ret="return 0;"
        case "$head" in void\ *) ret="" ;; esac
        { echo "$std"; cat "$b.inc"; printf '%s;\n%s\n{\n' "$head" "$head"
          cat "$c"; printf '%s\n}\n' "$ret"; } > "$b.unit.c"
        if cc $CFLAGS -c -o "$b.o" "$b.unit.c" $(pkg-config --cflags peermap) >"$log" 2>&1; then
            passed=$((passed + 1))
        else
            fail "$where" "does not compile as the body of $head" "$log"
        fi
        continue ;;
    esac
    if ! grep -q '^[a-z].*[ *]main(' "$c"; then
        case "$how" in
        -) ;;
        *) fail "$where" "'$how' is for whole programs, and this one has no main()"; continue ;;
        esac
        if grep -q '^#include' "$c"; then
            cp "$c" "$b.unit.c"
        else
            { echo "$std"; cat "$b.inc"; cat "$c"; } > "$b.unit.c"
        fi
        if cc $CFLAGS -c -o "$b.o" "$b.unit.c" $(pkg-config --cflags peermap) >"$log" 2>&1; then
            passed=$((passed + 1))
        else
            fail "$where" "does not compile (a fragment? mark it, see tests/doc-examples.sh)" "$log"
        fi
        continue
    fi
    # A whole program, built exactly as shown, then run.
    if ! cc $CFLAGS -o "$x" "$c" $(pkg-config --cflags --libs peermap) \
            -Wl,-rpath,"$libdir" >"$log" 2>&1; then
        fail "$where" "does not build" "$log"
        continue
    fi
    fresh_space
    case "$how" in
    "compile only: "*)
        echo "built, not run: $where: ${how#compile only: }"
        passed=$((passed + 1))
        continue ;;
    serves)
        "$x" >"$log" 2>&1 &
        server=$!
        if wait_attached "$server" && kill -0 "$server" 2>/dev/null; then
            stop_server
            passed=$((passed + 1)) ran=$((ran + 1))
        else
            stop_server
            fail "$where" "the server attached nothing in 10 s, or exited" "$log"
        fi
        continue ;;
    "needs "*)
        set -- ${how#needs }
        prog="$build/examples/$1"
        shift
        "$prog" "$@" >"$b.server.log" 2>&1 &
        server=$!
        if ! wait_attached "$server"; then
            stop_server
            fail "$where" "its server ($how) did not start" "$b.server.log"
            continue
        fi ;;
    -) ;;
    *)
        fail "$where" "unknown directive 'example: $how'"
        continue ;;
    esac
    if timeout 20 "$x" >"$log" 2>&1; then
        passed=$((passed + 1)) ran=$((ran + 1))
    else
        fail "$where" "exited with status $? (20 s at most)" "$log"
    fi
    stop_server
done
echo "documentation examples: $passed passed ($ran of them run), $failed failed, $notc not C"
[ "$failed" = 0 ]
