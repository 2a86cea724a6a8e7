#!/usr/bin/env bash
# The whole test suite: every package, then the packages that run goroutines again under
# the race detector. Usage: ./test.sh [extra go test flags]
# -timeout 180s bounds each package: a hung test fails with every goroutine's stack after
# three minutes, not go test's default ten. The slowest, cmd/pcnet, takes about 80 s on
# two cores (more while other work shares them).
set -euo pipefail
cd "$(dirname "$0")"
go test -count=1 -timeout 180s "$@" ./...
go test -count=1 -race -timeout 180s "$@" ./actor/... ./channels/... ./pcnet/... ./metrics/... ./train/... ./cluster/...
