#!/usr/bin/env bash
# Checks every CloudFormation template of a cloud assembly with cfn-lint and says
# what it found in a few lines: errors and unexpected warnings in full, the
# W3005 warnings aws-cdk-lib's own resources always raise once, explained.
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
findings=$(mktemp)
trap 'rm -f "$findings"' EXIT
cfn-lint --format json -- "${templates[@]}" > "$findings"
rc=$?
# cfn-lint's exit code is a bit mask: 2 = errors, 4 = warnings, 8 = informational; 1 or 32 and up: cfn-lint itself failed.
if [ $rc -eq 1 ] || [ $rc -ge 32 ]; then
  echo "cfn-lint failed (exit $rc)" >&2
  exit 1
fi
# cfn-lint is a Python program, so Python is there to read its findings.
python3 - "$findings" "${templates[@]}" <<'PY'
import json, os, sys
findings = json.load(open(sys.argv[1]))
templates = {path: json.load(open(path)) for path in sys.argv[2:]}

def depends_on_role(f):
    # W3005 "DependsOn already enforced by a Ref or GetAtt", on a DependsOn entry that names an IAM role.
    where = f["Location"]["Path"]
    if f["Rule"]["Id"] != "W3005" or len(where) < 4 or where[2] != "DependsOn":
        return False
    resources = templates.get(f["Filename"], {}).get("Resources", {})
    depends = resources.get(where[1], {}).get("DependsOn", [])
    depends = [depends] if isinstance(depends, str) else depends
    target = depends[where[3]] if isinstance(where[3], int) and where[3] < len(depends) else None
    return resources.get(target, {}).get("Type") == "AWS::IAM::Role"

known = [f for f in findings if depends_on_role(f)]
others = [f for f in findings if not depends_on_role(f)]
for f in others:
    print(f'{os.path.basename(f["Filename"])}:{f["Location"]["Start"]["LineNumber"]} {f["Level"]} {f["Rule"]["Id"]} {f["Message"]}')
errors = [f for f in others if f["Level"] == "Error"]
warnings = [f for f in others if f["Level"] == "Warning"]
count = len(templates)
plural = lambda n, word: f"{n} {word}{'' if n == 1 else 's'}"
verdict = f"cfn-lint, {plural(count, 'template')}: {plural(len(errors), 'error')}, {plural(len(warnings), 'warning')}"
if known:
    verdict += (f", and {len(known)} expected W3005 (\"DependsOn already enforced by a Ref or GetAtt\"): aws-cdk-lib's"
                " Lambda functions and Provider waiter, and this library's import and distribution resources, list an IAM"
                " role in DependsOn that they also reference, so that the role's policies exist before they run; harmless")
print(verdict)
sys.exit(1 if errors else 0)
PY
