import {
  CancelImportTaskCommand, DeleteSnapshotCommand, DeregisterImageCommand, DescribeImagesCommand, ImportImageTask,
} from '@aws-sdk/client-ec2';
import { CancelImageCreationCommand, DeleteImageCommand, GetImageCommand, Image } from '@aws-sdk/client-imagebuilder';
import type { CloudFormationCustomResourceDeleteEvent } from 'aws-lambda';
import { awsFailure, clientToken, errorMessage, errorName, RequestIdentity, truncate } from '../shared/util';
import { VmImportImageProperties } from '../types';
import {
  describeImportTask, ImportIds, ImportImageDeps, IN_PROGRESS_IMAGE_STATES, OnEventResponse, ownAmis, parsePhysicalId,
} from './common';

export type DeleteEvent = CloudFormationCustomResourceDeleteEvent<Partial<VmImportImageProperties>>;

export type RemovalPolicy = 'destroy' | 'snapshot' | 'retain';

/**
 * Waits before each retry of DeleteImage after cancelling a creation: Image
 * Builder refuses to delete an image until the cancellation has settled.
 */
export const DELETE_AFTER_CANCEL_DELAYS_MS = [5_000, 10_000, 15_000];

const EC2_GONE = new Set(['InvalidAMIID.NotFound', 'InvalidAMIID.Unavailable', 'InvalidSnapshot.NotFound']);

/**
 * Removes what the import made, per the removal policy: the import task (if
 * still running), the AMI and its snapshots, then the Image Builder image. Works
 * from the ids in the physical id, since EC2 forgets import tasks after 7 days.
 */
export async function deleteImport(event: DeleteEvent, deps: ImportImageDeps): Promise<OnEventResponse> {
  const response = { PhysicalResourceId: event.PhysicalResourceId };
  const ids = parsePhysicalId(event.PhysicalResourceId);
  if (!ids) {
    // The framework's CREATE_FAILED marker, or an id this handler never wrote: nothing of ours exists.
    console.log('the physical id names no import: nothing to delete');
    return response;
  }
  const policy = removalPolicy(event.ResourceProperties?.RemovalPolicy);
  if (policy === 'retain') {
    console.log(`removal policy retain: keeping ${ids.imageArn} and its AMI`);
    return response;
  }
  await removeImport(ids, policy, event, deps);
  return response;
}

export interface RemoveOptions {
  /** Waits before each retry of DeleteImage after a cancellation; default DELETE_AFTER_CANCEL_DELAYS_MS. */
  readonly deleteRetryDelaysMs?: readonly number[];
}

/**
 * Cancels the import if it still runs, then removes its AMIs and snapshots (per
 * the policy) and the Image Builder image LAST: until then the image lists the
 * AMI, so a Delete that stops midway can be retried even after EC2 forgot the
 * task. A failure names the AMIs and snapshots not yet removed.
 */
export async function removeImport(
  ids: ImportIds, policy: 'destroy' | 'snapshot', request: RequestIdentity, deps: ImportImageDeps, options: RemoveOptions = {},
): Promise<void> {
  const task = await stopImportTask(ids.importTaskId, deps);
  const image = await getImageIfExists(ids.imageArn, deps);
  // GetImage answers with the build version ARN, which DeleteImage requires.
  const imageArn = image?.arn ?? ids.imageArn;
  const inProgress = IN_PROGRESS_IMAGE_STATES.has(image?.state?.status ?? '');

  const amis = new Set([...ownAmis(image, ids.imageArn), ...(task?.ImageId ? [task.ImageId] : [])]);
  // A cancelled task's partial snapshots are cleaned up by EC2; a completed task's back the AMI.
  const snapshots = new Set(task?.Status === 'completed'
    ? (task.SnapshotDetails ?? []).map((detail) => detail.SnapshotId).filter((id): id is string => !!id)
    : []);
  try {
    // Stops Image Builder from working on the image while its AMI goes.
    if (image && inProgress) await cancelImageCreation(imageArn, request, deps);
    // An AMI's snapshots can only be found while it is registered.
    for (const ami of amis) (await amiSnapshots(ami, deps)).forEach((id) => snapshots.add(id));
    for (const ami of [...amis]) {
      await deregisterAmi(ami, deps);
      amis.delete(ami);
    }
    if (policy === 'destroy') {
      for (const snapshot of [...snapshots]) {
        await deleteSnapshot(snapshot, deps);
        snapshots.delete(snapshot);
      }
    } else {
      if (snapshots.size > 0) console.log(`removal policy snapshot: keeping ${[...snapshots].join(', ')}`);
      snapshots.clear();
    }
    if (image) await deleteImageResource(imageArn, inProgress, deps, options.deleteRetryDelaysMs ?? DELETE_AFTER_CANCEL_DELAYS_MS);
  } catch (err) {
    throw withLeftovers(err, [...amis], policy === 'destroy' ? [...snapshots] : []);
  }
}

/** Puts the ids still to remove first, so that cutting a long AWS message cannot lose them. */
function withLeftovers(err: unknown, amis: string[], snapshots: string[]): unknown {
  const left = [
    ...(amis.length > 0 ? [`AMI ${amis.join(', ')}`] : []),
    ...(snapshots.length > 0 ? [`snapshots ${snapshots.join(', ')}`] : []),
  ];
  if (left.length === 0) return err;
  return new Error(truncate(`still to clean up: ${left.join('; ')}. ${errorMessage(err)}`));
}

export function removalPolicy(value: string | undefined): RemovalPolicy {
  const policy = (value ?? 'destroy').toLowerCase();
  if (policy === '' || policy === 'destroy') return 'destroy';
  if (policy === 'snapshot' || policy === 'retain') return policy;
  // aws-cdk-lib's RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE: a Delete keeps everything.
  if (policy === 'retain-on-update-or-delete') return 'retain';
  // Refuse rather than guess: guessing wrong would delete what the user meant to keep.
  throw new Error(`unknown RemovalPolicy ${JSON.stringify(value)}: expected destroy, snapshot or retain`);
}

/** Cancels the import if it still runs; returns what EC2 knows of the task, if anything. */
async function stopImportTask(importTaskId: string, deps: ImportImageDeps): Promise<ImportImageTask | undefined> {
  const task = await describeTaskOrFail(importTaskId, deps);
  if (!task) {
    console.log(`EC2 no longer describes ${importTaskId} (finished over 7 days ago): using the ids in the physical id`);
    return undefined;
  }
  if (task.Status !== 'active') return task;
  try {
    await deps.ec2.send(new CancelImportTaskCommand({
      ImportTaskId: importTaskId,
      CancelReason: 'Deleted by CloudFormation (stack delete, replacement or rollback)',
    }));
    console.log(`cancelled VM import ${importTaskId}`);
    return task;
  } catch (err) {
    // The task finished between the describe and the cancel: its AMI must be found and removed.
    if (errorName(err).startsWith('InvalidConversionTaskId') || errorName(err) === 'IncorrectState') {
      console.log(`${importTaskId} could not be cancelled (${errorName(err)}): describing it again`);
      return describeTaskOrFail(importTaskId, deps);
    }
    throw awsFailure('EC2 CancelImportTask', err);
  }
}

async function describeTaskOrFail(importTaskId: string, deps: ImportImageDeps): Promise<ImportImageTask | undefined> {
  try {
    return await describeImportTask(deps.ec2, importTaskId);
  } catch (err) {
    throw awsFailure('EC2 DescribeImportImageTasks', err);
  }
}

async function getImageIfExists(imageArn: string, deps: ImportImageDeps): Promise<Image | undefined> {
  try {
    const { image } = await deps.imagebuilder.send(new GetImageCommand({ imageBuildVersionArn: imageArn }));
    return image;
  } catch (err) {
    if (isImageGone(err)) {
      console.log(`${imageArn} no longer exists`);
      return undefined;
    }
    throw awsFailure('Image Builder GetImage', err);
  }
}

async function deleteImageResource(
  imageArn: string, inProgress: boolean, deps: ImportImageDeps, retryDelaysMs: readonly number[],
): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      await deps.imagebuilder.send(new DeleteImageCommand({ imageBuildVersionArn: imageArn }));
      console.log(`deleted ${imageArn}`);
      return;
    } catch (err) {
      if (isImageGone(err)) return;
      const delay = retryDelaysMs[attempt];
      if (errorName(err) === 'ResourceDependencyException' && inProgress && delay !== undefined) {
        console.log(`${imageArn} is still settling after the cancellation; retrying in ${delay} ms`);
        await deps.sleep(delay);
        continue;
      }
      if (errorName(err) === 'ResourceDependencyException') {
        throw new Error(truncate(
          `cannot delete Image Builder image ${imageArn}: it is in use (by an image recipe or pipeline, or shared). ` +
          `Remove that use and delete again, or set removalPolicy to RETAIN to keep the image (${errorName(err)}: ${errorMessage(err)})`,
        ));
      }
      throw awsFailure('Image Builder DeleteImage', err);
    }
  }
}

/**
 * Error codes Image Builder's model lists for CancelImageCreation that mean
 * "nothing (left) to cancel": the image finished, failed or is already being
 * cancelled. ResourceNotFoundException is not modeled for it but is what a gone
 * image answers elsewhere. Codes only: a message that merely mentions
 * cancelling (an AccessDenied naming imagebuilder:CancelImageCreation) is a real failure.
 */
const NOT_CANCELLABLE = new Set(['InvalidRequestException', 'ResourceInUseException', 'ResourceNotFoundException']);

async function cancelImageCreation(imageArn: string, request: RequestIdentity, deps: ImportImageDeps): Promise<void> {
  try {
    await deps.imagebuilder.send(new CancelImageCreationCommand({
      imageBuildVersionArn: imageArn,
      clientToken: clientToken(request, 'CancelImageCreation'),
    }));
    console.log(`cancelled the creation of ${imageArn}`);
  } catch (err) {
    // The image may have finished or failed meanwhile; DeleteImage decides what is left.
    if (NOT_CANCELLABLE.has(errorName(err))) {
      console.log(`${imageArn} cannot be cancelled (${errorName(err)}): deleting it anyway`);
      return;
    }
    throw awsFailure('Image Builder CancelImageCreation', err);
  }
}

function isImageGone(err: unknown): boolean {
  return errorName(err) === 'ResourceNotFoundException';
}

/** The snapshots behind an AMI, learnt before it is deregistered (they cannot be found afterwards). */
async function amiSnapshots(imageId: string, deps: ImportImageDeps): Promise<string[]> {
  try {
    const { Images } = await deps.ec2.send(new DescribeImagesCommand({ ImageIds: [imageId] }));
    return (Images ?? [])
      .flatMap((image) => image.BlockDeviceMappings ?? [])
      .map((mapping) => mapping.Ebs?.SnapshotId)
      .filter((id): id is string => !!id);
  } catch (err) {
    if (EC2_GONE.has(errorName(err))) return [];
    throw awsFailure('EC2 DescribeImages', err);
  }
}

async function deregisterAmi(imageId: string, deps: ImportImageDeps): Promise<void> {
  try {
    await deps.ec2.send(new DeregisterImageCommand({ ImageId: imageId }));
    console.log(`deregistered ${imageId}`);
  } catch (err) {
    if (!EC2_GONE.has(errorName(err))) throw awsFailure('EC2 DeregisterImage', err);
  }
}

async function deleteSnapshot(snapshotId: string, deps: ImportImageDeps): Promise<void> {
  try {
    await deps.ec2.send(new DeleteSnapshotCommand({ SnapshotId: snapshotId }));
    console.log(`deleted ${snapshotId}`);
  } catch (err) {
    if (!EC2_GONE.has(errorName(err))) throw awsFailure('EC2 DeleteSnapshot', err);
  }
}
