/**
 * The stacks the IAM proof deploys, in the versions a user would deploy one after
 * the other. Each version changes what a lifecycle step needs: tags (in-place
 * updates), the image version or configuration name (replacement), and finally a
 * construct that left the stack (its delete runs under a policy that no longer names it).
 */
import { App, CfnOutput, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import {
  DiskImage, LicenseType, Platform, VmDiskDistribution, VmDiskFormat, VmImportExportServiceRole, VmImportImage,
} from '../../src';
import { Deployment } from '../support/iam';

/** 1: first deploy; 2: tags changed; 3: replaced (new versions / new name); 4: the first construct left the stack. */
export type Stage = 1 | 2 | 3 | 4;

const tags = (stage: Stage): Record<string, string> => (stage === 1 ? { team: 'platform', stage: 'test' } : { team: 'platform', owner: 'iam-test' });

export const WEB_IMAGE = 'web-server';
export const DB_IMAGE = 'Db-Server';
export const WEB_DISKS = ['web/boot.vmdk', 'web/data.vmdk'];
export const DB_SNAPSHOT = 'snap-0123456789abcdef0';
export const DB_SERVICE_ROLE = 'vmimport-db';

/**
 * Web: the stack's default service role, two S3 disks, a KMS key, tags.
 * Db: a given service role, an EBS snapshot disk, removal policy SNAPSHOT.
 */
export function importStack(stage: Stage): { stack: Stack; deployment: Deployment } {
  const stack = new Stack(new App(), 'VmImportIam');
  const disks = new s3.Bucket(stack, 'Disks');
  const key = new kms.Key(stack, 'ImageKey');
  const dbRole = new VmImportExportServiceRole(stack, 'DbServiceRole', { roleName: DB_SERVICE_ROLE });
  // Both AMI ids are outputs: reading imageId adds the read step (Custom::VmImportImageAvailable), whose calls the proof covers too.
  if (stage < 4) {
    const web = new VmImportImage(stack, 'Web', {
      imageName: WEB_IMAGE,
      imageVersion: stage >= 3 ? '1.0.1' : '1.0.0',
      disks: WEB_DISKS.map((k) => DiskImage.fromBucket(disks, k)),
      platform: Platform.LINUX,
      licenseType: LicenseType.BYOL,
      encryptionKey: key,
      tags: tags(stage),
    });
    new CfnOutput(stack, 'WebAmi', { value: web.imageId });
  }
  const db = new VmImportImage(stack, 'Db', {
    imageName: DB_IMAGE,
    // Replaced too at stage 3: its image was deleted outside CloudFormation (lifecycles.ts).
    imageVersion: stage >= 3 ? '1.0.1' : '1.0.0',
    disks: [DiskImage.fromSnapshot(DB_SNAPSHOT)],
    serviceRole: dbRole,
    platform: Platform.WINDOWS,
    licenseType: LicenseType.BYOL,
    removalPolicy: RemovalPolicy.SNAPSHOT,
    tags: tags(stage),
  });
  new CfnOutput(stack, 'DbAmi', { value: db.imageId });
  return { stack, deployment: Deployment.of(stack) };
}

export const NIGHTLY = 'nightly-vm-export';
export const NIGHTLY_RENAMED = 'nightly-vm-export-2';
export const KEEP = 'keep-amis';
export const NIGHTLY_PREFIX = 'exports/vm/';
export const KEEP_PREFIX = 'keep/';
export const SHARED_EXPORT_ROLE = 'vm-export-shared';
/** The launch template Nightly gives a new version with each AMI. */
export const NIGHTLY_LAUNCH_TEMPLATE = 'lt-0123456789abcdef0';

/**
 * Nightly: an export (a role the construct makes), an AMI distribution, a launch
 * template of this account, tags.
 * Keep: an export with a given role.
 */
export function distributionStack(stage: Stage): { stack: Stack; deployment: Deployment } {
  const stack = new Stack(new App(), 'VmDiskDistributionIam');
  const bucket = new s3.Bucket(stack, 'Exports', { encryption: s3.BucketEncryption.S3_MANAGED });
  const shared = new VmImportExportServiceRole(stack, 'SharedExportRole', { roleName: SHARED_EXPORT_ROLE });
  if (stage < 4) {
    new VmDiskDistribution(stack, 'Nightly', {
      distributionName: stage >= 3 ? NIGHTLY_RENAMED : NIGHTLY,
      description: stage >= 2 ? 'VM disks, updated' : 'VM disks for the datacenter',
      exports: [{ bucket, format: stage >= 2 ? VmDiskFormat.RAW : VmDiskFormat.VMDK, prefix: NIGHTLY_PREFIX }],
      amiDistributions: [{ amiName: 'web-{{ imagebuilder:buildDate }}', amiTags: { purpose: 'export' } }],
      launchTemplateConfigurations: [{ launchTemplateId: NIGHTLY_LAUNCH_TEMPLATE, setDefaultVersion: true }],
      tags: tags(stage),
    });
  }
  new VmDiskDistribution(stack, 'Keep', {
    distributionName: KEEP,
    exports: [{ bucket, format: VmDiskFormat.VMDK, prefix: KEEP_PREFIX }],
    exportRole: shared,
    tags: tags(stage),
  });
  return { stack, deployment: Deployment.of(stack) };
}
