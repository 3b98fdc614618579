#!/usr/bin/python3
"""Write the PyTorch reference fixtures for azul's hand-written forward/backward.

    /usr/bin/python3 tools/make_reference.py             # (re)write tests/fixtures/reference_*.safetensors
    /usr/bin/python3 tools/make_reference.py --out DIR   # write them somewhere else
    /usr/bin/python3 tools/make_reference.py --check     # re-read the files, check them, compare
                                                         # with a fresh computation

As llm.c does with its GPT-2 reference: a small encoder-decoder Transformer is
written here in plain torch ops (not nn.Transformer), with exactly the
semantics of model/transformer.c and model/*.c, and its initial weights, a
fixed batch, the logits, the loss, every parameter's gradient and the losses of
ten AdamW steps are saved.  A C test loads the weights into a Model, runs
model_forward / model_backward / clip + adamw_update and compares.

Four files, one per configuration:
  reference_postln.safetensors               post-LN (the paper), separate output matrix
  reference_preln_tied.safetensors           pre-LN with final LayerNorms, output tied to tgt_embed
  reference_postln_dropout.safetensors       the first with dropout 0.1
  reference_preln_tied_dropout.safetensors   the second with dropout 0.1

With dropout, PyTorch applies exactly azul's masks: azul draws each mask
element from a counter-based hash of (seed, stream, index) (model/rng.h,
model/ops.h dropout_scale, the stream numbers of model/transformer.c), which
is a few lines of integer arithmetic, so it is computed again here, and the
masks of the checked forward are saved in the file with their stream numbers.
(The other way round, masks written by azul and read here, would make the
reference depend on the code it checks.)  tests/test_parity.c first checks
that azul's dropout_scale gives every saved mask element, then compares the
logits, the loss, every gradient and ten AdamW steps.

Needs Debian's python3-torch (run with /usr/bin/python3); nothing else beyond
the standard library.  The safetensors files are written by hand with struct
and json.  Everything is seeded and single-threaded, so running the script
twice writes byte-identical files on the same torch build and BLAS (Debian's
libblas.so.3 alternative: the reference BLAS and OpenBLAS round differently,
by about 1e-6 in the logits).
"""

import argparse
import json
import math
import os
import struct
import sys

PAD, UNK, BOS, EOS = 0, 1, 2, 3
FIRST_WORD = 4  # token ids of the random sentences are in [FIRST_WORD, V)

BASE_CONFIG = {
    "src_vocab": 23,
    "tgt_vocab": 27,
    "d_model": 32,
    "n_heads": 4,
    "n_encoder_layers": 2,
    "n_decoder_layers": 2,
    "d_ff": 64,
    "max_len": 16,
    "dropout": 0,
    "label_smoothing": 0.1,
}

CONFIGS = [
    ("reference_postln.safetensors", dict(BASE_CONFIG, pre_ln=False, tie_output=False)),
    ("reference_preln_tied.safetensors", dict(BASE_CONFIG, pre_ln=True, tie_output=True)),
    ("reference_postln_dropout.safetensors", dict(BASE_CONFIG, pre_ln=False, tie_output=False, dropout=0.1)),
    ("reference_preln_tied_dropout.safetensors", dict(BASE_CONFIG, pre_ln=True, tie_output=True, dropout=0.1)),
]

# The forward of a dropout file runs with masks drawn from DROPOUT_SEED; AdamW
# step k (from 1) with DROPOUT_SEED + k.
DROPOUT_SEED = 20241129

OPTIMIZER = {
    "lr": 0.001,
    "beta1": 0.9,
    "beta2": 0.98,
    "eps": 1e-9,
    "weight_decay": 0.01,
    "clip_norm": 1.0,
    "steps": 10,
}

LAYERNORM_EPS = 1e-5
PARAM_SEED = 20240611
BATCH_SEED = 7
SRC_LENGTHS = [7, 5, 3]  # S = 7
TGT_LENGTHS = [5, 3, 1]  # words before <eos>; T = 6


# ============================================================ safetensors by hand

def write_safetensors(path, tensors, metadata):
    """tensors: list of (name, dtype "F32"|"I32", shape, flat list of numbers)."""
    header = {}
    chunks = []
    offset = 0
    for name, dtype, shape, values in tensors:
        count = math.prod(shape)
        assert len(values) == count, (name, len(values), shape)
        code = {"F32": "f", "I32": "i"}[dtype]
        data = struct.pack("<%d%s" % (count, code), *values)
        header[name] = {"dtype": dtype, "shape": list(shape),
                        "data_offsets": [offset, offset + len(data)]}
        chunks.append(data)
        offset += len(data)
    header["__metadata__"] = metadata
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    tmp = path + ".tmp.%d" % os.getpid()
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for chunk in chunks:
            f.write(chunk)
    os.replace(tmp, path)


def read_safetensors(path):
    """A small independent reader: returns (ordered [(name, dtype, shape, values)], metadata)
    after checking the layout (header padding, contiguous offsets, sizes, no trailing bytes)."""
    with open(path, "rb") as f:
        blob = f.read()
    (n,) = struct.unpack_from("<Q", blob, 0)
    assert n % 8 == 0, "header length %d is not a multiple of 8" % n
    assert 8 + n <= len(blob), "header runs past the end of the file"
    header = json.loads(blob[8:8 + n].decode("utf-8"))
    metadata = header.pop("__metadata__", {})
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items())
    data = blob[8 + n:]
    out = []
    expected_begin = 0
    for name, info in header.items():  # json keeps the file's order
        dtype, shape, (begin, end) = info["dtype"], info["shape"], info["data_offsets"]
        assert dtype in ("F32", "I32"), (name, dtype)
        assert begin == expected_begin, "%s: gap or overlap at %d (expected %d)" % (name, begin, expected_begin)
        count = math.prod(shape)
        assert end - begin == 4 * count, "%s: %d bytes for shape %s" % (name, end - begin, shape)
        code = "f" if dtype == "F32" else "i"
        values = list(struct.unpack_from("<%d%s" % (count, code), data, begin))
        out.append((name, dtype, shape, values))
        expected_begin = end
    assert expected_begin == len(data), "%d bytes after the last tensor" % (len(data) - expected_begin)
    return out, metadata


# ============================================================ azul's dropout masks

MASK32 = (1 << 32) - 1
MASK64 = (1 << 64) - 1


def f32(x):
    """x rounded to float32, as a Python float."""
    return struct.unpack("<f", struct.pack("<f", x))[0]


def rng_mix(z):
    # splitmix64's output function, as model/rng.h rng_mix
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
    return z ^ (z >> 31)


def hash32_mix(x):
    # as model/rng.h hash32_mix
    x = ((x ^ (x >> 16)) * 0x7FEB352D) & MASK32
    x = ((x ^ (x >> 15)) * 0x846CA68B) & MASK32
    return x ^ (x >> 16)


def hash_uniforms(seed, stream, count):
    """model/rng.h hash_uniform(seed, stream, i) for i < count: 24-bit uniforms in [0, 1)."""
    key = rng_mix(seed ^ rng_mix((stream + 0x9E3779B97F4A7C15) & MASK64))
    low, high = key & MASK32, key >> 32
    return [(hash32_mix((hash32_mix((i & MASK32) ^ low) + high) & MASK32) >> 8) / 16777216.0
            for i in range(count)]


# model/transformer.c: a stream number per dropout site
STREAM_SRC_EMBED, STREAM_TGT_EMBED = 1, 2
SITE_SELF_WEIGHTS, SITE_SELF_RESIDUAL, SITE_CROSS_WEIGHTS, SITE_CROSS_RESIDUAL, SITE_FFN_RESIDUAL = range(5)


def stream_of(decoder, layer, site):
    return (decoder + 1) << 40 | layer << 8 | site


class Dropout:
    """azul's masks as float32 tensors of 0 and 1/(1-p) (model/ops.h dropout_scale), by site;
    the element at flat index i of a site's tensor is azul's element i.  Records what it made."""

    def __init__(self, torch, p, seed):
        self.torch, self.p, self.seed = torch, f32(p), seed
        self.scale = f32(1.0 / f32(1.0 - self.p))
        self.masks = {}  # name -> (stream, mask)

    def mask(self, name, stream, shape):
        count = math.prod(shape)
        kept = [self.scale if u >= self.p else 0.0 for u in hash_uniforms(self.seed, stream, count)]
        m = self.torch.tensor(kept, dtype=self.torch.float32).view(*shape)
        self.masks[name] = (stream, m)
        return m


def dropped(drop, name, stream, x):
    """x with azul's mask applied, or x itself without dropout."""
    return x if drop is None else x * drop.mask(name, stream, tuple(x.shape))


# ============================================================ the model in plain torch

def parameter_shapes(cfg):
    """(name, shape) in azul's storage order (model/transformer.c lay_out_weights)."""
    C, F, Vs, Vt = cfg["d_model"], cfg["d_ff"], cfg["src_vocab"], cfg["tgt_vocab"]
    shapes = [("src_embed", (Vs, C)), ("tgt_embed", (Vt, C))]

    def attention(prefix):
        return [(prefix + n, s) for n, s in (("wq", (C, C)), ("bq", (C,)), ("wk", (C, C)), ("bk", (C,)),
                                              ("wv", (C, C)), ("bv", (C,)), ("wo", (C, C)), ("bo", (C,)))]

    def layernorm(prefix):
        return [(prefix + ".weight", (C,)), (prefix + ".bias", (C,))]

    def ffn(prefix):
        return [(prefix + "ffn.w1", (F, C)), (prefix + "ffn.b1", (F,)),
                (prefix + "ffn.w2", (C, F)), (prefix + "ffn.b2", (C,))]

    for l in range(cfg["n_encoder_layers"]):
        p = "encoder.%d." % l
        shapes += attention(p + "self_attn.") + layernorm(p + "ln1") + ffn(p) + layernorm(p + "ln2")
    for l in range(cfg["n_decoder_layers"]):
        p = "decoder.%d." % l
        shapes += (attention(p + "self_attn.") + layernorm(p + "ln1") + attention(p + "cross_attn.")
                   + layernorm(p + "ln2") + ffn(p) + layernorm(p + "ln3"))
    if cfg["pre_ln"]:
        shapes += layernorm("encoder.final_ln") + layernorm("decoder.final_ln")
    if not cfg["tie_output"]:
        shapes.append(("out.weight", (Vt, C)))
    shapes.append(("out.bias", (Vt,)))
    return shapes


def init_parameters(torch, cfg, seed):
    """Random everywhere (no zero biases, no unit gains) so that every gradient is non-trivial:
    matrices N(0, 1/in_features), biases N(0, 0.1²), LayerNorm gains 1 + N(0, 0.1²),
    LayerNorm biases N(0, 0.1²), embeddings N(0, 1/C)."""
    g = torch.Generator().manual_seed(seed)
    C = cfg["d_model"]
    params = {}
    for name, shape in parameter_shapes(cfg):
        if name in ("src_embed", "tgt_embed"):
            t = torch.randn(shape, generator=g) / math.sqrt(C)
        elif len(shape) == 2:
            t = torch.randn(shape, generator=g) / math.sqrt(shape[1])
        elif ".ln" in name or "final_ln" in name:
            t = torch.randn(shape, generator=g) * 0.1
            if name.endswith(".weight"):
                t = t + 1.0
        else:
            t = torch.randn(shape, generator=g) * 0.1
        params[name] = t.float().requires_grad_(True)
    return params


def positional_encoding(torch, T, C):
    # Computed in double and rounded once, as model/embedding.c does.
    pe = [[0.0] * C for _ in range(T)]
    for pos in range(T):
        for i in range(0, C, 2):
            angle = pos * math.exp(-math.log(10000.0) * i / C)
            pe[pos][i] = math.sin(angle)
            if i + 1 < C:
                pe[pos][i + 1] = math.cos(angle)
    return torch.tensor(pe, dtype=torch.float64).float()


def embed(torch, table, tokens, C):
    T = tokens.shape[1]
    return table[tokens.long()] * math.sqrt(C) + positional_encoding(torch, T, C)


def linear(x, w, b):
    return x @ w.t() + b


def layer_norm(torch, x, w, b):
    return torch.nn.functional.layer_norm(x, (x.shape[-1],), w, b, LAYERNORM_EPS)


def multi_head_attention(torch, P, prefix, xq, xkv, masked, H, record=None, drop=None, stream=0):
    """masked: bool (B, Tq, Tk), True where query i may not look at key j.  With drop, the
    weights (B, H, Tq, Tk) go through azul's mask of that stream before they weigh the values."""
    B, Tq, C = xq.shape
    Tk = xkv.shape[1]
    hs = C // H
    q = linear(xq, P[prefix + "wq"], P[prefix + "bq"]).view(B, Tq, H, hs).transpose(1, 2)
    k = linear(xkv, P[prefix + "wk"], P[prefix + "bk"]).view(B, Tk, H, hs).transpose(1, 2)
    v = linear(xkv, P[prefix + "wv"], P[prefix + "bv"]).view(B, Tk, H, hs).transpose(1, 2)
    scores = (q @ k.transpose(-2, -1)) / math.sqrt(hs)                  # (B, H, Tq, Tk)
    m = masked.unsqueeze(1)                                              # (B, 1, Tq, Tk)
    scores = scores.masked_fill(m, float("-inf"))
    # A row with every key masked: softmax of all -inf is NaN (and so is its
    # gradient); give it finite scores, then zero every masked weight.
    empty = m.all(dim=-1, keepdim=True)
    scores = scores.masked_fill(empty, 0.0)
    weights = torch.softmax(scores, dim=-1).masked_fill(m, 0.0)
    if record is not None:
        record.append((prefix, weights.detach().clone()))
    weights = dropped(drop, prefix + "weights", stream, weights)
    context = (weights @ v).transpose(1, 2).reshape(B, Tq, C)           # heads side by side
    return linear(context, P[prefix + "wo"], P[prefix + "bo"])


def feed_forward(torch, P, prefix, x):
    return linear(torch.relu(linear(x, P[prefix + "w1"], P[prefix + "b1"])), P[prefix + "w2"], P[prefix + "b2"])


def sublayer(torch, cfg, P, ln, x, F, drop=None, name="", stream=0):
    """post-LN: LN(x + dropout(F(x)));  pre-LN: x + dropout(F(LN(x)))."""
    if cfg["pre_ln"]:
        return x + dropped(drop, name, stream, F(layer_norm(torch, x, P[ln + ".weight"], P[ln + ".bias"])))
    return layer_norm(torch, x + dropped(drop, name, stream, F(x)), P[ln + ".weight"], P[ln + ".bias"])


def forward(torch, cfg, P, src, tgt_in, src_key_masked=None, record=None, drop=None):
    """logits (B, T, Vt).  src_key_masked (B, S) overrides the source padding mask
    (used to show that padded positions' content does not matter).  drop: a Dropout, or
    None for none."""
    C, H = cfg["d_model"], cfg["n_heads"]
    B, S = src.shape
    T = tgt_in.shape[1]
    if src_key_masked is None:
        src_key_masked = src == PAD
    enc_mask = src_key_masked.view(B, 1, S).expand(B, S, S)
    cross_mask = src_key_masked.view(B, 1, S).expand(B, T, S)
    causal = torch.triu(torch.ones(T, T, dtype=torch.bool), diagonal=1)   # j > i
    dec_mask = causal.view(1, T, T) | (tgt_in == PAD).view(B, 1, T)

    x = dropped(drop, "src_embed", STREAM_SRC_EMBED, embed(torch, P["src_embed"], src, C))
    for l in range(cfg["n_encoder_layers"]):
        p = "encoder.%d." % l
        x = sublayer(torch, cfg, P, p + "ln1", x,
                     lambda h: multi_head_attention(torch, P, p + "self_attn.", h, h, enc_mask, H, record,
                                                    drop, stream_of(0, l, SITE_SELF_WEIGHTS)),
                     drop, p + "self_attn.residual", stream_of(0, l, SITE_SELF_RESIDUAL))
        x = sublayer(torch, cfg, P, p + "ln2", x, lambda h: feed_forward(torch, P, p + "ffn.", h),
                     drop, p + "ffn.residual", stream_of(0, l, SITE_FFN_RESIDUAL))
    if cfg["pre_ln"]:
        x = layer_norm(torch, x, P["encoder.final_ln.weight"], P["encoder.final_ln.bias"])
    memory = x

    y = dropped(drop, "tgt_embed", STREAM_TGT_EMBED, embed(torch, P["tgt_embed"], tgt_in, C))
    for l in range(cfg["n_decoder_layers"]):
        p = "decoder.%d." % l
        y = sublayer(torch, cfg, P, p + "ln1", y,
                     lambda h: multi_head_attention(torch, P, p + "self_attn.", h, h, dec_mask, H, record,
                                                    drop, stream_of(1, l, SITE_SELF_WEIGHTS)),
                     drop, p + "self_attn.residual", stream_of(1, l, SITE_SELF_RESIDUAL))
        y = sublayer(torch, cfg, P, p + "ln2", y,
                     lambda h: multi_head_attention(torch, P, p + "cross_attn.", h, memory, cross_mask, H,
                                                    record, drop, stream_of(1, l, SITE_CROSS_WEIGHTS)),
                     drop, p + "cross_attn.residual", stream_of(1, l, SITE_CROSS_RESIDUAL))
        y = sublayer(torch, cfg, P, p + "ln3", y, lambda h: feed_forward(torch, P, p + "ffn.", h),
                     drop, p + "ffn.residual", stream_of(1, l, SITE_FFN_RESIDUAL))
    if cfg["pre_ln"]:
        y = layer_norm(torch, y, P["decoder.final_ln.weight"], P["decoder.final_ln.bias"])

    out_w = P["tgt_embed"] if cfg["tie_output"] else P["out.weight"]
    return linear(y, out_w, P["out.bias"])


def loss_of(torch, cfg, logits, tgt_out):
    V = logits.shape[-1]
    return torch.nn.functional.cross_entropy(logits.reshape(-1, V), tgt_out.reshape(-1).long(),
                                             ignore_index=PAD, label_smoothing=cfg["label_smoothing"])


def manual_loss(torch, cfg, logits, tgt_out):
    # (1-ε)·(-log p_y) + ε·mean_j(-log p_j), averaged over non-PAD targets (model/cross_entropy.c).
    eps = cfg["label_smoothing"]
    logp = torch.log_softmax(logits.double(), dim=-1).reshape(-1, logits.shape[-1])
    y = tgt_out.reshape(-1).long()
    keep = y != PAD
    nll = -logp[keep].gather(1, y[keep].unsqueeze(1)).squeeze(1)
    smooth = -logp[keep].mean(dim=1)
    return ((1 - eps) * nll + eps * smooth).mean()


# ============================================================ the batch

def make_batch(torch, cfg):
    g = torch.Generator().manual_seed(BATCH_SEED)
    B, S, T = len(SRC_LENGTHS), max(SRC_LENGTHS), max(TGT_LENGTHS) + 1
    src = torch.full((B, S), PAD, dtype=torch.int32)
    tgt_in = torch.full((B, T), PAD, dtype=torch.int32)
    tgt_out = torch.full((B, T), PAD, dtype=torch.int32)
    for b in range(B):
        n = SRC_LENGTHS[b]
        src[b, :n] = torch.randint(FIRST_WORD, cfg["src_vocab"], (n,), generator=g, dtype=torch.int32)
        n = TGT_LENGTHS[b]
        words = torch.randint(FIRST_WORD, cfg["tgt_vocab"], (n,), generator=g, dtype=torch.int32)
        tgt_in[b, 0] = BOS
        tgt_in[b, 1:n + 1] = words
        tgt_out[b, :n] = words
        tgt_out[b, n] = EOS
    return src, tgt_in, tgt_out


# ============================================================ one configuration

def compute(torch, cfg, verbose=False):
    """Everything a file holds, as an ordered list of (name, dtype, shape, values)."""
    torch.manual_seed(PARAM_SEED)
    P = init_parameters(torch, cfg, PARAM_SEED)
    names = list(P.keys())
    initial = {n: P[n].detach().clone() for n in names}
    src, tgt_in, tgt_out = make_batch(torch, cfg)

    # forward and backward at the initial weights
    drop = Dropout(torch, cfg["dropout"], DROPOUT_SEED) if cfg["dropout"] > 0 else None
    logits = forward(torch, cfg, P, src, tgt_in, drop=drop)
    loss = loss_of(torch, cfg, logits, tgt_out)
    ref = manual_loss(torch, cfg, logits, tgt_out)
    assert abs(loss.item() - ref.item()) < 1e-5, ("F.cross_entropy disagrees with the formula", loss.item(), ref.item())
    loss.backward()
    grads = {n: P[n].grad.detach().clone() for n in names}
    for n in names:
        assert torch.isfinite(grads[n]).all(), n
        if n.endswith(".bk"):
            # q·(k + b_K) adds the same q·b_K to every score of a query row, which
            # the softmax ignores: the key bias's gradient is zero up to rounding.
            assert grads[n].abs().max() < 1e-6, "gradient of %s should vanish" % n
        else:
            assert grads[n].abs().max() > 1e-5, "gradient of %s is (nearly) zero" % n

    if drop is None:  # the same weights and batch: the files without dropout run them
        sanity_checks(torch, cfg, P, src, tgt_in, grads, logits.detach())

    # ten AdamW steps on the same batch
    params = [P[n] for n in names]
    decay = [P[n] for n in names if P[n].dim() == 2]
    no_decay = [P[n] for n in names if P[n].dim() != 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": OPTIMIZER["weight_decay"]},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=OPTIMIZER["lr"], betas=(OPTIMIZER["beta1"], OPTIMIZER["beta2"]),
                            eps=OPTIMIZER["eps"])
    losses = []
    for step in range(1, OPTIMIZER["steps"] + 1):
        opt.zero_grad()
        step_drop = Dropout(torch, cfg["dropout"], DROPOUT_SEED + step) if drop is not None else None
        step_loss = loss_of(torch, cfg, forward(torch, cfg, P, src, tgt_in, drop=step_drop), tgt_out)
        losses.append(step_loss.item())
        step_loss.backward()
        torch.nn.utils.clip_grad_norm_(params, OPTIMIZER["clip_norm"])
        opt.step()

    def f32(name, t):
        return (name, "F32", list(t.shape), t.detach().float().reshape(-1).tolist())

    def i32(name, t):
        return (name, "I32", list(t.shape), [int(v) for v in t.reshape(-1).tolist()])

    tensors = [f32(n, initial[n]) for n in names]
    tensors += [i32("batch.src", src), i32("batch.tgt_in", tgt_in), i32("batch.tgt_out", tgt_out)]
    tensors += [f32("logits", logits), f32("loss", loss.detach().reshape(1))]
    tensors += [f32("grad." + n, grads[n]) for n in names]
    tensors += [f32("adamw.losses", torch.tensor(losses, dtype=torch.float32))]
    metadata = {
        "config": json.dumps(cfg, separators=(",", ":")),
        "optimizer": json.dumps(OPTIMIZER, separators=(",", ":")),
        "generator": "tools/make_reference.py",
        "torch_version": torch.__version__,
    }
    if drop is not None:
        tensors += [f32("dropout." + n, m) for n, (_, m) in drop.masks.items()]
        metadata["dropout_seed"] = str(DROPOUT_SEED)
        metadata["dropout_streams"] = json.dumps({n: stream for n, (stream, _) in drop.masks.items()},
                                                 separators=(",", ":"))
    if verbose:
        print("  loss %.7f  (%d target positions)" % (loss.item(), int((tgt_out != PAD).sum())))
        if drop is not None:
            kept = sum(int((m != 0).sum()) for _, m in drop.masks.values())
            total = sum(m.numel() for _, m in drop.masks.values())
            print("  dropout %.1f: %d masks, %d of %d elements kept" % (cfg["dropout"], len(drop.masks), kept, total))
        print("  adamw losses " + " ".join("%.6f" % v for v in losses))
    return tensors, metadata


def sanity_checks(torch, cfg, P, src, tgt_in, grads, logits):
    """The masks do what they should."""
    with torch.no_grad():
        B, T = tgt_in.shape
        # 1. decoder self-attention: nothing above the diagonal, nothing on padded keys
        record = []
        again = forward(torch, cfg, P, src, tgt_in, record=record)
        assert torch.equal(again, logits)
        for prefix, w in record:
            if prefix.startswith("decoder.") and "self_attn" in prefix:
                upper = torch.triu(torch.ones(T, T, dtype=torch.bool), diagonal=1)
                assert (w[:, :, upper] == 0).all(), prefix + ": weight above the diagonal"
                assert (w.masked_select((tgt_in == PAD).view(B, 1, 1, T).expand_as(w)) == 0).all()
            else:
                key_pad = (src == PAD).view(B, 1, 1, -1).expand_as(w)
                assert (w.masked_select(key_pad) == 0).all(), prefix + ": weight on a padded source key"
            assert torch.allclose(w.sum(-1), torch.ones(()), atol=1e-5), prefix

        # 2. changing a padded source token (mask kept) leaves the logits unchanged
        changed = src.clone()
        pad = src == PAD
        changed[pad] = torch.arange(int(pad.sum()), dtype=torch.int32) % (cfg["src_vocab"] - FIRST_WORD) + FIRST_WORD
        other = forward(torch, cfg, P, changed, tgt_in, src_key_masked=pad)
        assert torch.equal(other, logits), (other - logits).abs().max()
        # (control: with the mask recomputed from the changed tokens they do matter)
        assert not torch.allclose(forward(torch, cfg, P, changed, tgt_in), logits, atol=1e-3)
        # ... and so does changing the PAD embedding row
        saved = P["src_embed"][PAD].clone()
        P["src_embed"][PAD] += 1.0
        other = forward(torch, cfg, P, src, tgt_in)
        P["src_embed"][PAD] = saved
        assert torch.equal(other, logits)
        # ... and changing a padded target-input token changes no logit at a counted position
        changed = tgt_in.clone()
        tpad = tgt_in == PAD
        changed[tpad] = FIRST_WORD
        other = forward(torch, cfg, P, src, changed)  # mask now differs; only keys after i are affected
        counted = ~tpad  # rows whose tgt_out is not PAD are exactly the rows with tgt_in not PAD
        assert torch.allclose(other[counted], logits[counted], rtol=0, atol=1e-6)

    # 3. padding gets no gradient: the PAD rows of the embeddings
    assert (grads["src_embed"][PAD] == 0).all()
    if not cfg["tie_output"]:
        assert (grads["tgt_embed"][PAD] == 0).all()

    # 4. a row with every key masked gives zeros, not NaN, and finite gradients
    C, H = cfg["d_model"], cfg["n_heads"]
    x = torch.randn(2, 3, C, requires_grad=True)
    m = torch.zeros(2, 3, 3, dtype=torch.bool)
    m[1] = True  # second example: nothing to attend to
    out = multi_head_attention(torch, P, "encoder.0.self_attn.", x, x, m, H)
    context = out - P["encoder.0.self_attn.bo"]
    assert torch.isfinite(out).all() and (context[1].abs() < 1e-6).all()
    out.sum().backward()
    assert torch.isfinite(x.grad).all()
    for n in P:
        P[n].grad = None


# ============================================================ main

def tensor_summary(tensors):
    return ", ".join("%s %s" % (n, "x".join(map(str, s)) or "scalar") for n, _, s, _ in tensors)


def mask_shape(cfg, name):
    """The shape of a dropout site's mask, from its name."""
    B, S, T = len(SRC_LENGTHS), max(SRC_LENGTHS), max(TGT_LENGTHS) + 1
    C, H = cfg["d_model"], cfg["n_heads"]
    rows = S if name.startswith("encoder.") or name == "src_embed" else T
    if name.endswith(".weights"):
        return [B, H, rows, T if ".self_attn." in name and name.startswith("decoder.") else S]
    return [B, rows, C]


def check_file(path, expect_tensors=None, expect_metadata=None):
    tensors, metadata = read_safetensors(path)
    cfg = json.loads(metadata["config"])
    names = [n for n, _ in parameter_shapes(cfg)]
    shapes = dict(parameter_shapes(cfg))
    B, S, T = len(SRC_LENGTHS), max(SRC_LENGTHS), max(TGT_LENGTHS) + 1
    want = [(n, "F32", list(shapes[n])) for n in names]
    want += [("batch.src", "I32", [B, S]), ("batch.tgt_in", "I32", [B, T]), ("batch.tgt_out", "I32", [B, T])]
    want += [("logits", "F32", [B, T, cfg["tgt_vocab"]]), ("loss", "F32", [1])]
    want += [("grad." + n, "F32", list(shapes[n])) for n in names]
    want += [("adamw.losses", "F32", [json.loads(metadata["optimizer"])["steps"]])]
    keys = {"config", "optimizer", "generator", "torch_version"}
    if cfg["dropout"] > 0:
        want += [("dropout." + n, "F32", mask_shape(cfg, n)) for n in json.loads(metadata["dropout_streams"])]
        keys |= {"dropout_seed", "dropout_streams"}
    got = [(n, d, s) for n, d, s, _ in tensors]
    assert got == want, "tensor table differs from the expected one"
    assert set(metadata) == keys
    for n, d, s, v in tensors:
        if d == "F32":
            assert all(math.isfinite(x) for x in v), n
    if expect_tensors is not None:
        for (n, d, s, v), (n2, d2, s2, v2) in zip(tensors, expect_tensors):
            # float32 values survive the trip through Python floats exactly
            assert (n, d, s) == (n2, d2, list(s2)) and v == v2, "%s differs from a fresh computation" % n
        assert metadata == expect_metadata
    return tensors, metadata


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=os.path.join("tests", "fixtures"), help="output folder (default tests/fixtures)")
    ap.add_argument("--check", action="store_true",
                    help="do not write: re-read the files in --out, check their layout and compare with a fresh run")
    args = ap.parse_args()

    # The same reductions, in the same order, every run: one thread for torch
    # and for the BLAS it calls (set before the BLAS is loaded).
    for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ.setdefault(variable, "1")
    import torch
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)

    status = 0
    for filename, cfg in CONFIGS:
        path = os.path.join(args.out, filename)
        print(path, flush=True)
        tensors, metadata = compute(torch, cfg, verbose=not args.check)
        if args.check:
            try:
                check_file(path, tensors, metadata)
                print("  ok: %d tensors, %d bytes, matches a fresh computation" % (len(tensors), os.path.getsize(path)))
            except (AssertionError, OSError, KeyError, ValueError, struct.error) as e:
                sys.stdout.flush()
                print("  FAILED: %s" % e, file=sys.stderr)
                status = 1
            continue
        os.makedirs(args.out, exist_ok=True)
        write_safetensors(path, tensors, metadata)
        check_file(path, tensors, metadata)
        print("  %d tensors, %d bytes" % (len(tensors), os.path.getsize(path)))
    return status


if __name__ == "__main__":
    sys.exit(main())
