import { TagResourceCommand, UntagResourceCommand } from '@aws-sdk/client-imagebuilder';
import type { CloudFormationCustomResourceUpdateEvent } from 'aws-lambda';
import { awsFailure, diffTags, parseBoolean, retryTransient, truncate } from '../shared/util';
import { OWNER_TAG_KEY, VmImportImageProperties } from '../types';
import {
  attributes, canonicalImportProperties, FAILED_IMAGE_STATES, formatPhysicalId, ImportIds, ImportImageDeps, IN_PROGRESS_IMAGE_STATES,
  MAX_PROVIDER_WAIT_SECONDS, OnEventResponse, parsePhysicalId, propertiesHash, reportedAmi, timeoutSeconds, USABLE_IMAGE_STATES,
} from './common';
import { createImport } from './create';
import { getImageIfExists, startRemoval } from './delete';
import { FoundImport, findImports } from './lookup';
import { pollerInput, startPoller } from './poller';
import { rollingBack } from './stack';
import { validateProperties } from './validate';

export type UpdateEvent = CloudFormationCustomResourceUpdateEvent<VmImportImageProperties, Partial<VmImportImageProperties>>;

/**
 * Tag and management changes update in place, and never wait again for an
 * import that finished. Anything else needs a new import under a new physical
 * id; CloudFormation then deletes the old one. The rollback of a failed
 * replacement may arrive with the NEW id and the ORIGINAL properties
 * (CloudFormation keeps the id of a failed update): the original import is then
 * found by its tags and its id answered, so nothing new starts.
 */
export async function updateImport(event: UpdateEvent, deps: ImportImageDeps): Promise<OnEventResponse> {
  const props = event.ResourceProperties;
  validateProperties(props);
  const ids = parsePhysicalId(event.PhysicalResourceId);
  const old = event.OldResourceProperties ?? {};
  if (ids && importMatches(ids, old, props)) return updateInPlace(event, ids, deps, false);

  const live = (await findImports(event, props, deps, propertiesHash(props))).find((found) =>
    found.imageArn && found.importTaskId && found.imageArn !== ids?.imageArn && !FAILED_IMAGE_STATES.has(found.imageStatus ?? ''));
  if (live?.imageArn && live.importTaskId) {
    const original = { imageArn: live.imageArn, importTaskId: live.importTaskId, propertiesHash: propertiesHash(props) };
    console.log(`these properties are those of the live import ${original.importTaskId} (a rollback): answering its id, starting nothing`);
    return updateInPlace(event, original, deps, true);
  }
  console.log('image settings changed: starting a new import');
  return { ...await createImport(event, deps), NewImport: true };
}

async function updateInPlace(event: UpdateEvent, ids: ImportIds, deps: ImportImageDeps, adopted: boolean): Promise<OnEventResponse> {
  const props = event.ResourceProperties;
  const old = event.OldResourceProperties ?? {};
  const physicalId = adopted ? formatPhysicalId(ids) : event.PhysicalResourceId;
  const image = await getImageIfExists(ids.imageArn, deps);
  const now = deps.now();
  if (!image) {
    if (await rollingBack(event.StackId, deps)) {
      console.log(`${ids.imageArn} no longer exists; the stack is rolling back, so this update succeeds without it`);
      return { PhysicalResourceId: physicalId, Data: attributes(ids, props), Wait: 'none' };
    }
    throw new Error(truncate(
      `Image Builder image ${ids.imageArn} no longer exists (deleted outside CloudFormation?), so this resource cannot be updated in place. ` +
      'Change imageVersion to import the VM again, or remove the resource from the stack',
    ));
  }
  // The adopted import keeps its own tags: the old properties are not its. The
  // ownership tag is the handler's, whether or not a template names it (older ones
  // did): it is never removed.
  const owner = { [OWNER_TAG_KEY]: event.StackId };
  if (!adopted) await updateTags(ids.imageArn, { ...tagMap(old.Tags), ...owner }, { ...tagMap(props.Tags), ...owner }, deps);
  const leftovers = await failedReplacements(event, ids, deps);
  const status = image.state?.status ?? '';
  const usable = USABLE_IMAGE_STATES.has(status);
  const wait = parseBoolean(props.WaitForAvailable, true);
  if (wait && props.SignalUrl && props.SignalUrl !== old.SignalUrl) {
    // A new wait condition for the same import (its synth-time key changed): a poller signals it, at once if the image is ready.
    await startPoller(pollerInput(event, ids, props, now), deps);
  }
  const response: OnEventResponse = {
    PhysicalResourceId: physicalId,
    Data: attributes(ids, props, usable ? reportedAmi(image, ids.imageArn) : undefined),
    StartedAt: now,
    Deadline: now + Math.min(timeoutSeconds(props), MAX_PROVIDER_WAIT_SECONDS) * 1000,
    // Only an import still running, with no wait condition to follow it, is waited for here.
    Wait: wait && !props.SignalUrl && IN_PROGRESS_IMAGE_STATES.has(status) ? 'import' : 'none',
  };
  if (leftovers.length === 0) return response;
  // The rollback kept the original id: nothing else would ever delete the failed replacement's import.
  return startRemoval(leftovers, event, deps, response);
}

/**
 * On the rollback of a failed replacement that arrives with the ORIGINAL id (which
 * order CloudFormation uses is unverified), CloudFormation never learns the new
 * import's id, so no Delete comes for it. Such imports are this resource's,
 * made from other properties, and never became usable (a successful replacement's
 * old import is AVAILABLE, and may be kept by RETAIN); only during a rollback.
 */
async function failedReplacements(event: UpdateEvent, current: ImportIds, deps: ImportImageDeps): Promise<FoundImport[]> {
  if (!(await rollingBack(event.StackId, deps))) return [];
  const found = await findImports(event, event.OldResourceProperties ?? {}, deps);
  return found.filter((f) => f.imageArn !== current.imageArn && f.importTaskId !== current.importTaskId
    && f.propertiesHash !== current.propertiesHash && !USABLE_IMAGE_STATES.has(f.imageStatus ?? ''));
}

/**
 * Whether the import the physical id names already is the one the new
 * properties ask for. The hash in the id answers that even when
 * OldResourceProperties do not describe this import: on the rollback of a
 * failed replacement they are the failed update's, while the id is the original.
 * Ids written before the hash existed fall back to comparing the properties.
 */
function importMatches(ids: ImportIds, old: Partial<VmImportImageProperties>, props: VmImportImageProperties): boolean {
  if (ids.propertiesHash !== undefined) return ids.propertiesHash === propertiesHash(props);
  return !requiresReplacement(old, props);
}

export function requiresReplacement(old: Partial<VmImportImageProperties>, props: Partial<VmImportImageProperties>): boolean {
  return canonicalImportProperties(old) !== canonicalImportProperties(props);
}

/** Tags as a plain map; anything else (absent, or an unexpected older shape) counts as none. */
function tagMap(value: unknown): Record<string, string> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return {};
  return value as Record<string, string>;
}

/** Sends only the differences, so unchanged tags cost no call. */
export async function updateTags(
  imageArn: string, oldTags: Record<string, string>, newTags: Record<string, string>, deps: Pick<ImportImageDeps, 'imagebuilder' | 'sleep'>,
): Promise<void> {
  const { toSet, toRemove } = diffTags(oldTags, newTags);
  // Untag first, so that swapping keys on an image near the 50-tag limit does not overflow it.
  if (toRemove.length > 0) {
    try {
      await retryTransient(() => deps.imagebuilder.send(new UntagResourceCommand({ resourceArn: imageArn, tagKeys: toRemove })), deps.sleep);
    } catch (err) {
      throw awsFailure('Image Builder UntagResource', err, imageArn);
    }
  }
  if (Object.keys(toSet).length > 0) {
    try {
      await retryTransient(() => deps.imagebuilder.send(new TagResourceCommand({ resourceArn: imageArn, tags: toSet })), deps.sleep);
    } catch (err) {
      throw awsFailure('Image Builder TagResource', err, imageArn);
    }
  }
}
