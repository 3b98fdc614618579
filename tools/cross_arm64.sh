#!/bin/sh
# azul for 64-bit ARM (`make cross-arm64`): Debian's cross compiler builds
# bin/azul and the test binary into build/arm64/, and the tests that check
# numerics and parsing in-process run under qemu-user.  Correctness only:
# emulation says nothing about speed.  Some 90 s on two cores: installing
# the packages when they are missing 30 s, the build 30 to 40 s, the tests
# 30 to 45 s.
#
# 1. Installs what is missing with apt-get (through sudo when not root),
#    saying what: the cross compiler, qemu-user, and the arm64 builds of the
#    libraries azul links (Debian multiarch: arm64 is added to dpkg's
#    architectures first).  libgomp1:arm64 and libc6:arm64 are there for
#    the run, not the build; see 3.
# 2. Builds with the Makefile's internal targets (`build` and the test
#    binary), not `make test`, whose package check is the host's.
# 3. Runs the tests with qemu-aarch64 -L /, that is with the arm64 libraries
#    of the multiarch packages in /usr/lib/aarch64-linux-gnu.  Not with
#    -L /usr/aarch64-linux-gnu: that takes the dynamic loader from the cross
#    toolchain's copy of glibc but libc.so.6 from the multiarch one (where
#    utf8proc and the others are), and the two builds, mixed, hang in the
#    first pthread_create (that is, in OpenMP's first parallel region).
#
# Which tests: the groups in AZUL_TEST_GROUP below, with
# AZUL_TEST_WITHOUT_PROGRAM=1: a program under qemu-user cannot start
# another program of the emulated machine (without binfmt_misc, which this
# script leaves alone), so each test that starts bin/azul is reported as
# skipped.  That is every end-to-end group (cli, train, serve, the browser
# and MPI ones); they stay out of the list.  Floating point is emulated in
# software, 30 to 130 times slower than natively, so the tests that would
# take minutes are skipped by name (AZUL_TEST_SKIP below).  Both variables
# may be set from outside: AZUL_TEST_SKIP= (empty) runs the slow tests too,
# for more than half an hour more.
set -eu
cd "$(dirname "$0")/.."

CROSS_CC=aarch64-linux-gnu-gcc
BUILD_DIR=build/arm64

# ---------------------------------------------------------------- packages

host_packages="make gcc-aarch64-linux-gnu libc6-dev-arm64-cross"
command -v qemu-aarch64 >/dev/null 2>&1 || command -v qemu-aarch64-static >/dev/null 2>&1 ||
    host_packages="$host_packages qemu-user"
arm64_packages="libc6:arm64 libgomp1:arm64 libutf8proc-dev:arm64 libstb-dev:arm64 libcjson-dev:arm64"
arm64_packages="$arm64_packages libedit-dev:arm64 libmicrohttpd-dev:arm64 libcmocka-dev:arm64"

if ! command -v dpkg-query >/dev/null 2>&1; then
    echo "azul: the arm64 build needs Debian's packages (dpkg and apt-get):" >&2
    echo "      $host_packages $arm64_packages" >&2
    exit 1
fi
missing=""
for p in $host_packages $arm64_packages; do
    case "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)" in
        *"install ok installed"*) ;;
        *) missing="$missing $p" ;;
    esac
done
if [ -n "$missing" ]; then
    add_arch=""
    dpkg --print-foreign-architectures | grep -qx arm64 || add_arch="dpkg --add-architecture arm64 && "
    echo "azul: missing for the arm64 build:$missing"
    if [ "$(id -u)" -eq 0 ]; then
        sudo=""
    elif command -v sudo >/dev/null 2>&1; then
        sudo="sudo"
    else
        echo "azul: not root and no sudo; as root, run:" >&2
        echo "  ${add_arch}apt-get update && apt-get install -y --no-install-recommends$missing" >&2
        exit 1
    fi
    if [ -n "$add_arch" ]; then
        echo "azul: running: ${sudo:+$sudo }dpkg --add-architecture arm64"
        $sudo dpkg --add-architecture arm64
    fi
    # (the arm64 -dev packages must be the same versions as the host's copies
    # of the libraries they share files with: apt may upgrade those too)
    echo "azul: running: ${sudo:+$sudo }apt-get update && ${sudo:+$sudo }apt-get install -y --no-install-recommends$missing"
    $sudo apt-get update -qq
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing
    echo "azul: installed:$missing"
fi
qemu="qemu-aarch64"
command -v "$qemu" >/dev/null 2>&1 || qemu="qemu-aarch64-static"

# ---------------------------------------------------------------- build

# A make of its own, not a part of the one that may have started this
# script: none of the caller's variables (CC, SANITIZE, MPI...) or job
# server, the flags here only.
unset MAKEFLAGS MFLAGS MAKELEVEL
start=$(date +%s)
echo "azul: building for arm64 ($CROSS_CC) into $BUILD_DIR/"
make --no-print-directory -j"$(nproc 2>/dev/null || echo 2)" CC="$CROSS_CC" \
    BUILD="$BUILD_DIR" BINDIR="$BUILD_DIR/bin" ARCH_FLAGS= MPI= SANITIZE= NO_OMP= FUZZ= \
    build "$BUILD_DIR/bin/azul-tests"
built=$(date +%s)
echo "azul: built $BUILD_DIR/bin/azul and azul-tests in $((built - start)) s"

# ---------------------------------------------------------------- tests

: "${AZUL_TEST_GROUP=core_tests,utf8_tests,normalize_tests,pretokenize_tests,tokenizer_tests,corpus_tests,bleu_vector_tests,bleu_rule_tests,layer_tests,matmul_tests,op_gradient_tests,model_tests,parity_tests,optimizer_tests,data_parallel_tests,decoding_tests,attention_tests,average_tests,train_option_tests,recipe_tests,hostile_file_tests,hostile_input_tests}"
# Under qemu: each finite-difference check of the whole model some ten
# minutes (4 s natively), the attention check over every mask more than one
# (3 s).  parity_tests still checks the whole model's gradients against
# PyTorch's, and op_gradient_tests each operation's.  (learning_tests, which
# trains for minutes, is left out of the groups.)
: "${AZUL_TEST_SKIP=post_ln_model_gradients_match_finite_differences,pre_ln_tied_model_gradients_match_finite_differences,slightly_wrong_gradients_fail_the_check,attention_backward_matches_for_every_mask}"
export AZUL_TEST_GROUP AZUL_TEST_SKIP
export AZUL_TEST_WITHOUT_PROGRAM=1
echo "azul: running the tests under $qemu (AZUL_TEST_GROUP and AZUL_TEST_SKIP: see $0)"
status=0
env -u AZUL_KERNEL "$qemu" -L / "$BUILD_DIR/bin/azul-tests" || status=$?
echo "azul: arm64 tests took $(($(date +%s) - built)) s (build $((built - start)) s)"
exit $status
