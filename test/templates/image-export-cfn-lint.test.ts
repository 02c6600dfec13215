import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { App, Stack } from 'aws-cdk-lib';
import { EXPORT_ENV, TwoRegionExportStack } from '../support/image-export-stacks';

/**
 * cfn-lint over the stack issue 11 is done with (a VMDK imported and exported as VHD to
 * S3 in two Regions, no pipeline), with and without an environment: no errors, and no
 * warnings but W3005 on a DependsOn that names an IAM role (as cfn-lint.test.ts explains:
 * the custom resources depend on whole role constructs so that their policies are attached).
 */
const version = spawnSync('cfn-lint', ['--version'], { encoding: 'utf8' });
const installed = version.error === undefined && version.status === 0;
const ci = process.env.CI === 'true';

(installed || ci ? test : test.skip)('cfn-lint finds no errors and no unexpected warnings in the two-Region export stack', () => {
  if (!installed) throw new Error(`cfn-lint is not installed (${version.error?.message ?? version.stderr}), and CI=true requires the template check`);
  const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'cfn-lint-export-'));
  try {
    const app = new App({ outdir });
    const stacks: Stack[] = [new TwoRegionExportStack(app, 'TwoRegionExport', { env: EXPORT_ENV }), new TwoRegionExportStack(app, 'TwoRegionExportAgnostic')];
    app.synth();
    const files = stacks.map((stack) => path.join(outdir, stack.templateFile));
    const templates = new Map(files.map((file) => [file, JSON.parse(fs.readFileSync(file, 'utf8'))]));
    const lint = spawnSync('cfn-lint', ['--format', 'json', '--', ...files], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
    if (lint.status === null || lint.status === 1 || lint.status >= 32) throw new Error(`cfn-lint failed (exit ${lint.status}): ${lint.stderr}`);
    const findings: any[] = JSON.parse(lint.stdout || '[]');
    const unexpected = findings.filter((f) => {
      if (f.Rule.Id !== 'W3005') return true;
      const [, logicalId, field, index] = f.Location.Path;
      const resources = templates.get(f.Filename).Resources;
      const target = field === 'DependsOn' ? [].concat(resources[logicalId].DependsOn)[index] : undefined;
      return target === undefined || resources[target]?.Type !== 'AWS::IAM::Role';
    }).map((f) => `${path.basename(f.Filename)}:${f.Location.Start.LineNumber} ${f.Level} ${f.Rule.Id} ${f.Message}`);
    expect(unexpected).toEqual([]);
    // The export is there, and no pipeline.
    for (const template of templates.values()) {
      const types = Object.values<any>(template.Resources).map((r) => r.Type);
      expect(types).toContain('Custom::VmImageExport');
      expect(types).not.toContain('AWS::ImageBuilder::ImagePipeline');
    }
  } finally {
    fs.rmSync(outdir, { recursive: true, force: true });
  }
}, 180_000);
