#!/usr/bin/env bash
# The whole test suite: every package, then the packages that run goroutines again under
# the race detector. Usage: ./test.sh [extra go test flags]
# -timeout 120s bounds each package: a hung test fails with every goroutine's stack after
# two minutes, not go test's default ten. The slowest packages take about 50 s.
set -euo pipefail
cd "$(dirname "$0")"
go test -count=1 -timeout 120s "$@" ./...
go test -count=1 -race -timeout 120s "$@" ./actor/... ./channels/... ./pcnet/... ./metrics/... ./train/... ./cluster/...
