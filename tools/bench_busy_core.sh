#!/bin/sh
# A busy machine: how much of its idle speed azul keeps when another program
# takes one of the two cores (`make bench`).  Each case runs `azul bench`
# (2 threads) idle and beside a shell busy loop, interleaved, three times
# each, and compares the medians; the goal is ≥ 40% of the idle speed
# (an even share of the cores would be 50%).
#
#   tools/bench_busy_core.sh AZUL [REPEATS]
set -eu
azul=$1
repeats=${2:-3}

# the target tokens/s of one `azul bench` run
rate() {
    "$azul" bench --threads 2 "$@" | sed -n 's/^throughput: \([0-9]*\) target tokens\/s.*/\1/p'
}

median() {
    sort -n | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'
}

busy_pid=
stop_busy() {
    if [ -n "$busy_pid" ]; then
        kill "$busy_pid" 2>/dev/null || true
        wait "$busy_pid" 2>/dev/null || true
        busy_pid=
    fi
}
trap stop_busy EXIT INT TERM

echo "one core taken by a shell busy loop: azul's speed against the same run idle"
echo "(2 threads, median of $repeats, $(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -1))"
echo
echo "| run | idle tok/s | busy tok/s | busy ÷ idle |"
echo "|---|---|---|---|"
for case in "train toy|--preset toy --vocab 1000 --batch 64 --src-len 8 --tgt-len 8 --steps 20" \
            "train small|--preset small --vocab 8000 --batch 64 --src-len 24 --tgt-len 24 --steps 3" \
            "greedy decode small, batch 1|--preset small --vocab 8000 --decode --batch 1 --src-len 16 --tgt-len 16 --steps 5" \
            "greedy decode small, batch 32|--preset small --vocab 8000 --decode --batch 32 --src-len 16 --tgt-len 16 --steps 3"; do
    name=${case%%|*}
    args=${case#*|}
    idle= busy=
    for r in $(seq "$repeats"); do
        # shellcheck disable=SC2086  # args is a list of flags
        idle="$idle $(rate $args)"
        sh -c 'while :; do :; done' &
        busy_pid=$!
        # shellcheck disable=SC2086
        busy="$busy $(rate $args)"
        stop_busy
    done
    i=$(echo "$idle" | tr ' ' '\n' | grep . | median)
    b=$(echo "$busy" | tr ' ' '\n' | grep . | median)
    awk -v n="$name" -v i="$i" -v b="$b" 'BEGIN {printf "| %s | %.0f | %.0f | %.0f%% |\n", n, i, b, 100 * b / i}'
done
