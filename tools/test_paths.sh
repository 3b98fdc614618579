#!/bin/sh
# The suite's numeric groups once more on every other matmul path this CPU
# can run (`make test-paths`, which CI runs after `make test`): `make test`
# runs the fastest path, and a path nobody runs would rot unseen.  Neither
# the reference kernel nor the matmul group needs a run here: that group
# already runs every path the CPU has, each against the reference.
#
#   tools/test_paths.sh AZUL_TESTS
#
# Ends with one line "N passed, N failed" over all the paths.
set -eu
tests=$1
# short spins, as bin/azul and `make test` run (the Makefile's run-tests)
if [ -z "${OMP_WAIT_POLICY:-}${GOMP_SPINCOUNT:-}" ]; then export GOMP_SPINCOUNT=10000; fi
groups=op_gradient_tests,model_tests,parity_tests,optimizer_tests,learning_tests
groups=$groups,decoding_tests,attention_tests,data_parallel_tests

flags=$(grep -m1 '^flags' /proc/cpuinfo 2>/dev/null || true)
has() { echo "$flags" | grep -qw "$1"; }
best=generic
paths=""
if has avx2 && has fma; then best=avx2; paths="generic"; fi
if has avx512f && has fma; then best=avx512; paths="generic avx2"; fi
case $(uname -m) in x86_64) ;; *) best=generic paths="" ;; esac

passed=0 failed=0
for path in $paths; do
    echo "== the numeric groups on the $path kernels ($best ran in make test)"
    for group in $(echo "$groups" | tr ',' ' '); do
        log=$(mktemp)
        status=0
        AZUL_KERNEL=$path AZUL_TEST_GROUP=$group "$tests" > "$log" 2>&1 || status=$?
        summary=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$log" | tail -1)
        if [ -z "$summary" ]; then
            cat "$log"
            echo "$group on the $path kernels ended without a summary (status $status)"
            failed=$((failed + 1))
        else
            echo "  $group: $summary"
            passed=$((passed + $(echo "$summary" | cut -d' ' -f1)))
            failed=$((failed + $(echo "$summary" | cut -d' ' -f3)))
            if [ "$status" -ne 0 ]; then cat "$log"; fi
        fi
        rm -f "$log"
    done
done
[ -n "$paths" ] || echo "only the $best kernels run on this CPU: make test ran them"
echo
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
