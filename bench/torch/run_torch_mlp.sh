#!/bin/bash
# PyTorch CPU timings of the reference MLPs (784-[w]xH-10, tanh, log-softmax, NLL, batch 64,
# SGD momentum 0.9) on this machine, with the time of whole synthetic epochs (--epochs), at
# float64 and float32 and at 1 and 2 threads. bench/run.sh runs the same cases without --epochs
# for docs/bench.md.
# Needs Debian's python3-torch and libopenblas0-pthread (apt-get install -y python3-torch
# libopenblas0-pthread, which python3-torch only recommends); torch_mlp_bench.py sets the
# threads, OMP_WAIT_POLICY=PASSIVE and the OpenBLAS folder itself.
# Output: one JSON line per network in ${OUT:-torch_mlp.jsonl}. Run from anywhere:
# bench/torch/run_torch_mlp.sh
set -e
here=$(cd "$(dirname "$0")" && pwd)
OUT=${OUT:-torch_mlp.jsonl}
for dt in float64 float32; do
  for th in 1 2; do
    /usr/bin/python3 "$here/torch_mlp_bench.py" --threads $th --dtype $dt --epochs --tag openblas_t$th --out "$OUT"
  done
done
