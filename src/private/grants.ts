import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { acknowledgeWildcardResource } from './nag';

/** role -> (actions and conditions -> the one statement that grants them, and its resources). */
const mergedStatements = new WeakMap<iam.IRole, Map<string, { statement: iam.PolicyStatement; resources: Set<string> }>>();

/**
 * Allows `actions` on `resources`, in the one statement of this role that allows
 * exactly these actions under exactly these conditions: a stack of many images
 * adds resources to a statement instead of adding statements. The policy is as
 * narrow as one statement per grant, and the template grows by the ARNs alone.
 */
export function grantMerged(role: iam.IRole, actions: string[], resources: string[], conditions?: Record<string, unknown>): void {
  let byGrant = mergedStatements.get(role);
  if (!byGrant) mergedStatements.set(role, byGrant = new Map());
  const key = JSON.stringify([actions, conditions ?? null]);
  const merged = byGrant.get(key);
  if (merged) {
    // The same ARN (a token by its string) is listed once.
    const added = resources.filter((r) => !merged.resources.has(r));
    added.forEach((r) => merged.resources.add(r));
    if (added.length > 0) merged.statement.addResources(...added);
    return;
  }
  const statement = new iam.PolicyStatement({ actions, resources, conditions });
  byGrant.set(key, { statement, resources: new Set(resources) });
  role.addToPrincipalPolicy(statement);
}

/** Grants read access to exactly one disk object. Works on any IRole. */
export function grantReadDisk(role: iam.IRole, bucket: s3.IBucket, key: string): void {
  grantMerged(role, ['s3:GetObject'], [bucket.arnForObjects(key)]);
  grantMerged(role, ['s3:GetBucketLocation', 's3:ListBucket'], [bucket.bucketArn]);
  bucket.encryptionKey?.grantDecrypt(role);
}

/** Grants VM Export what it needs to write under one prefix. Works on any IRole. */
export function grantWriteExport(role: iam.IRole, bucket: s3.IBucket, prefix: string): void {
  const objects = bucket.arnForObjects(`${prefix}*`);
  role.addToPrincipalPolicy(new iam.PolicyStatement({
    actions: ['s3:PutObject', 's3:GetObject'],
    resources: [objects],
  }));
  acknowledgeWildcardResource(role, objects,
    'VM Export names the disk file it writes under the prefix after the AMI id (export-ami-<id>.<format>), which is known only at export time');
  role.addToPrincipalPolicy(new iam.PolicyStatement({
    actions: ['s3:GetBucketLocation', 's3:GetBucketAcl', 's3:ListBucket'],
    resources: [bucket.bucketArn],
  }));
  bucket.encryptionKey?.grantEncryptDecrypt(role);
}

/**
 * The KMS permissions VM Import/Export documents for encrypted snapshots, with its
 * kms:GenerateDataKey* and kms:ReEncrypt* spelled out (the same actions, no wildcard).
 */
export function grantUseKey(role: iam.IRole, key: kms.IKey): void {
  key.grant(role, 'kms:CreateGrant', 'kms:Decrypt', 'kms:DescribeKey', 'kms:Encrypt',
    'kms:GenerateDataKey', 'kms:GenerateDataKeyPair', 'kms:GenerateDataKeyPairWithoutPlaintext', 'kms:GenerateDataKeyWithoutPlaintext',
    'kms:ReEncryptFrom', 'kms:ReEncryptTo');
}

/**
 * What VM Import needs to associate License Manager configurations with the AMI
 * it registers (the vmimport role's documented License Manager permissions).
 */
export function grantUseLicenseConfigurations(role: iam.IRole, licenseConfigurationArns: string[]): void {
  if (licenseConfigurationArns.length === 0) return;
  role.addToPrincipalPolicy(new iam.PolicyStatement({
    actions: ['license-manager:GetLicenseConfiguration', 'license-manager:UpdateLicenseSpecificationsForResource'],
    resources: licenseConfigurationArns,
  }));
  role.addToPrincipalPolicy(new iam.PolicyStatement({
    actions: ['license-manager:ListLicenseSpecificationsForResource'],
    resources: ['*'],
  }));
  acknowledgeWildcardResource(role, '*', 'license-manager:ListLicenseSpecificationsForResource supports no resource-level permissions');
}
