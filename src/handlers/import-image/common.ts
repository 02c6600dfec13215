import { createHash } from 'crypto';
import type { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import { DescribeImportImageTasksCommand, EC2Client, ImportImageTask } from '@aws-sdk/client-ec2';
import type { Image, ImagebuilderClient } from '@aws-sdk/client-imagebuilder';
import type { SFNClient } from '@aws-sdk/client-sfn';
import type { CloudFormationCustomResourceEvent } from 'aws-lambda';
import { errorName, parseInteger, Sleep, truncate } from '../shared/util';
import { DEFAULT_TIMEOUT_SECONDS, PHYSICAL_ID_SEPARATOR, VmImportImageAttributes, VmImportImageProperties } from '../types';

/** What the lifecycle steps need from the outside; injected so tests control time and AWS. */
export interface ImportImageDeps {
  readonly ec2: EC2Client;
  readonly imagebuilder: ImagebuilderClient;
  readonly sleep: Sleep;
  /** Epoch milliseconds. */
  readonly now: () => number;
  /** Starts and stops the stack's poller executions (long waits). */
  readonly sfn?: SFNClient;
  /** Tells whether CloudFormation still waits for a resource. */
  readonly cloudformation?: CloudFormationClient;
  /** Sends a wait condition signal to its presigned URL. */
  readonly signal?: (url: string, signal: WaitConditionSignal) => Promise<void>;
  /** ARN of the stack's poller state machine (environment of the onEvent function). */
  readonly pollerStateMachineArn?: string;
}

/** The JSON body CloudFormation reads from a wait condition handle (user guide, "wait condition signal JSON syntax"). */
export interface WaitConditionSignal {
  readonly Status: 'SUCCESS' | 'FAILURE';
  readonly Reason: string;
  readonly UniqueId: string;
  readonly Data: string;
}

/** What a wait step asks of isComplete, decided by onEvent (top level: it never becomes an attribute). */
export type WaitKind =
  /** Nothing to wait for: the resource is complete (the poller, if any, signals the wait condition). */
  | 'none'
  /** Poll the import until the image is AVAILABLE (no wait condition). */
  | 'import'
  /** ImportImage answered that the account's import quota is full: start the import once there is room. */
  | 'queue'
  /** Wait until the image is terminal, then remove what the import made. */
  | 'delete'
  /** Fail with `Failure`, keeping the physical id, so that CloudFormation's Delete cleans up. */
  | 'fail';

export type ImportImageEvent = CloudFormationCustomResourceEvent<VmImportImageProperties, Partial<VmImportImageProperties>>;

/**
 * The Provider framework hands isComplete the onEvent request merged with the
 * onEvent result, so the physical id and our Deadline arrive here.
 */
export type IsCompleteEvent = ImportImageEvent & {
  readonly PhysicalResourceId: string;
  /** Epoch milliseconds after which the wait fails. */
  readonly Deadline?: number | string;
  /** Set by an Update that started a new import (replacement); may arrive as a string. */
  readonly NewImport?: boolean | string;
  /** What to wait for; absent in events of older handler versions (then: the import). */
  readonly Wait?: WaitKind;
  /** Epoch milliseconds at which onEvent answered. */
  readonly StartedAt?: number | string;
  /** The imports a Delete removes (found by tags when the physical id was not ours). */
  readonly Targets?: FoundImportIds[];
  readonly Failure?: string;
};
/** An import a Delete removes; either part may be missing for imports found by tags. */
export interface FoundImportIds {
  readonly imageArn?: string;
  readonly importTaskId?: string;
}

export interface OnEventResponse {
  readonly PhysicalResourceId: string;
  readonly Data?: VmImportImageAttributes;
  /**
   * Epoch milliseconds. A top-level field, not Data, so it reaches isComplete
   * without becoming an attribute of the resource.
   */
  readonly Deadline?: number;
  /**
   * True when an Update started a new import (replacement). Top-level like
   * Deadline: it tells isComplete that a failure must clean up the new import,
   * since CloudFormation may not send a Delete for the id of a failed update.
   */
  readonly NewImport?: boolean;
  readonly Wait?: WaitKind;
  readonly StartedAt?: number;
  readonly Targets?: FoundImportIds[];
  readonly Failure?: string;
}

/** The framework rejects Data alongside IsComplete false. */
export type IsCompleteResponse =
  | { readonly IsComplete: false }
  /** PhysicalResourceId: set when the import started only in isComplete (a queued import). */
  | { readonly IsComplete: true; readonly Data?: VmImportImageAttributes; readonly PhysicalResourceId?: string };

export { MAX_PROVIDER_WAIT_SECONDS } from '../types';

/** Statuses of an Image Builder image that is still being made. */
export const IN_PROGRESS_IMAGE_STATES = new Set(['PENDING', 'CREATING', 'BUILDING', 'TESTING', 'DISTRIBUTING', 'INTEGRATING']);

/** Statuses after which an image never becomes AVAILABLE. */
export const FAILED_IMAGE_STATES = new Set(['FAILED', 'CANCELLED', 'DELETED']);
/**
 * Statuses of an image that was AVAILABLE and still has its AMI: lifecycle
 * policies (or a person) deprecate or disable images. An update must not wait for them.
 */
export const USABLE_IMAGE_STATES = new Set(['AVAILABLE', 'DEPRECATED', 'DISABLED']);

/** A failed import ends in one of these task statuses. */
export const FAILED_TASK_STATES = new Set(['deleted', 'deleting']);

export interface ImportIds {
  readonly imageArn: string;
  readonly importTaskId: string;
  /**
   * Hash of the properties the import was made from (propertiesHash). Absent
   * in physical ids written before it existed.
   */
  readonly propertiesHash?: string;
}

const IMAGE_ARN_PATTERN = /^arn:aws[a-z-]*:imagebuilder:[a-z0-9-]+:[0-9]{12}:image\/[^\s|]+$/;
const IMPORT_TASK_ID_PATTERN = /^import-ami-[A-Za-z0-9]+$/;
const PROPERTIES_HASH_PATTERN = /^[0-9a-f]{16}$/;

export function formatPhysicalId(ids: ImportIds): string {
  return [ids.imageArn, ids.importTaskId, ...(ids.propertiesHash ? [ids.propertiesHash] : [])].join(PHYSICAL_ID_SEPARATOR);
}

/**
 * Reads the ids back from a physical id (with or without the properties hash);
 * undefined for anything this handler did not write (for example the
 * framework's CREATE_FAILED marker).
 */
export function parsePhysicalId(physicalId: string | undefined): ImportIds | undefined {
  const parts = (physicalId ?? '').split(PHYSICAL_ID_SEPARATOR);
  if (parts.length !== 2 && parts.length !== 3) return undefined;
  const [imageArn, importTaskId, hash] = parts;
  if (!IMAGE_ARN_PATTERN.test(imageArn) || !IMPORT_TASK_ID_PATTERN.test(importTaskId)) return undefined;
  if (hash !== undefined && !PROPERTIES_HASH_PATTERN.test(hash)) return undefined;
  return { imageArn, importTaskId, ...(hash !== undefined ? { propertiesHash: hash } : {}) };
}

/**
 * Properties that change only how the resource is managed, not the image it
 * made: changing them keeps the image. ServiceTimeout is CloudFormation's own.
 */
export const IN_PLACE_PROPERTIES: ReadonlySet<string> = new Set([
  'Tags', 'WaitForAvailable', 'TimeoutSeconds', 'RemovalPolicy', 'ServiceToken', 'ServiceTimeout',
  // How the deployment waits, not what it imports.
  'SignalUrl', 'WaitConditionLogicalId', 'PollIntervalSeconds', 'MaxPollIntervalSeconds',
]);

/**
 * A short hash of the properties that force a new import, kept in the physical
 * id: an Update can then tell whether the import it names already matches the
 * requested properties (as on a rollback) without trusting OldResourceProperties.
 */
export function propertiesHash(props: Partial<VmImportImageProperties>): string {
  return createHash('sha256').update(canonicalImportProperties(props)).digest('hex').slice(0, 16);
}

/** The properties that force a new import, as canonical JSON. */
export function canonicalImportProperties(props: object): string {
  return JSON.stringify(normalize(Object.fromEntries(Object.entries(props).filter(([key]) => !IN_PLACE_PROPERTIES.has(key))))) ?? '';
}

/**
 * Sorted keys, where absent, empty and null values are the same: properties
 * written by an older handler version omit what they did not know.
 */
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

/** arn:partition:imagebuilder:REGION:ACCOUNT:image/... */
export function arnRegion(arn: string): string {
  return arn.split(':')[3];
}

export function arnAccount(arn: string): string {
  return arn.split(':')[4];
}

export function attributes(ids: ImportIds, props: Partial<VmImportImageProperties>, imageId?: string): VmImportImageAttributes {
  return {
    ImageArn: ids.imageArn,
    ImageName: props.ImageName ?? '',
    ImageVersion: props.ImageVersion ?? '',
    ImportTaskId: ids.importTaskId,
    ...(imageId ? { ImageId: imageId } : {}),
  };
}

export function deadline(props: Partial<VmImportImageProperties>, now: number): number {
  return now + timeoutSeconds(props) * 1000;
}

/** The import's timeout; waits of a custom resource itself are capped at MAX_PROVIDER_WAIT_SECONDS where they use it. */
export function timeoutSeconds(props: Partial<VmImportImageProperties>): number {
  return parseInteger(props.TimeoutSeconds, DEFAULT_TIMEOUT_SECONDS);
}

/**
 * The AMIs an image produced in its own Region and account. Image Builder can
 * list copies elsewhere; this handler's EC2 client only reaches its own Region,
 * and another account's AMIs are not ours to delete.
 */
export function ownAmis(image: Image | undefined, imageArn: string): string[] {
  const region = arnRegion(imageArn);
  const account = arnAccount(imageArn);
  return (image?.outputResources?.amis ?? [])
    .filter((ami) => (ami.region === undefined || ami.region === region) && (ami.accountId === undefined || ami.accountId === account))
    .map((ami) => ami.image)
    .filter((id): id is string => !!id);
}

/**
 * The AMI to report: one in the image's own Region and account, the same ones
 * Delete removes, so the reported ImageId is always one this resource owns.
 */
export function reportedAmi(image: Image | undefined, imageArn: string): string | undefined {
  return ownAmis(image, imageArn)[0];
}

/**
 * The import task, or undefined once EC2 no longer knows it: tasks are only
 * described for 7 days after they finish.
 */
export async function describeImportTask(ec2: EC2Client, importTaskId: string): Promise<ImportImageTask | undefined> {
  try {
    const result = await ec2.send(new DescribeImportImageTasksCommand({ ImportTaskIds: [importTaskId] }));
    return result.ImportImageTasks?.find((task) => task.ImportTaskId === importTaskId);
  } catch (err) {
    if (errorName(err).startsWith('InvalidConversionTaskId')) return undefined;
    // Raw, so that a poll can tell a transient error from a real one.
    throw err;
  }
}

/** Where an import stands, from what EC2 and Image Builder report. */
export type ImportState =
  | { readonly kind: 'available'; readonly imageId: string }
  | { readonly kind: 'failed'; readonly message: string }
  | { readonly kind: 'waiting' };

/**
 * Reads the task and the image together: the task fails first (deleted with a
 * StatusMessage such as "ClientError: Unknown OS"), Image Builder follows it
 * minutes later. Failure messages are AWS's own, cut to fit a response.
 */
export function importState(ids: ImportIds, task: ImportImageTask | undefined, image: Image | undefined): ImportState {
  if (task && FAILED_TASK_STATES.has(task.Status ?? '')) {
    return { kind: 'failed', message: truncate(`VM import ${ids.importTaskId} failed: ${task.StatusMessage ?? `task ${task.Status} without a status message`}`) };
  }
  const status = image?.state?.status;
  if (status && FAILED_IMAGE_STATES.has(status)) {
    return { kind: 'failed', message: truncate(`Image Builder image ${ids.imageArn} is ${status}: ${image?.state?.reason ?? 'no reason given'}`) };
  }
  if (status && USABLE_IMAGE_STATES.has(status)) {
    const imageId = reportedAmi(image, ids.imageArn) ?? (task?.Status === 'completed' ? task.ImageId : undefined);
    if (imageId) return { kind: 'available', imageId };
  }
  return { kind: 'waiting' };
}

/** One structured line per poll, for `aws logs tail --follow` and Logs Insights. */
export function progressLine(ids: ImportIds, task: ImportImageTask | undefined, image: Image | undefined, extra: Record<string, unknown>): string {
  return JSON.stringify({
    event: 'vm-import-progress',
    importTaskId: ids.importTaskId,
    imageArn: ids.imageArn,
    taskStatus: task?.Status,
    statusMessage: task?.StatusMessage,
    progressPercent: task?.Progress !== undefined ? Number(task.Progress) : undefined,
    disks: task?.SnapshotDetails?.map((disk) => ({
      device: disk.DeviceName,
      status: disk.Status,
      progressPercent: disk.Progress !== undefined ? Number(disk.Progress) : undefined,
      sizeBytes: disk.DiskImageSize,
      format: disk.Format,
    })),
    imageStatus: image?.state?.status,
    ...extra,
  });
}
