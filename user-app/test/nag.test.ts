// cdk-nag 3 on the newest aws-cdk-lib, as a synth-time plugin (the README's way
// for current versions): the library's constructs report nothing, a user's own
// wildcard still fails the synth. And the README's ways to acknowledge the
// library's warnings work on this aws-cdk-lib.
import * as assert from 'node:assert/strict';
import { test } from 'node:test';
import { Annotations as Assertions, Match } from 'aws-cdk-lib/assertions';
import { Annotations, App, Stack, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { AwsSolutionsChecks } from 'cdk-nag';
import { DiskImage, LicenseType, Platform, VmDiskDistribution, VmDiskFormat, VmImportImage } from 'cdk-vm-import-export';
import { tempDir } from './support';

function appWithNag(): { app: App; stack: Stack; image: VmImportImage } {
  const app = new App({ outdir: tempDir('nag') });
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  const stack = new Stack(app, 'Nagged', { env: { account: '111122223333', region: 'us-east-1' } });
  const image = new VmImportImage(stack, 'Web', {
    disks: [DiskImage.fromBucket(s3.Bucket.fromBucketName(stack, 'Disks', 'my-vm-disks'), 'exports/web-01.vmdk')],
    platform: Platform.LINUX,
    licenseType: LicenseType.BYOL,
  });
  new VmDiskDistribution(stack, 'Dist', {
    exports: [{ bucket: s3.Bucket.fromBucketName(stack, 'Exports', 'my-vm-exports'), prefix: 'vm/', format: VmDiskFormat.VMDK }],
  });
  return { app, stack, image };
}

test('cdk-nag as a synth plugin finds nothing unacknowledged in the library\'s constructs', () => {
  const { app } = appWithNag();
  assert.doesNotThrow(() => app.synth());
});

test('cdk-nag as a synth plugin still fails the synth on a wildcard the user adds', () => {
  const { app, image } = appWithNag();
  image.serviceRole.addToPrincipalPolicy(new iam.PolicyStatement({ actions: ['s3:GetObject'], resources: ['*'] }));
  assert.throws(() => app.synth(), /Validation failed|AwsSolutions-IAM5/);
});

function licenseWarnings(acknowledge: (stack: Stack, image: VmImportImage) => void): unknown[] {
  const app = new App({ outdir: tempDir('ack') });
  const stack = new Stack(app, 'Warned');
  const image = new VmImportImage(stack, 'Legacy', {
    disks: [DiskImage.fromBucket(s3.Bucket.fromBucketName(stack, 'Disks', 'my-vm-disks'), 'legacy/app.vhd')],
    platform: Platform.WINDOWS,
  });
  acknowledge(stack, image);
  return Assertions.fromStack(stack).findWarning('*', Match.stringLikeRegexp('licenseType'));
}

test('the library\'s warnings are acknowledged as the README shows', () => {
  assert.equal(licenseWarnings(() => undefined).length, 1);
  assert.deepEqual(licenseWarnings((_stack, image) =>
    Annotations.of(image).acknowledgeWarning('cdk-vm-import-export:licenseTypeMissing', 'VM Import picks the license')), []);
  assert.deepEqual(licenseWarnings((stack) =>
    Validations.of(stack).acknowledge({ id: 'cdk-vm-import-export:licenseTypeMissing', reason: 'VM Import picks the license' })), []);
});
