/**
 * Starting and stopping executions of a stack's poller state machine: the
 * generic half of a long wait (the poll function is the caller's), for the
 * pollers of VmImportImage, ImportedAmi and VmImageExport.
 */
import { ExecutionListItem, ListExecutionsCommand, SFNClient, StartExecutionCommand, StopExecutionCommand } from '@aws-sdk/client-sfn';
import { errorMessage, errorName, retryTransient, Sleep, truncate } from './util';

export interface ExecutionDeps {
  readonly sfn?: SFNClient;
  readonly pollerStateMachineArn?: string;
  readonly sleep: Sleep;
}

/**
 * Starts one execution. Idempotent: the same name and input return the running
 * execution; a name that exists with another input (a redelivered request whose
 * input differs in its start time, or an execution that already ended) means
 * this wait's poller was started already, which is not an error.
 * `what` names the wait in messages.
 */
export async function startExecution(name: string, input: unknown, what: string, deps: ExecutionDeps): Promise<void> {
  if (!deps.sfn || !deps.pollerStateMachineArn) throw new Error('the poller state machine is not configured (POLLER_STATE_MACHINE_ARN)');
  const sfn = deps.sfn;
  const stateMachineArn = deps.pollerStateMachineArn;
  try {
    const { executionArn } = await retryTransient(() => sfn.send(new StartExecutionCommand({
      stateMachineArn, name, input: JSON.stringify(input),
    })), deps.sleep);
    console.log(`polling ${what} in ${executionArn}`);
  } catch (err) {
    if (errorName(err) === 'ExecutionAlreadyExists') {
      console.log(`the poller ${name} of ${what} was started already`);
      return;
    }
    throw new Error(truncate(`could not start the poller of ${what}: Step Functions StartExecution failed: ${errorName(err)}: ${errorMessage(err)}`));
  }
}

/**
 * Stops every RUNNING execution whose name starts with one of the prefixes;
 * returns the names stopped. An in-flight poll invocation still runs to its end
 * (StopExecution does not stop a Lambda invocation), which callers must allow for.
 */
export async function stopExecutions(prefixes: string[], deps: ExecutionDeps): Promise<string[]> {
  if (prefixes.length === 0 || !deps.sfn || !deps.pollerStateMachineArn) return [];
  const sfn = deps.sfn;
  const stateMachineArn = deps.pollerStateMachineArn;
  const running: ExecutionListItem[] = [];
  let nextToken: string | undefined;
  do {
    const page = await retryTransient(() => sfn.send(new ListExecutionsCommand({
      stateMachineArn, statusFilter: 'RUNNING', ...(nextToken ? { nextToken } : {}),
    })), deps.sleep);
    running.push(...(page.executions ?? []));
    nextToken = page.nextToken;
  } while (nextToken);
  const stopped: string[] = [];
  for (const execution of running) {
    if (!execution.executionArn || !execution.name || !prefixes.some((prefix) => execution.name!.startsWith(prefix))) continue;
    const executionArn = execution.executionArn;
    await retryTransient(() => sfn.send(new StopExecutionCommand({
      executionArn, error: 'Deleted', cause: 'What the poller waited for was deleted or updated by CloudFormation',
    })), deps.sleep);
    console.log(`stopped the poller ${execution.name}`);
    stopped.push(execution.name);
  }
  return stopped;
}
