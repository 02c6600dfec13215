import { Duration, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';
import { OWNER_TAG_KEY, createProvider, functionRole, grantReadImageBuilderServiceLinkedRole, stackSingleton } from './handler-provider';
import { acknowledgeWildcardResource } from './nag';
import { OnEventFunction } from '../handlers/distribution/on-event-function';

/** Why the role's `*` resource cannot be narrowed: the actions on it have no resource-level permissions. */
const WILDCARD_ACTIONS_REASON = 'imagebuilder:ListImagePipelines and ec2:DescribeLaunchTemplates (granted when a configuration names launch templates) '
  + 'support no resource-level permissions';

/**
 * The per-stack provider of Custom::VmDiskDistribution: one onEvent handler that
 * creates, updates and deletes distribution configurations. Every call is
 * synchronous, so there is no isComplete handler and no waiter.
 */
export class VmDiskDistributionProvider extends Construct {
  /** The stack's provider. */
  public static of(scope: Construct): VmDiskDistributionProvider {
    return stackSingleton(scope, 'VmDiskDistributionProvider', (stack, id) => new VmDiskDistributionProvider(stack, id));
  }

  public readonly serviceToken: string;
  /** Role of the onEvent handler. */
  public readonly onEventRole: iam.Role;
  private describesLaunchTemplates = false;

  private constructor(scope: Stack, id: string) {
    super(scope, id);
    const onEvent = functionRole(this, 'OnEvent');
    this.onEventRole = onEvent.role;

    const onEventFunction = new OnEventFunction(this, 'OnEvent', {
      description: 'cdk-vm-import-export: creates, updates and deletes Image Builder distribution configurations (Custom::VmDiskDistribution)',
      role: onEvent.role,
      logGroup: onEvent.logGroup,
      timeout: Duration.minutes(2),
      memorySize: 256,
    });
    this.serviceToken = createProvider(this, 'Provider', { onEventHandler: onEventFunction }).serviceToken;

    const stack = Stack.of(this);
    const anyConfiguration = stack.formatArn({ service: 'imagebuilder', resource: 'distribution-configuration', resourceName: '*' });
    // Names the image pipelines that still use a configuration Delete was refused for.
    // ListImagePipelines supports no resource-level permissions.
    this.onEventRole.addToPrincipalPolicy(new iam.PolicyStatement({
      actions: ['imagebuilder:ListImagePipelines'],
      resources: ['*'],
    }));
    // A renamed configuration, or one whose construct left the stack, is deleted after
    // the handler's policy stopped naming it: allow deleting only what this stack tagged.
    this.onEventRole.addToPrincipalPolicy(new iam.PolicyStatement({
      actions: ['imagebuilder:DeleteDistributionConfiguration'],
      resources: [anyConfiguration],
      conditions: { StringEquals: { [`aws:ResourceTag/${OWNER_TAG_KEY}`]: stack.stackId } },
    }));
    // Once such a configuration is gone its tag is too, and that delete is denied: a read
    // without the tag condition tells "already deleted" from "not ours".
    this.onEventRole.addToPrincipalPolicy(new iam.PolicyStatement({
      actions: ['imagebuilder:GetDistributionConfiguration'],
      resources: [anyConfiguration],
    }));

    // AWS::ImageBuilder::DistributionConfiguration's own provider declares iam:GetRole for create.
    grantReadImageBuilderServiceLinkedRole(this.onEventRole);

    // Wildcards AwsSolutions-IAM5 reports, and why each one cannot be narrowed.
    acknowledgeWildcardResource(this.onEventRole, '*', WILDCARD_ACTIONS_REASON);
    acknowledgeWildcardResource(this.onEventRole, anyConfiguration,
      'configurations that left the stack are unknown at synth: deleting one requires the stack ownership tag; reading one '
      + '(read-only) cannot, since it tells an already deleted configuration (no tag left) from a denied delete. '
      + 'A configuration name given as a token is matched with * as well');
  }

  /**
   * Allows the handler to manage the configurations matching this ARN pattern.
   * CreateDistributionConfiguration with tags also authorizes TagResource.
   */
  public grantForConfiguration(arnPattern: string): void {
    this.onEventRole.addToPrincipalPolicy(new iam.PolicyStatement({
      actions: [
        'imagebuilder:CreateDistributionConfiguration',
        'imagebuilder:UpdateDistributionConfiguration',
        'imagebuilder:DeleteDistributionConfiguration',
        'imagebuilder:TagResource',
        'imagebuilder:UntagResource',
      ],
      resources: [arnPattern],
    }));
  }

  /**
   * Allows what Image Builder checks with the handler's credentials when a
   * configuration names launch templates to update with the distributed AMI: the
   * launch-template actions AWS's own resource provider declares for creating an
   * AWS::ImageBuilder::DistributionConfiguration, on these launch templates.
   * DescribeLaunchTemplates supports no resource-level permissions; no ec2:Region
   * condition, since in which Region Image Builder makes the check is not documented.
   */
  public grantLaunchTemplates(launchTemplateArns: string[]): void {
    if (launchTemplateArns.length === 0) return;
    this.onEventRole.addToPrincipalPolicy(new iam.PolicyStatement({
      actions: ['ec2:CreateLaunchTemplateVersion', 'ec2:ModifyLaunchTemplate'],
      resources: launchTemplateArns,
    }));
    if (this.describesLaunchTemplates) return;
    this.describesLaunchTemplates = true;
    this.onEventRole.addToPrincipalPolicy(new iam.PolicyStatement({
      actions: ['ec2:DescribeLaunchTemplates'],
      resources: ['*'],
    }));
  }

  /**
   * Allows the handler to name an export role in a configuration: Create and
   * UpdateDistributionConfiguration authorize iam:PassRole on it. No
   * iam:PassedToService condition: which service Image Builder reports the role
   * passed to is not verified (vmie or imagebuilder), and a wrong guess denies
   * every deploy. The statement names this one role, which only VM Export trusts.
   *
   * @see https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonec2imagebuilder.html
   */
  public grantPassExportRole(role: iam.IRole): void {
    this.onEventRole.addToPrincipalPolicy(new iam.PolicyStatement({
      actions: ['iam:PassRole'],
      resources: [role.roleArn],
    }));
  }
}
