import { CreateTagsCommand, DeleteTagsCommand } from '@aws-sdk/client-ec2';
import type { CloudFormationCustomResourceUpdateEvent } from 'aws-lambda';
import { amiState, amiSnapshotIds, findAmis, findImportAmi } from './ami';
import {
  attributes, formatPhysicalId, ImportedAmiDeps, ImportIds, OnEventResponse, parsePhysicalId, propertiesHash, tagMap, tagsOf,
} from './common';
import { createImport } from './create';
import { startPoller } from './poller';
import { ImportedAmiProperties, IMPORT_ID_TAG_KEY } from './types';
import { validateProperties } from './validate';
import { rollingBack } from '../import-image/stack';
import { stopExecutions } from '../shared/executions';
import { awsFailure, diffTags, retryTransient, truncate } from '../shared/util';
import { LOGICAL_ID_TAG_KEY, OWNER_TAG_KEY, PROPERTIES_HASH_TAG_KEY } from '../types';

export type UpdateEvent = CloudFormationCustomResourceUpdateEvent<ImportedAmiProperties, Partial<ImportedAmiProperties>>;

/**
 * Tags and how the deployment waits update in place; anything else is a new
 * import (and a new AMI) under a new physical id, and CloudFormation then deletes
 * the old one. The rollback of a failed replacement may arrive with the NEW id and
 * the ORIGINAL properties (CloudFormation keeps the id of a failed update): the
 * original import is then found by its tags and its id answered, starting nothing.
 */
export async function updateImport(event: UpdateEvent, deps: ImportedAmiDeps): Promise<OnEventResponse> {
  const props = event.ResourceProperties;
  validateProperties(props);
  const hash = propertiesHash(props);
  const ids = parsePhysicalId(event.PhysicalResourceId);
  if (ids && ids.propertiesHash === hash) return updateInPlace(event, ids, deps, false);

  const live = (await retryTransient(() => findAmis({
    [OWNER_TAG_KEY]: event.StackId, [LOGICAL_ID_TAG_KEY]: event.LogicalResourceId, [PROPERTIES_HASH_TAG_KEY]: hash,
  }, deps), deps.sleep).catch((err) => { throw awsFailure('EC2 DescribeImages', err); }))
    .find((image) => amiState(image).kind !== 'failed' && tagsOf(image.Tags)[IMPORT_ID_TAG_KEY] !== ids?.importId);
  const liveId = live ? tagsOf(live.Tags)[IMPORT_ID_TAG_KEY] : undefined;
  if (liveId) {
    console.log(`these properties are those of the live import ${liveId} (${live?.ImageId}): a rollback; answering its id, starting nothing`);
    // Its tasks are done (the AMI exists): the id needs none of them.
    return updateInPlace(event, { importId: liveId, propertiesHash: hash, taskIds: [''] }, deps, true);
  }
  console.log('the disks or AMI settings changed: a new import');
  return createImport(event, deps);
}

async function updateInPlace(event: UpdateEvent, ids: ImportIds, deps: ImportedAmiDeps, adopted: boolean): Promise<OnEventResponse> {
  const props = event.ResourceProperties;
  const old = event.OldResourceProperties ?? {};
  const physicalId = adopted ? formatPhysicalId(ids) : event.PhysicalResourceId;
  const response: OnEventResponse = { PhysicalResourceId: physicalId, Data: attributes(ids.importId, props), Wait: 'none' };
  const ami = await retryTransient(() => findImportAmi(ids.importId, deps), deps.sleep).catch((err) => { throw awsFailure('EC2 DescribeImages', err); });
  if (!ami?.ImageId) {
    // Still importing (CloudFormation updates a resource whose wait it has not seen end only in unusual
    // sequences): its poller restarts with the new properties, so the AMI gets the new tags.
    const stopped = await stopExecutions([`${ids.importId}-`], deps);
    if (stopped.length > 0) {
      await startPoller(event, props, ids, deps.now(), deps);
      return response;
    }
    if (await rollingBack(event.StackId, deps)) {
      console.log(`the AMI of import ${ids.importId} no longer exists; the stack is rolling back, so this update succeeds without it`);
      return response;
    }
    throw new Error(truncate(
      `the AMI of import ${ids.importId} ("${props.AmiName}") no longer exists (deregistered outside CloudFormation?), so this resource ` +
      'cannot be updated in place. Change amiName or the disks to import again, or remove the resource from the stack',
    ));
  }
  // The adopted import keeps its own tags: the old properties are not its.
  if (!adopted) await updateTags([ami.ImageId, ...amiSnapshotIds(ami)], tagMap(old.Tags), tagMap(props.Tags), deps);
  if (props.SignalUrl !== old.SignalUrl) {
    // A new wait condition for the same import (its synth-time key changed, e.g. a new timeout): a poller signals it at once.
    await startPoller(event, props, ids, deps.now(), deps);
  }
  return response;
}

/** Sends only the differences to the AMI and its snapshots; the library's own tags are never among them. */
async function updateTags(
  resources: string[], oldTags: Record<string, string>, newTags: Record<string, string>, deps: ImportedAmiDeps,
): Promise<void> {
  const { toSet, toRemove } = diffTags(oldTags, newTags);
  // Untag first, so that swapping keys near the 50-tag limit does not overflow it.
  if (toRemove.length > 0) {
    await retryTransient(() => deps.ec2.send(new DeleteTagsCommand({ Resources: resources, Tags: toRemove.map((Key) => ({ Key })) })), deps.sleep)
      .catch((err) => { throw awsFailure('EC2 DeleteTags', err, resources.join(', ')); });
  }
  if (Object.keys(toSet).length > 0) {
    await retryTransient(() => deps.ec2.send(new CreateTagsCommand({
      Resources: resources, Tags: Object.entries(toSet).map(([Key, Value]) => ({ Key, Value })),
    })), deps.sleep).catch((err) => { throw awsFailure('EC2 CreateTags', err, resources.join(', ')); });
  }
}
