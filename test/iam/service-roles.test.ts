/**
 * IAM proof for the VM Import/Export service roles (vmie.amazonaws.com), evaluated
 * with @cloud-copilot/iam-simulate on the policies of the synthesized stacks:
 * the import role reads exactly the disk objects it was given, the export roles
 * write exactly under their prefixes, and only VM Import/Export, presenting the
 * external id for this account, can assume them.
 */
import {
  DB_SERVICE_ROLE, distributionStack, importStack, KEEP_PREFIX, NIGHTLY_PREFIX, SHARED_EXPORT_ROLE, WEB_DISKS,
} from './stacks';
import { ACCOUNT, asList, Deployment, PolicyDocument, simulate } from '../support/iam';

const imports = importStack(1).deployment;
const distributions = distributionStack(1).deployment;

const OTHER_BUCKET = 'arn:aws:s3:::someone-elses-bucket';
const OTHER_KEY = `arn:aws:kms:us-east-1:${ACCOUNT}:key/99999999-9999-4999-8999-999999999999`;

function roleWith(deployment: Deployment, description: string): string {
  return deployment.theOne('AWS::IAM::Role', (p) => typeof p.Description === 'string' && p.Description.includes(description));
}

function roleNamed(deployment: Deployment, name: string): string {
  return deployment.theOne('AWS::IAM::Role', (p) => p.RoleName === name);
}

/** Whether the role may perform `action` on `resource` (a KMS key also needs its key policy to trust the account). */
async function may(deployment: Deployment, role: string, action: string, resource: string, resourcePolicy?: PolicyDocument): Promise<boolean> {
  const outcome = await simulate({ action, resource, context: {} }, deployment.rolePolicies(role), {
    principal: deployment.roleArn(role),
    resourcePolicy,
  });
  return outcome.allowed;
}

function bucketArn(deployment: Deployment, idPrefix: string): string {
  const ids = deployment.logicalIds('AWS::S3::Bucket').filter((id) => id.startsWith(idPrefix));
  if (ids.length !== 1) throw new Error(`expected one bucket ${idPrefix}*, found ${ids.join(', ')}`);
  return deployment.attribute(ids[0], 'Arn');
}

describe('the import service role the stack makes (default for VmImportImage)', () => {
  const role = roleWith(imports, 'reads the disks this stack imports');
  const disks = bucketArn(imports, 'Disks');

  test('reads exactly the disk objects it was given', async () => {
    for (const key of WEB_DISKS) expect([key, await may(imports, role, 's3:GetObject', `${disks}/${key}`)]).toEqual([key, true]);
    for (const resource of [`${disks}/web/other.vmdk`, `${disks}/web/boot.vmdk.bak`, `${disks}/web/`, `${OTHER_BUCKET}/${WEB_DISKS[0]}`]) {
      expect([resource, await may(imports, role, 's3:GetObject', resource)]).toEqual([resource, false]);
    }
  });

  test('locates and lists only the disks\' bucket, and writes nothing', async () => {
    for (const action of ['s3:GetBucketLocation', 's3:ListBucket']) {
      expect(await may(imports, role, action, disks)).toBe(true);
      expect(await may(imports, role, action, OTHER_BUCKET)).toBe(false);
    }
    expect(await may(imports, role, 's3:PutObject', `${disks}/${WEB_DISKS[0]}`)).toBe(false);
    expect(await may(imports, role, 's3:DeleteObject', `${disks}/${WEB_DISKS[0]}`)).toBe(false);
  });

  test('uses the image\'s KMS key, and no other', async () => {
    const keyId = imports.logicalIds('AWS::KMS::Key')[0];
    const key = imports.attribute(keyId, 'Arn');
    const keyPolicy: PolicyDocument = imports.resolve(imports.resource(keyId).Properties.KeyPolicy);
    for (const action of ['kms:CreateGrant', 'kms:Decrypt', 'kms:DescribeKey', 'kms:Encrypt', 'kms:GenerateDataKey', 'kms:ReEncryptFrom']) {
      expect([action, await may(imports, role, action, key, keyPolicy)]).toEqual([action, true]);
      expect([action, await may(imports, role, action, OTHER_KEY, accountTrustingKeyPolicy())]).toEqual([action, false]);
    }
    expect(await may(imports, role, 'kms:ScheduleKeyDeletion', key, keyPolicy)).toBe(false);
  });
});

describe('a given import service role (VmImportImage serviceRole) with only a snapshot disk', () => {
  const role = roleNamed(imports, DB_SERVICE_ROLE);

  test('reads no S3 object and uses no key: nothing was granted for a snapshot', async () => {
    const disks = bucketArn(imports, 'Disks');
    expect(await may(imports, role, 's3:GetObject', `${disks}/${WEB_DISKS[0]}`)).toBe(false);
    expect(await may(imports, role, 's3:ListBucket', disks)).toBe(false);
    const keyId = imports.logicalIds('AWS::KMS::Key')[0];
    expect(await may(imports, role, 'kms:Decrypt', imports.attribute(keyId, 'Arn'), imports.resolve(imports.resource(keyId).Properties.KeyPolicy))).toBe(false);
  });
});

describe('the export roles of VmDiskDistribution', () => {
  const exportsBucket = bucketArn(distributions, 'Exports');
  const made = roleWith(distributions, 'writes the disks an Image Builder distribution exports');
  const given = roleNamed(distributions, SHARED_EXPORT_ROLE);

  test.each([
    ['the role the construct makes', () => made, NIGHTLY_PREFIX, KEEP_PREFIX],
    ['a given role', () => given, KEEP_PREFIX, NIGHTLY_PREFIX],
  ])('%s writes exactly under its prefix', async (_what, roleOf, prefix, otherPrefix) => {
    const role = roleOf();
    // VM Export names the file <prefix>export-ami-<id>.<format>.
    expect(await may(distributions, role, 's3:PutObject', `${exportsBucket}/${prefix}export-ami-0123456789abcdef0.vmdk`)).toBe(true);
    for (const resource of [
      `${exportsBucket}/${otherPrefix}export-ami-0123456789abcdef0.vmdk`,
      `${exportsBucket}/export-ami-0123456789abcdef0.vmdk`,
      `${exportsBucket}/${prefix.replace(/\/$/, '')}-other/export-ami-0123456789abcdef0.vmdk`,
      `${OTHER_BUCKET}/${prefix}export-ami-0123456789abcdef0.vmdk`,
    ]) {
      expect([resource, await may(distributions, role, 's3:PutObject', resource)]).toEqual([resource, false]);
    }
    expect(await may(distributions, role, 's3:GetBucketAcl', exportsBucket)).toBe(true);
    expect(await may(distributions, role, 's3:GetBucketAcl', OTHER_BUCKET)).toBe(false);
    expect(await may(distributions, role, 's3:DeleteObject', `${exportsBucket}/${prefix}export-ami-0123456789abcdef0.vmdk`)).toBe(false);
  });
});

describe('trust: only VM Import/Export, with the external id, for this account', () => {
  const roles = (): Array<[string, Deployment, string]> => [
    ['the import role the stack makes', imports, roleWith(imports, 'reads the disks this stack imports')],
    ['a given import role', imports, roleNamed(imports, DB_SERVICE_ROLE)],
    ['the export role a distribution makes', distributions, roleWith(distributions, 'writes the disks an Image Builder distribution exports')],
  ];

  async function mayAssume(deployment: Deployment, role: string, principal: string, context: Record<string, string>): Promise<boolean> {
    // A trust policy is the role's resource policy for sts:AssumeRole; a service principal has no identity policies.
    const outcome = await simulate({ action: 'sts:AssumeRole', resource: deployment.roleArn(role), context }, [], {
      principal, resourcePolicy: deployment.trustPolicy(role),
    });
    return outcome.allowed;
  }

  test.each(roles())('%s', async (_what, deployment, role) => {
    const vmie = 'vmie.amazonaws.com';
    const good = { 'sts:ExternalId': 'vmimport', 'aws:SourceAccount': ACCOUNT };
    expect(await mayAssume(deployment, role, vmie, good)).toBe(true);
    expect(await mayAssume(deployment, role, vmie, { 'aws:SourceAccount': ACCOUNT })).toBe(false);
    expect(await mayAssume(deployment, role, vmie, { ...good, 'sts:ExternalId': 'not-vmimport' })).toBe(false);
    expect(await mayAssume(deployment, role, vmie, { ...good, 'aws:SourceAccount': '210987654321' })).toBe(false);
    expect(await mayAssume(deployment, role, 'ec2.amazonaws.com', good)).toBe(false);
    expect(await mayAssume(deployment, role, `arn:aws:iam::${ACCOUNT}:role/someone`, good)).toBe(false);
    // Exactly one statement: nothing else is trusted.
    expect(asList(deployment.trustPolicy(role).Statement)).toHaveLength(1);
  });
});

/** A key policy that lets the account's IAM policies decide (the KMS default). */
function accountTrustingKeyPolicy(): PolicyDocument {
  return {
    Version: '2012-10-17',
    Statement: [{ Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${ACCOUNT}:root` }, Action: 'kms:*', Resource: '*' }],
  };
}
