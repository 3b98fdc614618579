#!/bin/sh
# azul's matmul against OpenBLAS, once per instruction-set path this CPU runs
# (`make bench`).  Each path is compared with OpenBLAS's kernels of the same
# generation: the AVX2 path with OPENBLAS_CORETYPE=Haswell (its AVX2 + FMA
# kernels, which Zen 1-3 use too), the AVX-512 path with SkylakeX, and the
# generic path with OpenBLAS's own choice.
#
#   tools/bench_matmul.sh BENCH_MATMUL [ARGS...]     ARGS go to each run
set -eu
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
