import { AwsApiCall, ExpectedResult, IntegTest } from '@aws-cdk/integ-tests-alpha';
import { App, Duration } from 'aws-cdk-lib';
import { VmImportExportExampleStack } from '../examples/vm-import-export-stack';

// The whole story, the example app as an integration test: import, build on the imported
// image, export the build. Deployed, the imported image must be AVAILABLE and the build's
// VMDK in the export bucket. INTEG_DISK_BUCKET and INTEG_DISK_KEY name a disk of your own
// to deploy with (the sample disk holds no operating system); the example's buckets are
// retained when the stack is destroyed (RemovalPolicy.RETAIN).
// No construct stack traces in the committed snapshot: they carry the paths of the machine that wrote it.
const app = new App({ context: { 'aws:cdk:disable-stack-trace': true, 'aws:cdk:disable-creation-stack-traces': true } });
const stack = new VmImportExportExampleStack(app, 'VmImportExportInteg', {
  diskBucketName: process.env.INTEG_DISK_BUCKET,
  diskKey: process.env.INTEG_DISK_KEY,
});
const integ = new IntegTest(app, 'VmImportExport', { testCases: [stack] });
integ.assertions
  .awsApiCall('imagebuilder', 'GetImage', { imageBuildVersionArn: stack.imported.imageArn })
  .expect(ExpectedResult.objectLike({ image: { state: { status: 'AVAILABLE' } } }));
// And the arm64 AMI ImportedAmi registered must be available.
integ.assertions
  .awsApiCall('EC2', 'DescribeImages', { ImageIds: [stack.arm64.imageId] })
  .expect(ExpectedResult.objectLike({ Images: [{ State: 'available', Architecture: 'arm64' }] }));
// VM Export names the file <prefix>export-ami-<id>.<format>; retried in case it appears after the build.
const listExports = integ.assertions.awsApiCall('S3', 'ListObjectsV2', { Bucket: stack.exportBucket.bucketName, Prefix: 'vm-exports/export-ami-' }) as AwsApiCall;
listExports
  .expect(ExpectedResult.objectLike({ KeyCount: 1 }))
  .waitForAssertions({ totalTimeout: Duration.minutes(30), interval: Duration.minutes(1) });
// integ-tests-alpha grants "s3:ListObjectsV2", which is no IAM action: listing a bucket is s3:ListBucket.
const listBucket = { Effect: 'Allow', Action: ['s3:ListBucket'], Resource: [stack.exportBucket.bucketArn] };
listExports.provider.addToRolePolicy(listBucket);
listExports.waiterProvider?.addToRolePolicy(listBucket);
app.synth();
