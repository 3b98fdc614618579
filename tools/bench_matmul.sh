#!/bin/sh
# azul's matmul against OpenBLAS, once per instruction-set path this CPU runs
# (`make bench`).  Each path is compared with OpenBLAS's kernels of the same
# generation: the AVX2 path with OPENBLAS_CORETYPE=Haswell (its AVX2 + FMA
# kernels, which Zen 1-3 use too), the AVX-512 path with SkylakeX, and the
# generic path with OpenBLAS's own choice.
#
#   tools/bench_matmul.sh BENCH_MATMUL [ARGS...]     ARGS go to each run
set -eu
# Both libraries' threads spin after a product, waiting for the next: for
# some 3 ms (libgomp) and 0.1 s (OpenBLAS's own pool).  Interleaved, each
# then holds a core the other's next product needs, and both fall to a
# fraction of their speed at random.  Short waits on both sides (azul's
# program sets the same spin for itself: cli/azul.c).
export GOMP_SPINCOUNT=10000 OPENBLAS_THREAD_TIMEOUT=4
bench=$1
shift
for path in $("$bench" --paths); do
    case $path in
        avx512) coretype=SkylakeX ;;
        avx2) coretype=Haswell ;;
        *) coretype= ;;
    esac
    echo
    if [ -n "$coretype" ]; then
        AZUL_KERNEL=$path OPENBLAS_CORETYPE=$coretype "$bench" "$@"
    else
        AZUL_KERNEL=$path env -u OPENBLAS_CORETYPE "$bench" "$@"
    fi
done
