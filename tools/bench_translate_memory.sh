#!/usr/bin/env bash
# Memory of translation: the peak resident set of `azul translate` against
# the size of the model file it reads.  A model is its weights (mapped from
# the file, never copied) plus what decoding needs, so the peak should stay
# near the file's size, whatever the number of lines.
#
#   tools/bench_translate_memory.sh [CORPUS_DIR] [LINES]
#
# Trains a small-preset model for two steps on CORPUS_DIR/train.tsv (its
# weights are as large as a trained one's; its translations run to the length
# limit, the worst case for the cache), then translates the first LINES
# sources of CORPUS_DIR/dev.tsv greedily and with beam 4.
set -euo pipefail
corpus=${1:-../shared/corpora/spa-eng}
lines=${2:-500}
azul=${AZUL:-bin/azul}
[ -r "$corpus/train.tsv" ] || { echo "bench: corpus $corpus not found" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

"$azul" train --corpus "$corpus/train.tsv" --valid "$corpus/dev.tsv" --preset small --steps 2 \
    --valid-sentences 0 --out "$work/model" > /dev/null
awk -F '\t' -v n="$lines" 'NR <= n {print $1}' "$corpus/dev.tsv" > "$work/sources.txt"
file_mib=$(awk -v b="$(stat -c %s "$work/model/model.safetensors")" 'BEGIN {printf "%.1f", b / 1048576}')
echo "translate memory: small-preset model file $file_mib MiB, $lines dev lines"
for beam in 1 4; do
    "$azul" translate --model "$work/model" --beam "$beam" --verbose "$work/sources.txt" \
        2>&1 > /dev/null | sed -n 's/.*; peak memory \(.*\) MiB$/\1/p' |
        awk -v beam="$beam" -v file="$file_mib" \
            '{printf "  beam %d: peak %.1f MiB = %.2f × the model file\n", beam, $1, $1 / file}'
done
