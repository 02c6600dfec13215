/**
 * The ImportedAmi stacks the IAM proof deploys, in the versions a user would deploy one
 * after the other: 1 first deploy; 2 tags changed (in place); 3 Appliance replaced (other
 * disks and name); 4 Appliance left the stack, Edge waits longer (a new wait condition).
 */
import { App, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Architecture, BootMode, DiskImage, ImportedAmi, VmImportExportServiceRole } from '../../src';
import { Deployment } from '../support/iam';

export type Stage = 1 | 2 | 3 | 4;

export const APPLIANCE = 'appliance-arm64';
export const APPLIANCE_V2 = 'appliance-arm64-v2';
export const EDGE = 'edge-x86';
export const EDGE_SERVICE_ROLE = 'vmimport-edge';
export const APPLIANCE_DISKS = (stage: Stage) => (stage >= 3 ? ['appliance/boot-v2.raw', 'appliance/data.raw'] : ['appliance/boot.raw', 'appliance/data.raw']);
export const EDGE_DISKS = ['s3://edge-disks/boot.vmdk', 's3://edge-disks/data.vhd'];

const tags = (stage: Stage): Record<string, string> => (stage === 1 ? { team: 'platform', stage: 'test' } : { team: 'platform', owner: 'iam-test' });

/**
 * Appliance: the stack's default service role, two disks in the stack's bucket, a KMS key, tags.
 * Edge: a given service role, two disks by URL, removal policy SNAPSHOT.
 */
export function importedAmiStack(stage: Stage): { stack: Stack; deployment: Deployment } {
  const stack = new Stack(new App(), 'ImportedAmiIam');
  const disks = new s3.Bucket(stack, 'Disks');
  const key = new kms.Key(stack, 'AmiKey');
  const edgeRole = new VmImportExportServiceRole(stack, 'EdgeServiceRole', { roleName: EDGE_SERVICE_ROLE });
  if (stage < 4) {
    new ImportedAmi(stack, 'Appliance', {
      amiName: stage >= 3 ? APPLIANCE_V2 : APPLIANCE,
      disks: APPLIANCE_DISKS(stage).map((k) => DiskImage.fromBucket(disks, k)),
      architecture: Architecture.ARM64,
      bootMode: BootMode.UEFI,
      encryptionKey: key,
      tags: tags(stage),
    });
  }
  new ImportedAmi(stack, 'Edge', {
    amiName: EDGE,
    disks: EDGE_DISKS.map((url) => DiskImage.fromUrl(url)),
    architecture: Architecture.X86_64,
    serviceRole: edgeRole,
    removalPolicy: RemovalPolicy.SNAPSHOT,
    timeout: stage >= 4 ? Duration.hours(8) : undefined,
    tags: tags(stage),
  });
  return { stack, deployment: Deployment.of(stack) };
}
