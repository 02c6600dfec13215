import { DescribeStackResourceCommand, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { errorMessage, errorName } from '../shared/util';
import { ImportImageDeps } from './common';

/** How often a wait in isComplete asks CloudFormation whether it still waits for the resource. */
export const STACK_CHECK_INTERVAL_MS = 60_000;

/**
 * Whether CloudFormation still waits for this resource's request. It stops
 * waiting for a Create when another resource fails, when the stack is deleted
 * meanwhile, or at ServiceTimeout, and then sends a Delete with an id it invents;
 * the Provider's waiter polls on regardless. Only a clear answer says no: errors
 * and missing permissions keep the wait going (its deadline bounds it).
 */
export async function stillAwaited(stackId: string, logicalId: string, deps: ImportImageDeps): Promise<boolean> {
  if (!deps.cloudformation) return true;
  try {
    const { StackResourceDetail } = await deps.cloudformation.send(new DescribeStackResourceCommand({ StackName: stackId, LogicalResourceId: logicalId }));
    const status = StackResourceDetail?.ResourceStatus ?? '';
    return status === 'CREATE_IN_PROGRESS' || status === 'UPDATE_IN_PROGRESS';
  } catch (err) {
    if (errorName(err) === 'ValidationError' && /does not exist/i.test(errorMessage(err))) return false;
    console.log(`could not ask CloudFormation about ${logicalId} (${errorName(err)}); waiting on`);
    return true;
  }
}

/** Whether to ask CloudFormation on this poll: about once a minute of a wait. */
export function stackCheckDue(startedAt: number, now: number, intervalMs: number): boolean {
  const elapsed = now - startedAt;
  return elapsed >= STACK_CHECK_INTERVAL_MS && elapsed % STACK_CHECK_INTERVAL_MS < intervalMs;
}

/**
 * Whether the stack is rolling an update back: the rollback Update of an image
 * that disappeared must succeed, or the stack would end in UPDATE_ROLLBACK_FAILED.
 */
export async function rollingBack(stackId: string, deps: ImportImageDeps): Promise<boolean> {
  if (!deps.cloudformation) return false;
  try {
    const { Stacks } = await deps.cloudformation.send(new DescribeStacksCommand({ StackName: stackId }));
    return (Stacks?.[0]?.StackStatus ?? '').includes('ROLLBACK');
  } catch (err) {
    console.log(`could not read the stack status (${errorName(err)})`);
    return false;
  }
}
