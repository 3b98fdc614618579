// The busy time of the allowed CPUs comes from /proc/stat (in clock ticks,
// per CPU), this process's own from its CPU-time clock (every thread's);
// their difference over a window is what other programs used.  Reading the
// instantaneous count of runnable tasks (/proc/loadavg) instead would count
// this process's own spinning threads, and in a container every task of the
// host, so the busy time of our CPUs alone is measured.
#define _GNU_SOURCE  // sched_getaffinity and the CPU_SET macros
#include "core/cpu_load.h"

#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"

// The busy seconds since boot of the CPUs in `allowed`, all together, and
// how many of them /proc/stat lists; -1 when it cannot be read.
static double busy_seconds(const cpu_set_t *allowed, int *cpus) {
    FILE *f = fopen("/proc/stat", "r");
    const long ticks_per_second = sysconf(_SC_CLK_TCK);
    if (!f || ticks_per_second <= 0) {
        if (f) fclose(f);
        return -1.0;
    }
    char line[512];
    double ticks = 0.0;
    *cpus = 0;
    while (fgets(line, sizeof line, f)) {
        int cpu;
        unsigned long long user, nice, system, idle, iowait, irq, softirq, steal;
        // "cpuN user nice system idle iowait irq softirq steal …"; the first
        // line, "cpu  …", is the total and does not parse as cpuN
        if (sscanf(line, "cpu%d %llu %llu %llu %llu %llu %llu %llu %llu", &cpu, &user, &nice,
                   &system, &idle, &iowait, &irq, &softirq, &steal) != 9 ||
            cpu < 0 || cpu >= CPU_SETSIZE || !CPU_ISSET(cpu, allowed)) {
            continue;
        }
        // time a hypervisor gave to another machine (steal) is taken too
        ticks += (double)(user + nice + system + irq + softirq + steal);
        (*cpus)++;
    }
    fclose(f);
    return *cpus > 0 ? ticks / (double)ticks_per_second : -1.0;
}

static double own_cpu_seconds(void) {
    struct timespec t;
    if (clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t) != 0) return 0.0;
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

// The last measurement, shared by every thread that asks.
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
    bool started;
    double wall, busy, own;  // at the start of the current window
    int free_cpus;           // from the last window: -1 unknown
} load = {false, 0.0, 0.0, 0.0, -1};

// A new window when the last has lasted long enough; under the lock.
static void measure(void) {
    const double now = monotonic_seconds();
    if (load.started && now - load.wall < CPU_LOAD_WINDOW) return;
    cpu_set_t allowed;
    int cpus = 0;
    const double busy = sched_getaffinity(0, sizeof allowed, &allowed) == 0
                            ? busy_seconds(&allowed, &cpus)
                            : -1.0;
    const double own = own_cpu_seconds();
    if (busy < 0.0) {
        load.free_cpus = -1;
    } else if (load.started) {
        // a CPU counts as taken when others kept it busy half the window
        const double elsewhere = ((busy - load.busy) - (own - load.own)) / (now - load.wall);
        load.free_cpus = cpus - (int)lround(elsewhere > 0.0 ? elsewhere : 0.0);
    }
    load.started = true;
    load.wall = now;
    load.busy = busy;
    load.own = own;
}

int threads_beside_other_programs(int wanted) {
    if (wanted <= 1) return 1;
    pthread_mutex_lock(&lock);
    measure();
    const int free_cpus = load.free_cpus;
    pthread_mutex_unlock(&lock);
    if (free_cpus < 0) return wanted;
    return free_cpus < 1 ? 1 : free_cpus < wanted ? free_cpus : wanted;
}
