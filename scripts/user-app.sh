#!/usr/bin/env bash
# The packed library in an app as a user makes it (user-app/): on the newest aws-cdk-lib,
# with aws-imagebuilder-alpha and cdk-nag, installed from the tarball the way the README
# says. The README's snippets are written into the app (user-app/extract-readme.mjs),
# compiled against those versions, and synthesized by the tests in user-app/test/.
# Needs dist/js/*.tgz (npx projen tarball, or package:js after a compile) and the registry
# for user-app's own dependencies (npm ci, from its lock file).
set -euo pipefail
cd "$(dirname "$0")/.."
shopt -s nullglob
tarballs=(dist/js/cdk-vm-import-export@*.jsii.tgz)
if [ ${#tarballs[@]} -ne 1 ]; then
  echo "expected one dist/js/cdk-vm-import-export@<version>.jsii.tgz, found ${#tarballs[@]}: run npx projen tarball" >&2
  exit 1
fi
cd user-app
npm ci --no-audit --no-fund --loglevel=error
# As the README's install line does; --no-save keeps package.json and the lock file as committed.
npm install --no-save --no-audit --no-fund --loglevel=error "../${tarballs[0]}"
node extract-readme.mjs ../README.md
rm -rf dist
../node_modules/.bin/tsc -p .
node --test dist/test/*.test.js
