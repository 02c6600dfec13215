import { AwsApiCall, ExpectedResult, IntegTest } from '@aws-cdk/integ-tests-alpha';
import { App, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as imagebuilder from 'aws-cdk-lib/aws-imagebuilder';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { VmDiskDistribution, VmDiskFormat } from '../src';

// The export story: an image built from an AWS-managed Amazon Linux 2023 image, with a
// VmDiskDistribution that exports it as a VMDK. Deployed, the disk file must be in the
// bucket. (Whether VM Export exports every AWS-managed Linux image is not verified here;
// its guide excludes Windows, SQL Server and Marketplace images.)
// No construct stack traces in the committed snapshot: they carry the paths of the machine that wrote it.
const app = new App({ context: { 'aws:cdk:disable-stack-trace': true, 'aws:cdk:disable-creation-stack-traces': true } });
const stack = new Stack(app, 'VmExportInteg');

// Emptied and removed with the stack. VM Export cannot write to SSE-KMS buckets.
const bucket = new s3.Bucket(stack, 'Exports', {
  encryption: s3.BucketEncryption.S3_MANAGED,
  blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
  enforceSSL: true,
  removalPolicy: RemovalPolicy.DESTROY,
  autoDeleteObjects: true,
});
const distribution = new VmDiskDistribution(stack, 'Distribution', {
  distributionName: 'integ-vm-export',
  exports: [{ bucket, prefix: 'vm/', format: VmDiskFormat.VMDK }],
});

const recipe = new imagebuilder.CfnImageRecipe(stack, 'Recipe', {
  name: 'integ-vm-export',
  version: '1.0.x',
  parentImage: stack.formatArn({ service: 'imagebuilder', account: 'aws', resource: 'image', resourceName: 'amazon-linux-2023-x86/x.x.x' }),
  components: [{ componentArn: stack.formatArn({ service: 'imagebuilder', account: 'aws', resource: 'component', resourceName: 'update-linux/x.x.x' }) }],
});
const instanceRole = new iam.Role(stack, 'BuildInstanceRole', {
  assumedBy: new iam.ServicePrincipal('ec2.amazonaws.com'),
  managedPolicies: [
    iam.ManagedPolicy.fromAwsManagedPolicyName('AmazonSSMManagedInstanceCore'),
    iam.ManagedPolicy.fromAwsManagedPolicyName('EC2InstanceProfileForImageBuilder'),
  ],
});
const infrastructure = new imagebuilder.CfnInfrastructureConfiguration(stack, 'Infrastructure', {
  name: 'integ-vm-export',
  instanceProfileName: new iam.InstanceProfile(stack, 'BuildInstanceProfile', { role: instanceRole }).instanceProfileName,
  instanceTypes: ['t3.medium'],
  terminateInstanceOnFailure: true,
});
new imagebuilder.CfnImage(stack, 'Image', {
  imageRecipeArn: recipe.attrArn,
  infrastructureConfigurationArn: infrastructure.attrArn,
  distributionConfigurationArn: distribution.distributionConfigurationArn,
  // The story is the export: no test instance.
  imageTestsConfiguration: { imageTestsEnabled: false },
});

const integ = new IntegTest(app, 'VmExport', { testCases: [stack] });
// VM Export names the file <prefix>export-ami-<id>.<format>. Retried in case the object
// appears after the image is AVAILABLE (whether Image Builder waits for it is not verified).
const listExports = integ.assertions.awsApiCall('S3', 'ListObjectsV2', { Bucket: bucket.bucketName, Prefix: 'vm/export-ami-' }) as AwsApiCall;
listExports
  .expect(ExpectedResult.objectLike({ KeyCount: 1 }))
  .waitForAssertions({ totalTimeout: Duration.minutes(30), interval: Duration.minutes(1) });
// integ-tests-alpha grants "s3:ListObjectsV2", which is no IAM action: listing a bucket is s3:ListBucket.
const listBucket = { Effect: 'Allow', Action: ['s3:ListBucket'], Resource: [bucket.bucketArn] };
listExports.provider.addToRolePolicy(listBucket);
listExports.waiterProvider?.addToRolePolicy(listBucket);
app.synth();
