/**
 * The long wait. A custom resource must answer within an hour, imports take
 * many, so the import resource completes at once and a Step Functions Standard
 * execution (one state machine per stack) polls the import on a schedule that
 * grows with the elapsed time, then signals the import's
 * AWS::CloudFormation::WaitCondition (Timeout up to 12 hours): SUCCESS with the
 * AMI id, or FAILURE with AWS's own message. What depends on the image follows
 * the wait condition, so it waits however long the import takes, and no Lambda
 * invocation has to stay alive for it.
 */
import { createHash } from 'crypto';
import type { ImportImageTask } from '@aws-sdk/client-ec2';
import { GetImageCommand, Image } from '@aws-sdk/client-imagebuilder';
import { startExecution, stopExecutions } from '../shared/executions';
import { errorMessage, errorName, isTransient, parseInteger, truncate } from '../shared/util';
import { DEFAULT_MAX_POLL_INTERVAL_SECONDS, DEFAULT_POLL_INTERVAL_SECONDS, VmImportImageProperties } from '../types';
import { deadline, describeImportTask, ImportIds, ImportImageDeps, importState, progressLine } from './common';
import { signalWaitCondition } from './signal';
import { waitConditionAwaited } from './stack';

/** What onEvent hands the poller; it never changes during an execution. */
export interface PollerInput {
  readonly ImageArn: string;
  readonly ImportTaskId: string;
  readonly StackId: string;
  /** The import resource. */
  readonly LogicalResourceId: string;
  readonly WaitConditionLogicalId?: string;
  /** Presigned: never logged. */
  readonly SignalUrl: string;
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
  /** Set by the state machine's Catch when the poll function failed for good. */
  readonly Error?: { readonly Error?: string; readonly Cause?: string };
}

export { DEFAULT_MAX_POLL_INTERVAL_SECONDS, DEFAULT_POLL_INTERVAL_SECONDS } from '../types';
/** The interval is this share of the elapsed time: detection is never later than 10% of the wait. */
const INTERVAL_SHARE_OF_ELAPSED = 0.1;
/** Every this many polls the poller asks CloudFormation whether anything still waits for it. */
export const STACK_CHECK_EVERY_POLLS = 4;

/**
 * The wait before the next poll: `first` at the start, then a tenth of the time
 * elapsed, never more than `max`, and never past the deadline. A 6-hour import
 * costs about 200 polls with the defaults (15 s growing to 2 minutes), a 10-minute
 * one about 25, and completion is noticed within one interval.
 */
export function nextPollSeconds(elapsedSeconds: number, first: number, max: number, remainingSeconds: number): number {
  const interval = Math.min(max, Math.max(first, Math.round(elapsedSeconds * INTERVAL_SHARE_OF_ELAPSED)));
  return Math.max(1, Math.min(interval, Math.ceil(remainingSeconds)));
}

/** Execution names: the task id (to find them on Delete), then which wait condition they signal. */
export function executionName(importTaskId: string, signalUrl: string): string {
  return `${importTaskId}-${createHash('sha256').update(signalUrl).digest('hex').slice(0, 16)}`;
}

/** The poller's input for an import whose resource asks for a wait condition signal. */
export function pollerInput(
  request: { readonly StackId: string; readonly LogicalResourceId: string },
  ids: ImportIds, props: Partial<VmImportImageProperties>, startedAt: number,
): PollerInput {
  return {
    ImageArn: ids.imageArn,
    ImportTaskId: ids.importTaskId,
    StackId: request.StackId,
    LogicalResourceId: request.LogicalResourceId,
    WaitConditionLogicalId: props.WaitConditionLogicalId,
    SignalUrl: props.SignalUrl ?? '',
    StartedAt: startedAt,
    Deadline: deadline(props, startedAt),
    PollIntervalSeconds: parseInteger(props.PollIntervalSeconds, DEFAULT_POLL_INTERVAL_SECONDS),
    MaxPollIntervalSeconds: parseInteger(props.MaxPollIntervalSeconds, DEFAULT_MAX_POLL_INTERVAL_SECONDS),
  };
}

/**
 * Starts the poller of one import. Idempotent: the name is this import's and this
 * handle's, so a redelivered Create, or a rollback to a wait condition that got its
 * signal long ago, finds it started already, which is not an error (failing would
 * cancel the import, or fail the rollback).
 */
export async function startPoller(input: PollerInput, deps: ImportImageDeps): Promise<void> {
  const first = nextPollSeconds(0, input.PollIntervalSeconds, input.MaxPollIntervalSeconds, (input.Deadline - input.StartedAt) / 1000);
  const state: PollerState = { Poller: input, Polls: 0, Next: first, Done: false };
  await startExecution(executionName(input.ImportTaskId, input.SignalUrl), state, `VM import ${input.ImportTaskId}`, deps);
}

/** Stops every running poller of these tasks, so a Delete leaves nothing polling. */
export async function stopPollers(importTaskIds: string[], deps: ImportImageDeps): Promise<void> {
  await stopExecutions(importTaskIds.map((id) => `${id}-`), deps);
}

/** One poll of the state machine's loop. */
export async function pollerStep(state: PollerState, deps: ImportImageDeps): Promise<PollerState> {
  const input = state.Poller;
  const ids: ImportIds = { imageArn: input.ImageArn, importTaskId: input.ImportTaskId };
  if (state.Error) {
    // The poll function failed through every retry: fail the wait now rather than let it time out hours later.
    await signal(input, 'FAILURE', truncate(`the poller of VM import ${input.ImportTaskId} failed: ${state.Error.Error ?? 'Error'}: ${state.Error.Cause ?? ''}`), deps);
    return { ...state, Done: true };
  }
  const polls = state.Polls + 1;
  const now = deps.now();
  const elapsedSeconds = Math.round((now - input.StartedAt) / 1000);

  let task: ImportImageTask | undefined;
  let image: Image | undefined;
  let transient: string | undefined;
  try {
    task = await describeImportTask(deps.ec2, input.ImportTaskId);
    image = (await deps.imagebuilder.send(new GetImageCommand({ imageBuildVersionArn: input.ImageArn }))).image;
  } catch (err) {
    if (errorName(err) === 'ResourceNotFoundException') {
      await signal(input, 'FAILURE', truncate(`Image Builder image ${input.ImageArn} was deleted while the deployment waited for it`), deps);
      return { ...state, Polls: polls, Done: true };
    }
    if (!isTransient(err)) throw err;
    transient = `${errorName(err)}: ${truncate(errorMessage(err), 200)}`;
  }

  if (!transient) {
    const current = importState(ids, task, image);
    if (current.kind === 'available') {
      console.log(progressLine(ids, task, image, { polls, elapsedSeconds, result: 'available', imageId: current.imageId }));
      await signal(input, 'SUCCESS', `image ${input.ImageArn} is AVAILABLE as ${current.imageId}`, deps, current.imageId);
      return { ...state, Polls: polls, Done: true };
    }
    if (current.kind === 'failed') {
      console.log(progressLine(ids, task, image, { polls, elapsedSeconds, result: 'failed' }));
      await signal(input, 'FAILURE', current.message, deps);
      return { ...state, Polls: polls, Done: true };
    }
  }
  if (now >= input.Deadline) {
    const minutes = Math.round((input.Deadline - input.StartedAt) / 60_000);
    await signal(input, 'FAILURE', truncate(
      `VM import ${input.ImportTaskId} did not make ${input.ImageArn} AVAILABLE within ${minutes} minutes ` +
      `(last seen: task ${task?.Status ?? 'unknown'}${task?.StatusMessage ? ` "${task.StatusMessage}"` : ''}${task?.Progress ? `, ${task.Progress}% done` : ''}; ` +
      `image ${image?.state?.status ?? 'unknown'}). The rollback cancels it; if the disk needs longer, raise \`timeout\` (at most 12 hours).`,
    ), deps);
    return { ...state, Polls: polls, Done: true };
  }
  if (polls % STACK_CHECK_EVERY_POLLS === 0 && !(await stillAwaited(input, deps))) {
    console.log(`nothing waits for ${input.ImportTaskId} any more (the wait condition is gone or settled): the poller stops`);
    return { ...state, Polls: polls, Done: true };
  }
  const next = nextPollSeconds(elapsedSeconds, input.PollIntervalSeconds, input.MaxPollIntervalSeconds, (input.Deadline - now) / 1000);
  console.log(progressLine(ids, task, image, { polls, elapsedSeconds, nextPollSeconds: next, ...(transient ? { transientError: transient } : {}) }));
  return { ...state, Polls: polls, Next: next, Done: false };
}

/** Whether CloudFormation still waits for this import's wait condition (see waitConditionAwaited). */
function stillAwaited(input: PollerInput, deps: ImportImageDeps): Promise<boolean> {
  return waitConditionAwaited(input.StackId, input.WaitConditionLogicalId, input.LogicalResourceId, `${input.ImageArn}|`, deps);
}

function signal(input: PollerInput, status: 'SUCCESS' | 'FAILURE', reason: string, deps: ImportImageDeps, data = ''): Promise<void> {
  return signalWaitCondition(deps, input.SignalUrl, { Status: status, Reason: reason, UniqueId: input.ImportTaskId, Data: data });
}
