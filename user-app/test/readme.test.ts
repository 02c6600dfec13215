// The README's snippets, as pasted into an app on the newest aws-cdk-lib with the
// packed library installed: they compiled (tsc over generated/, written by
// extract-readme.mjs), and here they synthesize, cfn-lint clean.
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { App } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import { SNIPPETS } from '../generated/snippets/index';
import { APP_DIR, cfnLint, tempDir, workingDirWithDisk } from './support';

test('the main example is an app entry point that imports a VMDK and builds a recipe on it', () => {
  const outdir = tempDir('main');
  const run = spawnSync(process.execPath, [path.join(APP_DIR, 'dist', 'generated', 'bin', 'my-app.js')], {
    env: { ...process.env, CDK_OUTDIR: outdir },
    encoding: 'utf8',
  });
  assert.equal(run.status, 0, run.stderr);

  const template = Template.fromJSON(JSON.parse(fs.readFileSync(path.join(outdir, 'MyAppStack.template.json'), 'utf8')));
  template.hasResourceProperties('Custom::VmImportImage', {
    Disks: [Match.objectLike({ S3Bucket: 'my-vm-disks', S3Key: 'exports/web-01.vmdk', Format: 'VMDK' })],
    Platform: 'Linux',
    LicenseType: 'BYOL',
  });
  // The recipe's parent names the import's wait condition: it is built once the import is AVAILABLE.
  const [importId] = Object.keys(template.findResources('Custom::VmImportImage'));
  const waits = Object.keys(template.findResources('AWS::CloudFormation::WaitCondition'));
  assert.equal(waits.length, 1);
  template.hasResourceProperties('AWS::ImageBuilder::ImageRecipe', {
    Version: '1.0.x',
    ParentImage: { 'Fn::Select': [0, [{ 'Fn::GetAtt': [importId, 'ImageArn'] }, { Ref: waits[0] }]] },
    Components: [{ ComponentArn: { 'Fn::Join': ['', Match.arrayWith([':imagebuilder:', ':aws:component/update-linux/x.x.x'])] } }],
  });
  cfnLint(outdir);
});

test('every other README snippet synthesizes in a stack, with no errors, cfn-lint clean', () => {
  const outdir = tempDir('snippets');
  const cwd = process.cwd();
  process.chdir(workingDirWithDisk());
  try {
    const app = new App({ outdir });
    const stacks = SNIPPETS.map(([line, Snippet]) => new Snippet(app, `Readme${line}`));
    app.synth();
    for (const stack of stacks) {
      assert.deepEqual(Annotations.fromStack(stack).findError('*', Match.anyValue()), [], `${stack.stackName} has errors`);
    }
    assert.ok(stacks.length >= 5, `only ${stacks.length} snippets were found in the README`);
  } finally {
    process.chdir(cwd);
  }
  cfnLint(outdir);
});

test('the README\'s whole programs (cdk-nag on current and on older aws-cdk-lib) run', () => {
  const programs = path.join(APP_DIR, 'dist', 'generated', 'programs');
  const files = fs.readdirSync(programs).filter((f) => f.endsWith('.js'));
  assert.ok(files.length >= 2, `only ${files.length} programs were found in the README`);
  for (const file of files) {
    const run = spawnSync(process.execPath, [path.join(programs, file)], {
      cwd: tempDir('program'),
      env: { ...process.env, CDK_OUTDIR: tempDir('program-out') },
      encoding: 'utf8',
    });
    assert.equal(run.status, 0, `${file}: ${run.stderr}`);
  }
});
