// Inside the model: how a Workspace lays its memory out for one batch shape.
// Only model/ includes this; everyone else sees Workspace in transformer.h.
#ifndef AZUL_WORKSPACE_H
#define AZUL_WORKSPACE_H

#include "model/transformer.h"

typedef struct {
    int B, S, T;
    int self_keys;       // keys per row of the decoder's self-attention: T, or a cache's capacity
    bool encoder;        // room for the encoder (a decoding step does not run it)
    bool decoder;        // room for the decoder (encoding alone does not run it)
    bool memory_keys;    // room for cross-attention keys and values projected from the memory
                         // (a decoding step reads them from its cache)
} WorkspaceShape;

// The shape of an ordinary forward pass over a (B, S, T) batch.
WorkspaceShape workspace_shape(int B, int S, int T);

// Checks the batch (sizes, token ids), grows the memory if the shape needs
// more, lays the activations out for the shape and copies the batch in.
// tgt_out may be NULL (no loss).
int workspace_place(Workspace *ws, const Model *m, const WorkspaceShape *shape,
                    const int32_t *src, const int32_t *tgt_in, const int32_t *tgt_out,
                    Error *err);

#endif
