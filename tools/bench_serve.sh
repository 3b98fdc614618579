#!/bin/sh
# The playground's answer time: azul serve on the toy model (trained here
# with `make demo`'s command when build/demo has none), then REQUESTS
# requests of each kind the page makes for a short sentence, one after
# another on one kept-alive connection, each timed by curl; prints the
# median and the 90th percentile of each kind.
# The server and the requests share the machine, as they would on a laptop.
#
#   tools/bench_serve.sh [REQUESTS]          (default 200)
set -eu
requests=${1:-200}
azul=${AZUL:-bin/azul}
model=build/demo
if [ ! -f "$model/model.safetensors" ]; then
    "$azul" train --corpus data/toy-en-es/train.tsv --valid data/toy-en-es/dev.tsv --out "$model" > /dev/null
fi
work=$(mktemp -d)
"$azul" serve --model "$model" --port 0 > "$work/out" 2> /dev/null &
server=$!
trap 'kill -INT $server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$work"' EXIT
url=""
for _ in $(seq 100); do
    url=$(sed -n 's/.* at \(http[^ ]*\) .*/\1/p' "$work/out")
    [ -n "$url" ] && break
    sleep 0.1
done
[ -n "$url" ] || { echo "bench: azul serve did not start" >&2; exit 1; }
# what the page asks for as one types: greedy, its beam of 4 with the n-best
# list, and every attention map of the sentence
bench() {
    name=$1 path=$2 body=$3
    printf '%s' "$body" > "$work/body.json"
    # one curl, every request on the same connection, one time per line
    for i in $(seq "$requests"); do
        printf 'url = "%s%s"\ndata-binary = "@%s/body.json"\nheader = "Content-Type: application/json"\n' \
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
