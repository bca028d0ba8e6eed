#!/bin/sh
# Run every benchmark from a build directory and print the results as
# Markdown: the machine, one table of medians and p99s, one table of ratios
# against the goals.  Builds nothing.
#
#   bench/run.sh [--update FILE] [BUILD_DIR]        (default: ./build)
#
# --update FILE: instead of printing, put the results into FILE (normally
# BENCHMARKS.md) between its lines "<!-- bench/run.sh: current run -->" and
# "<!-- bench/run.sh: end of current run -->", replacing what was there;
# the rest of FILE (goals, method, history) is left as it is.
#
# Two configurations, each measured in one run of each benchmark:
#   same   caller and target both pinned to CPU 0
#   cross  caller on CPU 0, target on CPU 1 (skipped on a 1-CPU machine)
# Environment: BENCH_N / BENCH_WARMUP override the calls per measurement
# (default 5000 / 500), BENCH_GDB_N the gdb runs (default 10), BENCH_MSG_N /
# BENCH_MSG_WARMUP the message round trips (default 20000 / 2000; the 1 MiB
# messages a tenth of each), BENCH_RM_N / BENCH_RM_WARMUP the 1 MiB
# pm_read()s (default 500 / 50), BENCH_RM_OPS / BENCH_RM_OPS_WARMUP the
# small ops per client under 64 clients (default 5000 / 100),
# BENCH_RM_WAIT_OPS / BENCH_RM_WAIT_WARMUP the same when every read handler
# waits 200 us (default 200 / 10), BENCH_IB_N / BENCH_IB_WARMUP the calls
# of each kind of the in-band benchmark (default 2000 / 200), and of the
# agent benchmark, BENCH_SS_N / BENCH_SS_WARMUP the pairs of each kind of
# the signal-handler benchmark (default 2000 / 200), BENCH_EX_N /
# BENCH_EX_WARMUP the 4 KiB reads of the FUSE export's benchmark (default
# 2000 / 200; it needs a user allowed to mount FUSE), BENCH_TIMER_N the
# 1 ms periods of the timer benchmark (default 2000; a tenth as many 10 ms
# ones).
set -eu

update=
if [ "${1:-}" = --update ]; then
    [ $# -ge 2 ] || { echo "run.sh: --update needs a file" >&2; exit 2; }
    update=$2
    shift 2
    begin="<!-- bench/run.sh: current run -->"
    end="<!-- bench/run.sh: end of current run -->"
    if ! grep -qxF "$begin" "$update" || ! grep -qxF "$end" "$update"; then
        echo "run.sh: $update has no lines '$begin' and '$end'" >&2
        exit 2
    fi
fi
build=${1:-build}
bin=$build/bench
if [ ! -x "$bin/bench_peermap" ]; then
    echo "run.sh: $bin/bench_peermap not found; build first:" >&2
    echo "  cmake -S . -B $build && cmake --build $build" >&2
    exit 1
fi
n=${BENCH_N:-5000}
warmup=${BENCH_WARMUP:-500}
gdb_n=${BENCH_GDB_N:-10}
msg_n=${BENCH_MSG_N:-20000}
msg_warmup=${BENCH_MSG_WARMUP:-2000}
rm_n=${BENCH_RM_N:-500}
rm_warmup=${BENCH_RM_WARMUP:-50}
rm_ops=${BENCH_RM_OPS:-5000}
rm_ops_warmup=${BENCH_RM_OPS_WARMUP:-100}
rm_wait_ops=${BENCH_RM_WAIT_OPS:-200}
rm_wait_warmup=${BENCH_RM_WAIT_WARMUP:-10}
open_n=${BENCH_OPEN_N:-5000}
open_warmup=${BENCH_OPEN_WARMUP:-500}
ib_n=${BENCH_IB_N:-2000}
ib_warmup=${BENCH_IB_WARMUP:-200}
ss_n=${BENCH_SS_N:-2000}
ss_warmup=${BENCH_SS_WARMUP:-200}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM
# With --update, the report is collected and spliced in at the end.

if [ -n "$update" ]; then
    exec 3>&1 >"$tmp/report"
fi

configs="same:0"
if [ "$(nproc)" -ge 2 ]; then
    configs="$configs cross:1"
fi

# run CONFIG FILE COMMAND...: run COMMAND (a benchmark and its arguments) and
# append "CONFIG line" to FILE for each result line; stop everything if it
# fails (its own message says why).
run() {
    cfg=$1 into=$2
    shift 2
    if ! "$@" >"$tmp/out"; then
        echo "run.sh: $* failed (configuration $cfg)" >&2
        exit 1
    fi
    grep -v '^#' "$tmp/out" | sed "s/^/$cfg /" >>"$into"
}

# each FILE PROGRAM [MODE...] -- [ARGS...]: PROGRAM (in $bin) once in every
# configuration, pinned (the CPU options go after the mode words, which a
# program reads first), its results in FILE (emptied first).
each() {
    into=$1 prog=$bin/$2
    shift 2
    mode=
    while [ "$1" != -- ]; do mode="$mode $1"; shift; done
    shift
    : >"$into"
    for c in $configs; do
        # $mode: the words of the mode, split on purpose
        # shellcheck disable=SC2086
        run "${c%%:*}" "$into" "$prog" $mode --caller-cpu 0 --target-cpu "${c#*:}" "$@"
    done
}

# Other work on the machine moves the figures: say how busy it was.
load=$(cut -d' ' -f1-3 /proc/loadavg)
: >"$tmp/results"
notes=""
for c in $configs; do
    cfg=${c%%:*}
    pin="--caller-cpu 0 --target-cpu ${c#*:}"
    # $pin: two options and their values, split on purpose
    # shellcheck disable=SC2086
    {
    run "$cfg" "$tmp/results" "$bin/bench_peermap" $pin -n "$n" -w "$warmup"
    if [ -x "$bin/bench_compel" ]; then
        run "$cfg" "$tmp/results" "$bin/bench_compel" $pin -n "$n" -w "$warmup"
    fi
    if command -v gdb >/dev/null 2>&1; then
        run "$cfg" "$tmp/results" "$bin/bench_gdb" $pin -n "$gdb_n" -w 1
    fi
    if [ -x "$bin/bench_msg" ]; then
        run "$cfg" "$tmp/results" "$bin/bench_msg" $pin -n "$msg_n" -w "$msg_warmup"
        # The same 1 MiB exchanges when neither end maps the other's
        # message file (the pread() path): names end in _pread.
        run "$cfg" "$tmp/results" env PEERMAP_MAP_BODIES=0 "$bin/bench_msg" $pin \
            -n "$msg_n" -w "$msg_warmup"
    fi
    if [ -x "$bin/bench_open" ]; then
        run "$cfg" "$tmp/results" "$bin/bench_open" $pin -n "$open_n" -w "$open_warmup"
    fi
    if [ -x "$bin/bench_inband" ]; then
        run "$cfg" "$tmp/results" "$bin/bench_inband" $pin -n "$ib_n" -w "$ib_warmup"
    fi
    if [ -x "$bin/bench_agent" ]; then
        run "$cfg" "$tmp/results" "$bin/bench_agent" $pin -n "$ib_n" -w "$ib_warmup"
    fi
    if [ -x "$bin/bench_sigsafe" ]; then
        run "$cfg" "$tmp/results" "$bin/bench_sigsafe" $pin -n "$ss_n" -w "$ss_warmup"
    fi
    }
done
[ -x "$bin/bench_compel" ] || notes="$notes compel"
[ -x "$bin/bench_msg" ] || notes="$notes bench_msg"
[ -x "$bin/bench_inband" ] || notes="$notes bench_inband"

# Resource managers: mode "read" in each configuration, modes "pool" and
# "pool-wait" once each (unpinned).  Lines: "CONFIG name median p99 n" and "CONFIG rate name value unit".
if [ -x "$bin/bench_resmgr" ]; then
    each "$tmp/rm" bench_resmgr read -- -n "$rm_n" -w "$rm_warmup"
    run all "$tmp/rm" "$bin/bench_resmgr" pool -n "$rm_ops" -w "$rm_ops_warmup"
    run all "$tmp/rm" "$bin/bench_resmgr" pool-wait -n "$rm_wait_ops" -w "$rm_wait_warmup"
else
    notes="$notes bench_resmgr"
fi
command -v gdb >/dev/null 2>&1 || notes="$notes gdb"

cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
echo "## Current run"
echo
echo "- kernel: $(uname -r); CPUs: $(nproc); CPU: ${cpu:-unknown}"
echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC'); load average before the run: $load"
echo "- written by \`bench/run.sh\`; every ratio is of medians from this one run; a goal reads \"met\" or \"not met\""
echo "- calls per measurement: $n after $warmup warm-up calls (gdb: $gdb_n runs after 1)"
echo "- mapping: 64 KiB, PROT_READ|PROT_WRITE, MAP_SHARED, anonymous unless noted; never touched"
echo "- same: caller and target on CPU 0; cross: caller on CPU 0, target on CPU 1"
for t in $notes; do
    echo "- $t: not available"
done
echo

# section TITLE LINE...: a section's heading, then its lines as a list.
section() {
    echo
    echo "### $1"
    echo
    shift
    for l in "$@"; do
        echo "- $l"
    done
    echo
}

# table DATA [OPTION...] <SPEC: from DATA's lines ("CONFIG name median p99
# n", "CONFIG rate name value unit"), the table of medians and p99s of the
# rows SPEC names (a column pair per configuration), then, after an empty
# line, the table of the ratios it names.  SPEC's lines:
#   row NAME|WHAT          a measurement
#   ratio A|B|GOAL|WHAT    median of A / median of B (either may be N1+N2: the
#                          sum of their medians) against GOAL ("<= X",
#                          ">= X", "< X"; empty: for information)
#   ms NAME|GOAL|WHAT      in the ratio table: NAME's median, in ms, against GOAL
# OPTIONs: rates (a MiB/s column per configuration, "-" where the benchmark
# gave no rate), keep-rows / keep-ratios (a row / ratio no configuration
# measured is printed as dashes instead of left out), no-goal (the ratio
# table has no goal column), title=TEXT (its first heading; default "ratio
# of medians").  With no row (no ratio) in SPEC, that table is not printed.
table() {
    data=$1
    shift
    awk -v configs="$configs" -v opts=" $* " '
function has(c, k) { return ((c SUBSEP k) in med) }
function cell(c, k) {
    if (!has(c, k)) return rates ? "- | - | -" : "- | -"
    return med[c, k] " | " p99[c, k] (rates ? " | " (((c SUBSEP k) in rate) ? rate[c, k] : "-") : "")
}
# a measurement, or several joined by "+": the sum of their medians
function val(c, k,   p, n, i, t) {
    n = split(k, p, "+"); t = 0
    for (i = 1; i <= n; i++) { if (!has(c, p[i])) return ""; t += med[c, p[i]] }
    return t
}
function ratio(c, a, b,   x, y) {
    x = val(c, a); y = val(c, b)
    if (x == "" || y == "" || y + 0 == 0) return ""
    return sprintf("%.2f", x / y)
}
# goal: "<= X", ">= X", "< X" or "" (for information)
function verdict(r, goal,   op) {
    if (r == "") return "-"
    if (goal == "") return r
    op = substr(goal, 1, 2)
    if (op == "<=") return r " (" (r + 0 <= substr(goal, 4) + 0 ? "met" : "not met") ")"
    if (op == ">=") return r " (" (r + 0 >= substr(goal, 4) + 0 ? "met" : "not met") ")"
    return r " (" (r + 0 < substr(goal, 3) + 0 ? "met" : "not met") ")"
}
NR == FNR {
    kind = $1; spec = substr($0, length($1) + 2)
    if (kind == "row") row[++nr] = spec
    else if (kind == "ratio" || kind == "ms") { q[++nq] = spec; qkind[nq] = kind }
    next
}
$2 == "rate" { rate[$1, $3] = $4; next }
{ med[$1, $2] = $3; p99[$1, $2] = $4; cnt[$1, $2] = $5 }
# The alignment sweep of bench_msg: its slowest and fastest pairs, as rows.
$2 ~ /^msg_large_c[0-9]+_s[0-9]+$/ {
    if (!(($1 SUBSEP "msg_large_sweep_worst") in med) || $3 + 0 > med[$1, "msg_large_sweep_worst"] + 0) {
        med[$1, "msg_large_sweep_worst"] = $3; p99[$1, "msg_large_sweep_worst"] = $4
        cnt[$1, "msg_large_sweep_worst"] = $5; worst[$1] = $2
    }
    if (!(($1 SUBSEP "msg_large_sweep_best") in med) || $3 + 0 < med[$1, "msg_large_sweep_best"] + 0) {
        med[$1, "msg_large_sweep_best"] = $3; p99[$1, "msg_large_sweep_best"] = $4
        cnt[$1, "msg_large_sweep_best"] = $5; best[$1] = $2
    }
}
END {
    nc = split(configs, cl, " ")
    for (i = 1; i <= nc; i++) { split(cl[i], kv, ":"); cfg[i] = kv[1] }
    rates = index(opts, " rates ") > 0
    keeprows = index(opts, " keep-rows ") > 0
    keepratios = index(opts, " keep-ratios ") > 0
    nogoal = index(opts, " no-goal ") > 0
    title = "ratio of medians"
    if (match(opts, / title=[^ ]+ /)) title = substr(opts, RSTART + 7, RLENGTH - 8)

    if (nr) {
        hdr = "| measurement | what |"; sep = "| --- | --- |"
        for (i = 1; i <= nc; i++) {
            hdr = hdr " " cfg[i] " median µs | " cfg[i] " p99 µs |"
            sep = sep " ---: | ---: |"
            if (rates) { hdr = hdr " " cfg[i] " MiB/s |"; sep = sep " ---: |" }
        }
        print hdr " n |"; print sep " ---: |"
    }
    for (r = 1; r <= nr; r++) {
        split(row[r], f, "|"); k = f[1]
        any = 0; n = "-"
        for (i = 1; i <= nc; i++) if (has(cfg[i], k)) { any = 1; n = cnt[cfg[i], k] }
        if (!any && !keeprows) continue
        what = f[2]
        if (k == "msg_large_sweep_worst" || k == "msg_large_sweep_best")
            for (i = 1; i <= nc; i++)
                if (has(cfg[i], k)) what = what "; " cfg[i] ": " (k == "msg_large_sweep_worst" ? worst[cfg[i]] : best[cfg[i]])
        line = "| " k " | " what " |"
        for (i = 1; i <= nc; i++) line = line " " cell(cfg[i], k) " |"
        print line " " n " |"
    }
    if (!nq) exit

    print ""
    hdr = "| " title " |" (nogoal ? "" : " goal |"); sep = "| --- |" (nogoal ? "" : " --- |")
    for (i = 1; i <= nc; i++) { hdr = hdr " " cfg[i] " |"; sep = sep " ---: |" }
    print hdr; print sep
    for (r = 1; r <= nq; r++) {
        nf = split(q[r], f, "|")
        goal = f[nf - 1]; what = f[nf]
        line = "| " what " |" (nogoal ? "" : " " (goal == "" ? "-" : goal) " |")
        any = 0
        for (i = 1; i <= nc; i++) {
            c = cfg[i]
            if (qkind[r] == "ms")
                x = has(c, f[1]) ? sprintf("%.3f", med[c, f[1]] / 1000) : ""
            else
                x = ratio(c, f[1], f[2])
            if (x != "") any = 1
            line = line " " verdict(x, goal) " |"
        }
        if (any || keepratios) print line
    }
}' - "$data"
}

# pool_table DATA POOL SINGLE POOL_WHAT SINGLE_WHAT: the one-line table of
# each of bench_resmgr's two managers (names POOL_op and SINGLE_op, rates
# POOL_ops and POOL_mgr_cpu...) that DATA holds.
pool_table() {
    awk -v pool="$2" -v single="$3" -v pool_what="$4" -v single_what="$5" '
$2 == "rate" { rate[$1, $3] = $4; next }
{ med[$1, $2] = $3; p99[$1, $2] = $4; cnt[$1, $2] = $5 }
function line(m, what) {
    if (("all" SUBSEP m "_op") in med)
        print "| " m "_op | " what " | " med["all", m "_op"] " | " p99["all", m "_op"] " | " rate["all", m "_ops"] " | " rate["all", m "_mgr_cpu"] " | " cnt["all", m "_op"] " |"
}
END {
    print "| measurement | what | median µs | p99 µs | ops/s | manager CPU µs/msg | n |"
    print "| --- | --- | ---: | ---: | ---: | ---: | ---: |"
    line(pool, pool_what); line(single, single_what)
}' "$1"
}

# pool_ratios DATA POOL SINGLE TITLE [cpu]: the pool manager's figures over
# the single thread's (and their CPU per message with "cpu").
pool_ratios() {
    awk -v pool="$2" -v single="$3" -v title="$4" -v cpu="${5:-}" '
$2 == "rate" { rate[$1, $3] = $4; next }
{ med[$1, $2] = $3; p99[$1, $2] = $4; cnt[$1, $2] = $5 }
END {
    if ((("all" SUBSEP pool "_ops") in rate) && rate["all", single "_ops"] + 0 > 0 &&
        p99["all", single "_op"] + 0 > 0) {
        print ""
        print "| " title " | 4-thread pool / single thread |"
        print "| --- | ---: |"
        printf "| total ops/s | %.2f |\n", rate["all", pool "_ops"] / rate["all", single "_ops"]
        printf "| median per op | %.2f |\n", med["all", pool "_op"] / med["all", single "_op"]
        printf "| p99 per op | %.2f |\n", p99["all", pool "_op"] / p99["all", single "_op"]
        if (cpu != "" && rate["all", single "_mgr_cpu"] + 0 > 0)
            printf "| manager CPU per message | %.2f |\n", rate["all", pool "_mgr_cpu"] / rate["all", single "_mgr_cpu"]
    }
}' "$1"
}

table "$tmp/results" <<'EOF'
row floor_pair|local mmap + munmap (the floor)
row floor_mmap|local mmap alone
row peer_mmap|mmap_peer() anonymous: attach, inject, detach
row peer_munmap|munmap_peer()
row peer_pair|mmap_peer() + munmap_peer()
row peer_fd_mmap|mmap_peer() of a memfd, MAP_SHARED
row sess_attach_detach|peermap_attach() + peermap_detach()
row sess_mmap|peermap_mmap() in a session
row sess_munmap|peermap_munmap() in a session
row sess_pair|peermap_mmap() + peermap_munmap() in a session
row sess_fd_mmap|peermap_mmap() of the memfd in a session
row compel_mmap|compel: stop, prepare, mmap, cure, resume
row compel_noctx_mmap|compel, prepare_noctx (no netns socket, no maps scan)
row compel_attached_mmap|compel_syscall(mmap) while stopped
row compel_attached_pair|compel_syscall(mmap) + compel_syscall(munmap)
row gdb_pair|gdb -p: call mmap + call munmap (whole command)
ratio peer_mmap|floor_pair|<= 6|mmap_peer() / floor
ratio peer_pair|floor_pair||(mmap_peer() + munmap_peer()) / floor
ratio peer_fd_mmap|peer_mmap|<= 1.5|memfd mmap_peer() / anonymous mmap_peer()
ratio sess_mmap|floor_pair|<= 5|peermap_mmap() in a session / floor
ratio sess_attach_detach|floor_pair||(peermap_attach() + peermap_detach()) / floor
ratio compel_mmap|peer_mmap|>= 3|compel full cycle / mmap_peer()
ratio compel_noctx_mmap|peer_mmap|>= 3|compel full cycle, prepare_noctx / mmap_peer()
ratio compel_attached_mmap|sess_mmap||compel per call attached / peermap_mmap() in a session
ratio gdb_pair|peer_pair||gdb (mmap + munmap) / (mmap_peer() + munmap_peer())
EOF

if [ -x "$bin/bench_msg" ]; then
    section "message passing" \
        "round trips: $msg_n after $msg_warmup warm-up ones; 1 MiB: a tenth of each" \
        "server: a forked child, one thread; same/cross as above (client = caller)" \
        "raw and message blocks alternate within each measurement; the 1 MiB sweep: 20 exchanges per placement (client buffer C, server buffer S bytes into a page: msg_large_cC_sS)" \
        "malloc()'d 1 MiB buffers start 16 bytes into a page at both ends"
    table "$tmp/results" <<'EOF'
row msg_small|MsgSend() -> MsgReceive() -> MsgReply(), 16 bytes each way
row raw_small|raw AF_UNIX SOCK_SEQPACKET ping-pong, 16-byte datagrams
row raw_epoll_small|raw_small with the server in epoll_wait() before each recv() (the floor of a server that waits on many connections)
row msg_large|MsgSend() of 1 MiB, server MsgRead() of all of it, 16-byte reply (buffers from malloc())
row raw_large|raw AF_UNIX SOCK_STREAM: 1 MiB written and read, 16 bytes back
row floor_large|the one-copy floor: process_vm_readv() of 1 MiB of the client (same alignment) between two 16-byte datagrams
row msg_large_sweep_worst|msg_large, the slowest of the 64 placements of the two buffers in their pages (0..56 bytes in)
row msg_large_sweep_best|msg_large, the fastest of them
row msg_reply_1m|MsgSend() of 16 bytes, MsgReply() of 1 MiB (buffers from malloc())
row floor_reply_1m|its floor: process_vm_writev() of 1 MiB into the client between two 16-byte datagrams
row msg_large_pread|msg_large with PEERMAP_MAP_BODIES=0 (bodies read with pread(), not mapped)
row msg_reply_1m_pread|msg_reply_1m with PEERMAP_MAP_BODIES=0
row floor_large_pread|floor_large in that run
row floor_reply_1m_pread|floor_reply_1m in that run
ratio msg_small|raw_small|<= 1.1|MsgSend() round trip / raw ping-pong, 16 bytes
ratio msg_small|raw_epoll_small||MsgSend() round trip / raw ping-pong with the server in epoll_wait()
ratio raw_epoll_small|raw_small||what waiting in epoll_wait() costs the raw ping-pong
ratio msg_large|floor_large|<= 1.3|1 MiB MsgSend() + MsgRead() / the one-copy floor
ratio msg_large_sweep_worst|floor_large|<= 1.3|the same, slowest placement of the buffers / the floor
ratio msg_reply_1m|floor_reply_1m|<= 1.3|1 MiB MsgReply() / its one-copy floor
ratio msg_large|raw_large|<= 1|1 MiB MsgSend() + MsgRead() / raw 1 MiB stream
ratio msg_large_pread|floor_large_pread||pread() path: 1 MiB MsgSend() + MsgRead() / the floor
ratio msg_reply_1m_pread|floor_reply_1m_pread||pread() path: 1 MiB MsgReply() / its floor
EOF
fi

if [ -x "$bin/bench_open" ]; then
    section "opening a resource (pm_open)" \
        "$open_n pm_open() + pm_close() cycles after $open_warmup warm-up ones, each followed by one round trip on an open kept for the purpose" \
        "manager: a forked child, single-threaded dispatch loop, iofunc defaults; path space: a fresh directory with the one entry; same/cross as above"
    table "$tmp/results" <<'EOF'
row pm_open|pm_open() of an attached path (iofunc defaults, single-threaded manager)
row pm_close|pm_close() of it
row open_close|pm_open() + pm_close()
row open_reuse|the _IO_CONNECT + _IO_CLOSE of an open on a connection kept from an earlier one (what a per-process connection pool would leave; not what pm_open() does)
row open_rtt|one MsgSend() round trip to the same manager, 16 bytes (answered ENOSYS by its dispatch layer)
ratio open_close|open_rtt|<= 3|pm_open() + pm_close() / a round trip to the manager
ratio pm_open|open_rtt||pm_open() / a round trip to the manager
ratio open_reuse|open_rtt||_IO_CONNECT + _IO_CLOSE on a kept connection / a round trip
EOF
fi

if [ -x "$bin/bench_inband" ]; then
    section "mmap_peer() in-band (reply-blocked clients)" \
        "each kind: $ib_n calls after $ib_warmup warm-up ones, the kinds alternating in blocks of 100" \
        "server (the mmap_peer() caller): this process, one thread; client: a forked child, reply-blocked in MsgSend() during every mmap_peer()/munmap_peer()" \
        "same: both on CPU 0; cross: server on CPU 0, client on CPU 1"
    table "$tmp/results" <<'EOF'
row ib_msg_small|(a) MsgSend() round trip, 16 bytes, immediate reply (client)
row ib_mmap_inband|(b) mmap_peer() of 1 anonymous page, in-band (server)
row ib_munmap_inband|munmap_peer() of that page, in-band (server)
row ib_mmap_ptrace|(c) the same mmap_peer() forced through ptrace (server)
row ib_munmap_ptrace|munmap_peer() of that page through ptrace (server)
row ib_cycle_inband|(d) ALLOC 64 KiB memfd + touch + FREE, in-band (client)
row ib_cycle_ptrace|(d) the same cycle, server forced to ptrace (client)
ratio ib_mmap_inband|ib_msg_small|<= 2|(b) in-band mmap_peer() / (a) MsgSend() round trip
ratio ib_mmap_ptrace|ib_mmap_inband|>= 3|(c) ptrace mmap_peer() / (b) in-band mmap_peer()
ratio ib_munmap_ptrace|ib_munmap_inband||ptrace munmap_peer() / in-band munmap_peer()
ratio ib_cycle_ptrace|ib_cycle_inband||(d) ALLOC/FREE cycle: ptrace / in-band
ratio ib_cycle_inband|ib_msg_small||(d) in-band ALLOC/FREE cycle / (a) one round trip
EOF
fi

if [ -x "$bin/bench_agent" ]; then
    section "mmap_peer() by the target's agent" \
        "each kind: $ib_n calls after $ib_warmup warm-up ones, alternating in blocks of 100" \
        "caller: this process, peermap_set_path(INBAND); target: a forked child blocked in read() running peermap_agent_start(); same/cross as above"
    table "$tmp/results" <<'EOF'
row ag_connect_floor|(a) connect + one datagram with a descriptor + answer + close, to a plain thread
row ag_mmap_agent|(b) mmap_peer() of 1 memfd page by the agent of the target (identity proven first)
row ag_munmap_agent|munmap_peer() of that page by the agent
ratio ag_mmap_agent|ag_connect_floor||(b) agent mmap_peer() / (a) its transport
ratio ag_mmap_agent|ib_mmap_inband||(b) agent mmap_peer() / in-band mmap_peer()
EOF
fi

if [ -x "$bin/bench_sigsafe" ]; then
    section "mmap_peer() from a signal handler" \
        "each kind: $ss_n pairs after $ss_warmup warm-up ones, the kinds alternating in blocks of 100; a handler's pair is timed around the raise() that runs it, so (a) is in it" \
        "caller: this process (all its threads, the tracer included) on CPU 0; targets: a child sleeping in nanosleep(), a child reply-blocked on our channel, a child running an agent; same/cross as above"
    table "$tmp/results" <<'EOF'
row ss_signal|(a) raise(SIGUSR1) to a handler that does nothing
row ss_ptrace|(b) mmap_peer() + munmap_peer() of 1 page, ptrace, ordinary call
row ss_ptrace_handler|(c) the same pair made by the SIGUSR1 handler (around raise())
row ss_inband|(d) the pair in-band (the target reply-blocked on us), ordinary
row ss_inband_handler|(e) the same from the handler
row ss_agent|(f) the pair through the target's agent, ordinary
row ss_agent_handler|(g) the same from the handler
ratio ss_ptrace_handler|ss_ptrace|<= 1.1|ptrace: (c) handler / (b) ordinary
ratio ss_inband_handler|ss_inband|<= 1.2|in-band: (e) handler / (d) ordinary
ratio ss_agent_handler|ss_agent|<= 1.1|agent: (g) handler / (f) ordinary
EOF
fi

if [ -x "$bin/bench_resmgr" ]; then
    section "resource managers" \
        "1 MiB: $rm_n pm_read()s, pm_write()s, raw reads and raw writes after $rm_warmup warm-up ones each, alternating blocks of 50" \
        "manager: a forked child, one dispatch thread; same/cross as above (client = caller)" \
        "64 clients: forked processes, each $rm_ops ops (64-byte pm_write()/pm_read() alternately), released together; nothing pinned; 4 rounds per manager, pool and single thread alternating, each round a fresh manager and clients ($rm_ops_warmup warm-up ops per client before the release)"
    table "$tmp/rm" rates keep-rows <<'EOF'
row rm_read_1m|pm_read() of 1 MiB from a manager (_RESMGR_PTR reply)
row raw_read_1m|raw AF_UNIX SOCK_STREAM: request byte, 1 MiB back
row rm_write_1m|pm_write() of 1 MiB to that manager (resmgr_msgread() of all of it)
row raw_write_1m|raw AF_UNIX SOCK_STREAM: request byte and 1 MiB, one byte back
EOF
    echo
    pool_table "$tmp/rm" pool single "64 clients, manager with a 4-thread pool: one 64-byte op" \
        "64 clients, single-threaded manager: one 64-byte op"
    table "$tmp/rm" keep-ratios title=ratio <<'EOF'
ratio raw_read_1m|rm_read_1m|>= 0.8|pm_read() 1 MiB throughput / raw stream throughput (medians)
ratio raw_write_1m|rm_write_1m|>= 0.8|pm_write() 1 MiB throughput / raw stream throughput (medians)
EOF
    pool_ratios "$tmp/rm" pool single "64 clients, unpinned" cpu
    # Mode pool-wait: its own small table, after the ones above.
    if grep -q '^all \(pool\|single\)_wait_op ' "$tmp/rm"; then
        echo
        echo "64 clients, handler waits 200 µs (device latency): each client $rm_wait_ops ops after $rm_wait_warmup warm-up ones; every read handler sleeps 200 µs (without the attribute lock) before it replies, writes do not; otherwise as above"
        echo
        pool_table "$tmp/rm" pool_wait single_wait "64 clients, 4-thread pool, reads wait 200 µs: one 64-byte op" \
            "64 clients, single thread, reads wait 200 µs: one 64-byte op"
        pool_ratios "$tmp/rm" pool_wait single_wait "64 clients, handler waits 200 µs"
    fi
fi

# mmap of a resource (pm_mmap()): bench_memmgr once per configuration (its
# manager = the target).  BENCH_MM_N / BENCH_MM_WARMUP: the calls of each
# small measurement (default 2000 / 200; first touches at most 1000); the
# large ones have fixed counts (bench_memmgr.c).
if [ -x "$bin/bench_memmgr" ]; then
    mm_n=${BENCH_MM_N:-2000}
    mm_warmup=${BENCH_MM_WARMUP:-200}
    each "$tmp/mm" bench_memmgr -- -n "$mm_n" -w "$mm_warmup"
    section "mmap of a resource (pm_mmap)" \
        "manager: a forked child, one dispatch thread (plus one answering bare MsgSend()s for the floor); client = caller, its memory manager's thread inherits the caller's CPU; same/cross as above" \
        "small measurements: $mm_n after $mm_warmup warm-up ones, alternating in blocks of 100; first touches: at most 1000 at offsets never read before, far apart, in random order; 64 MiB passes: 20 after 3; 256 MiB scans: 5 after 1, each a region never read before; 1 GiB map + touch: 200 after 10"
    table "$tmp/mm" rates keep-ratios <<'EOF'
row mm_floor|(a) floor: MsgSend() 16 B round trip + local mmap + munmap of a 64 KiB memfd
row mm_shm_pair|(a) pm_mmap() + pm_munmap() of a 64 KiB shared memory object, fd open
row mm_shm_open_close|(a) pm_open() + pm_mmap() + pm_munmap() + pm_close() of it
row mm_bw_local|(b) one pass summing 64 MiB through a local memfd mapping
row mm_bw_shm|(b) the same through the pm_mmap() of a 64 MiB shared memory object
row mm_touch|(c) paged file: pm_mmap() 4 KiB + first touch + pm_munmap()
row mm_first_touch|(c) paged file: first touch of a page of a mapping made before
row mm_lseek_read|(c) pm_lseek() + pm_read() of 4 KiB at such an offset
row mm_pread|(c) one pread-style _IO_READ (_IO_XTYPE_OFFSET) of 4 KiB
row mm_uffd_touch|(c) the fault alone: a local userfaultfd answered with UFFDIO_COPY of a warm page, same offsets
row mm_seq_map|(c) 256 MiB never read: pm_mmap(), sum every word, pm_munmap()
row mm_seq_read|(c) the same 256 MiB by pm_read() of 1 MiB, summed
row mm_seq_local|(c) floor: the same bytes into 256 MiB of new local page cache (memfd, pwrite() of 2 MiB windows), summed
row mm_map1g_touch|(c) pm_mmap() of a 1 GiB file + touch of one new page
ratio mm_shm_pair|mm_floor|<= 3|(a) pm_mmap() + pm_munmap() / floor
ratio mm_shm_open_close|mm_floor||(a) open-to-close / floor
ratio mm_bw_local|mm_bw_shm|>= 0.95|(b) bandwidth through pm_mmap() / local memfd mapping
ratio mm_first_touch|mm_pread|<= 2|(c) first touch / one pread-style _IO_READ 4 KiB (pm_read)
ratio mm_first_touch|mm_lseek_read||(c) first touch / pm_lseek() + pm_read() 4 KiB
ratio mm_uffd_touch|mm_pread||(c) a bare userfaultfd fault / one _IO_READ 4 KiB (first touch's floor: this + 1)
ratio mm_touch|mm_pread||(c) pm_mmap + first touch + pm_munmap / one _IO_READ 4 KiB
ratio mm_seq_read|mm_seq_map|>= 0.5|(c) 256 MiB bandwidth: mapping / pm_read() 1 MiB
ratio mm_seq_local|mm_seq_map||(c) 256 MiB bandwidth: mapping / its local floor (new page cache, filled and read)
ms mm_map1g_touch|< 5|(c) pm_mmap() of 1 GiB + one touch, median ms
EOF
else
    echo
    echo "- bench_memmgr: not available (mmap of a resource not measured)"
fi

# Shared-memory handles: bench_shm once per configuration (the server = the
# target).  BENCH_SHM_N / BENCH_SHM_WARMUP: requests of each kind (default
# 2000 / 200).
if [ -x "$bin/bench_shm" ]; then
    shm_n=${BENCH_SHM_N:-2000}
    shm_warmup=${BENCH_SHM_WARMUP:-200}
    each "$tmp/shm" bench_shm -- -n "$shm_n" -w "$shm_warmup"
    section "shared-memory handles" \
        "client = caller (timed, from before MsgSend() until the server's mark is read through the new mapping; munmap untimed); server: a forked child on the target CPU holding one 64 KiB memfd; same/cross as above" \
        "each kind: $shm_n requests after $shm_warmup warm-up ones, the kinds alternating in blocks of 100"
    table "$tmp/shm" keep-ratios no-goal <<'EOF'
row shm_floor|MsgSend() round trip + local mmap/munmap of a 64 KiB memfd
row shm_handle|MsgSend(GET): shm_create_handle() + reply; mmap_handle()
row shm_peer_inband|MsgSend(MAP): mmap_peer() of the same memfd in-band + reply
row shm_peer_ptrace|the same, the server forced to ptrace
ratio shm_handle|shm_peer_inband||create + redeem + map / mmap_peer() in-band
ratio shm_handle|shm_peer_ptrace||create + redeem + map / mmap_peer() by ptrace
ratio shm_handle|shm_floor||create + redeem + map / floor
ratio shm_peer_inband|shm_floor||mmap_peer() in-band / floor
EOF
else
    echo
    echo "- bench_shm: not available (shared-memory handles not measured)"
fi

# The path space: a root client's pm_open() of a root manager's path, with
# and without a flood of another user's entries (bench_pathspace; the flood
# needs root to have another user: otherwise only the clean lines).
if [ -x "$bin/bench_pathspace" ]; then
    ps_n=${BENCH_PS_N:-2000}
    ps_warmup=${BENCH_PS_WARMUP:-200}
    ps_flood=${BENCH_PS_FLOOD:-60000}
    each "$tmp/ps" bench_pathspace -- -n "$ps_n" -w "$ps_warmup" --flood "$ps_flood"
    section "path space" \
        "$ps_n pm_open() + pm_close() (and as many lookups alone) per path space after $ps_warmup warm-up ones, the two path spaces alternating in blocks of 100" \
        "client: this process, root; manager: a forked root child attached in both; flood: $ps_flood entries for \"/\" of a live uid-65534 process (copies of its own entry, as an attacker ignoring the library's limits makes them) and $((ps_flood / 6)) junk names beside them"
    table "$tmp/ps" keep-ratios <<'EOF'
row ps_open_clean|pm_open() + pm_close() of a root manager's path, nothing else attached
row ps_open_flood|the same, with the other user's flood
row ps_resolve_clean|the path-space lookup alone, nothing else attached
row ps_resolve_flood|the lookup alone, with the flood
ratio ps_open_flood|ps_open_clean|<= 1.1|pm_open() with the flood / without
ratio ps_resolve_flood|ps_resolve_clean||lookup with the flood / without
EOF
else
    echo
    echo "- bench_pathspace: not available (path space not measured)"
fi

# The FUSE export (peermap export) against pm_read() and tmpfs: bench_export
# once per configuration (the manager and the export = the target CPU).
# BENCH_EX_N / BENCH_EX_WARMUP: the 4 KiB reads (default 2000 / 200; the
# 1 MiB ones a tenth of each; first touches at most 1000).  Needs a user
# allowed to mount FUSE (root here).
if [ -x "$bin/bench_export" ]; then
    ex_n=${BENCH_EX_N:-2000}
    ex_warmup=${BENCH_EX_WARMUP:-200}
    each "$tmp/ex" bench_export -- -n "$ex_n" -w "$ex_warmup"
    if [ ! -s "$tmp/ex" ]; then
        # what the last configuration's run said (nothing after it)
        echo
        echo "### the FUSE export (peermap export)"
        echo
        echo "- the FUSE export: $(grep '^# export: not measured' "$tmp/out" | head -n 1 | sed "s/^# export: //")"
    else
    section "the FUSE export (peermap export)" \
        "manager: a forked child, one dispatch thread; the export (peermap export): its own process; both on the target CPU, the caller on CPU 0; same/cross as above" \
        "4 KiB: $ex_n reads of each kind after $ex_warmup warm-up ones, 1 MiB: a tenth of each, kinds alternating in blocks of 50; export reads are of a device (direct I/O: one FUSE request and one _IO_READ per read); first touches: 1000 pages 1 MiB apart, never read before, random order; the floor: a minimal libfuse file system in a child on the target CPU, one direct-I/O file, every read answered with fuse_reply_buf() from memory, no manager; the floor's and the exchange's reads alternate with the others"
    table "$tmp/ex" keep-ratios <<'EOF'
row ex_pm_read_4k|pm_read() of 4 KiB from the manager
row ex_export_read_4k|read() of 4 KiB through the export
row ex_tmpfs_read_4k|pread() of 4 KiB from a tmpfs file
row ex_pm_read_1m|pm_read() of 1 MiB
row ex_export_read_1m|read() of 1 MiB through the export
row ex_tmpfs_read_1m|pread() of 1 MiB from tmpfs
row ex_export_touch|first touch of a page of an exported mapping (MADV_RANDOM: one page per fault)
row ex_export_touch_ra|the same with the kernel reading around the fault (the default)
row ex_export_seq_4k|read() of 4 KiB, sequential, regular file (page cache, read-ahead)
row ex_pm_read_view_4k|the manager exchange alone, as the export makes it (pm_read_view()), 4 KiB
row ex_pm_read_view_1m|the same, 1 MiB (the answer left in the mapping of the manager's file)
row ex_fuse_floor_4k|the floor: read() of 4 KiB through a minimal FUSE file system answering from memory (libfuse, one thread)
row ex_fuse_floor_mt_4k|the same, served by libfuse's multi-threaded loop configured as the export's
row ex_fuse_floor_1m|the floor: read() of 1 MiB (malloc()'d buffer), one thread
row ex_fuse_floor_mt_1m|the same, multi-threaded loop
row ex_fuse_floor_thp_1m|the same, one thread, the answer's bytes in transparent huge pages
ratio ex_pm_read_1m|ex_export_read_1m|>= 0.5|1 MiB read throughput: export / pm_read()
ratio ex_export_read_4k|ex_pm_read_4k|<= 3|4 KiB read latency: export / pm_read()
ratio ex_export_touch|ex_pm_read_4k|<= 3|first touch of an exported page / 4 KiB pm_read()
ratio ex_export_touch_ra|ex_pm_read_4k||first touch with read-around / 4 KiB pm_read()
ratio ex_export_read_4k|ex_tmpfs_read_4k||4 KiB read latency: export / tmpfs
ratio ex_tmpfs_read_1m|ex_export_read_1m||1 MiB read throughput: export / tmpfs
ratio ex_pm_read_1m|ex_fuse_floor_mt_1m||1 MiB: pm_read() / FUSE floor (the most FUSE allows, were the manager free)
ratio ex_pm_read_1m|ex_fuse_floor_mt_1m+ex_pm_read_view_1m||1 MiB: pm_read() / (FUSE floor + manager exchange) (the most an export can reach)
ratio ex_export_read_1m|ex_fuse_floor_mt_1m+ex_pm_read_view_1m||1 MiB: export / (FUSE floor + manager exchange) (1 = no cost of its own)
ratio ex_export_read_4k|ex_fuse_floor_mt_4k+ex_pm_read_view_4k||4 KiB: export / (FUSE floor + manager exchange)
ratio ex_fuse_floor_mt_4k|ex_fuse_floor_4k||4 KiB floor: libfuse's multi-threaded loop / one thread
ratio ex_fuse_floor_thp_1m|ex_fuse_floor_1m||1 MiB floor: the source in huge pages / in 4 KiB pages
EOF
    fi
else
    echo
    echo "- bench_export: not available (the FUSE export not measured)"
fi

# Timer pulses: a periodic timer_create(SIGEV_PULSE) received with
# MsgReceive(), against a timerfd read directly, 1 ms and 10 ms, pinned to
# CPU 0.  BENCH_TIMER_N: 1 ms periods measured (default 2000).
echo
echo "### timer pulses"
echo
if [ -x "$bin/bench_timer" ]; then
    echo "Periodic timers armed at an absolute time, pinned to CPU 0; lateness = delivery - due time."
    echo
    if ! taskset -c 0 "$bin/bench_timer" --caller-cpu 0 -n "${BENCH_TIMER_N:-2000}" --markdown; then
        echo "run.sh: bench_timer failed" >&2
        exit 1
    fi
else
    echo "- bench_timer: not available"
fi

if [ -n "$update" ]; then
    exec 1>&3 3>&-
    awk -v begin="$begin" -v end="$end" -v report="$tmp/report" '
    $0 == begin { print; while ((getline line < report) > 0) print line; skip = 1; next }
    $0 == end { skip = 0 }
    !skip' "$update" >"$tmp/updated"
    cat "$tmp/updated" >"$update"
    echo "run.sh: the current run is now in $update"
fi
