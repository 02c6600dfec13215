import { ArnFormat, Duration, Stack, Token } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { OWNER_TAG_KEY, createProvider, functionRole, stackSingleton } from './handler-provider';
import { acknowledgeWildcardResource } from './nag';
import { pollerName, pollerStateMachine } from './poller';
import { IsCompleteFunction } from '../handlers/imported-ami/is-complete-function';
import { OnEventFunction } from '../handlers/imported-ami/on-event-function';
import { POLL_FUNCTION_TIMEOUT_SECONDS } from '../handlers/imported-ami/types';
import { POLLER_STATE_MACHINE_ARN_ENV } from '../handlers/types';

/** The longest a provider's waiter may run (aws-cdk-lib Provider totalTimeout). */
export const IMPORTED_AMI_PROVIDER_MAX_WAIT = Duration.hours(1);
/** How often the Provider's waiter calls isComplete (read steps, deletes that let a stopped poll end). */
const PROVIDER_QUERY_INTERVAL = Duration.seconds(15);

/**
 * The per-stack provider of Custom::ImportedAmi (and of its read step,
 * Custom::ImportedAmiAvailable): an onEvent handler that starts snapshot imports
 * and cleans up, an isComplete handler that waits, and a Step Functions Standard
 * state machine whose poll (the isComplete function) finishes each import and
 * signals its wait condition. One per stack however many AMIs it imports; kept
 * apart from VmImportImage's provider, so each role holds only what its own
 * handlers call.
 */
export class ImportedAmiProvider extends Construct {
  /** The stack's provider. */
  public static of(scope: Construct): ImportedAmiProvider {
    return stackSingleton(scope, 'ImportedAmiProvider', (stack, id) => new ImportedAmiProvider(stack, id));
  }

  public readonly serviceToken: string;
  /** Role of the onEvent handler: starts, updates and deletes imports. */
  public readonly onEventRole: iam.Role;
  /** Role of the isComplete handler: polls imports, registers AMIs, waits for read steps and deletes. */
  public readonly isCompleteRole: iam.Role;
  /** Polls imports and signals their wait conditions. */
  public readonly poller: sfn.StateMachine;

  /** AMI name -> the construct path that uses it (AMI names are unique per account and Region). */
  private readonly amiNames = new Map<string, string>();

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
      description: 'cdk-vm-import-export: finishes ImportedAmi imports (snapshots, then the AMI), waits for their read steps and deletes (Custom::ImportedAmi)',
      role: isComplete.role,
      logGroup: isComplete.logGroup,
      // A Delete that stopped a running poller waits this long (plus a margin) for a poll in flight to end.
      timeout: Duration.seconds(POLL_FUNCTION_TIMEOUT_SECONDS),
      memorySize: 256,
    });
    this.poller = pollerStateMachine(this, isCompleteFunction, pollerName(this));
    const onEventFunction = new OnEventFunction(this, 'OnEvent', {
      description: 'cdk-vm-import-export: starts, updates and deletes ImportedAmi imports (Custom::ImportedAmi)',
      role: onEvent.role,
      logGroup: onEvent.logGroup,
      // Leaves room for the bounded retry while a new service role propagates.
      timeout: Duration.minutes(5),
      memorySize: 256,
      environment: { [POLLER_STATE_MACHINE_ARN_ENV]: pollerArn },
    });

    this.serviceToken = createProvider(this, 'Provider', {
      onEventHandler: onEventFunction,
      isCompleteHandler: isCompleteFunction,
      queryInterval: PROVIDER_QUERY_INTERVAL,
      totalTimeout: IMPORTED_AMI_PROVIDER_MAX_WAIT,
    }).serviceToken;

    const snapshotTasks = stack.formatArn({ service: 'ec2', resource: 'import-snapshot-task', resourceName: '*' });
    // AMI and snapshot ARNs have no account; their ids are known only once AWS made them.
    const amis = stack.formatArn({ service: 'ec2', account: '', resource: 'image', resourceName: '*' });
    const snapshots = stack.formatArn({ service: 'ec2', account: '', resource: 'snapshot', resourceName: '*' });
    const owned = { StringEquals: { [`aws:ResourceTag/${OWNER_TAG_KEY}`]: stack.stackId } };
    const bothRoles = [this.onEventRole, this.isCompleteRole];
    const grant = (roles: iam.Role[], statement: iam.PolicyStatement) => roles.forEach((role) => role.addToPrincipalPolicy(statement));

    // Reads: no resource-level permissions exist for them.
    grant(bothRoles, new iam.PolicyStatement({
      actions: ['ec2:DescribeImportSnapshotTasks', 'ec2:DescribeImages', 'ec2:DescribeSnapshots'], resources: ['*'],
    }));
    // Snapshot imports start in onEvent, or in the poll once a full import quota has room. ImportSnapshot
    // authorizes the task and the snapshot it makes (Service Authorization Reference); the tags on the
    // task come with it. No aws:RequestTag condition: whether the snapshot resource sees the task's tags is unverified.
    grant(bothRoles, new iam.PolicyStatement({ actions: ['ec2:ImportSnapshot'], resources: [snapshotTasks, snapshots] }));
    grant(bothRoles, new iam.PolicyStatement({
      actions: ['ec2:CreateTags'], resources: [snapshotTasks], conditions: { StringEquals: { 'ec2:CreateAction': 'ImportSnapshot' } },
    }));
    // Every task carries the stack's ownership tag from its start: only this stack's tasks can be cancelled.
    grant(bothRoles, new iam.PolicyStatement({ actions: ['ec2:CancelImportTask'], resources: [snapshotTasks], conditions: owned }));
    // The snapshots of completed tasks are tagged by the poll (and by a Delete that meets one the poll has not
    // tagged yet): EC2 cannot tag them at creation. Only with the stack's ownership tag in the request.
    grant(bothRoles, new iam.PolicyStatement({
      actions: ['ec2:CreateTags'],
      resources: [snapshots],
      conditions: { StringEquals: { [`aws:RequestTag/${OWNER_TAG_KEY}`]: stack.stackId } },
    }));
    // Removal: only what carries the stack's ownership tag (the AMI from its registration, the snapshots once claimed).
    grant(bothRoles, new iam.PolicyStatement({ actions: ['ec2:DeregisterImage'], resources: [amis], conditions: owned }));
    grant(bothRoles, new iam.PolicyStatement({ actions: ['ec2:DeleteSnapshot'], resources: [snapshots], conditions: owned }));

    // The poll registers the AMI, tagged at creation, from the stack's own (tagged) snapshots.
    grant([this.isCompleteRole], new iam.PolicyStatement({ actions: ['ec2:RegisterImage'], resources: [amis] }));
    grant([this.isCompleteRole], new iam.PolicyStatement({ actions: ['ec2:RegisterImage'], resources: [snapshots], conditions: owned }));
    grant([this.isCompleteRole], new iam.PolicyStatement({
      actions: ['ec2:CreateTags'], resources: [amis], conditions: { StringEquals: { 'ec2:CreateAction': 'RegisterImage' } },
    }));
    // Whether CloudFormation still waits for the import (the poll, every few polls).
    grant([this.isCompleteRole], new iam.PolicyStatement({ actions: ['cloudformation:DescribeStackResource'], resources: [stack.stackId] }));

    // In-place tag updates of the AMI and its snapshots.
    grant([this.onEventRole], new iam.PolicyStatement({ actions: ['ec2:CreateTags', 'ec2:DeleteTags'], resources: [amis, snapshots], conditions: owned }));
    // Whether a stack rolls back (an update of an AMI that vanished).
    grant([this.onEventRole], new iam.PolicyStatement({ actions: ['cloudformation:DescribeStacks'], resources: [stack.stackId] }));
    // The poller: started for each import, stopped when the import is deleted or updated.
    grant([this.onEventRole], new iam.PolicyStatement({ actions: ['states:StartExecution', 'states:ListExecutions'], resources: [pollerArn] }));
    const executions = stack.formatArn({
      service: 'states', resource: 'execution', resourceName: `${pollerName(this)}:*`, arnFormat: ArnFormat.COLON_RESOURCE_NAME,
    });
    grant([this.onEventRole], new iam.PolicyStatement({ actions: ['states:StopExecution'], resources: [executions] }));
    acknowledgeWildcardResource(this.onEventRole, executions, 'execution names are derived from import ids assigned at deploy time');

    // Wildcards AwsSolutions-IAM5 reports, and why each one cannot be narrowed.
    for (const role of bothRoles) {
      acknowledgeWildcardResource(role, '*', 'ec2:DescribeImportSnapshotTasks, ec2:DescribeImages and ec2:DescribeSnapshots support no resource-level permissions');
      acknowledgeWildcardResource(role, snapshotTasks,
        'snapshot import task ids are assigned by EC2 when ImportSnapshot starts; CreateTags is limited to ImportSnapshot itself, CancelImportTask to tasks with the stack ownership tag');
      acknowledgeWildcardResource(role, amis,
        'AMI ids are assigned by EC2 at RegisterImage; deregistering and tagging require the stack ownership tag, tagging at creation RegisterImage itself');
      acknowledgeWildcardResource(role, snapshots,
        'snapshot ids are assigned by EC2 during the import; deleting requires the stack ownership tag, tagging requires it in the request');
    }
  }

  /** Allows passing the service role VM Import uses for one import (ImportSnapshot RoleName): both handlers start imports. */
  public grantPassServiceRole(serviceRole: iam.IRole): void {
    for (const role of [this.onEventRole, this.isCompleteRole]) {
      role.addToPrincipalPolicy(new iam.PolicyStatement({ actions: ['iam:PassRole'], resources: [serviceRole.roleArn] }));
    }
  }

  /** Two AMIs of one stack cannot share a name: EC2 keeps one AMI per name in a Region. */
  public claimAmiName(name: string, path: string): void {
    if (Token.isUnresolved(name)) return;
    const other = this.amiNames.get(name);
    if (other !== undefined) {
      throw new Error(`amiName "${name}" is already used by ${other} in this stack; AMI names are unique per account and Region: give this AMI another amiName`);
    }
    this.amiNames.set(name, path);
  }
}
