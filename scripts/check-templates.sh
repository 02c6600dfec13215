#!/usr/bin/env bash
# Checks every CloudFormation template of a cloud assembly with cfn-lint.
# Without cfn-lint the templates are not checked, and that is said plainly; in CI it is a failure.
set -uo pipefail
dir=${1:-cdk.out}
shopt -s nullglob
templates=("$dir"/*.template.json)
if [ ${#templates[@]} -eq 0 ]; then
  echo "no templates found in $dir" >&2
  exit 1
fi
if ! command -v cfn-lint >/dev/null 2>&1; then
  echo "cfn-lint is not installed: ${#templates[@]} template(s) in $dir were synthesized but NOT checked (install it with: pip install cfn-lint)"
  [ "${CI:-}" = "true" ] && exit 1
  exit 0
fi
cfn-lint --format parseable -- "${templates[@]}"
rc=$?
# cfn-lint's exit code is a bit mask: 2 = errors, 4 = warnings, 8 = informational.
if [ $((rc & 2)) -ne 0 ] || [ $rc -eq 1 ] || [ $rc -ge 32 ]; then
  echo "cfn-lint found errors in $dir" >&2
  exit 1
fi
echo "cfn-lint: no errors in ${#templates[@]} template(s) in $dir"
