import { Token } from 'aws-cdk-lib';
import { LAUNCH_TEMPLATE_ID } from './launch-template-configuration';
import { validateAccountId } from '../private/distribution-helpers';

/** The most fast launch configurations a Region takes (FastLaunchConfigurationList, imagebuilder 2019-12-02). */
export const MAX_FAST_LAUNCH_CONFIGURATIONS = 1000;
/** EC2 EnableFastLaunch launches at least 6 instances in parallel. */
const MIN_PARALLEL_LAUNCHES = 6;
const MAX_TARGET_SNAPSHOTS = 10000;

/**
 * The launch template Windows faster launching uses to pre-provision snapshots.
 * Give exactly one of `launchTemplateId` and `launchTemplateName`.
 *
 * @see https://docs.aws.amazon.com/imagebuilder/latest/APIReference/API_FastLaunchLaunchTemplateSpecification.html
 */
export interface FastLaunchLaunchTemplate {
  /**
   * The id of the launch template.
   *
   * @default - `launchTemplateName` is used
   */
  readonly launchTemplateId?: string;

  /**
   * The name of the launch template.
   *
   * @default - `launchTemplateId` is used
   */
  readonly launchTemplateName?: string;

  /**
   * The version of the launch template.
   *
   * @default - the default version
   */
  readonly launchTemplateVersion?: string;
}

/**
 * Windows faster launching for the distributed AMI.
 */
export interface FastLaunchConfigurationOptions {
  /**
   * Whether faster launching is on; false turns it off.
   *
   * @default true
   * @see https://docs.aws.amazon.com/imagebuilder/latest/APIReference/API_FastLaunchConfiguration.html
   */
  readonly enabled?: boolean;

  /**
   * The most instances launched at once to create pre-provisioned snapshots; at least 6.
   *
   * @default - EC2's default (6)
   * @see https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_EnableFastLaunch.html
   */
  readonly maxParallelLaunches?: number;

  /**
   * How many pre-provisioned snapshots to keep (snapshotConfiguration.targetResourceCount), 1 to 10000.
   *
   * @default - EC2's default (10)
   * @see https://docs.aws.amazon.com/imagebuilder/latest/APIReference/API_FastLaunchSnapshotConfiguration.html
   */
  readonly targetSnapshotCount?: number;

  /**
   * The launch template used to launch the pre-provisioning instances.
   *
   * @default - EC2 launches them with its defaults
   */
  readonly launchTemplate?: FastLaunchLaunchTemplate;

  /**
   * The account that owns the AMI faster launching applies to.
   *
   * @default - this account
   */
  readonly accountId?: string;
}

/**
 * Windows faster launching for the AMI distributed to one Region.
 */
export interface FastLaunchConfiguration extends FastLaunchConfigurationOptions {
  /**
   * The Region of the AMI.
   *
   * @default - the stack's Region
   */
  readonly region?: string;
}

/** Checks one fast launch configuration at synth. */
export function validateFastLaunchConfiguration(where: string, config: FastLaunchConfigurationOptions): void {
  const parallel = config.maxParallelLaunches;
  if (parallel !== undefined && !Token.isUnresolved(parallel) && (!Number.isInteger(parallel) || parallel < MIN_PARALLEL_LAUNCHES)) {
    throw new Error(`${where}: maxParallelLaunches is ${parallel}; EC2 faster launching needs a whole number of at least ${MIN_PARALLEL_LAUNCHES}`);
  }
  const snapshots = config.targetSnapshotCount;
  if (snapshots !== undefined && !Token.isUnresolved(snapshots)
    && (!Number.isInteger(snapshots) || snapshots < 1 || snapshots > MAX_TARGET_SNAPSHOTS)) {
    throw new Error(`${where}: targetSnapshotCount is ${snapshots}; use a whole number from 1 to ${MAX_TARGET_SNAPSHOTS}`);
  }
  const template = config.launchTemplate;
  if (template && (template.launchTemplateId === undefined) === (template.launchTemplateName === undefined)) {
    throw new Error(`${where}: launchTemplate must give exactly one of launchTemplateId and launchTemplateName (got ${template.launchTemplateId === undefined ? 'neither' : 'both'})`);
  }
  const templateId = template?.launchTemplateId;
  if (templateId !== undefined && !Token.isUnresolved(templateId) && !LAUNCH_TEMPLATE_ID.test(templateId)) {
    throw new Error(`${where}: launchTemplate.launchTemplateId "${templateId}" is not a launch template id ("lt-" and 17 characters)`);
  }
  if (config.accountId !== undefined) validateAccountId(`${where}.accountId`, config.accountId);
}

/** The API's `FastLaunchConfiguration`. */
export function renderFastLaunchConfiguration(config: FastLaunchConfigurationOptions): Record<string, unknown> {
  const template = config.launchTemplate;
  return {
    enabled: config.enabled ?? true,
    maxParallelLaunches: config.maxParallelLaunches,
    snapshotConfiguration: config.targetSnapshotCount === undefined ? undefined : { targetResourceCount: config.targetSnapshotCount },
    launchTemplate: template && {
      launchTemplateId: template.launchTemplateId,
      launchTemplateName: template.launchTemplateName,
      launchTemplateVersion: template.launchTemplateVersion,
    },
    accountId: config.accountId,
  };
}
