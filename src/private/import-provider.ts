import { ArnFormat, Duration, Stack, Token } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { grantMerged } from './grants';
import { OWNER_TAG_KEY, createProvider, functionRole, grantReadImageBuilderServiceLinkedRole, stackSingleton } from './handler-provider';
import { acknowledgeFlattenedResource, acknowledgeWildcardResource, flattenedResource } from './nag';
import { pollerName, pollerStateMachine } from './poller';
import { IsCompleteFunction } from '../handlers/import-image/is-complete-function';
import { OnEventFunction } from '../handlers/import-image/on-event-function';
import { POLLER_STATE_MACHINE_ARN_ENV } from '../handlers/types';

/** The statement that allows ImportImage: on tasks and AMIs, and on the source snapshots the images name. */
const IMPORT_IMAGE_ACTIONS = ['ec2:ImportImage'];
/** Stands for an image name in the ARN pattern resolved once per stack (imagePattern). */
const IMAGE_NAME_MARKER = 'cdk-vm-import-export-image-name';

/** The longest a provider's waiter may run (aws-cdk-lib Provider totalTimeout). */
export const PROVIDER_MAX_WAIT = Duration.hours(1);
/**
 * How often the Provider's waiter calls isComplete: for deletes that wait until
 * Image Builder lets an image go, imports queued for quota, and read steps.
 * Imports themselves are polled by the poller state machine on their own schedule.
 */
export const PROVIDER_QUERY_INTERVAL = Duration.seconds(15);

/**
 * The per-stack provider of Custom::VmImportImage (and of its read step,
 * Custom::VmImportImageAvailable): an onEvent handler that starts imports and
 * cleans up, an isComplete handler that waits, and a Step Functions Standard
 * state machine that polls long imports and signals their wait conditions. One
 * per stack, however many images the stack imports: a resource's ServiceToken
 * cannot change, so the provider never depends on any image's settings.
 */
export class VmImportProvider extends Construct {
  /** The stack's provider. */
  public static of(scope: Construct): VmImportProvider {
    return stackSingleton(scope, 'VmImportImageProvider', (stack, id) => new VmImportProvider(stack, id));
  }

  public readonly serviceToken: string;
  /** Role of the onEvent handler: starts, updates and deletes imports. */
  public readonly onEventRole: iam.Role;
  /** Role of the isComplete handler: waits, polls, and cleans up what a failed request started. */
  public readonly isCompleteRole: iam.Role;
  /** Polls long imports and signals their wait conditions. */
  public readonly poller: sfn.StateMachine;

  /** name/version -> the construct path that uses it (two imports of one stack cannot share both). */
  private readonly imageVersions = new Map<string, string>();
  private imageArnPrefix?: { readonly arn: string; readonly finding: string };

  private constructor(scope: Stack, id: string) {
    super(scope, id);
    const onEvent = functionRole(this, 'OnEvent');
    const isComplete = functionRole(this, 'IsComplete');
    this.onEventRole = onEvent.role;
    this.isCompleteRole = isComplete.role;

    const stack = Stack.of(this);
    const pollerArn = stack.formatArn({
      service: 'states', resource: 'stateMachine', resourceName: pollerName(this), arnFormat: ArnFormat.COLON_RESOURCE_NAME,
    });
    const isCompleteFunction = new IsCompleteFunction(this, 'IsComplete', {
      description: 'cdk-vm-import-export: waits for VM imports and their clean-up, and polls long imports (Custom::VmImportImage)',
      role: isComplete.role,
      logGroup: isComplete.logGroup,
      // A poll is a few calls; a clean-up retries throttled calls (1+2+4+8 s each) and must still answer.
      timeout: Duration.minutes(3),
      memorySize: 256,
      environment: { [POLLER_STATE_MACHINE_ARN_ENV]: pollerArn },
    });
    this.poller = pollerStateMachine(this, isCompleteFunction, pollerName(this));
    const onEventFunction = new OnEventFunction(this, 'OnEvent', {
      description: 'cdk-vm-import-export: starts, updates and deletes VM imports (Custom::VmImportImage)',
      role: onEvent.role,
      logGroup: onEvent.logGroup,
      // Leaves room for the bounded retry while a new service role propagates.
      timeout: Duration.minutes(5),
      memorySize: 256,
      environment: { [POLLER_STATE_MACHINE_ARN_ENV]: pollerArn },
    });

    const provider = createProvider(this, 'Provider', {
      onEventHandler: onEventFunction,
      isCompleteHandler: isCompleteFunction,
      queryInterval: PROVIDER_QUERY_INTERVAL,
      totalTimeout: PROVIDER_MAX_WAIT,
    });
    this.serviceToken = provider.serviceToken;

    const importTasks = stack.formatArn({ service: 'ec2', resource: 'import-image-task', resourceName: '*' });
    // AMI and snapshot ARNs have no account; their ids are known only once AWS made them.
    const amis = stack.formatArn({ service: 'ec2', account: '', resource: 'image', resourceName: '*' });
    const snapshots = stack.formatArn({ service: 'ec2', account: '', resource: 'snapshot', resourceName: '*' });
    const images = stack.formatArn({ service: 'imagebuilder', resource: 'image', resourceName: '*' });

    const bothRoles = [this.onEventRole, this.isCompleteRole];
    const grant = (roles: iam.Role[], statement: iam.PolicyStatement) => roles.forEach((role) => role.addToPrincipalPolicy(statement));

    // No resource-level permissions exist for this read.
    grant(bothRoles, new iam.PolicyStatement({ actions: ['ec2:DescribeImportImageTasks'], resources: ['*'] }));
    // Imports start in onEvent, or in isComplete once a full import quota has room.
    // ImportImage authorizes the task and the AMI it registers; source snapshots
    // (a third resource type) are added to this statement per image, by id (grantForImage).
    bothRoles.forEach((role) => grantMerged(role, IMPORT_IMAGE_ACTIONS, [importTasks, amis]));
    grant(bothRoles, new iam.PolicyStatement({
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
    // Listing build versions finds an import by its tags (a Delete with an id CloudFormation invented).
    grant(bothRoles, new iam.PolicyStatement({ actions: ['imagebuilder:GetImage', 'imagebuilder:ListImageBuildVersions'], resources: [images] }));
    grant(bothRoles, new iam.PolicyStatement({
      actions: ['imagebuilder:CancelImageCreation', 'imagebuilder:DeleteImage'],
      resources: [images],
      conditions: { StringEquals: { [`aws:ResourceTag/${OWNER_TAG_KEY}`]: stack.stackId } },
    }));
    // An image that cannot be deleted names the recipes built on it. No resource-level permissions.
    grant(bothRoles, new iam.PolicyStatement({ actions: ['imagebuilder:ListImageRecipes'], resources: ['*'] }));

    // Whether CloudFormation still waits (isComplete, the poller), whether a wait condition will wait for a new
    // import (both: create.ts waitConditionFollows), and whether a stack rolls back (an update of a vanished image).
    grant(bothRoles, new iam.PolicyStatement({ actions: ['cloudformation:DescribeStackResource'], resources: [stack.stackId] }));
    grant([this.onEventRole], new iam.PolicyStatement({ actions: ['cloudformation:DescribeStacks'], resources: [stack.stackId] }));

    // The poller: started for each import that waits through a wait condition, stopped when the import is deleted.
    grant(bothRoles, new iam.PolicyStatement({ actions: ['states:StartExecution'], resources: [pollerArn] }));
    grant([this.onEventRole], new iam.PolicyStatement({ actions: ['states:ListExecutions'], resources: [pollerArn] }));
    const executions = stack.formatArn({
      service: 'states', resource: 'execution', resourceName: `${pollerName(this)}:*`, arnFormat: ArnFormat.COLON_RESOURCE_NAME,
    });
    grant([this.onEventRole], new iam.PolicyStatement({ actions: ['states:StopExecution'], resources: [executions] }));
    acknowledgeWildcardResource(this.onEventRole, executions, 'execution names are derived from import task ids that EC2 assigns at deploy time');

    // ImportVmImage, like CreateImage (AWS::ImageBuilder::Image's provider declares it), reads the service-linked role.
    bothRoles.forEach(grantReadImageBuilderServiceLinkedRole);

    // Wildcards AwsSolutions-IAM5 reports, and why each one cannot be narrowed.
    for (const role of bothRoles) {
      acknowledgeWildcardResource(role, '*', 'ec2:DescribeImportImageTasks, ec2:DescribeImages and imagebuilder:ListImageRecipes support no resource-level permissions');
      acknowledgeWildcardResource(role, importTasks,
        'import task ids are assigned by EC2 when ImportImage starts; CreateTags is limited to ImportImage itself');
      acknowledgeWildcardResource(role, amis,
        'AMI ids are assigned by EC2 during the import: ImportImage registers the AMI, cleanup deregisters the one the import recorded');
      acknowledgeWildcardResource(role, snapshots,
        'snapshot ids are assigned by EC2 during the import: cleanup removes the ones behind the recorded AMI (ImportImage is granted only the snapshots the stack imports)');
      acknowledgeWildcardResource(role, images,
        'Image Builder images that left the stack are unknown at synth: GetImage and ListImageBuildVersions only read, CancelImageCreation and DeleteImage require the stack ownership tag');
    }
  }

  /**
   * Allows what one image needs: creating and tagging images of its name,
   * passing its service role, and importing the EBS snapshots it names. Both
   * handlers: a queued import starts in isComplete. Refuses a second image of the
   * stack with the same name and version.
   *
   * @param imageNamePattern `<name as in ARNs>/*`, or `*` for a name given as a token
   */
  public grantForImage(imageNamePattern: string, serviceRole: iam.IRole, sourceSnapshotIds: string[] = []): void {
    const stack = Stack.of(this);
    const { arn: imageArnPattern, finding } = this.imagePattern(imageNamePattern);
    for (const role of [this.onEventRole, this.isCompleteRole]) {
      // Each grant joins the one statement of its actions (grantMerged): a stack of
      // many images adds ARNs, not statements.
      if (sourceSnapshotIds.length > 0) {
        // ImportImage authorizes each DiskContainer SnapshotId (resource type snapshot,
        // Service Authorization Reference): only the snapshots this stack imports.
        grantMerged(role, IMPORT_IMAGE_ACTIONS,
          sourceSnapshotIds.map((id) => stack.formatArn({ service: 'ec2', account: '', resource: 'snapshot', resourceName: id })));
      }
      // ImportVmImage with tags also authorizes TagResource. Only onEvent changes tags
      // afterwards (in-place updates), so only it may remove them.
      grantMerged(role, ['imagebuilder:ImportVmImage', 'imagebuilder:TagResource', ...(role === this.onEventRole ? ['imagebuilder:UntagResource'] : [])],
        [imageArnPattern]);
      grantMerged(role, ['iam:PassRole'], [serviceRole.roleArn]);
      acknowledgeFlattenedResource(role, finding,
        'Image Builder assigns the version and build number of the image (a name given as a token is matched with * as well)');
    }
  }

  /**
   * The ARN pattern of the images of one name (`<name>/*`, or `*`), and cdk-nag's name
   * for it: the partition and Region are resolved once per stack, not for each import
   * (a stack of many imports would pay for it at every synth).
   */
  private imagePattern(namePattern: string): { arn: string; finding: string } {
    const stack = Stack.of(this);
    this.imageArnPrefix ??= (() => {
      const arn = stack.formatArn({ service: 'imagebuilder', resource: 'image', resourceName: IMAGE_NAME_MARKER });
      return { arn: arn.slice(0, arn.indexOf(IMAGE_NAME_MARKER)), finding: flattenedResource(this, arn).replace(IMAGE_NAME_MARKER, '') };
    })();
    return { arn: `${this.imageArnPrefix.arn}${namePattern}`, finding: `${this.imageArnPrefix.finding}${namePattern}` };
  }

  /** Two imports of one stack with the same name and version would collide in Image Builder. */
  public claimImageVersion(name: string, version: string, path: string): void {
    if (Token.isUnresolved(name) || Token.isUnresolved(version)) return;
    const key = `${name.toLowerCase()}/${version}`;
    const other = this.imageVersions.get(key);
    if (other !== undefined) {
      throw new Error(`imageName "${name}" with imageVersion ${version} is already used by ${other} in this stack; ` +
        'Image Builder keeps one image per name and version: give this image another imageName or imageVersion');
    }
    this.imageVersions.set(key, path);
  }
}
