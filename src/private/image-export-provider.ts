import { ArnFormat, Duration, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as ssm from 'aws-cdk-lib/aws-ssm';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { OWNER_TAG_KEY, createProvider, functionRole, grantReadImageBuilderServiceLinkedRole, stackSingleton } from './handler-provider';
import { acknowledgeWildcardResource } from './nag';
import { pollerName, pollerStateMachine } from './poller';
import { IsCompleteFunction as ExportIsCompleteFunction } from '../handlers/image-export/is-complete-function';
import { OnEventFunction as ExportOnEventFunction } from '../handlers/image-export/on-event-function';
import { POLLER_STATE_MACHINE_ARN_ENV } from '../handlers/types';

/** The longest a provider's waiter may run (aws-cdk-lib Provider totalTimeout). */
export const EXPORT_PROVIDER_MAX_WAIT = Duration.hours(1);
/** How often the Provider's waiter calls isComplete (deletes, queued exports, read steps). */
const QUERY_INTERVAL = Duration.seconds(15);

/**
 * The per-stack provider of Custom::VmImageExport (and of its read step,
 * Custom::VmImageExportComplete): an onEvent handler that starts, updates and
 * deletes exports, an isComplete handler that waits, and a Step Functions Standard
 * state machine (the generic poller of src/private/poller.ts) that polls long
 * exports and signals their wait conditions. One per stack, however many exports.
 */
export class VmImageExportProvider extends Construct {
  /** The stack's provider. */
  public static of(scope: Construct): VmImageExportProvider {
    return stackSingleton(scope, 'VmImageExportProvider', (stack, id) => new VmImageExportProvider(stack, id));
  }

  public readonly serviceToken: string;
  public readonly onEventRole: iam.Role;
  public readonly isCompleteRole: iam.Role;
  public readonly poller: sfn.StateMachine;

  private readonly passed = new Set<string>();

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
    const isCompleteFunction = new ExportIsCompleteFunction(this, 'IsComplete', {
      description: 'cdk-vm-import-export: waits for image exports and their clean-up, and polls long exports (Custom::VmImageExport)',
      role: isComplete.role,
      logGroup: isComplete.logGroup,
      // A poll is a call or two; a clean-up retries throttled calls (1+2+4+8 s each) and must still answer.
      timeout: Duration.minutes(3),
      memorySize: 256,
      environment: { [POLLER_STATE_MACHINE_ARN_ENV]: pollerArn },
    });
    this.poller = pollerStateMachine(this, isCompleteFunction, pollerName(this),
      'cdk-vm-import-export: polls long image exports and signals their CloudFormation wait conditions');
    const onEventFunction = new ExportOnEventFunction(this, 'OnEvent', {
      description: 'cdk-vm-import-export: starts, updates and deletes image exports (Custom::VmImageExport)',
      role: onEvent.role,
      logGroup: onEvent.logGroup,
      // Leaves room for the bounded retry while a new execution role propagates, and for tag searches.
      timeout: Duration.minutes(5),
      memorySize: 256,
      environment: { [POLLER_STATE_MACHINE_ARN_ENV]: pollerArn },
    });
    this.serviceToken = createProvider(this, 'Provider', {
      onEventHandler: onEventFunction,
      isCompleteHandler: isCompleteFunction,
      queryInterval: QUERY_INTERVAL,
      totalTimeout: EXPORT_PROVIDER_MAX_WAIT,
    }).serviceToken;

    // What Image Builder names a distributed image is not documented (and an AMI source
    // has no Image Builder name): every statement on images covers the Region's images.
    const images = stack.formatArn({ service: 'imagebuilder', resource: 'image', resourceName: '*' });
    const bothRoles = [this.onEventRole, this.isCompleteRole];
    const grant = (roles: iam.Role[], statement: iam.PolicyStatement) => roles.forEach((role) => role.addToPrincipalPolicy(statement));
    const ownedByStack = { StringEquals: { [`aws:ResourceTag/${OWNER_TAG_KEY}`]: stack.stackId } };

    // DistributeImage (onEvent; isComplete for an export that waited for quota) only with the
    // stack's ownership tag in the request: every distributed image this stack makes carries it.
    grant(bothRoles, new iam.PolicyStatement({
      actions: ['imagebuilder:DistributeImage'],
      resources: [images],
      conditions: { StringEquals: { [`aws:RequestTag/${OWNER_TAG_KEY}`]: stack.stackId } },
    }));
    // Polling, the read step, and telling a terminal image from a running one.
    grant(bothRoles, new iam.PolicyStatement({ actions: ['imagebuilder:GetImage'], resources: [images] }));
    // Cancelling and deleting (isComplete: a failed replacement, the end of a Delete) and
    // tagging (in-place updates): only images that carry the stack's tag.
    grant(bothRoles, new iam.PolicyStatement({
      actions: ['imagebuilder:CancelImageCreation', 'imagebuilder:DeleteImage'], resources: [images], conditions: ownedByStack,
    }));
    grant([this.onEventRole], new iam.PolicyStatement({
      actions: ['imagebuilder:TagResource', 'imagebuilder:UntagResource'], resources: [images], conditions: ownedByStack,
    }));
    // A Delete with an id that is not ours finds the export by its tags: ListImages supports
    // no resource-level permissions; ListImageBuildVersions reads the tags of each version's builds.
    grant([this.onEventRole], new iam.PolicyStatement({ actions: ['imagebuilder:ListImages'], resources: ['*'] }));
    grant([this.onEventRole], new iam.PolicyStatement({ actions: ['imagebuilder:ListImageBuildVersions'], resources: [images] }));

    // Whether CloudFormation still waits (isComplete, the poller), and whether a stack rolls back.
    grant([this.isCompleteRole], new iam.PolicyStatement({ actions: ['cloudformation:DescribeStackResource'], resources: [stack.stackId] }));
    grant([this.onEventRole], new iam.PolicyStatement({ actions: ['cloudformation:DescribeStacks'], resources: [stack.stackId] }));

    // The poller: started for each export that waits through a wait condition, stopped when it is deleted.
    grant(bothRoles, new iam.PolicyStatement({ actions: ['states:StartExecution'], resources: [pollerArn] }));
    grant([this.onEventRole], new iam.PolicyStatement({ actions: ['states:ListExecutions'], resources: [pollerArn] }));
    const executions = stack.formatArn({
      service: 'states', resource: 'execution', resourceName: `${pollerName(this)}:*`, arnFormat: ArnFormat.COLON_RESOURCE_NAME,
    });
    grant([this.onEventRole], new iam.PolicyStatement({ actions: ['states:StopExecution'], resources: [executions] }));

    // DistributeImage, like CreateImage (AWS::ImageBuilder::Image's provider declares it) and, by the
    // same assumption, ImportVmImage: Image Builder may read its service-linked role with the caller's credentials.
    bothRoles.forEach(grantReadImageBuilderServiceLinkedRole);

    acknowledgeWildcardResource(this.onEventRole, executions, 'execution names are derived from the distributed image ARN that Image Builder assigns at deploy time');
    for (const role of bothRoles) {
      acknowledgeWildcardResource(role, images,
        'Image Builder names the distributed image at deploy time (undocumented: an AMI source has no Image Builder name); '
        + 'DistributeImage requires the stack ownership tag in the request, CancelImageCreation, DeleteImage and tagging require it on the image, '
        + 'GetImage and ListImageBuildVersions only read');
    }
    acknowledgeWildcardResource(this.onEventRole, '*', 'imagebuilder:ListImages supports no resource-level permissions');
  }

  /**
   * Allows both handlers to pass an export's execution role to Image Builder
   * (DistributeImage authorizes iam:PassRole on it). No iam:PassedToService condition:
   * the project does not rely on unverified values (imagebuilder.amazonaws.com, surely,
   * but unconfirmed); the statement names this one role, which only Image Builder trusts
   * when the library makes it.
   */
  public grantPassExecutionRole(role: iam.IRole): void {
    const key = Stack.of(this).resolve(role.roleArn);
    if (this.passed.has(JSON.stringify(key))) return;
    this.passed.add(JSON.stringify(key));
    for (const handler of [this.onEventRole, this.isCompleteRole]) {
      handler.addToPrincipalPolicy(new iam.PolicyStatement({ actions: ['iam:PassRole'], resources: [role.roleArn] }));
    }
  }

  /**
   * An SSM source: whether Image Builder reads the parameter with the caller's
   * credentials or with the execution role's is not documented, so both may.
   */
  public grantReadSourceParameter(parameter: ssm.IParameter): void {
    for (const handler of [this.onEventRole, this.isCompleteRole]) {
      handler.addToPrincipalPolicy(new iam.PolicyStatement({ actions: ['ssm:GetParameter'], resources: [parameter.parameterArn] }));
    }
  }
}
