// The processes that train one model together: the ranks of an MPI job
// (`make MPI=1`, started by `mpirun -np N bin/azul train ...`), or this
// process alone.
//
// Why MPI, and why so little of it: synchronous data parallelism needs only
// that every rank add up the same gradients and agree on when to stop.  One
// all-reduce of the contiguous gradient array per step does the first
// (llm.c, Horovod and PyTorch's DDP do the same); a few doubles summed with
// the step's loss do the second.  Everything else (the batches, the
// clipping, AdamW) runs identically on every rank from the same seed.
//
// Without MPI (a plain `make`) the world is one rank, every sum is the
// identity and nothing here needs an MPI library.
#ifndef AZUL_WORLD_H
#define AZUL_WORLD_H

#include <stdbool.h>
#include <stddef.h>

#include "core/error.h"

typedef struct {
    int rank, size;      // this process's rank among size
    int local_size;      // ranks on this machine, which share its cores
    bool mpi;            // built with MPI and started (even as one rank)
} World;

// Starts MPI when the build has it (a process started without mpirun is a
// world of one); a second call does nothing.  -1 with err when MPI fails.
int world_start(Error *err);
// Ends MPI (after world_start; harmless otherwise).
void world_end(void);
// The world as world_start found it: rank 0 of 1 before it, or without MPI.
const World *world(void);
static inline bool world_is_root(void) { return world()->rank == 0; }

// Ends every rank of the job with this exit code (MPI_Abort, which does not
// return): what a fatal error on one rank must do, since the others would
// wait for it forever.  Returns at once when the world is one rank, for the
// caller (the command line) to exit as it would anyway.
void world_abort(int code);

// In place, the sum over the ranks of data[0 .. n), the same on every rank
// (the identity on one rank).  -1 with err when MPI fails.
int world_sum_floats(float *data, size_t n, Error *err);
int world_sum_doubles(double *data, int n, Error *err);
// Rank 0's bytes into data on every rank.
int world_broadcast(void *data, size_t bytes, Error *err);
// Every rank's `bytes` bytes at mine into all[rank * bytes ...], on every
// rank (all holds size * bytes; bytes < 2 GiB).
int world_gather(const void *mine, size_t bytes, void *all, Error *err);

#endif
