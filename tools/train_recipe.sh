#!/bin/sh
# The real-corpus recipe: train the small preset with BPE on a Tatoeba pair
# from ../shared/corpora under a time budget, then translate the whole dev set
# greedily and score it with azul bleu.  Used by `make spa-eng` / `make fra-eng`.
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
        --preset small --tokenizer bpe --vocab-size 8000 \
        --batch-tokens 4096 --lr 1e-3 --warmup 800 --dropout 0.1 --label-smoothing 0.1 \
        --time-budget "$budget" --valid-every 400 --valid-sentences 200 --log-every 50 --patience 0
fi
cut -f1 "$corpora/$pair/dev.tsv" > "$out/dev.src"
cut -f2 "$corpora/$pair/dev.tsv" > "$out/dev.ref"
"$azul" translate --model "$out" "$out/dev.src" > "$out/dev.hyp"
"$azul" bleu --ref "$out/dev.ref" "$out/dev.hyp" | tee "$out/dev.scores"
