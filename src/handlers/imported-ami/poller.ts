/**
 * The long wait of an ImportedAmi, as VmImportImage's: the import resource
 * completes at once, and a Step Functions Standard execution of the stack's
 * ImportedAmi poller polls on a schedule that grows with the elapsed time. Each
 * poll moves the import on: it starts the disks that waited for quota, tags the
 * snapshots whose tasks completed, registers the AMI once every snapshot exists,
 * and signals the import's AWS::CloudFormation::WaitCondition (SUCCESS with the
 * AMI id once it is available, FAILURE with AWS's own message), so no Lambda
 * invocation has to live for the hours an import takes.
 */
import { createHash } from 'crypto';
import type { Image } from '@aws-sdk/client-ec2';
import { AmiNameTaken, amiState, findImportAmi, registerAmi } from './ami';
import { ImportedAmiDeps, libraryTags } from './common';
import {
  cancelTasks, describeDisk, describeSnapshotTasks, DiskState, diskState, ImportRequest, SnapshotImportFailed, startSnapshotImports, tagSnapshots,
} from './snapshots';
import { ImportedAmiProperties } from './types';
import { DEFAULT_MAX_POLL_INTERVAL_SECONDS, DEFAULT_POLL_INTERVAL_SECONDS, nextPollSeconds, STACK_CHECK_EVERY_POLLS } from '../import-image/poller';
import { signalWaitCondition } from '../import-image/signal';
import { waitConditionAwaited } from '../import-image/stack';
import { startExecution } from '../shared/executions';
import { errorMessage, errorName, isTransient, parseInteger, truncate } from '../shared/util';

/** What onEvent hands the poller; it never changes during an execution. */
export interface PollerInput {
  readonly ImportId: string;
  readonly PropertiesHash: string;
  readonly StackId: string;
  /** The import resource. */
  readonly LogicalResourceId: string;
  /** The import's properties: the poller registers the AMI from them. SignalUrl is presigned: never logged. */
  readonly Properties: ImportedAmiProperties;
  /** Epoch milliseconds. */
  readonly StartedAt: number;
  readonly Deadline: number;
  readonly PollIntervalSeconds: number;
  readonly MaxPollIntervalSeconds: number;
}

/** The state the execution carries from poll to poll (the state machine reads Next and Done). */
export interface PollerState {
  readonly Poller: PollerInput;
  readonly Polls: number;
  /** Seconds the Wait state waits before the next poll. */
  readonly Next: number;
  readonly Done: boolean;
  /** One per disk; empty while the disk waits for quota. */
  readonly TaskIds: string[];
  /** Snapshots already tagged with the import's tags. */
  readonly Tagged: string[];
  /** Set by the state machine's Catch when the poll function failed for good. */
  readonly Error?: { readonly Error?: string; readonly Cause?: string };
}

function importRequest(input: PollerInput): ImportRequest {
  return { StackId: input.StackId, LogicalResourceId: input.LogicalResourceId, ResourceProperties: input.Properties };
}

/** Execution names: the import id (to find them on Delete), then which request started them for which wait condition. */
export function executionName(importId: string, signalUrl: string, requestId: string): string {
  return `${importId}-${createHash('sha256').update(`${signalUrl}\n${requestId}`).digest('hex').slice(0, 16)}`;
}

/** Starts the poller of one import; idempotent for a redelivered request. */
export async function startPoller(
  request: { readonly StackId: string; readonly LogicalResourceId: string; readonly RequestId: string },
  props: ImportedAmiProperties, ids: { importId: string; propertiesHash: string; taskIds: string[] }, startedAt: number, deps: ImportedAmiDeps,
): Promise<void> {
  const input: PollerInput = {
    ImportId: ids.importId,
    PropertiesHash: ids.propertiesHash,
    StackId: request.StackId,
    LogicalResourceId: request.LogicalResourceId,
    Properties: props,
    StartedAt: startedAt,
    Deadline: startedAt + parseInteger(props.TimeoutSeconds, 6 * 3600) * 1000,
    PollIntervalSeconds: parseInteger(props.PollIntervalSeconds, DEFAULT_POLL_INTERVAL_SECONDS),
    MaxPollIntervalSeconds: parseInteger(props.MaxPollIntervalSeconds, DEFAULT_MAX_POLL_INTERVAL_SECONDS),
  };
  const first = nextPollSeconds(0, input.PollIntervalSeconds, input.MaxPollIntervalSeconds, (input.Deadline - startedAt) / 1000);
  const state: PollerState = { Poller: input, Polls: 0, Next: first, Done: false, TaskIds: ids.taskIds, Tagged: [] };
  await startExecution(executionName(ids.importId, props.SignalUrl, request.RequestId), state, `imported AMI ${props.AmiName} (import ${ids.importId})`, deps);
}

/** One poll of the state machine's loop. */
export async function pollerStep(state: PollerState, deps: ImportedAmiDeps): Promise<PollerState> {
  const input = state.Poller;
  const props = input.Properties;
  const what = `the import of AMI "${props.AmiName}" (${input.ImportId})`;
  if (state.Error) {
    // The poll function failed through every retry: fail the wait now rather than let it time out hours later.
    await signal(input, 'FAILURE', truncate(`the poller of ${what} failed: ${state.Error.Error ?? 'Error'}: ${state.Error.Cause ?? ''}`), deps);
    return { ...state, Done: true };
  }
  const polls = state.Polls + 1;
  const now = deps.now();
  const elapsedSeconds = Math.round((now - input.StartedAt) / 1000);
  const finished = (extra: Partial<PollerState> = {}): PollerState => ({ ...state, ...extra, Polls: polls, Done: true });
  const tags = { ...props.Tags, ...libraryTags(input, input.ImportId, input.PropertiesHash) };

  let taskIds = state.TaskIds;
  let tagged = state.Tagged;
  let disks: DiskState[] = [];
  let ami: Image | undefined;
  let queued: string | undefined;
  let transient: string | undefined;
  // The last steps (tagging, registering, the AMI becoming available) take seconds, not hours.
  let soon = false;
  try {
    // The AMI first: once it exists the tasks no longer matter (EC2 forgets them after 7 days).
    ami = await findImportAmi(input.ImportId, deps);
    if (!ami) {
      if (taskIds.some((id) => !id)) {
        ({ taskIds, queued } = await startSnapshotImports(importRequest(input), input.ImportId, input.PropertiesHash, taskIds, deps, false));
      }
      const tasks = await describeSnapshotTasks(taskIds, deps);
      disks = props.Disks.map((_, i) => diskState(taskIds[i], tasks.get(taskIds[i])));

      const failed = disks.findIndex((disk) => disk.kind === 'failed');
      if (failed >= 0) {
        const disk = disks[failed] as Extract<DiskState, { kind: 'failed' }>;
        console.log(progressLine(input, disks, taskIds, undefined, { polls, elapsedSeconds, result: 'failed' }));
        // The other disks are of no use without this one: stop them; the rollback removes what they made.
        await cancelTasks(disks.map((d, i) => (d.kind === 'active' ? taskIds[i] : '')), `disk ${failed} of the same import failed`, deps);
        await signal(input, 'FAILURE', truncate(
          `the snapshot import ${taskIds[failed]} of disk ${failed} (${describeDisk(props.Disks[failed])}) failed: ${disk.message}`), deps);
        return finished({ TaskIds: taskIds });
      }
      const untagged = disks.flatMap((disk) => (disk.kind === 'completed' && !tagged.includes(disk.snapshotId) ? [disk.snapshotId] : []));
      if (untagged.length > 0) {
        await tagSnapshots(untagged, tags, deps);
        tagged = [...tagged, ...untagged];
        soon = tagged.length >= props.Disks.length;
      }
      const snapshotIds = disks.flatMap((disk) => (disk.kind === 'completed' ? [disk.snapshotId] : []));
      // Registered a poll after the snapshots were tagged: RegisterImage is allowed only on snapshots with the
      // stack's tag, and whether IAM sees a tag the moment CreateTags answers is unverified (EC2 tags are
      // eventually consistent). One poll interval later it is as settled as this handler can know.
      if (snapshotIds.length === props.Disks.length && snapshotIds.every((id) => state.Tagged.includes(id))) {
        const imageId = await registerAmi(props, snapshotIds, tags, input.ImportId, deps);
        // Registered from snapshots the AMI is usable within moments; the next poll reads its state.
        ami = { ImageId: imageId, State: 'pending', Name: props.AmiName };
        soon = true;
      }
    }
  } catch (err) {
    if (err instanceof SnapshotImportFailed) taskIds = err.taskIds;
    const retryable = err instanceof SnapshotImportFailed ? err.transient : isTransient(err) && !(err instanceof AmiNameTaken);
    if (!retryable) {
      const message = err instanceof AmiNameTaken ? err.message : `${what} failed: ${errorMessage(err)}`;
      console.log(progressLine(input, disks, taskIds, ami, { polls, elapsedSeconds, result: 'failed' }));
      // Tasks whose state is unknown (the failure came before the describe) are cancelled too: a finished one just refuses.
      await cancelTasks(disks.length > 0 ? disks.map((d, i) => (d.kind === 'active' ? taskIds[i] : '')) : taskIds, 'the import failed', deps);
      await signal(input, 'FAILURE', truncate(message), deps);
      return finished({ TaskIds: taskIds, Tagged: tagged });
    }
    transient = `${errorName(err)}: ${truncate(errorMessage(err), 200)}`;
  }

  if (ami && !transient) {
    const current = amiState(ami);
    if (current.kind === 'available') {
      console.log(progressLine(input, disks, taskIds, ami, { polls, elapsedSeconds, result: 'available', imageId: ami.ImageId }));
      await signal(input, 'SUCCESS', `AMI ${ami.ImageId} (${props.AmiName}) is available`, deps, ami.ImageId);
      return finished({ TaskIds: taskIds, Tagged: tagged });
    }
    if (current.kind === 'failed') {
      console.log(progressLine(input, disks, taskIds, ami, { polls, elapsedSeconds, result: 'failed' }));
      await signal(input, 'FAILURE', current.message, deps);
      return finished({ TaskIds: taskIds, Tagged: tagged });
    }
  }
  if (now >= input.Deadline) {
    const minutes = Math.round((input.Deadline - input.StartedAt) / 60_000);
    const lastSeen = ami ? `AMI ${ami.ImageId} ${ami.State}` : disks.map((disk, i) => `disk ${i} ${describeState(disk)}`).join('; ') || 'nothing yet';
    await signal(input, 'FAILURE', truncate(
      `${what} did not finish within ${minutes} minutes (last seen: ${lastSeen}). ` +
      'The rollback cancels and removes it; if the disks need longer, raise `timeout` (at most 12 hours).',
    ), deps);
    return finished({ TaskIds: taskIds, Tagged: tagged });
  }
  if (polls % STACK_CHECK_EVERY_POLLS === 0 && !(await stillAwaited(input, deps))) {
    console.log(`nothing waits for ${what} any more (the wait condition is gone or settled): the poller stops`);
    return finished({ TaskIds: taskIds, Tagged: tagged });
  }
  const pending = soon || (ami !== undefined && !transient);
  const next = nextPollSeconds(pending ? 0 : elapsedSeconds, input.PollIntervalSeconds, input.MaxPollIntervalSeconds, (input.Deadline - now) / 1000);
  console.log(progressLine(input, disks, taskIds, ami, {
    polls, elapsedSeconds, nextPollSeconds: next, ...(queued ? { queued } : {}), ...(transient ? { transientError: transient } : {}),
  }));
  return { ...state, Polls: polls, Next: next, Done: false, TaskIds: taskIds, Tagged: tagged };
}

function describeState(disk: DiskState): string {
  if (disk.kind === 'queued') return 'waiting for import quota';
  if (disk.kind === 'failed') return `failed: ${disk.message}`;
  const detail = disk.task.SnapshotTaskDetail;
  return `${detail?.Status ?? 'unknown'}${detail?.StatusMessage ? ` "${detail.StatusMessage}"` : ''}${detail?.Progress ? `, ${detail.Progress}% done` : ''}`;
}

/** One structured line per poll, for `aws logs tail --follow` and Logs Insights. */
export function progressLine(
  input: PollerInput, disks: DiskState[], taskIds: string[], ami: Image | undefined, extra: Record<string, unknown>,
): string {
  return JSON.stringify({
    event: 'imported-ami-progress',
    importId: input.ImportId,
    amiName: input.Properties.AmiName,
    disks: disks.map((disk, i) => {
      const detail = disk.kind === 'queued' ? undefined : disk.task?.SnapshotTaskDetail;
      return {
        disk: i,
        taskId: taskIds[i] || undefined,
        status: disk.kind === 'queued' ? 'queued' : detail?.Status,
        statusMessage: detail?.StatusMessage,
        progressPercent: detail?.Progress !== undefined ? Number(detail.Progress) : undefined,
        // DescribeImportSnapshotTasks reports the size in GiB (the model's SnapshotTaskDetail.DiskImageSize).
        sizeGiB: detail?.DiskImageSize,
        snapshotId: detail?.SnapshotId,
      };
    }),
    amiId: ami?.ImageId,
    amiState: ami?.State,
    ...extra,
  });
}

/** Whether CloudFormation still waits for this import's wait condition (see waitConditionAwaited). */
function stillAwaited(input: PollerInput, deps: ImportedAmiDeps): Promise<boolean> {
  return waitConditionAwaited(input.StackId, input.Properties.WaitConditionLogicalId, input.LogicalResourceId, `${input.ImportId}|`, deps);
}

function signal(input: PollerInput, status: 'SUCCESS' | 'FAILURE', reason: string, deps: ImportedAmiDeps, data = ''): Promise<void> {
  return signalWaitCondition(deps, input.Properties.SignalUrl, { Status: status, Reason: reason, UniqueId: input.ImportId, Data: data });
}
