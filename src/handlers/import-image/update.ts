import { GetImageCommand, TagResourceCommand, UntagResourceCommand } from '@aws-sdk/client-imagebuilder';
import type { CloudFormationCustomResourceUpdateEvent } from 'aws-lambda';
import { awsFailure, diffTags } from '../shared/util';
import { VmImportImageProperties } from '../types';
import {
  attributes, canonicalImportProperties, deadline, ImportIds, ImportImageDeps, OnEventResponse, parsePhysicalId,
  propertiesHash, reportedAmi,
} from './common';
import { createImport } from './create';

export type UpdateEvent = CloudFormationCustomResourceUpdateEvent<VmImportImageProperties, Partial<VmImportImageProperties>>;

/**
 * Tag and management changes update in place. Anything else needs a new import
 * under a new physical id; CloudFormation then deletes the old one.
 */
export async function updateImport(event: UpdateEvent, deps: ImportImageDeps): Promise<OnEventResponse> {
  const ids = parsePhysicalId(event.PhysicalResourceId);
  const props = event.ResourceProperties;
  const old = event.OldResourceProperties ?? {};
  if (!ids || !importMatches(ids, old, props)) {
    console.log('image settings changed: starting a new import');
    return { ...await createImport(event, deps), NewImport: true };
  }
  await updateTags(ids.imageArn, tagMap(old.Tags), tagMap(props.Tags), deps);
  return {
    PhysicalResourceId: event.PhysicalResourceId,
    Data: attributes(ids, props, await availableAmi(ids, deps)),
    Deadline: deadline(props, deps.now()),
  };
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
  imageArn: string, oldTags: Record<string, string>, newTags: Record<string, string>, deps: ImportImageDeps,
): Promise<void> {
  const { toSet, toRemove } = diffTags(oldTags, newTags);
  // Untag first, so that swapping keys on an image near the 50-tag limit does not overflow it.
  if (toRemove.length > 0) {
    try {
      await deps.imagebuilder.send(new UntagResourceCommand({ resourceArn: imageArn, tagKeys: toRemove }));
    } catch (err) {
      throw awsFailure('Image Builder UntagResource', err, imageArn);
    }
  }
  if (Object.keys(toSet).length > 0) {
    try {
      await deps.imagebuilder.send(new TagResourceCommand({ resourceArn: imageArn, tags: toSet }));
    } catch (err) {
      throw awsFailure('Image Builder TagResource', err, imageArn);
    }
  }
}

/** The attributes of an update replace the old ones, so ImageId is kept when the image has it. */
async function availableAmi(ids: ImportIds, deps: ImportImageDeps): Promise<string | undefined> {
  try {
    const { image } = await deps.imagebuilder.send(new GetImageCommand({ imageBuildVersionArn: ids.imageArn }));
    return image?.state?.status === 'AVAILABLE' ? reportedAmi(image, ids.imageArn) : undefined;
  } catch (err) {
    throw awsFailure('Image Builder GetImage', err, ids.imageArn);
  }
}
