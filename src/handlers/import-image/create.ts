import { CancelImportTaskCommand, ImportImageCommand, ImportImageCommandInput } from '@aws-sdk/client-ec2';
import { CancelImageCreationCommand, ImportVmImageCommand, ImportVmImageCommandInput, Platform } from '@aws-sdk/client-imagebuilder';
import {
  awsFailure, clientToken, errorMessage, errorName, isTransient, parseBoolean, RequestIdentity, retryTransient, truncate,
} from '../shared/util';
import { IMPORT_TASK_TAG_KEY, VmImportImageProperties } from '../types';
import {
  attributes, formatPhysicalId, ImportIds, ImportImageDeps, MAX_PROVIDER_WAIT_SECONDS, OnEventResponse, propertiesHash, timeoutSeconds,
} from './common';
import { findImports, resourceTags } from './lookup';
import { pollerInput, startPoller } from './poller';
import { describeStackResource, rollingBack } from './stack';
import { validateProperties } from './validate';

/** The request fields a new import is derived from (a Create, or an Update that replaces). */
export interface ImportRequest extends RequestIdentity {
  readonly RequestType?: string;
  readonly ResourceProperties: VmImportImageProperties;
  readonly OldResourceProperties?: Partial<VmImportImageProperties>;
}

/**
 * Waits before each retry of ImportImage while a just-created service role
 * propagates: 5 tries, 30 s of waiting in all, well inside the Lambda timeout.
 */
export const ROLE_RETRY_DELAYS_MS = [2_000, 4_000, 8_000, 16_000];

export const ROLE_NOT_READY = /service role .* (does not exist|does not have sufficient permissions)/i;

/**
 * What EC2 answers when the account's concurrent import tasks are at their
 * quota. Unverified which code VM Import uses: every one that names a limit of
 * resources is treated as "wait for room" (aws-facts.md).
 */
export const QUOTA_CODES = new Set(['ResourceCountLimitExceeded', 'ResourceLimitExceeded', 'ImportTaskLimitExceeded', 'TaskLimitExceeded']);

/**
 * ImportImage found the import quota full (or stayed throttled): the import waits
 * for room, and isComplete asks again with the same client token.
 */
export class ImportQuotaFull extends Error {
  constructor(readonly cause: unknown) {
    super(`${errorName(cause)}: ${errorMessage(cause)}`);
  }
}

/**
 * Starts the VM import and registers it with Image Builder. With a wait
 * condition, starts the poller and completes at once; without one, isComplete
 * waits (as long as a custom resource may). A full import quota is not a failure:
 * isComplete starts the import once there is room.
 */
export async function createImport(request: ImportRequest, deps: ImportImageDeps): Promise<OnEventResponse> {
  const props = request.ResourceProperties;
  validateProperties(props);
  const now = deps.now();
  try {
    const importTaskId = await startImportTask(request, deps);
    return await finishStart(request, importTaskId, deps, now);
  } catch (err) {
    if (err instanceof AmbiguousRegistration) {
      return { PhysicalResourceId: queuedPhysicalId(request, props), Wait: 'fail', Failure: err.message };
    }
    if (!(err instanceof ImportQuotaFull)) throw err;
    console.log(`the account's VM import quota is full (${err.message}): waiting for room`);
    return {
      // Not an import id: a Delete of it finds what the queued import started by its tags.
      PhysicalResourceId: queuedPhysicalId(request, props),
      Wait: 'queue',
      StartedAt: now,
      Deadline: now + Math.min(timeoutSeconds(props), MAX_PROVIDER_WAIT_SECONDS) * 1000,
    };
  }
}

/** The id of an import that waits for quota. */
export function queuedPhysicalId(request: RequestIdentity, props: Partial<VmImportImageProperties>): string {
  return `queued:${request.LogicalResourceId}:${propertiesHash(props)}`;
}

/**
 * After ImportImage: ImportVmImage, then the poller of a long wait. Every call
 * is idempotent (client tokens, execution names), so a queued import runs this
 * again on each poll without starting anything twice.
 */
export async function finishStart(request: ImportRequest, importTaskId: string, deps: ImportImageDeps, startedAt: number): Promise<OnEventResponse> {
  const props = request.ResourceProperties;
  const imageArn = await registerImage(request, importTaskId, deps);
  const ids: ImportIds = { imageArn, importTaskId, propertiesHash: propertiesHash(props) };
  console.log(`started VM import ${importTaskId} for Image Builder image ${imageArn}`);
  const wait = parseBoolean(props.WaitForAvailable, true);
  const followed = wait && props.SignalUrl !== undefined && await waitConditionFollows(request, deps);
  if (followed) {
    try {
      await startPoller(pollerInput(request, ids, props, startedAt), deps);
    } catch (err) {
      // Nobody would signal the wait condition: stop the import now rather than after the timeout.
      // The image exists: fail with an id of our own, so that the Delete that follows removes it.
      await cancelQuietly(importTaskId, 'the poller of the import could not start', deps);
      await cancelImageQuietly(imageArn, request, deps);
      throw new AmbiguousRegistration(`${errorMessage(err)}; the VM import was cancelled, and the rollback removes its image`);
    }
  }
  return {
    PhysicalResourceId: formatPhysicalId(ids),
    Data: attributes(ids, props),
    StartedAt: startedAt,
    // The wait condition waits for long imports; without one the resource waits, as long as it may.
    Deadline: startedAt + Math.min(timeoutSeconds(props), MAX_PROVIDER_WAIT_SECONDS) * 1000,
    Wait: wait && !followed ? 'import' : 'none',
  };
}

/**
 * Whether a wait condition will wait for this new import: the one the properties
 * name must not exist yet (CloudFormation creates it after this resource), or be
 * waiting. A Create always gets a new one. An Update gets one when its import
 * settings changed in the template (their key names a new wait condition); not
 * when only a deploy-time value changed (a parameter, a replaced bucket or role),
 * nor on a rollback to the original settings: that wait condition has completed,
 * and wait conditions cannot be updated, so the resource itself waits, and
 * everything that uses imageArn waits with it. When CloudFormation cannot be
 * asked (throttled through a few tries, no permission, or the stack unknown), a
 * rollback waits in the resource, and otherwise the signal URL decides (a new
 * handle comes with a new wait condition).
 */
async function waitConditionFollows(request: ImportRequest, deps: ImportImageDeps): Promise<boolean> {
  if (request.RequestType !== 'Update') return true;
  const props = request.ResourceProperties;
  const fallback = async () => !(await rollingBack(request.StackId, deps)) && props.SignalUrl !== request.OldResourceProperties?.SignalUrl;
  if (!props.WaitConditionLogicalId) return fallback();
  let found = await describeStackResource(request.StackId, props.WaitConditionLogicalId, deps);
  for (const delay of WAIT_CONDITION_LOOKUP_RETRY_MS) {
    if (found !== 'unknown') break;
    await deps.sleep(delay);
    found = await describeStackResource(request.StackId, props.WaitConditionLogicalId, deps);
  }
  if (found === 'missing') return true;
  if (found === 'unknown' || found === 'stack-gone') return fallback();
  if (found.ResourceStatus === 'CREATE_IN_PROGRESS') return true;
  console.log(`wait condition ${props.WaitConditionLogicalId} is ${found.ResourceStatus} already: it does not wait for this new import, so the resource waits for it`);
  return false;
}

/** Waits before asking CloudFormation about a wait condition again (throttling). */
const WAIT_CONDITION_LOOKUP_RETRY_MS = [1_000, 2_000];

/** EC2 ImportImage, retried only while the service role is not visible yet. */
export async function startImportTask(request: ImportRequest, deps: ImportImageDeps): Promise<string> {
  // One token for every try: should a "failed" try have started a task after
  // all, EC2 returns that task instead of starting a second one.
  const input = importImageInput(request.ResourceProperties, clientToken(request, 'ImportImage'), resourceTags(request, propertiesHash(request.ResourceProperties)));
  for (let attempt = 0; ; attempt++) {
    try {
      const result = await deps.ec2.send(new ImportImageCommand(input));
      if (!result.ImportTaskId) throw new Error('EC2 ImportImage returned no ImportTaskId');
      return result.ImportTaskId;
    } catch (err) {
      if (QUOTA_CODES.has(errorName(err))) throw new ImportQuotaFull(err);
      const delay = ROLE_RETRY_DELAYS_MS[attempt];
      if (delay !== undefined && (ROLE_NOT_READY.test(errorMessage(err)) || isTransient(err))) {
        console.log(`ImportImage answered ${errorName(err)} (the service role not usable yet, or throttling); retrying in ${delay} ms`);
        await deps.sleep(delay);
        continue;
      }
      // Throttled or 5xx through every try: the task may have started. Waiting (and asking again with
      // the same token) finds it, or starts it, instead of failing with nothing to clean up by.
      if (isTransient(err)) throw new ImportQuotaFull(err);
      throw awsFailure('EC2 ImportImage', err);
    }
  }
}

export function importImageInput(props: VmImportImageProperties, token: string, runtimeTags: Record<string, string> = {}): ImportImageCommandInput {
  const tags = Object.entries({ ...props.Tags, ...runtimeTags }).map(([Key, Value]) => ({ Key, Value }));
  const licenses = props.LicenseConfigurationArns ?? [];
  return {
    // Always sent: tasks without a platform can hang in "updating".
    Platform: props.Platform,
    ...(props.Architecture ? { Architecture: props.Architecture } : {}),
    ...(props.BootMode ? { BootMode: props.BootMode as ImportImageCommandInput['BootMode'] } : {}),
    ...(props.LicenseType ? { LicenseType: props.LicenseType } : {}),
    ...(props.UsageOperation ? { UsageOperation: props.UsageOperation } : {}),
    ...(props.Description ? { Description: props.Description } : {}),
    ...(licenses.length > 0 ? { LicenseSpecifications: licenses.map((arn) => ({ LicenseConfigurationArn: arn })) } : {}),
    ...(props.KmsKeyId ? { Encrypted: true, KmsKeyId: props.KmsKeyId } : {}),
    RoleName: props.RoleName,
    DiskContainers: (props.Disks ?? []).map((disk) => ({
      ...(disk.Format ? { Format: disk.Format } : {}),
      ...(disk.Url ? { Url: disk.Url } : {}),
      ...(disk.S3Bucket || disk.S3Key ? { UserBucket: { S3Bucket: disk.S3Bucket, S3Key: disk.S3Key } } : {}),
      ...(disk.SnapshotId ? { SnapshotId: disk.SnapshotId } : {}),
      ...(disk.DeviceName ? { DeviceName: disk.DeviceName } : {}),
      ...(disk.Description ? { Description: disk.Description } : {}),
    })),
    ...(tags.length > 0 ? { TagSpecifications: [{ ResourceType: 'import-image-task', Tags: tags }] } : {}),
    ClientToken: token,
  };
}

/**
 * A failure after which an image may exist: the answer to ImportVmImage was lost
 * (a 5xx or throttling through every retry), or the poller could not start after
 * the image was made. The resource must then fail with an id of its own, so that
 * the Delete CloudFormation sends finds the image by its tags and removes it once
 * Image Builder lets it (the framework's CREATE_FAILED marker would get no clean-up).
 */
export class AmbiguousRegistration extends Error {}

/**
 * Image Builder ImportVmImage, retried through throttling and 5xx answers (the
 * client token keeps a retry from making a second image). On failure the import
 * task just started is cancelled, so a failed Create leaves nothing running.
 */
export async function registerImage(request: ImportRequest, importTaskId: string, deps: ImportImageDeps): Promise<string> {
  const props = request.ResourceProperties;
  const input = importVmImageInput(props, importTaskId, clientToken(request, 'ImportVmImage'),
    { ...resourceTags(request, propertiesHash(props)), [IMPORT_TASK_TAG_KEY]: importTaskId });
  let failure: unknown;
  try {
    const result = await retryTransient(() => deps.imagebuilder.send(new ImportVmImageCommand(input)), deps.sleep);
    if (result.imageArn) return result.imageArn;
    failure = new Error('Image Builder ImportVmImage returned no imageArn');
  } catch (err) {
    failure = err;
  }
  await cancelQuietly(importTaskId, 'Image Builder ImportVmImage failed during the CloudFormation deployment', deps);
  if (nameVersionExists(failure)) {
    throw new Error(truncate(
      `an Image Builder image named "${props.ImageName}" with version ${props.ImageVersion} already exists: ` +
      `bump imageVersion (or change imageName) and deploy again (${errorName(failure)}: ${errorMessage(failure)})`,
    ));
  }
  if (isTransient(failure)) {
    // The image may have been made: if it was, it carries our tags; stop its creation now, the Delete removes it.
    const made = await findImports(request, props, deps, propertiesHash(props)).catch(() => []);
    for (const image of made) if (image.imageArn) await cancelImageQuietly(image.imageArn, request, deps);
    throw new AmbiguousRegistration(truncate(`${awsFailure('Image Builder ImportVmImage', failure).message}; ` +
      'the VM import was cancelled, and the rollback removes the image if Image Builder made it'));
  }
  throw awsFailure('Image Builder ImportVmImage', failure);
}

export function importVmImageInput(
  props: VmImportImageProperties, importTaskId: string, token: string, runtimeTags: Record<string, string> = {},
): ImportVmImageCommandInput {
  const tags = { ...props.Tags, ...runtimeTags };
  return {
    name: props.ImageName,
    semanticVersion: props.ImageVersion,
    platform: props.Platform as Platform,
    ...(props.OsVersion ? { osVersion: props.OsVersion } : {}),
    ...(props.Description ? { description: props.Description } : {}),
    vmImportTaskId: importTaskId,
    ...(props.LogGroupName ? { loggingConfiguration: { logGroupName: props.LogGroupName } } : {}),
    ...(Object.keys(tags).length > 0 ? { tags } : {}),
    clientToken: token,
  };
}

/**
 * Image Builder reports a taken name+version as ResourceAlreadyExistsException
 * or, depending on the path, as an invalid parameter/version whose message says so.
 */
function nameVersionExists(err: unknown): boolean {
  return errorName(err) === 'ResourceAlreadyExistsException' || /already exists?\b/i.test(errorMessage(err));
}

/** Best effort, through throttling: the failure being reported matters more than a failed clean-up. */
export async function cancelQuietly(importTaskId: string, reason: string, deps: ImportImageDeps): Promise<void> {
  try {
    await retryTransient(() => deps.ec2.send(new CancelImportTaskCommand({ ImportTaskId: importTaskId, CancelReason: reason })), deps.sleep);
    console.log(`cancelled VM import ${importTaskId}`);
  } catch (err) {
    console.log(`could not cancel VM import ${importTaskId}: ${errorName(err)}: ${truncate(errorMessage(err))}`);
  }
}

async function cancelImageQuietly(imageArn: string, request: RequestIdentity, deps: ImportImageDeps): Promise<void> {
  try {
    await retryTransient(() => deps.imagebuilder.send(new CancelImageCreationCommand({
      imageBuildVersionArn: imageArn, clientToken: clientToken(request, 'CancelImageCreation'),
    })), deps.sleep);
    console.log(`cancelled the creation of ${imageArn}`);
  } catch (err) {
    console.log(`could not cancel the creation of ${imageArn}: ${errorName(err)}: ${truncate(errorMessage(err))}`);
  }
}
