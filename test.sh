#!/usr/bin/env bash
# The whole test suite: every package, then the packages that run goroutines again under
# the race detector. Usage: ./test.sh [extra go test flags]
# -timeout 300s bounds each package: a hung test fails with every goroutine's stack after
# five minutes, not go test's default ten. The slowest, cmd/pcnet, takes about 90 s on
# two cores, and three minutes while other work shares them.
set -euo pipefail
cd "$(dirname "$0")"
go test -count=1 -timeout 300s "$@" ./...
go test -count=1 -race -timeout 300s "$@" ./actor/... ./channels/... ./pcnet/... ./metrics/... ./train/... ./cluster/...
