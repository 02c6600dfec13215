/**
 * The stack issue 11 is done with: it imports a VMDK and exports it as VHD to S3 in
 * two Regions, with no pipeline. The construct, template (cfn-lint), security
 * (cdk-nag) and IAM tests all synthesize this one.
 */
import { App, RemovalPolicy, Stack, StackProps, Validations } from 'aws-cdk-lib';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import {
  DiskImage, ExportSource, LicenseType, Platform, VmDiskDistribution, VmDiskFormat, VmImageExport, VmImportImage,
} from '../../src';

export const EXPORT_ENV = { account: '111122223333', region: 'us-east-1' };
export const WEST_BUCKET = 'vm-exports-us-west-2';
export const EXPORT_PREFIX = 'vhd/';

export interface TwoRegionExportProps extends StackProps {
  /** The image version; a new one imports (and so exports) again. Default 1.0.0. */
  readonly imageVersion?: string;
  /** Tags of the export. */
  readonly exportTags?: Record<string, string>;
  /** The removal policy of the export. Default DESTROY. */
  readonly removalPolicy?: RemovalPolicy;
}

export class TwoRegionExportStack extends Stack {
  public readonly image: VmImportImage;
  public readonly distribution: VmDiskDistribution;
  public readonly exported: VmImageExport;
  public readonly homeBucket: s3.Bucket;

  constructor(scope: Construct, id: string, props: TwoRegionExportProps = {}) {
    super(scope, id, props);
    const disks = s3.Bucket.fromBucketName(this, 'Disks', 'my-vm-disks');
    this.image = new VmImportImage(this, 'Web', {
      disks: [DiskImage.fromBucket(disks, 'exports/web-01.vmdk')],
      platform: Platform.LINUX,
      licenseType: LicenseType.BYOL,
      imageName: 'web-server',
      imageVersion: props.imageVersion ?? '1.0.0',
    });
    // VM Export writes only to buckets of the export's Region, and not with SSE-KMS.
    this.homeBucket = new s3.Bucket(this, 'Exports', {
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    Validations.of(this.homeBucket).acknowledge({
      id: 'AwsSolutions-S1',
      reason: 'a test stack: server access logging of the export bucket is beside what it shows (the example app logs its export bucket)',
    });
    const west = s3.Bucket.fromBucketAttributes(this, 'West', { bucketName: WEST_BUCKET, region: 'us-west-2' });
    this.distribution = new VmDiskDistribution(this, 'VhdExports', {
      distributionName: 'web-vhd',
      exports: [
        { bucket: this.homeBucket, prefix: EXPORT_PREFIX, format: VmDiskFormat.VHD },
        { region: 'us-west-2', bucket: west, prefix: EXPORT_PREFIX, format: VmDiskFormat.VHD },
      ],
    });
    this.exported = new VmImageExport(this, 'WebVhd', {
      source: ExportSource.fromImage(this.image),
      distribution: this.distribution,
      tags: props.exportTags,
      removalPolicy: props.removalPolicy,
    });
  }
}

/** A fresh app with the stack, in the fixed environment. */
export function twoRegionExportStack(props: TwoRegionExportProps = {}, id = 'TwoRegionExport'): TwoRegionExportStack {
  return new TwoRegionExportStack(new App(), id, { env: EXPORT_ENV, ...props });
}
