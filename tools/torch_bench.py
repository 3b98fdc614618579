#!/usr/bin/python3
"""PyTorch's twin of `azul bench`: the same network, the same work, the same clock.

    /usr/bin/python3 tools/torch_bench.py --preset small --batch 64 --src-len 24 --tgt-len 24 --json
    /usr/bin/python3 tools/torch_bench.py --decode --preset small --batch 32 --src-len 16 --tgt-len 24
    /usr/bin/python3 tools/torch_bench.py --matmul     # only the BLAS check (1024³ sgemm)

The flags, their defaults and the JSON fields are those of `azul bench`
(cli/bench_command.c), so that tools/bench_vs_torch.py can run both and
compare.  The network is the reference model of tools/make_reference.py
(plain torch ops with the semantics of model/*.c: post-LN, separate output
matrix, as `azul bench` builds it) plus the dropout azul applies when
training: p = 0.1 on the embeddings, on every residual branch and on the
attention weights.  Label smoothing 0.1.

Training: B random pairs of S + T tokens (no padding, so the only mask is the
decoder's causal one); one timed step is forward, loss, backward, gradient
clipping to norm 1 and AdamW (the betas, epsilon and weight decay of
model/optimizer.c, decay on matrices only), 2 warm-up steps, then the median
of --steps.  Decoding: B random sources of S tokens are encoded, then exactly
T greedy steps run with a key/value cache (cross-attention keys and values
projected once), each taking the argmax of the ordinary tokens (never <eos>,
so no row stops early); one warm-up run, then the median of --steps runs.

Debian's PyTorch calls whatever libblas.so.3 points to: the matmul check
reports the GFLOP/s of a 1024³ product, so that a ratio measured against the
reference BLAS (~25× slower than OpenBLAS) is not mistaken for a real one.
Needs Debian's python3-torch and libopenblas0-pthread; run with /usr/bin/python3.
"""

import argparse
import json
import math
import os
import resource
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_reference as ref  # noqa: E402  (standard library only; torch comes later)

PRESETS = {  # model/config.c: d_model, n_heads, encoder layers, decoder layers, d_ff
    "toy": (64, 4, 2, 2, 256),
    "small": (256, 8, 3, 3, 1024),
    "base": (512, 8, 6, 6, 2048),
}
DROPOUT = 0.1
LABEL_SMOOTHING = 0.1
ADAMW = {"lr": 1e-4, "betas": (0.9, 0.98), "eps": 1e-9, "weight_decay": 0.01}  # cli/bench_command.c
CLIP_NORM = 1.0
SEED = 7


def parse_arguments():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="small", choices=sorted(PRESETS))
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--src-len", type=int, default=16)
    ap.add_argument("--tgt-len", type=int, default=16)
    ap.add_argument("--vocab", type=int, default=8000)
    ap.add_argument("--steps", type=int, default=10, help="timed repetitions (default 10)")
    ap.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    ap.add_argument("--decode", action="store_true", help="time greedy decoding instead of training")
    ap.add_argument("--matmul", action="store_true", help="only measure the 1024³ matmul")
    ap.add_argument("--json", action="store_true", help="one JSON object on standard output")
    args = ap.parse_args()
    for name in ("batch", "src_len", "tgt_len", "steps", "threads"):
        if getattr(args, name) < 1:
            ap.error("--%s must be at least 1" % name.replace("_", "-"))
    if args.vocab < 8:
        ap.error("--vocab must be at least 8")
    return args


# ============================================================ the BLAS underneath

def blas_info():
    """(name, thread count) of the BLAS torch calls, as far as it says: OpenBLAS
    answers openblas_get_corename; the reference BLAS has no such symbol.
    dlopen returns the copy torch already loaded."""
    import ctypes
    try:
        lib = ctypes.CDLL("libblas.so.3")
        lib.openblas_get_corename.restype = ctypes.c_char_p
        return "OpenBLAS " + lib.openblas_get_corename().decode(), lib.openblas_get_num_threads()
    except (OSError, AttributeError):
        return "not OpenBLAS (libblas.so.3 has no openblas_* symbols)", None


def matmul_gflops(torch, runs, n=1024):
    """The best of a few n³ products: a check of the library, not a benchmark,
    so the fastest run is the one least disturbed by other processes."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.mm(a, b)
    best = math.inf
    for _ in range(runs):
        start = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - start)
    return 2.0 * n ** 3 / best / 1e9


# ============================================================ the network

def build_model(torch, args):
    C, H, Le, Ld, F = PRESETS[args.preset]
    cfg = {"src_vocab": args.vocab, "tgt_vocab": args.vocab, "d_model": C, "n_heads": H,
           "n_encoder_layers": Le, "n_decoder_layers": Ld, "d_ff": F,
           "max_len": max(args.src_len, args.tgt_len) + 1, "dropout": DROPOUT,
           "label_smoothing": LABEL_SMOOTHING, "pre_ln": False, "tie_output": False}
    P = ref.init_parameters(torch, cfg, SEED)
    # make_reference computes the table at every call; a PyTorch user keeps it.
    pe = ref.positional_encoding(torch, cfg["max_len"], C)
    return cfg, P, pe


def attention(torch, F, P, prefix, xq, xkv, H, p, causal):
    """Multi-head attention of make_reference.multi_head_attention, with dropout on the weights."""
    B, Tq, C = xq.shape
    Tk, hs = xkv.shape[1], C // H
    q = F.linear(xq, P[prefix + "wq"], P[prefix + "bq"]).view(B, Tq, H, hs).transpose(1, 2)
    k = F.linear(xkv, P[prefix + "wk"], P[prefix + "bk"]).view(B, Tk, H, hs).transpose(1, 2)
    v = F.linear(xkv, P[prefix + "wv"], P[prefix + "bv"]).view(B, Tk, H, hs).transpose(1, 2)
    scores = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(hs))          # (B, H, Tq, Tk)
    if causal:
        scores = scores.masked_fill(torch.triu(torch.ones(Tq, Tk, dtype=torch.bool), 1), float("-inf"))
    weights = F.dropout(torch.softmax(scores, dim=-1), p, training=p > 0)
    context = (weights @ v).transpose(1, 2).reshape(B, Tq, C)
    return F.linear(context, P[prefix + "wo"], P[prefix + "bo"])


def feed_forward(torch, F, P, prefix, x):
    return F.linear(torch.relu(F.linear(x, P[prefix + "w1"], P[prefix + "b1"])), P[prefix + "w2"], P[prefix + "b2"])


def residual(F, P, ln, x, branch, p):
    """post-LN: LN(x + dropout(F(x)))."""
    return F.layer_norm(x + F.dropout(branch, p, training=p > 0), (x.shape[-1],),
                        P[ln + ".weight"], P[ln + ".bias"], 1e-5)


def embed(F, table, tokens, pe, first, p):
    C = table.shape[1]
    x = table[tokens] * math.sqrt(C) + pe[first:first + tokens.shape[1]]
    return F.dropout(x, p, training=p > 0)


def encode(torch, F, cfg, P, pe, src, p):
    H = cfg["n_heads"]
    x = embed(F, P["src_embed"], src, pe, 0, p)
    for l in range(cfg["n_encoder_layers"]):
        e = "encoder.%d." % l
        x = residual(F, P, e + "ln1", x, attention(torch, F, P, e + "self_attn.", x, x, H, p, False), p)
        x = residual(F, P, e + "ln2", x, feed_forward(torch, F, P, e + "ffn.", x), p)
    return x


def forward(torch, F, cfg, P, pe, src, tgt_in, p):
    """logits (B, T, V) of teacher forcing (make_reference.forward, with dropout)."""
    H = cfg["n_heads"]
    memory = encode(torch, F, cfg, P, pe, src, p)
    y = embed(F, P["tgt_embed"], tgt_in, pe, 0, p)
    for l in range(cfg["n_decoder_layers"]):
        d = "decoder.%d." % l
        y = residual(F, P, d + "ln1", y, attention(torch, F, P, d + "self_attn.", y, y, H, p, True), p)
        y = residual(F, P, d + "ln2", y, attention(torch, F, P, d + "cross_attn.", y, memory, H, p, False), p)
        y = residual(F, P, d + "ln3", y, feed_forward(torch, F, P, d + "ffn.", y), p)
    return F.linear(y, P["out.weight"], P["out.bias"])


# ============================================================ the two kinds of work

def random_tokens(torch, shape, V):
    return torch.randint(ref.FIRST_WORD, V, shape, dtype=torch.long)  # never a special token


def bench_training(torch, cfg, P, pe, args):
    F = torch.nn.functional
    B, S, T, V = args.batch, args.src_len, args.tgt_len, args.vocab
    src, tgt_out = random_tokens(torch, (B, S), V), random_tokens(torch, (B, T), V)
    tgt_in = torch.cat([torch.full((B, 1), ref.BOS, dtype=torch.long), tgt_out[:, :-1]], dim=1)
    params = list(P.values())
    opt = torch.optim.AdamW([{"params": [t for t in params if t.dim() == 2]},
                             {"params": [t for t in params if t.dim() != 2], "weight_decay": 0.0}],
                            foreach=True, **ADAMW)
    times = []
    for step in range(-2, args.steps):  # two warm-up steps
        start = time.perf_counter()
        logits = forward(torch, F, cfg, P, pe, src, tgt_in, DROPOUT)
        loss = F.cross_entropy(logits.reshape(-1, V), tgt_out.reshape(-1), ignore_index=ref.PAD,
                               label_smoothing=LABEL_SMOOTHING)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, CLIP_NORM)
        opt.step()
        if step >= 0:
            times.append(time.perf_counter() - start)
    return times


def decode_once(torch, cfg, P, pe, src, T):
    """Greedy decoding of the batch for exactly T steps with a key/value cache."""
    F = torch.nn.functional
    C, H, L = cfg["d_model"], cfg["n_heads"], cfg["n_decoder_layers"]
    B, hs = src.shape[0], C // cfg["n_heads"]
    memory = encode(torch, F, cfg, P, pe, src, 0.0)
    cross, cache = [], []
    for l in range(L):
        a = "decoder.%d.cross_attn." % l
        cross.append([F.linear(memory, P[a + w], P[a + b]).view(B, -1, H, hs).transpose(1, 2)
                      for w, b in (("wk", "bk"), ("wv", "bv"))])
        cache.append([torch.empty(B, H, T, hs), torch.empty(B, H, T, hs)])
    next_tokens = torch.full((B, 1), ref.BOS, dtype=torch.long)
    for t in range(T):
        y = embed(F, P["tgt_embed"], next_tokens, pe, t, 0.0)                    # (B, 1, C)
        for l in range(L):
            d = "decoder.%d." % l
            keys, values = cache[l]
            keys[:, :, t] = F.linear(y, P[d + "self_attn.wk"], P[d + "self_attn.bk"]).view(B, H, hs)
            values[:, :, t] = F.linear(y, P[d + "self_attn.wv"], P[d + "self_attn.bv"]).view(B, H, hs)
            y = residual(F, P, d + "ln1", y, cached_attention(torch, F, P, d + "self_attn.", y,
                                                              keys[:, :, :t + 1], values[:, :, :t + 1]), 0.0)
            y = residual(F, P, d + "ln2", y, cached_attention(torch, F, P, d + "cross_attn.", y, *cross[l]), 0.0)
            y = residual(F, P, d + "ln3", y, feed_forward(torch, F, P, d + "ffn.", y), 0.0)
        logits = F.linear(y[:, 0], P["out.weight"], P["out.bias"])              # (B, V)
        next_tokens = (logits[:, ref.FIRST_WORD:].argmax(dim=-1) + ref.FIRST_WORD).view(B, 1)
    return next_tokens


def cached_attention(torch, F, P, prefix, y, k, v):
    """One query per row against cached keys and values (B, H, Tk, hs)."""
    B, _, C = y.shape
    H, hs = k.shape[1], k.shape[3]
    q = F.linear(y, P[prefix + "wq"], P[prefix + "bq"]).view(B, 1, H, hs).transpose(1, 2)
    weights = torch.softmax((q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(hs)), dim=-1)
    context = (weights @ v).transpose(1, 2).reshape(B, 1, C)
    return F.linear(context, P[prefix + "wo"], P[prefix + "bo"])


def bench_decoding(torch, cfg, P, pe, args):
    src = random_tokens(torch, (args.batch, args.src_len), args.vocab)
    times = []
    with torch.inference_mode():
        for run in range(-1, args.steps):  # one warm-up run
            start = time.perf_counter()
            decode_once(torch, cfg, P, pe, src, args.tgt_len)
            if run >= 0:
                times.append(time.perf_counter() - start)
    return times


# ============================================================ main

def peak_rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def report(args, torch, n_params, times, gflops, blas, blas_threads):
    median = statistics.median(times)
    rate = args.batch * args.tgt_len / median
    work = "decode" if args.decode else "train"
    fields = {
        "work": work, "preset": args.preset, "parameters": n_params, "batch": args.batch,
        "src_len": args.src_len, "tgt_len": args.tgt_len, "vocab": args.vocab,
        "threads": torch.get_num_threads(), "repetitions": args.steps, "median_ms": median * 1e3,
        "min_ms": min(times) * 1e3, "max_ms": max(times) * 1e3, "target_tokens_per_s": rate,
        "peak_rss_mib": peak_rss_mib(), "framework": "pytorch " + torch.__version__, "blas": blas,
        "blas_threads": blas_threads, "matmul_1024_gflops": gflops,
    }
    if args.json:
        print(json.dumps(fields, separators=(",", ":")))
        return
    print("torch bench %s: preset %s (%d parameters), batch %d × (%d + %d) tokens, vocab %d, %d threads"
          % (work, args.preset, n_params, args.batch, args.src_len, args.tgt_len, args.vocab, fields["threads"]))
    print("%s: median %.1f ms (min %.1f, max %.1f) over %d runs" % ("decoding" if args.decode else "step",
          median * 1e3, fields["min_ms"], fields["max_ms"], args.steps))
    print("throughput: %.0f target tokens/s; peak memory %.1f MiB" % (rate, fields["peak_rss_mib"]))
    print("BLAS: %s, %s threads; 1024³ matmul %.0f GFLOP/s" % (blas, blas_threads, gflops))


def main():
    args = parse_arguments()
    # OpenBLAS reads its thread count when it is loaded, that is on `import torch`.
    os.environ["OPENBLAS_NUM_THREADS"] = str(args.threads)
    os.environ["OMP_NUM_THREADS"] = str(args.threads)
    import torch
    torch.set_num_threads(args.threads)
    blas, blas_threads = blas_info()
    gflops = matmul_gflops(torch, runs=20 if args.matmul else 5)
    if args.matmul:
        fields = {"blas": blas, "blas_threads": blas_threads, "threads": torch.get_num_threads(),
                  "matmul_1024_gflops": gflops, "framework": "pytorch " + torch.__version__}
        print(json.dumps(fields, separators=(",", ":")) if args.json else
              "%s, %s threads: 1024³ matmul %.0f GFLOP/s" % (blas, blas_threads, gflops))
        return 0
    torch.manual_seed(SEED)
    cfg, P, pe = build_model(torch, args)
    n_params = sum(t.numel() for t in P.values())
    times = (bench_decoding if args.decode else bench_training)(torch, cfg, P, pe, args)
    report(args, torch, n_params, times, gflops, blas, blas_threads)
    return 0


if __name__ == "__main__":
    sys.exit(main())
