#!/bin/sh
# The recipe search: short trials of equal time, each the recipe (azul train
# with no tuning flags) with one thing changed, scored by greedy dev BLEU on
# all the dev pairs.  Only the train and dev files are ever read.
#
#   tools/recipe_search.sh PAIR [BUDGET] [OUT_DIR]     e.g. spa-eng 12m runs/search-spa-eng
#
# Trials run two at a time with one thread each (AZUL_SEARCH_JOBS to
# change), so that a 2-core machine gives every trial the same share; the
# time budget of each is BUDGET, planned by the recipe like any run.  A
# trial whose directory already has its scores is not run again, so an
# interrupted search goes on where it stopped; AZUL_SEARCH_TRIALS='a|b'
# runs only the trials named.  The table is written to OUT_DIR/results.md,
# best BLEU first.
set -eu
pair=$1
budget=${2:-12m}
out=${3:-runs/search-$pair}
corpora=${AZUL_CORPORA:-../shared/corpora}
azul=${AZUL:-bin/azul}
jobs=${AZUL_SEARCH_JOBS:-2}
if [ ! -r "$corpora/$pair/train.tsv" ] || [ ! -r "$corpora/$pair/dev.tsv" ]; then
    echo "azul: error: $corpora/$pair/train.tsv or dev.tsv not found (set AZUL_CORPORA)" >&2
    exit 1
fi
mkdir -p "$out"
cut -f1 "$corpora/$pair/dev.tsv" > "$out/dev.src"
cut -f2 "$corpora/$pair/dev.tsv" > "$out/dev.ref"

# name|flags: what each trial changes from the recipe.
trials='recipe|
lr-1e-3|--lr 1e-3
lr-4e-3|--lr 4e-3
warmup-2pct|--warmup 7
warmup-15pct|--warmup 50
batch-2048|--batch-tokens 2048
batch-8192|--batch-tokens 8192
dropout-0.2|--dropout 0.2
dropout-0|--dropout 0
post-ln|--post-ln
untied|--untie
shared-vocab|--joint
vocab-4000|--vocab-size 4000
vocab-16000|--vocab-size 16000
preset-toy|--preset toy'
if [ -n "${AZUL_SEARCH_TRIALS:-}" ]; then trials=$(printf '%s\n' "$trials" | grep -E "^(${AZUL_SEARCH_TRIALS})\|"); fi

run_trial() {
    name=$1 flags=$2 dir=$out/$1
    [ -s "$dir/dev.scores" ] && return 0
    rm -rf "$dir"
    # shellcheck disable=SC2086
    "$azul" train --corpus "$corpora/$pair/train.tsv" --valid "$corpora/$pair/dev.tsv" --out "$dir" \
        --threads 1 --time-budget "$budget" $flags > "$out/$name.out" 2>&1 || {
        echo "trial $name failed: see $out/$name.out" >&2
        return 0
    }
    OMP_NUM_THREADS=1 "$azul" translate --model "$dir" --beam 1 "$out/dev.src" > "$dir/dev.hyp"
    "$azul" bleu --ref "$out/dev.ref" "$dir/dev.hyp" > "$dir/dev.scores"
    echo "trial $name: $(head -1 "$dir/dev.scores")"
}

running=0
printf '%s\n' "$trials" | {
    while IFS='|' read -r name flags; do
        run_trial "$name" "$flags" &
        running=$((running + 1))
        if [ "$running" -ge "$jobs" ]; then
            wait
            running=0
        fi
    done
    wait
}

# The table: one row per trial with scores, best BLEU first.
{
    echo "| trial | flags | steps | target tok/s | best dev loss | greedy BLEU | chrF2 | BP |"
    echo "|---|---|---|---|---|---|---|---|"
    printf '%s\n' "$trials" | while IFS='|' read -r name flags; do
        dir=$out/$name
        [ -s "$dir/dev.scores" ] || continue
        python3 - "$dir" "$name" "$flags" <<'EOF'
import json, re, sys
d, name, flags = sys.argv[1:4]
steps = tps = loss = None
for line in open(d + "/train.log"):
    e = json.loads(line)
    if e.get("event") == "train": tps = e["tokens_per_second"]
    if e.get("event") in ("valid", "average"):
        steps = e["step"]
        if loss is None or e["valid_loss"] < loss: loss = e["valid_loss"]  # model.safetensors: the best
s = open(d + "/dev.scores").read()
bleu = re.search(r"BLEU = ([0-9.]+)", s).group(1)
bp = re.search(r"BP = ([0-9.]+)", s).group(1)
chrf = re.search(r"chrF2 = ([0-9.]+)", s).group(1)
print(f"| {name} | {flags or '(none)'} | {steps:,} | {tps:,.0f} | {loss:.3f} | {bleu} | {chrf} | {bp} |")
EOF
    done | sort -t'|' -k7 -rn
} > "$out/results.md"
cat "$out/results.md"
