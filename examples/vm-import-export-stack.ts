import * as path from 'path';
import { Duration, RemovalPolicy, Stack, StackProps, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as imagebuilder from 'aws-cdk-lib/aws-imagebuilder';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as cxapi from 'aws-cdk-lib/cx-api';
import { Construct } from 'constructs';
import {
  Architecture, BootMode, DiskImage, ExportSource, ImportedAmi, LicenseType, Platform, VmDiskDistribution, VmDiskFormat, VmImageExport, VmImportImage,
} from '../src';

/**
 * Where the example takes its VM disk from.
 */
export interface VmImportExportExampleProps extends StackProps {
  /**
   * A bucket holding the VM disk to import.
   *
   * @default - the small sample disk shipped beside this file, uploaded as an asset
   */
  readonly diskBucketName?: string;
  /**
   * The object key of the disk in `diskBucketName`.
   *
   * @default - the sample disk
   */
  readonly diskKey?: string;
  /**
   * The object key of an arm64 RAW boot disk in `diskBucketName`, imported with ImportedAmi.
   *
   * @default - the small sample RAW file shipped beside this file
   */
  readonly arm64DiskKey?: string;
}

/**
 * The whole story in one stack: import a VM disk as an Image Builder image, build
 * on it with a recipe whose parent is the imported image (once at deploy time, and
 * from a pipeline), and distribute every image built as an AMI and as a VMDK file in S3.
 * Beside that, the imported image itself is exported as a VHD file, with no build.
 * And an arm64 disk (which VM Import rejects) imported unchanged as an AMI, and a
 * Graviton build on that AMI.
 */
export class VmImportExportExampleStack extends Stack {
  public readonly imported: VmImportImage;
  public readonly arm64: ImportedAmi;
  public readonly distribution: VmDiskDistribution;
  public readonly exportBucket: s3.Bucket;
  public readonly importedVmExport: VmImageExport;
  /** The build on the imported image at deploy time; it exports its image to `exportBucket`. */
  public readonly hardenedImage: imagebuilder.CfnImage;

  constructor(scope: Construct, id: string, props: VmImportExportExampleProps = {}) {
    super(scope, id, props);
    // Access logs are delivered under a bucket policy, not the legacy LogDeliveryWrite ACL
    // (new apps set this flag in cdk.json; the stack sets it so tests behave the same).
    this.node.setContext(cxapi.S3_SERVER_ACCESS_LOGS_USE_BUCKET_POLICY, true);

    const disk = props.diskBucketName && props.diskKey
      ? DiskImage.fromBucket(s3.Bucket.fromBucketName(this, 'Disks', props.diskBucketName), props.diskKey)
      : DiskImage.fromAsset(path.join(__dirname, 'sample-disk.vmdk'));

    this.imported = new VmImportImage(this, 'ImportedVm', {
      disks: [disk],
      platform: Platform.LINUX,
      licenseType: LicenseType.BYOL,
      imageName: 'example-imported-vm',
      imageVersion: '1.0.0',
      osVersion: 'Ubuntu 22',
      // Large disks take hours: the deployment waits up to six for the image, and the build below waits with it.
      timeout: Duration.hours(6),
    });

    // An arm64 disk: VM Import rejects it, so it is imported unchanged as a snapshot and registered as an AMI.
    // The disk must already boot on EC2 (ENA and NVMe drivers, cloud-init).
    this.arm64 = new ImportedAmi(this, 'Arm64Appliance', {
      disks: [props.diskBucketName && props.arm64DiskKey
        ? DiskImage.fromBucket(s3.Bucket.fromBucketName(this, 'Arm64Disks', props.diskBucketName), props.arm64DiskKey)
        : DiskImage.fromAsset(path.join(__dirname, 'sample-disk-arm64.raw'))],
      architecture: Architecture.ARM64,
      bootMode: BootMode.UEFI,
      amiName: 'example-arm64-appliance-1.0',
      timeout: Duration.hours(2),
    });

    const recipe = new imagebuilder.CfnImageRecipe(this, 'Recipe', {
      name: 'example-hardened-vm',
      // A re-import gives the recipe a new parent, which replaces it: with 1.0.x Image Builder
      // numbers the replacement, instead of refusing a second recipe of the same name and version.
      version: '1.0.x',
      parentImage: this.imported.imageArn,
      components: [{ componentArn: this.formatArn({ service: 'imagebuilder', account: 'aws', resource: 'component', resourceName: 'update-linux/x.x.x' }) }],
    });

    // The build instance: Image Builder's documented instance policies.
    const instanceRole = new iam.Role(this, 'BuildInstanceRole', {
      assumedBy: new iam.ServicePrincipal('ec2.amazonaws.com'),
      managedPolicies: [
        iam.ManagedPolicy.fromAwsManagedPolicyName('AmazonSSMManagedInstanceCore'),
        iam.ManagedPolicy.fromAwsManagedPolicyName('EC2InstanceProfileForImageBuilder'),
      ],
    });
    for (const policy of ['AmazonSSMManagedInstanceCore', 'EC2InstanceProfileForImageBuilder']) {
      acknowledge(instanceRole, `AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/${policy}]`,
        'the instance profile policies Image Builder documents for build instances; AWS keeps them current with the service '
        + '(https://docs.aws.amazon.com/imagebuilder/latest/userguide/image-builder-setting-up.html#image-builder-IAM-prereq)');
    }
    const instanceProfile = new iam.CfnInstanceProfile(this, 'BuildInstanceProfile', { roles: [instanceRole.roleName] });
    const infrastructure = new imagebuilder.CfnInfrastructureConfiguration(this, 'Infrastructure', {
      name: 'example-build-infrastructure',
      instanceProfileName: instanceProfile.ref,
      instanceTypes: ['t3.medium'],
      terminateInstanceOnFailure: true,
    });

    // Server access logs of the export bucket. S3 delivers them only to SSE-S3 buckets.
    const accessLogs = new s3.Bucket(this, 'ExportAccessLogs', {
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    Validations.of(accessLogs).acknowledge({
      id: 'AwsSolutions-S1',
      reason: 'this bucket receives the access logs of the export bucket; logging its own access would need yet another bucket',
    });

    // VM Export cannot write to SSE-KMS buckets: S3-managed encryption.
    this.exportBucket = new s3.Bucket(this, 'ExportBucket', {
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      versioned: true,
      removalPolicy: RemovalPolicy.RETAIN,
      serverAccessLogsBucket: accessLogs,
      serverAccessLogsPrefix: 'export-bucket/',
    });

    this.distribution = new VmDiskDistribution(this, 'Distribution', {
      distributionName: 'example-vm-disks',
      description: 'Every image as an AMI and as a VMDK file',
      exports: [{ bucket: this.exportBucket, prefix: 'vm-exports/', format: VmDiskFormat.VMDK }],
      amiDistributions: [{ amiName: 'example-hardened-vm-{{ imagebuilder:buildDate }}' }],
    });

    // The imported VM itself as a VHD file, with no recipe, pipeline or build (DistributeImage).
    this.importedVmExport = new VmImageExport(this, 'ImportedVmExport', {
      source: ExportSource.fromImage(this.imported),
      distribution: new VmDiskDistribution(this, 'ImportedVmDisks', {
        distributionName: 'example-imported-vm-disks',
        exports: [{ bucket: this.exportBucket, prefix: 'imported-vm/', format: VmDiskFormat.VHD }],
      }),
    });

    // One build at deploy time, on the imported image: it starts only once the import is AVAILABLE.
    this.hardenedImage = new imagebuilder.CfnImage(this, 'HardenedImage', {
      imageRecipeArn: recipe.attrArn,
      infrastructureConfigurationArn: infrastructure.attrArn,
      distributionConfigurationArn: this.distribution.distributionConfigurationArn,
    });

    // A Graviton build on the imported arm64 AMI: it starts only once the AMI is available.
    const arm64Recipe = new imagebuilder.CfnImageRecipe(this, 'Arm64Recipe', {
      name: 'example-hardened-arm64',
      version: '1.0.0',
      parentImage: this.arm64.imageId,
      components: [{ componentArn: this.formatArn({ service: 'imagebuilder', account: 'aws', resource: 'component', resourceName: 'update-linux/x.x.x' }) }],
    });
    const arm64Infrastructure = new imagebuilder.CfnInfrastructureConfiguration(this, 'Arm64Infrastructure', {
      name: 'example-arm64-build-infrastructure',
      instanceProfileName: instanceProfile.ref,
      instanceTypes: ['t4g.medium'],
      terminateInstanceOnFailure: true,
    });
    new imagebuilder.CfnImage(this, 'HardenedArm64Image', {
      imageRecipeArn: arm64Recipe.attrArn,
      infrastructureConfigurationArn: arm64Infrastructure.attrArn,
    });

    new imagebuilder.CfnImagePipeline(this, 'Pipeline', {
      name: 'example-vm-pipeline',
      imageRecipeArn: recipe.attrArn,
      infrastructureConfigurationArn: infrastructure.attrArn,
      distributionConfigurationArn: this.distribution.distributionConfigurationArn,
      status: 'ENABLED',
    });
  }
}

/**
 * Acknowledges a cdk-nag finding on a construct. `Validations.of(c).acknowledge()`
 * writes the same metadata, but aws-cdk-lib 2.257 rejects ids with more than one
 * "::", as every finding on an ARN with <AWS::Partition> has.
 */
function acknowledge(scope: Construct, id: string, reason: string): void {
  scope.node.addMetadata(Validations.ACKNOWLEDGED_RULES_METADATA_KEY, { [id]: reason });
}
