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
  },
  {
    name: 'VmDiskDistribution',
    counts: [1, 20],
    // Each distribution has its own export role (least privilege per bucket): no bytes target.
    targets: { synthRatio: 1.3, sameFunctions: true },
    setup: ({ s3 }, stack) => ({ bucket: s3.Bucket.fromBucketName(stack, 'Exports', 'my-vm-exports') }),
    add: ({ lib }, stack, i, { bucket }) => new lib.VmDiskDistribution(stack, `Distribution${i}`, {
      exports: [{ bucket, prefix: `vm-${i}/`, format: lib.VmDiskFormat.VMDK }],
    }),
  },
];

module.exports = { CONSTRUCTS, STACK_NAME: 'Bench' };

if (require.main === module) {
  const [name, count, outdir, libdir] = process.argv.slice(2);
  const row = CONSTRUCTS.find((c) => c.name === name);
  if (!row) throw new Error(`no bench row for ${name}`);
  const cdk = require('aws-cdk-lib');
  const modules = { cdk, s3: require('aws-cdk-lib/aws-s3'), lib: require(libdir) };
  const loaded = process.uptime() * 1000;
  const app = new cdk.App({ outdir });
  const stack = new cdk.Stack(app, module.exports.STACK_NAME, { env: ENV });
  const context = row.setup(modules, stack);
  for (let i = 0; i < Number(count); i++) row.add(modules, stack, i, context);
  app.synth();
  const done = process.uptime() * 1000;
  process.stdout.write(JSON.stringify({ loadMs: loaded, synthMs: done - loaded, totalMs: done }));
}
