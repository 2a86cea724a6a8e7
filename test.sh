#!/usr/bin/env bash
# The whole test suite: every package, then the packages that run goroutines again under
# the race detector. Usage: ./test.sh [extra go test flags]
set -euo pipefail
cd "$(dirname "$0")"
go test -count=1 "$@" ./...
go test -count=1 -race "$@" ./actor/... ./channels/... ./pcnet/... ./metrics/... ./train/... ./cluster/...
