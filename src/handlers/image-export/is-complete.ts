import { GetImageCommand, Image } from '@aws-sdk/client-imagebuilder';
import { stackCheckDue, stillAwaited } from '../import-image/stack';
import { awsFailure, errorMessage, errorName, isTransient, parseBoolean, truncate } from '../shared/util';
import { VM_IMAGE_EXPORT_COMPLETE_RESOURCE_TYPE } from '../types';
import {
  ExportDeps, ExportIsCompleteEvent, ExportIsCompleteResponse, exportState, MAX_PROVIDER_WAIT_SECONDS, parsePhysicalId, progressLine,
  timeoutSeconds,
} from './common';
import { completeComplete, CompleteEvent, CompleteIsCompleteResponse } from './complete';
import { cancelQuietly, distribute, ExportQuotaFull, ExportRequest, finishStart } from './create';
import { finishExportDelete } from './delete';
import { exportPollerStep, ExportPollerState } from './poller';

/** The Provider's query interval (image-export-provider.ts). */
export const PROVIDER_QUERY_INTERVAL_MS = 15_000;

export type AnyExportIsCompleteEvent = ExportIsCompleteEvent | CompleteEvent | ExportPollerState;
export type AnyExportIsCompleteResponse = ExportIsCompleteResponse | CompleteIsCompleteResponse | ExportPollerState;

/**
 * The waiting half of the provider, and the poll step of the stack's export poller
 * (one function, so one asset and one cold start serve both).
 */
export async function isComplete(event: AnyExportIsCompleteEvent, deps: ExportDeps): Promise<AnyExportIsCompleteResponse> {
  if ('Poller' in event) return exportPollerStep(event, deps);
  if (event.ResourceType === VM_IMAGE_EXPORT_COMPLETE_RESOURCE_TYPE) return completeComplete(event as CompleteEvent, deps);
  const request = event as ExportIsCompleteEvent;
  switch (request.RequestType) {
    case 'Create':
    case 'Update':
      return waitForExport(request, deps);
    case 'Delete':
      return { IsComplete: await finishExportDelete(request, deps) };
    default:
      throw new Error(`unknown RequestType ${JSON.stringify((event as { RequestType?: unknown }).RequestType)}`);
  }
}

async function waitForExport(event: ExportIsCompleteEvent, deps: ExportDeps): Promise<ExportIsCompleteResponse> {
  switch (event.Wait) {
    case 'none':
    case undefined:
      return { IsComplete: true };
    case 'fail':
      throw new Error(event.Failure ?? 'the export failed');
    case 'queue':
      return waitForQuota(event, deps);
    case 'export':
      return waitAsResource(event, deps);
    default:
      throw new Error(`unknown Wait ${JSON.stringify(event.Wait)}`);
  }
}

/**
 * The resource itself waits for the export (no wait condition). A failed
 * replacement cancels its own export at once: CloudFormation learns no id for it.
 */
async function waitAsResource(event: ExportIsCompleteEvent, deps: ExportDeps): Promise<ExportIsCompleteResponse> {
  await stopIfAbandoned(event, deps);
  if (!startedNewExport(event)) return pollExport(event, deps);
  try {
    return await pollExport(event, deps);
  } catch (err) {
    await cancelOwnExport(event, deps);
    throw err;
  }
}

/** One look at the distributed image: complete once AVAILABLE, an error once failed or past the deadline. */
async function pollExport(event: ExportIsCompleteEvent, deps: ExportDeps): Promise<ExportIsCompleteResponse> {
  const ids = parsePhysicalId(event.PhysicalResourceId);
  if (!ids) throw new Error(truncate(`physical id ${JSON.stringify(event.PhysicalResourceId)} names no export`));
  if (!parseBoolean(event.ResourceProperties.WaitForCompletion, true)) return { IsComplete: true, Data: { ExportedImageArn: ids.imageArn } };
  let image: Image | undefined;
  try {
    image = (await deps.imagebuilder.send(new GetImageCommand({ imageBuildVersionArn: ids.imageArn }))).image;
  } catch (err) {
    // Any throw fails the resource at once; throttling and 5xx only mean "ask again".
    if (!isTransient(err)) throw awsFailure('polling the export', err, ids.imageArn);
    console.log(`transient error while polling (${errorName(err)}: ${truncate(errorMessage(err), 200)})`);
    throwIfPastDeadline(event, ids.imageArn, image, deps);
    return { IsComplete: false };
  }
  const state = exportState(ids.imageArn, image);
  if (state.kind === 'failed') throw new Error(state.message);
  if (state.kind === 'available') return { IsComplete: true, Data: { ExportedImageArn: ids.imageArn } };
  throwIfPastDeadline(event, ids.imageArn, image, deps);
  console.log(progressLine(ids.imageArn, image, { step: 'wait' }));
  return { IsComplete: false };
}

function throwIfPastDeadline(event: ExportIsCompleteEvent, imageArn: string, image: Image | undefined, deps: ExportDeps): void {
  const deadline = Number(event.Deadline);
  if (event.Deadline === undefined || event.Deadline === '' || !Number.isFinite(deadline) || deps.now() <= deadline) return;
  const seconds = Math.min(timeoutSeconds(event.ResourceProperties), MAX_PROVIDER_WAIT_SECONDS);
  throw new Error(truncate(
    `the export ${imageArn} did not finish within ${seconds} seconds (last seen: image ${image?.state?.status ?? 'status unknown'}). ` +
    'The rollback cancels it. If the disks need longer, raise `timeout` (up to 12 hours: the deployment then waits through a wait condition).',
  ));
}

/**
 * DistributeImage found a quota full: each poll asks again with the same client
 * token, so the export starts once there is room, and completes the resource with
 * its real id.
 */
async function waitForQuota(event: ExportIsCompleteEvent, deps: ExportDeps): Promise<ExportIsCompleteResponse> {
  await stopIfAbandoned(event, deps);
  const request = event as ExportIsCompleteEvent & ExportRequest;
  let imageArn: string;
  try {
    imageArn = await distribute(request, deps, event.Replaces);
  } catch (err) {
    if (!(err instanceof ExportQuotaFull)) throw err;
    if (deps.now() <= Number(event.Deadline)) {
      console.log(JSON.stringify({ event: 'vm-export-queued', logicalId: event.LogicalResourceId, reason: err.message }));
      return { IsComplete: false };
    }
    const minutes = Math.round(Math.min(timeoutSeconds(event.ResourceProperties), MAX_PROVIDER_WAIT_SECONDS) / 60);
    throw new Error(truncate(
      `the export could not start within ${minutes} minutes: Image Builder's quota stayed full (${err.message}). ` +
      'Raise the quota in Service Quotas (EC2 Image Builder), or make the exports and builds of this stack depend on each other so that fewer run at once',
    ));
  }
  const started = await finishStart(request, imageArn, deps, Number(event.StartedAt ?? deps.now()));
  if (started.Wait === 'export') {
    const polled = await pollExport({ ...event, PhysicalResourceId: started.PhysicalResourceId }, deps);
    return polled.IsComplete ? { ...polled, PhysicalResourceId: started.PhysicalResourceId } : polled;
  }
  return { IsComplete: true, PhysicalResourceId: started.PhysicalResourceId, ...(started.Data ? { Data: started.Data } : {}) };
}

/**
 * About once a minute: when CloudFormation no longer waits for this request (it
 * sent a Delete with an id of its own), stop, and cancel what this request
 * started; the Delete finds the rest by its tags.
 */
async function stopIfAbandoned(event: ExportIsCompleteEvent, deps: ExportDeps): Promise<void> {
  const startedAt = Number(event.StartedAt);
  if (!Number.isFinite(startedAt) || !stackCheckDue(startedAt, deps.now(), PROVIDER_QUERY_INTERVAL_MS)) return;
  if (await stillAwaited(event.StackId, event.LogicalResourceId, deps)) return;
  await cancelOwnExport(event, deps);
  throw new Error('CloudFormation no longer waits for this resource: the wait stopped and its export was cancelled');
}

function startedNewExport(event: ExportIsCompleteEvent): boolean {
  return event.NewExport === true || event.NewExport === 'true';
}

async function cancelOwnExport(event: ExportIsCompleteEvent, deps: ExportDeps): Promise<void> {
  const ids = parsePhysicalId(event.PhysicalResourceId);
  if (ids) await cancelQuietly(ids.imageArn, event, deps);
}
