#!/usr/bin/env bash
# `npm run proto:check`: regenerates everything `npm run proto:gen` makes (buf generate with
# proto/buf.gen.yaml, then scripts/gen-descriptors.ts) into a temporary directory and fails if the
# generated code in the tree differs, so stale generated code fails `npm test` and CI.
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
./node_modules/.bin/buf generate --template proto/buf.gen.yaml -o "$tmp"
node --import tsx scripts/gen-descriptors.ts --out "$tmp" >/dev/null
stale=0
for d in src/control/gen src/osm/gen; do
  if ! diff -rq "$d" "$tmp/$d"; then
    stale=1
    diff -ru --exclude=descriptors.ts "$d" "$tmp/$d" | head -n 60 || true
  fi
done
if [ "$stale" -ne 0 ]; then
  echo "proto:check: generated code is stale; run 'npm run proto:gen' and commit the result" >&2
  exit 1
fi
echo "proto:check: generated code is up to date"
