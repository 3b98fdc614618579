#!/bin/sh
# Data parallelism over MPI on this machine: the same training (a slice of
# a real corpus, a fixed number of steps, the same global batch) as one
# process of 2 threads and as `mpirun -np 2` ranks of 1 thread each, RUNS
# times each, the two interleaved so that the machine's noise falls on both;
# prints the medians of the target tokens per second, their ratio, and the
# gradients' all-reduce time per step (the "world" event of train.log).
# Both use build/mpi/bin/azul, built here with `make MPI=1` if missing.
#
#   tools/bench_mpi.sh CORPUS_DIR [RUNS]          (default 3)
set -eu
corpus=$1
runs=${2:-3}
azul=build/mpi/bin/azul
command -v mpirun > /dev/null || { echo "bench: mpirun not found (Debian's openmpi-bin)" >&2; exit 1; }
[ -x "$azul" ] || make --no-print-directory MPI=1 BUILD=build/mpi BINDIR=build/mpi/bin build > /dev/null
if [ "$(id -u)" = 0 ]; then export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1; fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
head -n 20000 "$corpus/train.tsv" > "$work/train.tsv"
head -n 50 "$corpus/dev.tsv" > "$work/dev.tsv"

# one run: name, steps, preset, threads a process, then how to start azul; appends
# "name tokens/s allreduce-ms step-ms" to $work/results
run() {
    name=$1 steps=$2 preset=$3 threads=$4
    shift 4
    rm -rf "$work/out"
    "$@" train --corpus "$work/train.tsv" --valid "$work/dev.tsv" --out "$work/out" --preset "$preset" \
        --vocab-size 4000 --batch-tokens 4096 --steps "$steps" --valid-every 100000 --average 0 \
        --threads "$threads" --seed 1 > "$work/stdout" 2>&1 || { cat "$work/stdout" >&2; exit 1; }
    grep '"event": "world"' "$work/out/train.log" | tail -n 1 | sed 's/[{}",:]/ /g' | awk -v name="$name" '{
        for (i = 1; i < NF; i++) v[$i] = $(i + 1)
        printf "%s %.1f %.4f %.4f\n", name, v["tokens_per_s_per_rank"] * v["ranks"], v["allreduce_ms_per_step"], v["step_ms"]
    }' >> "$work/results"
}

for spec in "toy 200" "small 30"; do
    set -- $spec
    preset=$1 steps=$2
    : > "$work/results"
    for _ in $(seq "$runs"); do
        run one "$steps" "$preset" 2 "$azul"
        run two "$steps" "$preset" 1 mpirun --oversubscribe -np 2 "$azul"
    done
    median() {  # median of column $2 over the lines named $1
        awk -v name="$1" -v col="$2" '$1 == name {print $col}' "$work/results" | sort -g |
            awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'
    }
    one=$(median one 2) two=$(median two 2)
    echo "mpi: $preset preset, $steps steps of 4096 tokens on 20,000 pairs of $(basename "$corpus"), median of $runs runs"
    printf '  1 rank  x 2 threads   %8.0f target tokens/s\n' "$one"
    printf '  2 ranks x 1 thread    %8.0f target tokens/s  (%.2fx), all-reduce %.2f ms of a %.1f ms step\n' \
        "$two" "$(echo "$two $one" | awk '{print $1 / $2}')" "$(median two 3)" "$(median two 4)"
done
