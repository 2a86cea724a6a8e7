#!/bin/bash
# PyTorch CPU timings of the reference MLPs (784-[w]xH-10, tanh, log-softmax, NLL, batch 64,
# SGD momentum 0.9) on this machine, for side-by-side comparison with pcnet's benchmarks.
# Needs Debian's python3-torch and libopenblas0-pthread (apt-get install -y python3-torch
# libopenblas0-pthread, which python3-torch only recommends); without that OpenBLAS folder on
# LD_LIBRARY_PATH torch falls back to the slow reference BLAS.
# Output: one JSON line per network in ${OUT:-torch_mlp.jsonl}. bench/run.sh runs only the
# one-thread half of this (without --epochs) for docs/bench.md; this script adds two threads
# and the time of whole synthetic epochs. Run from anywhere: bench/torch/run_torch_mlp.sh
set -e
here=$(cd "$(dirname "$0")" && pwd)
OB=/usr/lib/x86_64-linux-gnu/openblas-pthread
OUT=${OUT:-torch_mlp.jsonl}
for dt in float64 float32; do
  OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 LD_LIBRARY_PATH=$OB \
    /usr/bin/python3 "$here/torch_mlp_bench.py" --threads 1 --dtype $dt --epochs --tag openblas_t1 --out "$OUT"
  OMP_WAIT_POLICY=PASSIVE OMP_NUM_THREADS=2 OPENBLAS_NUM_THREADS=2 LD_LIBRARY_PATH=$OB \
    /usr/bin/python3 "$here/torch_mlp_bench.py" --threads 2 --dtype $dt --epochs --tag openblas_t2 --out "$OUT"
done
