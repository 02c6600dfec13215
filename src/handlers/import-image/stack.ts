import { CloudFormationClient, DescribeStackResourceCommand, DescribeStacksCommand, StackResourceDetail } from '@aws-sdk/client-cloudformation';
import { errorMessage, errorName } from '../shared/util';

/** All these helpers need: the export handlers (src/handlers/image-export) use them too. */
export interface StackDeps {
  readonly cloudformation?: CloudFormationClient;
}

/** How often a wait in isComplete asks CloudFormation whether it still waits for the resource. */
export const STACK_CHECK_INTERVAL_MS = 60_000;

/**
 * Whether CloudFormation still waits for this resource's request. It stops
 * waiting for a Create when another resource fails, when the stack is deleted
 * meanwhile, or at ServiceTimeout, and then sends a Delete with an id it invents;
 * the Provider's waiter polls on regardless. Only a clear answer says no: errors
 * and missing permissions keep the wait going (its deadline bounds it).
 */
export async function stillAwaited(stackId: string, logicalId: string, deps: StackDeps): Promise<boolean> {
  const resource = await describeStackResource(stackId, logicalId, deps);
  if (resource === 'unknown') return true;
  if (resource === 'missing' || resource === 'stack-gone') return false;
  return resource.ResourceStatus === 'CREATE_IN_PROGRESS' || resource.ResourceStatus === 'UPDATE_IN_PROGRESS';
}

/**
 * One resource of the stack as CloudFormation describes it: 'missing' when the
 * stack has no such resource (yet, or any more), 'stack-gone' when the stack is
 * deleted, 'unknown' when CloudFormation could not be asked (throttling, no
 * permission, no client): callers keep waiting then.
 */
export async function describeStackResource(
  stackId: string, logicalId: string, deps: StackDeps,
): Promise<StackResourceDetail | 'missing' | 'stack-gone' | 'unknown'> {
  if (!deps.cloudformation) return 'unknown';
  try {
    const command = new DescribeStackResourceCommand({ StackName: stackId, LogicalResourceId: logicalId });
    const { StackResourceDetail: detail } = await deps.cloudformation.send(command);
    return detail ?? 'missing';
  } catch (err) {
    // "Resource X does not exist for stack Y" and "Stack with id X does not exist" are both ValidationError.
    if (errorName(err) === 'ValidationError' && /does not exist/i.test(errorMessage(err))) {
      return /^stack/i.test(errorMessage(err)) ? 'stack-gone' : 'missing';
    }
    console.log(`could not ask CloudFormation about ${logicalId} (${errorName(err)}); waiting on`);
    return 'unknown';
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
export async function rollingBack(stackId: string, deps: StackDeps): Promise<boolean> {
  if (!deps.cloudformation) return false;
  try {
    const { Stacks } = await deps.cloudformation.send(new DescribeStacksCommand({ StackName: stackId }));
    return (Stacks?.[0]?.StackStatus ?? '').includes('ROLLBACK');
  } catch (err) {
    console.log(`could not read the stack status (${errorName(err)})`);
    return false;
  }
}

/**
 * Whether CloudFormation still waits for a poller's wait condition. Only a clear
 * answer stops a poller: errors, and a wait condition not created yet (its
 * resource has just completed), keep it polling; the deadline bounds it. While the
 * wait condition does not exist, the poller's resource must still name this work
 * (its physical id starts with `physicalIdPrefix`) and not be deleting.
 */
export async function waitConditionAwaited(
  stackId: string, waitLogicalId: string | undefined, resourceLogicalId: string, physicalIdPrefix: string, deps: StackDeps,
): Promise<boolean> {
  if (!waitLogicalId) return true;
  const wait = await describeStackResource(stackId, waitLogicalId, deps);
  if (wait === 'unknown') return true;
  if (wait === 'stack-gone') return false;
  if (wait !== 'missing') return wait.ResourceStatus === 'CREATE_IN_PROGRESS';
  const resource = await describeStackResource(stackId, resourceLogicalId, deps);
  if (resource === 'unknown') return true;
  if (resource === 'missing' || resource === 'stack-gone') return false;
  return (resource.PhysicalResourceId ?? '').startsWith(physicalIdPrefix) && !(resource.ResourceStatus ?? '').startsWith('DELETE');
}
