#!/usr/bin/python3
"""azul against PyTorch on the same work, one table: `make bench` runs this.

    /usr/bin/python3 tools/bench_vs_torch.py                 # every shape of issue 10, ~4 minutes
    /usr/bin/python3 tools/bench_vs_torch.py --only toy,decode-1 --repetitions 1
    /usr/bin/python3 tools/bench_vs_torch.py --kernel avx2     # one instruction-set path

With --kernel, azul runs that matmul path (AZUL_KERNEL) and PyTorch's OpenBLAS
the kernels of the same generation (OPENBLAS_CORETYPE: Haswell for avx2,
SkylakeX for avx512), so that an AVX-512 machine measures the AVX2 path
against AVX2 OpenBLAS too.  `make bench` runs it once per x86 path the CPU has.

For each shape, `azul bench --json` and its PyTorch twin (tools/torch_bench.py,
same flags) run one after the other, A B A B, --repetitions times each; every
run reports the median of its steps, and the table gives the median of those
per program and the ratio azul ÷ PyTorch.  Peak RSS is each process's own
(getrusage).  The table is printed and written to build/bench_vs_torch.md
(markdown, ready for the README), the raw JSON lines to build/bench_vs_torch.jsonl.

PyTorch first multiplies two 1024² matrices: below 50 GFLOP/s its BLAS is not
OpenBLAS (Debian's libblas.so.3 may point to the reference BLAS, ~25× slower)
or the machine is saturated, and no ratio is printed.

OpenMP's wait policy matters to both: azul starts many short parallel regions
and sets its own short spin (GOMP_SPINCOUNT=10000, cli/azul.c) unless the
caller chose one, while PyTorch on OpenBLAS is sometimes faster with
OMP_WAIT_POLICY=PASSIVE and sometimes slower (and on a shared machine spinning
threads that wait for a descheduled partner can slow either several-fold).
Unless the caller sets OMP_WAIT_POLICY, azul runs in the caller's environment
and PyTorch runs both ways, interleaved; the table gives PyTorch the faster of
the two for each shape, and says which.  Standard library only.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

# (key, description, flags shared by both programs); the step counts keep a
# full run near four minutes on two cores (base: ~2.5 s a step in both).
WORKS = [
    ("toy", "train toy (d 64, 2+2 layers, batch 32 × 12 + 12, vocab 1,000), target tok/s",
     "--preset toy --batch 32 --src-len 12 --tgt-len 12 --vocab 1000 --steps 20"),
    ("small", "train small (d 256, 3+3, batch 64 × 24 + 24, vocab 8,000)",
     "--preset small --batch 64 --src-len 24 --tgt-len 24 --vocab 8000 --steps 5"),
    ("base", "train base (d 512, 6+6, batch 32 × 32 + 32, vocab 16,000)",
     "--preset base --batch 32 --src-len 32 --tgt-len 32 --vocab 16000 --steps 2"),
    ("decode-1", "greedy decode small, batch 1 (S 16, T 24, KV cache), tok/s",
     "--decode --preset small --batch 1 --src-len 16 --tgt-len 24 --vocab 8000 --steps 10"),
    ("decode-32", "greedy decode small, batch 32 (S 16, T 24, KV cache), tok/s",
     "--decode --preset small --batch 32 --src-len 16 --tgt-len 24 --vocab 8000 --steps 5"),
]
MIN_GFLOPS = 50.0
# OpenBLAS's kernels of the generation of each of azul's x86 paths.
CORETYPES = {"avx2": "Haswell", "avx512": "SkylakeX"}
HERE = os.path.dirname(os.path.abspath(__file__))


def parse_arguments():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--azul", default="bin/azul", help="the azul program (default bin/azul)")
    ap.add_argument("--threads", type=int, default=2, help="threads for both (default 2)")
    ap.add_argument("--repetitions", type=int, default=3, help="runs of each program per shape (default 3)")
    ap.add_argument("--only", help="comma-separated shapes among " + ",".join(k for k, _, _ in WORKS))
    ap.add_argument("--out", default="build/bench_vs_torch.md", help="where the table goes")
    ap.add_argument("--kernel", choices=sorted(CORETYPES), help="azul's matmul path, and OpenBLAS's "
                    "kernels of the same generation for PyTorch (default: each picks for the CPU)")
    args = ap.parse_args()
    keys = [k for k, _, _ in WORKS]
    args.works = WORKS if not args.only else [w for w in WORKS if w[0] in args.only.split(",")]
    unknown = set(args.only.split(",")) - set(keys) if args.only else set()
    if unknown or not args.works or args.repetitions < 1 or args.threads < 1:
        ap.error("bad --only, --repetitions or --threads (shapes: %s)" % ", ".join(keys))
    return args


def run_json(command, env):
    """Runs one benchmark process and returns the JSON object it printed last."""
    out = subprocess.run(command, env=env, stdout=subprocess.PIPE, check=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def measure(args, env, log):
    """{key: {"azul": [json, ...], "pytorch": [json, ...], ...}}, interleaved A B A B."""
    torch_bench = [sys.executable, os.path.join(HERE, "torch_bench.py")]
    passive = dict(env, OMP_WAIT_POLICY="PASSIVE")
    results = {}
    for key, _, flags in args.works:
        common = flags.split() + ["--threads", str(args.threads), "--json"]
        azul_env = dict(env, AZUL_KERNEL=args.kernel) if args.kernel else env
        programs = [("azul", [args.azul, "bench"] + common, azul_env), ("pytorch", torch_bench + common, env)]
        if "OMP_WAIT_POLICY" not in env:
            programs.append(("pytorch-passive", torch_bench + common, passive))
        results[key] = {name: [] for name, _, _ in programs}
        for rep in range(args.repetitions):
            for name, command, program_env in programs:
                start = time.monotonic()
                r = run_json(command, program_env)
                r["wall_s"] = time.monotonic() - start
                results[key][name].append(r)
                log.write(json.dumps(dict(r, shape=key, program=name, repetition=rep)) + "\n")
                print("  %-9s %-7s run %d: %8.0f tok/s, peak %6.0f MiB (%.0f s)" % (
                    key, name, rep + 1, r["target_tokens_per_s"], r["peak_rss_mib"], r["wall_s"]),
                    file=sys.stderr, flush=True)
    return results


def blas_check(args, env):
    """PyTorch's BLAS and its 1024³ matmul, before anything else."""
    check = run_json([sys.executable, os.path.join(HERE, "torch_bench.py"), "--matmul", "--json",
                      "--threads", str(args.threads)], env)
    print("PyTorch %s: %s, %s threads, 1024³ matmul %.0f GFLOP/s%s" % (
        check["framework"].split()[-1], check["blas"], check["blas_threads"], check["matmul_1024_gflops"],
        "" if check["matmul_1024_gflops"] >= MIN_GFLOPS else " — TOO SLOW, see the warning at the end"),
        file=sys.stderr, flush=True)
    return check


def blas_warnings(args, check, results):
    """What makes the ratios meaningless, from the best matmul of every PyTorch run."""
    runs = [check] + [r for per in results.values() for name in per if name != "azul" for r in per[name]]
    best = max(r["matmul_1024_gflops"] for r in runs)
    warnings = []
    if best < MIN_GFLOPS:
        cause = ("other processes saturate the cores" if check["blas"].startswith("OpenBLAS") else
                 "libblas.so.3 is not OpenBLAS (install libopenblas0-pthread, or select it with "
                 "update-alternatives)")
        warnings.append("PyTorch's 1024³ matmul reached only %.0f GFLOP/s (< %.0f) with %s: %s. "
                        "THE RATIOS WOULD BE FALSE; none is printed." % (best, MIN_GFLOPS, check["blas"], cause))
    if check["blas_threads"] not in (None, args.threads):
        warnings.append("OpenBLAS runs %s threads, not %d." % (check["blas_threads"], args.threads))
    return best, warnings


def fmt(x):
    return "{:,.0f}".format(x)


def table(args, results, check, best, warnings, env):
    lines = []
    for w in warnings:
        lines += ["**WARNING: %s**" % w, ""]
    lines += ["| work | PyTorch | azul | azul ÷ PyTorch |", "|---|---|---|---|"]
    ratios_ok = not any("FALSE" in w for w in warnings)

    def row(label, torch_value, azul_value, unit=""):
        ratio = "%.2f×" % (azul_value / torch_value) if ratios_ok or unit else "—"
        lines.append("| %s | %s%s | %s%s | %s |" % (label, fmt(torch_value), unit, fmt(azul_value), unit, ratio))

    def median(key, name, field):
        return statistics.median(r[field] for r in results[key][name])

    def fastest_torch(key):  # PyTorch's better wait policy for this shape
        names = [n for n in results[key] if n.startswith("pytorch")]
        return max(names, key=lambda n: median(key, n, "target_tokens_per_s"))

    for key, label, _ in args.works:
        name = fastest_torch(key)
        row(label + ("" if name == "pytorch" else " (PyTorch passive)"),
            median(key, name, "target_tokens_per_s"), median(key, "azul", "target_tokens_per_s"))
    for key, label, _ in args.works:
        if not key.startswith("decode"):
            row("peak RSS, train %s" % key, median(key, fastest_torch(key), "peak_rss_mib"),
                median(key, "azul", "peak_rss_mib"), " MiB")
    lines += ["", "Medians of %d interleaved runs each (A B A B); every run reports the median of its "
              "steps after warm-up. Spread of tok/s over the runs (min–max):" % args.repetitions]
    for key, _, flags in args.works:
        spread = ["%s %s–%s" % (name, fmt(min(r["target_tokens_per_s"] for r in results[key][name])),
                                fmt(max(r["target_tokens_per_s"] for r in results[key][name])))
                  for name in results[key]]
        lines.append("- %s (`%s`): %s" % (key, flags, "; ".join(spread)))
    lines += ["", "Machine: %s, %d threads each, azul's %s kernels, OPENBLAS_CORETYPE=%s, OMP_WAIT_POLICY=%s, "
              "load average %.1f before and %.1f "
              "after (1 minute). PyTorch %s on %s (%s threads), best 1024³ matmul %.0f GFLOP/s. "
              "Command: `make bench` (tools/bench_vs_torch.py), %s UTC."
              % (cpu_name(), args.threads, args.kernel or "best",
                 env.get("OPENBLAS_CORETYPE", "unset (OpenBLAS's choice)"),
                 env.get("OMP_WAIT_POLICY", "unset (azul then spins briefly, GOMP_SPINCOUNT=10000; "
                         "PyTorch runs with libgomp's default and PASSIVE)"),
                 args.load_before, os.getloadavg()[0],
                 check["framework"].split()[-1], check["blas"], check["blas_threads"], best,
                 time.strftime("%Y-%m-%d %H:%M", time.gmtime()))]
    return "\n".join(lines) + "\n"


def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


def main():
    args = parse_arguments()
    env = dict(os.environ)
    if args.kernel:
        env["OPENBLAS_CORETYPE"] = CORETYPES[args.kernel]
    args.load_before = os.getloadavg()[0]  # other processes on the cores skew both programs
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    print("azul (%s kernels) against PyTorch (OPENBLAS_CORETYPE=%s), %d threads, %d runs of each per "
          "shape, interleaved:" % (args.kernel or "best", env.get("OPENBLAS_CORETYPE", "unset"),
                                   args.threads, args.repetitions), file=sys.stderr, flush=True)
    check = blas_check(args, env)
    with open(os.path.splitext(args.out)[0] + ".jsonl", "w") as log:
        results = measure(args, env, log)
    best, warnings = blas_warnings(args, check, results)
    text = table(args, results, check, best, warnings, env)
    with open(args.out, "w") as f:
        f.write(text)
    print("\n" + text + "\n(written to %s)" % args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
