#!/bin/sh
# CTest shows a skipped test as "***Skipped" and keeps its output to itself;
# print each skip's one-line reason (the harness's "skipped: ..." line) from
# the last run's log, so that a skip always comes with its why.
#   skip-reasons.sh BUILD_DIR
log=$1/Testing/Temporary/LastTest.log
[ -f "$log" ] || exit 0
awk '
/^[0-9]+\/[0-9]+ Testing: / { name = $3 }
/^  skipped: / { sub(/^  skipped: /, ""); reasons[++n] = name ": " $0 }
END {
    if (!n) exit
    print "Why the skipped tests were skipped:"
    for (i = 1; i <= n; i++) print "  " reasons[i]
}' "$log"
