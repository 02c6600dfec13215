import { Duration, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';
import { OWNER_TAG_KEY, createProvider, functionRole, stackSingleton } from './handler-provider';
import { acknowledgeWildcardResource } from './nag';
import { IsCompleteFunction } from '../handlers/import-image/is-complete-function';
import { OnEventFunction } from '../handlers/import-image/on-event-function';

/** The longest a provider's waiter may run (aws-cdk-lib Provider totalTimeout). */
export const PROVIDER_MAX_WAIT = Duration.hours(1);
/** The default time between two polls of an import. */
export const DEFAULT_POLL_INTERVAL = Duration.seconds(30);

/**
 * The per-stack provider of Custom::VmImportImage: an onEvent handler that starts
 * imports and cleans up, an isComplete handler that polls them. One per stack,
 * however many images the stack imports: a resource's ServiceToken cannot change,
 * so the provider's id never depends on any image's settings.
 */
export class VmImportProvider extends Construct {
  /**
   * The stack's provider. Every image of the stack is polled at the same interval:
   * asking for another one is an error that names both.
   */
  public static of(scope: Construct, pollInterval: Duration = DEFAULT_POLL_INTERVAL): VmImportProvider {
    const provider = stackSingleton(scope, 'VmImportImageProvider', (stack, id) => new VmImportProvider(stack, id, pollInterval, scope.node.path));
    if (provider.pollInterval.toSeconds() !== pollInterval.toSeconds()) {
      throw new Error(`pollInterval is ${pollInterval.toHumanString()}, but the VM imports of this stack are already polled every ${provider.pollInterval.toHumanString()} (set by ${provider.firstUser}); the imports of a stack share one provider: give them all the same pollInterval`);
    }
    return provider;
  }

  public readonly serviceToken: string;
  /** Role of the onEvent handler: starts, updates and deletes imports. */
  public readonly onEventRole: iam.Role;
  /** Role of the isComplete handler: only reads state. */
  public readonly isCompleteRole: iam.Role;

  /** The interval at which the waiter polls every import of the stack. */
  public readonly pollInterval: Duration;
  private readonly firstUser: string;

  private constructor(scope: Stack, id: string, pollInterval: Duration, firstUser: string) {
    super(scope, id);
    this.pollInterval = pollInterval;
    this.firstUser = firstUser;
    const onEvent = functionRole(this, 'OnEvent');
    const isComplete = functionRole(this, 'IsComplete');
    this.onEventRole = onEvent.role;
    this.isCompleteRole = isComplete.role;

    const onEventFunction = new OnEventFunction(this, 'OnEvent', {
      description: 'cdk-vm-import-export: starts, updates and deletes VM imports (Custom::VmImportImage)',
      role: onEvent.role,
      logGroup: onEvent.logGroup,
      // Leaves room for the bounded retry while a new service role propagates.
      timeout: Duration.minutes(5),
      memorySize: 256,
    });
    const isCompleteFunction = new IsCompleteFunction(this, 'IsComplete', {
      description: 'cdk-vm-import-export: polls VM imports until the image is available (Custom::VmImportImage)',
      role: isComplete.role,
      logGroup: isComplete.logGroup,
      timeout: Duration.minutes(1),
      memorySize: 256,
    });

    // Polls stop after an hour at most; the resource's own timeout is checked by
    // isComplete, so that a timeout fails with a message that names the import.
    const interval = pollInterval.toSeconds();
    const totalTimeout = Duration.seconds(Math.floor(PROVIDER_MAX_WAIT.toSeconds() / interval) * interval);
    const provider = createProvider(this, 'Provider', {
      onEventHandler: onEventFunction,
      isCompleteHandler: isCompleteFunction,
      queryInterval: pollInterval,
      totalTimeout,
    });
    this.serviceToken = provider.serviceToken;

    const stack = Stack.of(this);
    const importTasks = stack.formatArn({ service: 'ec2', resource: 'import-image-task', resourceName: '*' });
    // AMI and snapshot ARNs have no account; their ids are known only once AWS made them.
    const amis = stack.formatArn({ service: 'ec2', account: '', resource: 'image', resourceName: '*' });
    const snapshots = stack.formatArn({ service: 'ec2', account: '', resource: 'snapshot', resourceName: '*' });
    const images = stack.formatArn({ service: 'imagebuilder', resource: 'image', resourceName: '*' });

    const bothRoles = [this.onEventRole, this.isCompleteRole];
    const grant = (roles: iam.Role[], statement: iam.PolicyStatement) => roles.forEach((role) => role.addToPrincipalPolicy(statement));

    // No resource-level permissions exist for this read.
    grant(bothRoles, new iam.PolicyStatement({ actions: ['ec2:DescribeImportImageTasks'], resources: ['*'] }));
    grant([this.onEventRole], new iam.PolicyStatement({
      // ImportImage authorizes the task and the AMI it registers; source snapshots
      // (a third resource type) are granted per image, by id (grantForImage).
      actions: ['ec2:ImportImage'],
      resources: [importTasks, amis],
    }));
    grant([this.onEventRole], new iam.PolicyStatement({
      // Tags on the import task are applied by ImportImage itself.
      actions: ['ec2:CreateTags'],
      resources: [importTasks],
      conditions: { StringEquals: { 'ec2:CreateAction': 'ImportImage' } },
    }));

    // Cleaning up: onEvent on Delete; isComplete when a replacing update's new import
    // fails, since CloudFormation never learns that import's id and sends no Delete for it.
    grant(bothRoles, new iam.PolicyStatement({ actions: ['ec2:DescribeImages'], resources: ['*'] }));
    // Every import task is started with the image's tags, the stack's ownership tag
    // among them: only this stack's tasks can be cancelled.
    grant(bothRoles, new iam.PolicyStatement({
      actions: ['ec2:CancelImportTask'],
      resources: [importTasks],
      conditions: { StringEquals: { [`aws:ResourceTag/${OWNER_TAG_KEY}`]: stack.stackId } },
    }));
    grant(bothRoles, new iam.PolicyStatement({ actions: ['ec2:DeregisterImage', 'ec2:DeleteSnapshot'], resources: [amis, snapshots] }));
    // Deletes also reach images whose construct already left the stack (or was
    // renamed): CloudFormation deletes them after this policy stopped naming them.
    // Reading any image is harmless; cancelling and deleting needs the stack's tag.
    grant([this.onEventRole], new iam.PolicyStatement({ actions: ['imagebuilder:GetImage'], resources: [images] }));
    grant(bothRoles, new iam.PolicyStatement({
      actions: ['imagebuilder:CancelImageCreation', 'imagebuilder:DeleteImage'],
      resources: [images],
      conditions: { StringEquals: { [`aws:ResourceTag/${OWNER_TAG_KEY}`]: stack.stackId } },
    }));

    // Wildcards AwsSolutions-IAM5 reports, and why each one cannot be narrowed.
    for (const role of bothRoles) {
      acknowledgeWildcardResource(role, '*', 'ec2:DescribeImportImageTasks and ec2:DescribeImages support no resource-level permissions');
      acknowledgeWildcardResource(role, importTasks,
        'import task ids are assigned by EC2 when ImportImage starts; CreateTags is limited to ImportImage itself');
      acknowledgeWildcardResource(role, amis,
        'AMI ids are assigned by EC2 during the import: ImportImage registers the AMI, cleanup deregisters the one the import recorded');
      acknowledgeWildcardResource(role, snapshots,
        'snapshot ids are assigned by EC2 during the import: cleanup removes the ones behind the recorded AMI (ImportImage is granted only the snapshots the stack imports)');
      acknowledgeWildcardResource(role, images,
        'Image Builder images that left the stack are unknown at synth: GetImage only reads, CancelImageCreation and DeleteImage require the stack ownership tag');
    }
  }

  /**
   * Allows what one image needs: creating and tagging images of its name, polling
   * them, passing its service role, and importing the EBS snapshots it names.
   */
  public grantForImage(imageArnPattern: string, serviceRole: iam.IRole, sourceSnapshotIds: string[] = []): void {
    if (sourceSnapshotIds.length > 0) {
      // ImportImage authorizes each DiskContainer SnapshotId (resource type snapshot,
      // Service Authorization Reference): only the snapshots this stack imports.
      const stack = Stack.of(this);
      this.onEventRole.addToPrincipalPolicy(new iam.PolicyStatement({
        actions: ['ec2:ImportImage'],
        resources: sourceSnapshotIds.map((id) => stack.formatArn({ service: 'ec2', account: '', resource: 'snapshot', resourceName: id })),
      }));
    }
    this.onEventRole.addToPrincipalPolicy(new iam.PolicyStatement({
      // ImportVmImage with tags also authorizes TagResource.
      actions: ['imagebuilder:ImportVmImage', 'imagebuilder:TagResource', 'imagebuilder:UntagResource'],
      resources: [imageArnPattern],
    }));
    this.isCompleteRole.addToPrincipalPolicy(new iam.PolicyStatement({
      actions: ['imagebuilder:GetImage'],
      resources: [imageArnPattern],
    }));
    this.onEventRole.addToPrincipalPolicy(new iam.PolicyStatement({
      actions: ['iam:PassRole'],
      resources: [serviceRole.roleArn],
    }));
    const versions = 'Image Builder assigns the version and build number of the image (a name given as a token is matched with * as well)';
    acknowledgeWildcardResource(this.onEventRole, imageArnPattern, versions);
    acknowledgeWildcardResource(this.isCompleteRole, imageArnPattern, versions);
  }
}
