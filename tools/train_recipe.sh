#!/bin/sh
# The real-corpus recipe: train on a Tatoeba pair from ../shared/corpora under
# a time budget with nothing but the budget given (azul train's recipe
# chooses the rest), then translate the whole dev set greedily and with
# beam 4 (at the length penalty the run chose on dev) and score both with
# azul bleu.  Used by `make spa-eng` / `make fra-eng`.
#
#   tools/train_recipe.sh PAIR [BUDGET] [OUT_DIR]      e.g. spa-eng 30m runs/spa-eng
#
# A second run with the same OUT_DIR continues the first (--resume).
set -eu
pair=$1
budget=${2:-30m}
out=${3:-runs/$pair}
corpora=${AZUL_CORPORA:-../shared/corpora}
azul=${AZUL:-bin/azul}
if [ ! -r "$corpora/$pair/train.tsv" ]; then
    echo "azul: error: $corpora/$pair/train.tsv not found (the corpora live beside the project; set AZUL_CORPORA)" >&2
    exit 1
fi
mkdir -p "$(dirname "$out")"
if [ -e "$out/training_state.safetensors" ]; then
    "$azul" train --out "$out" --resume --time-budget "$budget"
else
    "$azul" train --corpus "$corpora/$pair/train.tsv" --valid "$corpora/$pair/dev.tsv" --out "$out" \
        --time-budget "$budget"
fi
cut -f1 "$corpora/$pair/dev.tsv" > "$out/dev.src"
cut -f2 "$corpora/$pair/dev.tsv" > "$out/dev.ref"
for beam in 1 4; do
    "$azul" translate --model "$out" --beam $beam --verbose "$out/dev.src" > "$out/dev.beam$beam.hyp"
    echo "dev, beam $beam:"
    "$azul" bleu --ref "$out/dev.ref" "$out/dev.beam$beam.hyp" | tee "$out/dev.beam$beam.scores"
done
