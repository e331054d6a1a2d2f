#!/usr/bin/env bash
# Fails when contracts/build/ or src/eth/abis.ts differ from what `npm run compile:contracts` makes
# from contracts/ and contracts-abi/ (the committed artifacts must be the compiled sources).
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
node scripts/compile-contracts.mjs "$tmp" 2>/dev/null
status=0
diff -r "$tmp/contracts/build" contracts/build || status=1
diff "$tmp/src/eth/abis.ts" src/eth/abis.ts || status=1
if [ "$status" -ne 0 ]; then
  echo "contract artifacts are stale: run 'npm run compile:contracts' and commit the result" >&2
  exit 1
fi
echo "compiled contract artifacts are up to date"
