import { createHash } from 'crypto';
import type { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import type { Image, ImagebuilderClient } from '@aws-sdk/client-imagebuilder';
import type { SFNClient } from '@aws-sdk/client-sfn';
import type { CloudFormationCustomResourceEvent } from 'aws-lambda';
import { canonicalImportProperties, FAILED_IMAGE_STATES, USABLE_IMAGE_STATES, WaitConditionSignal } from '../import-image/common';
import { parseInteger, Sleep, truncate } from '../shared/util';
import { PHYSICAL_ID_SEPARATOR, VmImageExportAttributes, VmImageExportProperties } from '../types';

/** What the export's lifecycle steps need from the outside; injected so tests control time and AWS. */
export interface ExportDeps {
  readonly imagebuilder: ImagebuilderClient;
  readonly sleep: Sleep;
  /** Epoch milliseconds. */
  readonly now: () => number;
  /** Starts and stops the stack's export poller executions. */
  readonly sfn?: SFNClient;
  /** Tells whether CloudFormation still waits for a resource, and whether the stack rolls back. */
  readonly cloudformation?: CloudFormationClient;
  /** Sends a wait condition signal to its presigned URL. */
  readonly signal?: (url: string, signal: WaitConditionSignal) => Promise<void>;
  /** ARN of the stack's export poller state machine. */
  readonly pollerStateMachineArn?: string;
}

/** What a wait step asks of isComplete (see the import's WaitKind). */
export type ExportWaitKind =
  /** Nothing to wait for (the poller, if any, signals the wait condition). */
  | 'none'
  /** Poll the distributed image until it is AVAILABLE (no wait condition). */
  | 'export'
  /** DistributeImage answered that a quota is full: start the export once there is room. */
  | 'queue'
  /** Wait until the distributed images are terminal, then delete their records. */
  | 'delete'
  /** Fail with `Failure`, keeping the physical id, so that CloudFormation's Delete cleans up. */
  | 'fail';

export type ExportEvent = CloudFormationCustomResourceEvent<VmImageExportProperties, Partial<VmImageExportProperties>>;

/** The Provider framework hands isComplete the onEvent request merged with the onEvent result. */
export type ExportIsCompleteEvent = ExportEvent & {
  readonly PhysicalResourceId: string;
  readonly Deadline?: number | string;
  /** Set by an Update that started a new export (replacement); may arrive as a string. */
  readonly NewExport?: boolean | string;
  readonly Wait?: ExportWaitKind;
  readonly StartedAt?: number | string;
  /** The distributed images a Delete removes. */
  readonly Targets?: string[];
  readonly Failure?: string;
  /** A queued replacement: the distributed image it replaces (its replaces tag). */
  readonly Replaces?: string;
};

export interface ExportOnEventResponse {
  readonly PhysicalResourceId: string;
  readonly Data?: VmImageExportAttributes;
  readonly Deadline?: number;
  readonly NewExport?: boolean;
  readonly Wait?: ExportWaitKind;
  readonly StartedAt?: number;
  readonly Targets?: string[];
  readonly Failure?: string;
  readonly Replaces?: string;
}

export type ExportIsCompleteResponse =
  | { readonly IsComplete: false }
  | { readonly IsComplete: true; readonly Data?: VmImageExportAttributes; readonly PhysicalResourceId?: string };

/** The longest one custom resource request waits in isComplete (the Provider's hour, less a margin). */
export const MAX_PROVIDER_WAIT_SECONDS = 3300;

/**
 * Properties that change how the resource is managed, or with which role and log
 * group Image Builder works, but not what is exported: changing them keeps the export.
 */
const EXPORT_IN_PLACE_PROPERTIES = ['WaitForCompletion', 'ExecutionRole', 'LogGroupName'];

/**
 * A short hash of what the export is made of (the source, the distribution and its
 * exports), kept in the physical id and in a tag of the distributed image, so an
 * Update can tell whether an export already matches the requested properties.
 * The import's canonical form leaves out the properties both resources manage in place
 * (tags, timeouts, removal policy, the wait condition).
 */
export function exportHash(props: Partial<VmImageExportProperties>): string {
  const relevant = Object.fromEntries(Object.entries(props).filter(([key]) => !EXPORT_IN_PLACE_PROPERTIES.includes(key)));
  return createHash('sha256').update(canonicalImportProperties(relevant)).digest('hex').slice(0, 16);
}

export interface ExportIds {
  readonly imageArn: string;
  readonly hash: string;
}

const IMAGE_ARN_PATTERN = /^arn:aws[a-z-]*:imagebuilder:[a-z0-9-]+:[0-9]{12}:image\/[^\s|]+$/;
const HASH_PATTERN = /^[0-9a-f]{16}$/;

/** `<distributed image build version ARN>|<export hash>`. */
export function formatPhysicalId(ids: ExportIds): string {
  return `${ids.imageArn}${PHYSICAL_ID_SEPARATOR}${ids.hash}`;
}

/** The ids of a physical id this handler wrote; undefined for any other (a queued id, CloudFormation's own). */
export function parsePhysicalId(physicalId: string | undefined): ExportIds | undefined {
  const parts = (physicalId ?? '').split(PHYSICAL_ID_SEPARATOR);
  if (parts.length !== 2 || !IMAGE_ARN_PATTERN.test(parts[0]) || !HASH_PATTERN.test(parts[1])) return undefined;
  return { imageArn: parts[0], hash: parts[1] };
}

/** The id of an export that waits for quota, or whose start was ambiguous: found by its tags. */
export function pendingPhysicalId(logicalId: string, props: Partial<VmImageExportProperties>): string {
  return `pending:${logicalId}:${exportHash(props)}`;
}

export function timeoutSeconds(props: Partial<VmImageExportProperties>): number {
  return parseInteger(props.TimeoutSeconds, MAX_PROVIDER_WAIT_SECONDS);
}

/** Where an export stands, from what GetImage reports of the distributed image. */
export type ExportState =
  | { readonly kind: 'available' }
  | { readonly kind: 'failed'; readonly message: string }
  | { readonly kind: 'waiting' };

/**
 * GetImage reports the distribution's outcome as the image's state: AVAILABLE, or
 * FAILED/CANCELLED with a reason. The newest API also describes per-Region step
 * failures (state.failureContext, e.g. an EXPORT_AMI step); neither the Image Builder
 * model in botocore here nor this SDK has it, so the reason is all there is to show.
 * DEPRECATED and DISABLED images were AVAILABLE: their export finished.
 */
export function exportState(imageArn: string, image: Image | undefined): ExportState {
  const status = image?.state?.status;
  if (status && FAILED_IMAGE_STATES.has(status)) {
    return { kind: 'failed', message: truncate(`the export ${imageArn} is ${status}: ${image?.state?.reason ?? 'Image Builder gives no reason'}`) };
  }
  if (status && USABLE_IMAGE_STATES.has(status)) return { kind: 'available' };
  return { kind: 'waiting' };
}

/** A short name for an export in execution names and signal ids (its ARN holds "/" and ":"). */
export function exportKey(imageArn: string): string {
  return `export-${createHash('sha256').update(imageArn).digest('hex').slice(0, 12)}`;
}

/** One structured line per poll, for `aws logs tail --follow` and Logs Insights. */
export function progressLine(imageArn: string, image: Image | undefined, extra: Record<string, unknown>): string {
  return JSON.stringify({
    event: 'vm-export-progress',
    exportedImageArn: imageArn,
    imageStatus: image?.state?.status,
    reason: image?.state?.reason,
    amis: image?.outputResources?.amis?.map((ami) => ({ region: ami.region, image: ami.image, accountId: ami.accountId })),
    ...extra,
  });
}
