import { Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { grantReadDisk, grantUseKey, grantWriteExport } from './private/grants';
import { acknowledgeWildcardAction, acknowledgeWildcardResource } from './private/nag';

/**
 * Properties of a VM Import/Export service role.
 *
 * @see https://docs.aws.amazon.com/vm-import/latest/userguide/required-permissions.html#vmimport-role
 */
export interface VmImportExportServiceRoleProps {
  /**
   * The role name. VM Import/Export is given the role by name.
   *
   * @default - a name CloudFormation generates
   */
  readonly roleName?: string;

  /**
   * A description of the role.
   *
   * @default - says what the role is for
   */
  readonly description?: string;
}

/**
 * The service role that VM Import/Export (vmie.amazonaws.com) assumes to read
 * disks from S3 and register the imported image, or to write exported disks to S3.
 *
 * It starts with only the EC2 permissions VM Import/Export always needs; each
 * disk it reads and each S3 prefix it writes is granted explicitly.
 *
 * @see https://docs.aws.amazon.com/vm-import/latest/userguide/required-permissions.html#vmimport-role
 */
export class VmImportExportServiceRole extends iam.Role {
  /**
   * @param scope the scope of the role, in a stack (its account is the one the role trusts VM Import/Export for)
   * @param id the construct id
   * @param props the role name and description
   */
  constructor(scope: Construct, id: string, props: VmImportExportServiceRoleProps = {}) {
    super(scope, id, {
      roleName: props.roleName,
      description: props.description ?? 'Service role for EC2 VM Import/Export (vmie.amazonaws.com)',
      assumedBy: new iam.ServicePrincipal('vmie.amazonaws.com', {
        conditions: {
          // The external id VM Import/Export presents, and the account it acts for (confused deputy protection).
          StringEquals: {
            'sts:Externalid': 'vmimport',
            'aws:SourceAccount': Stack.of(scope).account,
          },
        },
      }),
    });
    // A policy of its own, so that the acknowledged wildcards cover these statements
    // and not what is added to the role later.
    const ec2 = new iam.Policy(this, 'Ec2Policy', {
      roles: [this],
      statements: [new iam.PolicyStatement({
        // What VM Import/Export needs to turn disks into snapshots and an AMI, or back.
        // These actions have no resource-level scoping for this use.
        actions: ['ec2:ModifySnapshotAttribute', 'ec2:CopySnapshot', 'ec2:RegisterImage', 'ec2:Describe*'],
        resources: ['*'],
      })],
    });
    const documented = 'the EC2 permissions of the vmimport service role that the VM Import/Export user guide documents '
      + '(https://docs.aws.amazon.com/vm-import/latest/userguide/required-permissions.html#vmimport-role); '
      + 'the snapshot and AMI ids are assigned by EC2 during the import or export';
    acknowledgeWildcardAction(ec2, 'ec2:Describe*', documented);
    acknowledgeWildcardResource(ec2, '*', documented);
  }

  /**
   * Allows VM Import to read one disk object.
   *
   * @param bucket the bucket holding the disk
   * @param key the object key of the disk
   */
  public grantReadDisk(bucket: s3.IBucket, key: string): void {
    grantReadDisk(this, bucket, key);
  }

  /**
   * Allows VM Export to write disk files under a prefix of a bucket.
   *
   * @param bucket the export bucket
   * @param prefix the key prefix exports are written under; empty for the whole bucket
   */
  public grantWriteExport(bucket: s3.IBucket, prefix: string = ''): void {
    grantWriteExport(this, bucket, prefix);
  }

  /**
   * Allows VM Import/Export to use a KMS key for the snapshots it creates.
   *
   * @param key the key that encrypts the snapshots
   */
  public grantUseKey(key: kms.IKey): void {
    grantUseKey(this, key);
  }
}
