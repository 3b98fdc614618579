#!/bin/sh
# Runs azul's libFuzzer harnesses (built by `make fuzz` into build/fuzz/).
#
#   tools/fuzz.sh replay NAME...          each saved finding once, per harness
#   tools/fuzz.sh run SECONDS NAME...     replay, then fuzz each harness SECONDS
#
# Seeds: tests/fuzz/corpus/NAME/ (read only); what a run learns goes to
# build/fuzz/corpus/NAME/, kept between runs.  Dictionaries:
# tests/fuzz/NAME.dict.  A finding (crash, leak, undefined behaviour, a
# timeout, too much memory) fails the run and is written to
# tests/fuzz/regressions/NAME/, where every later run replays it: fix the
# code, then commit the file.  One fuzzer at a time, one process each.
set -eu

bin=build/fuzz
logs=$bin/logs
mkdir -p "$logs"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1}"

# The largest input worth trying: a little above the largest seed.
max_len() {
    case $1 in
        model_file) echo 16384 ;;
        tokenizer_json) echo 8192 ;;
        corpus|bleu) echo 4096 ;;
        utf8_roundtrip) echo 1024 ;;
        translate) echo 256 ;;
        api) echo 512 ;;
        *) echo 4096 ;;
    esac
}

options() {
    echo "-rss_limit_mb=1024 -timeout=10 -max_len=$(max_len "$1")"
}

replay() {
    name=$1
    files=$(find "tests/fuzz/regressions/$name" -type f ! -name '.*' ! -name '*.md' 2>/dev/null | LC_ALL=C sort)
    if [ -z "$files" ]; then
        echo "fuzz $name: no saved findings to replay"
        return 0
    fi
    # shellcheck disable=SC2046,SC2086  # options and file names are plain words
    if ! "$bin/fuzz_$name" $(options "$name") $files > "$logs/$name.replay.log" 2>&1; then
        tail -n 40 "$logs/$name.replay.log"
        echo "fuzz $name: a saved finding fails again (log: $logs/$name.replay.log)" >&2
        return 1
    fi
    echo "fuzz $name: $(echo "$files" | wc -l) saved findings replayed, all pass"
}

run() {
    name=$1 seconds=$2
    mkdir -p "$bin/corpus/$name" "tests/fuzz/regressions/$name"
    dict=""
    if [ -f "tests/fuzz/$name.dict" ]; then dict="-dict=tests/fuzz/$name.dict"; fi
    # shellcheck disable=SC2046,SC2086
    if ! "$bin/fuzz_$name" $(options "$name") $dict -max_total_time="$seconds" -print_final_stats=1 \
        -artifact_prefix="tests/fuzz/regressions/$name/" \
        "$bin/corpus/$name" "tests/fuzz/corpus/$name" > "$logs/$name.log" 2>&1; then
        tail -n 60 "$logs/$name.log"
        echo "fuzz $name: FINDING, saved in tests/fuzz/regressions/$name/ (log: $logs/$name.log)" >&2
        return 1
    fi
    last=$(grep -E '^#[0-9]+' "$logs/$name.log" | tail -n 1)
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$logs/$name.log")
    echo "fuzz $name: ${seconds}s, $runs runs, no finding; last: $last"
}

mode=${1:-}
case $mode in
    replay)
        shift
        status=0
        for name in "$@"; do replay "$name" || status=1; done
        exit $status ;;
    run)
        seconds=$2
        shift 2
        status=0
        for name in "$@"; do replay "$name" || status=1; done
        for name in "$@"; do run "$name" "$seconds" || status=1; done
        exit $status ;;
    *)
        echo "usage: tools/fuzz.sh replay NAME... | tools/fuzz.sh run SECONDS NAME..." >&2
        exit 2 ;;
esac
