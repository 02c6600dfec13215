import * as path from 'path';
import { App, CfnParameter, Duration, RemovalPolicy, Stack, Tags } from 'aws-cdk-lib';
import * as ecr from 'aws-cdk-lib/aws-ecr';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as ssm from 'aws-cdk-lib/aws-ssm';
import { VmImportExportExampleStack } from '../../examples/vm-import-export-stack';
import {
  Architecture, BootMode, DiskImage, DiskImageFormat, ImdsSupport, ImportedAmi, LicenseType, Platform, TpmSupport, VmDiskDistribution, VmDiskFormat,
  VmImportExportServiceRole, VmImportImage,
} from '../../src';

// The stacks the template (cfn-lint) and security (cdk-nag) checks run over: the
// example app, and the constructs with every kind of option, in stacks with and
// without an environment (ARNs then hold Region and account references).

export const ENV = { account: '111122223333', region: 'us-east-1' };
const SAMPLE_DISK = path.join(__dirname, '..', '..', 'examples', 'sample-disk.vmdk');
const LT_ID = 'lt-0123456789abcdef0';
const LICENSE_ARN = 'arn:aws:license-manager:us-east-1:111122223333:license-configuration:lic-0123456789abcdef0123456789abcdef';
const EU_KEY_ARN = 'arn:aws:kms:eu-west-1:111122223333:key/0b4e1c1e-1111-2222-3333-444455556666';

/** Adds every representative stack to the app and returns them. */
export function addRepresentativeStacks(app: App): Stack[] {
  return [
    new VmImportExportExampleStack(app, 'Example', { env: ENV }),
    // As the integ test deploys it: no environment.
    new VmImportExportExampleStack(app, 'ExampleAgnostic'),
    new VmImportExportExampleStack(app, 'ExampleOwnDisk', { env: ENV, diskBucketName: 'my-vm-disks', diskKey: 'exports/web-01.vmdk' }),
    importImageOptions(new Stack(app, 'ImportOptions', { env: ENV })),
    importImageOptions(new Stack(app, 'ImportOptionsAgnostic')),
    distributionOptions(new Stack(app, 'DistributionOptions', { env: ENV })),
    distributionParity(new Stack(app, 'DistributionParity', { env: ENV })),
    distributionParity(new Stack(app, 'DistributionParityAgnostic')),
    importedAmiOptions(new Stack(app, 'ImportedAmiOptions', { env: ENV })),
    importedAmiOptions(new Stack(app, 'ImportedAmiOptionsAgnostic')),
  ];
}

/** ImportedAmi with its defaults, and with every option (a given role, a key, several disks, NitroTPM, retain). */
function importedAmiOptions(stack: Stack): Stack {
  const disks = s3.Bucket.fromBucketName(stack, 'Disks', 'my-vm-disks');
  new ImportedAmi(stack, 'Defaults', {
    disks: [DiskImage.fromBucket(disks, 'exports/appliance-arm64.raw')],
    architecture: Architecture.ARM64,
  });
  new ImportedAmi(stack, 'AllOptions', {
    disks: [
      DiskImage.fromAsset(SAMPLE_DISK),
      DiskImage.fromBucket(disks, 'exports/data.vhd', { description: 'data disk' }),
      DiskImage.fromUrl('s3://my-vm-disks/exports/logs.raw', { deviceName: '/dev/sdk' }),
    ],
    architecture: Architecture.X86_64,
    bootMode: BootMode.UEFI,
    tpmSupport: TpmSupport.V2_0,
    uefiData: 'QU1aTlVFRkk=',
    imdsSupport: ImdsSupport.INSTANCE_DEFAULTS,
    enaSupport: true,
    rootDeviceName: '/dev/sda1',
    amiName: 'all-options (x86_64)',
    description: 'every option',
    encryptionKey: new kms.Key(stack, 'AmiKey', { enableKeyRotation: true, removalPolicy: RemovalPolicy.DESTROY }),
    serviceRole: new VmImportExportServiceRole(stack, 'AmiRole', { roleName: 'vmimport-ami-options' }),
    timeout: Duration.hours(12),
    removalPolicy: RemovalPolicy.RETAIN,
    tags: { team: 'platform' },
  });
  return stack;
}

/** VmImportImage with a given role, key and log group, every kind of disk, and both waits. */
function importImageOptions(stack: Stack): Stack {
  const disks = s3.Bucket.fromBucketName(stack, 'Disks', 'my-vm-disks');
  const key = new kms.Key(stack, 'Key', { enableKeyRotation: true, removalPolicy: RemovalPolicy.DESTROY });
  const logGroup = new logs.LogGroup(stack, 'ImageLogs', { retention: logs.RetentionDays.ONE_WEEK, removalPolicy: RemovalPolicy.DESTROY });

  new VmImportImage(stack, 'Defaults', {
    disks: [DiskImage.fromBucket(disks, 'exports/web-01.vmdk')],
    platform: Platform.LINUX,
    licenseType: LicenseType.BYOL,
  });
  new VmImportImage(stack, 'AllOptions', {
    disks: [
      DiskImage.fromAsset(SAMPLE_DISK, { deviceName: '/dev/sda1' }),
      DiskImage.fromBucket(disks, 'exports/web-01-data.raw', { format: DiskImageFormat.RAW, description: 'data disk' }),
      DiskImage.fromUrl('s3://my-vm-disks/exports/web-01-logs.vhdx'),
      DiskImage.fromSnapshot('snap-0123456789abcdef0'),
    ],
    platform: Platform.WINDOWS,
    imageName: 'all-options',
    imageVersion: '2.1.0',
    description: 'every option',
    osVersion: 'Microsoft Windows Server 2022',
    architecture: Architecture.X86_64,
    bootMode: BootMode.UEFI,
    usageOperation: 'RunInstances:0002',
    licenseConfigurationArns: [LICENSE_ARN],
    encryptionKey: key,
    serviceRole: new VmImportExportServiceRole(stack, 'ImportRole', { roleName: 'vmimport-all-options' }),
    logGroup,
    timeout: Duration.minutes(30),
    pollInterval: Duration.seconds(30),
    removalPolicy: RemovalPolicy.SNAPSHOT,
    tags: { team: 'platform' },
  });
  new VmImportImage(stack, 'NoWait', {
    disks: [DiskImage.fromUrl('https://example.com/presigned/web.ova')],
    platform: Platform.LINUX,
    // VM Import accepts only BYOL for Linux.
    licenseType: LicenseType.BYOL,
    // A name only known at deployment: the handler's policy matches it with "*".
    imageName: new CfnParameter(stack, 'ImageName', { default: 'no-wait' }).valueAsString,
    serviceRole: new iam.Role(stack, 'PlainRole', {
      assumedBy: new iam.ServicePrincipal('vmie.amazonaws.com', { conditions: { StringEquals: { 'sts:Externalid': 'vmimport' } } }),
    }),
    waitForAvailable: false,
    removalPolicy: RemovalPolicy.RETAIN,
  });
  Tags.of(stack).add('cost-center', '42');
  return stack;
}

/** VmDiskDistribution exports: a made role, a given role, an imported role, several Regions. */
function distributionOptions(stack: Stack): Stack {
  const here = s3.Bucket.fromBucketAttributes(stack, 'Here', { bucketName: 'export-here', region: ENV.region });
  const eu = s3.Bucket.fromBucketAttributes(stack, 'Eu', { bucketName: 'export-eu', region: 'eu-west-1' });

  const made = new VmDiskDistribution(stack, 'MadeRole', {
    exports: [
      { bucket: here, prefix: 'vm/', format: VmDiskFormat.VMDK },
      { region: 'eu-west-1', bucket: eu, format: VmDiskFormat.VHD },
    ],
  });
  made.addExport({ region: 'us-west-2', bucket: s3.Bucket.fromBucketAttributes(stack, 'West', { bucketName: 'export-west', region: 'us-west-2' }), format: VmDiskFormat.RAW });

  new VmDiskDistribution(stack, 'GivenRole', {
    distributionName: 'given-role',
    exportRole: new VmImportExportServiceRole(stack, 'ExportRole'),
    exports: [{ bucket: here, prefix: 'given/', format: VmDiskFormat.VMDK }],
  });
  new VmDiskDistribution(stack, 'ImportedRole', {
    distributionName: 'imported-role',
    exportRole: iam.Role.fromRoleName(stack, 'Vmimport', 'vmimport'),
    exports: [{ bucket: here, prefix: 'imported/', format: VmDiskFormat.RAW }],
    removalPolicy: RemovalPolicy.RETAIN,
  });
  new VmDiskDistribution(stack, 'AmiOnly', {
    amiDistributions: [{ amiName: 'web-{{ imagebuilder:buildDate }}', targetAccountIds: ['444455556666'] }],
  });
  return stack;
}

/** Every setting CloudFormation's AWS::ImageBuilder::DistributionConfiguration has, and the export. */
function distributionParity(stack: Stack): Stack {
  const dist = new VmDiskDistribution(stack, 'Dist', {
    distributionName: new CfnParameter(stack, 'DistributionName', { default: 'web-export' }).valueAsString,
    description: 'exports web',
    exports: [{ bucket: s3.Bucket.fromBucketName(stack, 'B', 'export-here'), prefix: 'vm/', format: VmDiskFormat.VMDK }],
    amiDistributions: [{
      region: 'eu-west-1',
      amiName: 'web-{{ imagebuilder:buildDate }}',
      description: 'web image',
      amiTags: { app: 'web' },
      encryptionKey: kms.Key.fromKeyArn(stack, 'Key', EU_KEY_ARN),
      targetAccountIds: ['444455556666'],
      launchPermission: {
        userIds: ['444455556666'],
        organizationArns: ['arn:aws:organizations::111122223333:organization/o-abcdefghij'],
        organizationalUnitArns: ['arn:aws:organizations::111122223333:ou/o-abcdefghij/ou-ab12-cdef3456'],
      },
    }],
    containerDistributions: [{ region: 'eu-west-1', repository: ecr.Repository.fromRepositoryName(stack, 'Repo', 'web'), containerTags: ['latest'] }],
    launchTemplateConfigurations: [{ launchTemplateId: LT_ID, accountId: '111122223333', setDefaultVersion: false }],
    licenseConfigurations: [{ licenseConfigurationArns: [LICENSE_ARN] }],
    ssmParameterConfigurations: [{ parameterName: '/images/web', amiAccountId: '111122223333', dataType: ssm.ParameterDataType.AWS_EC2_IMAGE }],
    fastLaunchConfigurations: [{ maxParallelLaunches: 8, targetSnapshotCount: 3, launchTemplate: { launchTemplateId: LT_ID }, accountId: '111122223333' }],
    tags: { team: 'platform' },
  });
  dist.addDistribution({
    region: 'us-west-2',
    amiDistribution: { launchPermission: { userGroups: ['all'] } },
    fastLaunchConfigurations: [{ enabled: false }],
  });
  return stack;
}
