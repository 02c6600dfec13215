import { Token } from 'aws-cdk-lib';
import * as kms from 'aws-cdk-lib/aws-kms';
import { describeRegion, nonEmpty, validateAccountId, validateDescription } from '../private/distribution-helpers';

/** The AmiNameString pattern of the Image Builder API model (imagebuilder 2019-12-02). */
const AMI_NAME = /^[-_A-Za-z0-9{][-_A-Za-z0-9\s:{}.]+[-_A-Za-z0-9}]$/;

/**
 * Who may launch the distributed AMI.
 *
 * @see https://docs.aws.amazon.com/imagebuilder/latest/APIReference/API_LaunchPermissionConfiguration.html
 */
export interface AmiLaunchPermission {
  /**
   * Ids of the AWS accounts that may launch the AMI.
   *
   * @default - none
   */
  readonly userIds?: string[];

  /**
   * Groups that may launch the AMI; `all` makes it public.
   *
   * @default - none
   */
  readonly userGroups?: string[];

  /**
   * ARNs of the AWS Organizations whose accounts may launch the AMI.
   *
   * @default - none
   */
  readonly organizationArns?: string[];

  /**
   * ARNs of the organizational units whose accounts may launch the AMI.
   *
   * @default - none
   */
  readonly organizationalUnitArns?: string[];
}

/**
 * Settings of the AMI distributed to one Region.
 */
export interface AmiDistributionOptions {
  /**
   * The name of the distributed AMI. AMI names must be unique: include
   * `{{ imagebuilder:buildDate }}` so that every build gets its own.
   *
   * @default - Image Builder derives it from the recipe
   * @see https://docs.aws.amazon.com/imagebuilder/latest/APIReference/API_AmiDistributionConfiguration.html
   */
  readonly amiName?: string;

  /**
   * A description of the AMI.
   *
   * @default - none
   */
  readonly description?: string;

  /**
   * Tags of the distributed AMI.
   *
   * @default - none
   */
  readonly amiTags?: { [key: string]: string };

  /**
   * Encrypts the AMI's snapshots with this key, which must be in the Region of
   * the distribution. VM Export cannot export AMIs with encrypted snapshots.
   *
   * @default - the account's default EBS encryption
   * @see https://docs.aws.amazon.com/imagebuilder/latest/userguide/manage-distribution-settings.html
   */
  readonly encryptionKey?: kms.IKey;

  /**
   * Ids of the AWS accounts the AMI is copied to.
   *
   * @default - only this account
   */
  readonly targetAccountIds?: string[];

  /**
   * Who may launch the AMI.
   *
   * @default - only the owning account
   */
  readonly launchPermission?: AmiLaunchPermission;
}

/**
 * The AMI distributed to one Region.
 */
export interface AmiDistribution extends AmiDistributionOptions {
  /**
   * The Region the AMI is distributed to.
   *
   * @default - the stack's Region
   */
  readonly region?: string;
}

/**
 * Checks the AMI settings of `region` at synth. `existing` is the AMI
 * distribution the Region already has.
 */
export function validateAmiDistribution(where: string, region: string, ami: AmiDistributionOptions, existing?: AmiDistributionOptions): void {
  if (existing) {
    throw new Error(`${where}: ${describeRegion(region)} already has an AMI distribution; Image Builder takes one per Region: merge the two`);
  }
  if (ami.amiName !== undefined && !Token.isUnresolved(ami.amiName) && (ami.amiName.length > 127 || !AMI_NAME.test(ami.amiName))) {
    throw new Error(`${where}: amiName "${ami.amiName}" is not a valid AMI name: use 3 to 127 letters, digits, spaces and "-_:.{}" (pattern ${AMI_NAME.source}), e.g. "web-{{ imagebuilder:buildDate }}"`);
  }
  validateDescription(`${where}.description`, ami.description);
  (ami.targetAccountIds ?? []).forEach((a, i) => validateAccountId(`${where}.targetAccountIds[${i}]`, a));
  (ami.launchPermission?.userIds ?? []).forEach((a, i) => validateAccountId(`${where}.launchPermission.userIds[${i}]`, a));
  const keyRegion = ami.encryptionKey?.env.region;
  if (keyRegion !== undefined && !Token.isUnresolved(keyRegion) && !Token.isUnresolved(region) && keyRegion !== region) {
    throw new Error(`${where}: encryptionKey ${ami.encryptionKey!.node.path} is in ${keyRegion} but the AMI is distributed to ${region}; EBS encrypts only with a key of the same Region: use a key (or multi-Region replica) in ${region}`);
  }
}

/** The API's `AmiDistributionConfiguration`. */
export function renderAmiDistribution(ami: AmiDistributionOptions): Record<string, unknown> {
  const permission = ami.launchPermission;
  return {
    name: ami.amiName,
    description: ami.description,
    targetAccountIds: nonEmpty(ami.targetAccountIds ?? []),
    amiTags: ami.amiTags && Object.keys(ami.amiTags).length > 0 ? ami.amiTags : undefined,
    kmsKeyId: ami.encryptionKey?.keyArn,
    launchPermission: permission && {
      userIds: nonEmpty(permission.userIds ?? []),
      userGroups: nonEmpty(permission.userGroups ?? []),
      organizationArns: nonEmpty(permission.organizationArns ?? []),
      organizationalUnitArns: nonEmpty(permission.organizationalUnitArns ?? []),
    },
  };
}
