import { ImportImageDeps, IsCompleteEvent, IsCompleteResponse, parsePhysicalId } from './common';
import { removalPolicy, removeImport } from './delete';
import { pollImport } from './poll';
import { errorMessage, errorName } from '../shared/util';

/**
 * Waits before each retry of DeleteImage while cleaning up a failed
 * replacement: shorter than Delete's, to stay inside the isComplete function's
 * one-minute timeout (a timeout would replace the failure message).
 */
export const CLEANUP_DELETE_RETRY_DELAYS_MS = [5_000, 10_000];

/** The isComplete lifecycle: waits for Create and Update; Delete finishes in onEvent. */
export async function isComplete(event: IsCompleteEvent, deps: ImportImageDeps): Promise<IsCompleteResponse> {
  switch (event.RequestType) {
    case 'Create':
      return pollImport(event, deps);
    case 'Update':
      if (!startedNewImport(event)) return pollImport(event, deps);
      try {
        return await pollImport(event, deps);
      } catch (err) {
        await cleanUpNewImport(event, deps);
        throw err;
      }
    case 'Delete':
      return { IsComplete: true };
    default:
      throw new Error(`unknown RequestType ${JSON.stringify((event as { RequestType?: unknown }).RequestType)}`);
  }
}

function startedNewImport(event: IsCompleteEvent): boolean {
  return event.NewImport === true || event.NewImport === 'true';
}

/**
 * Best effort, per the removal policy: removes the import a failed replacing
 * Update started. CloudFormation may send no Delete for the physical id of a
 * failed update, so nothing else would. Never for Create (its rollback Delete
 * cleans up) or an in-place Update (the image is the resource's own).
 */
async function cleanUpNewImport(event: IsCompleteEvent, deps: ImportImageDeps): Promise<void> {
  const ids = parsePhysicalId(event.PhysicalResourceId);
  if (!ids) return;
  try {
    const policy = removalPolicy(event.ResourceProperties?.RemovalPolicy);
    if (policy === 'retain') {
      console.log(`removal policy retain: keeping the failed update's import ${ids.importTaskId} and ${ids.imageArn}`);
      return;
    }
    await removeImport(ids, policy, event, deps, { deleteRetryDelaysMs: CLEANUP_DELETE_RETRY_DELAYS_MS });
    console.log(`removed the failed update's import ${ids.importTaskId} and ${ids.imageArn}`);
  } catch (err) {
    // The update's own failure is what CloudFormation must report; this only tells what is left.
    console.log(
      `could not clean up the failed update's import ${ids.importTaskId} (${ids.imageArn}); remove what is left by hand: ` +
      `${errorName(err)}: ${errorMessage(err)}`,
    );
  }
}
