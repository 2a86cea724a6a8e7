#!/usr/bin/env bash
# Runs pcnet's benchmarks and writes the report docs/bench.md (with plots in docs/bench/).
#
#   bench/run.sh                 the report grid (see GRID below), 10 runs, every core count
#   COUNT=3 bench/run.sh         fewer repetitions
#   GRID=full bench/run.sh       every benchmark of bench/ (hours on two cores)
#   GRID=precision bench/run.sh  issue 18's speed targets alone, float32 and float64 (it
#                                replaces bp.txt and event.txt with these settings): BPStep
#                                at (H, w) in {(2, 64), (8, 256), (8, 1024)}, EventVsBP at
#                                H = 2, 8 and width 256, 1024 on both engines, the float32
#                                GEMM against the FMA peak (one core), BP's paired speed-up
#                                from 1 to 2 cores (speedup.txt), and PyTorch (its
#                                benchmarks took 47 s at COUNT=1 on a shared 2-core machine,
#                                so COUNT=10 stays near 8 minutes plus PyTorch's timings)
#   NOTORCH=1 bench/run.sh       skip the PyTorch side-by-side
#   TORCHWAIT=60 bench/run.sh    wait at most 60 s (default 1800, 0: not at all) for an idle
#                                machine before each PyTorch timing (bench/torch/)
#   KEEP=1 bench/run.sh          keep raw results already in docs/bench/raw (resume a run)
#   ONLY="nats.txt" bench/run.sh measure only these raw files (space-separated); keep the
#                                others that docs/bench/raw has, leave out the rest
#   OUT=/tmp/r bench/run.sh      write the report to /tmp/r/bench.md and /tmp/r/bench/
#   SPEEDUPTIME=80x bench/run.sh steps per core count in each BPSpeedupPaired run (default 40x)
#
# Inputs it measures: BenchmarkBPStep, BenchmarkPCUpdate, BenchmarkEngineOverhead,
# BenchmarkLayerOp, BenchmarkNeighbourPair, BenchmarkWakeIdleCore, and the event
# schedule's paired BenchmarkEventVsBP, BenchmarkScheduleSaving, BenchmarkSkipOverhead
# and BenchmarkStraggler, and BP's speed-up from 1 to 2 cores paired in one loop,
# BenchmarkBPSpeedupPaired (./bench),
# BenchmarkHandoff, BenchmarkRoundTrip (./channels), BenchmarkObserverOverhead
# (./metrics), and across processes BenchmarkRoundTrip (./channels/natslink),
# BenchmarkSplitUpdate and BenchmarkHopLatency (./cluster) at -cpu 1,2,...,nproc, and BenchmarkBPKernel with OpenBLAS where the
# openblas build tag builds (Debian: libopenblas-dev). The core counts alternate (-cpu
# 1,2,1,2,... with -count 1; layer ops and PC updates in rounds, see rounds below), so
# that the drift of a shared host falls on every core count alike; PyTorch's BP step from
# bench/torch/torch_mlp_bench.py (float32 and float64, 1 and 2 threads; ONLY=torch.jsonl
# measures that alone) when /usr/bin/python3 has torch (Debian: python3-torch). Raw outputs
# and benchstat's tables are kept in docs/bench/raw/.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
OUT=${OUT:-docs}
out=$OUT/bench
raw=$out/raw
mkdir -p "$raw"

COUNT=${COUNT:-10}
BENCHTIME=${BENCHTIME:-200ms}
n=$(nproc)
cpus=$(seq -s, 1 "$n")
CPUS=${CPUS:-$cpus}
# Every core count COUNT times, interleaved.
cpulist=$(for _ in $(seq "$COUNT"); do printf '%s,' "$CPUS"; done)
cpulist=${cpulist%,}

# Issue 18's targets, every pattern at both precisions: the BP steps against PyTorch and
# from 1 to 2 cores; exact FPA-PC against BP at width >= 256 on both engines; the float32
# GEMM at 64x1024x1024 against the float32 FMA peak (internal/gemm).
bp18='BPStep/precision=/H=2$/width=64$/batch=64$ BPStep/precision=/H=8$/width=(256|1024)$/batch=64$'
ev18='EventVsBP/precision=/engine=/H=(2|8)$/width=(256|1024)$/batch=64$'
gemm18='Gemm/precision=f32/nn/64x1024x1024/avx FMAPeak/precision=f32/'
# ev: the event schedule's paired benchmarks; gemm: internal/gemm's, for the float32 peak.
# The report grid runs the float64 benchmarks over its whole grid and float32 on issue 18's
# settings (the report's other sections are float64).
ev="EventVsBP/precision=f64/ EventVsBP/precision=f32/engine=/H=(2|8)\$/width=(256|1024)\$/batch=64\$ ScheduleSaving/ SkipOverhead/ Straggler/"
gemm=$gemm18
# BP's speed-up from 1 to 2 cores at [1024]x8, both precisions, one core and two
# alternating in one loop (the report's speed-up target reads it).
speedup='BPSpeedupPaired/precision=/H=8$/width=1024$/batch=64$'
precisionOnly=""
case "${GRID:-report}" in
  full)
    bp='BPStep|BPKernel'; pc='PCUpdate EngineOverhead'; ops='LayerOp' ;;
  precision)
    # Issue 18's targets alone. bp.txt and event.txt then hold these settings only, so the
    # report's other BP and event tables show just them; run the report grid for the rest.
    precisionOnly=1
    bp=$bp18; ev=$ev18; pc=''; ops='' ;;
  report)
    # Everything at width 64 and 256; at width 1024 every variant up to H = 16 and FPA-PC
    # at H = 32 too (an update there is 2·10^11 flops); batch 1 for BP and at width 64 for
    # PC. go test splits a
    # -bench pattern at slashes into one pattern per level, so each subset is one run
    # (patterns separated by spaces).
    bp="BPStep/precision=f64/ BPKernel/ BPStep/precision=f32/H=2\$/width=64\$/batch=64\$ BPStep/precision=f32/H=8\$/width=(256|1024)\$/batch=64\$"
    # The PC updates in float64, the precision of the model's layer ops.
    pc='PCUpdate/precision=f64/variant=(fpa|pc|zil)/engine=/schedule=dense/H=/width=(64|256)/batch=64$ PCUpdate/precision=f64/variant=(fpa|pc|zil)/engine=/schedule=dense/H=(1|2|4|8|16)$/width=1024/batch=64$ PCUpdate/precision=f64/variant=fpa/engine=/schedule=dense/H=32$/width=1024/batch=64$ PCUpdate/precision=f64/variant=(fpa|pc|zil)/engine=/schedule=dense/H=/width=64/batch=1$ EngineOverhead/'
    ops='LayerOp/' ;;
  quick)
    bp='BPStep/precision=/H=(2|8)/width=(64|1024)/batch=64$ BPKernel/'
    gemm=''; speedup=''
    pc='PCUpdate/precision=f64/variant=(fpa|pc)/engine=(parallel|sequential)/schedule=dense/H=(2|8)/width=(64|256)/batch=64$ EngineOverhead/variant=fpa/H=/width=(64|256)/'
    ops='LayerOp/op=/in=/out=/batch=64$' ;;
  *) echo "run.sh: GRID must be report, full, quick or precision" >&2; exit 2 ;;
esac

kept="" # raw files that KEEP=1 kept rather than measured
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "== building"
go test -c -o "$tmp/bench.test" ./bench
go test -c -o "$tmp/channels.test" ./channels
go test -c -o "$tmp/metrics.test" ./metrics
go test -c -o "$tmp/natslink.test" ./channels/natslink
go test -c -o "$tmp/cluster.test" ./cluster
go test -c -o "$tmp/gemm.test" ./internal/gemm
openblas=""
if [ -n "$precisionOnly" ]; then
  : # no OpenBLAS column in the precision grid
elif go test -tags openblas -c -o "$tmp/bench-openblas.test" ./bench 2>/dev/null; then
  openblas=1
else
  echo "== no OpenBLAS build (install libopenblas-dev for its column)"
fi

# measure files...: whether to measure these raw files now. KEEP=1 keeps them if they
# are all there already; ONLY measures the files it lists alone, and keeps the others
# that are there (a missing one is left out of the report).
measure() {
  local f have=1
  for f in "$@"; do [ -s "$raw/$f" ] || have=""; done
  if [ -n "${ONLY:-}" ]; then
    local listed=""
    for f in "$@"; do
      case " $ONLY " in *" $f "*) listed=1 ;; esac
    done
    if [ -z "$listed" ]; then
      if [ -n "$have" ]; then
        echo "== keeping $*"; kept="$kept $*"
      else
        echo "== leaving out $* (not in ONLY)"
      fi
      return 1
    fi
  fi
  if [ -n "${KEEP:-}" ] && [ -n "$have" ]; then
    echo "== keeping $*"; kept="$kept $*"; return 1
  fi
  return 0
}

run() { # file patterns... (BIN names the test binary, bench.test by default)
  local file=$1 bin=${BIN:-bench.test}; shift
  measure "$file" || return 0
  : > "$raw/$file"
  for re in "$@"; do
    echo "== $re -> $raw/$file (cpu $CPUS, $COUNT times each)"
    (cd "$tmp" && "./$bin" -test.run '^$' -test.bench "$re" -test.benchmem \
       -test.benchtime "$BENCHTIME" -test.count 1 -test.cpu "$cpulist") >> "$raw/$file"
    if ! grep -q '^Benchmark' "$raw/$file"; then
      echo "run.sh: no benchmark matched $re" >&2; exit 1
    fi
  done
  echo "   $(grep -c '^Benchmark' "$raw/$file") results"
}
# The model compares PC updates with layer ops, so the two are measured in alternating
# rounds (each round every core count once): a shared host's drift, which can move every
# figure by a fifth within an hour, then falls on both alike.
rounds() { # ops-file pc-file
  measure "$1" "$2" || return 0
  : > "$raw/$1"; : > "$raw/$2"
  for r in $(seq "$COUNT"); do
    echo "== round $r of $COUNT: layer ops and PC updates (cpu $CPUS)"
    # One process per core count, started at that GOMAXPROCS: go test times a benchmark
    # whose first run already fills -benchtime by that run alone, and makes it before it
    # sets the first -cpu value, at whatever GOMAXPROCS the previous benchmark left.
    for c in ${CPUS//,/ }; do
      for re in $ops; do
        (cd "$tmp" && GOMAXPROCS=$c ./bench.test -test.run '^$' -test.bench "$re" -test.benchmem \
           -test.benchtime "$BENCHTIME" -test.count 1 -test.cpu "$c") >> "$raw/$1"
      done
      for re in $pc; do
        (cd "$tmp" && GOMAXPROCS=$c ./bench.test -test.run '^$' -test.bench "$re" -test.benchmem \
           -test.benchtime "$BENCHTIME" -test.count 1 -test.cpu "$c") >> "$raw/$2"
      done
    done
  done
  for f in "$1" "$2"; do
    if ! grep -q '^Benchmark' "$raw/$f"; then
      echo "run.sh: no benchmark results in $raw/$f" >&2; exit 1
    fi
    echo "   $(grep -c '^Benchmark' "$raw/$f") results in $f"
  done
}
if [ -n "$precisionOnly" ]; then
  # Only what the targets need; the other raw files are kept if there (as ONLY does).
  ONLY=${ONLY:-"bp.txt event.txt gemm.txt speedup.txt torch.jsonl"}
fi
rounds ops.txt pc.txt
# The GEMM against the FMA peak is a per-core figure: one core, GOMAXPROCS=1 from the start
# (so that no product is cut into tiles for helpers that the calling thread's CPU time
# would leave out), COUNT times.
if [ -n "$gemm" ] && measure gemm.txt; then
  : > "$raw/gemm.txt"
  for re in $gemm; do
    echo "== $re -> $raw/gemm.txt (cpu 1, $COUNT times)"
    (cd "$tmp" && GOMAXPROCS=1 ./gemm.test -test.run '^$' -test.bench "$re" -test.benchtime "$BENCHTIME" \
       -test.count "$COUNT" -test.cpu 1) >> "$raw/gemm.txt"
  done
  echo "   $(grep -c '^Benchmark' "$raw/gemm.txt") results"
fi
if measure handoff.txt; then
  (cd "$tmp" && ./channels.test -test.run '^$' -test.bench 'Handoff|RoundTrip' -test.count 1 -test.cpu "$cpulist") > "$raw/handoff.txt"
fi
if measure pair.txt; then
  KEEP="" ONLY="" run pair.txt 'NeighbourPair/'
  if [ "$n" -ge 2 ]; then # the wake-up latency needs an idle second core
    wakecpus=$(for _ in $(seq "$COUNT"); do printf '%s,' "$(seq -s, 2 "$n")"; done)
    (cd "$tmp" && ./bench.test -test.run '^$' -test.bench 'WakeIdleCore' \
       -test.benchtime "$BENCHTIME" -test.count 1 -test.cpu "${wakecpus%,}") >> "$raw/pair.txt"
  fi
fi
run bp.txt $bp
run event.txt $ev
# BenchmarkBPSpeedupPaired sets GOMAXPROCS 1 and 2 itself, so it runs at -cpu 2 alone,
# COUNT times; each run times SPEEDUPTIME steps on each core count (a [1024]x8 step takes
# 40-90 ms on one core, so -benchtime 200ms would pair one or two steps).
if [ -n "$speedup" ] && [ "$n" -ge 2 ] && measure speedup.txt; then
  echo "== $speedup -> $raw/speedup.txt (cpu 2, $COUNT times)"
  (cd "$tmp" && ./bench.test -test.run '^$' -test.bench "$speedup" \
     -test.benchtime "${SPEEDUPTIME:-40x}" -test.count "$COUNT" -test.cpu 2) > "$raw/speedup.txt"
  if ! grep -q '^Benchmark' "$raw/speedup.txt"; then
    echo "run.sh: no benchmark matched $speedup" >&2; exit 1
  fi
  echo "   $(grep -c '^Benchmark' "$raw/speedup.txt") results"
fi
if [ -n "$openblas" ]; then
  BIN=bench-openblas.test run bp-openblas.txt 'BPKernel/kernel=openblas/'
elif [ -s "$raw/bp-openblas.txt" ]; then
  kept="$kept bp-openblas.txt" # no OpenBLAS build here: the report uses the file there is
fi
if measure observer.txt; then
  echo "== ObserverOverhead -> $raw/observer.txt"
  (cd "$tmp" && ./metrics.test -test.run '^$' -test.bench 'ObserverOverhead' -test.benchmem \
     -test.benchtime 1s -test.count 1 -test.cpu "$cpulist") > "$raw/observer.txt"
fi

# Across processes: the links over NATS on loopback against in-process and against
# nats.go's own request, a PC update split over two workers, and the update against a
# delay added to every hop (the workers are goroutines of the benchmark, each on a
# connection of its own to an embedded server).
if measure nats.txt; then
  : > "$raw/nats.txt"
  for b in "natslink.test RoundTrip$/" "cluster.test SplitUpdate$/" "cluster.test SplitUpdatePaired/" "cluster.test HopLatency/"; do
    set -- $b
    echo "== $2 -> $raw/nats.txt (cpu $CPUS, $COUNT times each)"
    (cd "$tmp" && "./$1" -test.run '^$' -test.bench "$2" -test.benchmem \
       -test.benchtime "$BENCHTIME" -test.count 1 -test.cpu "$cpulist") >> "$raw/nats.txt"
  done
  echo "   $(grep -c '^Benchmark' "$raw/nats.txt") results"
fi

# What the run key costs: a link round trip with the key against one without, paired in
# one loop (BenchmarkRoundTripAuthPaired), at the machine's core count.
if measure auth.txt; then
  echo "== RoundTripAuthPaired -> $raw/auth.txt (cpu $n, $COUNT times)"
  (cd "$tmp" && ./natslink.test -test.run '^$' -test.bench 'RoundTripAuthPaired/' \
     -test.count "$COUNT" -test.cpu "$n") > "$raw/auth.txt"
fi

torch=""
if ! measure torch.jsonl; then
  [ -s "$raw/torch.jsonl" ] && torch="-torch $raw/torch.jsonl"
elif [ -z "${NOTORCH:-}" ] && /usr/bin/python3 -c 'import torch' 2>/dev/null; then
  echo "== PyTorch reference"
  rm -f "$raw/torch.jsonl"
  ob=/usr/lib/x86_64-linux-gnu/openblas-pthread
  if [ ! -d "$ob" ]; then
    echo "== no $ob (Debian: libopenblas0-pthread): PyTorch times the reference BLAS, 10-20x slower"
  fi
  # Issue 18's twelve cases: (H, w) in {(2, 64), (8, 256), (8, 1024)} at float32 and float64,
  # 1 and 2 threads; and 784-[64]x8-10 at one thread, the BPKernel table's network not among them.
  # The script sets the threads, OMP_WAIT_POLICY=PASSIVE and the OpenBLAS folder itself.
  for dt in float32 float64; do
    for th in 1 2; do
      configs=2x64,8x256,8x1024
      [ "$th" = 1 ] && configs=$configs,8x64
      /usr/bin/python3 "$root/bench/torch/torch_mlp_bench.py" --threads $th --dtype $dt \
        --configs $configs --max-wait "${TORCHWAIT:-1800}" --blas "$ob" --tag openblas_t$th \
        --out "$raw/torch.jsonl" >/dev/null
    done
  done
  torch="-torch $raw/torch.jsonl"
fi

echo "== benchstat"
inputs=""
for f in bp bp-openblas pc ops handoff pair observer event speedup nats auth gemm; do
  [ -s "$raw/$f.txt" ] || continue
  go tool benchstat "$raw/$f.txt" > "$raw/$f.benchstat.txt" || true
  inputs="$inputs,$raw/$f.txt"
done

{
  echo "# Benchmarks"
  echo
  measured="GRID=${GRID:-report}"
  if [ -n "${ONLY:-}" ] && [ "${GRID:-report}" != precision ]; then
    measured="ONLY=\"$ONLY\"" # the grid named nothing: ONLY chose what was measured
  fi
  echo "Written by \`bench/run.sh\` ($measured, COUNT=$COUNT: each benchmark $COUNT times at each of -cpu $CPUS, the core counts interleaved; -benchtime $BENCHTIME) on $(date -u +%Y-%m-%d)."
  echo "Machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $n cores; $(go version | cut -d' ' -f3-)."
  echo "Matrix kernel: $(cd "$tmp" && ./bench.test -test.run TestKernelName -test.v 2>/dev/null | sed -n 's/.*kernel: //p' | head -1)."
  echo "Raw results and benchstat tables: [raw/]($(basename "$out")/raw/)."
  if [ -n "$kept" ]; then
    echo "Kept from an earlier run (KEEP=1 or ONLY), measured then and possibly with other settings or benchmark code:$kept."
  fi
  echo
} > "$tmp/header.md"
go run ./bench/report -in "${inputs#,}" $torch \
  -header "$tmp/header.md" -out "$OUT/bench.md" -plots "$out"
echo "== wrote $OUT/bench.md"
