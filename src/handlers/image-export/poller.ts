/**
 * The long wait of an export, as the import's (../import-image/poller.ts): the
 * export resource completes at once, and an execution of the stack's export poller
 * (a Step Functions Standard workflow) polls the distributed image on a schedule that
 * grows with the elapsed time, then signals the export's wait condition: SUCCESS once
 * the image is AVAILABLE, FAILURE with Image Builder's reason as soon as it fails.
 */
import { GetImageCommand, Image } from '@aws-sdk/client-imagebuilder';
import {
  DEFAULT_MAX_POLL_INTERVAL_SECONDS, DEFAULT_POLL_INTERVAL_SECONDS, executionName, nextPollSeconds, STACK_CHECK_EVERY_POLLS,
} from '../import-image/poller';
import { signalWaitCondition } from '../import-image/signal';
import { waitConditionAwaited } from '../import-image/stack';
import { startExecution, stopExecutions } from '../shared/executions';
import { errorMessage, errorName, isTransient, parseInteger, truncate } from '../shared/util';
import { VmImageExportProperties } from '../types';
import { ExportDeps, exportKey, exportState, progressLine, timeoutSeconds } from './common';

/** What onEvent hands the poller; it never changes during an execution. */
export interface ExportPollerInput {
  readonly ExportedImageArn: string;
  readonly StackId: string;
  /** The export resource. */
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
export interface ExportPollerState {
  readonly Poller: ExportPollerInput;
  readonly Polls: number;
  readonly Next: number;
  readonly Done: boolean;
  /** Set by the state machine's Catch when the poll function failed for good. */
  readonly Error?: { readonly Error?: string; readonly Cause?: string };
}

export function exportPollerInput(
  request: { readonly StackId: string; readonly LogicalResourceId: string },
  imageArn: string, props: Partial<VmImageExportProperties>, startedAt: number,
): ExportPollerInput {
  return {
    ExportedImageArn: imageArn,
    StackId: request.StackId,
    LogicalResourceId: request.LogicalResourceId,
    WaitConditionLogicalId: props.WaitConditionLogicalId,
    SignalUrl: props.SignalUrl ?? '',
    StartedAt: startedAt,
    Deadline: startedAt + timeoutSeconds(props) * 1000,
    PollIntervalSeconds: parseInteger(props.PollIntervalSeconds, DEFAULT_POLL_INTERVAL_SECONDS),
    MaxPollIntervalSeconds: parseInteger(props.MaxPollIntervalSeconds, DEFAULT_MAX_POLL_INTERVAL_SECONDS),
  };
}

/**
 * Starts the poller of one export. Idempotent: the same name and input return the
 * running execution; a name already used (a redelivered request, a rollback to a
 * wait condition signalled long ago) means its poller was started already.
 */
export async function startExportPoller(input: ExportPollerInput, deps: ExportDeps): Promise<void> {
  const first = nextPollSeconds(0, input.PollIntervalSeconds, input.MaxPollIntervalSeconds, (input.Deadline - input.StartedAt) / 1000);
  const state: ExportPollerState = { Poller: input, Polls: 0, Next: first, Done: false };
  await startExecution(executionName(exportKey(input.ExportedImageArn), input.SignalUrl), state, `the export ${input.ExportedImageArn}`, deps);
}

/** Stops every running poller of these distributed images, so a Delete leaves nothing polling. */
export async function stopExportPollers(imageArns: string[], deps: ExportDeps): Promise<void> {
  await stopExecutions(imageArns.map((arn) => `${exportKey(arn)}-`), deps);
}

/** One poll of the export poller's loop. */
export async function exportPollerStep(state: ExportPollerState, deps: ExportDeps): Promise<ExportPollerState> {
  const input = state.Poller;
  const arn = input.ExportedImageArn;
  if (state.Error) {
    // The poll function failed through every retry: fail the wait now rather than let it time out hours later.
    await signal(input, 'FAILURE', truncate(`the poller of the export ${arn} failed: ${state.Error.Error ?? 'Error'}: ${state.Error.Cause ?? ''}`), deps);
    return { ...state, Done: true };
  }
  const polls = state.Polls + 1;
  const now = deps.now();
  const elapsedSeconds = Math.round((now - input.StartedAt) / 1000);

  let image: Image | undefined;
  let transient: string | undefined;
  try {
    image = (await deps.imagebuilder.send(new GetImageCommand({ imageBuildVersionArn: arn }))).image;
  } catch (err) {
    if (errorName(err) === 'ResourceNotFoundException') {
      await signal(input, 'FAILURE', truncate(`the distributed image ${arn} was deleted while the deployment waited for its export`), deps);
      return { ...state, Polls: polls, Done: true };
    }
    if (!isTransient(err)) throw err;
    transient = `${errorName(err)}: ${truncate(errorMessage(err), 200)}`;
  }

  if (!transient) {
    const current = exportState(arn, image);
    if (current.kind === 'available') {
      console.log(progressLine(arn, image, { polls, elapsedSeconds, result: 'available' }));
      await signal(input, 'SUCCESS', `the export ${arn} is complete (${image?.state?.status})`, deps, arn);
      return { ...state, Polls: polls, Done: true };
    }
    if (current.kind === 'failed') {
      console.log(progressLine(arn, image, { polls, elapsedSeconds, result: 'failed' }));
      await signal(input, 'FAILURE', current.message, deps);
      return { ...state, Polls: polls, Done: true };
    }
  }
  if (now >= input.Deadline) {
    const minutes = Math.round((input.Deadline - input.StartedAt) / 60_000);
    await signal(input, 'FAILURE', truncate(
      `the export ${arn} did not finish within ${minutes} minutes (last seen: image ${image?.state?.status ?? 'unknown'}). ` +
      'The rollback cancels it; if the disks need longer, raise `timeout` (at most 12 hours).',
    ), deps);
    return { ...state, Polls: polls, Done: true };
  }
  if (polls % STACK_CHECK_EVERY_POLLS === 0 && !(await stillAwaited(input, deps))) {
    console.log(`nothing waits for the export ${arn} any more (the wait condition is gone or settled): the poller stops`);
    return { ...state, Polls: polls, Done: true };
  }
  const next = nextPollSeconds(elapsedSeconds, input.PollIntervalSeconds, input.MaxPollIntervalSeconds, (input.Deadline - now) / 1000);
  console.log(progressLine(arn, image, { polls, elapsedSeconds, nextPollSeconds: next, ...(transient ? { transientError: transient } : {}) }));
  return { ...state, Polls: polls, Next: next, Done: false };
}

/** Whether CloudFormation still waits for this export's wait condition (see waitConditionAwaited). */
function stillAwaited(input: ExportPollerInput, deps: ExportDeps): Promise<boolean> {
  return waitConditionAwaited(input.StackId, input.WaitConditionLogicalId, input.LogicalResourceId, `${input.ExportedImageArn}|`, deps);
}

function signal(input: ExportPollerInput, status: 'SUCCESS' | 'FAILURE', reason: string, deps: ExportDeps, data = ''): Promise<void> {
  return signalWaitCondition(deps, input.SignalUrl, { Status: status, Reason: reason, UniqueId: exportKey(input.ExportedImageArn), Data: data });
}
