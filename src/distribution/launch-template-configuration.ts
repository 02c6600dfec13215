import { Stack, Token } from 'aws-cdk-lib';
import { Construct } from 'constructs';
import { validateAccountId } from '../private/distribution-helpers';

/** The most launch template configurations a Region takes (LaunchTemplateConfigurationList, imagebuilder 2019-12-02). */
export const MAX_LAUNCH_TEMPLATES = 100;
/** The LaunchTemplateId pattern of the Image Builder API model. */
export const LAUNCH_TEMPLATE_ID = /^lt-[a-z0-9-_]{17}$/;

/**
 * An EC2 launch template that gets a new version with the distributed AMI.
 */
export interface LaunchTemplateConfigurationOptions {
  /**
   * The id of the launch template, `lt-` and 17 characters.
   *
   * @see https://docs.aws.amazon.com/imagebuilder/latest/APIReference/API_LaunchTemplateConfiguration.html
   */
  readonly launchTemplateId: string;

  /**
   * The account that owns the launch template.
   *
   * @default - this account
   */
  readonly accountId?: string;

  /**
   * Whether the new version becomes the launch template's default version.
   *
   * @default false
   */
  readonly setDefaultVersion?: boolean;
}

/**
 * A launch template updated with the AMI distributed to one Region.
 */
export interface LaunchTemplateConfiguration extends LaunchTemplateConfigurationOptions {
  /**
   * The Region of the launch template.
   *
   * @default - the stack's Region
   */
  readonly region?: string;
}

/** Checks one launch template configuration at synth. */
export function validateLaunchTemplateConfiguration(where: string, config: LaunchTemplateConfigurationOptions): void {
  if (!Token.isUnresolved(config.launchTemplateId) && !LAUNCH_TEMPLATE_ID.test(config.launchTemplateId)) {
    throw new Error(`${where}: launchTemplateId "${config.launchTemplateId}" is not a launch template id; use the id ("lt-" and 17 characters), e.g. launchTemplate.launchTemplateId`);
  }
  if (config.accountId !== undefined) validateAccountId(`${where}.accountId`, config.accountId);
}

/** The API's `LaunchTemplateConfiguration`. */
export function renderLaunchTemplateConfiguration(config: LaunchTemplateConfigurationOptions): Record<string, unknown> {
  return {
    launchTemplateId: config.launchTemplateId,
    accountId: config.accountId,
    setDefaultVersion: config.setDefaultVersion,
  };
}

/**
 * ARNs of the launch templates of this account that the configurations of one
 * Region name: the ones the handler's role needs permissions on. A launch template
 * of another account is authorized there, not by this account's policies: left out.
 * While this stack's account is unknown at synth, a given account id may be this
 * one, so it is kept.
 */
export function launchTemplateArns(scope: Construct, region: string, configs: readonly LaunchTemplateConfigurationOptions[]): string[] {
  const stack = Stack.of(scope);
  const otherAccount = (account: string | undefined) => account !== undefined
    && !Token.isUnresolved(account) && !Token.isUnresolved(stack.account) && account !== stack.account;
  return configs.filter((config) => !otherAccount(config.accountId)).map((config) => stack.formatArn({
    service: 'ec2',
    region,
    account: config.accountId ?? stack.account,
    resource: 'launch-template',
    resourceName: config.launchTemplateId,
  }));
}
