import { availableComplete, AvailableEvent, AvailableIsCompleteResponse } from './available';
import { ImportImageDeps, IsCompleteEvent, IsCompleteResponse, parsePhysicalId, timeoutSeconds } from './common';
import { cancelQuietly, finishStart, ImportQuotaFull, startImportTask } from './create';
import { cancelImageCreation, finishDelete } from './delete';
import { pollImport } from './poll';
import { pollerStep, PollerState } from './poller';
import { stackCheckDue, stillAwaited } from './stack';
import { errorMessage, errorName, truncate } from '../shared/util';
import { VM_IMPORT_IMAGE_AVAILABLE_RESOURCE_TYPE } from '../types';

/** The Provider's query interval for imports (import-provider.ts). */
export const PROVIDER_QUERY_INTERVAL_MS = 15_000;

export type AnyIsCompleteEvent = IsCompleteEvent | AvailableEvent | PollerState;
export type AnyIsCompleteResponse = IsCompleteResponse | AvailableIsCompleteResponse | PollerState;

/**
 * The waiting half of the provider, and the poll step of the stack's long-wait
 * state machine (one function, so one asset and one cold start serve both).
 */
export async function isComplete(event: AnyIsCompleteEvent, deps: ImportImageDeps): Promise<AnyIsCompleteResponse> {
  if ('Poller' in event) return pollerStep(event, deps);
  if (event.ResourceType === VM_IMPORT_IMAGE_AVAILABLE_RESOURCE_TYPE) return availableComplete(event as AvailableEvent, deps);
  const request = event as IsCompleteEvent;
  switch (request.RequestType) {
    case 'Create':
    case 'Update':
      return waitForImport(request, deps);
    case 'Delete':
      return { IsComplete: await finishDelete(request, deps) };
    default:
      throw new Error(`unknown RequestType ${JSON.stringify((event as { RequestType?: unknown }).RequestType)}`);
  }
}

async function waitForImport(event: IsCompleteEvent, deps: ImportImageDeps): Promise<IsCompleteResponse> {
  switch (event.Wait) {
    case 'none':
      return { IsComplete: true };
    case 'fail':
      throw new Error(event.Failure ?? 'the import failed');
    case 'queue':
      return waitForQuota(event, deps);
    case 'delete':
      // An in-place update during a rollback removes the failed replacement's import.
      return { IsComplete: await finishDelete(event, deps) };
    case 'import':
    case undefined:
      return waitAsResource(event, deps);
    default:
      throw new Error(`unknown Wait ${JSON.stringify(event.Wait)}`);
  }
}

/**
 * The resource itself waits for the image (no wait condition: templates of
 * older versions, or a queued import). A failed replacement cleans up its own
 * import at once: CloudFormation learns no id for it.
 */
async function waitAsResource(event: IsCompleteEvent, deps: ImportImageDeps): Promise<IsCompleteResponse> {
  await stopIfAbandoned(event, deps);
  if (!startedNewImport(event)) return pollImport(event, deps);
  try {
    return await pollImport(event, deps);
  } catch (err) {
    await cancelOwnImport(event, deps, "the update's new import failed");
    throw err;
  }
}

/**
 * ImportImage found the account's import quota full: each poll asks again with
 * the same client token (EC2 returns the task a successful try started), so the
 * import starts once another ends, and completes the resource with its real id.
 */
async function waitForQuota(event: IsCompleteEvent, deps: ImportImageDeps): Promise<IsCompleteResponse> {
  await stopIfAbandoned(event, deps);
  const request = event as IsCompleteEvent & { ResourceProperties: NonNullable<IsCompleteEvent['ResourceProperties']> };
  let importTaskId: string;
  try {
    importTaskId = await startImportTask(request, deps);
  } catch (err) {
    if (!(err instanceof ImportQuotaFull)) throw err;
    if (deps.now() <= Number(event.Deadline)) {
      console.log(JSON.stringify({ event: 'vm-import-queued', logicalId: event.LogicalResourceId, reason: err.message }));
      return { IsComplete: false };
    }
    const minutes = Math.round(Math.min(timeoutSeconds(event.ResourceProperties), 3300) / 60);
    throw new Error(truncate(
      `the VM import could not start within ${minutes} minutes: the account's quota of concurrent VM import tasks in this Region stayed full (${err.message}). ` +
      'Raise the quota in Service Quotas (Amazon EC2, VM Import/Export concurrent import tasks), or make the imports of this stack depend on each other so that fewer run at once',
    ));
  }
  const started = await finishStart(request, importTaskId, deps, Number(event.StartedAt ?? deps.now()));
  if (started.Wait === 'import') {
    const polled = await pollImport({ ...event, PhysicalResourceId: started.PhysicalResourceId }, deps);
    return polled.IsComplete ? { ...polled, PhysicalResourceId: started.PhysicalResourceId } : polled;
  }
  return { IsComplete: true, PhysicalResourceId: started.PhysicalResourceId, ...(started.Data ? { Data: started.Data } : {}) };
}

/**
 * About once a minute: when CloudFormation no longer waits for this request
 * (it sent a Delete with an id of its own), stop, and cancel what this request
 * started; the Delete finds the rest by its tags.
 */
async function stopIfAbandoned(event: IsCompleteEvent, deps: ImportImageDeps): Promise<void> {
  const startedAt = Number(event.StartedAt);
  if (!Number.isFinite(startedAt) || !stackCheckDue(startedAt, deps.now(), PROVIDER_QUERY_INTERVAL_MS)) return;
  if (await stillAwaited(event.StackId, event.LogicalResourceId, deps)) return;
  await cancelOwnImport(event, deps, 'CloudFormation stopped waiting for it');
  throw new Error('CloudFormation no longer waits for this resource: the wait stopped and its import was cancelled');
}

function startedNewImport(event: IsCompleteEvent): boolean {
  return event.NewImport === true || event.NewImport === 'true';
}

/** Best effort: cancels the import this request started (the Delete, or the rollback, removes it once terminal). */
async function cancelOwnImport(event: IsCompleteEvent, deps: ImportImageDeps, reason: string): Promise<void> {
  const ids = parsePhysicalId(event.PhysicalResourceId);
  if (!ids) return;
  await cancelQuietly(ids.importTaskId, reason, deps);
  try {
    await cancelImageCreation(ids.imageArn, event, deps);
  } catch (err) {
    console.log(`could not cancel ${ids.imageArn} (${errorName(err)}: ${truncate(errorMessage(err))}); CloudFormation's Delete removes it`);
  }
}
