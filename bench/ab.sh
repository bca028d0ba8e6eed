#!/bin/sh
# Compare two builds of peermap in one run: the two builds' benchmarks
# alternate, ROUNDS times, pinned (caller on CPU 0, server on CPU 1, or
# both on 0 on a 1-CPU machine).
#
#   bench/ab.sh BASE_BUILD NEW_BUILD [ROUNDS]      (default 5 rounds)
#
# Prints, for every measurement both builds report, every round's median
# for each build, then the median over the rounds, the spread (min-max of
# the rounds' medians) and the ratio new/base of the medians; measurements
# only one build has are listed after.  The load average before and after
# is printed too: other work on the machine moves the figures.
#
# BENCH_AB_PROGRAMS: the benchmarks to run, each "PROGRAM[:MODE]" (default
# bench_msg bench_open; "all" adds bench_resmgr:read bench_memmgr
# bench_inband bench_agent bench_shm bench_peermap bench_pathspace).
# BENCH_AB_N / BENCH_AB_WARMUP: calls per round (-n/-w, default 20000 / 2000
# for bench_msg, a tenth of each for the others but bench_open, which takes
# BENCH_AB_OPEN_N, default 2000), BENCH_AB_TARGET_CPU: the server's CPU
# (default 1; 0 puts both on CPU 0).
set -eu

base=$1
new=$2
rounds=${3:-5}
n=${BENCH_AB_N:-20000}
w=${BENCH_AB_WARMUP:-2000}
on=${BENCH_AB_OPEN_N:-2000}
programs=${BENCH_AB_PROGRAMS:-bench_msg bench_open}
if [ "$programs" = all ]; then
    programs="bench_msg bench_open bench_resmgr:read bench_memmgr bench_inband bench_agent bench_shm bench_peermap bench_pathspace"
fi
for b in "$base" "$new"; do
    for p in $programs; do
        prog=${p%%:*}
        [ -x "$b/bench/$prog" ] || { echo "ab.sh: $b/bench/$prog not found" >&2; exit 1; }
    done
done
tcpu=${BENCH_AB_TARGET_CPU:-1}
[ "$(nproc)" -ge 2 ] || tcpu=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
i=1
while [ "$i" -le "$rounds" ]; do
    for side in base new; do
        eval dir=\$$side
        for p in $programs; do
            prog=${p%%:*}
            mode=
            [ "$prog" = "$p" ] || mode=${p#*:}
            case $prog in
            bench_msg) args="-n $n -w $w" ;;
            bench_open) args="-n $on -w $((on / 10))" ;;
            bench_pathspace) args="-n $((n / 10)) -w $((w / 10)) --flood 6000" ;;
            *) args="-n $((n / 10)) -w $((w / 10))" ;;
            esac
            # shellcheck disable=SC2086
            taskset -c 0,$tcpu "$dir/bench/$prog" $mode --caller-cpu 0 --target-cpu $tcpu \
                $args | grep -v '^#' | grep -v '^rate ' | grep -v '^msg_large_c[0-9]' |
                sed "s/^/$side $i /" >>"$tmp/r"
        done
    done
    i=$((i + 1))
done

echo "kernel $(uname -r), $(nproc) CPUs, load average before $load_before, after $(cut -d' ' -f1-3 /proc/loadavg)"
echo "server on CPU $tcpu, client on CPU 0; $rounds rounds, builds alternating; programs: $programs"
echo
echo "| measurement | base medians µs | new medians µs | base | new | base spread | new spread | new / base |"
echo "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: |"
awk '
    { key = $3; v[$1, key] = v[$1, key] " " $4; if (!(key in seen)) { seen[key] = 1; order[++n] = key } }
    function med(s,   a, k, i, j, t) {
        k = split(s, a, " ")
        for (i = 1; i <= k; i++) for (j = i + 1; j <= k; j++)
            if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
        lo = a[1]; hi = a[k]
        return k % 2 ? a[(k + 1) / 2] : (a[k / 2] + a[k / 2 + 1]) / 2
    }
    END {
        for (r = 1; r <= n; r++) {
            m = order[r]
            if (!(("base" SUBSEP m) in v) || !(("new" SUBSEP m) in v)) continue
            mb = med(v["base", m]); lb = lo; hb = hi
            mn = med(v["new", m]); ln = lo; hn = hi
            printf "| %s |%s |%s | %.2f | %.2f | %.2f-%.2f | %.2f-%.2f | %.3f |\n",
                   m, v["base", m], v["new", m], mb, mn, lb, hb, ln, hn, (mb > 0 ? mn / mb : 0)
        }
        only = ""
        for (r = 1; r <= n; r++) {
            m = order[r]
            if ((("base" SUBSEP m) in v) && (("new" SUBSEP m) in v)) continue
            only = only " " m ((("new" SUBSEP m) in v) ? " (new)" : " (base)")
        }
        if (only != "") print "\nin one build only:" only
    }' "$tmp/r"
