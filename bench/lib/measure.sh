# Timing helpers shared by the bench scripts (they set DBS_TESTRUN).

# Runs a command under GNU time; prints "seconds peak_rss_kib cpu_seconds".
# Its output goes to $DBS_TESTRUN/cmd.log, shown when it fails.
measure() {
    local out="$DBS_TESTRUN/time.out"
    /usr/bin/time -f '%e %M %U %S' -o "$out" "$@" >"$DBS_TESTRUN/cmd.log" 2>&1 || {
        cat "$DBS_TESTRUN/cmd.log" >&2
        return 1
    }
    awk '{ print $1, $2, $3 + $4 }' "$out"
}

# The median of whitespace-separated numbers on stdin.
median() { tr ' ' '\n' | sed '/^$/d' | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
