#!/bin/sh
# Every page in man/man3 tells, in a SAFETY section, what QNX's
# "Classification" table tells: whether each call is a cancellation point,
# and may be used in an interrupt handler, in a signal handler, from
# several threads.  This fails for a page without one, for a table that
# is not laid out as the others, for a page that still has an ATTRIBUTES
# section, and for a function (a page's own name, or an alias page naming
# it with .so) that the page's tables do not name when there are several.
#
# The layout, one table per group of calls that answer alike:
#   .SH SAFETY
#   .B name(), other()          (only when there is more than one table;
#   .TS                          "the others" covers the rest)
#   allbox;
#   l l.
#   Cancellation point<TAB>Yes or No[ (a short note)]
#   Interrupt handler<TAB>No
#   Signal handler<TAB>Yes or No[ ...]
#   Thread<TAB>Yes or No[ ...]
#   .TE
#   .PP
#   why, in the implementation's terms
set -u
src=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failed=0
fail() {
    echo "FAIL: $*"
    failed=$((failed + 1))
}

# Alias pages: target page -> the names it also documents.
for page in "$src"/man/man3/*.3; do
    first=$(head -n 1 "$page")
    case $first in
    .so\ *)
        target=${first#.so }
        [ -f "$src/man/$target" ] || fail "$(basename "$page") points at $target, which does not exist"
        echo "$(basename "$target" .3) $(basename "$page" .3)" >> "$tmp/aliases"
        ;;
    esac
done
touch "$tmp/aliases"

pages=0
for page in "$src"/man/man3/*.3; do
    case $(head -n 1 "$page") in .so\ *) continue ;; esac
    name=$(basename "$page" .3)
    pages=$((pages + 1))
    n=$(grep -c '^\.SH SAFETY' "$page")
    [ "$n" = 1 ] || { fail "$name(3) has $n SAFETY sections (wants 1)"; continue; }
    grep -q '^\.SH ATTRIBUTES' "$page" && fail "$name(3) still has an ATTRIBUTES section (SAFETY replaces it)"
    awk '/^\.SH/ { in_s = ($2 == "SAFETY") } in_s' "$page" > "$tmp/section"
    # The tables: their rows, and the label before each.
    problems=$(awk -v page="$name(3)" '
        BEGIN { FS = "\t"; want[1] = "Cancellation point"; want[2] = "Interrupt handler";
                want[3] = "Signal handler"; want[4] = "Thread" }
        /^\.B / { label = substr($0, 4) }
        /^\.TS/ { t++; row = -2; rows = 0; labels[t] = label; label = ""; next }
        /^\.TE/ { if (rows != 4) printf "%s: table %d has %d rows (wants 4)\n", page, t, rows; row = -99; next }
        row == -2 { if ($0 != "allbox;") printf "%s: table %d: \"%s\" where every table has \"allbox;\"\n", page, t, $0
                    row++; next }
        row == -1 { if ($0 != "l l.") printf "%s: table %d: format \"%s\" (wants \"l l.\")\n", page, t, $0
                    row++; next }
        row == 0 && /\t/ {
            rows++
            if ($1 != want[rows])
                printf "%s: table %d row %d is \"%s\" (wants \"%s\")\n", page, t, rows, $1, want[rows]
            if ($2 !~ /^(Yes|No)( |$)/)
                printf "%s: table %d, %s: \"%s\" is neither Yes nor No\n", page, t, $1, $2
            if (rows == 2 && $2 != "No")
                printf "%s: a Linux process has no interrupt handlers: \"%s\"\n", page, $2
            next
        }
        END {
            if (t == 0) printf "%s: no table in SAFETY\n", page
            for (i = 1; i <= t && t > 1; i++)
                if (labels[i] == "") printf "%s: table %d of %d has no .B line naming its calls\n", page, i, t
        }
        BEGIN { row = -99 }
        ' "$tmp/section")
    if [ -n "$problems" ]; then
        echo "$problems" | while read -r line; do echo "FAIL: $line"; done
        failed=$((failed + $(echo "$problems" | wc -l)))
        continue
    fi
    # With several tables, each call the page documents is named in one.
    tables=$(grep -c '^\.TS' "$tmp/section")
    if [ "$tables" -gt 1 ] && ! grep '^\.B ' "$tmp/section" | grep -qi 'other'; then
        for call in "$name" $(awk -v t="$name" '$1 == t { print $2 }' "$tmp/aliases"); do
            grep '^\.B ' "$tmp/section" | grep -qw -- "$call" ||
                fail "$name(3): no SAFETY table names $call"
        done
    fi
done
echo "man safety: $pages pages (and $(wc -l < "$tmp/aliases") aliases), $failed problems"
[ "$failed" = 0 ]
