import { Duration, Names } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { Construct } from 'constructs';
import { acknowledgeStateMachineRole, stateMachineLogGroup } from './handler-provider';

/**
 * The poller's name, known at synth: the isComplete function (which the state
 * machine invokes) starts executions of queued imports, and naming the machine by
 * reference would be a dependency cycle. Unique per stack path, within the 80-character limit.
 */
export function pollerName(scope: Construct): string {
  return Names.uniqueResourceName(scope, { maxLength: 80, separator: '-' });
}

/** The longest wait condition timeout (CloudFormation: 43200 s), and an hour more for the poller to signal it. */
const POLLER_TIMEOUT = Duration.hours(13);

/**
 * The stack's long-wait poller, a Step Functions Standard workflow (an
 * execution may run for a year; a Lambda invocation for 15 minutes): Wait the
 * seconds the last poll asked for, poll (the isComplete function), loop until
 * the poll says Done. The poll signals the import's wait condition itself. A
 * poll that fails through every retry goes to SignalFailure, which signals
 * FAILURE at once, so a broken poller fails the deployment within minutes
 * instead of letting the wait condition run to its timeout. Progress shows in
 * the Step Functions console (one Wait and one Poll per interval).
 *
 * Each iteration writes about 5 history events; a 12-hour wait with the
 * default schedule (~300 polls) stays far below the 25,000-event limit.
 */
export function pollerStateMachine(
  scope: Construct, poll: lambda.IFunction, stateMachineName: string,
  comment = 'cdk-vm-import-export: polls long VM imports and signals their CloudFormation wait conditions',
): sfn.StateMachine {
  const wait = new sfn.Wait(scope, 'WaitForNextPoll', { time: sfn.WaitTime.secondsPath('$.Next') });
  const pollTask = new tasks.LambdaInvoke(scope, 'PollImport', {
    lambdaFunction: poll,
    payloadResponseOnly: true,
    // Lambda's own transient errors (throttling, service errors) are retried with backoff.
    retryOnServiceExceptions: true,
  });
  // The poll function itself failed (a signal that did not go through, a bug): a few tries, minutes apart.
  pollTask.addRetry({ errors: ['States.TaskFailed'], interval: Duration.seconds(30), maxAttempts: 3, backoffRate: 2 });
  const signalFailure = new tasks.LambdaInvoke(scope, 'SignalFailure', {
    lambdaFunction: poll,
    payloadResponseOnly: true,
    retryOnServiceExceptions: true,
  });
  signalFailure.addRetry({ errors: ['States.TaskFailed'], interval: Duration.seconds(30), maxAttempts: 3, backoffRate: 2 });
  pollTask.addCatch(signalFailure.next(new sfn.Fail(scope, 'PollerFailed')), { resultPath: '$.Error' });
  const done = new sfn.Choice(scope, 'Signalled?')
    .when(sfn.Condition.booleanEquals('$.Done', true), new sfn.Succeed(scope, 'Done'))
    .otherwise(wait);

  const stateMachine = new sfn.StateMachine(scope, 'Poller', {
    stateMachineType: sfn.StateMachineType.STANDARD,
    stateMachineName,
    definitionBody: sfn.DefinitionBody.fromChainable(wait.next(pollTask).next(done)),
    comment,
    timeout: POLLER_TIMEOUT,
    tracingEnabled: true,
    // The execution input holds the wait condition's presigned URL: never logged.
    logs: { destination: stateMachineLogGroup(scope, 'PollerLogs', 'Poller'), level: sfn.LogLevel.ALL, includeExecutionData: false },
  });
  acknowledgeStateMachineRole(stateMachine.role as iam.IRole, [poll]);
  return stateMachine;
}
