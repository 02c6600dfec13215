import { DistributeImageCommand, DistributeImageCommandInput } from '@aws-sdk/client-imagebuilder';
import { cancelImageCreation } from '../import-image/delete';
import {
  awsFailure, clientToken, errorMessage, errorName, isTransient, parseBoolean, RequestIdentity, retryTransient, truncate,
} from '../shared/util';
import { VmImageExportProperties } from '../types';
import {
  ExportDeps, exportHash, ExportOnEventResponse, formatPhysicalId, MAX_PROVIDER_WAIT_SECONDS, pendingPhysicalId, timeoutSeconds,
} from './common';
import { exportTags, findExports } from './lookup';
import { exportPollerInput, startExportPoller } from './poller';
import { validateExportProperties } from './validate';

/** The request fields a new export is derived from (a Create, or an Update that replaces). */
export interface ExportRequest extends RequestIdentity {
  readonly ResourceProperties: VmImageExportProperties;
}

/**
 * Waits before each retry while a just-created execution role is not usable yet
 * (IAM is eventually consistent): 5 tries, 30 s of waiting in all.
 */
export const ROLE_RETRY_DELAYS_MS = [2_000, 4_000, 8_000, 16_000];

/**
 * How Image Builder words a role it cannot use yet is not documented: any client
 * error whose message names the role is retried a few times (a permanent one still
 * fails, 30 s later, with AWS's message).
 */
const ROLE_NOT_READY = /\brole\b/i;
const ROLE_RETRY_CODES = new Set(['InvalidParameterValueException', 'InvalidRequestException', 'ClientException', 'AccessDeniedException', 'ForbiddenException']);

/**
 * DistributeImage's model lists ServiceQuotaExceededException: the account's
 * concurrent image builds (or distributions) are at their quota. The export then
 * waits for room, as the import does, instead of failing.
 */
const QUOTA_CODES = new Set(['ServiceQuotaExceededException', 'ResourceLimitExceededException', 'LimitExceededException']);

export class ExportQuotaFull extends Error {
  constructor(readonly cause: unknown) {
    super(`${errorName(cause)}: ${errorMessage(cause)}`);
  }
}

/** DistributeImage's answer was lost (5xx or throttling through every retry): the image may exist. */
export class AmbiguousStart extends Error {}

/**
 * Starts the export: DistributeImage, then (when the deployment waits through a
 * wait condition) the poller. Completes at once; without a wait condition
 * isComplete waits, as long as a custom resource may. A full quota is not a
 * failure: isComplete starts the export once there is room.
 */
export async function createExport(request: ExportRequest, deps: ExportDeps, replaces?: string): Promise<ExportOnEventResponse> {
  const props = request.ResourceProperties;
  validateExportProperties(props);
  const now = deps.now();
  try {
    const imageArn = await distribute(request, deps, replaces);
    return await finishStart(request, imageArn, deps, now);
  } catch (err) {
    if (err instanceof AmbiguousStart) return { PhysicalResourceId: pendingPhysicalId(request.LogicalResourceId, props), Wait: 'fail', Failure: err.message };
    if (!(err instanceof ExportQuotaFull)) throw err;
    console.log(`Image Builder's quota is full (${err.message}): the export waits for room`);
    return {
      PhysicalResourceId: pendingPhysicalId(request.LogicalResourceId, props),
      Wait: 'queue',
      ...(replaces ? { Replaces: replaces } : {}),
      StartedAt: now,
      Deadline: now + Math.min(timeoutSeconds(props), MAX_PROVIDER_WAIT_SECONDS) * 1000,
    };
  }
}

/** After DistributeImage: the poller of a long wait. Idempotent (execution names), so a queued export runs it again safely. */
export async function finishStart(request: ExportRequest, imageArn: string, deps: ExportDeps, startedAt: number): Promise<ExportOnEventResponse> {
  const props = request.ResourceProperties;
  const wait = parseBoolean(props.WaitForCompletion, true);
  console.log(`Image Builder distributes ${props.SourceImage} as ${imageArn}`);
  if (wait && props.SignalUrl) {
    try {
      await startExportPoller(exportPollerInput(request, imageArn, props, startedAt), deps);
    } catch (err) {
      // Nobody would signal the wait condition: stop the export now rather than after the timeout.
      await cancelQuietly(imageArn, request, deps);
      throw err;
    }
  }
  return {
    PhysicalResourceId: formatPhysicalId({ imageArn, hash: exportHash(props) }),
    Data: { ExportedImageArn: imageArn },
    StartedAt: startedAt,
    Deadline: startedAt + Math.min(timeoutSeconds(props), MAX_PROVIDER_WAIT_SECONDS) * 1000,
    Wait: wait && !props.SignalUrl ? 'export' : 'none',
  };
}

/**
 * Image Builder DistributeImage with a client token from the request (a retried
 * request never distributes twice), retried through throttling and 5xx answers and
 * while a new execution role is not usable yet.
 */
export async function distribute(request: ExportRequest, deps: ExportDeps, replaces?: string): Promise<string> {
  const props = request.ResourceProperties;
  const hash = exportHash(props);
  const input = distributeImageInput(props, clientToken(request, 'DistributeImage'), exportTags(request, hash, replaces));
  for (let attempt = 0; ; attempt++) {
    try {
      const result = await retryTransient(() => deps.imagebuilder.send(new DistributeImageCommand(input)), deps.sleep);
      if (!result.imageBuildVersionArn) throw new Error('Image Builder DistributeImage returned no imageBuildVersionArn');
      return result.imageBuildVersionArn;
    } catch (err) {
      if (QUOTA_CODES.has(errorName(err))) throw new ExportQuotaFull(err);
      const delay = ROLE_RETRY_DELAYS_MS[attempt];
      if (delay !== undefined && ROLE_RETRY_CODES.has(errorName(err)) && ROLE_NOT_READY.test(errorMessage(err))) {
        console.log(`DistributeImage answered ${errorName(err)} about a role (not usable yet?); retrying in ${delay} ms`);
        await deps.sleep(delay);
        continue;
      }
      if (isTransient(err)) {
        // The distribution may have started: if it did, its image carries our tags; stop it now, the Delete removes it.
        const made = await findExports(request, deps, hash).catch(() => []);
        for (const found of made) await cancelQuietly(found.imageArn, request, deps);
        throw new AmbiguousStart(truncate(`${awsFailure('Image Builder DistributeImage', err).message}; ` +
          'any distribution it started was cancelled, and the rollback removes its image'));
      }
      throw awsFailure('Image Builder DistributeImage', err);
    }
  }
}

export function distributeImageInput(
  props: VmImageExportProperties, token: string, runtimeTags: Record<string, string> = {},
): DistributeImageCommandInput {
  const tags = { ...props.Tags, ...runtimeTags };
  return {
    sourceImage: props.SourceImage,
    distributionConfigurationArn: props.DistributionConfigurationArn,
    executionRole: props.ExecutionRole,
    ...(Object.keys(tags).length > 0 ? { tags } : {}),
    ...(props.LogGroupName ? { loggingConfiguration: { logGroupName: props.LogGroupName } } : {}),
    clientToken: token,
  };
}

/** Best effort: the failure being reported matters more than a failed clean-up. */
export async function cancelQuietly(imageArn: string, request: RequestIdentity, deps: ExportDeps): Promise<void> {
  try {
    await cancelImageCreation(imageArn, request, deps);
  } catch (err) {
    console.log(`could not cancel ${imageArn} (${errorName(err)}: ${truncate(errorMessage(err))}); CloudFormation's Delete removes it`);
  }
}
