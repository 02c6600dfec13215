#!/usr/bin/env bash
# API.md is generated from the jsii assembly; a stale one fails here instead of misleading readers.
set -euo pipefail
jsii-docgen -o API.md
if ! git diff --exit-code -- API.md; then
  echo "API.md is out of date: run 'npx projen docgen' and commit it" >&2
  exit 1
fi
