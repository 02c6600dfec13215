import { Annotations, CfnResource, Resource, Stack, Token } from 'aws-cdk-lib';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { describeRegion } from '../private/distribution-helpers';
import { warnIfExportPrefixLacksSlash } from '../private/export-prefix';

/**
 * The file format VM Export writes an image's disk in.
 *
 * @see https://docs.aws.amazon.com/imagebuilder/latest/APIReference/API_S3ExportConfiguration.html
 */
export enum VmDiskFormat {
  /** Stream-optimized VMDK, for VMware ESX and vSphere. */
  VMDK = 'VMDK',
  /** A raw disk image. */
  RAW = 'RAW',
  /** VHD, for Citrix Xen and Microsoft Hyper-V. */
  VHD = 'VHD',
}

/**
 * Where and how to export the image of one Region as a VM disk.
 */
export interface VmDiskExportOptions {
  /**
   * The bucket VM Export writes the disk file to. It must be in the Region of the
   * export and must not use SSE-KMS encryption.
   *
   * @see https://docs.aws.amazon.com/vm-import/latest/userguide/vmexport.html#limits-image-export
   */
  readonly bucket: s3.IBucket;

  /**
   * The file format of the disk.
   */
  readonly format: VmDiskFormat;

  /**
   * The key prefix of the disk file; the file is named `<prefix>export-ami-<id>.<format>`,
   * so end the prefix with "/" to use it as a folder.
   *
   * @default - the root of the bucket
   * @see https://docs.aws.amazon.com/imagebuilder/latest/APIReference/API_S3ExportConfiguration.html
   */
  readonly prefix?: string;
}

/**
 * An export of the image as a VM disk to an S3 bucket, in one Region.
 */
export interface VmDiskExport extends VmDiskExportOptions {
  /**
   * The Region whose image is exported; the bucket must be in it.
   *
   * @default - the stack's Region
   */
  readonly region?: string;
}

/**
 * Checks an export from `region` at synth and returns it with its prefix set
 * ("" for the bucket's root). `existing` is the export the Region already has.
 * A bucket known to use SSE-KMS gets a warning on `scope`.
 */
export function validateVmDiskExport(
  scope: Construct, where: string, region: string, exp: VmDiskExportOptions, existing?: VmDiskExportOptions,
): VmDiskExportOptions & { readonly prefix: string } {
  if (existing) {
    throw new Error(`${where}: ${describeRegion(region)} already has an export (to bucket ${describeBucket(existing.bucket)}); Image Builder exports once per Region: remove one, or give it another region`);
  }
  const bucketRegion = knownRegionOf(exp.bucket);
  if (bucketRegion !== undefined && !Token.isUnresolved(region) && bucketRegion !== region) {
    throw new Error(`${where}: bucket ${describeBucket(exp.bucket)} is in ${bucketRegion} but the export is from ${region}; VM Export writes only to a bucket in the Region of the export: use a bucket in ${region}, or set region: '${bucketRegion}'`);
  }
  const prefix = exp.prefix ?? '';
  if (!Token.isUnresolved(prefix) && prefix.startsWith('/')) {
    throw new Error(`${where}: prefix "${prefix}" starts with "/"; S3 keys do not: use "${prefix.replace(/^\/+/, '')}"`);
  }
  warnIfExportPrefixLacksSlash(scope, where, prefix, exp.format);
  if (usesSseKms(exp.bucket)) {
    Annotations.of(scope).addWarningV2('cdk-vm-import-export:exportBucketKms',
      `${where}: bucket ${describeBucket(exp.bucket)} is encrypted with a KMS key; VM Export cannot write to SSE-KMS buckets: use SSE-S3 (BucketEncryption.S3_MANAGED)`);
  }
  return { ...exp, prefix };
}

/** Warns that a Region both encrypts its AMI with a KMS key and exports it. */
export function warnEncryptedExport(scope: Construct, where: string, region: string): void {
  Annotations.of(scope).addWarningV2('cdk-vm-import-export:encryptedExport',
    `${where}: the AMI distributed to ${describeRegion(region)} is encrypted with a KMS key and is also exported; VM Export cannot export AMIs with encrypted snapshots: drop encryptionKey for that Region, or export from another one`);
}

/** The API's `S3ExportConfiguration`. */
export function renderVmDiskExport(exp: VmDiskExportOptions, roleName: string): Record<string, unknown> {
  return {
    roleName,
    diskImageFormat: exp.format,
    s3Bucket: exp.bucket.bucketName,
    // The API rejects an empty prefix (min length 1).
    s3Prefix: exp.prefix || undefined,
  };
}

/**
 * The bucket's Region when it is really known, else undefined. A bucket imported
 * without a region (fromBucketName, fromBucketAttributes) reports the importing
 * stack's Region, which says nothing about where the bucket is.
 */
function knownRegionOf(bucket: s3.IBucket): string | undefined {
  const region = bucket.env.region;
  if (Token.isUnresolved(region)) return undefined;
  // Owned: defined in its stack, so in its Region. A Region unlike its stack's was given on import.
  if (Resource.isOwnedResource(bucket) || region !== Stack.of(bucket).region) return region;
  return undefined;
}

/** SSE-KMS algorithms: both need a KMS key, which VM Export cannot use. */
const SSE_KMS_ALGORITHMS = new Set(['aws:kms', 'aws:kms:dsse']);

/**
 * Whether the bucket is known to use SSE-KMS: it has a key object, or it is
 * defined here with an AWS managed KMS key (KMS_MANAGED, DSSE_MANAGED), which
 * leaves encryptionKey unset and shows only in the CfnBucket's encryption.
 */
function usesSseKms(bucket: s3.IBucket): boolean {
  if (bucket.encryptionKey) return true;
  const cfn = bucket.node.defaultChild;
  if (!CfnResource.isCfnResource(cfn) || cfn.cfnResourceType !== s3.CfnBucket.CFN_RESOURCE_TYPE_NAME) return false;
  const encryption = Stack.of(bucket).resolve((cfn as s3.CfnBucket).bucketEncryption);
  return sseAlgorithmsIn(encryption).some((algorithm) => SSE_KMS_ALGORITHMS.has(algorithm));
}

/** Every sseAlgorithm value in a resolved BucketEncryption (either key casing, as L1 props or as CloudFormation). */
function sseAlgorithmsIn(value: unknown): string[] {
  if (Array.isArray(value)) return value.flatMap(sseAlgorithmsIn);
  if (value === null || typeof value !== 'object') return [];
  return Object.entries(value).flatMap(([key, v]) =>
    key.toLowerCase() === 'ssealgorithm' && typeof v === 'string' ? [v] : sseAlgorithmsIn(v));
}

function describeBucket(bucket: s3.IBucket): string {
  return Token.isUnresolved(bucket.bucketName) ? bucket.node.path : `"${bucket.bucketName}"`;
}
