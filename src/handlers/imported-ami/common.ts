import { createHash } from 'crypto';
import type { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import type { EC2Client, Tag } from '@aws-sdk/client-ec2';
import type { SFNClient } from '@aws-sdk/client-sfn';
import type { CloudFormationCustomResourceEvent } from 'aws-lambda';
import { IMPORT_ID_TAG_KEY, ImportedAmiAttributes, ImportedAmiProperties } from './types';
import { canonicalImportProperties, WaitConditionSignal } from '../import-image/common';
import { clientToken, parseInteger, RequestIdentity, Sleep } from '../shared/util';
import { LOGICAL_ID_TAG_KEY, OWNER_TAG_KEY, PROPERTIES_HASH_TAG_KEY } from '../types';

/** What the lifecycle steps need from the outside; injected so tests control time and AWS. */
export interface ImportedAmiDeps {
  readonly ec2: EC2Client;
  readonly sleep: Sleep;
  /** Epoch milliseconds. */
  readonly now: () => number;
  /** Starts and stops the stack's poller executions. */
  readonly sfn?: SFNClient;
  /** Tells whether CloudFormation still waits, and whether a stack rolls back. */
  readonly cloudformation?: CloudFormationClient;
  /** Sends a wait condition signal to its presigned URL. */
  readonly signal?: (url: string, signal: WaitConditionSignal) => Promise<void>;
  /** ARN of the stack's ImportedAmi poller state machine. */
  readonly pollerStateMachineArn?: string;
}

export type ImportedAmiEvent = CloudFormationCustomResourceEvent<ImportedAmiProperties, Partial<ImportedAmiProperties>>;

/** What a Provider wait step does, decided by onEvent (a top-level field: it never becomes an attribute). */
export type WaitKind =
  /** Nothing to wait for: the poller signals the wait condition. */
  | 'none'
  /**
   * A Delete stopped a running poller: its poll invocation in flight may still
   * register the AMI, so removal is repeated until that invocation has surely ended.
   */
  | 'delete'
  /** Fail with `Failure`, keeping the physical id, so that CloudFormation's Delete cleans up. */
  | 'fail';

export interface OnEventResponse {
  readonly PhysicalResourceId: string;
  readonly Data?: ImportedAmiAttributes;
  readonly Wait?: WaitKind;
  /** Epoch milliseconds before which a Delete repeats its sweep (see WaitKind 'delete'). */
  readonly SettleUntil?: number;
  /** The import ids a Delete removes (found by tags when the physical id was not ours). */
  readonly Targets?: DeleteTarget[];
  readonly Failure?: string;
}

/** The Provider framework hands isComplete the request merged with the onEvent result. */
export type IsCompleteEvent = ImportedAmiEvent & {
  readonly PhysicalResourceId: string;
  readonly Wait?: WaitKind;
  readonly SettleUntil?: number | string;
  readonly Targets?: DeleteTarget[];
  readonly Failure?: string;
};

export type IsCompleteResponse = { readonly IsComplete: false } | { readonly IsComplete: true };

/** One import a Delete removes: its id, its properties hash, the snapshot tasks it started (by disk; '' for unknown). */
export interface DeleteTarget {
  readonly importId: string;
  readonly propertiesHash: string;
  readonly taskIds: string[];
}

/**
 * The physical id of an import: `<importId>|<propertiesHash>|<taskId>,<taskId>,...`.
 * The import id ties together the snapshot tasks, the snapshots and the AMI by
 * their tags (IMPORT_ID_TAG_KEY): the AMI is registered by the poller, long after
 * CloudFormation learnt this id, so the id cannot name it, and Delete finds it by
 * that tag (DescribeImages), its snapshots by its block device mappings and by the
 * same tag (DescribeSnapshots). The task ids (one per disk, empty for a disk that
 * waited for quota) only serve to cancel tasks that still run, which EC2 always
 * describes; once EC2 forgets a task (7 days after it ended) nothing of it is
 * needed any more. The hash covers the properties that force a new import, so an
 * Update can tell whether this import matches without trusting OldResourceProperties.
 */
export interface ImportIds {
  readonly importId: string;
  readonly propertiesHash: string;
  readonly taskIds: string[];
}

const SEPARATOR = '|';
const IMPORT_ID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const HASH_PATTERN = /^[0-9a-f]{16}$/;
const TASK_ID_PATTERN = /^import-snap-[0-9a-f]+$/;

export function formatPhysicalId(ids: ImportIds): string {
  return [ids.importId, ids.propertiesHash, ids.taskIds.join(',')].join(SEPARATOR);
}

/** The ids back from a physical id; undefined for anything this handler did not write. */
export function parsePhysicalId(physicalId: string | undefined): ImportIds | undefined {
  const parts = (physicalId ?? '').split(SEPARATOR);
  if (parts.length !== 3) return undefined;
  const [importId, hash, tasks] = parts;
  if (!IMPORT_ID_PATTERN.test(importId) || !HASH_PATTERN.test(hash)) return undefined;
  const taskIds = tasks.split(',');
  if (taskIds.some((id) => id !== '' && !TASK_ID_PATTERN.test(id))) return undefined;
  return { importId, propertiesHash: hash, taskIds };
}

/** The id of the import a Create (or a replacing Update) starts: the same for a redelivered request. */
export function importIdFor(request: RequestIdentity): string {
  return clientToken(request, 'ImportedAmi');
}

/**
 * The client token of one disk's ImportSnapshot, derived from the import id
 * (itself derived from the request that started the import): a redelivered
 * request, and every poll or poller that starts a disk that waited for quota,
 * send the same token, so EC2 returns the task the first try started.
 */
export function snapshotClientToken(request: Pick<RequestIdentity, 'StackId' | 'LogicalResourceId'>, importId: string, diskIndex: number): string {
  return clientToken({ StackId: request.StackId, LogicalResourceId: request.LogicalResourceId, RequestId: importId }, `ImportSnapshot:${diskIndex}`);
}

/** A short hash of the properties that force a new import (the same in-place set as VmImportImage's). */
export function propertiesHash(props: Partial<ImportedAmiProperties>): string {
  return createHash('sha256').update(canonicalImportProperties(props)).digest('hex').slice(0, 16);
}

/** The library's own tags of an import: they let Delete find it whatever id it gets. */
export function libraryTags(request: Pick<RequestIdentity, 'StackId' | 'LogicalResourceId'>, importId: string, hash: string): Record<string, string> {
  return {
    [OWNER_TAG_KEY]: request.StackId,
    [LOGICAL_ID_TAG_KEY]: request.LogicalResourceId,
    [PROPERTIES_HASH_TAG_KEY]: hash,
    [IMPORT_ID_TAG_KEY]: importId,
  };
}

/** User tags, then the library's (which win: they must stay exact). */
export function tagList(userTags: Record<string, string> | undefined, library: Record<string, string>): Tag[] {
  return Object.entries({ ...userTags, ...library }).map(([Key, Value]) => ({ Key, Value }));
}

/** Tags as a plain map; anything else (absent, or an unexpected shape) counts as none. */
export function tagMap(value: unknown): Record<string, string> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return {};
  return value as Record<string, string>;
}

/** An EC2 tag list as a map. */
export function tagsOf(tags: Tag[] | undefined): Record<string, string> {
  return Object.fromEntries((tags ?? []).map((t) => [t.Key ?? '', t.Value ?? '']));
}

export function attributes(importId: string, props: Partial<ImportedAmiProperties>): ImportedAmiAttributes {
  return { ImportId: importId, AmiName: props.AmiName ?? '' };
}

/** The deployment's wait, as the construct set it (its default: 6 hours). */
export function timeoutSeconds(props: Partial<ImportedAmiProperties>): number {
  return parseInteger(props.TimeoutSeconds, 6 * 3600);
}
