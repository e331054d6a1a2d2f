#!/usr/bin/env bash
# Fails when src/protocol/gen/ differs from what `npm run generate` makes from proto/.
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
sed "s#out: src/protocol/gen#out: $tmp/gen#" buf.gen.yaml > "$tmp/buf.gen.yaml"
PATH="$PWD/node_modules/.bin:$PATH" buf generate --template "$tmp/buf.gen.yaml"
if ! diff -r "$tmp/gen" src/protocol/gen; then
  echo "src/protocol/gen is stale: run 'npm run generate' and commit the result" >&2
  exit 1
fi
echo "generated protobuf code is up to date"
