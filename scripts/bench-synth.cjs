// The stacks the bench synthesizes: one row per construct of the library, each
// built `count` times in one stack. bench.mjs reads the rows (names, counts,
// targets); run as a script, this file synthesizes one stack in a fresh process:
//
//   node scripts/bench-synth.cjs <construct> <count> <outdir> <compiled library dir>
//
// Add a row when the library gets a construct; `add` builds instance `i` of it.
'use strict';

/** Settings every stack of the bench shares. */
const ENV = { account: '111122223333', region: 'us-east-1' };

/**
 * targets.synthRatio: synth time of `counts[1]` instances over `counts[0]` (fresh processes);
 * targets.bytesPerAdded: template bytes each added instance costs;
 * targets.sameFunctions: the Lambda function count does not grow with the instances.
 * A target left out is printed as a figure only. test/footprint.test.ts holds the rows
 * to the targets that need no clock.
 *
 * `floor` (optional) builds the same CloudFormation resources as one instance, bare
 * (aws-cdk-lib's CfnResource, no library): the bench prints what synthesizing them
 * alone adds, aws-cdk-lib's own share of the time an instance costs.
 */
const CONSTRUCTS = [
  {
    name: 'VmImportImage',
    counts: [1, 50],
    targets: { synthRatio: 1.3, bytesPerAdded: 1500, sameFunctions: true },
    setup: ({ s3 }, stack) => ({ disks: s3.Bucket.fromBucketName(stack, 'Disks', 'my-vm-disks') }),
    add: ({ lib }, stack, i, { disks }) => new lib.VmImportImage(stack, `Image${i}`, {
      disks: [lib.DiskImage.fromBucket(disks, `exports/vm-${i}.vmdk`)],
      platform: lib.Platform.LINUX,
      licenseType: lib.LicenseType.BYOL,
    }),
    // The three resources of an import that waits (handle, import, wait condition).
    floorSetup: ({ cdk }, stack) => ({
      token: new cdk.CfnResource(stack, 'Fn', { type: 'AWS::Lambda::Function', properties: { Handler: 'index.handler' } }).getAtt('Arn').toString(),
    }),
    floor: ({ cdk, constructs }, stack, i, { token }) => {
      const scope = new constructs.Construct(stack, `Image${i}`);
      const handle = new cdk.CfnWaitConditionHandle(scope, 'Signal');
      const wait = new cdk.CfnWaitCondition(scope, 'Wait', { handle: handle.ref, count: 1, timeout: '21900' });
      const resource = new cdk.CfnResource(scope, 'Resource', {
        type: 'Custom::VmImportImage',
        properties: {
          ServiceToken: token, ImageName: `image-${i}`, ImageVersion: '1.0.0', Platform: 'Linux', LicenseType: 'BYOL', RoleName: 'vmimport',
          Disks: [{ Format: 'VMDK', S3Bucket: 'my-vm-disks', S3Key: `exports/vm-${i}.vmdk` }], SignalUrl: handle.ref, WaitConditionLogicalId: wait.logicalId,
        },
      });
      wait.node.addDependency(resource);
    },
  },
  {
    name: 'VmDiskDistribution',
    counts: [1, 20],
    // Targets are set for imports only; each distribution has its own export role (least privilege per bucket).
    targets: { sameFunctions: true },
    setup: ({ s3 }, stack) => ({ bucket: s3.Bucket.fromBucketName(stack, 'Exports', 'my-vm-exports') }),
    add: ({ lib }, stack, i, { bucket }) => new lib.VmDiskDistribution(stack, `Distribution${i}`, {
      exports: [{ bucket, prefix: `vm-${i}/`, format: lib.VmDiskFormat.VMDK }],
    }),
  },
  {
    name: 'ImportedAmi',
    counts: [1, 20],
    targets: { sameFunctions: true },
    setup: ({ s3 }, stack) => ({ disks: s3.Bucket.fromBucketName(stack, 'Disks', 'my-vm-disks') }),
    add: ({ lib }, stack, i, { disks }) => new lib.ImportedAmi(stack, `Ami${i}`, {
      disks: [lib.DiskImage.fromBucket(disks, `appliances/arm64-${i}.raw`)],
      architecture: lib.Architecture.ARM64,
    }),
  },
  {
    name: 'VmImageExport',
    counts: [1, 20],
    targets: { sameFunctions: true },
    setup: ({ lib, s3 }, stack) => ({
      distribution: new lib.VmDiskDistribution(stack, 'Exports', {
        exports: [{ bucket: s3.Bucket.fromBucketName(stack, 'ExportBucket', 'my-vm-exports'), prefix: 'vm/', format: lib.VmDiskFormat.VMDK }],
      }),
    }),
    add: ({ lib }, stack, i, { distribution }) => new lib.VmImageExport(stack, `Export${i}`, {
      source: lib.ExportSource.fromAmiId(`ami-${String(i).padStart(17, '0')}`),
      distribution,
    }),
  },
  {
    name: 'VmImportExportServiceRole',
    counts: [1, 20],
    targets: {},
    setup: () => ({}),
    add: ({ lib }, stack, i) => new lib.VmImportExportServiceRole(stack, `Role${i}`, { roleName: `vmimport-${i}` }),
  },
];

module.exports = { CONSTRUCTS, STACK_NAME: 'Bench' };

if (require.main === module) {
  // <construct> or <construct>#floor
  const [spec, count, outdir, libdir] = process.argv.slice(2);
  const [name, variant] = spec.split('#');
  const row = CONSTRUCTS.find((c) => c.name === name);
  if (!row) throw new Error(`no bench row for ${name}`);
  const floor = variant === 'floor';
  const cdk = require('aws-cdk-lib');
  const modules = { cdk, constructs: require('constructs'), s3: require('aws-cdk-lib/aws-s3'), lib: floor ? undefined : require(libdir) };
  const loaded = process.uptime() * 1000;
  const app = new cdk.App({ outdir });
  const stack = new cdk.Stack(app, module.exports.STACK_NAME, { env: ENV });
  const context = (floor ? row.floorSetup : row.setup)(modules, stack);
  for (let i = 0; i < Number(count); i++) (floor ? row.floor : row.add)(modules, stack, i, context);
  app.synth();
  const done = process.uptime() * 1000;
  process.stdout.write(JSON.stringify({ loadMs: loaded, synthMs: done - loaded, totalMs: done }));
}
