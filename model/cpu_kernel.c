// Choosing the matmul's instruction-set path from what the CPU reports.
#include "model/cpu_kernel.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const path_names[KERNEL_PATH_COUNT] = {"reference", "generic", "avx2", "avx512"};

const char *kernel_path_name(KernelPath path) {
    return path >= 0 && path < KERNEL_PATH_COUNT ? path_names[path] : "unknown";
}

// The x86 paths exist only in an x86-64 build (the Makefile compiles them
// there alone), and run only where the CPU — and the operating system, which
// must save the wider registers — supports them: GCC's and clang's
// __builtin_cpu_supports checks both.
bool kernel_path_available(KernelPath path) {
    switch (path) {
    case KERNEL_REFERENCE:
    case KERNEL_GENERIC: return true;
#if defined(__x86_64__) && !defined(AZUL_NO_X86_PATHS)
    case KERNEL_AVX2: return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case KERNEL_AVX512: return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("fma");
#endif
    default: return false;
    }
}

KernelPath kernel_path_best(void) {
    for (int p = KERNEL_PATH_COUNT - 1; p > KERNEL_GENERIC; p--) {
        if (kernel_path_available((KernelPath)p)) return (KernelPath)p;
    }
    return KERNEL_GENERIC;
}

// Written before the first product and otherwise only by the calls below,
// which a program makes at start-up (and the tests between products).
static KernelPath current = KERNEL_PATH_COUNT;  // not chosen yet

static int path_named(const char *name, KernelPath *path) {
    for (int p = 0; p < KERNEL_PATH_COUNT; p++) {
        if (strcmp(name, path_names[p]) == 0) {
            *path = (KernelPath)p;
            return 0;
        }
    }
    return -1;
}

static void available_list(char *list, size_t size) {
    list[0] = '\0';
    for (int p = KERNEL_PATH_COUNT - 1; p >= 0; p--) {
        if (!kernel_path_available((KernelPath)p)) continue;
        size_t used = strlen(list);
        snprintf(list + used, size - used, "%s%s", used ? ", " : "", path_names[p]);
    }
}

int kernel_path_force(KernelPath path, Error *err) {
    if (path < 0 || path >= KERNEL_PATH_COUNT || !kernel_path_available(path)) {
        char list[64];
        available_list(list, sizeof list);
        return error_set(err, "the %s kernels cannot run on this CPU (it can run: %s)",
                         kernel_path_name(path), list);
    }
    current = path;
    return 0;
}

int kernel_path_choose_from_environment(Error *err) {
    const char *forced = getenv("AZUL_KERNEL");
    if (!forced || !*forced) {
        current = kernel_path_best();
        return 0;
    }
    KernelPath path;
    if (path_named(forced, &path) != 0) {
        return error_set(err, "AZUL_KERNEL=%s names no kernel path (use avx512, avx2, generic or reference)",
                         forced);
    }
    if (!kernel_path_available(path)) {
        char list[64];
        available_list(list, sizeof list);
        return error_set(err, "AZUL_KERNEL=%s: this CPU lacks %s (it can run: %s)", forced,
                         path == KERNEL_AVX2 ? "AVX2 and FMA" : path == KERNEL_AVX512 ? "AVX-512" : forced,
                         list);
    }
    current = path;
    return 0;
}

static pthread_once_t default_once = PTHREAD_ONCE_INIT;
static void choose_default(void) {
    if (current != KERNEL_PATH_COUNT) return;
    if (kernel_path_choose_from_environment(NULL) != 0) current = kernel_path_best();
}

KernelPath kernel_path_current(void) {
    if (current == KERNEL_PATH_COUNT) pthread_once(&default_once, choose_default);
    return current;
}
