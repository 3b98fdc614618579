// How busy other programs keep the CPUs this process may run on, so that
// a parallel region can start no more threads than there are cores free.
//
// Why: an OpenMP region ends at a barrier that waits for its slowest thread.
// When another program holds one of two cores, the thread that shares it
// runs only in the scheduler's turns (milliseconds), and every barrier waits
// for that turn: decoding, with dozens of short regions per token, kept a
// fifth of its idle speed on two threads at batch 32, and a training test
// ran ten times slower beside a niced build than on one thread.
#ifndef AZUL_CPU_LOAD_H
#define AZUL_CPU_LOAD_H

// The threads worth starting now: `wanted`, less one for each of this
// process's CPUs that other programs kept busy over the last fifth of a
// second or so, and at least 1.  Measured from /proc/stat (the CPUs of the
// process's affinity mask) less the process's own CPU time; at most one
// measurement per CPU_LOAD_WINDOW seconds (a call sooner answers as the
// last one did), so it is cheap enough to ask before every decoding step.
// Thread-safe.  Where /proc cannot be read (not Linux), `wanted`.
int threads_beside_other_programs(int wanted);

#define CPU_LOAD_WINDOW 0.2

#endif
