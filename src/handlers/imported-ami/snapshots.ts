import {
  CancelImportTaskCommand, CreateTagsCommand, DescribeImportSnapshotTasksCommand, ImportSnapshotCommand, ImportSnapshotCommandInput,
  ImportSnapshotTask,
} from '@aws-sdk/client-ec2';
import { ImportedAmiDeps, libraryTags, snapshotClientToken, tagList, tagsOf } from './common';
import { ImportedAmiProperties, IMPORT_ID_TAG_KEY, SnapshotDiskProperties } from './types';
import { QUOTA_CODES, ROLE_NOT_READY, ROLE_RETRY_DELAYS_MS } from '../import-image/create';
import { awsFailure, errorMessage, errorName, isTransient, RequestIdentity, retryTransient, truncate } from '../shared/util';

/** The request fields an import is derived from: client tokens and tags come from them. */
export interface ImportRequest extends Pick<RequestIdentity, 'StackId' | 'LogicalResourceId'> {
  readonly ResourceProperties: ImportedAmiProperties;
}

/**
 * ImportSnapshot found the account's quota of concurrent import tasks full.
 * Unverified which code EC2 answers (aws-facts.md): the set VmImportImage waits on.
 */
export class SnapshotQuotaFull extends Error {}

/**
 * A disk's ImportSnapshot failed. `taskIds` holds the tasks started before it
 * (to cancel); `transient`: throttling or a 5xx through every retry, after which
 * the task may exist all the same (its tags find it).
 */
export class SnapshotImportFailed extends Error {
  constructor(message: string, readonly taskIds: string[], readonly transient: boolean) {
    super(message);
  }
}

/**
 * Starts the snapshot import of every disk that has no task yet (`taskIds[i]`
 * empty), in disk order, each with its own client token, so that a retry (a
 * redelivered Create, the next poll of a queued disk) returns the task the first
 * try started. Stops at the first disk the quota refuses and returns what it has,
 * with `queued` set; any other refusal throws SnapshotImportFailed, naming the disk.
 * `retryRole`: retry while a just-created service role is not usable yet (onEvent).
 */
export async function startSnapshotImports(
  request: ImportRequest, importId: string, hash: string, taskIds: string[], deps: ImportedAmiDeps, retryRole: boolean,
): Promise<{ taskIds: string[]; queued?: string }> {
  const props = request.ResourceProperties;
  const ids = props.Disks.map((_, i) => taskIds[i] ?? '');
  for (let i = 0; i < props.Disks.length; i++) {
    if (ids[i]) continue;
    const input = importSnapshotInput(props, props.Disks[i], snapshotClientToken(request, importId, i), libraryTags(request, importId, hash));
    try {
      ids[i] = await importSnapshot(input, deps, retryRole);
    } catch (err) {
      if (err instanceof SnapshotQuotaFull) return { taskIds: ids, queued: err.message };
      const message = isTransient(err) ? awsFailure('EC2 ImportSnapshot', err).message : errorMessage(err);
      throw new SnapshotImportFailed(truncate(`disk ${i} (${describeDisk(props.Disks[i])}): ${message}`), ids, isTransient(err));
    }
  }
  return { taskIds: ids };
}

async function importSnapshot(input: ImportSnapshotCommandInput, deps: ImportedAmiDeps, retryRole: boolean): Promise<string> {
  for (let attempt = 0; ; attempt++) {
    try {
      const result = await deps.ec2.send(new ImportSnapshotCommand(input));
      if (!result.ImportTaskId) throw new Error('EC2 ImportSnapshot returned no ImportTaskId');
      console.log(`started snapshot import ${result.ImportTaskId}`);
      return result.ImportTaskId;
    } catch (err) {
      if (QUOTA_CODES.has(errorName(err))) throw new SnapshotQuotaFull(`${errorName(err)}: ${errorMessage(err)}`);
      const delay = ROLE_RETRY_DELAYS_MS[attempt];
      if (delay !== undefined && ((retryRole && ROLE_NOT_READY.test(errorMessage(err))) || isTransient(err))) {
        console.log(`ImportSnapshot answered ${errorName(err)} (the service role not usable yet, or throttling); retrying in ${delay} ms`);
        await deps.sleep(delay);
        continue;
      }
      if (isTransient(err)) throw err;
      throw awsFailure('EC2 ImportSnapshot', err);
    }
  }
}

export function importSnapshotInput(
  props: ImportedAmiProperties, disk: SnapshotDiskProperties, token: string, library: Record<string, string>,
): ImportSnapshotCommandInput {
  return {
    DiskContainer: {
      Format: disk.Format,
      ...(disk.Url ? { Url: disk.Url } : { UserBucket: { S3Bucket: disk.S3Bucket, S3Key: disk.S3Key } }),
      ...(disk.Description ? { Description: disk.Description } : {}),
    },
    ...(props.Description ? { Description: props.Description } : {}),
    ...(props.KmsKeyId ? { Encrypted: true, KmsKeyId: props.KmsKeyId } : {}),
    RoleName: props.RoleName,
    // ImportSnapshot tags only the task: EC2 has no tag-on-create for the snapshot it makes
    // (boto/boto3#4659), so the snapshots are tagged once their tasks complete (tagSnapshots).
    TagSpecifications: [{ ResourceType: 'import-snapshot-task', Tags: tagList(props.Tags, library) }],
    ClientToken: token,
  };
}

/** A disk as a person recognizes it: its URL or bucket and key. */
export function describeDisk(disk: SnapshotDiskProperties): string {
  return disk.Url ?? `s3://${disk.S3Bucket}/${disk.S3Key}`;
}

/**
 * The named tasks as EC2 describes them (one call), by id; a task EC2 no longer
 * describes (7 days after it ended) is absent. Errors are thrown raw, so a poll
 * can tell a transient one from a real one.
 */
export async function describeSnapshotTasks(taskIds: string[], deps: ImportedAmiDeps): Promise<Map<string, ImportSnapshotTask>> {
  const ids = taskIds.filter((id) => id !== '');
  const found = new Map<string, ImportSnapshotTask>();
  if (ids.length === 0) return found;
  try {
    const result = await deps.ec2.send(new DescribeImportSnapshotTasksCommand({ ImportTaskIds: ids }));
    for (const task of result.ImportSnapshotTasks ?? []) if (task.ImportTaskId) found.set(task.ImportTaskId, task);
  } catch (err) {
    if (!errorName(err).startsWith('InvalidConversionTaskId')) throw err;
    // An unknown id may fail the whole call (unverified): ask for each, so the known ones are still seen.
    if (ids.length === 1) return found;
    for (const id of ids) for (const [key, task] of await describeSnapshotTasks([id], deps)) found.set(key, task);
  }
  return found;
}

/** How many pages of DescribeImportSnapshotTasks a look-up reads: EC2 lists only active tasks and those of the last 7 days. */
const MAX_TASK_PAGES = 20;

/**
 * The snapshot tasks of the account that carry these tag values (EC2 documents no
 * tag filter for this call, so tasks are matched on the Tags it returns).
 */
export async function findSnapshotTasks(wanted: Record<string, string>, deps: ImportedAmiDeps): Promise<ImportSnapshotTask[]> {
  const tasks: ImportSnapshotTask[] = [];
  let nextToken: string | undefined;
  for (let page = 0; page < MAX_TASK_PAGES; page++) {
    const command = new DescribeImportSnapshotTasksCommand({ ...(nextToken ? { NextToken: nextToken } : {}) });
    const result = await retryTransient(() => deps.ec2.send(command), deps.sleep)
      .catch((err) => { throw awsFailure('EC2 DescribeImportSnapshotTasks', err); });
    for (const task of result.ImportSnapshotTasks ?? []) {
      const tags = tagsOf(task.Tags);
      if (Object.entries(wanted).every(([key, value]) => tags[key] === value)) tasks.push(task);
    }
    nextToken = result.NextToken;
    if (!nextToken) break;
  }
  return tasks;
}

/** The import id a task was started for (its tag). */
export function importIdOfTask(task: ImportSnapshotTask): string | undefined {
  return tagsOf(task.Tags)[IMPORT_ID_TAG_KEY];
}

/** Where one disk's task stands. */
export type DiskState =
  | { readonly kind: 'queued' }
  | { readonly kind: 'active'; readonly task: ImportSnapshotTask }
  | { readonly kind: 'completed'; readonly task: ImportSnapshotTask; readonly snapshotId: string }
  | { readonly kind: 'failed'; readonly task?: ImportSnapshotTask; readonly message: string };

/**
 * A task's state. A failed or cancelled snapshot import ends `deleting`, then
 * `deleted`, with a StatusMessage (as ImportImage tasks do; aws-facts.md). A
 * task that reads `completed` without a snapshot id is treated as still active.
 */
export function diskState(taskId: string, task: ImportSnapshotTask | undefined): DiskState {
  if (!taskId) return { kind: 'queued' };
  if (!task) return { kind: 'failed', message: `EC2 no longer describes the snapshot import task ${taskId}` };
  const detail = task.SnapshotTaskDetail;
  const status = detail?.Status ?? '';
  if (status === 'deleting' || status === 'deleted') {
    return { kind: 'failed', task, message: detail?.StatusMessage ?? `task ${status} without a status message` };
  }
  if (status === 'completed' && detail?.SnapshotId) return { kind: 'completed', task, snapshotId: detail.SnapshotId };
  return { kind: 'active', task };
}

/** Best effort, through throttling: cancels the tasks that still run. */
export async function cancelTasks(taskIds: string[], reason: string, deps: ImportedAmiDeps): Promise<void> {
  for (const id of taskIds) {
    if (!id) continue;
    try {
      await retryTransient(() => deps.ec2.send(new CancelImportTaskCommand({ ImportTaskId: id, CancelReason: reason })), deps.sleep);
      console.log(`cancelled snapshot import ${id}`);
    } catch (err) {
      console.log(`could not cancel snapshot import ${id}: ${errorName(err)}: ${truncate(errorMessage(err))}`);
    }
  }
}

/**
 * Tags snapshots with the import's tags. EC2 cannot tag them at creation
 * (ImportSnapshot tags only its task), so this "claims" them as soon as their
 * tasks complete: the AMI is registered from them (RegisterImage is allowed only
 * on snapshots carrying the stack's tag), and Delete removes them by that tag.
 */
export async function tagSnapshots(snapshotIds: string[], tags: Record<string, string>, deps: ImportedAmiDeps): Promise<void> {
  if (snapshotIds.length === 0) return;
  await retryTransient(() => deps.ec2.send(new CreateTagsCommand({
    Resources: snapshotIds, Tags: Object.entries(tags).map(([Key, Value]) => ({ Key, Value })),
  })), deps.sleep);
}
