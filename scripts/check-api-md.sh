#!/usr/bin/env bash
# API.md is generated from the jsii assembly; a stale one fails here instead of misleading readers,
# and so does a public symbol, parameter or optional property without its documentation.
set -euo pipefail
jsii-docgen -o API.md
if ! git diff --exit-code -- API.md; then
  echo "API.md is out of date: run 'npx projen docgen' and commit it" >&2
  exit 1
fi
if grep -n 'No description' API.md; then
  echo "API.md has undocumented symbols or parameters (above): document them in src/ (a summary, @param, @default) and run 'npx projen docgen'" >&2
  exit 1
fi
node - <<'JS'
// Every optional property of a struct says what happens without it (@default), as the style asks.
const types = Object.values(JSON.parse(require('fs').readFileSync('.jsii', 'utf8')).types);
const missing = types.flatMap((t) => (t.datatype ? t.properties ?? [] : [])
  .filter((p) => p.optional && p.docs?.default === undefined)
  .map((p) => `${t.fqn}.${p.name}`));
if (missing.length > 0) {
  console.error(`optional properties without @default: ${missing.join(', ')}`);
  process.exit(1);
}
JS
