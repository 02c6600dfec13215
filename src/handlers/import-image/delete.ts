import {
  CancelImportTaskCommand, DeleteSnapshotCommand, DeregisterImageCommand, DescribeImagesCommand, ImportImageTask,
} from '@aws-sdk/client-ec2';
import { CancelImageCreationCommand, DeleteImageCommand, GetImageCommand, Image, ListImageRecipesCommand } from '@aws-sdk/client-imagebuilder';
import type { CloudFormationCustomResourceDeleteEvent } from 'aws-lambda';
import { awsFailure, clientToken, errorMessage, errorName, isTransient, RequestIdentity, retryTransient, truncate } from '../shared/util';
import { VmImportImageProperties } from '../types';
import {
  describeImportTask, FoundImportIds, ImportImageDeps, IN_PROGRESS_IMAGE_STATES, IsCompleteEvent, MAX_PROVIDER_WAIT_SECONDS,
  OnEventResponse, ownAmis, parsePhysicalId, propertiesHash,
} from './common';
import { findImports } from './lookup';
import { stopPollers } from './poller';
import { removalPolicy } from './removal';

export type DeleteEvent = CloudFormationCustomResourceDeleteEvent<Partial<VmImportImageProperties>>;

export type { RemovalPolicy } from './removal';
export { removalPolicy } from './removal';

/** The physical id the Provider framework gives a Create that failed before answering one: nothing of ours exists. */
export const CREATE_FAILED_MARKER = 'AWSCDK::CustomResourceProviderFramework::CREATE_FAILED';

const EC2_GONE = new Set(['InvalidAMIID.NotFound', 'InvalidAMIID.Unavailable', 'InvalidSnapshot.NotFound']);

/**
 * Starts removing what the import made, per the removal policy. Works from the
 * ids in the physical id (EC2 forgets import tasks after 7 days) or, when the id
 * is not ours (CloudFormation invented it after it stopped waiting for a Create,
 * or the import was queued), from the tags the import carries. A running import
 * is cancelled whatever the policy; Image Builder then needs minutes before it
 * lets the image go, so the rest happens in isComplete (Wait 'delete') unless
 * everything is already terminal.
 */
export async function deleteImport(event: DeleteEvent, deps: ImportImageDeps): Promise<OnEventResponse> {
  const response = { PhysicalResourceId: event.PhysicalResourceId };
  if (event.PhysicalResourceId === CREATE_FAILED_MARKER) {
    console.log('the Create failed before it started anything: nothing to delete');
    return { ...response, Wait: 'none' };
  }
  const props = event.ResourceProperties ?? {};
  // RETAIN is carried out by CloudFormation (DeletionPolicy RetainExceptOnCreate, UpdateReplacePolicy
  // Retain): a Delete that still reaches the handler is the rollback of the operation that made the
  // import, which must not leak it.
  const policy = deletePolicy(props.RemovalPolicy);
  const ids = parsePhysicalId(event.PhysicalResourceId);
  let targets: FoundImportIds[];
  if (ids) {
    targets = [ids];
  } else {
    targets = await findImports(event, props, deps, propertiesHash(props));
    console.log(`the physical id is not an import id (CloudFormation invented it, or the import waited for quota): ${targets.length} import(s) found by their tags`);
  }
  if (targets.length === 0) return { ...response, Wait: 'none' };
  return startRemoval(targets, event, deps, response, policy);
}

/**
 * Stops the targets' pollers, cancels what still runs, and removes them now if
 * Image Builder lets them go; otherwise answers Wait 'delete' so that isComplete
 * removes them once they are terminal (finishDelete).
 */
export async function startRemoval(
  targets: FoundImportIds[], request: RequestIdentity & { ResourceProperties?: { RemovalPolicy?: string } }, deps: ImportImageDeps,
  response: OnEventResponse, policy: 'destroy' | 'snapshot' = deletePolicy(request.ResourceProperties?.RemovalPolicy),
): Promise<OnEventResponse> {
  await stopPollers(targets.map((t) => t.importTaskId).filter((id): id is string => !!id), deps);
  for (const target of targets) {
    const { task, wasActive } = target.importTaskId ? await stopImportTask(target.importTaskId, deps) : { task: undefined, wasActive: false };
    const image = target.imageArn ? await getImageIfExists(target.imageArn, deps) : undefined;
    if (image?.arn && IN_PROGRESS_IMAGE_STATES.has(image.state?.status ?? '')) await cancelImageCreation(image.arn, request, deps);
    if (wasActive) console.log(`cancelled the running import ${target.importTaskId} (${task?.StatusMessage ?? task?.Status})`);
  }
  const now = deps.now();
  const timing = { startedAt: now, deadline: now + MAX_PROVIDER_WAIT_SECONDS * 1000 };
  if (await removeWhenTerminal(targets, policy, deps, timing)) return { ...response, Wait: 'none' };
  return { ...response, Wait: 'delete', Targets: targets, StartedAt: timing.startedAt, Deadline: timing.deadline };
}

/**
 * isComplete of a Delete: waits until every target is terminal, then removes it.
 * Events of older handler versions carry no Targets: their Delete finished in onEvent.
 */
export async function finishDelete(event: IsCompleteEvent, deps: ImportImageDeps): Promise<boolean> {
  if (event.Wait !== 'delete' || !event.Targets || event.Targets.length === 0) return true;
  const policy = deletePolicy(event.ResourceProperties?.RemovalPolicy);
  const startedAt = Number(event.StartedAt ?? deps.now());
  const deadlineAt = Number(event.Deadline ?? startedAt + MAX_PROVIDER_WAIT_SECONDS * 1000);
  try {
    return await removeWhenTerminal(event.Targets, policy, deps, { startedAt, deadline: deadlineAt });
  } catch (err) {
    // Throttling while waiting only means "ask again"; real failures say what is left.
    if (isTransient(err) && deps.now() < deadlineAt) return false;
    throw err;
  }
}

/** What a Delete does: SNAPSHOT keeps the snapshots; DESTROY and RETAIN (see deleteImport) remove everything. */
export function deletePolicy(value: string | undefined): 'destroy' | 'snapshot' {
  return removalPolicy(value) === 'snapshot' ? 'snapshot' : 'destroy';
}

interface Timing {
  readonly startedAt: number;
  readonly deadline: number;
}

/**
 * Removes the targets once Image Builder lets them go: true when all are gone,
 * false while one is still settling (after a cancel or a failure Image Builder
 * keeps the image PENDING or BUILDING for minutes, and DeleteImage refuses it).
 * Past the deadline, an error with the real state and what is left.
 */
async function removeWhenTerminal(
  targets: FoundImportIds[], policy: 'destroy' | 'snapshot', deps: ImportImageDeps, timing: Timing,
): Promise<boolean> {
  const seen: Array<{ target: FoundImportIds; task?: ImportImageTask; image?: Image }> = [];
  for (const target of targets) {
    const task = target.importTaskId ? await retryTransient(() => describeTaskOrFail(target.importTaskId!, deps), deps.sleep) : undefined;
    const image = target.imageArn ? await retryTransient(() => getImageIfExists(target.imageArn!, deps), deps.sleep) : undefined;
    seen.push({ target, task, image });
  }
  const settling = seen.filter(({ task, image }) => IN_PROGRESS_IMAGE_STATES.has(image?.state?.status ?? '') || (!image && task?.Status === 'active'));
  if (settling.length > 0) {
    if (deps.now() < timing.deadline) {
      for (const { target, task, image } of settling) {
        console.log(JSON.stringify({ event: 'vm-import-delete-waiting', imageArn: target.imageArn, importTaskId: target.importTaskId, imageStatus: image?.state?.status, taskStatus: task?.Status }));
      }
      return false;
    }
    const minutes = Math.round((deps.now() - timing.startedAt) / 60_000);
    const states = settling.map(({ target, task, image }) => `${target.imageArn ?? target.importTaskId}: image ${image?.state?.status ?? 'none'}, task ${task?.Status ?? 'unknown'}`);
    throw new Error(truncate(
      `cannot remove the import yet: Image Builder has not made it terminal after ${minutes} minutes (${states.join('; ')}). ` +
      'Nothing was removed; delete the stack again once the image is CANCELLED or FAILED, or delete the image, its AMI and snapshots by hand',
    ));
  }
  for (const { target, task, image } of seen) await removeTerminal(target, task, image, policy, deps);
  return true;
}

/**
 * Removes one terminal import: the Image Builder image FIRST, with the AMI and
 * snapshot ids read before it, so that an image that cannot be deleted (in use)
 * keeps its AMI and snapshots and still lists them; then the AMI, then its
 * snapshots (unless the policy keeps them). A failure names what is left.
 */
async function removeTerminal(
  target: FoundImportIds, task: ImportImageTask | undefined, image: Image | undefined, policy: 'destroy' | 'snapshot', deps: ImportImageDeps,
): Promise<void> {
  const amis = new Set([
    ...(target.imageArn ? ownAmis(image, target.imageArn) : []),
    ...(task?.Status === 'completed' && task.ImageId ? [task.ImageId] : []),
  ]);
  // A cancelled task's partial snapshots are cleaned up by EC2; a completed task's back the AMI.
  const snapshots = new Set(task?.Status === 'completed'
    ? (task.SnapshotDetails ?? []).map((detail) => detail.SnapshotId).filter((id): id is string => !!id)
    : []);
  // An AMI's snapshots can only be found while it is registered.
  try {
    for (const ami of amis) (await amiSnapshots(ami, deps)).forEach((id) => snapshots.add(id));
  } catch (err) {
    throw withLeftovers(err, [...amis], policy === 'destroy' ? [...snapshots] : []);
  }
  const kept = policy === 'destroy' ? [] : [...snapshots];
  if (image?.arn) await deleteImageResource(image.arn, [...amis], policy === 'destroy' ? [...snapshots] : [], deps);
  try {
    for (const ami of [...amis]) {
      await deregisterAmi(ami, deps);
      amis.delete(ami);
    }
    if (policy === 'destroy') {
      for (const snapshot of [...snapshots]) {
        await deleteSnapshot(snapshot, deps);
        snapshots.delete(snapshot);
      }
    } else if (kept.length > 0) {
      console.log(`removal policy snapshot: keeping ${kept.join(', ')}`);
    }
  } catch (err) {
    throw withLeftovers(err, [...amis], policy === 'destroy' ? [...snapshots] : []);
  }
}

/** Puts the ids still to remove first, so that cutting a long AWS message cannot lose them. */
function withLeftovers(err: unknown, amis: string[], snapshots: string[]): unknown {
  const left = leftovers(amis, snapshots);
  if (!left) return err;
  return new Error(truncate(`still to clean up: ${left}. ${errorMessage(err)}`));
}

function leftovers(amis: string[], snapshots: string[]): string {
  return [
    ...(amis.length > 0 ? [`AMI ${amis.join(', ')}`] : []),
    ...(snapshots.length > 0 ? [`snapshots ${snapshots.join(', ')}`] : []),
  ].join('; ');
}

/** Cancels the import if it still runs; returns what EC2 knows of the task, if anything. */
async function stopImportTask(importTaskId: string, deps: ImportImageDeps): Promise<{ task?: ImportImageTask; wasActive: boolean }> {
  const task = await retryTransient(() => describeTaskOrFail(importTaskId, deps), deps.sleep);
  if (!task) {
    console.log(`EC2 no longer describes ${importTaskId} (finished over 7 days ago): using the ids in the physical id`);
    return { wasActive: false };
  }
  if (task.Status !== 'active') return { task, wasActive: false };
  try {
    await retryTransient(() => deps.ec2.send(new CancelImportTaskCommand({
      ImportTaskId: importTaskId,
      CancelReason: 'Deleted by CloudFormation (stack delete, replacement or rollback)',
    })), deps.sleep);
    console.log(`cancelled VM import ${importTaskId}`);
    return { task, wasActive: true };
  } catch (err) {
    // The task finished between the describe and the cancel: its AMI must be found and removed.
    if (errorName(err).startsWith('InvalidConversionTaskId') || errorName(err) === 'IncorrectState') {
      console.log(`${importTaskId} could not be cancelled (${errorName(err)}): describing it again`);
      return { task: await describeTaskOrFail(importTaskId, deps), wasActive: true };
    }
    throw awsFailure('EC2 CancelImportTask', err);
  }
}

async function describeTaskOrFail(importTaskId: string, deps: ImportImageDeps): Promise<ImportImageTask | undefined> {
  try {
    return await describeImportTask(deps.ec2, importTaskId);
  } catch (err) {
    if (isTransient(err)) throw err;
    throw awsFailure('EC2 DescribeImportImageTasks', err);
  }
}

/** What reading and cancelling an image need: the export handlers (src/handlers/image-export) use these too. */
export type ImageBuilderDeps = Pick<ImportImageDeps, 'imagebuilder' | 'sleep'>;

export async function getImageIfExists(imageArn: string, deps: Pick<ImportImageDeps, 'imagebuilder'>): Promise<Image | undefined> {
  try {
    const { image } = await deps.imagebuilder.send(new GetImageCommand({ imageBuildVersionArn: imageArn }));
    return image;
  } catch (err) {
    if (isImageGone(err)) {
      console.log(`${imageArn} no longer exists`);
      return undefined;
    }
    if (isTransient(err)) throw err;
    throw awsFailure('Image Builder GetImage', err, imageArn);
  }
}

/** DeleteImage, retried through throttling; "in use" says by what, and that the AMI and snapshots stay with the image. */
async function deleteImageResource(imageArn: string, amis: string[], snapshots: string[], deps: ImportImageDeps): Promise<void> {
  try {
    await retryTransient(() => deps.imagebuilder.send(new DeleteImageCommand({ imageBuildVersionArn: imageArn })), deps.sleep);
    console.log(`deleted ${imageArn}`);
  } catch (err) {
    if (isImageGone(err)) return;
    const kept = leftovers(amis, snapshots);
    const keptNote = kept ? ` The ${kept} stay with it.` : '';
    if (errorName(err) === 'ResourceDependencyException') {
      throw new Error(truncate(
        `cannot delete Image Builder image ${imageArn}: it is in use (${await usersOf(imageArn, deps)}).${keptNote} ` +
        `Remove that use and delete again, or set removalPolicy to RETAIN to keep the image (${errorName(err)}: ${errorMessage(err)})`,
      ));
    }
    throw new Error(truncate(`${awsFailure('Image Builder DeleteImage', err, imageArn).message}.${keptNote}`));
  }
}

/** What uses an image, as far as the API tells: recipes of this account with it as parent; otherwise sharing. */
async function usersOf(imageArn: string, deps: ImportImageDeps): Promise<string> {
  const versionArn = imageArn.split('/').slice(0, 3).join('/');
  try {
    const names: string[] = [];
    let nextToken: string | undefined;
    do {
      const page = await deps.imagebuilder.send(new ListImageRecipesCommand({
        owner: 'Self',
        filters: [{ name: 'parentImage', values: [...new Set([imageArn, versionArn])] }],
        ...(nextToken ? { nextToken } : {}),
      }));
      names.push(...(page.imageRecipeSummaryList ?? []).map((recipe) => recipe.arn ?? recipe.name ?? '?'));
      nextToken = page.nextToken;
    } while (nextToken);
    if (names.length > 0) return `parent of image recipe(s) ${names.join(', ')}`;
    return 'no recipe of this account names it as parent: it may be shared (see its image policy, GetImagePolicy) or used by a pipeline of another account';
  } catch (err) {
    return `its users could not be listed: ListImageRecipes answered ${errorName(err)}`;
  }
}

/**
 * Cancels an image's creation. Image Builder's answer for an image that has
 * just become terminal varies: AWS's own AWS::ImageBuilder::Image delete handler
 * treats InvalidParameterValueException as "already terminal"; the model lists
 * InvalidRequestException and ResourceInUseException. Any such 4xx after which
 * GetImage shows the image terminal (or gone) is success; otherwise the failure stands.
 */
export async function cancelImageCreation(imageArn: string, request: RequestIdentity, deps: ImageBuilderDeps): Promise<void> {
  try {
    await retryTransient(() => deps.imagebuilder.send(new CancelImageCreationCommand({
      imageBuildVersionArn: imageArn,
      clientToken: clientToken(request, 'CancelImageCreation'),
    })), deps.sleep);
    console.log(`cancelled the creation of ${imageArn}`);
  } catch (err) {
    const status = (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
    const clientError = status !== undefined ? status >= 400 && status < 500 && status !== 403 : NOT_CANCELLABLE.has(errorName(err));
    if (clientError || isImageGone(err)) {
      const image = await getImageIfExists(imageArn, deps);
      if (!image || !IN_PROGRESS_IMAGE_STATES.has(image.state?.status ?? '')) {
        console.log(`${imageArn} cannot be cancelled (${errorName(err)}): it is ${image?.state?.status ?? 'gone'} already`);
        return;
      }
      // Already being cancelled: Image Builder answers a second cancel with an error while the first settles.
      if (NOT_CANCELLABLE.has(errorName(err))) {
        console.log(`${imageArn} cannot be cancelled (${errorName(err)}) while ${image.state?.status}: waiting for it to settle`);
        return;
      }
    }
    throw awsFailure('Image Builder CancelImageCreation', err);
  }
}

/** Codes that can mean "nothing (left) to cancel"; only trusted after GetImage confirms it. */
const NOT_CANCELLABLE = new Set(['InvalidRequestException', 'ResourceInUseException', 'ResourceNotFoundException', 'InvalidParameterValueException']);

function isImageGone(err: unknown): boolean {
  return errorName(err) === 'ResourceNotFoundException';
}

/** The snapshots behind an AMI, learnt before it is deregistered (they cannot be found afterwards). */
async function amiSnapshots(imageId: string, deps: ImportImageDeps): Promise<string[]> {
  try {
    const { Images } = await retryTransient(() => deps.ec2.send(new DescribeImagesCommand({ ImageIds: [imageId] })), deps.sleep);
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
    await retryTransient(() => deps.ec2.send(new DeregisterImageCommand({ ImageId: imageId })), deps.sleep);
    console.log(`deregistered ${imageId}`);
  } catch (err) {
    if (!EC2_GONE.has(errorName(err))) throw awsFailure('EC2 DeregisterImage', err);
  }
}

async function deleteSnapshot(snapshotId: string, deps: ImportImageDeps): Promise<void> {
  try {
    await retryTransient(() => deps.ec2.send(new DeleteSnapshotCommand({ SnapshotId: snapshotId })), deps.sleep);
    console.log(`deleted ${snapshotId}`);
  } catch (err) {
    if (!EC2_GONE.has(errorName(err))) throw awsFailure('EC2 DeleteSnapshot', err);
  }
}
