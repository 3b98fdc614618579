#!/bin/sh
# The playground's answer time: azul serve on the toy run (trained here with
# `make demo`'s command when build/demo has none), served live (--run) as
# while training, so that its curves and attention history are asked for
# too.  The server and its clients share the machine, as on a laptop.
#
# 1. One at a time: REQUESTS requests of each kind the page makes for a
#    short sentence, one after another on one kept-alive connection, each
#    timed by curl; the median and the 90th percentile of each kind.
# 2. Under load: Debian's wrk holds 64 connections for SECONDS seconds
#    (after a short warm-up), each walking the page's mix of requests
#    (tools/bench_serve.lua): for four sentences, translate with beam 4 and
#    its 4-best list, greedily, their attention maps and one query's
#    arithmetic; and the page, its script, /api/model, /api/curves and
#    /api/history.  Every answer must be the very one the server gave to
#    that request alone (status 200, the same bytes).  Prints requests/s,
#    p50/p99 latency, errors, wrong answers, and the server's resident
#    memory sampled every second, every sample of which must lie within 10%
#    of their median.
#
#   tools/bench_serve.sh [REQUESTS [SECONDS]]   (default 200 and 60;
#                                               `tools/bench_serve.sh 20 3` is a smoke test)
#
# Exits 1 on a failed request, a load error, a wrong answer or memory that
# moved by more than 10%.
set -eu
requests=${1:-200}
seconds=${2:-60}
clients=64
azul=${AZUL:-bin/azul}
model=build/demo
command -v wrk > /dev/null || { echo "bench: wrk not found (Debian's wrk: sh tools/deps.sh wrk)" >&2; exit 1; }
if [ ! -f "$model/model.safetensors" ]; then
    "$azul" train --corpus data/toy-en-es/train.tsv --valid data/toy-en-es/dev.tsv --out "$model" > /dev/null
fi
work=$(mktemp -d)
"$azul" serve --run "$model" --port 0 > "$work/out" 2> /dev/null &
server=$!
sampler=""
trap 'kill -INT $server 2>/dev/null; wait $server 2>/dev/null; [ -z "$sampler" ] || kill $sampler 2>/dev/null; rm -rf "$work"' EXIT
url=""
for _ in $(seq 100); do
    url=$(sed -n 's/.* at \(http[^ ]*\) .*/\1/p' "$work/out")
    [ -n "$url" ] && break
    sleep 0.1
done
[ -n "$url" ] || { echo "bench: azul serve did not start" >&2; exit 1; }
url=${url%/}

# ---------------------------------------------------------------- one at a time

# what the page asks for as one types: greedy, its beam of 4 with the n-best
# list, and every attention map of the sentence
bench() {
    name=$1 path=$2 body=$3
    printf '%s' "$body" > "$work/body.json"
    # one curl, every request on the same connection, one time per line
    for i in $(seq "$requests"); do
        printf 'url = "%s/%s"\ndata-binary = "@%s/body.json"\nheader = "Content-Type: application/json"\n' \
            "$url" "$path" "$work"
        printf 'output = "/dev/null"\nwrite-out = "%%{time_total} %%{http_code}\\n"\n'
        [ "$i" -lt "$requests" ] && echo next
    done > "$work/requests.curl"
    curl -s -K "$work/requests.curl" > "$work/answers"
    if grep -qv " 200$" "$work/answers"; then echo "bench: a $name request failed" >&2; exit 1; fi
    sort -n "$work/answers" | awk -v n="$requests" -v name="$name" '{t[NR] = $1 * 1000} END {
        printf "  %-28s median %6.1f ms, p90 %6.1f ms (%d requests)\n", name, t[int((NR + 1) / 2)], t[int(NR * 0.9)], n
    }'
}
sentence="The black cat drank the milk"
echo "serve: the toy model, \"$sentence\", requests one after another on one connection"
bench "translate, greedy" api/translate "{\"text\": \"$sentence\"}"
bench "translate, beam 4, 4-best" api/translate "{\"text\": \"$sentence\", \"beam\": 4, \"n_best\": 4}"
bench "attention, every map" api/attention "{\"text\": \"$sentence\"}"

# ---------------------------------------------------------------- under load

# The mix, one line per request for tools/bench_serve.lua, each with the
# answer the server gives it alone.
kinds=0
add() {  # NAME METHOD PATH [BODY]
    kinds=$((kinds + 1))
    body=-
    if [ $# -ge 4 ]; then
        body="$work/body$kinds"
        printf '%s' "$4" > "$body"
        status=$(curl -s -o "$work/answer$kinds" -w '%{http_code}' -H 'Content-Type: application/json' \
            --data-binary "@$body" "$url$3")
    else
        status=$(curl -s -o "$work/answer$kinds" -w '%{http_code}' "$url$3")
    fi
    [ "$status" = 200 ] || { echo "bench: $1 failed alone (status $status)" >&2; exit 1; }
    echo "$2 $3 $body $work/answer$kinds $1" >> "$work/mix"
}
# the toy sentences hold no character that JSON must escape
cut -f1 data/toy-en-es/dev.tsv | head -n 4 > "$work/sentences"
echo "serve: under load, each answer compared with the server's answer alone:"
while IFS= read -r s; do
    add "translate beam 4: $s" POST /api/translate "{\"text\": \"$s\", \"beam\": 4, \"n_best\": 4}"
    best=$(sed -n 's/.*"translations":\[{"text":"\([^"]*\)".*/\1/p' "$work/answer$kinds")
    [ -n "$best" ] || { echo "bench: no translation of \"$s\"" >&2; exit 1; }
    echo "  \"$s\" -> \"$best\""
    add "attention: $s" POST /api/attention "{\"text\": \"$s\", \"target\": \"$best\"}"
    add "translate greedy: $s" POST /api/translate "{\"text\": \"$s\", \"beam\": 1, \"n_best\": 1}"
    add "explain: $s" POST /api/explain \
        "{\"text\": \"$s\", \"target\": \"$best\", \"token\": \"#1\", \"kind\": \"cross\", \"head\": 0}"
done < "$work/sentences"
add "the page" GET /
add "its script" GET /playground.js
add "model" GET /api/model
add "curves" GET /api/curves
add "history" GET /api/history

# wrk pairs each answer with the last request of its thread: one
# connection per thread (tools/bench_serve.lua)
load() {  # SECONDS OUTPUT
    wrk -t "$clients" -c "$clients" -d "${1}s" --timeout 5s -s tools/bench_serve.lua "$url" -- "$work/mix" > "$2"
}
# the server's threads and heaps grow to their working size first
load "$([ "$seconds" -ge 10 ] && echo 3 || echo 1)" "$work/warm-up"
# sampled once a second from the fifth second on: a first sample, taken as
# the warm-up's 64 connections closed and the run's opened, read 14.4 MiB
# against 12.2-12.4 for the rest of the run (not a leak: it went down)
settle=$([ "$seconds" -ge 10 ] && echo 5 || echo 0)
(sleep "$settle"; while :; do awk '/^VmRSS:/ {print $2}' "/proc/$server/status"; sleep 1; done) > "$work/rss" &
sampler=$!
load "$seconds" "$work/load"
kill $sampler
sampler=""
result=$(grep '^wrk_requests=' "$work/load") || { cat "$work/load" >&2; echo "bench: wrk gave no summary" >&2; exit 1; }
eval "$result"  # wrk_requests=N wrk_rate=N ...: numbers only, from tools/bench_serve.lua
cpu=$(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -n 1)
printf '  %s clients for %s s, a mix of %s requests (%s cores: %s)\n' "$clients" "$wrk_seconds" "$kinds" "$(nproc)" "$cpu"
printf '  %s requests, %s requests/s; latency p50 %s ms, p99 %s ms, max %s ms\n' \
    "$wrk_requests" "$wrk_rate" "$wrk_p50_ms" "$wrk_p99_ms" "$wrk_max_ms"
printf '  %s errors (connect %s, read %s, write %s, status %s, timeout %s), %s wrong answers of %s\n' \
    "$wrk_errors" "$wrk_connect" "$wrk_read" "$wrk_write" "$wrk_status" "$wrk_timeout" "$wrk_wrong" "$wrk_answered"
sed -n 's/^wrk_first_wrong=/  the first wrong answer: /p' "$work/load"
sed -n 's/^wrk_wrong_kind=\([0-9]*\) \(.*\)/  wrong answers to "\2": \1/p' "$work/load"
# every sample within 10% of their median: a leak climbs away from it
sort -n "$work/rss" | awk -v settle="$settle" -v start="$(head -n 1 "$work/rss")" -v end="$(tail -n 1 "$work/rss")" '
    {kib[NR] = $1}
    END {
        median = kib[int((NR + 1) / 2)]
        flat = kib[1] >= 0.9 * median && kib[NR] <= 1.1 * median
        printf "  server RSS: median %.1f MiB over %d samples from %d s on, %.1f to %.1f MiB, %.1f at the start and %.1f at the end (%s)\n",
            median / 1024, NR, settle, kib[1] / 1024, kib[NR] / 1024, start / 1024, end / 1024,
            flat ? "flat within 10%" : "NOT within 10%"
        exit !flat
    }' || { echo "bench: the server's memory moved by more than 10% under load" >&2; exit 1; }
[ "$wrk_errors" -eq 0 ] && [ "$wrk_wrong" -eq 0 ] || { echo "bench: errors or wrong answers under load" >&2; exit 1; }
