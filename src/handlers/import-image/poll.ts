import type { ImportImageTask } from '@aws-sdk/client-ec2';
import { GetImageCommand, Image } from '@aws-sdk/client-imagebuilder';
import {
  attributes, describeImportTask, ImportIds, ImportImageDeps, importState, IsCompleteEvent, IsCompleteResponse, MAX_PROVIDER_WAIT_SECONDS,
  parsePhysicalId, progressLine, timeoutSeconds,
} from './common';
import { awsFailure, errorMessage, errorName, isTransient, parseBoolean, truncate } from '../shared/util';

const NOT_COMPLETE: IsCompleteResponse = { IsComplete: false };

/**
 * One look at the import: complete once Image Builder marks the image AVAILABLE,
 * a thrown error when the import failed or the deadline passed (the rollback
 * Delete then cancels it), not complete otherwise.
 */
export async function pollImport(event: IsCompleteEvent, deps: ImportImageDeps): Promise<IsCompleteResponse> {
  const ids = parsePhysicalId(event.PhysicalResourceId);
  if (!ids) throw new Error(truncate(`physical id ${JSON.stringify(event.PhysicalResourceId)} names no VM import`));
  const props = event.ResourceProperties;
  if (!parseBoolean(props.WaitForAvailable, true)) {
    return { IsComplete: true, Data: attributes(ids, props) };
  }

  let task: ImportImageTask | undefined;
  let image: Image | undefined;
  try {
    // Undefined once EC2 forgets the task (7 days), e.g. on an in-place update of an old import.
    task = await describeImportTask(deps.ec2, ids.importTaskId);
    image = (await deps.imagebuilder.send(new GetImageCommand({ imageBuildVersionArn: ids.imageArn }))).image;
  } catch (err) {
    // Any throw fails the resource at once; throttling and 5xx only mean "ask again".
    if (!isTransient(err)) throw awsFailure('polling the VM import', err);
    console.log(`transient error while polling (${errorName(err)}: ${truncate(errorMessage(err), 200)})`);
    throwIfPastDeadline(event, ids, task, image, deps);
    return NOT_COMPLETE;
  }

  const state = importState(ids, task, image);
  if (state.kind === 'failed') throw new Error(state.message);
  if (state.kind === 'available') return { IsComplete: true, Data: attributes(ids, props, state.imageId) };
  throwIfPastDeadline(event, ids, task, image, deps);
  console.log(progressLine(ids, task, image, { step: 'wait' }));
  return NOT_COMPLETE;
}

function throwIfPastDeadline(
  event: IsCompleteEvent, ids: ImportIds, task: ImportImageTask | undefined, image: Image | undefined, deps: ImportImageDeps,
): void {
  const deadline = Number(event.Deadline);
  // No deadline (an event from before deadlines existed): the Provider's own total timeout still applies.
  if (event.Deadline === undefined || event.Deadline === '' || !Number.isFinite(deadline) || deps.now() <= deadline) return;
  const taskState = task
    ? `task ${task.Status ?? 'unknown'}${task.StatusMessage ? ` "${task.StatusMessage}"` : ''}${task.Progress ? `, ${task.Progress}% done` : ''}`
    : 'task status unknown';
  const imageState = `image ${image?.state?.status ?? 'status unknown'}`;
  throw new Error(truncate(
    `VM import ${ids.importTaskId} did not make ${ids.imageArn} AVAILABLE within ${Math.min(timeoutSeconds(event.ResourceProperties), MAX_PROVIDER_WAIT_SECONDS)} seconds ` +
    `(last seen: ${taskState}; ${imageState}). The import is cancelled by the rollback. ` +
    (event.ResourceProperties.SignalUrl
      // A wait condition exists, but had completed before this import started (create.ts: waitConditionFollows).
      ? 'The stack\'s wait condition did not wait for this import again: a deploy-time value (a parameter, or a resource replaced ' +
        'under the same logical id) changed what is imported. Change imageVersion (or another literal import setting) so that the ' +
        'stack gets a new wait condition, and deploy again'
      : 'If the disk needs longer, raise `timeout` (up to 12 hours: the deployment then waits through a wait condition).'),
  ));
}
