# azul — an encoder-decoder Transformer translator in C.
#
#   make            build bin/azul
#   make test       build and run the test suite (installs missing Debian packages first)
#   make test-paths the numeric tests again on every other matmul path this CPU has
#   make sanitize   the same suite under AddressSanitizer + UndefinedBehaviorSanitizer
#   make demo       train the toy en→es model and open the translator
#   make bench      benchmarks (speed figures are quoted from here, never from tests)
#   make layers     check that every #include looks down the layers (`make test` runs it first)
#   make function-length  fail on any function longer than 100 lines outside tests/ (`make test` runs it)
#   make fuzz       build the libFuzzer harnesses (clang) and run each FUZZ_SECONDS (default 60)
#   make fuzz-regressions  replay the saved findings (tests/fuzz/regressions/) once each
#   make valgrind   a short train, resume, translate, prompt and attention under memcheck
#   make MPI=1      build bin/azul with Open MPI's mpicc, for `mpirun -np N bin/azul train ...`
#   make deps       only install the missing Debian packages
#   make clean      remove build products
#
# Options: NO_OMP=1 builds without OpenMP; CC=clang picks another compiler;
# ARCH_FLAGS=-march=native compiles all but the matmul kernels (which have one
# path per instruction set, chosen at run time) for this CPU alone.

CC      ?= cc
MPI     ?=
# MPI=1 keeps its objects apart (build/mpi/), and links bin/azul from them.
BUILD   ?= $(if $(MPI),build/mpi,build)
BINDIR  ?= bin
SANITIZE ?=

# Every public target first makes sure the Debian packages are there, then
# re-runs make, so that the compiler checks below see the installed compiler.
.PHONY: all deps build test test-paths run-tests sanitize demo bench layers function-length clean help
.PHONY: fuzz fuzz-regressions fuzz-build fuzz-seeds valgrind
all: deps
	@$(MAKE) --no-print-directory build

deps:
	@sh tools/deps.sh $(if $(MPI),openmpi-bin libopenmpi-dev)

# The builds run one job per core (JOBS=1 for one at a time); the suite
# itself runs once, after them.
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
test: deps
	@$(MAKE) --no-print-directory -j$(JOBS) run-tests

# The numeric groups again on every other matmul path the CPU runs (CI).
test-paths: deps
	@$(MAKE) --no-print-directory -j$(JOBS) $(AZUL) $(AZUL_TESTS)
	@sh tools/test_paths.sh $(AZUL_TESTS)

# Under the sanitizers the matmul kernels run some three times slower, and
# three tests that check numbers, not memory, took a third of the run (CI
# has 20 minutes): they are reported as skipped there and run in make test
# (`AZUL_TEST_SKIP= make sanitize` runs them too).
# every_path_translates_and_trains_as_the_reference compares the kernel
# paths' translations and losses (each path's products still run under the
# sanitizers, in products_match_double_precision); learns_to_reverse_sequences
# is 1,000 steps of the training step overfits_one_fixed_batch runs 150 times;
# slightly_wrong_gradients_fail_the_check checks the checker's sensitivity on
# the code post_ln_model_gradients_match_finite_differences runs.
SANITIZE_SKIP = every_path_translates_and_trains_as_the_reference,learns_to_reverse_sequences,slightly_wrong_gradients_fail_the_check
sanitize: deps
	@AZUL_TEST_SKIP=$${AZUL_TEST_SKIP-$(SANITIZE_SKIP)} $(MAKE) --no-print-directory -j$(JOBS) BUILD=build/sanitize BINDIR=build/sanitize/bin SANITIZE=1 run-tests

# The demo trains on the bundled English→Spanish corpus with no flags but the
# files (the recipe chooses the toy preset and the rest; some 21 s
# on two AVX2 cores), then opens the translator: a prompt on a
# terminal, or a few sample translations otherwise (so it is safe in CI).
DEMO_DIR = build/demo
DEMO_SENTENCES = The ball is blue|The black cat drank the milk|The dogs are white|Is the truck red?|The girl sees the small bird
demo: all
	@rm -rf $(DEMO_DIR)
	$(BINDIR)/azul train --corpus data/toy-en-es/train.tsv --valid data/toy-en-es/dev.tsv --out $(DEMO_DIR)
	@if [ -t 0 ] && [ -t 1 ]; then \
	    $(BINDIR)/azul translate --model $(DEMO_DIR); \
	else \
	    echo '$(DEMO_SENTENCES)' | tr '|' '\n' > $(DEMO_DIR)/samples.txt; \
	    $(BINDIR)/azul translate --model $(DEMO_DIR) $(DEMO_DIR)/samples.txt > $(DEMO_DIR)/samples.out; \
	    paste $(DEMO_DIR)/samples.txt $(DEMO_DIR)/samples.out | sed 's/\t/  →  /'; \
	fi
	@echo
	@echo "See its translations and attention in your browser (and drag through training):"
	@echo "  $(BINDIR)/azul serve --model $(DEMO_DIR)     then open http://127.0.0.1:8080/"

# The real-corpus recipe (see README): the time budget, and azul train's recipe.
BUDGET ?= 30m
.PHONY: spa-eng fra-eng
spa-eng fra-eng: all
	sh tools/train_recipe.sh $@ $(BUDGET)

# The comparison with PyTorch needs Debian's python3-torch on OpenBLAS: with
# only the reference BLAS behind libblas.so.3 it runs ~25x slower, so
# libopenblas0-pthread is installed first, in its own call.  Each of azul's
# x86 matmul paths the CPU has (AZUL_KERNEL) is compared with OpenBLAS's
# kernels of the same generation (OPENBLAS_CORETYPE=Haswell for avx2,
# SkylakeX for avx512), for sgemm and for PyTorch alike: an AVX-512 machine
# thus measures the AVX2 path too.
bench: deps
	@sh tools/deps.sh sentencepiece
	@sh tools/deps.sh libopenblas0-pthread libopenblas-dev
	@sh tools/deps.sh python3-torch
	@$(MAKE) --no-print-directory build $(BUILD)/bench_matmul
	sh tools/bench_matmul.sh $(BUILD)/bench_matmul
	sh tools/bench_busy_core.sh $(BINDIR)/azul 3
	tools/bench_tokenizer.sh ../shared/corpora/spa-eng/train.tsv 8000 5
	tools/bench_translate_memory.sh ../shared/corpora/spa-eng 500
	@sh tools/deps.sh wrk
	AZUL=$(BINDIR)/azul sh tools/bench_serve.sh 200 60
	@sh tools/deps.sh openmpi-bin libopenmpi-dev
	@$(MAKE) --no-print-directory MPI=1 BUILD=build/mpi BINDIR=build/mpi/bin SANITIZE= build
	sh tools/bench_mpi.sh ../shared/corpora/spa-eng 3
	for path in $$($(BUILD)/bench_matmul --paths | grep -v generic); do \
	    /usr/bin/python3 tools/bench_vs_torch.py --azul $(BINDIR)/azul --kernel $$path \
	        --out $(BUILD)/bench_vs_torch_$$path.md || exit 1; \
	done

# Each command once under valgrind's memcheck (tools/valgrind.sh), from its
# own build in build/valgrind/.  valgrind 3.19 cannot decode AVX-512, and
# stops at the first such instruction with "Illegal instruction": the script
# forces the AVX2 matmul path (or the generic one where the CPU lacks AVX2).
# Any memcheck error or definite leak fails.  A few minutes: a valgrind run
# is some 30-50 times slower.
VALGRIND_BUILD := build/valgrind
valgrind: deps
	@sh tools/deps.sh valgrind
	@$(MAKE) --no-print-directory BUILD=$(VALGRIND_BUILD) BINDIR=$(VALGRIND_BUILD)/bin build
	@sh tools/valgrind.sh $(VALGRIND_BUILD)/bin/azul $(VALGRIND_BUILD)/runs

# A file includes headers of its own folder or of lower layers only (the table
# is at the top of tools/check_layers.sh); an upward include fails `make test`.
layers:
	@sh tools/check_layers.sh

function-length:
	@sh tools/check_function_length.sh

help:
	@sed -n '3,/^$$/p' Makefile

clean:
	rm -rf build bin

# ---------------------------------------------------------------- flags

try_flag = $(shell echo 'int main(void){return 0;}' | $(CC) $(1) -x c - -o /dev/null 2>/dev/null && echo $(1))

CFLAGS  = -std=c11 -O2 -g -Wall -Wextra -Werror -D_POSIX_C_SOURCE=200809L -I.
# The instruction set: the compiler's baseline by default (x86-64 with SSE2,
# or ARMv8 with NEON), so that the program runs on any CPU of its kind; the
# matmul, where the time goes, has kernels for wider instruction sets and
# picks one at start-up (model/cpu_kernel.h).  ARCH_FLAGS=-march=native
# compiles the rest for this CPU too (some 10% faster on the toy preset),
# for a binary that will not be copied to another machine.
ARCH_FLAGS ?=
CFLAGS += $(if $(ARCH_FLAGS),$(call try_flag,$(ARCH_FLAGS)))
# Without AVX-512, GCC warns that a function returning a 64-byte vector has
# another ABI than with it.  azul's vector functions are all static, so no
# call crosses a file compiled differently: the warning does not apply.
CFLAGS += -Wno-psabi
# stb_ds.h takes the address of rvalue keys with GNU `typeof`, which strict
# -std=c11 spells only as __typeof__.
CFLAGS += -Dtypeof=__typeof__
# Let a * b + c become one fused multiply-add (strict ISO mode forbids it by
# default); results stay deterministic, and the matmul kernel doubles in speed.
CFLAGS += -ffp-contract=fast
# GCC's -O2 vectorises only loops that need no epilogue or runtime check
# ("very cheap"): most of the element-wise `omp simd` loops (ReLU's backward,
# dropout, the residuals) stayed scalar, with a branch per element.
CFLAGS += $(call try_flag,-fvect-cost-model=dynamic)
# azul never reads errno after a math call; without this a loop calling
# sqrtf (AdamW's) stays scalar, since each call might have to set errno.
CFLAGS += -fno-math-errno
# azul never traps on floating-point exceptions; assuming it might, GCC keeps
# a branch for each comparison in a loop (the clamps of fast_expf, so the
# loss's exponentials ran one at a time).  Results are unchanged.
CFLAGS += -fno-trapping-math
# The server's threads share one model (azul serve): -pthread.
CFLAGS += -pthread
LDFLAGS += -pthread
LDLIBS  = -lutf8proc -lcjson -lstb -ledit -lmicrohttpd -lm

# Training over MPI (train/world.h): Open MPI's compiler wrapper adds its
# headers and libraries; AZUL_MPI turns the collectives on.
ifneq ($(MPI),)
CC = mpicc
CFLAGS += -DAZUL_MPI
endif

ifeq ($(NO_OMP),)
OPENMP := $(call try_flag,-fopenmp)
CFLAGS += $(OPENMP)
LDFLAGS += $(OPENMP)
else
# Without OpenMP the `omp simd` hints still vectorise; the thread pragmas are ignored.
CFLAGS += $(call try_flag,-fopenmp-simd) -Wno-unknown-pragmas
endif

ifneq ($(SANITIZE),)
CFLAGS  += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDFLAGS += -fsanitize=address,undefined
endif

# The fuzzing build (clang only): every object carries libFuzzer's coverage
# hooks and ASan + UBSan; undefined behaviour aborts, so that it is a finding.
# (The instrumentation keeps `omp simd` loops scalar, which clang would
# otherwise report as an error.)
ifneq ($(FUZZ),)
CFLAGS  += -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
CFLAGS  += -Wno-pass-failed
LDFLAGS += -fsanitize=fuzzer,address,undefined
endif

# ---------------------------------------------------------------- sources

LIB_SRC  := $(wildcard core/*.c tokenizer/*.c eval/*.c model/*.c infer/*.c train/*.c inspect/*.c serve/*.c cli/*.c)
MAIN_SRC := cli/azul.c
# The matmul's inner loops are built once per instruction set, each object
# with its own -m flags, and the program picks one at start-up from what the
# CPU reports (model/cpu_kernel.h): the x86 paths on x86-64 only.
KERNEL_SRC := model/matmul_kernels.c
LIB_SRC  := $(filter-out $(MAIN_SRC) $(KERNEL_SRC),$(LIB_SRC))
TARGET_MACHINE := $(shell $(CC) -dumpmachine 2>/dev/null)
KERNEL_PATHS := generic $(if $(filter x86_64%,$(TARGET_MACHINE)),avx2 avx512)
KERNEL_OBJ := $(KERNEL_PATHS:%=$(BUILD)/model/matmul_kernels_%.o)
TEST_SRC := $(wildcard tests/*.c)
# The pages' code and looks, kept in files of their own and built into the
# program as strings (tools/embed.sh): attention_view.js becomes
# `const char attention_view_js[]`.
EMBED_SRC := $(wildcard inspect/*.js inspect/*.css serve/*.js serve/*.css serve/*.html)
EMBED_OBJ := $(EMBED_SRC:%=$(BUILD)/embedded/%.o)

LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/%.o) $(KERNEL_OBJ) $(EMBED_OBJ)
MAIN_OBJ := $(MAIN_SRC:%.c=$(BUILD)/%.o)
TEST_OBJ := $(TEST_SRC:%.c=$(BUILD)/%.o)

AZUL       := $(BINDIR)/azul
AZUL_TESTS := $(BINDIR)/azul-tests

build: $(AZUL)

# bin/azul is linked again when it was last linked from another build
# (make MPI=1 after a plain make, or back), which its objects alone would not tell.
LINK_STAMP := $(BINDIR)/.azul-linked-from
$(LINK_STAMP): FORCE
	@mkdir -p $(@D)
	@echo '$(BUILD) $(BUILD_FLAGS)' | cmp -s - $@ || echo '$(BUILD) $(BUILD_FLAGS)' > $@

$(AZUL): $(MAIN_OBJ) $(LIB_OBJ) $(LINK_STAMP)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $(filter-out $(LINK_STAMP),$^) $(LDLIBS)

# The tests make allocations fail on demand (tests/failing_alloc.c).
WRAP_ALLOCATIONS = -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,--wrap=strdup
$(AZUL_TESTS): $(TEST_OBJ) $(LIB_OBJ)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) $(WRAP_ALLOCATIONS) -o $@ $^ $(LDLIBS) -lcmocka

# The tests run the real program for end-to-end checks; tell them where it is.
$(BUILD)/tests/%.o: CFLAGS += -DAZUL_BIN='"$(AZUL)"' -DAZUL_MPI_BIN='"$(MPI_AZUL)"'

# Objects are rebuilt when the flags change (NO_OMP=1 after a plain make, say).
# (:= takes the global flags now, before any target-specific additions.)
FLAGS_STAMP := $(BUILD)/flags.txt
BUILD_FLAGS := $(CC) $(CFLAGS) $(LDFLAGS)
$(FLAGS_STAMP): FORCE
	@mkdir -p $(@D)
	@echo '$(BUILD_FLAGS)' | cmp -s - $@ || echo '$(BUILD_FLAGS)' > $@
.PHONY: FORCE
FORCE:

$(BUILD)/%.o: %.c $(FLAGS_STAMP)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -MMD -MP -c -o $@ $<

$(BUILD)/model/matmul_kernels_generic.o: KERNEL_FLAGS = -DMATMUL_GENERIC
$(BUILD)/model/matmul_kernels_avx2.o: KERNEL_FLAGS = -DMATMUL_AVX2 -mavx2 -mfma
$(BUILD)/model/matmul_kernels_avx512.o: KERNEL_FLAGS = -DMATMUL_AVX512 -mavx512f -mavx2 -mfma
$(KERNEL_OBJ): $(BUILD)/model/matmul_kernels_%.o: $(KERNEL_SRC) $(FLAGS_STAMP)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(KERNEL_FLAGS) -MMD -MP -c -o $@ $<

$(BUILD)/embedded/%.c: % tools/embed.sh
	@mkdir -p $(@D)
	@sh tools/embed.sh $< $(subst .,_,$(notdir $<)) > $@

$(BUILD)/embedded/%.o: $(BUILD)/embedded/%.c $(FLAGS_STAMP)
	$(CC) $(CFLAGS) -c -o $@ $<

# azul's matmul against OpenBLAS (`make bench` only: azul links no BLAS).
$(BUILD)/bench_matmul: tools/bench_matmul.c $(BUILD)/model/matmul.o $(BUILD)/model/cpu_kernel.o $(BUILD)/core/error.o $(KERNEL_OBJ)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ -lopenblas

# ---------------------------------------------------------------- fuzzing

# libFuzzer harnesses, one per kind of hostile input (tests/fuzz/README.md).
# `make fuzz` needs clang and its libFuzzer runtime: Debian's clang and
# libclang-rt-14-dev, installed when missing.  The harnesses and all of azul
# are built with clang under ASan + UBSan, without OpenMP (one thread, so a
# finding replays exactly), into build/fuzz/.  tools/fuzz.sh first replays
# tests/fuzz/regressions/, then runs each harness FUZZ_SECONDS; a crash, leak,
# undefined behaviour, timeout or memory blow-up fails, and its input is left
# in tests/fuzz/regressions/NAME/ to be fixed and committed.
FUZZ_SECONDS ?= 60
FUZZERS      := model_file tokenizer_json utf8_roundtrip corpus bleu translate api
FUZZ_BUILD   := build/fuzz
FUZZ_MAKE     = $(MAKE) --no-print-directory -j$(JOBS) CC=clang BUILD=$(FUZZ_BUILD) BINDIR=$(FUZZ_BUILD)/bin NO_OMP=1 FUZZ=1

fuzz: deps
	@sh tools/deps.sh clang libclang-rt-14-dev
	@$(FUZZ_MAKE) fuzz-build
	@sh tools/fuzz.sh run $(FUZZ_SECONDS) $(FUZZERS)

fuzz-regressions: deps
	@sh tools/deps.sh clang libclang-rt-14-dev
	@$(FUZZ_MAKE) fuzz-build
	@sh tools/fuzz.sh replay $(FUZZERS)

FUZZ_HELPERS := $(BUILD)/tests/fuzz/fuzz_common.o $(BUILD)/tests/fuzz/fuzz_roundtrip.o
FUZZ_BINS    := $(FUZZERS:%=$(BUILD)/fuzz_%)
fuzz-build: $(FUZZ_BINS)

$(BUILD)/fuzz_%: $(BUILD)/tests/fuzz/fuzz_%.o $(FUZZ_HELPERS) $(LIB_OBJ)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# Rewrites the seeds that azul makes (tiny models, training states, saved
# tokenizers) from the toy corpus; built normally, not for fuzzing.
fuzz-seeds: all
	@$(MAKE) --no-print-directory $(BUILD)/make_seeds
	$(BUILD)/make_seeds

$(BUILD)/make_seeds: $(BUILD)/tests/fuzz/make_seeds.o $(LIB_OBJ)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

FUZZ_OBJ := $(patsubst %.c,$(BUILD)/%.o,$(wildcard tests/fuzz/*.c))
-include $(LIB_OBJ:.o=.d) $(MAIN_OBJ:.o=.d) $(TEST_OBJ:.o=.d) $(FUZZ_OBJ:.o=.d)

# tests/test_mpi.c compares `mpirun -np 2` of the MPI flavour with one
# process of the same program: with Open MPI installed (CI installs it), the
# flavour is built apart, unsanitized, into build/mpi/bin/; without it the
# test says it is skipped, and why.
MPI_AZUL := build/mpi/bin/azul
mpi-for-tests:
	@if command -v mpicc >/dev/null 2>&1; then \
	    $(MAKE) --no-print-directory MPI=1 BUILD=build/mpi BINDIR=$(patsubst %/,%,$(dir $(MPI_AZUL))) SANITIZE= build; \
	fi
.PHONY: mpi-for-tests

# The suite's threads wait as bin/azul's do (cli/azul.c): a short spin, then
# sleep, so that its training tests do not crawl when the machine is busy.
run-tests: layers function-length $(AZUL) $(AZUL_TESTS) mpi-for-tests
	@if [ -z "$$OMP_WAIT_POLICY$$GOMP_SPINCOUNT" ]; then GOMP_SPINCOUNT=10000 $(AZUL_TESTS); else $(AZUL_TESTS); fi

# ---------------------------------------------------------------- arm64

# azul for 64-bit ARM: Debian's cross compiler (gcc-aarch64-linux-gnu)
# builds it into build/arm64/, and the tests that check numerics and parsing
# in-process run under qemu-user, for correctness only.  tools/cross_arm64.sh
# installs what is missing (the cross compiler, qemu-user, the arm64
# libraries) and says which tests it leaves out, and why.  A few minutes.
.PHONY: cross-arm64
cross-arm64:
	@sh tools/cross_arm64.sh
