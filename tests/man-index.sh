#!/bin/sh
# peermap(7) lists every man page, by area: a page in man/ that its PAGES
# section does not name, or a name there without a page, fails this test.
# A new page is added to man/man7/peermap.7 under its area, as
#   .TP
#   \fBname\fR(3), \fBalias\fR(3)
#   what it does
set -u
src=$1
index="$src/man/man7/peermap.7"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
[ -f "$index" ] || { echo "FAIL: $index is missing"; exit 1; }

# The pages that exist (name(section)), peermap(7) itself aside.
for page in "$src"/man/man*/*.[0-9]; do
    n=$(basename "$page")
    echo "${n%.*}(${n##*.})"
done | grep -vx 'peermap(7)' | sort -u > "$tmp/pages"
# The pages the PAGES section names.
awk '/^\.SH/ { inpages = ($2 == "PAGES") } inpages' "$index" |
    grep -o '\\fB[A-Za-z0-9_.-]*\\fR([0-9])' | sed 's/\\fB//; s/\\fR//' | sort > "$tmp/listed.all"
sort -u "$tmp/listed.all" > "$tmp/listed"

failed=0
for p in $(comm -23 "$tmp/pages" "$tmp/listed"); do
    echo "FAIL: $p has a page in man/ but peermap(7) does not list it (add it under its area)"
    failed=$((failed + 1))
done
for p in $(comm -13 "$tmp/pages" "$tmp/listed"); do
    echo "FAIL: peermap(7) lists $p, which has no page in man/"
    failed=$((failed + 1))
done
for p in $(uniq -d "$tmp/listed.all"); do
    echo "FAIL: peermap(7) lists $p more than once"
    failed=$((failed + 1))
done
n=$(wc -l < "$tmp/pages")
echo "man index: $n pages, $failed problems"
[ "$failed" = 0 ]
