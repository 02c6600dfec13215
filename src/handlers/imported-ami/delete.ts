import { CancelImportTaskCommand, DeleteSnapshotCommand, DeregisterImageCommand, Image } from '@aws-sdk/client-ec2';
import type { CloudFormationCustomResourceDeleteEvent } from 'aws-lambda';
import { amiSnapshotIds, findAmis, findSnapshots } from './ami';
import {
  DeleteTarget, ImportedAmiDeps, IsCompleteEvent, libraryTags, OnEventResponse, parsePhysicalId, propertiesHash,
} from './common';
import { describeSnapshotTasks, diskState, findSnapshotTasks, importIdOfTask, tagSnapshots } from './snapshots';
import { ImportedAmiProperties, IMPORT_ID_TAG_KEY, POLL_FUNCTION_TIMEOUT_SECONDS } from './types';
import { removalPolicy } from '../import-image/removal';
import { stopExecutions } from '../shared/executions';
import { awsFailure, errorMessage, errorName, isTransient, RequestIdentity, retryTransient, truncate } from '../shared/util';
import { LOGICAL_ID_TAG_KEY, OWNER_TAG_KEY, PROPERTIES_HASH_TAG_KEY } from '../types';

export type DeleteEvent = CloudFormationCustomResourceDeleteEvent<Partial<ImportedAmiProperties>>;

/** The physical id the Provider framework gives a Create that failed before answering one: nothing of ours exists. */
export const CREATE_FAILED_MARKER = 'AWSCDK::CustomResourceProviderFramework::CREATE_FAILED';

/** Margin beyond the poll function's timeout before a Delete trusts that no poll is still in flight. */
const SETTLE_MARGIN_MS = 30_000;

const EC2_GONE = new Set(['InvalidAMIID.NotFound', 'InvalidAMIID.Unavailable', 'InvalidSnapshot.NotFound']);

/**
 * Removes what the import made, per the removal policy: stops its pollers,
 * cancels the snapshot tasks that still run, deregisters the AMI and deletes
 * its snapshots (SNAPSHOT keeps them; RETAIN is carried out by CloudFormation,
 * so a Delete that reaches the handler with it is a rollback, which removes).
 * Works from the import id in the physical id, or, when the id is not ours
 * (CloudFormation invented it after it stopped waiting for the Create), from the
 * tags everything of the import carries. When a poller was still running, its
 * poll in flight may register the AMI after this look: isComplete repeats the
 * removal until that poll has surely ended (Wait 'delete').
 */
export async function deleteImport(event: DeleteEvent, deps: ImportedAmiDeps): Promise<OnEventResponse> {
  const response = { PhysicalResourceId: event.PhysicalResourceId };
  if (event.PhysicalResourceId === CREATE_FAILED_MARKER) {
    console.log('the Create failed before it started anything: nothing to delete');
    return { ...response, Wait: 'none' };
  }
  const props = event.ResourceProperties ?? {};
  const ids = parsePhysicalId(event.PhysicalResourceId);
  let targets: DeleteTarget[];
  if (ids) {
    targets = [{ importId: ids.importId, propertiesHash: ids.propertiesHash, taskIds: ids.taskIds }];
  } else {
    targets = await findTargets(event, propertiesHash(props), deps);
    console.log(`the physical id is not an import id (CloudFormation invented it): ${targets.length} import(s) found by their tags`);
  }
  if (targets.length === 0) return { ...response, Wait: 'none' };

  const stopped = await stopExecutions(targets.map((t) => `${t.importId}-`), deps);
  await removeTargets(event, targets, props, deps, stopped.length > 0);
  if (stopped.length === 0) return { ...response, Wait: 'none' };
  return { ...response, Wait: 'delete', Targets: targets, SettleUntil: deps.now() + POLL_FUNCTION_TIMEOUT_SECONDS * 1000 + SETTLE_MARGIN_MS };
}

/**
 * isComplete of a Delete that stopped a running poller: removes again whatever
 * appeared (an AMI a poll in flight registered), until the poll has surely ended.
 */
export async function finishDelete(event: IsCompleteEvent, deps: ImportedAmiDeps): Promise<boolean> {
  if (event.Wait !== 'delete' || !event.Targets || event.Targets.length === 0) return true;
  const settling = deps.now() < Number(event.SettleUntil ?? 0);
  try {
    await removeTargets(event, event.Targets, event.ResourceProperties ?? {}, deps, settling);
  } catch (err) {
    // Throttling only means "ask again"; real failures say what is left.
    if (isTransient(err)) return false;
    throw err;
  }
  return !settling;
}

/** The imports of this resource made from these properties, found by their tags (a Delete with an id CloudFormation invented). */
async function findTargets(request: RequestIdentity, hash: string, deps: ImportedAmiDeps): Promise<DeleteTarget[]> {
  const wanted = { [OWNER_TAG_KEY]: request.StackId, [LOGICAL_ID_TAG_KEY]: request.LogicalResourceId, [PROPERTIES_HASH_TAG_KEY]: hash };
  const found = new Map<string, string[]>();
  const add = (importId: string | undefined, taskId?: string) => {
    if (!importId) return;
    const tasks = found.get(importId) ?? [];
    if (taskId) tasks.push(taskId);
    found.set(importId, tasks);
  };
  try {
    for (const task of await findSnapshotTasks(wanted, deps)) add(importIdOfTask(task), task.ImportTaskId);
    for (const image of await retryTransient(() => findAmis(wanted, deps), deps.sleep)) add(tagOf(image.Tags, IMPORT_ID_TAG_KEY));
    for (const snapshot of await retryTransient(() => findSnapshots(wanted, deps), deps.sleep)) add(tagOf(snapshot.Tags, IMPORT_ID_TAG_KEY));
  } catch (err) {
    throw awsFailure('looking the import up by its tags', err);
  }
  // No placeholder task ids: a target found by tags has its tasks looked up again by tags.
  return [...found].map(([importId, taskIds]) => ({ importId, propertiesHash: hash, taskIds: taskIds.length > 0 ? taskIds : [''] }));
}

function tagOf(tags: Array<{ Key?: string; Value?: string }> | undefined, key: string): string | undefined {
  return tags?.find((t) => t.Key === key)?.Value;
}

/**
 * Cancels the running tasks of each target, deregisters its AMIs and deletes
 * its snapshots (unless the policy keeps them). Snapshots are found by the
 * AMIs' block device mappings, by the import id tag, and through the tasks EC2
 * still describes (a completed task's snapshot may not be tagged yet; it is
 * tagged before it is deleted: DeleteSnapshot is allowed only on tagged ones).
 * What could not be removed is named in the error.
 */
async function removeTargets(
  request: RequestIdentity, targets: DeleteTarget[], props: Partial<ImportedAmiProperties>, deps: ImportedAmiDeps, settling: boolean,
): Promise<void> {
  const keepSnapshots = removalPolicy(props.RemovalPolicy) === 'snapshot';
  for (const target of targets) {
    const importTag = { [IMPORT_ID_TAG_KEY]: target.importId };
    let amis: Image[];
    const snapshots = new Set<string>();
    const untagged = new Set<string>();
    try {
      // Tasks of disks whose task id the physical id lacks (a disk that waited for quota, an id found by tags) are found by their tag.
      const taskIds = target.taskIds.some((id) => id === '')
        ? [...new Set([...target.taskIds.filter((id) => id !== ''), ...(await findSnapshotTasks(importTag, deps)).map((t) => t.ImportTaskId ?? '')])]
        : target.taskIds;
      for (const snapshotId of await stopTasks(taskIds, deps)) {
        snapshots.add(snapshotId);
        untagged.add(snapshotId);
      }
      amis = await retryTransient(() => findAmis(importTag, deps), deps.sleep);
      for (const image of amis) amiSnapshotIds(image).forEach((id) => snapshots.add(id));
      for (const snapshot of await retryTransient(() => findSnapshots(importTag, deps), deps.sleep)) {
        if (!snapshot.SnapshotId) continue;
        snapshots.add(snapshot.SnapshotId);
        untagged.delete(snapshot.SnapshotId);
      }
    } catch (err) {
      if (isTransient(err)) throw err;
      throw new Error(truncate(`could not find what the import ${target.importId} made: ${errorMessage(err)}`));
    }

    const amisLeft = amis.map((image) => image.ImageId).filter((id): id is string => !!id);
    const snapshotsLeft = [...snapshots];
    try {
      // The import's tags, so that the snapshots can be deleted (DeleteSnapshot needs the stack's tag), and kept ones found.
      // One at a time: a completed task EC2 still describes may name a snapshot already deleted (a retried Delete).
      for (const snapshot of untagged) {
        try {
          await tagSnapshots([snapshot], libraryTags(request, target.importId, target.propertiesHash), deps);
        } catch (err) {
          if (!EC2_GONE.has(errorName(err))) throw awsFailure('EC2 CreateTags', err, snapshot);
          snapshotsLeft.splice(snapshotsLeft.indexOf(snapshot), 1);
          untagged.delete(snapshot);
        }
      }
      for (const ami of [...amisLeft]) {
        await deregisterAmi(ami, deps);
        amisLeft.splice(amisLeft.indexOf(ami), 1);
      }
      if (keepSnapshots) {
        if (snapshotsLeft.length > 0) console.log(`removal policy snapshot: keeping ${snapshotsLeft.join(', ')}`);
        continue;
      }
      for (const snapshot of [...snapshotsLeft]) {
        try {
          await deleteSnapshot(snapshot, untagged.has(snapshot), deps);
        } catch (err) {
          // A poll in flight registered an AMI from it after the look above: the next sweep deregisters that AMI first.
          if (settling && /InvalidSnapshot\.InUse/.test(errorMessage(err))) {
            console.log(`${snapshot} is in use by an AMI registered meanwhile: removed on the next sweep`);
            continue;
          }
          throw err;
        }
        snapshotsLeft.splice(snapshotsLeft.indexOf(snapshot), 1);
      }
    } catch (err) {
      if (isTransient(err)) throw err;
      const left = [...(amisLeft.length > 0 ? [`AMI ${amisLeft.join(', ')}`] : []), ...(!keepSnapshots && snapshotsLeft.length > 0 ? [`snapshots ${snapshotsLeft.join(', ')}`] : [])];
      // The ids first, so that cutting a long AWS message cannot lose them.
      throw new Error(truncate(`still to clean up: ${left.join('; ') || 'nothing'}. ${errorMessage(err)}`));
    }
  }
}

/** Cancels the tasks that still run; returns the snapshots of the tasks that completed. */
async function stopTasks(taskIds: string[], deps: ImportedAmiDeps): Promise<string[]> {
  const ids = taskIds.filter((id) => id !== '');
  if (ids.length === 0) return [];
  const snapshots: string[] = [];
  const tasks = await retryTransient(() => describeSnapshotTasks(ids, deps), deps.sleep);
  for (const id of ids) {
    let state = diskState(id, tasks.get(id));
    if (state.kind === 'active') {
      try {
        await retryTransient(() => deps.ec2.send(new CancelImportTaskCommand({
          ImportTaskId: id, CancelReason: 'Deleted by CloudFormation (stack delete, replacement or rollback)',
        })), deps.sleep);
        console.log(`cancelled snapshot import ${id}`);
        continue;
      } catch (err) {
        // The task finished between the describe and the cancel: its snapshot must be found and removed.
        if (!errorName(err).startsWith('InvalidConversionTaskId') && errorName(err) !== 'IncorrectState') throw awsFailure('EC2 CancelImportTask', err, id);
        state = diskState(id, (await describeSnapshotTasks([id], deps)).get(id));
      }
    }
    if (state.kind === 'completed') snapshots.push(state.snapshotId);
  }
  return snapshots;
}

async function deregisterAmi(imageId: string, deps: ImportedAmiDeps): Promise<void> {
  try {
    await retryTransient(() => deps.ec2.send(new DeregisterImageCommand({ ImageId: imageId })), deps.sleep);
    console.log(`deregistered ${imageId}`);
  } catch (err) {
    if (!EC2_GONE.has(errorName(err))) throw awsFailure('EC2 DeregisterImage', err, imageId);
  }
}

/**
 * Waits before each retry of a DeleteSnapshot that IAM refused right after this Delete tagged the
 * snapshot: DeleteSnapshot is allowed only on snapshots with the stack's tag, and whether IAM sees a
 * tag as soon as CreateTags answers is unverified (EC2 tags are eventually consistent).
 */
export const CLAIM_RETRY_DELAYS_MS = [2_000, 4_000, 8_000];

async function deleteSnapshot(snapshotId: string, justTagged: boolean, deps: ImportedAmiDeps): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      await retryTransient(() => deps.ec2.send(new DeleteSnapshotCommand({ SnapshotId: snapshotId })), deps.sleep);
      console.log(`deleted ${snapshotId}`);
      return;
    } catch (err) {
      if (EC2_GONE.has(errorName(err))) return;
      const delay = CLAIM_RETRY_DELAYS_MS[attempt];
      if (justTagged && errorName(err) === 'UnauthorizedOperation' && delay !== undefined) {
        console.log(`DeleteSnapshot of the just tagged ${snapshotId} was refused (${errorName(err)}); retrying in ${delay} ms`);
        await deps.sleep(delay);
        continue;
      }
      throw awsFailure('EC2 DeleteSnapshot', err, snapshotId);
    }
  }
}
