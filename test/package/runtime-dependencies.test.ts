// The published package ships no AWS SDK (the handlers bundle theirs into their Lambda
// assets; the SDK clients are devDependencies), so nothing the constructs load at synth may
// import one: a user's app would fail with "Cannot find module '@aws-sdk/...'".
const SDK_CLIENTS = ['@aws-sdk/client-cloudformation', '@aws-sdk/client-ec2', '@aws-sdk/client-imagebuilder', '@aws-sdk/client-sfn'];

test('the constructs synthesize without loading any AWS SDK client', () => {
  jest.isolateModules(() => {
    for (const name of SDK_CLIENTS) {
      jest.doMock(name, () => {
        throw new Error(`${name} was loaded at synth; the published package does not ship it`);
      });
    }
    /* eslint-disable @typescript-eslint/no-require-imports */
    const { App, Stack } = require('aws-cdk-lib') as typeof import('aws-cdk-lib');
    const s3 = require('aws-cdk-lib/aws-s3') as typeof import('aws-cdk-lib/aws-s3');
    const lib = require('../../src') as typeof import('../../src');
    /* eslint-enable @typescript-eslint/no-require-imports */
    const app = new App();
    const stack = new Stack(app, 'NoSdk');
    const bucket = s3.Bucket.fromBucketName(stack, 'Disks', 'my-vm-disks');
    new lib.VmImportImage(stack, 'Image', { disks: [lib.DiskImage.fromBucket(bucket, 'web.vmdk')], platform: lib.Platform.LINUX, licenseType: lib.LicenseType.BYOL });
    new lib.VmDiskDistribution(stack, 'Dist', { exports: [{ bucket, prefix: 'vm/', format: lib.VmDiskFormat.VMDK }] });
    const resources = Object.values<{ Type: string }>(app.synth().getStackByName('NoSdk').template.Resources);
    expect(resources.map((r) => r.Type)).toEqual(expect.arrayContaining(['Custom::VmImportImage', 'Custom::VmDiskDistribution']));
  });
});
