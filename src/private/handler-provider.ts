import { Duration, Names, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as cr from 'aws-cdk-lib/custom-resources';
import { Construct } from 'constructs';
import { acknowledgeWildcardResource } from './nag';

export { OWNER_TAG_KEY } from '../handlers/types';

/** Log retention of every function and state machine a provider creates. */
const LOG_RETENTION = logs.RetentionDays.ONE_MONTH;

/**
 * A log group and an explicit role that may write only to it. Used instead of the
 * AWSLambdaBasicExecutionRole managed policy, which allows every log group.
 */
export function functionRole(scope: Construct, id: string, sharedLogGroup?: logs.LogGroup): { role: iam.Role; logGroup: logs.LogGroup } {
  const logGroup = sharedLogGroup ?? new logs.LogGroup(scope, `${id}Logs`, {
    retention: LOG_RETENTION,
    removalPolicy: RemovalPolicy.DESTROY,
  });
  const role = new iam.Role(scope, `${id}Role`, {
    assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
  });
  role.addToPrincipalPolicy(new iam.PolicyStatement({
    actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
    resources: [logGroup.logGroupArn],
  }));
  return { role, logGroup };
}

/** What a provider needs from its handler functions. */
export interface HandlerProviderProps {
  readonly onEventHandler: lambda.IFunction;
  readonly isCompleteHandler?: lambda.IFunction;
  readonly queryInterval?: Duration;
  readonly totalTimeout?: Duration;
}

/**
 * aws-cdk-lib's Provider with explicit, log-scoped framework roles, framework
 * functions on the handlers' Node.js runtime, and a traced waiter that logs every
 * state transition but leaves execution data (the custom resource event) out.
 */
export function createProvider(scope: Construct, id: string, props: HandlerProviderProps): cr.Provider {
  const framework = functionRole(scope, `${id}Framework`);
  // A separate role: the onEvent framework starts the waiter, the waiter invokes
  // these functions; one shared role would make a dependency cycle.
  const waiterFramework = props.isCompleteHandler ? functionRole(scope, `${id}WaiterFramework`, framework.logGroup) : undefined;
  const waiterLogs = props.isCompleteHandler ? stateMachineLogGroup(scope, `${id}WaiterLogs`, id) : undefined;
  const provider = new cr.Provider(scope, id, {
    onEventHandler: props.onEventHandler,
    isCompleteHandler: props.isCompleteHandler,
    queryInterval: props.queryInterval,
    totalTimeout: props.totalTimeout,
    logGroup: framework.logGroup,
    frameworkOnEventRole: framework.role,
    frameworkCompleteAndTimeoutRole: waiterFramework?.role,
    // The Provider leaves the waiter unlogged unless told otherwise.
    disableWaiterStateMachineLogging: waiterLogs ? false : undefined,
    waiterStateMachineLogOptions: waiterLogs
      ? { destination: waiterLogs, includeExecutionData: false, level: sfn.LogLevel.ALL }
      : undefined,
  });

  // aws-cdk-lib picks the framework's runtime from a regional fact that lags behind
  // (and is a Fn::FindInMap in environment-agnostic stacks): use the handlers' runtime.
  for (const child of provider.node.children) {
    if (child instanceof lambda.Function) {
      (child.node.defaultChild as lambda.CfnFunction).runtime = lambda.Runtime.NODEJS_24_X.name;
    }
  }

  // lambda.IFunction.grantInvoke, which the Provider calls, also allows the function's
  // versions and aliases (<arn>:*); they are the framework's own functions.
  const handlers = [props.onEventHandler, props.isCompleteHandler].filter((fn): fn is lambda.IFunction => fn !== undefined);
  for (const role of [framework.role, waiterFramework?.role]) {
    if (!role) continue;
    for (const fn of handlers) {
      acknowledgeWildcardResource(role, `${fn.functionArn}:*`,
        'the aws-cdk-lib Provider framework invokes this handler function (grantInvoke also covers its versions and aliases)');
    }
  }
  const waiter = provider.node.tryFindChild('waiter-state-machine');
  if (waiter) configureWaiter(provider, waiter);
  return provider;
}

/** X-Ray tracing for the Provider's waiter, and acknowledgments for its internals. */
function configureWaiter(provider: cr.Provider, waiter: Construct): void {
  const stateMachine = waiter.node.defaultChild as sfn.CfnStateMachine;
  stateMachine.tracingConfiguration = { enabled: true };
  const role = waiter.node.tryFindChild('Role') as iam.Role | undefined;
  if (!role) return;
  // What sfn.StateMachine grants for tracingEnabled.
  role.addToPrincipalPolicy(new iam.PolicyStatement({
    actions: ['xray:PutTraceSegments', 'xray:PutTelemetryRecords', 'xray:GetSamplingRules', 'xray:GetSamplingTargets'],
    resources: ['*'],
  }));
  const invoked = ['framework-isComplete', 'framework-onTimeout']
    .map((name) => provider.node.tryFindChild(name) as lambda.IFunction | undefined)
    .filter((fn): fn is lambda.IFunction => fn !== undefined);
  acknowledgeStateMachineRole(role, invoked);
}

/**
 * A log group for a state machine. Step Functions needs no CloudWatch Logs
 * resource policy entry for /aws/vendedlogs/ groups.
 */
export function stateMachineLogGroup(scope: Construct, id: string, suffix: string): logs.LogGroup {
  return new logs.LogGroup(scope, id, {
    logGroupName: `/aws/vendedlogs/states/${Names.uniqueResourceName(scope, { maxLength: 200, separator: '-' })}-${suffix}`,
    retention: LOG_RETENTION,
    removalPolicy: RemovalPolicy.DESTROY,
  });
}

/** The acknowledgments every traced, logged state machine role of ours needs. */
export function acknowledgeStateMachineRole(role: iam.IRole, invoked: lambda.IFunction[]): void {
  acknowledgeWildcardResource(role, '*',
    'X-Ray tracing and the CloudWatch Logs delivery actions (logs:CreateLogDelivery, PutResourcePolicy, DescribeLogGroups, ...) that Step Functions logging needs support no resource-level permissions');
  for (const fn of invoked) {
    acknowledgeWildcardResource(role, `${fn.functionArn}:*`,
      'the state machine invokes this function (grantInvoke also covers its versions and aliases)');
  }
}

/**
 * Image Builder's service-linked role. AWS's own resource providers for
 * AWS::ImageBuilder::Image and AWS::ImageBuilder::DistributionConfiguration declare
 * iam:GetRole and iam:CreateServiceLinkedRole for create although their handlers
 * call only Image Builder: Image Builder checks them with the caller's credentials
 * (when exactly is not documented). Reading this one role is allowed. Creating it is
 * not: Image Builder's guide has it created with the first image, and the README
 * lists that one-time step among the known limits.
 */
export function grantReadImageBuilderServiceLinkedRole(role: iam.IRole): void {
  role.addToPrincipalPolicy(new iam.PolicyStatement({
    actions: ['iam:GetRole'],
    resources: [Stack.of(role).formatArn({
      service: 'iam',
      region: '',
      resource: 'role',
      resourceName: 'aws-service-role/imagebuilder.amazonaws.com/AWSServiceRoleForImageBuilder',
    })],
  }));
}

/** Finds the stack-wide singleton with this id, or creates it. */
export function stackSingleton<T extends Construct>(scope: Construct, id: string, create: (stack: Stack, id: string) => T): T {
  const stack = Stack.of(scope);
  return (stack.node.tryFindChild(id) as T | undefined) ?? create(stack, id);
}
