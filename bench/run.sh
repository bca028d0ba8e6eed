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

# run CONFIG TARGET_CPU PROGRAM [ARGS...]: append "CONFIG line" for each
# result line; stop everything if a benchmark fails (its own message says why).
run() {
    cfg=$1 tcpu=$2 prog=$3
    shift 3
    if ! "$bin/$prog" --caller-cpu 0 --target-cpu "$tcpu" "$@" >"$tmp/out"; then
        echo "run.sh: $prog failed (configuration $cfg)" >&2
        exit 1
    fi
    grep -v '^#' "$tmp/out" | sed "s/^/$cfg /" >>"$tmp/results"
}

# Other work on the machine moves the figures: say how busy it was.
load=$(cut -d' ' -f1-3 /proc/loadavg)
: >"$tmp/results"
notes=""
for c in $configs; do
    cfg=${c%%:*}
    tcpu=${c#*:}
    run "$cfg" "$tcpu" bench_peermap -n "$n" -w "$warmup"
    if [ -x "$bin/bench_compel" ]; then
        run "$cfg" "$tcpu" bench_compel -n "$n" -w "$warmup"
    fi
    if command -v gdb >/dev/null 2>&1; then
        run "$cfg" "$tcpu" bench_gdb -n "$gdb_n" -w 1
    fi
    if [ -x "$bin/bench_msg" ]; then
        run "$cfg" "$tcpu" bench_msg -n "$msg_n" -w "$msg_warmup"
        # The same 1 MiB exchanges when neither end maps the other's
        # message file (the pread() path): names end in _pread.
        if ! env PEERMAP_MAP_BODIES=0 "$bin/bench_msg" --caller-cpu 0 --target-cpu "$tcpu" \
                -n "$msg_n" -w "$msg_warmup" >"$tmp/out"; then
            echo "run.sh: bench_msg (PEERMAP_MAP_BODIES=0) failed (configuration $cfg)" >&2
            exit 1
        fi
        grep -v '^#' "$tmp/out" | sed "s/^/$cfg /" >>"$tmp/results"
    fi
    if [ -x "$bin/bench_open" ]; then
        run "$cfg" "$tcpu" bench_open -n "$open_n" -w "$open_warmup"
    fi
    if [ -x "$bin/bench_inband" ]; then
        run "$cfg" "$tcpu" bench_inband -n "$ib_n" -w "$ib_warmup"
    fi
    if [ -x "$bin/bench_agent" ]; then
        run "$cfg" "$tcpu" bench_agent -n "$ib_n" -w "$ib_warmup"
    fi
    if [ -x "$bin/bench_sigsafe" ]; then
        run "$cfg" "$tcpu" bench_sigsafe -n "$ss_n" -w "$ss_warmup"
    fi
done
[ -x "$bin/bench_compel" ] || notes="$notes compel"
[ -x "$bin/bench_msg" ] || notes="$notes bench_msg"
[ -x "$bin/bench_inband" ] || notes="$notes bench_inband"

# Resource managers: mode "read" in each configuration, modes "pool" and
# "pool-wait" once each (unpinned).  Lines: "CONFIG name median p99 n" and "CONFIG rate name value unit".
: >"$tmp/rm"
if [ -x "$bin/bench_resmgr" ]; then
    for c in $configs; do
        cfg=${c%%:*}
        tcpu=${c#*:}
        if ! "$bin/bench_resmgr" read --caller-cpu 0 --target-cpu "$tcpu" \
                -n "$rm_n" -w "$rm_warmup" >"$tmp/out"; then
            echo "run.sh: bench_resmgr read failed (configuration $cfg)" >&2
            exit 1
        fi
        grep -v '^#' "$tmp/out" | sed "s/^/$cfg /" >>"$tmp/rm"
    done
    if ! "$bin/bench_resmgr" pool -n "$rm_ops" -w "$rm_ops_warmup" >"$tmp/out"; then
        echo "run.sh: bench_resmgr pool failed" >&2
        exit 1
    fi
    grep -v '^#' "$tmp/out" | sed "s/^/all /" >>"$tmp/rm"
    if ! "$bin/bench_resmgr" pool-wait -n "$rm_wait_ops" -w "$rm_wait_warmup" >"$tmp/out"; then
        echo "run.sh: bench_resmgr pool-wait failed" >&2
        exit 1
    fi
    grep -v '^#' "$tmp/out" | sed "s/^/all /" >>"$tmp/rm"
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

# tables SECTION: the two tables (medians and p99s, ratios against the
# goals) of one section, from the rows of $tmp/results it knows.
tables() {
awk -v configs="$configs" -v section="$1" '
function has(c, k) { return ((c SUBSEP k) in med) }
function cell(c, k) { return has(c, k) ? med[c, k] " | " p99[c, k] : "- | -" }
function ratio(c, a, b) {
    if (!has(c, a) || !has(c, b) || med[c, b] + 0 == 0) return ""
    return sprintf("%.2f", med[c, a] / med[c, b])
}
# goal: "<= X", ">= X" or "" (for information)
function verdict(r, goal,   op, x) {
    if (r == "") return "-"
    if (goal == "") return r
    op = substr(goal, 1, 2); x = substr(goal, 4) + 0
    if (op == "<=") return r " (" (r + 0 <= x ? "met" : "not met") ")"
    return r " (" (r + 0 >= x ? "met" : "not met") ")"
}
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

    nr = 0; nq = 0
    if (section == "msg") {
    row[++nr] = "msg_small|MsgSend() -> MsgReceive() -> MsgReply(), 16 bytes each way"
    row[++nr] = "raw_small|raw AF_UNIX SOCK_SEQPACKET ping-pong, 16-byte datagrams"
    row[++nr] = "raw_epoll_small|raw_small with the server in epoll_wait() before each recv() (the floor of a server that waits on many connections)"
    row[++nr] = "msg_large|MsgSend() of 1 MiB, server MsgRead() of all of it, 16-byte reply (buffers from malloc())"
    row[++nr] = "raw_large|raw AF_UNIX SOCK_STREAM: 1 MiB written and read, 16 bytes back"
    row[++nr] = "floor_large|the one-copy floor: process_vm_readv() of 1 MiB of the client (same alignment) between two 16-byte datagrams"
    row[++nr] = "msg_large_sweep_worst|msg_large, the slowest of the 64 placements of the two buffers in their pages (0..56 bytes in)"
    row[++nr] = "msg_large_sweep_best|msg_large, the fastest of them"
    row[++nr] = "msg_reply_1m|MsgSend() of 16 bytes, MsgReply() of 1 MiB (buffers from malloc())"
    row[++nr] = "floor_reply_1m|its floor: process_vm_writev() of 1 MiB into the client between two 16-byte datagrams"
    row[++nr] = "msg_large_pread|msg_large with PEERMAP_MAP_BODIES=0 (bodies read with pread(), not mapped)"
    row[++nr] = "msg_reply_1m_pread|msg_reply_1m with PEERMAP_MAP_BODIES=0"
    row[++nr] = "floor_large_pread|floor_large in that run"
    row[++nr] = "floor_reply_1m_pread|floor_reply_1m in that run"
    q[++nq] = "msg_small|raw_small|<= 1.1|MsgSend() round trip / raw ping-pong, 16 bytes"
    q[++nq] = "msg_small|raw_epoll_small||MsgSend() round trip / raw ping-pong with the server in epoll_wait()"
    q[++nq] = "raw_epoll_small|raw_small||what waiting in epoll_wait() costs the raw ping-pong"
    q[++nq] = "msg_large|floor_large|<= 1.3|1 MiB MsgSend() + MsgRead() / the one-copy floor"
    q[++nq] = "msg_large_sweep_worst|floor_large|<= 1.3|the same, slowest placement of the buffers / the floor"
    q[++nq] = "msg_reply_1m|floor_reply_1m|<= 1.3|1 MiB MsgReply() / its one-copy floor"
    q[++nq] = "msg_large|raw_large|<= 1|1 MiB MsgSend() + MsgRead() / raw 1 MiB stream"
    q[++nq] = "msg_large_pread|floor_large_pread||pread() path: 1 MiB MsgSend() + MsgRead() / the floor"
    q[++nq] = "msg_reply_1m_pread|floor_reply_1m_pread||pread() path: 1 MiB MsgReply() / its floor"
    } else if (section == "open") {
    row[++nr] = "pm_open|pm_open() of an attached path (iofunc defaults, single-threaded manager)"
    row[++nr] = "pm_close|pm_close() of it"
    row[++nr] = "open_close|pm_open() + pm_close()"
    row[++nr] = "open_reuse|the _IO_CONNECT + _IO_CLOSE of an open on a connection kept from an earlier one (what a per-process connection pool would leave; not what pm_open() does)"
    row[++nr] = "open_rtt|one MsgSend() round trip to the same manager, 16 bytes (answered ENOSYS by its dispatch layer)"
    q[++nq] = "open_close|open_rtt|<= 3|pm_open() + pm_close() / a round trip to the manager"
    q[++nq] = "pm_open|open_rtt||pm_open() / a round trip to the manager"
    q[++nq] = "open_reuse|open_rtt||_IO_CONNECT + _IO_CLOSE on a kept connection / a round trip"
    } else if (section == "inband") {
    row[++nr] = "ib_msg_small|(a) MsgSend() round trip, 16 bytes, immediate reply (client)"
    row[++nr] = "ib_mmap_inband|(b) mmap_peer() of 1 anonymous page, in-band (server)"
    row[++nr] = "ib_munmap_inband|munmap_peer() of that page, in-band (server)"
    row[++nr] = "ib_mmap_ptrace|(c) the same mmap_peer() forced through ptrace (server)"
    row[++nr] = "ib_munmap_ptrace|munmap_peer() of that page through ptrace (server)"
    row[++nr] = "ib_cycle_inband|(d) ALLOC 64 KiB memfd + touch + FREE, in-band (client)"
    row[++nr] = "ib_cycle_ptrace|(d) the same cycle, server forced to ptrace (client)"
    q[++nq] = "ib_mmap_inband|ib_msg_small|<= 2|(b) in-band mmap_peer() / (a) MsgSend() round trip"
    q[++nq] = "ib_mmap_ptrace|ib_mmap_inband|>= 3|(c) ptrace mmap_peer() / (b) in-band mmap_peer()"
    q[++nq] = "ib_munmap_ptrace|ib_munmap_inband||ptrace munmap_peer() / in-band munmap_peer()"
    q[++nq] = "ib_cycle_ptrace|ib_cycle_inband||(d) ALLOC/FREE cycle: ptrace / in-band"
    q[++nq] = "ib_cycle_inband|ib_msg_small||(d) in-band ALLOC/FREE cycle / (a) one round trip"
    } else if (section == "sigsafe") {
    row[++nr] = "ss_signal|(a) raise(SIGUSR1) to a handler that does nothing"
    row[++nr] = "ss_ptrace|(b) mmap_peer() + munmap_peer() of 1 page, ptrace, ordinary call"
    row[++nr] = "ss_ptrace_handler|(c) the same pair made by the SIGUSR1 handler (around raise())"
    row[++nr] = "ss_inband|(d) the pair in-band (the target reply-blocked on us), ordinary"
    row[++nr] = "ss_inband_handler|(e) the same from the handler"
    row[++nr] = "ss_agent|(f) the pair through the target\x27s agent, ordinary"
    row[++nr] = "ss_agent_handler|(g) the same from the handler"
    q[++nq] = "ss_ptrace_handler|ss_ptrace|<= 1.1|ptrace: (c) handler / (b) ordinary"
    q[++nq] = "ss_inband_handler|ss_inband|<= 1.2|in-band: (e) handler / (d) ordinary"
    q[++nq] = "ss_agent_handler|ss_agent|<= 1.1|agent: (g) handler / (f) ordinary"
    } else if (section == "agent") {
    row[++nr] = "ag_connect_floor|(a) connect + one datagram with a descriptor + answer + close, to a plain thread"
    row[++nr] = "ag_mmap_agent|(b) mmap_peer() of 1 memfd page by the agent of the target (identity proven first)"
    row[++nr] = "ag_munmap_agent|munmap_peer() of that page by the agent"
    q[++nq] = "ag_mmap_agent|ag_connect_floor||(b) agent mmap_peer() / (a) its transport"
    q[++nq] = "ag_mmap_agent|ib_mmap_inband||(b) agent mmap_peer() / in-band mmap_peer()"
    } else {
    row[++nr] = "floor_pair|local mmap + munmap (the floor)"
    row[++nr] = "floor_mmap|local mmap alone"
    row[++nr] = "peer_mmap|mmap_peer() anonymous: attach, inject, detach"
    row[++nr] = "peer_munmap|munmap_peer()"
    row[++nr] = "peer_pair|mmap_peer() + munmap_peer()"
    row[++nr] = "peer_fd_mmap|mmap_peer() of a memfd, MAP_SHARED"
    row[++nr] = "sess_attach_detach|peermap_attach() + peermap_detach()"
    row[++nr] = "sess_mmap|peermap_mmap() in a session"
    row[++nr] = "sess_munmap|peermap_munmap() in a session"
    row[++nr] = "sess_pair|peermap_mmap() + peermap_munmap() in a session"
    row[++nr] = "sess_fd_mmap|peermap_mmap() of the memfd in a session"
    row[++nr] = "compel_mmap|compel: stop, prepare, mmap, cure, resume"
    row[++nr] = "compel_noctx_mmap|compel, prepare_noctx (no netns socket, no maps scan)"
    row[++nr] = "compel_attached_mmap|compel_syscall(mmap) while stopped"
    row[++nr] = "compel_attached_pair|compel_syscall(mmap) + compel_syscall(munmap)"
    row[++nr] = "gdb_pair|gdb -p: call mmap + call munmap (whole command)"
    q[++nq] = "peer_mmap|floor_pair|<= 6|mmap_peer() / floor"
    q[++nq] = "peer_pair|floor_pair||(mmap_peer() + munmap_peer()) / floor"
    q[++nq] = "peer_fd_mmap|peer_mmap|<= 1.5|memfd mmap_peer() / anonymous mmap_peer()"
    q[++nq] = "sess_mmap|floor_pair|<= 5|peermap_mmap() in a session / floor"
    q[++nq] = "sess_attach_detach|floor_pair||(peermap_attach() + peermap_detach()) / floor"
    q[++nq] = "compel_mmap|peer_mmap|>= 3|compel full cycle / mmap_peer()"
    q[++nq] = "compel_noctx_mmap|peer_mmap|>= 3|compel full cycle, prepare_noctx / mmap_peer()"
    q[++nq] = "compel_attached_mmap|sess_mmap||compel per call attached / peermap_mmap() in a session"
    q[++nq] = "gdb_pair|peer_pair||gdb (mmap + munmap) / (mmap_peer() + munmap_peer())"
    }

    hdr = "| measurement | what |"; sep = "| --- | --- |"
    for (i = 1; i <= nc; i++) {
        hdr = hdr " " cfg[i] " median µs | " cfg[i] " p99 µs |"
        sep = sep " ---: | ---: |"
    }
    print hdr " n |"; print sep " ---: |"
    for (r = 1; r <= nr; r++) {
        split(row[r], f, "|"); k = f[1]
        any = 0; n = "-"
        for (i = 1; i <= nc; i++) if (has(cfg[i], k)) { any = 1; n = cnt[cfg[i], k] }
        if (!any) continue
        what = f[2]
        if (k == "msg_large_sweep_worst" || k == "msg_large_sweep_best")
            for (i = 1; i <= nc; i++)
                if (has(cfg[i], k)) what = what "; " cfg[i] ": " (k == "msg_large_sweep_worst" ? worst[cfg[i]] : best[cfg[i]])
        line = "| " k " | " what " |"
        for (i = 1; i <= nc; i++) line = line " " cell(cfg[i], k) " |"
        print line " " n " |"
    }

    print ""
    hdr = "| ratio of medians | goal |"; sep = "| --- | --- |"
    for (i = 1; i <= nc; i++) { hdr = hdr " " cfg[i] " |"; sep = sep " ---: |" }
    print hdr; print sep
    for (r = 1; r <= nq; r++) {
        split(q[r], f, "|")
        line = "| " f[4] " | " (f[3] == "" ? "-" : f[3]) " |"
        any = 0
        for (i = 1; i <= nc; i++) {
            x = ratio(cfg[i], f[1], f[2]); if (x != "") any = 1
            line = line " " verdict(x, f[3]) " |"
        }
        if (any) print line
    }
}' "$tmp/results"
}

tables peermap
if [ -x "$bin/bench_msg" ]; then
    echo
    echo "### message passing"
    echo
    echo "- round trips: $msg_n after $msg_warmup warm-up ones; 1 MiB: a tenth of each"
    echo "- server: a forked child, one thread; same/cross as above (client = caller)"
    echo "- raw and message blocks alternate within each measurement; the 1 MiB sweep: 20 exchanges per placement (client buffer C, server buffer S bytes into a page: msg_large_cC_sS)"
    echo "- malloc()'d 1 MiB buffers start 16 bytes into a page at both ends"
    echo
    tables msg
fi

if [ -x "$bin/bench_open" ]; then
    echo
    echo "### opening a resource (pm_open)"
    echo
    echo "- $open_n pm_open() + pm_close() cycles after $open_warmup warm-up ones, each followed by one round trip on an open kept for the purpose"
    echo "- manager: a forked child, single-threaded dispatch loop, iofunc defaults; path space: a fresh directory with the one entry; same/cross as above"
    echo
    tables open
fi

if [ -x "$bin/bench_inband" ]; then
    echo
    echo "### mmap_peer() in-band (reply-blocked clients)"
    echo
    echo "- each kind: $ib_n calls after $ib_warmup warm-up ones, the kinds alternating in blocks of 100"
    echo "- server (the mmap_peer() caller): this process, one thread; client: a forked child, reply-blocked in MsgSend() during every mmap_peer()/munmap_peer()"
    echo "- same: both on CPU 0; cross: server on CPU 0, client on CPU 1"
    echo
    tables inband
fi

if [ -x "$bin/bench_agent" ]; then
    echo
    echo "### mmap_peer() by the target's agent"
    echo
    echo "- each kind: $ib_n calls after $ib_warmup warm-up ones, alternating in blocks of 100"
    echo "- caller: this process, peermap_set_path(INBAND); target: a forked child blocked in read() running peermap_agent_start(); same/cross as above"
    echo
    tables agent
fi

if [ -x "$bin/bench_sigsafe" ]; then
    echo
    echo "### mmap_peer() from a signal handler"
    echo
    echo "- each kind: $ss_n pairs after $ss_warmup warm-up ones, the kinds alternating in blocks of 100; a handler's pair is timed around the raise() that runs it, so (a) is in it"
    echo "- caller: this process (all its threads, the tracer included) on CPU 0; targets: a child sleeping in nanosleep(), a child reply-blocked on our channel, a child running an agent; same/cross as above"
    echo
    tables sigsafe
fi

if [ -x "$bin/bench_resmgr" ]; then
    echo
    echo "### resource managers"
    echo
    echo "- 1 MiB: $rm_n pm_read()s, pm_write()s, raw reads and raw writes after $rm_warmup warm-up ones each, alternating blocks of 50"
    echo "- manager: a forked child, one dispatch thread; same/cross as above (client = caller)"
    echo "- 64 clients: forked processes, each $rm_ops ops (64-byte pm_write()/pm_read() alternately), released together; nothing pinned; 4 rounds per manager, pool and single thread alternating, each round a fresh manager and clients ($rm_ops_warmup warm-up ops per client before the release)"
    echo
    awk -v configs="$configs" '
$2 == "rate" { rate[$1, $3] = $4; unit[$3] = $5; next }
{ med[$1, $2] = $3; p99[$1, $2] = $4; cnt[$1, $2] = $5 }
function verdict(r, goal, x) {
    x = substr(goal, 4) + 0
    if (substr(goal, 1, 2) == "<=") return r " (" (r + 0 <= x ? "met" : "not met") ")"
    return r " (" (r + 0 >= x ? "met" : "not met") ")"
}
END {
    nc = split(configs, cl, " ")
    for (i = 1; i <= nc; i++) { split(cl[i], kv, ":"); cfg[i] = kv[1] }
    row[1] = "rm_read_1m|pm_read() of 1 MiB from a manager (_RESMGR_PTR reply)"
    row[2] = "raw_read_1m|raw AF_UNIX SOCK_STREAM: request byte, 1 MiB back"
    row[3] = "rm_write_1m|pm_write() of 1 MiB to that manager (resmgr_msgread() of all of it)"
    row[4] = "raw_write_1m|raw AF_UNIX SOCK_STREAM: request byte and 1 MiB, one byte back"
    hdr = "| measurement | what |"; sep = "| --- | --- |"
    for (i = 1; i <= nc; i++) {
        hdr = hdr " " cfg[i] " median µs | " cfg[i] " p99 µs | " cfg[i] " MiB/s |"
        sep = sep " ---: | ---: | ---: |"
    }
    print hdr " n |"; print sep " ---: |"
    for (r = 1; r <= 4; r++) {
        split(row[r], f, "|"); k = f[1]; n = "-"
        line = "| " k " | " f[2] " |"
        for (i = 1; i <= nc; i++) {
            c = cfg[i]
            if ((c SUBSEP k) in med) {
                line = line " " med[c, k] " | " p99[c, k] " | " rate[c, k] " |"; n = cnt[c, k]
            } else line = line " - | - | - |"
        }
        print line " " n " |"
    }
    print ""
    print "| measurement | what | median µs | p99 µs | ops/s | manager CPU µs/msg | n |"
    print "| --- | --- | ---: | ---: | ---: | ---: | ---: |"
    if (("all" SUBSEP "pool_op") in med)
        print "| pool_op | 64 clients, manager with a 4-thread pool: one 64-byte op | " med["all", "pool_op"] " | " p99["all", "pool_op"] " | " rate["all", "pool_ops"] " | " rate["all", "pool_mgr_cpu"] " | " cnt["all", "pool_op"] " |"
    if (("all" SUBSEP "single_op") in med)
        print "| single_op | 64 clients, single-threaded manager: one 64-byte op | " med["all", "single_op"] " | " p99["all", "single_op"] " | " rate["all", "single_ops"] " | " rate["all", "single_mgr_cpu"] " | " cnt["all", "single_op"] " |"
    print ""
    hdr = "| ratio | goal |"; sep = "| --- | --- |"
    for (i = 1; i <= nc; i++) { hdr = hdr " " cfg[i] " |"; sep = sep " ---: |" }
    print hdr; print sep
    line = "| pm_read() 1 MiB throughput / raw stream throughput (medians) | >= 0.8 |"
    for (i = 1; i <= nc; i++) {
        c = cfg[i]
        if (((c SUBSEP "rm_read_1m") in med) && med[c, "rm_read_1m"] + 0 > 0)
            line = line " " verdict(sprintf("%.2f", med[c, "raw_read_1m"] / med[c, "rm_read_1m"]), ">= 0.8") " |"
        else line = line " - |"
    }
    print line
    line = "| pm_write() 1 MiB throughput / raw stream throughput (medians) | >= 0.8 |"
    for (i = 1; i <= nc; i++) {
        c = cfg[i]
        if (((c SUBSEP "rm_write_1m") in med) && med[c, "rm_write_1m"] + 0 > 0)
            line = line " " verdict(sprintf("%.2f", med[c, "raw_write_1m"] / med[c, "rm_write_1m"]), ">= 0.8") " |"
        else line = line " - |"
    }
    print line
    if ((("all" SUBSEP "pool_ops") in rate) && rate["all", "single_ops"] + 0 > 0 &&
        p99["all", "single_op"] + 0 > 0) {
        print ""
        print "| 64 clients, unpinned | 4-thread pool / single thread |"
        print "| --- | ---: |"
        printf "| total ops/s | %.2f |\n", rate["all", "pool_ops"] / rate["all", "single_ops"]
        printf "| median per op | %.2f |\n", med["all", "pool_op"] / med["all", "single_op"]
        printf "| p99 per op | %.2f |\n", p99["all", "pool_op"] / p99["all", "single_op"]
        if (rate["all", "single_mgr_cpu"] + 0 > 0)
            printf "| manager CPU per message | %.2f |\n", rate["all", "pool_mgr_cpu"] / rate["all", "single_mgr_cpu"]
    }
}' "$tmp/rm"
    # Mode pool-wait: its own small table, after the ones above.
    awk -v ops="$rm_wait_ops" -v wu="$rm_wait_warmup" '
$2 == "rate" { rate[$1, $3] = $4; next }
{ med[$1, $2] = $3; p99[$1, $2] = $4; cnt[$1, $2] = $5 }
END {
    if (!(("all" SUBSEP "pool_wait_op") in med) && !(("all" SUBSEP "single_wait_op") in med))
        exit
    print ""
    print "64 clients, handler waits 200 µs (device latency): each client " ops " ops after " wu " warm-up ones; every read handler sleeps 200 µs (without the attribute lock) before it replies, writes do not; otherwise as above"
    print ""
    print "| measurement | what | median µs | p99 µs | ops/s | manager CPU µs/msg | n |"
    print "| --- | --- | ---: | ---: | ---: | ---: | ---: |"
    if (("all" SUBSEP "pool_wait_op") in med)
        print "| pool_wait_op | 64 clients, 4-thread pool, reads wait 200 µs: one 64-byte op | " med["all", "pool_wait_op"] " | " p99["all", "pool_wait_op"] " | " rate["all", "pool_wait_ops"] " | " rate["all", "pool_wait_mgr_cpu"] " | " cnt["all", "pool_wait_op"] " |"
    if (("all" SUBSEP "single_wait_op") in med)
        print "| single_wait_op | 64 clients, single thread, reads wait 200 µs: one 64-byte op | " med["all", "single_wait_op"] " | " p99["all", "single_wait_op"] " | " rate["all", "single_wait_ops"] " | " rate["all", "single_wait_mgr_cpu"] " | " cnt["all", "single_wait_op"] " |"
    if ((("all" SUBSEP "pool_wait_ops") in rate) && rate["all", "single_wait_ops"] + 0 > 0 &&
        p99["all", "single_wait_op"] + 0 > 0) {
        print ""
        print "| 64 clients, handler waits 200 µs | 4-thread pool / single thread |"
        print "| --- | ---: |"
        printf "| total ops/s | %.2f |\n", rate["all", "pool_wait_ops"] / rate["all", "single_wait_ops"]
        printf "| median per op | %.2f |\n", med["all", "pool_wait_op"] / med["all", "single_wait_op"]
        printf "| p99 per op | %.2f |\n", p99["all", "pool_wait_op"] / p99["all", "single_wait_op"]
    }
}' "$tmp/rm"
fi

# mmap of a resource (pm_mmap()): bench_memmgr once per configuration (its
# manager = the target).  BENCH_MM_N / BENCH_MM_WARMUP: the calls of each
# small measurement (default 2000 / 200; first touches at most 1000); the
# large ones have fixed counts (bench_memmgr.c).
if [ -x "$bin/bench_memmgr" ]; then
    mm_n=${BENCH_MM_N:-2000}
    mm_warmup=${BENCH_MM_WARMUP:-200}
    : >"$tmp/mm"
    for c in $configs; do
        cfg=${c%%:*}
        tcpu=${c#*:}
        if ! "$bin/bench_memmgr" --caller-cpu 0 --target-cpu "$tcpu" \
                -n "$mm_n" -w "$mm_warmup" >"$tmp/out"; then
            echo "run.sh: bench_memmgr failed (configuration $cfg)" >&2
            exit 1
        fi
        grep -v '^#' "$tmp/out" | sed "s/^/$cfg /" >>"$tmp/mm"
    done
    echo
    echo "### mmap of a resource (pm_mmap)"
    echo
    echo "- manager: a forked child, one dispatch thread (plus one answering bare MsgSend()s for the floor); client = caller, its memory manager's thread inherits the caller's CPU; same/cross as above"
    echo "- small measurements: $mm_n after $mm_warmup warm-up ones, alternating in blocks of 100; first touches: at most 1000 at offsets never read before, far apart, in random order; 64 MiB passes: 20 after 3; 256 MiB scans: 5 after 1, each a region never read before; 1 GiB map + touch: 200 after 10"
    echo
    awk -v configs="$configs" '
$2 == "rate" { rate[$1, $3] = $4; next }
{ med[$1, $2] = $3; p99[$1, $2] = $4; cnt[$1, $2] = $5 }
function has(c, k) { return ((c SUBSEP k) in med) }
function verdict(r, goal,   op, x) {
    if (goal == "") return r
    op = substr(goal, 1, 2); x = substr(goal, 4) + 0
    if (op == "<=") return r " (" (r + 0 <= x ? "met" : "not met") ")"
    if (op == ">=") return r " (" (r + 0 >= x ? "met" : "not met") ")"
    return r " (" (r + 0 < substr(goal, 3) + 0 ? "met" : "not met") ")"
}
END {
    nc = split(configs, cl, " ")
    for (i = 1; i <= nc; i++) { split(cl[i], kv, ":"); cfg[i] = kv[1] }
    nr = 0
    row[++nr] = "mm_floor|(a) floor: MsgSend() 16 B round trip + local mmap + munmap of a 64 KiB memfd"
    row[++nr] = "mm_shm_pair|(a) pm_mmap() + pm_munmap() of a 64 KiB shared memory object, fd open"
    row[++nr] = "mm_shm_open_close|(a) pm_open() + pm_mmap() + pm_munmap() + pm_close() of it"
    row[++nr] = "mm_bw_local|(b) one pass summing 64 MiB through a local memfd mapping"
    row[++nr] = "mm_bw_shm|(b) the same through the pm_mmap() of a 64 MiB shared memory object"
    row[++nr] = "mm_touch|(c) paged file: pm_mmap() 4 KiB + first touch + pm_munmap()"
    row[++nr] = "mm_first_touch|(c) paged file: first touch of a page of a mapping made before"
    row[++nr] = "mm_lseek_read|(c) pm_lseek() + pm_read() of 4 KiB at such an offset"
    row[++nr] = "mm_pread|(c) one pread-style _IO_READ (_IO_XTYPE_OFFSET) of 4 KiB"
    row[++nr] = "mm_uffd_touch|(c) the fault alone: a local userfaultfd answered with UFFDIO_COPY of a warm page, same offsets"
    row[++nr] = "mm_seq_map|(c) 256 MiB never read: pm_mmap(), sum every word, pm_munmap()"
    row[++nr] = "mm_seq_read|(c) the same 256 MiB by pm_read() of 1 MiB, summed"
    row[++nr] = "mm_seq_local|(c) floor: the same bytes into 256 MiB of new local page cache (memfd, pwrite() of 2 MiB windows), summed"
    row[++nr] = "mm_map1g_touch|(c) pm_mmap() of a 1 GiB file + touch of one new page"
    hdr = "| measurement | what |"; sep = "| --- | --- |"
    for (i = 1; i <= nc; i++) {
        hdr = hdr " " cfg[i] " median µs | " cfg[i] " p99 µs | " cfg[i] " MiB/s |"
        sep = sep " ---: | ---: | ---: |"
    }
    print hdr " n |"; print sep " ---: |"
    for (r = 1; r <= nr; r++) {
        split(row[r], f, "|"); k = f[1]; n = "-"; any = 0
        line = "| " k " | " f[2] " |"
        for (i = 1; i <= nc; i++) {
            c = cfg[i]
            if (has(c, k)) {
                any = 1; n = cnt[c, k]
                line = line " " med[c, k] " | " p99[c, k] " | " (((c SUBSEP k) in rate) ? rate[c, k] : "-") " |"
            } else line = line " - | - | - |"
        }
        if (any) print line " " n " |"
    }
    # a|b|goal|what: the ratio med[a] / med[b]
    nq = 0
    q[++nq] = "mm_shm_pair|mm_floor|<= 3|(a) pm_mmap() + pm_munmap() / floor"
    q[++nq] = "mm_shm_open_close|mm_floor||(a) open-to-close / floor"
    q[++nq] = "mm_bw_local|mm_bw_shm|>= 0.95|(b) bandwidth through pm_mmap() / local memfd mapping"
    q[++nq] = "mm_first_touch|mm_pread|<= 2|(c) first touch / one pread-style _IO_READ 4 KiB (pm_read)"
    q[++nq] = "mm_first_touch|mm_lseek_read||(c) first touch / pm_lseek() + pm_read() 4 KiB"
    q[++nq] = "mm_uffd_touch|mm_pread||(c) a bare userfaultfd fault / one _IO_READ 4 KiB (first touch's floor: this + 1)"
    q[++nq] = "mm_touch|mm_pread||(c) pm_mmap + first touch + pm_munmap / one _IO_READ 4 KiB"
    q[++nq] = "mm_seq_read|mm_seq_map|>= 0.5|(c) 256 MiB bandwidth: mapping / pm_read() 1 MiB"
    q[++nq] = "mm_seq_local|mm_seq_map||(c) 256 MiB bandwidth: mapping / its local floor (new page cache, filled and read)"
    print ""
    hdr = "| ratio of medians | goal |"; sep = "| --- | --- |"
    for (i = 1; i <= nc; i++) { hdr = hdr " " cfg[i] " |"; sep = sep " ---: |" }
    print hdr; print sep
    for (r = 1; r <= nq; r++) {
        split(q[r], f, "|")
        line = "| " f[4] " | " (f[3] == "" ? "-" : f[3]) " |"
        for (i = 1; i <= nc; i++) {
            c = cfg[i]
            if (has(c, f[1]) && has(c, f[2]) && med[c, f[2]] + 0 > 0)
                line = line " " verdict(sprintf("%.2f", med[c, f[1]] / med[c, f[2]]), f[3]) " |"
            else line = line " - |"
        }
        print line
    }
    line = "| (c) pm_mmap() of 1 GiB + one touch, median ms | < 5 |"
    for (i = 1; i <= nc; i++) {
        c = cfg[i]
        if (has(c, "mm_map1g_touch"))
            line = line " " verdict(sprintf("%.3f", med[c, "mm_map1g_touch"] / 1000), "< 5") " |"
        else line = line " - |"
    }
    print line
}' "$tmp/mm"
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
    : >"$tmp/shm"
    for c in $configs; do
        cfg=${c%%:*}
        tcpu=${c#*:}
        if ! "$bin/bench_shm" --caller-cpu 0 --target-cpu "$tcpu" \
                -n "$shm_n" -w "$shm_warmup" >"$tmp/out"; then
            echo "run.sh: bench_shm failed (configuration $cfg)" >&2
            exit 1
        fi
        grep -v '^#' "$tmp/out" | sed "s/^/$cfg /" >>"$tmp/shm"
    done
    echo
    echo "### shared-memory handles"
    echo
    echo "- client = caller (timed, from before MsgSend() until the server's mark is read through the new mapping; munmap untimed); server: a forked child on the target CPU holding one 64 KiB memfd; same/cross as above"
    echo "- each kind: $shm_n requests after $shm_warmup warm-up ones, the kinds alternating in blocks of 100"
    echo
    awk -v configs="$configs" '
{ med[$1, $2] = $3; p99[$1, $2] = $4; cnt[$1, $2] = $5 }
function has(c, k) { return ((c SUBSEP k) in med) }
END {
    nc = split(configs, cl, " ")
    for (i = 1; i <= nc; i++) { split(cl[i], kv, ":"); cfg[i] = kv[1] }
    nr = 0
    row[++nr] = "shm_floor|MsgSend() round trip + local mmap/munmap of a 64 KiB memfd"
    row[++nr] = "shm_handle|MsgSend(GET): shm_create_handle() + reply; mmap_handle()"
    row[++nr] = "shm_peer_inband|MsgSend(MAP): mmap_peer() of the same memfd in-band + reply"
    row[++nr] = "shm_peer_ptrace|the same, the server forced to ptrace"
    hdr = "| measurement | what |"; sep = "| --- | --- |"
    for (i = 1; i <= nc; i++) {
        hdr = hdr " " cfg[i] " median µs | " cfg[i] " p99 µs |"
        sep = sep " ---: | ---: |"
    }
    print hdr " n |"; print sep " ---: |"
    for (r = 1; r <= nr; r++) {
        split(row[r], f, "|"); k = f[1]; n = "-"; any = 0
        line = "| " k " | " f[2] " |"
        for (i = 1; i <= nc; i++) {
            c = cfg[i]
            if (has(c, k)) { any = 1; n = cnt[c, k]; line = line " " med[c, k] " | " p99[c, k] " |" }
            else line = line " - | - |"
        }
        if (any) print line " " n " |"
    }
    nq = 0
    q[++nq] = "shm_handle|shm_peer_inband|create + redeem + map / mmap_peer() in-band"
    q[++nq] = "shm_handle|shm_peer_ptrace|create + redeem + map / mmap_peer() by ptrace"
    q[++nq] = "shm_handle|shm_floor|create + redeem + map / floor"
    q[++nq] = "shm_peer_inband|shm_floor|mmap_peer() in-band / floor"
    print ""
    hdr = "| ratio of medians |"; sep = "| --- |"
    for (i = 1; i <= nc; i++) { hdr = hdr " " cfg[i] " |"; sep = sep " ---: |" }
    print hdr; print sep
    for (r = 1; r <= nq; r++) {
        split(q[r], f, "|")
        line = "| " f[3] " |"
        for (i = 1; i <= nc; i++) {
            c = cfg[i]
            if (has(c, f[1]) && has(c, f[2]) && med[c, f[2]] + 0 > 0)
                line = line " " sprintf("%.2f", med[c, f[1]] / med[c, f[2]]) " |"
            else line = line " - |"
        }
        print line
    }
}' "$tmp/shm"
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
    : >"$tmp/ps"
    for c in $configs; do
        cfg=${c%%:*}
        tcpu=${c#*:}
        if ! "$bin/bench_pathspace" --caller-cpu 0 --target-cpu "$tcpu" \
                -n "$ps_n" -w "$ps_warmup" --flood "$ps_flood" >"$tmp/out"; then
            echo "run.sh: bench_pathspace failed (configuration $cfg)" >&2
            exit 1
        fi
        grep -v '^#' "$tmp/out" | sed "s/^/$cfg /" >>"$tmp/ps"
    done
    echo
    echo "### path space"
    echo
    echo "- $ps_n pm_open() + pm_close() (and as many lookups alone) per path space after $ps_warmup warm-up ones, the two path spaces alternating in blocks of 100"
    echo "- client: this process, root; manager: a forked root child attached in both; flood: $ps_flood entries for \"/\" of a live uid-65534 process (copies of its own entry, as an attacker ignoring the library's limits makes them) and $((ps_flood / 6)) junk names beside them"
    echo
    awk -v configs="$configs" '
{ med[$1, $2] = $3; p99[$1, $2] = $4; cnt[$1, $2] = $5 }
function has(c, k) { return ((c SUBSEP k) in med) }
END {
    nc = split(configs, cl, " ")
    for (i = 1; i <= nc; i++) { split(cl[i], kv, ":"); cfg[i] = kv[1] }
    row[1] = "ps_open_clean|pm_open() + pm_close() of a root manager\x27s path, nothing else attached"
    row[2] = "ps_open_flood|the same, with the other user\x27s flood"
    row[3] = "ps_resolve_clean|the path-space lookup alone, nothing else attached"
    row[4] = "ps_resolve_flood|the lookup alone, with the flood"
    hdr = "| measurement | what |"; sep = "| --- | --- |"
    for (i = 1; i <= nc; i++) { hdr = hdr " " cfg[i] " median µs | " cfg[i] " p99 µs |"; sep = sep " ---: | ---: |" }
    print hdr " n |"; print sep " ---: |"
    for (r = 1; r <= 4; r++) {
        split(row[r], f, "|"); k = f[1]; n = "-"; any = 0
        line = "| " k " | " f[2] " |"
        for (i = 1; i <= nc; i++) {
            c = cfg[i]
            if (has(c, k)) { any = 1; n = cnt[c, k]; line = line " " med[c, k] " | " p99[c, k] " |" }
            else line = line " - | - |"
        }
        if (any) print line " " n " |"
    }
    print ""
    hdr = "| ratio of medians | goal |"; sep = "| --- | --- |"
    for (i = 1; i <= nc; i++) { hdr = hdr " " cfg[i] " |"; sep = sep " ---: |" }
    print hdr; print sep
    q[1] = "ps_open_flood|ps_open_clean|<= 1.1|pm_open() with the flood / without"
    q[2] = "ps_resolve_flood|ps_resolve_clean||lookup with the flood / without"
    for (r = 1; r <= 2; r++) {
        split(q[r], f, "|")
        line = "| " f[4] " | " (f[3] == "" ? "-" : f[3]) " |"
        for (i = 1; i <= nc; i++) {
            c = cfg[i]
            if (has(c, f[1]) && has(c, f[2]) && med[c, f[2]] + 0 > 0) {
                x = sprintf("%.2f", med[c, f[1]] / med[c, f[2]])
                if (f[3] != "") x = x " (" (x + 0 <= substr(f[3], 4) + 0 ? "met" : "not met") ")"
                line = line " " x " |"
            } else line = line " - |"
        }
        print line
    }
}' "$tmp/ps"
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
    : >"$tmp/ex"
    for c in $configs; do
        cfg=${c%%:*}
        tcpu=${c#*:}
        if ! "$bin/bench_export" --caller-cpu 0 --target-cpu "$tcpu" \
                -n "$ex_n" -w "$ex_warmup" >"$tmp/out"; then
            echo "run.sh: bench_export failed (configuration $cfg)" >&2
            exit 1
        fi
        grep '^# export: not measured' "$tmp/out" | head -n 1 >"$tmp/ex_note"
        grep -v '^#' "$tmp/out" | sed "s/^/$cfg /" >>"$tmp/ex"
    done
    echo
    echo "### the FUSE export (peermap export)"
    echo
    if [ ! -s "$tmp/ex" ]; then
        echo "- the FUSE export: $(sed "s/^# export: //" "$tmp/ex_note")"
    else
    echo "- manager: a forked child, one dispatch thread; the export (peermap export): its own process; both on the target CPU, the caller on CPU 0; same/cross as above"
    echo "- 4 KiB: $ex_n reads of each kind after $ex_warmup warm-up ones, 1 MiB: a tenth of each, kinds alternating in blocks of 50; export reads are of a device (direct I/O: one FUSE request and one _IO_READ per read); first touches: 1000 pages 1 MiB apart, never read before, random order"
    echo
    awk -v configs="$configs" '
{ med[$1, $2] = $3; p99[$1, $2] = $4; cnt[$1, $2] = $5 }
function has(c, k) { return ((c SUBSEP k) in med) }
function verdict(r, goal,   op, x) {
    if (goal == "") return r
    op = substr(goal, 1, 2); x = substr(goal, 4) + 0
    if (op == "<=") return r " (" (r + 0 <= x ? "met" : "not met") ")"
    return r " (" (r + 0 >= x ? "met" : "not met") ")"
}
END {
    nc = split(configs, cl, " ")
    for (i = 1; i <= nc; i++) { split(cl[i], kv, ":"); cfg[i] = kv[1] }
    nr = 0
    row[++nr] = "ex_pm_read_4k|pm_read() of 4 KiB from the manager"
    row[++nr] = "ex_export_read_4k|read() of 4 KiB through the export"
    row[++nr] = "ex_tmpfs_read_4k|pread() of 4 KiB from a tmpfs file"
    row[++nr] = "ex_pm_read_1m|pm_read() of 1 MiB"
    row[++nr] = "ex_export_read_1m|read() of 1 MiB through the export"
    row[++nr] = "ex_tmpfs_read_1m|pread() of 1 MiB from tmpfs"
    row[++nr] = "ex_export_touch|first touch of a page of an exported mapping (MADV_RANDOM: one page per fault)"
    row[++nr] = "ex_export_touch_ra|the same with the kernel reading around the fault (the default)"
    row[++nr] = "ex_export_seq_4k|read() of 4 KiB, sequential, regular file (page cache, read-ahead)"
    hdr = "| measurement | what |"; sep = "| --- | --- |"
    for (i = 1; i <= nc; i++) {
        hdr = hdr " " cfg[i] " median µs | " cfg[i] " p99 µs |"
        sep = sep " ---: | ---: |"
    }
    print hdr " n |"; print sep " ---: |"
    for (r = 1; r <= nr; r++) {
        split(row[r], f, "|"); k = f[1]; n = "-"; any = 0
        line = "| " k " | " f[2] " |"
        for (i = 1; i <= nc; i++) {
            c = cfg[i]
            if (has(c, k)) { any = 1; n = cnt[c, k]; line = line " " med[c, k] " | " p99[c, k] " |" }
            else line = line " - | - |"
        }
        if (any) print line " " n " |"
    }
    # a|b|goal|what: med[a] / med[b]
    nq = 0
    q[++nq] = "ex_pm_read_1m|ex_export_read_1m|>= 0.5|1 MiB read throughput: export / pm_read()"
    q[++nq] = "ex_export_read_4k|ex_pm_read_4k|<= 3|4 KiB read latency: export / pm_read()"
    q[++nq] = "ex_export_touch|ex_pm_read_4k|<= 3|first touch of an exported page / 4 KiB pm_read()"
    q[++nq] = "ex_export_touch_ra|ex_pm_read_4k||first touch with read-around / 4 KiB pm_read()"
    q[++nq] = "ex_export_read_4k|ex_tmpfs_read_4k||4 KiB read latency: export / tmpfs"
    q[++nq] = "ex_tmpfs_read_1m|ex_export_read_1m||1 MiB read throughput: export / tmpfs"
    print ""
    hdr = "| ratio of medians | goal |"; sep = "| --- | --- |"
    for (i = 1; i <= nc; i++) { hdr = hdr " " cfg[i] " |"; sep = sep " ---: |" }
    print hdr; print sep
    for (r = 1; r <= nq; r++) {
        split(q[r], f, "|")
        line = "| " f[4] " | " (f[3] == "" ? "-" : f[3]) " |"
        for (i = 1; i <= nc; i++) {
            c = cfg[i]
            if (has(c, f[1]) && has(c, f[2]) && med[c, f[2]] + 0 > 0)
                line = line " " verdict(sprintf("%.2f", med[c, f[1]] / med[c, f[2]]), f[3]) " |"
            else line = line " - |"
        }
        print line
    }
}' "$tmp/ex"
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
