import * as path from 'path';
import { ExpectedResult, IntegTest } from '@aws-cdk/integ-tests-alpha';
import { App, Duration, Stack } from 'aws-cdk-lib';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { DiskImage, LicenseType, Platform, VmImportImage } from '../src';

// The import story: a VM disk imported as an Image Builder image. Deployed, EC2 must
// know its AMI as available. INTEG_DISK_BUCKET and INTEG_DISK_KEY name a disk of your
// own (a Linux VM that VM Import supports) to deploy with: the repository's sample
// disk synthesizes but holds no operating system. Without them the app is the one
// the committed snapshot holds.
// No construct stack traces in the committed snapshot: they carry the paths of the machine that wrote it.
const app = new App({ context: { 'aws:cdk:disable-stack-trace': true, 'aws:cdk:disable-creation-stack-traces': true } });
const stack = new Stack(app, 'VmImportInteg');
const bucket = process.env.INTEG_DISK_BUCKET;
const key = process.env.INTEG_DISK_KEY;
const disk = bucket && key
  ? DiskImage.fromBucket(s3.Bucket.fromBucketName(stack, 'Disks', bucket), key)
  : DiskImage.fromAsset(path.join(__dirname, '..', 'examples', 'sample-disk.vmdk'));
const image = new VmImportImage(stack, 'Image', {
  disks: [disk],
  platform: Platform.LINUX,
  licenseType: LicenseType.BYOL,
  imageName: 'integ-vm-import',
  timeout: Duration.hours(3),
});

const integ = new IntegTest(app, 'VmImport', { testCases: [stack] });
integ.assertions
  .awsApiCall('EC2', 'DescribeImages', { ImageIds: [image.imageId] })
  .expect(ExpectedResult.objectLike({ Images: [{ State: 'available' }] }));
app.synth();
