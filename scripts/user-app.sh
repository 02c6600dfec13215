#!/usr/bin/env bash
# The packed library in an app as a user makes it (user-app/): on the newest aws-cdk-lib,
# with aws-imagebuilder-alpha and cdk-nag, installed from the tarball the way the README
# says. The README's snippets are written into the app (user-app/extract-readme.mjs),
# compiled against those versions, and synthesized by the tests in user-app/test/.
# It runs in a temporary copy of user-app/: a second copy of this package under the
# repository would be found by jsii-docgen and jsii-rosetta, which search it for assemblies.
# Needs dist/js/*.tgz (npx projen tarball, or package:js after a compile) and the registry
# for user-app's own dependencies (npm ci, from its lock file).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
shopt -s nullglob
tarballs=("$repo"/dist/js/cdk-vm-import-export@*.jsii.tgz)
if [ ${#tarballs[@]} -ne 1 ]; then
  echo "expected one dist/js/cdk-vm-import-export@<version>.jsii.tgz, found ${#tarballs[@]}: run npx projen tarball" >&2
  exit 1
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir "$work/user-app"
cp -r "$repo/user-app/package.json" "$repo/user-app/package-lock.json" "$repo/user-app/.npmrc" \
  "$repo/user-app/tsconfig.json" "$repo/user-app/extract-readme.mjs" "$repo/user-app/test" "$work/user-app/"
cd "$work/user-app"
npm ci --no-audit --no-fund --loglevel=error
# As the README's install line does; --no-save keeps package.json and the lock file as committed.
npm install --no-save --no-audit --no-fund --loglevel=error "${tarballs[0]}"
node extract-readme.mjs "$repo/README.md"
"$repo/node_modules/.bin/tsc" -p .
USER_APP_REPO="$repo" node --test dist/test/*.test.js
