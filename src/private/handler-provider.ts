import { Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as cr from 'aws-cdk-lib/custom-resources';
import { Construct } from 'constructs';

/**
 * The tag every image and distribution configuration of a stack carries, with the
 * stack's id as its value. It lets a handler delete a resource after a rename or
 * after its construct left the stack: CloudFormation deletes such resources only
 * after the handler's policy stopped naming them.
 */
export const OWNER_TAG_KEY = 'cdk-vm-import-export:stack-id';

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
 * aws-cdk-lib's Provider with explicit, log-scoped framework roles and waiter
 * logging that leaves execution data (the custom resource event) out of the logs.
 */
export function createProvider(scope: Construct, id: string, props: HandlerProviderProps): cr.Provider {
  const framework = functionRole(scope, `${id}Framework`);
  // A separate role: the onEvent framework starts the waiter, the waiter invokes
  // these functions; one shared role would make a dependency cycle.
  const waiterFramework = props.isCompleteHandler ? functionRole(scope, `${id}WaiterFramework`, framework.logGroup) : undefined;
  const waiterLogs = props.isCompleteHandler
    ? new logs.LogGroup(scope, `${id}WaiterLogs`, { retention: LOG_RETENTION, removalPolicy: RemovalPolicy.DESTROY })
    : undefined;
  return new cr.Provider(scope, id, {
    onEventHandler: props.onEventHandler,
    isCompleteHandler: props.isCompleteHandler,
    queryInterval: props.queryInterval,
    totalTimeout: props.totalTimeout,
    logGroup: framework.logGroup,
    frameworkOnEventRole: framework.role,
    frameworkCompleteAndTimeoutRole: waiterFramework?.role,
    waiterStateMachineLogOptions: waiterLogs
      ? { destination: waiterLogs, includeExecutionData: false, level: sfn.LogLevel.ERROR }
      : undefined,
  });
}

/** Finds the stack-wide singleton with this id, or creates it. */
export function stackSingleton<T extends Construct>(scope: Construct, id: string, create: (stack: Stack, id: string) => T): T {
  const stack = Stack.of(scope);
  return (stack.node.tryFindChild(id) as T | undefined) ?? create(stack, id);
}
