#!/usr/bin/env bash
# Tokenizer benchmark: azul's BPE against SentencePiece's, side by side, on
# the same corpus, same vocabulary size, one tokenizer per side.
#
#   tools/bench_tokenizer.sh [CORPUS.tsv] [VOCAB_SIZE] [RUNS]
#
# Reports the median wall time of learning (both sides) and of encoding every
# sentence of the file, and tokens per sentence on each side.
set -euo pipefail
corpus=${1:-../shared/corpora/spa-eng/train.tsv}
vocab=${2:-8000}
runs=${3:-5}
azul=${AZUL:-bin/azul}
[ -r "$corpus" ] || { echo "bench: corpus $corpus not found" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

median() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
seconds() {  # wall seconds of a command, its output discarded
    local start end
    start=$(date +%s.%N); "$@" >/dev/null 2>&1; end=$(date +%s.%N)
    awk -v s="$start" -v e="$end" 'BEGIN { print e - s }'
}

echo "corpus: $corpus ($(wc -l <"$corpus") lines), vocabulary $vocab per side, median of $runs runs"
echo

cut -f1 "$corpus" >"$work/src.txt"
cut -f2 "$corpus" >"$work/tgt.txt"

have_spm=0
command -v spm_train >/dev/null && have_spm=1

for ((r = 0; r < runs; r++)); do
    seconds "$azul" tokenize --learn --corpus "$corpus" -o "$work/azul.json" --vocab-size "$vocab" >>"$work/azul_learn"
    seconds "$azul" tokenize --model "$work/azul.json" --stats --corpus "$corpus" >>"$work/azul_encode"
    if ((have_spm)); then
        spm_learn() {
            spm_train --input="$work/src.txt" --model_prefix="$work/spm_src" --model_type=bpe \
                --vocab_size="$vocab" --character_coverage=1.0 --num_threads=2 &&
            spm_train --input="$work/tgt.txt" --model_prefix="$work/spm_tgt" --model_type=bpe \
                --vocab_size="$vocab" --character_coverage=1.0 --num_threads=2
        }
        spm_encode_both() {
            spm_encode --model="$work/spm_src.model" --output_format=piece <"$work/src.txt" >"$work/spm_src.out" &&
            spm_encode --model="$work/spm_tgt.model" --output_format=piece <"$work/tgt.txt" >"$work/spm_tgt.out"
        }
        seconds spm_learn >>"$work/spm_learn"
        seconds spm_encode_both >>"$work/spm_encode"
    fi
done

stats=$("$azul" tokenize --model "$work/azul.json" --stats --corpus "$corpus")
azul_src=$(echo "$stats" | awk '/^source:/ {print $6}')
azul_tgt=$(echo "$stats" | awk '/^target:/ {print $6}')
printf '%-16s %12s %12s %14s %14s\n' tool "learn (s)" "encode (s)" "src tok/sent" "tgt tok/sent"
printf '%-16s %12.2f %12.2f %14s %14s\n' azul "$(median <"$work/azul_learn")" \
    "$(median <"$work/azul_encode")" "$azul_src" "$azul_tgt"
if ((have_spm)); then
    spm_src=$(awk '{n += NF} END {printf "%.3f", n / NR}' "$work/spm_src.out")
    spm_tgt=$(awk '{n += NF} END {printf "%.3f", n / NR}' "$work/spm_tgt.out")
    printf '%-16s %12.2f %12.2f %14s %14s\n' sentencepiece "$(median <"$work/spm_learn")" \
        "$(median <"$work/spm_encode")" "$spm_src" "$spm_tgt"
else
    echo "(sentencepiece not installed: apt-get install sentencepiece for the comparison)"
fi
echo
echo "azul encode includes reading the corpus and normalising; spm_encode reads one side per process."
