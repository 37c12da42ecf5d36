#!/usr/bin/env bash
# The whole test suite, runnable on a bare machine: it installs what the
# suite needs (Debian packages, node_modules), checks types, lints (ESLint,
# zero warnings) and checks the proto contract, builds, then runs vitest.
# Extra arguments go to vitest.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/ensure-system-deps.sh
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
npm run --silent typecheck
npm run --silent lint
npm run --silent lint:proto
npm run --silent build
npx vitest run "$@"
# The benchmark harness in its one-minute smoke mode, so it never rots; it
# fails only when the harness breaks, not when a performance target is missed.
if [ $# -eq 0 ]; then
  npm run --silent bench:quick
fi
