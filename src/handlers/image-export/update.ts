import type { CloudFormationCustomResourceUpdateEvent } from 'aws-lambda';
import { FAILED_IMAGE_STATES, IN_PROGRESS_IMAGE_STATES } from '../import-image/common';
import { getImageIfExists } from '../import-image/delete';
import { rollingBack } from '../import-image/stack';
import { updateTags } from '../import-image/update';
import { parseBoolean, retryTransient, truncate } from '../shared/util';
import { VmImageExportProperties } from '../types';
import {
  ExportDeps, exportHash, ExportIds, ExportOnEventResponse, formatPhysicalId, MAX_PROVIDER_WAIT_SECONDS, parsePhysicalId, timeoutSeconds,
} from './common';
import { createExport } from './create';
import { replacedExport } from './lookup';
import { exportPollerInput, startExportPoller } from './poller';
import { validateExportProperties } from './validate';

export type ExportUpdateEvent = CloudFormationCustomResourceUpdateEvent<VmImageExportProperties, Partial<VmImageExportProperties>>;

/**
 * Tag and management changes (tags, timeouts, removal policy, execution role, log
 * group) update in place and never wait again for an export that finished. A new
 * source or another distribution (or other exports in it) exports again under a new
 * physical id; CloudFormation then deletes the old one. The rollback of a failed
 * replacement may arrive with the NEW id and the ORIGINAL properties: the new image's
 * replaces tag leads back to the original export, whose id is answered, and nothing
 * new starts.
 */
export async function updateExport(event: ExportUpdateEvent, deps: ExportDeps): Promise<ExportOnEventResponse> {
  const props = event.ResourceProperties;
  validateExportProperties(props);
  const ids = parsePhysicalId(event.PhysicalResourceId);
  const hash = exportHash(props);
  if (ids && ids.hash === hash) return updateInPlace(event, ids, deps, false);

  if (ids) {
    const original = await replacedExport(ids.imageArn, hash, deps);
    if (original && !FAILED_IMAGE_STATES.has(original.status ?? '')) {
      console.log(`these properties are those of the live export ${original.imageArn} (a rollback): answering its id, starting nothing`);
      return updateInPlace(event, { imageArn: original.imageArn, hash }, deps, true);
    }
  }
  console.log('the source or the distribution changed: exporting again');
  return { ...await createExport(event, deps, ids?.imageArn), NewExport: true };
}

async function updateInPlace(event: ExportUpdateEvent, ids: ExportIds, deps: ExportDeps, adopted: boolean): Promise<ExportOnEventResponse> {
  const props = event.ResourceProperties;
  const old = event.OldResourceProperties ?? {};
  const physicalId = adopted ? formatPhysicalId(ids) : event.PhysicalResourceId;
  const image = await retryTransient(() => getImageIfExists(ids.imageArn, deps), deps.sleep);
  const now = deps.now();
  const data = { ExportedImageArn: ids.imageArn };
  if (!image) {
    if (await rollingBack(event.StackId, deps)) {
      console.log(`${ids.imageArn} no longer exists; the stack is rolling back, so this update succeeds without it`);
      return { PhysicalResourceId: physicalId, Data: data, Wait: 'none' };
    }
    throw new Error(truncate(
      `the distributed image ${ids.imageArn} no longer exists (deleted outside CloudFormation?), so this export cannot be updated in place. ` +
      'Export again by changing the source or the distribution, or remove the export from the stack',
    ));
  }
  // The adopted export keeps its own tags: the old properties are not its.
  if (!adopted) await updateTags(ids.imageArn, tagMap(old.Tags), tagMap(props.Tags), deps);
  const status = image.state?.status ?? '';
  const wait = parseBoolean(props.WaitForCompletion, true);
  if (wait && props.SignalUrl && props.SignalUrl !== old.SignalUrl) {
    // A new wait condition for the same export (a new timeout): a poller signals it, at once if the export is done.
    await startExportPoller(exportPollerInput(event, ids.imageArn, props, now), deps);
  }
  return {
    PhysicalResourceId: physicalId,
    Data: data,
    StartedAt: now,
    Deadline: now + Math.min(timeoutSeconds(props), MAX_PROVIDER_WAIT_SECONDS) * 1000,
    Wait: wait && !props.SignalUrl && IN_PROGRESS_IMAGE_STATES.has(status) ? 'export' : 'none',
  };
}

function tagMap(value: unknown): Record<string, string> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return {};
  return value as Record<string, string>;
}
