#!/usr/bin/python3
"""PyTorch CPU timing of the Zahid et al. (2023) MLP: 784 -> [w]*H (tanh) -> 10 (log-softmax), NLL,
batch 64, SGD momentum 0.9, default nn.Linear init: the reference that pcnet's BP step is
compared with (bench/run.sh, docs/bench.md "BP step against PyTorch"; issue 18's cases are the
default networks, (H, w) in {(2, 64), (8, 256), (8, 1024)}).

Run with /usr/bin/python3 (Debian python3-torch 1.13). The element type and the thread count are
arguments:
  /usr/bin/python3 bench/torch/torch_mlp_bench.py --dtype float32 --threads 2
The script sets the environment the thread count needs before torch loads (OMP_NUM_THREADS and
OPENBLAS_NUM_THREADS = --threads, OMP_WAIT_POLICY=PASSIVE, the OpenBLAS pthread folder --blas first on
LD_LIBRARY_PATH) and re-executes itself when the one it was started with differs: the BLAS library
reads them once, when it is loaded, so setting them from inside torch would be too late. Without
the --blas folder (Debian: libopenblas0-pthread, which python3-torch only recommends) torch uses
Debian's reference BLAS, libblas3, ~10-20x slower; the output's "blas" field says which it was.
Output: one JSON line per network on stdout and appended to --out, with the medians over repeats
(step_us is the median time of one whole training step), "repeats", "torch_version", "dtype",
"threads" and the measured background load.
Each configuration waits for an idle machine first (at most --max-wait seconds) and is retried
(up to 3x) if other processes used >0.15 CPU during it; bg_cpus in the output is that measured
background load. A quick check of the script itself:
  /usr/bin/python3 bench/torch/torch_mlp_bench.py --dtype float32 --threads 1 --configs 2x64 \
  --repeats 1 --max-wait 0 --out /tmp/torch.jsonl

Per configuration: R repeats; in each repeat the three quantities are timed back-to-back over n
iterations (n calibrated to ~0.15 s per quantity), so the per-repeat ratios are taken under the same
machine conditions. Reported: medians over repeats.
zero_grad(set_to_none=False) (the torch 1.13 default) is used: with set_to_none=True every step
allocates fresh gradient buffers, and the first touch of a fresh 4 KiB page cost ~15 us on the
machine these timings were taken on (docs/design.md §6), which made the width-1024 step 2-3x
slower and erratic.
"""
import argparse, json, os, re, statistics, sys, time
# torch is imported by main, after the environment is set (see the docstring): torch and nn are
# module globals from then on.
torch = nn = None
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from perfutil import BgMonitor, wait_idle


def make_mlp(L, width, dtype):
    layers, d = [], 784
    for _ in range(L):
        layers += [nn.Linear(d, width), nn.Tanh()]
        d = width
    layers += [nn.Linear(d, 10), nn.LogSoftmax(dim=1)]
    return nn.Sequential(*layers).to(dtype)


def timeit(fn, n):
    t0 = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - t0) / n


def calibrate(fn, target=0.15):
    n = 1
    while True:
        t = timeit(fn, n) * n
        if t > target or n >= 1 << 16:
            return max(1, int(n * target / max(t, 1e-9)))
        n *= 4


def bench(L, width, dtype, repeats, epochs, epoch_repeats):
    torch.manual_seed(0)
    model = make_mlp(L, width, dtype)
    crit = nn.NLLLoss()
    opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
    x = torch.randn(64, 784, dtype=dtype)
    y = torch.randint(0, 10, (64,))

    def fwd_nograd():
        with torch.no_grad():
            model(x)

    def fwd_grad():  # forward incl. loss, building the autograd graph (as in training)
        crit(model(x), y)

    def step():
        opt.zero_grad(set_to_none=False)
        loss = crit(model(x), y)
        loss.backward()
        opt.step()

    for f in (fwd_nograd, fwd_grad, step):  # warm-up
        for _ in range(5):
            f()
    ns = [max(3, calibrate(f)) for f in (fwd_nograd, fwd_grad, step)]
    a, b, c = [], [], []
    # Each timed block is preceded by 2 untimed calls of the same function: without this the first
    # step after a run of forwards pays for fresh (page-faulting) gradient buffers, which made the
    # wide-net step look ~2.5x slower than in a steady training loop on this VM.
    for _ in range(repeats):
        for f, n, acc in ((fwd_nograd, ns[0], a), (fwd_grad, ns[1], b), (step, ns[2], c)):
            f(); f()
            acc.append(timeit(f, n))
    med = statistics.median
    res = dict(L=L, width=width,
               fwd_nograd_us=med(a) * 1e6, fwd_grad_us=med(b) * 1e6, step_us=med(c) * 1e6,
               ratio_step_over_fwdgrad=med([z / y_ for z, y_ in zip(c, b)]),
               ratio_step_over_fwdnograd=med([z / y_ for z, y_ in zip(c, a)]),
               min_fwd_nograd_us=min(a) * 1e6, min_fwd_grad_us=min(b) * 1e6, min_step_us=min(c) * 1e6,
               max_step_us=max(c) * 1e6)
    if epochs:
        # Synthetic MNIST-sized data. Per epoch: randperm + gather into a preallocated buffer
        # (timed separately as shuffle_s), then 938 SGD steps over contiguous 64-row slices
        # (the last batch has 32 rows) = loop_s. epoch_s = shuffle_s + loop_s.
        N = 60000
        X = torch.randn(N, 784, dtype=dtype)
        Y = torch.randint(0, 10, (N,))
        Xs, Ys = torch.empty_like(X), torch.empty_like(Y)
        torch.index_select(X, 0, torch.randperm(N), out=Xs)  # first touch of the buffer
        shuf, loops = [], []
        for _ in range(epoch_repeats):
            t0 = time.perf_counter()
            perm = torch.randperm(N)
            torch.index_select(X, 0, perm, out=Xs)
            torch.index_select(Y, 0, perm, out=Ys)
            t1 = time.perf_counter()
            for i in range(0, N, 64):  # 938 batches
                xb, yb = Xs[i:i + 64], Ys[i:i + 64]
                opt.zero_grad(set_to_none=False)
                loss = crit(model(xb), yb)
                loss.backward()
                opt.step()
            t2 = time.perf_counter()
            shuf.append(t1 - t0)
            loops.append(t2 - t1)
        res["shuffle_s"] = med(shuf)
        res["loop_s"] = med(loops)
        res["epoch_s"] = med([a + b for a, b in zip(shuf, loops)])
        res["loop_runs_s"] = loops
    return res


def blas_name():
    """blas_name names the BLAS torch loads: the first LD_LIBRARY_PATH folder that exists (the
    --blas folder, which ensure_env puts first), else Debian's reference BLAS, which a missing
    folder leaves in use."""
    for d in os.environ.get("LD_LIBRARY_PATH", "").split(":"):
        if d and os.path.isdir(d):
            return d
    return "reference(libblas3)"


def parse_configs(parser, text):
    """parse_configs turns "2x64,8x1024" (HxW) into [(2, 64), (8, 1024)]; a malformed entry is a
    usage error."""
    configs = []
    for item in text.split(","):
        m = re.fullmatch(r"\s*(\d+)x(\d+)\s*", item)
        if not m or int(m.group(1)) < 1 or int(m.group(2)) < 1:
            parser.error(f"--configs: {item!r} is not HxW with H, W >= 1 (e.g. 2x64)")
        configs.append((int(m.group(1)), int(m.group(2))))
    return configs


OPENBLAS_PTHREAD = "/usr/lib/x86_64-linux-gnu/openblas-pthread"
# The default networks (H, w): issue 18's comparison set.
DEFAULT_CONFIGS = "2x64,8x256,8x1024"


def wanted_env(threads, blas):
    """wanted_env returns the environment variables the run needs and their values: the thread count
    for OpenMP and OpenBLAS, a passive OpenMP wait (a spinning idle thread would steal the other
    core from whatever else runs), and the OpenBLAS folder first on LD_LIBRARY_PATH when it exists."""
    env = {"OMP_NUM_THREADS": str(threads), "OPENBLAS_NUM_THREADS": str(threads),
           "OMP_WAIT_POLICY": "PASSIVE"}
    ld = os.environ.get("LD_LIBRARY_PATH", "")
    if blas and os.path.isdir(blas) and ld.split(":")[0] != blas:
        env["LD_LIBRARY_PATH"] = blas + (":" + ld if ld else "")
    return env


def ensure_env(threads, blas):
    """ensure_env re-executes this script with wanted_env when the current environment differs;
    a second difference after the re-exec (which cannot happen unless something rewrites the
    environment) is an error rather than a loop."""
    want = wanted_env(threads, blas)
    if all(os.environ.get(k) == v for k, v in want.items()):
        return
    if os.environ.get("PCNET_TORCH_BENCH_REEXEC"):
        sys.exit(f"torch_mlp_bench.py: environment still differs after re-exec: {want}")
    env = dict(os.environ, PCNET_TORCH_BENCH_REEXEC="1", **want)
    os.execve(sys.executable, [sys.executable] + sys.argv, env)


def main():
    global torch, nn
    p = argparse.ArgumentParser(description="Time a PyTorch BP training step of 784-[w tanh]xH-10.")
    p.add_argument("--threads", type=int, required=True, help="threads for torch and OpenBLAS (>= 1)")
    p.add_argument("--dtype", required=True, choices=["float32", "float64"])
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--blas", default=OPENBLAS_PTHREAD,
                   help="folder put first on LD_LIBRARY_PATH (OpenBLAS pthread); '' leaves it alone")
    p.add_argument("--no-wide", action="store_true", help="leave out the width-1024 network")
    p.add_argument("--configs", default=DEFAULT_CONFIGS,
                   help=f"networks as HxW, comma-separated (default {DEFAULT_CONFIGS})")
    p.add_argument("--max-wait", type=float, default=1800,
                   help="seconds to wait for an idle machine before each configuration (0: do not wait)")
    p.add_argument("--epochs", action="store_true")
    p.add_argument("--tag", default="")
    p.add_argument("--out", default="torch_mlp.jsonl")
    args = p.parse_args()
    if args.threads < 1:
        p.error(f"--threads must be >= 1, got {args.threads}")
    if args.repeats < 1:
        p.error(f"--repeats must be >= 1, got {args.repeats}")
    configs = parse_configs(p, args.configs)
    if args.no_wide:
        configs = [(L, w) for L, w in configs if w != 1024]
    ensure_env(args.threads, args.blas)
    import torch as _torch
    import torch.nn as _nn
    torch, nn = _torch, _nn
    torch.set_num_threads(args.threads)
    dtype = getattr(torch, args.dtype)
    if os.path.dirname(args.out):
        os.makedirs(os.path.dirname(args.out), exist_ok=True)
    for L, w in configs:
        er = 1 if w == 1024 else 3
        for attempt in range(3):
            waited = wait_idle(max_wait=args.max_wait) if args.max_wait > 0 else 0.0
            with BgMonitor() as mon:
                r = bench(L, w, dtype, args.repeats, args.epochs, er)
            r.update(bg_cpus=round(mon.bg, 3), own_cpus=round(mon.own, 2), waited_s=round(waited, 1),
                     attempt=attempt)
            if mon.bg < 0.15:
                break
        r.update(H=L, threads=args.threads, dtype=args.dtype, repeats=args.repeats,
                 torch_version=torch.__version__, tag=args.tag,
                 blas=blas_name(),
                 torch_threads=torch.get_num_threads(),
                 env={k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                                                     "OMP_WAIT_POLICY", "OPENBLAS_CORETYPE")})
        print(json.dumps(r), flush=True)
        with open(args.out, "a") as f:
            f.write(json.dumps(r) + "\n")


if __name__ == "__main__":
    main()
