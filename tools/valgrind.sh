#!/bin/sh
# Runs each of azul's commands once under valgrind's memcheck (`make valgrind`;
# the matmul is held to a path valgrind decodes: see below):
#
#   tools/valgrind.sh AZUL DIR        (DIR is emptied first)
#
# A short training of the toy corpus and its --resume, translations from a
# file and from standard input, the prompt (piped, and on a terminal through
# script(1) so that libedit reads it), the attention views, tokenize and
# bleu.  Everything they write goes to DIR, with one memcheck log per command
# (DIR/NAME.vg.log) beside its output (DIR/NAME.out, DIR/NAME.err).
#
# One line per command; exits 1 if any command had a memcheck error
# (invalid access, uninitialised value, bad free...) or a definite leak, or
# failed.  Possible leaks and still-reachable blocks are listed in the logs
# but pass: libgomp's pool threads keep their thread-local storage to the
# end (a possible leak), and azul's matmul keeps its packing buffers for the
# whole run on purpose (still reachable).  VALGRIND_FLAGS adds flags, e.g.
# VALGRIND_FLAGS=--track-origins=yes to find where an uninitialised value
# came from (slower).
set -eu

if [ $# -ne 2 ]; then
    echo "usage: tools/valgrind.sh AZUL DIR" >&2
    exit 2
fi
azul=$1 dir=$2
data=data/toy-en-es

# An exit status of its own, so that a memcheck error is told apart from
# azul's own failures (1 and 2).
VG_ERROR=99
vg_flags="--tool=memcheck --error-exitcode=$VG_ERROR --leak-check=full
    --errors-for-leak-kinds=definite --show-leak-kinds=definite,possible
    --num-callers=30 ${VALGRIND_FLAGS:-}"

# valgrind runs one thread at a time: a libgomp thread spinning while it
# waits for work would hold up the one that has some.
export OMP_WAIT_POLICY=passive
# valgrind cannot decode AVX-512: the matmul runs its AVX2 path (or, on a CPU
# without AVX2, the generic one) instead of the best one the CPU offers.
if grep -qw avx2 /proc/cpuinfo 2>/dev/null; then
    export AZUL_KERNEL=avx2
else
    export AZUL_KERNEL=generic
fi

rm -rf "$dir"
mkdir -p "$dir"
failed=""

# The numbers the summary lines of a memcheck log give ("0" when memcheck,
# finding no block left at all, prints no leak summary).
count_errors() { sed -n 's/.*ERROR SUMMARY: \([0-9,]*\) errors.*/\1/p' "$1" | tail -n 1; }
definitely_lost() {
    lost=$(sed -n 's/.*definitely lost: \([0-9,]*\) bytes.*/\1/p' "$1" | tail -n 1)
    echo "${lost:-0}"
}

# report NAME STATUS SECONDS: the line for one command; a failure is noted.
report() {
    name=$1 status=$2 seconds=$3 log=$dir/$1.vg.log
    errors=$(count_errors "$log") lost=$(definitely_lost "$log")
    line=$(printf '%-18s %s errors, %s bytes definitely lost, %3d s' "$name" "${errors:-?}" "$lost" "$seconds")
    if [ "$status" -eq 0 ] && [ "${errors:-1}" = 0 ] && [ "$lost" = 0 ]; then
        echo "ok    $line"
        return
    fi
    if [ "$status" -eq 0 ] || [ "$status" -eq "$VG_ERROR" ]; then
        why="see $log"
    elif [ "$status" -gt 128 ]; then
        # valgrind dies of the signal that killed azul (SIGILL: an
        # instruction valgrind cannot decode)
        why="killed by signal $((status - 128)): see $log"
    else
        why="azul exited with $status: see $dir/$name.err and $log"
    fi
    echo "FAIL  $line  ($why)"
    failed="$failed $name"
}

# check NAME INPUT ARGS...: azul ARGS under memcheck, its standard input from
# INPUT, one OpenMP thread unless ARGS say otherwise (train --threads).
check() {
    name=$1 input=$2
    shift 2
    start=$(date +%s)
    status=0
    # shellcheck disable=SC2086  # vg_flags is a list of words
    OMP_NUM_THREADS=1 valgrind $vg_flags --log-file="$dir/$name.vg.log" \
        "$azul" "$@" < "$input" > "$dir/$name.out" 2> "$dir/$name.err" || status=$?
    report "$name" "$status" $(($(date +%s) - start))
}

# `azul translate --model MODEL` on a terminal: script(1) gives it a
# pseudo-terminal as its standard input and output, so that the prompt reads
# through libedit as it does for a person.  The command reaches script's
# shell through the environment, which keeps each path one word whatever it
# holds.
prompt_on_terminal() {
    name=$1 input=$2 on_model=$3
    start=$(date +%s)
    status=0
    # shellcheck disable=SC2016  # expanded by script's shell, not this one
    VG_FLAGS=$vg_flags VG_LOG=$dir/$name.vg.log VG_AZUL=$azul VG_MODEL=$on_model OMP_NUM_THREADS=1 \
        script -qec 'exec valgrind $VG_FLAGS --log-file="$VG_LOG" "$VG_AZUL" translate --model "$VG_MODEL"' \
        /dev/null < "$input" > "$dir/$name.out" 2> "$dir/$name.err" || status=$?
    report "$name" "$status" $(($(date +%s) - start))
}

model=$dir/model
cut -f 1 "$data/dev.tsv" | head -n 3 > "$dir/sources.txt"
cut -f 2 "$data/dev.tsv" | head -n 3 > "$dir/references.txt"

# Two steps, a validation and a checkpoint at the second; then two more from
# that checkpoint.  The resumed run uses two threads, so that the per-thread
# buffers of the parallel loops are checked too.
check train /dev/null train --corpus "$data/train.tsv" --valid "$data/dev.tsv" --out "$model" \
    --preset toy --steps 2 --batch-tokens 256 --warmup 10 --valid-every 2 --valid-sentences 2 \
    --log-every 1 --threads 1
check train-resume /dev/null train --out "$model" --resume --steps 4 \
    --threads 2

# The model has trained four steps: its translations run on to the length
# limit, which makes them slow under valgrind, so greedy and beam 2 only.
# Standard input also holds a blank line and one that is not UTF-8 (a
# warning and an empty line out).
{ cat "$dir/sources.txt"; echo; printf 'not \377 UTF-8\n'; } > "$dir/stdin.txt"
check translate-file /dev/null translate --model "$model" --beam 1 --verbose "$dir/sources.txt"
check translate-stdin "$dir/stdin.txt" translate --model "$model" --beam 2 --n-best 2 --alignment

# The prompt's commands, with a bad argument and an unknown one among them.
printf '%s\n' 'The cat' ':' ':help' ':beam 2' ':nbest x' ':nbest 2' 'The dog sees the cat' \
    ':tokens' ':attn' ':beam 99' ':bogus' ':quit' > "$dir/prompt.txt"
check prompt-piped "$dir/prompt.txt" translate --model "$model" --interactive
if command -v script > /dev/null 2>&1; then
    prompt_on_terminal prompt-terminal "$dir/prompt.txt" "$model"
else
    echo "skip  prompt-terminal    (no script(1) here: util-linux's bsdutils on Debian)"
fi

sentence="The black cat drank the milk"
check attention /dev/null attention --model "$model" "$sentence"
check attention-explain /dev/null attention --model "$model" --explain '#1' "$sentence"
check attention-json /dev/null attention --model "$model" --format json -o "$dir/attention.json" "$sentence"
check attention-html /dev/null attention --model "$model" --format html -o "$dir/attention.html" \
    --target "El gato negro bebió la leche" "$sentence"
check attention-align /dev/null attention --model "$model" --align "$sentence"

check tokenize "$dir/sources.txt" tokenize --model "$model" --side src
check tokenize-stats /dev/null tokenize --model "$model" --stats --corpus "$data/dev.tsv"
check bleu /dev/null bleu --ref "$dir/references.txt" "$dir/translate-file.out"

if [ -n "$failed" ]; then
    echo "valgrind: memcheck errors, definite leaks or failures in:$failed" >&2
    exit 1
fi
echo "valgrind: every command ran clean under memcheck (logs in $dir)"
