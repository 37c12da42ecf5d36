#!/usr/bin/env bash
# The contract's checks: buf lint (STANDARD), no breaking change against
# main, and src/gen matching what buf generates from proto/ now.
set -euo pipefail
cd "$(dirname "$0")/.."

npx buf lint
if git rev-parse --verify -q refs/heads/main >/dev/null; then
  npx buf breaking --against '.git#branch=main'
else
  echo "lint:proto: no local main branch to compare against; breaking check not run" >&2
fi

fresh=$(mktemp -d)
trap 'rm -rf "$fresh"' EXIT
mkdir -p "$fresh/src/gen"
bash scripts/generate.sh "$fresh"
if ! diff -r "$fresh/src/gen" src/gen >/dev/null; then
  diff -r "$fresh/src/gen" src/gen | head -20 >&2
  echo "lint:proto: src/gen is stale; run npm run generate and commit the result" >&2
  exit 1
fi
echo "lint:proto: ok"
