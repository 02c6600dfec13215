import { GetImageCommand, TagResourceCommand, UntagResourceCommand } from '@aws-sdk/client-imagebuilder';
import type { CloudFormationCustomResourceUpdateEvent } from 'aws-lambda';
import { VmImportImageProperties } from '../types';
import { attributes, deadline, ImportIds, ImportImageDeps, OnEventResponse, parsePhysicalId, reportedAmi } from './common';
import { createImport } from './create';

export type UpdateEvent = CloudFormationCustomResourceUpdateEvent<VmImportImageProperties, Partial<VmImportImageProperties>>;

/**
 * Properties that change only how the resource is managed, not the image it
 * made: changing them keeps the image. ServiceTimeout is CloudFormation's own.
 */
export const IN_PLACE_PROPERTIES: ReadonlySet<string> = new Set([
  'Tags', 'WaitForAvailable', 'TimeoutSeconds', 'RemovalPolicy', 'ServiceToken', 'ServiceTimeout',
]);

/**
 * Tag and management changes update in place. Anything else needs a new import
 * under a new physical id; CloudFormation then deletes the old one.
 */
export async function updateImport(event: UpdateEvent, deps: ImportImageDeps): Promise<OnEventResponse> {
  const ids = parsePhysicalId(event.PhysicalResourceId);
  const props = event.ResourceProperties;
  const old = event.OldResourceProperties ?? {};
  if (!ids || requiresReplacement(old, props)) {
    console.log('image settings changed: starting a new import');
    return createImport(event, deps);
  }
  await updateTags(ids.imageArn, tagMap(old.Tags), tagMap(props.Tags), deps);
  return {
    PhysicalResourceId: event.PhysicalResourceId,
    Data: attributes(ids, props, await availableAmi(ids, deps)),
    Deadline: deadline(props, deps.now()),
  };
}

export function requiresReplacement(old: Partial<VmImportImageProperties>, props: Partial<VmImportImageProperties>): boolean {
  return canonical(withoutInPlace(old)) !== canonical(withoutInPlace(props));
}

function withoutInPlace(props: object): Record<string, unknown> {
  return Object.fromEntries(Object.entries(props).filter(([key]) => !IN_PLACE_PROPERTIES.has(key)));
}

/**
 * JSON with sorted keys, where absent, empty and null values are the same:
 * properties written by an older handler version omit what they did not know.
 */
function canonical(value: unknown): string {
  return JSON.stringify(normalize(value)) ?? '';
}

function normalize(value: unknown): unknown {
  if (Array.isArray(value)) {
    const items = value.map(normalize);
    return items.length > 0 ? items : undefined;
  }
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value)
      .map(([key, v]) => [key, normalize(v)] as const)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return entries.length > 0 ? Object.fromEntries(entries) : undefined;
  }
  return value === null || value === '' ? undefined : value;
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
  const changed = Object.fromEntries(Object.entries(newTags).filter(([key, value]) => oldTags[key] !== value));
  const removed = Object.keys(oldTags).filter((key) => !(key in newTags));
  if (removed.length > 0) {
    await deps.imagebuilder.send(new UntagResourceCommand({ resourceArn: imageArn, tagKeys: removed }));
  }
  if (Object.keys(changed).length > 0) {
    await deps.imagebuilder.send(new TagResourceCommand({ resourceArn: imageArn, tags: changed }));
  }
}

/** The attributes of an update replace the old ones, so ImageId is kept when the image has it. */
async function availableAmi(ids: ImportIds, deps: ImportImageDeps): Promise<string | undefined> {
  const { image } = await deps.imagebuilder.send(new GetImageCommand({ imageBuildVersionArn: ids.imageArn }));
  return image?.state?.status === 'AVAILABLE' ? reportedAmi(image, ids.imageArn) : undefined;
}
