#!/bin/sh
# Compare two builds of peermap on the message round trip and pm_open(),
# in one run: the two builds' benchmarks alternate, ROUNDS times, pinned
# (caller on CPU 0, server on CPU 1, or both on 0 on a 1-CPU machine).
#
#   bench/ab.sh BASE_BUILD NEW_BUILD [ROUNDS]      (default 5 rounds)
#
# Each build must have bench/bench_msg and bench/bench_open.  Prints, per
# measurement, every round's median for each build, then the median over
# the rounds, the spread (min-max of the rounds' medians) and the ratio
# new/base of the medians.  BENCH_AB_N / BENCH_AB_WARMUP: round trips per
# round (default 20000 / 2000), BENCH_AB_OPEN_N: opens per round (2000),
# BENCH_AB_TARGET_CPU: the server's CPU (default 1; 0 puts both on CPU 0).
set -eu

base=$1
new=$2
rounds=${3:-5}
n=${BENCH_AB_N:-20000}
w=${BENCH_AB_WARMUP:-2000}
on=${BENCH_AB_OPEN_N:-2000}
for b in "$base" "$new"; do
    for p in bench_msg bench_open; do
        [ -x "$b/bench/$p" ] || { echo "ab.sh: $b/bench/$p not found" >&2; exit 1; }
    done
done
tcpu=${BENCH_AB_TARGET_CPU:-1}
[ "$(nproc)" -ge 2 ] || tcpu=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM

i=1
while [ "$i" -le "$rounds" ]; do
    for side in base new; do
        eval dir=\$$side
        taskset -c 0,$tcpu "$dir/bench/bench_msg" --caller-cpu 0 --target-cpu $tcpu \
            -n "$n" -w "$w" | grep -v '^#' | sed "s/^/$side $i /" >>"$tmp/r"
        taskset -c 0,$tcpu "$dir/bench/bench_open" --caller-cpu 0 --target-cpu $tcpu \
            -n "$on" -w $((on / 10)) | grep -v '^#' | sed "s/^/$side $i /" >>"$tmp/r"
    done
    i=$((i + 1))
done

echo "kernel $(uname -r), $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "server on CPU $tcpu, client on CPU 0; $rounds rounds, builds alternating"
echo
echo "| measurement | base medians µs | new medians µs | base | new | base spread | new spread | new / base |"
echo "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: |"
for m in msg_small raw_small msg_large pm_open pm_close open_close; do
    awk -v m="$m" '
        $3 == m { v[$1] = v[$1] " " $4 }
        function med(s,   a, k, i, j, t) {
            k = split(s, a, " ")
            for (i = 1; i <= k; i++) for (j = i + 1; j <= k; j++)
                if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
            lo = a[1]; hi = a[k]
            return k % 2 ? a[(k + 1) / 2] : (a[k / 2] + a[k / 2 + 1]) / 2
        }
        END {
            if (!("base" in v)) exit
            mb = med(v["base"]); lb = lo; hb = hi
            mn = med(v["new"]); ln = lo; hn = hi
            printf "| %s |%s |%s | %.2f | %.2f | %.2f-%.2f | %.2f-%.2f | %.3f |\n",
                   m, v["base"], v["new"], mb, mn, lb, hb, ln, hn, mn / mb
        }' "$tmp/r"
done
