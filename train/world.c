// The ranks training together (world.h): MPI when built with it.
#include "train/world.h"

#include <stdio.h>
#include <string.h>

#ifdef AZUL_MPI
#include <mpi.h>
#endif

static World the_world = {0, 1, 1, false};

const World *world(void) { return &the_world; }

#ifdef AZUL_MPI

// MPI's calls take int counts: longer arrays go in pieces of this many.
enum { MPI_PIECE = 1 << 28 };

static int mpi_failed(int code, const char *what, Error *err) {
    char text[MPI_MAX_ERROR_STRING];
    int length = 0;
    if (MPI_Error_string(code, text, &length) != MPI_SUCCESS) snprintf(text, sizeof text, "error %d", code);
    return error_set(err, "MPI %s failed on rank %d of %d: %s", what, the_world.rank, the_world.size, text);
}

int world_start(Error *err) {
    if (the_world.mpi) return 0;
    int provided, code;
    // Only the main thread calls MPI; OpenMP's threads never do.
    if ((code = MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided)) != MPI_SUCCESS) {
        return error_set(err, "MPI_Init_thread failed (error %d): is this an mpirun job?", code);
    }
    // Failures come back as codes, to be reported with what was being done.
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm_rank(MPI_COMM_WORLD, &the_world.rank);
    MPI_Comm_size(MPI_COMM_WORLD, &the_world.size);
    MPI_Comm local;
    if ((code = MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &local)) != MPI_SUCCESS) {
        return mpi_failed(code, "finding the ranks on this machine", err);
    }
    MPI_Comm_size(local, &the_world.local_size);
    MPI_Comm_free(&local);
    the_world.mpi = true;
    return 0;
}

void world_end(void) {
    if (the_world.mpi) MPI_Finalize();
    the_world.mpi = false;
}

void world_abort(int code) {
    if (!the_world.mpi || the_world.size == 1) return;
    fflush(stdout);
    fflush(stderr);
    MPI_Abort(MPI_COMM_WORLD, code);
}

int world_sum_floats(float *data, size_t n, Error *err) {
    if (the_world.size == 1) return 0;
    for (size_t done = 0; done < n; done += MPI_PIECE) {
        const int count = n - done < MPI_PIECE ? (int)(n - done) : MPI_PIECE;
        const int code = MPI_Allreduce(MPI_IN_PLACE, data + done, count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
        if (code != MPI_SUCCESS) return mpi_failed(code, "summing the gradients", err);
    }
    return 0;
}

int world_sum_doubles(double *data, int n, Error *err) {
    if (the_world.size == 1) return 0;
    const int code = MPI_Allreduce(MPI_IN_PLACE, data, n, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
    return code == MPI_SUCCESS ? 0 : mpi_failed(code, "summing the losses", err);
}

int world_broadcast(void *data, size_t bytes, Error *err) {
    if (the_world.size == 1) return 0;
    for (size_t done = 0; done < bytes; done += MPI_PIECE) {
        const int count = bytes - done < MPI_PIECE ? (int)(bytes - done) : MPI_PIECE;
        const int code = MPI_Bcast((char *)data + done, count, MPI_BYTE, 0, MPI_COMM_WORLD);
        if (code != MPI_SUCCESS) return mpi_failed(code, "sending rank 0's state", err);
    }
    return 0;
}

int world_gather(const void *mine, size_t bytes, void *all, Error *err) {
    if (the_world.size == 1) {
        memcpy(all, mine, bytes);
        return 0;
    }
    const int code = MPI_Allgather(mine, (int)bytes, MPI_BYTE, all, (int)bytes, MPI_BYTE, MPI_COMM_WORLD);
    return code == MPI_SUCCESS ? 0 : mpi_failed(code, "comparing the ranks", err);
}

#else  // one process: every collective is the identity

int world_start(Error *err) {
    (void)err;
    return 0;
}

void world_end(void) {}

void world_abort(int code) { (void)code; }

int world_sum_floats(float *data, size_t n, Error *err) {
    (void)data, (void)n, (void)err;
    return 0;
}

int world_sum_doubles(double *data, int n, Error *err) {
    (void)data, (void)n, (void)err;
    return 0;
}

int world_broadcast(void *data, size_t bytes, Error *err) {
    (void)data, (void)bytes, (void)err;
    return 0;
}

int world_gather(const void *mine, size_t bytes, void *all, Error *err) {
    (void)err;
    memcpy(all, mine, bytes);
    return 0;
}

#endif
