import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { App } from 'aws-cdk-lib';
import { addRepresentativeStacks } from '../support/stacks';

/**
 * cfn-lint over the templates of the example app and of the constructs with every
 * kind of option (test/support/stacks.ts): no errors, and no warnings but these
 * W3005 ("DependsOn already enforced by a Ref or GetAtt"), each on a DependsOn an IAM role:
 * - aws-cdk-lib's lambda.Function depends on its role and its role's policy, and GetAtts the role;
 * - aws-cdk-lib's Provider waiter state machine does the same with its role;
 * - Custom::VmDiskDistribution depends on the whole export role construct (node.addDependency),
 *   so that its policies are attached before the handler names the role; the role itself, already
 *   Ref'd, is part of that construct. (Custom::VmImportImage depends on its service role's policies only.)
 */

interface Finding {
  readonly Filename: string;
  readonly Level: string;
  readonly Message: string;
  readonly Rule: { readonly Id: string };
  readonly Location: { readonly Start: { readonly LineNumber: number }; readonly Path: Array<string | number> };
}

const version = spawnSync('cfn-lint', ['--version'], { encoding: 'utf8' });
const installed = version.error === undefined && version.status === 0;
const ci = process.env.CI === 'true';
if (!installed && !ci) {
  // eslint-disable-next-line no-console
  console.warn('cfn-lint is not installed: the templates are NOT checked (pip install cfn-lint); with CI=true this fails');
}

/** A W3005 on a DependsOn that names an IAM role, as listed above. */
function isKnownWarning(finding: Finding, templates: Map<string, any>): boolean {
  if (finding.Rule.Id !== 'W3005') return false;
  const [, logicalId, field, index] = finding.Location.Path;
  const resources = templates.get(finding.Filename).Resources;
  const target = field === 'DependsOn' ? [].concat(resources[logicalId].DependsOn)[index as number] : undefined;
  return target !== undefined && resources[target]?.Type === 'AWS::IAM::Role';
}

(installed || ci ? test : test.skip)('cfn-lint finds no errors and no unexpected warnings in any synthesized template', () => {
  if (!installed) {
    throw new Error(`cfn-lint is not installed (${version.error?.message ?? version.stderr}), and CI=true requires the template check: pip install cfn-lint`);
  }
  const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'cfn-lint-'));
  try {
    const app = new App({ outdir });
    const stacks = addRepresentativeStacks(app);
    app.synth();
    const files = stacks.map((stack) => path.join(outdir, stack.templateFile));
    const templates = new Map(files.map((file) => [file, JSON.parse(fs.readFileSync(file, 'utf8'))]));

    // One run over every template: cfn-lint's start-up dominates its runtime.
    const lint = spawnSync('cfn-lint', ['--format', 'json', '--', ...files], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
    // The exit code is a bit mask (2 errors, 4 warnings, 8 informational); 1 or 32 and up: cfn-lint itself failed.
    if (lint.status === null || lint.status === 1 || lint.status >= 32) {
      throw new Error(`cfn-lint failed (exit ${lint.status}): ${lint.stderr}`);
    }
    const findings: Finding[] = JSON.parse(lint.stdout || '[]');
    const unexpected = findings
      .filter((f) => !isKnownWarning(f, templates))
      .map((f) => `${path.basename(f.Filename)}:${f.Location.Start.LineNumber} ${f.Level} ${f.Rule.Id} ${f.Message}`);

    expect(unexpected).toEqual([]);
    expect(files).toHaveLength(10);
  } finally {
    fs.rmSync(outdir, { recursive: true, force: true });
  }
}, 180_000);
